"""`endpoint`: how every HTTP function is declared.

One decorator registers the Azure Functions route, applies the key check, maps
any error to a problem response, and records the operation for `/openapi.json`,
so a route cannot exist without being documented (a test holds the two together).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlsplit

import azure.functions as func
from pydantic import BaseModel, ValidationError

from bootstrap.composition import services
from bootstrap.settings import KeySetting
from http_api import cors as _cors
from http_api.auth import Access, check_access, presented_key
from http_api.observe import observed
from http_api.page_headers import is_page_route, protect
from http_api.problems import invalid_request, problem_response, to_problem
from scheduling_core.errors import (
    FieldError,
    InvalidRequest,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    UpstreamUnavailable,
)
from scheduling_core.runtime.deadline import deadline_in
from scheduling_core.runtime.redaction import add_sensitive

MAX_BODY_BYTES = 64 * 1024
#: api.md "Limits": bodies nested deeper than this are 400 invalid-json (json.loads would recurse).
MAX_JSON_DEPTH = 32
#: `application/json` and structured-syntax JSON types (`application/cloudevents+json`), any parameters.
_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[a-z0-9.!#$&^_-]+\+)?json$", re.IGNORECASE)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: api.md "Limits": instants and dates outside this range are 422, decided before storage or upstream calls
#: (Graph refuses year 462, Python's arithmetic overflows near year 1 and 9999, locks get absurd keys).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
_DATE_BOUNDS_MESSAGE = f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
#: A query value that starts like an ISO date (`2026-12-01`, `0462-03-01T10:00Z`, `+12026-01-01`).
_ISO_DATE_START = re.compile(r"^\s*([+-]?\d{4,})-(\d{1,2})-(\d{1,2})")
M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)
#: Handlers run here so a request can be answered at its deadline; sized well above the Functions
#: worker's own thread count, so it is never the bottleneck.
_WORKERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="request")
_IN_FLIGHT: set[Future[func.HttpResponse]] = set()
Handler = Callable[[func.HttpRequest], func.HttpResponse]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryParam:
    name: str
    description: str
    required: bool = False
    repeatable: bool = False
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One method of one route, as OpenAPI describes it."""

    method: str
    operation_id: str
    summary: str
    tag: str
    request: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    query: tuple[QueryParam, ...] = ()
    headers: tuple[QueryParam, ...] = ()
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDoc:
    route: str
    access: Access
    operations: tuple[Operation, ...]


ROUTES: list[RouteDoc] = []


def _keys() -> tuple[KeySetting, KeySetting]:
    settings = services().settings
    return settings.api_key, settings.admin_api_key


def endpoint(
    bp: func.Blueprint,
    *,
    route: str,
    access: Access,
    operations: tuple[Operation, ...],
    cors: bool | None = None,
) -> Callable[[Handler], Handler]:
    """Register `handler` for `route`; `cors` (default: only `book/*` routes) answers browser preflights."""
    operations = tuple(_documents_size_limit(op) for op in operations)
    with_cors = route.split("/", 1)[0] == "book" if cors is None else cors
    if with_cors and all(op.method.upper() != "OPTIONS" for op in operations):
        operations = (*operations, _preflight_operation(operations[0]))
    methods = [op.method.upper() for op in operations]
    page_route = is_page_route(route)

    def decorate(handler: Handler) -> Handler:
        def guarded(req: func.HttpRequest) -> func.HttpResponse:
            try:
                if with_cors and _cors.is_preflight(req):
                    return _cors.preflight_response(req, methods)
                add_sensitive([presented_key(req)])
                check_access(req, access, *_keys())
                refuse_far_dates_in_query(req)
                return within_deadline(lambda: handler(req))
            except Exception as exc:
                return problem_response(to_problem(exc))

        @functools.wraps(handler)
        def run(req: func.HttpRequest) -> func.HttpResponse:
            response = observed(req, route=route, call=lambda: guarded(req))
            if with_cors and not _cors.is_preflight(req):
                _cors.add_cors_headers(req, response)
            if page_route:  # /book/*, /manage/*: nosniff, CSP, no-store on every answer, errors too
                protect(response)
            return response

        ROUTES.append(RouteDoc(route=route, access=access, operations=operations))
        level = func.AuthLevel.ANONYMOUS if access is Access.PUBLIC else func.AuthLevel.FUNCTION
        return bp.route(route=route, methods=methods, auth_level=level)(run)  # type: ignore[no-any-return]

    return decorate


