"""The Graph simulator's HTTP surface: Graph's `/v1.0` paths and a test-only `/_sim` admin surface.

Every `/v1.0` request is logged, may be failed or slowed by a queued fault, and
then needs `Authorization: Bearer <any token>` (401 `InvalidAuthenticationToken`
otherwise). Path segments match case-insensitively, as Graph's do. `/_sim`
needs no token: it exists only to drive tests (its handlers, the request log
and fault injection are `devstack.simkit`'s; errors keep Graph's shape here).

Every write of an event (create, update, delete, cancel) records a change in the mailbox's
history (`state`) and, once its lock is released and before it is answered, queues a change
notification for every live subscription on that mailbox whose `changeType` names the change
(`notifications`). Subscription requests wait for the validation handshake off the event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack import simkit
from devstack.graph_sim import delta, mail, mailboxes
from devstack.graph_sim import events as ev
from devstack.graph_sim import subscriptions as subs
from devstack.graph_sim.notifications import (
    NotificationPoster,
    Settings,
    change_notification,
    lifecycle_notification,
)
from devstack.graph_sim.schedule import get_schedule
from devstack.graph_sim.state import SimState, StoredEvent, Subscription, User
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
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
MAX_FLUSH_SECONDS = 60.0


def create_app(state_file: Path | None = None) -> Starlette:
    """The simulator as an ASGI app; with `state_file`, its directory, calendars, subscriptions and
    change history survive restarts."""
    api = _GraphApi(SimState(state_file))
    app = api.app(
        [
            Route("/_sim/clock", api.clock, methods=["GET", "POST"]),
            Route("/_sim/delta/expire", api.expire_delta_tokens, methods=["POST"]),
            Route("/_sim/notifications/deliveries", api.deliveries, methods=["GET", "DELETE"]),
            Route("/_sim/notifications/flush", api.flush, methods=["POST"]),
            Route("/_sim/notifications/pause", api.pause, methods=["POST"]),
            Route("/_sim/notifications/resume", api.resume, methods=["POST"]),
            Route("/_sim/notifications/config", api.notification_config, methods=["GET", "POST"]),
            Route("/_sim/subscriptions/{id}/lifecycle", api.lifecycle, methods=["POST"]),
            Route("/_sim/mailboxes/faults", api.mailbox_faults, methods=["GET"]),
            Route("/_sim/mailboxes/{user}/fault", api.mailbox_fault, methods=["POST"]),
            Route("/_sim/answers/lost", api.lose_answers, methods=["GET", "POST", "DELETE"]),
            Route("/v1.0/{rest:path}", api.serve, methods=simkit.ALL_METHODS),
            Route("/{rest:path}", api.unknown_version, methods=simkit.ALL_METHODS),
        ]
    )
    app.state.poster = api.poster
    return app


class _GraphApi(simkit.SimApi):
    state: SimState
    logged_headers = _LOGGED_HEADERS

    def __init__(self, state: SimState) -> None:
        super().__init__(state)
        self.poster = NotificationPoster()
        #: `/_sim/answers/lost`: requests processed in full whose answer is then lost (504).
        self.lost_answers: list[simkit.Fault] = []

    async def serve(self, request: Request) -> Response:
        """As simkit serves, but a matching `/_sim/answers/lost` rule turns a success into 504 after the
        request took effect: the gateway timed out while Graph went on (a client retry then repeats it)."""
        response = await super().serve(request)
        if 200 <= response.status_code < 300 and self._take_lost(request.method, request.url.path):
            return error_response(
                504, "UnknownError", "", client_request_id=request.headers.get("client-request-id")
            )
        return response

    def _take_lost(self, method: str, path: str) -> bool:
        with self.state.lock:
            for rule in self.lost_answers:
                if rule.matches(method, path):
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count == 0:
                            self.lost_answers.remove(rule)
                    return True
        return False

    async def lose_answers(self, request: Request) -> Response:
        if request.method == "DELETE":
            with self.state.lock:
                self.lost_answers.clear()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                body = self.json_object(await request.body())
                rule = simkit.parse_fault({**body, "status": 504}, self.bad_request)
            except simkit.SimFault as exc:
                return self.render_error(exc, None)
            with self.state.lock:
                self.lost_answers.append(rule)
        with self.state.lock:
            rules = [rule.to_json() for rule in self.lost_answers]
        return JSONResponse({"value": rules}, status_code=201 if request.method == "POST" else 200)

    async def mailbox_faults(self, request: Request) -> Response:
        with self.state.lock:
            return JSONResponse({"value": dict(self.state.mailbox_faults)})

    async def mailbox_fault(self, request: Request) -> Response:
        try:
            body = self.json_object(await request.body())
            fault = body.get("fault")
            if fault is not None and fault not in mailboxes.FAULTS:
                raise bad_request(f"'fault' must be one of {list(mailboxes.FAULTS)} or null.")
        except simkit.SimFault as exc:
            return self.render_error(exc, None)
        with self.state.lock:
            user = self.state.mailbox(request.path_params["user"])
            if fault is None:
                self.state.mailbox_faults.pop(user.id, None)
            else:
                self.state.mailbox_faults[user.id] = fault
            return JSONResponse({"userId": user.id, "fault": fault})

    def _check_mailbox(self, key: str) -> None:
        """Graph's answer for a mailbox it cannot serve (`mailboxes`), before anything is read or written."""
        with self.state.lock:
            user = self.state.find_user(key)
            fault = self.state.mailbox_faults.get(user.id) if user is not None else None
        if fault is not None:
            raise mailboxes.fault_answer(fault)

    # -- /_sim: clock, delta tokens, notifications ----------------------------------------------------

    async def reset(self, request: Request) -> Response:
        self.poster.reset()
        return await super().reset(request)

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = self.json_object(await request.body())
                raw = body.get("now")
                if raw is not None and not isinstance(raw, str):
                    raise bad_request("'now' must be an ISO 8601 instant or null.")
                fixed = None if raw is None else _instant(raw)
            except simkit.SimFault as exc:
                return self.render_error(exc, None)
            with self.state.lock:
                self.state.fixed_now = fixed
        with self.state.lock:
            now, fixed_now = self.state.now(), self.state.fixed_now
        return JSONResponse({"now": now.isoformat(), "fixed": fixed_now is not None})

    async def expire_delta_tokens(self, request: Request) -> Response:
        with self.state.lock:
            self.state.delta_generation += 1
            self.state.save()
        return Response(status_code=204)

    async def deliveries(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.poster.clear_log()
            return Response(status_code=204)
        return JSONResponse(self.poster.snapshot())

    async def flush(self, request: Request) -> Response:
        raw = request.query_params.get("timeout") or "10"
        try:
            timeout = min(float(raw), MAX_FLUSH_SECONDS)
        except ValueError:
            return self.render_error(bad_request("'timeout' must be a number of seconds."), None)
        settled = await run_in_threadpool(self.poster.wait_idle, timeout)
        if not settled:
            return error_response(
                504,
                "NotificationsInFlight",
                f"Notifications were still being delivered after {timeout} s "
                f"({self.poster.in_flight} in flight).",
            )
        return JSONResponse(self.poster.snapshot())

    async def pause(self, request: Request) -> Response:
        self.poster.set_paused(True)
        return Response(status_code=204)

    async def resume(self, request: Request) -> Response:
        self.poster.set_paused(False)
        return Response(status_code=204)

    async def notification_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = self.json_object(await request.body())
                self.poster.settings = _settings(body, self.poster.settings)
            except simkit.SimFault as exc:
                return self.render_error(exc, None)
        return JSONResponse(self.poster.settings.to_json())

    async def lifecycle(self, request: Request) -> Response:
        try:
            body = self.json_object(await request.body())
            event = body.get("lifecycleEvent")
            if event not in LIFECYCLE_EVENTS:
                raise bad_request(f"'lifecycleEvent' must be one of {list(LIFECYCLE_EVENTS)}.")
            with self.state.lock:
                self.state.live_subscriptions()
                subscription = self.state.subscriptions.get(request.path_params["id"])
                if subscription is None:
                    raise subs.not_found()
                if subscription.lifecycle_url is None:
                    raise bad_request("The subscription has no lifecycleNotificationUrl.")
                item = lifecycle_notification(subscription, event)
                if event == "subscriptionRemoved":
                    del self.state.subscriptions[subscription.id]
                    self.state.save()
        except simkit.SimFault as exc:
            return self.render_error(exc, None)
        delivery_id = self.poster.post_lifecycle(subscription, item)
        return JSONResponse({"deliveryId": delivery_id, "notification": {"value": [item]}}, status_code=202)

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

    def dispatch(self, request: Request, body: bytes) -> Response | Awaitable[Response]:
        segments = [segment for segment in request.path_params["rest"].split("/") if segment]
        lowered = [segment.lower() for segment in segments]
        method = request.method
        if lowered[:1] == ["subscriptions"]:
            return self._subscriptions(request, segments[1:], body)
        if lowered == ["users"]:
            if method == "POST":
                return self._create_user(request, json_object(body))
            _allow(method, "GET")
            return self._list_users(request)
        if len(segments) < 2 or lowered[0] != "users":
            raise bad_request(f"Resource not found for the segment '{segments[0] if segments else ''}'.")
        key, tail, rest = segments[1], lowered[2:], segments[2:]
        self._check_mailbox(key)
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
        if tail == ["mailfolders", "sentitems", "messages"]:
            _allow(method, "GET")
            return self._sent_items(key)
        if tail == ["sendmail"]:
            _allow(method, "POST")
            return self._send_mail(key, json_object(body))
        if tail == ["calendarview"]:
            _allow(method, "GET")
            return self._calendar_view(request, key)
        if tail == ["calendarview", "delta"]:
            _allow(method, "GET")
            return self._calendar_view_delta(request, key)
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
            if transaction_id and (
                transaction_id in self.state.spent_transactions.get(user.id, set())
                or any(e.props.get("transactionId") == transaction_id for e in calendar.values())
            ):
                # Graph refuses a create whose transactionId an earlier create used (it does not hand back
                # the first event): the client has to find the event it made and carry on with that one.
                raise bad_request(
                    "The TransactionId specified in the request has already been used to create a "
                    "different event.",
                    "ErrorDuplicateTransactionId",
                )
            created = ev.create_event(user, accepted, self.state.now())
            calendar[created.id] = created
            self.state.touch(created)
            self.state.save()
            changes = self._changes(user, created, "created")
            payload = self._event_json(request, user, created, zone)
        self.poster.post_changes(changes)
        return _json(payload, 201, zone)

    def _list_events(self, request: Request, key: str) -> Response:
        zone = preferred_zone(request.headers.get("prefer"))
        wanted = ev.parse_filter(_query(request, "$filter"))
        with self.state.lock:
            user = self.state.mailbox(key)
            events = [
                event
                for event in self.state.calendar(user).values()
                if wanted is None or wanted.matches(event)
            ]
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
            ev.update_event(event, accepted, self.state.now())
            self.state.touch(event)
            self.state.save()
            changes = self._changes(user, event, "updated")
            payload = self._event_json(request, user, event, zone)
        self.poster.post_changes(changes)
        return _json(payload, 200, zone)

    def _delete_event(self, key: str, event_id: str) -> Response:
        self._remove_event(key, event_id)
        return Response(status_code=204)

    def _remove_event(self, key: str, event_id: str) -> None:
        """Take an event out of its calendar: history, notifications (after the lock), state file."""
        with self.state.lock:
            user = self.state.mailbox(key)
            calendar = self.state.calendar(user)
            event = _find_event(calendar, event_id)
            del calendar[event.id]
            self.state.bury(user, event)
            transaction_id = event.props.get("transactionId")
            if transaction_id:  # the event lives on in Deleted Items, its transactionId with it
                self.state.spent_transactions.setdefault(user.id, set()).add(str(transaction_id))
            self.state.save()
            changes = self._changes(user, event, "deleted")
        self.poster.post_changes(changes)

    def _changes(
        self, user: User, event: StoredEvent, change_type: str
    ) -> list[tuple[Subscription, dict[str, Any]]]:
        """The notifications a change of `event` owes live subscriptions. Call holding the lock."""
        return [
            (subscription, change_notification(subscription, change_type, event))
            for subscription in self.state.live_subscriptions()
            if subscription.user_id == user.id and change_type in subscription.change_types
        ]

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
            comment = next((str(v) for k, v in payload.items() if k.lower() == "comment" and v), "")
        else:
            comment = ""
        with self.state.lock:
            user = self.state.mailbox(key)
            event = _find_event(self.state.calendar(user), event_id)
            if event.props.get("attendees"):  # the cancellation goes to the attendees, kept in Sent Items
                self.state.sent_items.setdefault(user.id, []).append(_cancellation_message(event, comment))
        self._remove_event(key, event_id)
        return Response(status_code=202)

    def _sent_items(self, key: str) -> Response:
        """`mailFolders/sentitems/messages`: what the mailbox sent (here: meeting cancellations, sendMail)."""
        with self.state.lock:
            user = self.state.mailbox(key)
            items = list(self.state.sent_items.get(user.id, []))
        return _json({"value": items}, 200, None)

    def _send_mail(self, key: str, payload: dict[str, Any]) -> Response:
        """`sendMail` (devstack/graph_sim/mail.py): 202, the message kept in the sender's Sent Items."""
        with self.state.lock:
            user = self.state.find_user(key)
            if user is None or user.provisional:
                raise GraphFault(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
            address = user.mail or user.user_principal_name or user.id
            sent = mail.accept_send_mail(
                payload, {"name": user.display_name or address, "address": address}, self.state.now()
            )
            if sent is not None:
                self.state.sent_items.setdefault(user.id, []).append(sent)
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

    def _calendar_view_delta(self, request: Request, key: str) -> Response:
        query = {name: value for name, value in request.query_params.items()}
        delta.unsupported_options(query)
        zone = preferred_zone(request.headers.get("prefer"))
        size = preferred_page_size(request.headers.get("prefer")) or delta.DEFAULT_PAGE_SIZE
        size = max(1, min(size, delta.MAX_PAGE_SIZE))
        raw_token = _query(request, "$deltatoken") or _query(request, "$skiptoken")
        with self.state.lock:
            user = self.state.mailbox(key)
            if raw_token is None:
                start = parse_query_instant(_query(request, "startDateTime"), "startDateTime")
                end = parse_query_instant(_query(request, "endDateTime"), "endDateTime")
                if end < start:
                    raise bad_request(
                        "The end of the time window must not be before its start.", "ErrorInvalidParameter"
                    )
                expand, expand_id = ev.parse_expand(_query(request, "$expand"))
                token = delta.Token(
                    user=user.id,
                    start=start.isoformat(),
                    end=end.isoformat(),
                    generation=self.state.delta_generation,
                    base=None,
                    upper=self.state.seq,
                    expand=expand,
                    expand_id=expand_id,
                )
            else:
                decoded = delta.Token.decode(raw_token)
                restart = delta.initial_url(_base(request), request.url.path, decoded)
                token = delta.check(self.state, user, decoded, restart)
                if _query(request, "$deltatoken") is not None:  # a new round: bounded by now
                    token = delta.Token(**{**token.__dict__, "upper": self.state.seq, "after": None})
            items, following, done = delta.page(self.state, user, token, size, zone)
        payload: dict[str, Any] = {"@odata.context": f"{_base(request)}/v1.0/$metadata#Collection(event)"}
        parameter = "$deltatoken" if done else "$skiptoken"
        link = f"{_base(request)}{request.url.path}?{parameter}={following.encode()}"
        payload["@odata.deltaLink" if done else "@odata.nextLink"] = link
        payload["value"] = items
        return _json(payload, 200, zone)

    # -- subscriptions ------------------------------------------------------------------------------

    def _subscriptions(
        self, request: Request, rest: list[str], body: bytes
    ) -> Response | Awaitable[Response]:
        method = request.method
        if not rest:
            if method == "POST":
                return self._create_subscription(request, json_object(body))
            _allow(method, "GET")
            with self.state.lock:
                listed = [subs.render(sub) for sub in self.state.live_subscriptions()]
            return JSONResponse(
                {"@odata.context": f"{_base(request)}/v1.0/$metadata#subscriptions", "value": listed}
            )
        subscription_id = rest[0]
        if len(rest) == 2 and rest[1].lower() == "reauthorize":
            _allow(method, "POST")
            return self._reauthorize(subscription_id)
        if len(rest) != 1:
            raise bad_request(f"Resource not found for the segment '{rest[-1]}'.")
        if method == "PATCH":
            return self._renew_subscription(request, subscription_id, json_object(body))
        if method == "DELETE":
            with self.state.lock:
                self._live_subscription(subscription_id)
                del self.state.subscriptions[subscription_id]
                self.state.save()
            return Response(status_code=204)
        _allow(method, "GET")
        with self.state.lock:
            payload = subs.render(self._live_subscription(subscription_id))
        return JSONResponse(
            {"@odata.context": f"{_base(request)}/v1.0/$metadata#subscriptions/$entity", **payload}
        )

    def _live_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, unless unknown or expired (404). Call holding the lock."""
        self.state.live_subscriptions()
        subscription = self.state.subscriptions.get(subscription_id)
        if subscription is None:
            raise subs.not_found()
        return subscription

    async def _handshake(self, *urls: str | None) -> None:
        for url in urls:
            if url is None:
                continue
            result = await run_in_threadpool(self.poster.validate, url)
            if not result.ok:
                raise subs.validation_failed(result.reason)

    async def _create_subscription(self, request: Request, body: dict[str, Any]) -> Response:
        with self.state.lock:
            now = self.state.now()
        new = subs.parse_create(body, now)
        self._check_mailbox(new.user_key)
        await self._handshake(new.notification_url, new.lifecycle_url)
        with self.state.lock:
            subscription = new.build(self.state.mailbox(new.user_key).id)
            self.state.subscriptions[subscription.id] = subscription
            self.state.save()
            payload = subs.render(subscription)
        return JSONResponse(
            {"@odata.context": f"{_base(request)}/v1.0/$metadata#subscriptions/$entity", **payload},
            status_code=201,
        )

    async def _renew_subscription(
        self, request: Request, subscription_id: str, body: dict[str, Any]
    ) -> Response:
        with self.state.lock:
            renewal = subs.parse_update(body, self.state.now())
            current = self._live_subscription(subscription_id)
            urls = (renewal.notification_url or current.notification_url, current.lifecycle_url)
        await self._handshake(*urls)
        with self.state.lock:
            subscription = self._live_subscription(subscription_id)
            if renewal.expiration is not None:
                subscription.expiration = renewal.expiration
            if renewal.notification_url is not None:
                subscription.notification_url = renewal.notification_url
            self.state.save()
            payload = subs.render(subscription)
        return JSONResponse(
            {"@odata.context": f"{_base(request)}/v1.0/$metadata#subscriptions/$entity", **payload}
        )

    async def _reauthorize(self, subscription_id: str) -> Response:
        with self.state.lock:
            current = self._live_subscription(subscription_id)
            urls = (current.notification_url, current.lifecycle_url)
        await self._handshake(*urls)
        with self.state.lock:
            self._live_subscription(subscription_id)
        return Response(status_code=204)

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


def _query(request: Request, name: str) -> str | None:
    """A query parameter by name, case-insensitively (`$deltaToken` = `$deltatoken`)."""
    lowered = name.lower()
    for key, value in request.query_params.multi_items():
        if key.lower() == lowered:
            return value
    return None


def _instant(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"'{raw}' is not an ISO 8601 instant.") from None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)


def _settings(body: dict[str, Any], current: Settings) -> Settings:
    """Notification timings from `POST /_sim/notifications/config` (unnamed ones kept)."""
    known = {
        "validationTimeoutSeconds",
        "deliveryTimeoutSeconds",
        "retryDelaysSeconds",
        "slowSeconds",
        "slowDelaySeconds",
    }
    unknown = set(body) - known
    if unknown:
        raise bad_request(f"Unknown settings: {sorted(unknown)}.")
    settings = Settings(
        current.validation_timeout,
        current.delivery_timeout,
        current.retry_delays,
        current.slow_seconds,
        current.slow_delay,
    )
    for name, attribute in (
        ("validationTimeoutSeconds", "validation_timeout"),
        ("deliveryTimeoutSeconds", "delivery_timeout"),
        ("slowSeconds", "slow_seconds"),
        ("slowDelaySeconds", "slow_delay"),
    ):
        if name in body:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise bad_request(f"'{name}' must be a positive number.")
            setattr(settings, attribute, float(value))
    if "retryDelaysSeconds" in body:
        delays = body["retryDelaysSeconds"]
        if (
            not isinstance(delays, list)
            or len(delays) > 10
            or not all(
                isinstance(d, int | float) and not isinstance(d, bool) and 0 <= d <= 60 for d in delays
            )
        ):
            raise bad_request("'retryDelaysSeconds' must be a list of at most 10 delays of 0-60 s.")
        settings.retry_delays = tuple(float(d) for d in delays)
    return settings


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


def _cancellation_message(event: StoredEvent, comment: str) -> dict[str, Any]:
    """The meeting cancellation Exchange sends the attendees when the organizer cancels (an eventMessage
    whose body is the organizer's comment, meetingMessageType `meetingCancelled`)."""
    return {
        "@odata.type": "#microsoft.graph.eventMessage",
        "id": "msg-" + uuid.uuid4().hex,
        "subject": f"Canceled: {event.props.get('subject') or ''}",
        "body": {"contentType": "text", "content": comment},
        "toRecipients": [
            {"emailAddress": dict(a.get("emailAddress") or {})} for a in event.props.get("attendees") or []
        ],
        "meetingMessageType": "meetingCancelled",
        "isDraft": False,
    }
