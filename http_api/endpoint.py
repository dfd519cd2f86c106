"""`endpoint`: how every HTTP function is declared.

One decorator registers the Azure Functions route, applies the key check, maps
any error to a problem response, and records the operation for `/openapi.json`,
so a route cannot exist without being documented (a test holds the two together).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
from pydantic import BaseModel, ValidationError

from http_api import cors as _cors
from http_api.auth import Access, check_access, presented_key
from http_api.observe import observed
from http_api.page_headers import is_page_route, protect
from http_api.problems import HttpProblem, from_validation_error, problem_response, to_problem
from scheduling_core.errors import NotFound
from scheduling_core.redaction import add_sensitive

MAX_BODY_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)
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


def _keys() -> tuple[str | None, str | None]:
    return os.environ.get("API_KEY") or None, os.environ.get("ADMIN_API_KEY") or None


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
                return handler(req)
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


def _documents_size_limit(op: Operation) -> Operation:
    """An operation that reads a body (`read_json`) may answer 413; OpenAPI says so for every one."""
    from http_api.schemas import Problem

    if op.request is None or 413 in op.responses:
        return op
    return dataclasses.replace(op, responses={**op.responses, 413: Problem})


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
        raise HttpProblem(
            413, "payload-too-large", "Payload too large", f"The body may be at most {max_bytes} bytes."
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HttpProblem(
            400, "invalid-json", "Invalid JSON", "The request body is not valid JSON."
        ) from None
    if isinstance(payload, dict):
        add_sensitive([payload.get("invitee"), payload.get("answers")])
    return payload


def read_json(req: func.HttpRequest, model: type[M], max_bytes: int = MAX_BODY_BYTES) -> M:
    payload = read_body_json(req, max_bytes)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def query_values(req: func.HttpRequest, name: str) -> list[str]:
    """Every value of a repeatable query parameter (`?hostId=a&hostId=b` or `hostId=a,b`)."""
    values = parse_qs(urlsplit(req.url).query, keep_blank_values=False).get(name)
    if values is None:
        single = req.params.get(name)
        values = [single] if single else []
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def route_param(req: func.HttpRequest, name: str, pattern: str, *, kind: str | None = None) -> str:
    """A route parameter that must match `pattern`; with `kind` a mismatch is a 404, else a 422."""
    value = req.route_params.get(name, "")
    if not re.match(pattern, value):
        if kind is not None:
            raise NotFound(kind, value[:100])
        raise HttpProblem(
            422,
            "validation-failed",
            "Validation failed",
            f"'{name}' is not a valid identifier.",
            [],
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