def request_deadline_seconds() -> float:
    """App setting `REQUEST_DEADLINE_SECONDS` (default 25: the contract's 30 s less the host's share)."""
    return services().settings.request_deadline_seconds


def within_deadline(call: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """`call()`'s answer, or a 503 once the request deadline passed (the work is then abandoned).

    The call runs on a worker thread with a copy of this context (trace, redaction, deadline); when it
    overruns, the caller is answered and the thread stops at its next `ensure_time_left` checkpoint,
    before any commit (scheduling_core/runtime/deadline.py).
    """
    seconds = request_deadline_seconds()
    context = contextvars.copy_context()

    def run() -> func.HttpResponse:
        with deadline_in(seconds):
            return call()

    future = _WORKERS.submit(context.run, run)
    _IN_FLIGHT.add(future)
    future.add_done_callback(_IN_FLIGHT.discard)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        log.warning("request abandoned after its %.0f s deadline", seconds)
        raise UpstreamUnavailable(
            "The service", f"The request did not finish within {seconds:g} s.", 5
        ) from None


def handlers_in_flight() -> int:
    """Handlers still running, an abandoned one included (tests wait for it to stop)."""
    return len(_IN_FLIGHT)


def _documents_size_limit(op: Operation) -> Operation:
    """An operation that reads a JSON body may answer 400 (not JSON, too deep), 413 (too large) and 415
    (not declared JSON); OpenAPI says so for every one."""
    from http_api.schemas import Problem

    if op.request is None and 413 not in op.responses:
        return op
    added = {status: Problem for status in (400, 413, 415) if status not in op.responses}
    return dataclasses.replace(op, responses={**op.responses, **added})


def _preflight_operation(first: Operation) -> Operation:
    return Operation(
        method="OPTIONS",
        operation_id=f"{first.operation_id}Preflight",
        summary="CORS preflight (origins listed in CORS_ALLOWED_ORIGINS)",
        tag=first.tag,
        responses={204: None},
    )


def read_body_json(req: func.HttpRequest, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The body parsed as JSON: 413 past `max_bytes`, 400 when it is not JSON.

    Whatever an invitee typed (`invitee`, `answers`) is registered as sensitive for this invocation,
    so it never reaches a log line or span of it.
    """
    body = req.get_body() or b""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"The body may be at most {max_bytes} bytes.")
    if body.strip():
        require_json_media_type(req)
    if json_too_deep(body):
        raise MalformedRequest(
            f"The request body is nested deeper than {MAX_JSON_DEPTH} levels.",
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedRequest("The request body is not valid JSON.") from None
    if isinstance(payload, dict):
        add_sensitive([payload.get("invitee"), payload.get("answers")])
    return payload


def require_json_media_type(req: func.HttpRequest) -> None:
    """415 unless the body is declared JSON.

    A cross-site HTML form or `fetch` without CORS can only send `text/plain`, form or multipart bodies;
    refusing them keeps a JSON endpoint out of reach of such "simple" requests (issue 13).
    """
    declared = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip()
    if not _JSON_MEDIA_TYPE.match(declared):
        raise UnsupportedMediaType(
            "Send the body as JSON with Content-Type: application/json.",
        )


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` opens more than `limit` arrays/objects inside each other (strings ignored).

    Decided on the bytes before parsing, so a 64 KB body of `[[[[...` costs one regex pass, never a
    RecursionError (a 500) in `json.loads` or in validation.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def read_json(req: func.HttpRequest, model: type[M], max_bytes: int = MAX_BODY_BYTES) -> M:
    """The body as `model`: 400/413/415 from `read_body_json`, 422 when it does not validate or holds a
    date or instant outside 2000-01-01 … 2100-12-31 (api.md "Limits")."""
    payload = read_body_json(req, max_bytes)
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        raise invalid_request(exc) from None
    far = list(far_dates(parsed))
    if far:
        raise InvalidRequest("A date is out of range.", tuple(far))
    return parsed


def _in_bounds(day: date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE


def far_dates(value: Any, path: str = "") -> Iterator[FieldError]:
    """Every date or instant inside a validated model (by its wire field name) outside the bounds.

    An instant is judged by its own calendar date as written (its offset's date), as a caller reads it.
    """
    if isinstance(value, date):  # datetime included
        if not _in_bounds(value.date() if isinstance(value, datetime) else value):
            yield FieldError(field=path or "body", message=_DATE_BOUNDS_MESSAGE)
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from far_dates(getattr(value, name), _join(path, info.alias or name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from far_dates(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from far_dates(item, _join(path, str(index)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def refuse_far_dates_in_query(req: func.HttpRequest) -> None:
    """422 for a query value that is a date or instant outside the bounds, before the handler runs.

    Judged on the text (year, month, day as written), so every endpoint's query gets the same bound
    whatever its own parser does later with the value.
    """
    errors = []
    for name, value in parse_qsl(urlsplit(req.url).query, keep_blank_values=False):
        match = _ISO_DATE_START.match(value)
        if match is None:
            continue
        year, month, day = (int(part) for part in match.groups())
        if not (2000, 1, 1) <= (year, month, day) <= (2100, 12, 31):
            errors.append(FieldError(field=name, message=_DATE_BOUNDS_MESSAGE))
    if errors:
        raise InvalidRequest("A date is out of range.", tuple(errors))


def query_values(req: func.HttpRequest, name: str) -> list[str]:
    """Every value of a repeatable query parameter (`?hostId=a&hostId=b` or `hostId=a,b`)."""
    values = parse_qs(urlsplit(req.url).query, keep_blank_values=False).get(name)
    if values is None:
        single = req.params.get(name)
        values = [single] if single else []
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def route_param(req: func.HttpRequest, name: str, pattern: str, *, kind: str | None = None) -> str:
    """A route parameter that must match `pattern`; with `kind` a mismatch is a 404, else a 422."""
    value = str(req.route_params.get(name, ""))
    if not re.match(pattern, value):
        if kind is not None:
            raise NotFound(kind, value[:100])
        raise InvalidRequest(
            f"'{name}' is not a valid identifier.",
        )
    return value


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    body = payload.model_dump_json(by_alias=True) if isinstance(payload, BaseModel) else json.dumps(payload)
    return func.HttpResponse(body, status_code=status, mimetype="application/json", headers=headers or {})


def document_operations(
    *, name: str, label: str, request: type[BaseModel], out: type[BaseModel]
) -> tuple[Operation, ...]:
    """GET / PUT (create or replace) / DELETE of one admin document, as OpenAPI declares them."""
    from http_api.schemas import Problem

    errors: dict[int, type[BaseModel] | None] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}
    return (
        Operation(
            method="GET",
            operation_id=f"Get{name}",
            summary=f"Get {label}",
            tag="admin",
            responses={200: out, **errors},
        ),
        Operation(
            method="PUT",
            operation_id=f"Put{name}",
            summary=f"Create or replace {label}",
            tag="admin",
            request=request,
            responses={200: out, 201: out, 400: Problem, 413: Problem, **errors},
        ),
        Operation(
            method="DELETE",
            operation_id=f"Delete{name}",
            summary=f"Delete {label}",
            tag="admin",
            responses={204: None, **errors},
        ),
    )


def document_methods(
    req: func.HttpRequest,
    *,
    get: Callable[[], BaseModel],
    put: Callable[[], tuple[BaseModel, bool]],
    delete: Callable[[], None],
) -> func.HttpResponse:
    """Answer GET, PUT (201 created / 200 replaced) or DELETE (204) of one admin document."""
    if req.method == "PUT":
        stored, created = put()
        return json_response(stored, 201 if created else 200)
    if req.method == "DELETE":
        delete()
        return func.HttpResponse(status_code=204)
    return json_response(get())
