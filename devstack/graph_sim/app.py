"""The Graph simulator's HTTP surface: Graph's `/v1.0` paths and a test-only `/_sim` admin surface.

Every `/v1.0` request is logged, may be failed or slowed by a queued fault, and
then needs `Authorization: Bearer <any token>` (401 `InvalidAuthenticationToken`
otherwise). Path segments match case-insensitively, as Graph's do. `/_sim`
needs no token: it exists only to drive tests (its handlers, the request log
and fault injection are `devstack.simkit`'s; errors keep Graph's shape here).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack import simkit
from devstack.graph_sim import events as ev
from devstack.graph_sim.schedule import get_schedule
from devstack.graph_sim.state import SimState, StoredEvent, User
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
    return api.app(
        [
            Route("/v1.0/{rest:path}", api.serve, methods=simkit.ALL_METHODS),
            Route("/{rest:path}", api.unknown_version, methods=simkit.ALL_METHODS),
        ]
    )


class _GraphApi(simkit.SimApi):
    state: SimState
    logged_headers = _LOGGED_HEADERS

    # -- /v1.0 --------------------------------------------------------------------------------------

    async def unknown_version(self, request: Request) -> Response:
        return error_response(400, "BadRequest", "Invalid version.")

    # -- what simkit asks of a simulator: Graph's errors, token check and routes ---------------------

    def json_object(self, body: bytes) -> dict[str, Any]:
        return json_object(body)

    def bad_request(self, message: str) -> simkit.SimFault:
        return bad_request(message)

    def injected_error(self, fault: simkit.Fault) -> simkit.SimFault:
        return fault.error(
            _FAULT_CODES,
            server_error=("generalException", "An unspecified error has occurred."),
            client_error=("BadRequest", "The request was rejected."),
        )

    def render_error(self, exc: simkit.SimFault, request: Request | None) -> Response:
        return error_response(
            exc.status,
            exc.code,
            exc.message,
            client_request_id=request.headers.get("client-request-id") if request is not None else None,
            headers=exc.headers,
        )

    def authenticate(self, request: Request) -> None:
        _authenticate(request)

    def dispatch(self, request: Request, body: bytes) -> Response:
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
