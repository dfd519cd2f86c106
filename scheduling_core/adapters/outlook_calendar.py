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
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from scheduling_core.adapters.graph import GraphClient, is_mailbox_fault
from scheduling_core.domain.outlook import BOOKING_PROPERTY_EXPAND, BOOKING_PROPERTY_ID
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


def _stamped(event: Mapping[str, Any], booking_id: str) -> bool:
    return any(
        isinstance(prop, Mapping)
        and str(prop.get("id", "")).lower() == BOOKING_PROPERTY_ID.lower()
        and prop.get("value") == booking_id
        for prop in event.get("singleValueExtendedProperties") or ()
    )


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

    def create_event(self, mailbox: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            created = self._call(mailbox, "POST", f"{_user(mailbox)}/events", json=dict(body))
        except GraphRequestRejected as exc:
            if (exc.code or "").lower() == "errorduplicatetransactionid":
                raise DuplicateTransaction(
                    status_code=exc.status_code, code=exc.code, message=exc.message, request="POST events"
                ) from exc
            raise
        if not isinstance(created, dict) or not created.get("id"):
            raise UpstreamUnavailable("graph", "Graph answered an event create without the event")
        return created

    def get_event(self, mailbox: str, event_id: str) -> dict[str, Any] | None:
        try:
            found = self._call(
                mailbox, "GET", _event_path(mailbox, event_id), params={"$expand": BOOKING_PROPERTY_EXPAND}
            )
        except GraphRequestRejected as exc:
            if _event_gone(exc):
                return None
            raise
        return found if isinstance(found, dict) else None

    def find_booking_event(self, mailbox: str, booking_id: str) -> dict[str, Any] | None:
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
        # Only events that show the stamp: a filter Graph applied loosely must not adopt a stranger.
        events = [
            e
            for e in (found or {}).get("value", [])
            if isinstance(e, dict) and e.get("id") and _stamped(e, booking_id) and not e.get("isCancelled")
        ]
        if not events:
            return None
        return min(events, key=lambda e: str(e.get("createdDateTime") or ""))

    def update_event(self, mailbox: str, event_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            updated = self._call(mailbox, "PATCH", _event_path(mailbox, event_id), json=dict(body))
        except GraphRequestRejected as exc:
            if _event_gone(exc):
                return None
            raise
        return updated if isinstance(updated, dict) else {}

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
        payload = payload or {}
        return DeltaPage(
            events=[e for e in payload.get("value", []) if isinstance(e, dict)],
            next_link=payload.get("@odata.nextLink"),
            delta_link=payload.get("@odata.deltaLink"),
        )

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
