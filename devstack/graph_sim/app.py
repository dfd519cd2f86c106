"""The Graph simulator's HTTP surface: Graph's `/v1.0` paths and a test-only `/_sim` admin surface.

Every `/v1.0` request is logged, may be failed or slowed by a queued fault, and
then needs `Authorization: Bearer <any token>` (401 `InvalidAuthenticationToken`
otherwise). Path segments match case-insensitively, as Graph's do. `/_sim`
needs no token: it exists only to drive tests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.graph_sim import events as ev
from devstack.graph_sim.schedule import get_schedule
from devstack.graph_sim.state import Fault, SimState, StoredEvent, User
from devstack.graph_sim.wire import (
    GraphFault,
    bad_request,
    error_response,
    json_object,
    parse_query_instant,
    preferred_page_size,
    preferred_zone,
)

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
_FAULT_CODES = {
    429: (
        "TooManyRequests",
        "Too many requests. Retry after the number of seconds in the Retry-After header.",
    ),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("BadGateway", "The upstream service did not answer."),
    503: ("serviceNotAvailable", "The service is not available. Try the request again after a delay."),
    504: ("UnknownError", ""),
}
_LOGGED_HEADERS = ("prefer", "content-type", "client-request-id", "user-agent")


def create_app(state_file: Path | None = None) -> Starlette:
    """The simulator as an ASGI app; with `state_file`, its directory and calendars survive restarts."""
    api = _GraphApi(SimState(state_file))
    app = Starlette(
        routes=[
            Route("/_sim/faults", api.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/requests", api.request_log, methods=["GET", "DELETE"]),
            Route("/_sim/reset", api.reset, methods=["POST"]),
            Route("/v1.0/{rest:path}", api.v1, methods=_ALL_METHODS),
            Route("/{rest:path}", api.unknown_version, methods=_ALL_METHODS),
        ]
    )
    app.state.sim = api.state
    return app


class _GraphApi:
    def __init__(self, state: SimState) -> None:
        self.state = state

    # -- /_sim --------------------------------------------------------------------------------------

    async def faults(self, request: Request) -> Response:
        if request.method == "GET":
            with self.state.lock:
                return JSONResponse({"value": [fault.to_json() for fault in self.state.faults]})
        if request.method == "DELETE":
            with self.state.lock:
                self.state.faults.clear()
            return Response(status_code=204)
        try:
            fault = _parse_fault(json_object(await request.body()))
        except GraphFault as exc:
            return error_response(exc.status, exc.code, exc.message)
        with self.state.lock:
            self.state.faults.append(fault)
        return JSONResponse(fault.to_json(), status_code=201)

    async def request_log(self, request: Request) -> Response:
        if request.method == "DELETE":
            with self.state.lock:
                self.state.requests.clear()
            return Response(status_code=204)
        path_contains = (request.query_params.get("pathContains") or "").lower()
        method = (request.query_params.get("method") or "").upper()
        with self.state.lock:
            entries = [
                dict(entry)
                for entry in self.state.requests
                if path_contains in entry["path"].lower() and (not method or entry["method"] == method)
            ]
        return JSONResponse({"value": entries})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return Response(status_code=204)

    # -- /v1.0 --------------------------------------------------------------------------------------

    async def unknown_version(self, request: Request) -> Response:
        return error_response(400, "BadRequest", "Invalid version.")

    async def v1(self, request: Request) -> Response:
        body = await request.body()
        entry = self._log(request, body)
        client_request_id = request.headers.get("client-request-id")
        fault = self.state.take_fault(request.method, request.url.path)
        response: Response | None = None
        if fault is not None:
            if fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            if fault.status is not None:
                response = _fault_response(fault, client_request_id)
        if response is None:
            try:
                _authenticate(request)
                response = self._dispatch(request, body)
            except GraphFault as exc:
                response = error_response(
                    exc.status,
                    exc.code,
                    exc.message,
                    client_request_id=client_request_id,
                    headers=exc.headers,
                )
        entry["status"] = response.status_code
        return response

    def _log(self, request: Request, body: bytes) -> dict[str, Any]:
        headers: dict[str, str | None] = {name: request.headers.get(name) for name in _LOGGED_HEADERS}
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            authorization = f"{scheme} <redacted>" if credentials.strip() else scheme
        headers["authorization"] = authorization
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(),
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": headers,
            "json": parsed,
            "status": None,
        }
        with self.state.lock:
            self.state.requests.append(entry)
        return entry

    def _dispatch(self, request: Request, body: bytes) -> Response:
        segments = [segment for segment in request.path_params["rest"].split("/") if segment]
        lowered = [segment.lower() for segment in segments]
        method = request.method
        if lowered == ["users"]:
            if method == "POST":
                return self._create_user(request, json_object(body))
            _allow(method, "GET")
            return self._list_users(request)
        if len(segments) < 2 or lowered[0] != "users":
            raise bad_request(f"Resource not found for the segment '{segments[0] if segments else ''}'.")
        key, tail, rest = segments[1], lowered[2:], segments[2:]
        if tail[:1] == ["calendar"] and tail[1:2] in (["events"], ["calendarview"]):
            tail, rest = tail[1:], rest[1:]  # /calendar/events is the default calendar's /events
        if not tail:
            _allow(method, "GET")
            return self._get_user(request, key)
        if tail == ["events"]:
            if method == "POST":
                return self._create_event(request, key, json_object(body))
            _allow(method, "GET")
            return self._list_events(request, key)
        if len(tail) == 2 and tail[0] == "events":
            event_id = rest[1]
            if method == "GET":
                return self._get_event(request, key, event_id)
            if method == "PATCH":
                return self._update_event(request, key, event_id, json_object(body))
            _allow(method, "DELETE")
            return self._delete_event(key, event_id)
        if len(tail) == 3 and tail[0] == "events" and tail[2] == "cancel":
            _allow(method, "POST")
            return self._cancel_event(key, rest[1], body)
        if tail == ["calendarview"]:
            _allow(method, "GET")
            return self._calendar_view(request, key)
        if tail == ["calendar", "getschedule"]:
            _allow(method, "POST")
            return self._get_schedule(request, key, json_object(body))
        raise bad_request(f"Resource not found for the segment '{rest[-1]}'.")

    # -- users --------------------------------------------------------------------------------------

    def _create_user(self, request: Request, body: dict[str, Any]) -> Response:
        user_id = body.get("id") or str(uuid.uuid4())
        mail = body.get("mail")
        upn = body.get("userPrincipalName") or mail
        display_name = body.get("displayName")
        enabled = body.get("accountEnabled", True)
        for name, value in (
            ("id", user_id),
            ("mail", mail),
            ("userPrincipalName", upn),
            ("displayName", display_name),
        ):
            if value is not None and not isinstance(value, str):
                raise bad_request(f"Invalid value for property '{name}'.", "Request_BadRequest")
        if not isinstance(enabled, bool):
            raise bad_request("Invalid value for property 'accountEnabled'.", "Request_BadRequest")
        if not upn:
            raise bad_request(
                "Property userPrincipalName is required for a user (or give 'mail').", "Request_BadRequest"
            )
        with self.state.lock:
            addresses = {upn.lower(), (mail or "").lower()} - {""}
            same: list[User] = []
            for user in self.state.users.values():
                taken = {(user.user_principal_name or "").lower(), (user.mail or "").lower()} - {""}
                if user.id.lower() == user_id.lower() or taken & addresses:
                    same.append(user)
            for user in same:
                if not user.provisional:
                    prop = "id" if user.id.lower() == user_id.lower() else "userPrincipalName"
                    raise bad_request(
                        f"Another object with the same value for property {prop} already exists.",
                        "Request_BadRequest",
                    )
            target = same[0] if same else User(id=user_id)
            for other in same[1:]:  # several provisional mailboxes turn out to be one user
                self.state.calendar(target).update(self.state.calendars.pop(other.id, {}))
                del self.state.users[other.id]
            if same:
                self.state.adopt(target, user_id)
            target.display_name = display_name
            target.mail = mail
            target.user_principal_name = upn
            target.account_enabled = enabled
            target.provisional = False
            self.state.users[target.id] = target
            self.state.calendar(target)
            self.state.save()
            payload = {
                "@odata.context": f"{_base(request)}/v1.0/$metadata#users/$entity",
                **target.graph_json(),
            }
        return JSONResponse(payload, status_code=201)

    def _list_users(self, request: Request) -> Response:
        with self.state.lock:
            users = [user.graph_json() for user in self.state.users.values()]
        return JSONResponse({"@odata.context": f"{_base(request)}/v1.0/$metadata#users", "value": users})

    def _get_user(self, request: Request, key: str) -> Response:
        with self.state.lock:
            user = self.state.find_user(key)
            if user is None:
                raise GraphFault(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{key}' does not exist or one of its queried reference-property objects "
                    "are not present.",
                )
            payload = {
                "@odata.context": f"{_base(request)}/v1.0/$metadata#users/$entity",
                **user.graph_json(),
            }
        return JSONResponse(payload)

    # -- events -------------------------------------------------------------------------------------

    def _create_event(self, request: Request, key: str, body: dict[str, Any]) -> Response:
        accepted = ev.validate_write(body, creating=True)
        zone = preferred_zone(request.headers.get("prefer"))
        with self.state.lock:
            user = self.state.mailbox(key)
            calendar = self.state.calendar(user)
            transaction_id = accepted.get("transactionId")
            existing = next(
                (
                    e
                    for e in calendar.values()
                    if transaction_id and e.props.get("transactionId") == transaction_id
                ),
                None,
            )
            if existing is None:  # a repeated transactionId is a client retry: Graph returns the first event
                existing = ev.create_event(user, accepted, ev.now_utc())
                calendar[existing.id] = existing
                self.state.save()
            payload = self._event_json(request, user, existing, zone)
        return _json(payload, 201, zone)

    def _list_events(self, request: Request, key: str) -> Response:
        zone = preferred_zone(request.headers.get("prefer"))
        with self.state.lock:
            user = self.state.mailbox(key)
            events = list(self.state.calendar(user).values())
            payload = self._page(request, user, events, zone, "events")
        return _json(payload, 200, zone)

    def _get_event(self, request: Request, key: str, event_id: str) -> Response:
        zone = preferred_zone(request.headers.get("prefer"))
        with self.state.lock:
            user = self.state.mailbox(key)
            event = _find_event(self.state.calendar(user), event_id)
            payload = self._event_json(request, user, event, zone)
        return _json(payload, 200, zone)

    def _update_event(self, request: Request, key: str, event_id: str, body: dict[str, Any]) -> Response:
        accepted = ev.validate_write(body, creating=False)
        zone = preferred_zone(request.headers.get("prefer"))
        with self.state.lock:
            user = self.state.mailbox(key)
            event = _find_event(self.state.calendar(user), event_id)
            ev.update_event(event, accepted, ev.now_utc())
            self.state.save()
            payload = self._event_json(request, user, event, zone)
        return _json(payload, 200, zone)

    def _delete_event(self, key: str, event_id: str) -> Response:
        with self.state.lock:
            calendar = self.state.calendar(self.state.mailbox(key))
            event = _find_event(calendar, event_id)
            del calendar[event.id]
            self.state.save()
        return Response(status_code=204)

    def _cancel_event(self, key: str, event_id: str, body: bytes) -> Response:
        """The organizer cancels: attendees are notified and the event leaves the organizer's calendar."""
        if body.strip():
            payload = json_object(body)
            unknown = {name for name in payload if name.lower() != "comment"}
            if unknown:
                raise bad_request(
                    f"The parameter '{sorted(unknown)[0]}' in the request payload is not a valid parameter "
                    "for the operation 'cancel'."
                )
        with self.state.lock:
            calendar = self.state.calendar(self.state.mailbox(key))
            event = _find_event(calendar, event_id)
            del calendar[event.id]
            self.state.save()
        return Response(status_code=202)

    def _calendar_view(self, request: Request, key: str) -> Response:
        query = request.query_params
        start = parse_query_instant(query.get("startDateTime") or query.get("startdatetime"), "startDateTime")
        end = parse_query_instant(query.get("endDateTime") or query.get("enddatetime"), "endDateTime")
        if end < start:
            raise bad_request(
                "The end of the time window must not be before its start.", "ErrorInvalidParameter"
            )
        zone = preferred_zone(request.headers.get("prefer"))
        with self.state.lock:
            user = self.state.mailbox(key)
            events = sorted(
                (event for event in self.state.calendar(user).values() if ev.overlaps(event, start, end)),
                key=lambda event: (event.start, event.end, event.id),
            )
            payload = self._page(request, user, events, zone, "calendarView")
        return _json(payload, 200, zone)

    def _get_schedule(self, request: Request, key: str, body: dict[str, Any]) -> Response:
        zone = preferred_zone(request.headers.get("prefer"))
        with self.state.lock:
            self.state.mailbox(key)  # the requester's mailbox, created on first use
        context = f"{_base(request)}/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)"
        return _json(get_schedule(self.state, body, zone, context), 200, zone)

    def _event_json(self, request: Request, user: User, event: StoredEvent, zone: Any) -> dict[str, Any]:
        select = ev.parse_select(request.query_params.get("$select"))
        expand, extended_filter = ev.parse_expand(request.query_params.get("$expand"))
        context = f"{_users_context(request, user)}/events/$entity"
        rendered = ev.render_event(
            event, zone, select=select, expand_extended=expand, extended_filter=extended_filter
        )
        return {"@odata.context": context, **rendered}

    def _page(
        self, request: Request, user: User, events: list[StoredEvent], zone: Any, collection: str
    ) -> dict[str, Any]:
        query = request.query_params
        top = _non_negative_int(query.get("$top"), "$top")
        skip = _non_negative_int(query.get("$skip"), "$skip") or 0
        size = top or preferred_page_size(request.headers.get("prefer")) or DEFAULT_PAGE_SIZE
        size = max(1, min(size, MAX_PAGE_SIZE))
        select = ev.parse_select(query.get("$select"))
        expand, extended_filter = ev.parse_expand(query.get("$expand"))
        page = events[skip : skip + size]
        payload: dict[str, Any] = {
            "@odata.context": f"{_users_context(request, user)}/{collection}",
            "value": [
                ev.render_event(
                    event, zone, select=select, expand_extended=expand, extended_filter=extended_filter
                )
                for event in page
            ],
        }
        if skip + size < len(events):
            params = [(name, value) for name, value in query.multi_items() if name != "$skip"]
            params.append(("$skip", str(skip + size)))
            query_string = urlencode(params, safe="$:',()", quote_via=quote)
            payload["@odata.nextLink"] = f"{_base(request)}{request.url.path}?{query_string}"
        return payload


