"""Hosts' Outlook calendars and Graph subscriptions, written and read through `GraphClient`.

Invariants:
- At most `MAX_CONCURRENT_PER_MAILBOX` (4) requests run against one mailbox at a time, Outlook's
  documented per-mailbox concurrency limit; further callers wait their turn.
- "Not there" is an answer, not an error: reading, updating or cancelling an event that is gone
  returns None/False, and deleting a subscription that is gone is done. An event is gone only when
  Graph says so for the event itself (404 `ErrorItemNotFound`): Graph answers 404 also for a mailbox
  it cannot serve (`MailboxNotEnabledForRESTAPI`: no licence, inactive, soft-deleted, on-premises) and
  403 `ErrorAccessDenied` for one an application access policy excludes. Those raise
  `MailboxUnavailable`, so no caller can take a mailbox fault for a deletion.
- A create Graph refuses because its `transactionId` was used before (400 `ErrorDuplicateTransactionId`:
  an earlier attempt made the event, e.g. its answer was lost) raises `DuplicateTransaction`.
- Every other refusal surfaces as the client raised it: `GraphRequestRejected` (4xx, permanent)
  or `UpstreamUnavailable` (throttling or outage past the retry budget).
- Graph's event JSON stops here: every event read (GET, the booking lookup, create and update answers,
  delta items) is validated once against `graph_models.Event` and handed on as the domain's
  `OutlookEvent`. An event we cannot read comes back with its id and `unreadable` set, never raised: one
  odd item must not cost a delta page its other items, nor a sync its answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from pydantic import ValidationError

from scheduling_core.adapters.graph import GraphClient, is_mailbox_fault
from scheduling_core.adapters.graph_models import Event, EventListing
from scheduling_core.domain.outlook import BOOKING_PROPERTY_EXPAND, BOOKING_PROPERTY_ID, OutlookEvent
from scheduling_core.errors import (
    DeltaTokenExpired,
    DuplicateTransaction,
    GraphRequestRejected,
    MailboxUnavailable,
    UpstreamUnavailable,
)
from scheduling_core.ports import DeltaPage

MAX_CONCURRENT_PER_MAILBOX: Final = 4
#: Events per delta page we ask for (Graph's `odata.maxpagesize` preference).
DELTA_PAGE_SIZE: Final = 50


def _event_gone(exc: GraphRequestRejected) -> bool:
    return exc.status_code == 404 and (exc.code or "").lower() == "erroritemnotfound"


def _user(mailbox: str) -> str:
    return f"/users/{quote(mailbox, safe='@')}"


def _event_path(mailbox: str, event_id: str) -> str:
    return f"{_user(mailbox)}/events/{quote(event_id, safe='')}"


def read_event(payload: object) -> OutlookEvent | None:
    """One event of a Graph answer as this service reads it; None when it names no event (no id).

    Graph writes an event we cannot read (times in a zone we do not know, a property of the wrong
    shape) rarely, but one such item must not fail the others: it is returned with its id (and delta's
    `removed`) and the reason in `unreadable`, and the reconciler leaves it alone."""
    if not isinstance(payload, Mapping):
        return None
    try:
        event = Event.model_validate(payload)
    except ValidationError as exc:
        event_id = payload.get("id")
        if not isinstance(event_id, str) or not event_id:
            return None
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        return OutlookEvent(
            id=event_id, removed="@removed" in payload, unreadable=f"{where}: {problem['msg']}"
        )
    return _outlook_event(event) if event.id else None


def _outlook_event(event: Event) -> OutlookEvent:
    """A validated event that has an id, as the domain reads it."""
    assert event.id is not None
    start = end = None
    unreadable = None
    try:
        start = event.start.to_utc() if event.start is not None else None
        end = event.end.to_utc() if event.end is not None else None
    except ValueError as exc:  # a malformed stamp or a zone we do not know: never guessed
        start = end = None
        unreadable = str(exc)
    booking_id = None
    for prop in event.single_value_extended_properties or ():
        if (prop.id or "").lower() == BOOKING_PROPERTY_ID.lower():
            booking_id = prop.value or None
    return OutlookEvent(
        id=event.id,
        start=start,
        end=end,
        cancelled=bool(event.is_cancelled),
        removed=event.removed is not None,
        booking_id=booking_id,
        transaction_id=event.transaction_id or None,
        online_meeting=bool(event.is_online_meeting),
        join_url=(event.online_meeting.join_url or None) if event.online_meeting is not None else None,
        unreadable=unreadable,
    )


def read_delta_page(payload: object) -> DeltaPage:
    """A `calendarView/delta` page: each item read on its own (`read_event`); items naming no event
    are dropped, unreadable ones kept (their id still says what changed)."""
    listing = _listing(payload)
    return DeltaPage(
        events=tuple(event for event in map(read_event, listing.value) if event is not None),
        next_link=listing.next_link,
        delta_link=listing.delta_link,
    )


def _listing(payload: object) -> EventListing:
    try:
        return EventListing.model_validate(payload or {})
    except ValidationError as exc:
        raise UpstreamUnavailable("graph", f"Graph answered a list of events that is not one: {exc}") from exc


def _graph_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class OutlookCalendars:
    def __init__(self, graph: GraphClient) -> None:
        self._graph = graph
        self._guard = threading.Lock()
        self._mailboxes: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def _turn(self, mailbox: str) -> Iterator[None]:
        with self._guard:
            gate = self._mailboxes.setdefault(
                mailbox.lower(), threading.BoundedSemaphore(MAX_CONCURRENT_PER_MAILBOX)
            )
        with gate:
            yield

    def _call(self, mailbox: str, method: str, path: str, **kwargs: Any) -> Any:
        with self._turn(mailbox):
            try:
                return self._graph.request_json(method, path, **kwargs)
            except GraphRequestRejected as exc:
                if is_mailbox_fault(exc):
                    raise MailboxUnavailable(mailbox, exc) from exc
                raise

    # -- events ----------------------------------------------------------------------------------------

    def create_event(self, mailbox: str, body: Mapping[str, Any]) -> OutlookEvent:
        try:
            created = self._call(mailbox, "POST", f"{_user(mailbox)}/events", json=dict(body))
        except GraphRequestRejected as exc:
            if (exc.code or "").lower() == "errorduplicatetransactionid":
                raise DuplicateTransaction(
                    status_code=exc.status_code, code=exc.code, message=exc.message, request="POST events"
                ) from exc
            raise
        event = read_event(created)
        if event is None:
            raise UpstreamUnavailable("graph", "Graph answered an event create without the event")
        return event

    def get_event(self, mailbox: str, event_id: str) -> OutlookEvent | None:
        """The event, or None when Graph says it is gone (404 `ErrorItemNotFound`, and nothing else)."""
        try:
            found = self._call(
                mailbox, "GET", _event_path(mailbox, event_id), params={"$expand": BOOKING_PROPERTY_EXPAND}
            )
        except GraphRequestRejected as exc:
            if _event_gone(exc):
                return None
            raise
        return read_event(found) or OutlookEvent(id=event_id, unreadable="Graph answered without the event")

    def find_booking_event(self, mailbox: str, booking_id: str) -> OutlookEvent | None:
        """The live event stamped with `booking_id` in our extended property (the earliest if several).

        A cancelled one is never adopted: a mailbox the booking left and came back to may show the event
        cancelled on the way out, and adopting it would leave the booking without a live meeting."""
        literal = booking_id.replace("'", "''")
        found = self._call(
            mailbox,
            "GET",
            f"{_user(mailbox)}/events",
            params={
                "$filter": (
                    f"singleValueExtendedProperties/Any(ep: ep/id eq '{BOOKING_PROPERTY_ID}' "
                    f"and ep/value eq '{literal}')"
                ),
                "$expand": BOOKING_PROPERTY_EXPAND,
            },
        )
        # Only events that show the stamp: a filter Graph applied loosely must not adopt a stranger (nor
        # an event we cannot read, whose stamp we cannot see).
        stamped: list[tuple[str, OutlookEvent]] = []
        for item in _listing(found).value:
            try:
                event = Event.model_validate(item)
            except ValidationError:
                continue
            if not event.id:
                continue
            read = _outlook_event(event)
            if read.booking_id == booking_id and not read.cancelled:
                stamped.append((event.created_date_time or "", read))
        if not stamped:
            return None
        return min(stamped, key=lambda pair: pair[0])[1]

    def update_event(self, mailbox: str, event_id: str, body: Mapping[str, Any]) -> OutlookEvent | None:
        """The event as updated, or None when it is gone."""
        try:
            updated = self._call(mailbox, "PATCH", _event_path(mailbox, event_id), json=dict(body))
        except GraphRequestRejected as exc:
            if _event_gone(exc):
                return None
            raise
        return read_event(updated) or OutlookEvent(id=event_id)

    def cancel_event(self, mailbox: str, event_id: str, comment: str) -> bool:
        """Cancel as organizer (attendees get the cancellation); False when the event is gone already."""
        try:
            self._call(mailbox, "POST", f"{_event_path(mailbox, event_id)}/cancel", json={"comment": comment})
        except GraphRequestRejected as exc:
            if _event_gone(exc):
                return False
            raise
        return True

    # -- delta -----------------------------------------------------------------------------------------

    def delta_page(
        self, mailbox: str, *, link: str | None = None, window: tuple[datetime, datetime] | None = None
    ) -> DeltaPage:
        """One page of `calendarView/delta`: from a next/delta link, or a first round over `window`."""
        headers = {"Prefer": f'outlook.timezone="UTC", odata.maxpagesize={DELTA_PAGE_SIZE}'}
        try:
            if link is not None:
                payload = self._call(mailbox, "GET", self._relative(link), headers=headers)
            else:
                assert window is not None
                payload = self._call(
                    mailbox,
                    "GET",
                    f"{_user(mailbox)}/calendarView/delta",
                    params={"startDateTime": _graph_time(window[0]), "endDateTime": _graph_time(window[1])},
                    headers=headers,
                )
        except GraphRequestRejected as exc:
            if exc.status_code == 410 or (exc.code or "").lower() in (
                "syncstatenotfound",
                "syncstateinvalid",
            ):
                raise DeltaTokenExpired(str(exc)) from exc
            raise
        return read_delta_page(payload)

    def _relative(self, link: str) -> str:
        """A next/delta link as a path relative to the client's base URL (Graph returns absolute ones)."""
        marker = "/v1.0/"
        at = link.find(marker)
        return link[at + len(marker) - 1 :] if at >= 0 else link

    # -- subscriptions ---------------------------------------------------------------------------------

    def create_subscription(
        self,
        *,
        resource: str,
        notification_url: str,
        lifecycle_url: str,
        expiration: datetime,
        client_state: str,
    ) -> dict[str, Any]:
        created = self._graph.request_json(
            "POST",
            "/subscriptions",
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": notification_url,
                "lifecycleNotificationUrl": lifecycle_url,
                "resource": resource,
                "expirationDateTime": _graph_time(expiration),
                "clientState": client_state,
            },
        )
        if not isinstance(created, dict) or not created.get("id"):
            raise UpstreamUnavailable("graph", "Graph answered a subscription create without its id")
        return created

    def renew_subscription(self, subscription_id: str, expiration: datetime) -> dict[str, Any] | None:
        """The renewed subscription, or None when Graph no longer has it."""
        try:
            renewed = self._graph.request_json(
                "PATCH",
                f"/subscriptions/{quote(subscription_id, safe='')}",
                json={"expirationDateTime": _graph_time(expiration)},
            )
        except GraphRequestRejected as exc:
            if exc.status_code == 404:
                return None
            raise
        return renewed if isinstance(renewed, dict) else {}

    def delete_subscription(self, subscription_id: str) -> None:
        try:
            self._graph.request_json("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")
        except GraphRequestRejected as exc:
            if exc.status_code != 404:
                raise