def _parse_fault(body: dict[str, Any]) -> Fault:
    known = {"status", "retryAfter", "count", "pathContains", "method", "delaySeconds", "code"}
    unknown = set(body) - known
    if unknown:
        raise bad_request(f"Unknown fault properties: {sorted(unknown)}.")
    status = body.get("status")
    count = body.get("count", 1)
    retry_after = body.get("retryAfter")
    delay = body.get("delaySeconds")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise bad_request("'status' must be an HTTP error status (400-599) or null.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad_request("'count' must be a positive integer.")
    for name, value in (("retryAfter", retry_after), ("delaySeconds", delay)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise bad_request(f"'{name}' must be a non-negative number or null.")
    for name in ("pathContains", "method", "code"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            raise bad_request(f"'{name}' must be a string or null.")
    if status is None and not delay:
        raise bad_request("A fault needs a 'status', a 'delaySeconds', or both.")
    return Fault(
        status=status,
        count=count,
        retry_after=None if retry_after is None else float(retry_after),
        path_contains=body.get("pathContains"),
        method=body.get("method"),
        delay_seconds=None if delay is None else float(delay),
        code=body.get("code"),
    )


def _fault_response(fault: Fault, client_request_id: str | None) -> Response:
    assert fault.status is not None
    default_code, message = _FAULT_CODES.get(
        fault.status,
        ("generalException", "An unspecified error has occurred.")
        if fault.status >= 500
        else ("BadRequest", "The request was rejected."),
    )
    headers = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return error_response(
        fault.status,
        fault.code or default_code,
        message,
        client_request_id=client_request_id,
        headers=headers,
    )


def _authenticate(request: Request) -> None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphFault(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty." if not token.strip() else "Access token validation failure.",
            headers={
                "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
            },
        )


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise GraphFault(405, "BadRequest", "Specified HTTP method is not allowed for the request target.")


def _find_event(calendar: dict[str, StoredEvent], event_id: str) -> StoredEvent:
    event = calendar.get(event_id)
    if event is None:
        raise GraphFault(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return event


def _non_negative_int(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise bad_request(f"Invalid value '{raw}' for query option '{name}'.")
    return int(raw)


def _users_context(request: Request, user: User) -> str:
    return f"{_base(request)}/v1.0/$metadata#users('{quote(user.id, safe='@')}')"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(payload: dict[str, Any], status: int, zone: Any) -> JSONResponse:
    headers = {"Preference-Applied": f'outlook.timezone="{zone[0]}"'} if zone is not None else None
    return JSONResponse(payload, status_code=status, headers=headers)
