"""Outlook-side changes applied to bookings: the `graph-changes` handler's one service.

A validated change notification (or a delta-query change) names a host's event. The reconciler:
1. forgets the host's cached free/busy (every notification: the calendar changed);
2. reads the event (with our extended property) and maps it to a booking: the property, else the
   `transactionId`, else the stored event id (the only way for an event that is gone);
3. judges it (`outlook.judge`): our own writes and pending syncs are recognised and left alone; a
   cancel or delete by the host cancels the booking (source `outlook`, slot freed, events emitted);
   a moved meeting follows the event type's `outlookEditPolicy` (flag, accept, revert).

Mailbox faults are not deletions: when Graph cannot serve the host's mailbox at all (`MailboxUnavailable`:
404 `MailboxNotEnabledForRESTAPI`, inactive or soft-deleted mailbox, 403 application access policy), the
change is ignored, the host is recorded as degraded (`/health`), and nothing is cancelled, moved or
reverted. Only 404 `ErrorItemNotFound` for the event itself reads as "gone".

Delta windows: `calendarView/delta` fixes its window in the token of the round's first request, so a
delta link followed forever would cover less and less of the future. `resync(fresh=True)` (the daily
safety net) therefore starts a new round with a new window, from yesterday to the longest booking
window ahead, checks every booking of the window against it, and replaces the stored link (the old one
is retired); `resync()` (a `missed` lifecycle notification) follows the stored link.

Invariants: handling the same change twice, or changes out of order, ends in the same state (every
decision compares the current event with the current booking); an event that maps to no booking only
invalidates the cache. Delta resync (`resync`) feeds the same path from `calendarView/delta`, so a lost
notification cannot leave drift beyond the next resync.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from scheduling_core.domain.booking_sections import OutlookDrift, SyncStatus
from scheduling_core.domain.bookings import Booking, BookingReader, BookingStatus
from scheduling_core.domain.outlook import (
    BookingTimes,
    ObservedEvent,
    OutlookEvent,
    Verdict,
    booking_of_transaction,
    drift_record,
    event_times,
    judge,
    observed,
)
from scheduling_core.domain.values import EventType, OutlookEditPolicy
from scheduling_core.errors import (
    BookingNotModifiable,
    DeltaTokenExpired,
    MailboxUnavailable,
    NotFound,
    SlotUnavailable,
    UnreadableEvent,
)
from scheduling_core.ports import Clock, DeltaPage, OutlookLink

log = logging.getLogger(__name__)

#: The window a full delta round covers: recent past to the furthest a booking can be made.
RESYNC_PAST: Final = timedelta(days=1)
#: How far ahead a booking can be when an event type sets no `bookingWindowDays`.
RESYNC_FUTURE: Final = timedelta(days=400)
#: Beyond the booking window's last start: the longest meeting (1,440 minutes) plus buffers.
RESYNC_SLACK: Final = timedelta(days=2)
HORIZON_TTL_SECONDS: Final = 60.0
_BOOKING_PREFIX: Final = "bk_"
_UNAVAILABLE: Final = "(mailbox unavailable)"


class Calendars(Protocol):
    def get_event(self, mailbox: str, event_id: str) -> OutlookEvent | None: ...
    def update_event(self, mailbox: str, event_id: str, body: Mapping[str, Any]) -> OutlookEvent | None: ...
    def delta_page(
        self, mailbox: str, *, link: str | None = None, window: tuple[datetime, datetime] | None = None
    ) -> DeltaPage: ...


class Links(Protocol):
    def get(self, booking_id: str) -> OutlookLink | None: ...
    def booking_for_event(self, event_id: str) -> str | None: ...


class BookingChanges(Protocol):
    def cancel(
        self, booking_id: str, *, reason: str | None = None, source: str = "api", if_match: int | None = None
    ) -> Booking: ...
    def accept_outlook_move(self, booking_id: str, start: datetime, *, reason: str) -> Booking: ...
    def record_outlook_drift(self, booking_id: str, drift: OutlookDrift | None) -> Booking: ...


class EventTypes(Protocol):
    def get_event_type(self, slug: str) -> EventType: ...
    def list_event_types(self) -> list[EventType]: ...


class MailboxFaults(Protocol):
    def mark(self, host_id: str, reason: str, at: datetime) -> None: ...
    def clear(self, host_id: str) -> None: ...


class CacheInvalidation(Protocol):
    def invalidate(self, host_id: str) -> None: ...


class DeltaLinks(Protocol):
    def delta_link(self, host_id: str) -> str | None: ...
    def save_delta_link(self, host_id: str, link: str | None) -> None: ...


class Lifecycle(Protocol):
    def renew(self, host_id: str) -> str: ...
    def recreate(self, host_id: str) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What one change did, and why (logged; returned for tests and the operator)."""

    host_id: str
    event_id: str
    booking_id: str | None
    verdict: str
    reason: str


@dataclass(slots=True)
class ResyncReport:
    host_id: str
    full: bool = False
    changes: int = 0
    decisions: list[Decision] = field(default_factory=list)
    #: Why the round could not run (the mailbox is unavailable), else None.
    error: str | None = None


class OutlookReconciler:
    def __init__(
        self,
        *,
        calendars: Calendars,
        links: Links,
        bookings: BookingReader,
        changes: BookingChanges,
        event_types: EventTypes,
        cache: CacheInvalidation,
        delta_links: DeltaLinks,
        lifecycle: Lifecycle | None,
        clock: Clock,
        faults: MailboxFaults | None = None,
        retry_sync: Callable[[Booking], object] | None = None,
    ) -> None:
        self._faults = faults
        self._retry_sync = retry_sync
        self._horizon_cache: tuple[float, timedelta] | None = None
        self._calendars = calendars
        self._links = links
        self._bookings = bookings
        self._changes = changes
        self._event_types = event_types
        self._cache = cache
        self._delta = delta_links
        self._lifecycle = lifecycle
        self._clock = clock

    # -- one queued message ----------------------------------------------------------------------------

    def handle(self, message: Mapping[str, Any]) -> str:
        """Apply one `graph-changes` message (see `graph_change_message`); a one-line outcome."""
        host_id = str(message.get("hostId") or "")
        if not host_id:
            return "ignored: no host"
        lifecycle_event = message.get("lifecycleEvent")
        if lifecycle_event:
            return self.on_lifecycle(host_id, str(lifecycle_event))
        event_id = str(message.get("eventId") or "")
        if not event_id:
            self._cache.invalidate(host_id)
            return "ignored: no event id"
        decision = self.on_change(host_id, event_id, str(message.get("changeType") or "updated"))
        return f"{decision.verdict}: {decision.reason}"

    def on_lifecycle(self, host_id: str, lifecycle_event: str) -> str:
        if lifecycle_event == "missed":
            report = self.resync(host_id)
            return f"resynced {host_id}: {report.changes} changes{' (full)' if report.full else ''}"
        if self._lifecycle is None:
            return f"ignored {lifecycle_event}: subscriptions are not managed here"
        if lifecycle_event == "reauthorizationRequired":
            return f"renew {host_id}: {self._lifecycle.renew(host_id)}"
        if lifecycle_event == "subscriptionRemoved":
            outcome = self._lifecycle.recreate(host_id)
            report = self.resync(host_id)  # changes while it was gone were not notified
            return f"recreate {host_id}: {outcome}; resynced {report.changes} changes"
        return f"ignored unknown lifecycle event {lifecycle_event!r}"

    # -- one changed event -----------------------------------------------------------------------------

    def on_change(self, host_id: str, event_id: str, change_type: str) -> Decision:
        self._cache.invalidate(host_id)
        try:
            return self._on_change(host_id, event_id, change_type)
        except MailboxUnavailable as exc:
            self._mailbox_fault(host_id, exc)
            return self._decided(
                host_id, event_id, None, "ignore", f"{change_type}: {exc.reason} {_UNAVAILABLE}"
            )

    def _mailbox_fault(self, host_id: str, exc: MailboxUnavailable) -> None:
        log.warning("outlook: mailbox of host %s is unavailable: %s", host_id, exc.reason)
        if self._faults is not None:
            self._faults.mark(host_id, exc.reason, self._clock.now())

    def _on_change(self, host_id: str, event_id: str, change_type: str) -> Decision:
        event = self._calendars.get_event(host_id, event_id)
        seen: ObservedEvent | None = None
        if event is not None:
            try:
                seen = observed(event)
            except UnreadableEvent as exc:
                return self._decided(host_id, event_id, None, "ignore", f"unreadable event: {exc}")
        booking_id = self._booking_id(seen, event_id)
        if booking_id is None:
            return self._decided(host_id, event_id, None, "not-ours", f"{change_type}: no booking maps to it")
        try:
            booking = self._bookings.get_booking(booking_id).booking
        except NotFound:
            return self._decided(host_id, event_id, booking_id, "ignore", "the booking does not exist")
        if booking.primary_host != host_id:
            return self._decided(
                host_id, event_id, booking_id, "ignore", "not the organizer's copy of the booking's event"
            )
        link = self._links.get(booking_id)
        if link is not None and link.event_id and link.event_id != event_id:
            return self._decided(host_id, event_id, booking_id, "ignore", "another event is the booking's")
        return self._apply(host_id, event_id, booking, seen, link)

    def _booking_id(self, observed: ObservedEvent | None, event_id: str) -> str | None:
        if observed is not None and observed.booking_id:
            return observed.booking_id
        if (
            observed is not None
            and observed.transaction_id
            and observed.transaction_id.startswith(_BOOKING_PREFIX)
        ):
            return booking_of_transaction(observed.transaction_id)
        return self._links.booking_for_event(event_id)

    def _apply(
        self,
        host_id: str,
        event_id: str,
        booking: Booking,
        observed: ObservedEvent | None,
        link: OutlookLink | None,
    ) -> Decision:
        times = BookingTimes(
            booking_id=booking.id,
            cancelled=booking.status is BookingStatus.CANCELLED,
            start=booking.start,
            end=booking.end,
            written_start=link.written_start if link is not None else None,
            written_end=link.written_end if link is not None else None,
            drift=booking.outlook.drift,
        )
        judgement = judge(observed, times, self._policy(booking.event_type))
        verdict, reason = judgement.verdict, judgement.reason
        try:
            if verdict is Verdict.CANCEL:
                self._changes.cancel(booking.id, reason=f"Cancelled in Outlook: {reason}", source="outlook")
            elif verdict is Verdict.ACCEPT:
                assert observed is not None
                try:
                    self._changes.accept_outlook_move(booking.id, observed.start, reason="Moved in Outlook")
                except SlotUnavailable as exc:
                    verdict, reason = Verdict.FLAG, f"{reason}; could not follow: {exc}"
                    self._changes.record_outlook_drift(
                        booking.id, drift_record(observed, times, self._clock.now())
                    )
            elif verdict is Verdict.FLAG:
                assert observed is not None
                self._changes.record_outlook_drift(
                    booking.id, drift_record(observed, times, self._clock.now())
                )
            elif verdict is Verdict.REVERT:
                self._calendars.update_event(host_id, event_id, event_times(booking.start, booking.end))
            elif verdict is Verdict.IN_SYNC and times.drift:
                self._changes.record_outlook_drift(booking.id, None)
                reason = f"{reason}; the recorded drift is resolved"
        except BookingNotModifiable as exc:
            return self._decided(host_id, event_id, booking.id, "ignore", f"booking changed: {exc}")
        return self._decided(host_id, event_id, booking.id, verdict.value, reason)

    def _policy(self, slug: str) -> OutlookEditPolicy:
        try:
            return self._event_types.get_event_type(slug).outlook_edit_policy
        except NotFound:
            return OutlookEditPolicy.FLAG

    def _decided(
        self, host_id: str, event_id: str, booking_id: str | None, verdict: str, reason: str
    ) -> Decision:
        decision = Decision(
            host_id=host_id, event_id=event_id, booking_id=booking_id, verdict=verdict, reason=reason
        )
        log.info(
            "outlook change: host %s event %s booking %s: %s (%s)",
            host_id,
            event_id,
            booking_id,
            verdict,
            reason,
        )
        return decision

    # -- delta resync ------------------------------------------------------------------------------------

    def resync(self, host_id: str, *, fresh: bool = False) -> ResyncReport:
        """Catch up with the host's calendar by delta query: from the stored link, or a full round over a
        new window when `fresh` (the daily safety net) or when no usable link is stored."""
        self._cache.invalidate(host_id)
        try:
            link = None if fresh else self._delta.delta_link(host_id)
            try:
                report = self._round(host_id, link)
            except DeltaTokenExpired:
                log.warning("delta token of %s expired; full resync", host_id)
                self._delta.save_delta_link(host_id, None)
                report = self._round(host_id, None)
        except MailboxUnavailable as exc:
            self._mailbox_fault(host_id, exc)
            return ResyncReport(host_id=host_id, full=fresh, error=exc.reason)
        if self._faults is not None and not any(d.reason.endswith(_UNAVAILABLE) for d in report.decisions):
            self._faults.clear(host_id)  # the mailbox answered a whole round: not degraded
        return report

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """A new full round's window: yesterday to the furthest a meeting can end under any event type."""
        return now - RESYNC_PAST, now + self._horizon() + RESYNC_SLACK

    def _horizon(self) -> timedelta:
        """The longest booking window of any event type; read at most once a minute (the daily run asks
        once per host, and event types change rarely)."""
        at = time.monotonic()
        if self._horizon_cache is not None and at - self._horizon_cache[0] < HORIZON_TTL_SECONDS:
            return self._horizon_cache[1]
        ahead = timedelta(0)
        for event_type in self._event_types.list_event_types():
            days = event_type.booking_window_days
            ahead = max(ahead, RESYNC_FUTURE if days is None else timedelta(days=days))
        horizon = ahead or RESYNC_FUTURE
        self._horizon_cache = (at, horizon)
        return horizon

    def _round(self, host_id: str, link: str | None) -> ResyncReport:
        report = ResyncReport(host_id=host_id, full=link is None)
        now = self._clock.now()
        window = self.window(now)
        seen: set[str] = set()
        page = (
            self._calendars.delta_page(host_id, link=link)
            if link is not None
            else self._calendars.delta_page(host_id, window=window)
        )
        while True:
            for item in page.events:
                seen.add(item.id)
                if not item.removed and not self._maybe_ours(item):
                    continue
                report.changes += 1
                report.decisions.append(
                    self.on_change(host_id, item.id, "deleted" if item.removed else "updated")
                )
            if page.next_link:
                page = self._calendars.delta_page(host_id, link=page.next_link)
                continue
            break
        if report.full:
            report.decisions.extend(self._missing_events(host_id, seen, window))
            self._retry_failed_cancels(host_id, window)
        self._delta.save_delta_link(host_id, page.delta_link)  # a fresh round's link retires the old one
        return report

    def _maybe_ours(self, item: OutlookEvent) -> bool:
        if item.transaction_id is not None and item.transaction_id.startswith(_BOOKING_PREFIX):
            return True
        return self._links.booking_for_event(item.id) is not None

    def _missing_events(
        self, host_id: str, seen: set[str], window: tuple[datetime, datetime]
    ) -> list[Decision]:
        """After a full round: the host's bookings in the round's window whose event it no longer shows."""
        decisions = []
        offset: int | None = 0
        while offset is not None:
            bookings, offset = self._bookings.list_bookings(
                record_id=None,
                host_id=host_id,
                start=window[0],
                end=window[1],
                status=BookingStatus.CONFIRMED.value,
                limit=200,
                offset=offset,
            )
            for booking in bookings:
                if booking.primary_host != host_id:
                    continue
                self._retry_failed_sync(booking)
                link = self._links.get(booking.id)
                if link is None or not link.event_id or link.event_id in seen:
                    continue
                decisions.append(self.on_change(host_id, link.event_id, "deleted"))
        return decisions

    def _retry_failed_cancels(self, host_id: str, window: tuple[datetime, datetime]) -> None:
        """Cancelled bookings of the window whose Outlook cancel failed on a mailbox fault: cancel again."""
        if self._retry_sync is None:
            return
        offset: int | None = 0
        while offset is not None:
            bookings, offset = self._bookings.list_bookings(
                record_id=None,
                host_id=host_id,
                start=window[0],
                end=window[1],
                status=BookingStatus.CANCELLED.value,
                limit=200,
                offset=offset,
            )
            for booking in bookings:
                if booking.primary_host == host_id:
                    self._retry_failed_sync(booking)

    def _retry_failed_sync(self, booking: Booking) -> None:
        """A booking whose Outlook sync failed on a mailbox fault is written again once the mailbox answers
        a whole round (the sync settled its message: nothing else would retry it)."""
        outlook = booking.outlook
        if self._retry_sync is None or outlook.sync_status is not SyncStatus.FAILED:
            return
        if not (outlook.error or "").startswith(f"{MailboxUnavailable.__name__}:"):
            return
        log.info("outlook resync: retrying the failed sync of %s", booking.id)
        try:
            self._retry_sync(booking)
        except Exception:
            log.exception("outlook resync: retrying the sync of %s failed; the next run retries", booking.id)


def graph_change_message(host_id: str, subscription_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The `graph-changes` queue message for one validated notification item (no clientState in it)."""
    resource_data = item.get("resourceData")
    event_id = resource_data.get("id") if isinstance(resource_data, Mapping) else None
    if not event_id:
        resource = str(item.get("resource") or "")
        event_id = resource.rsplit("/", 1)[-1] if "/events/" in resource.lower() else None
    message: dict[str, Any] = {"hostId": host_id, "subscriptionId": subscription_id}
    if item.get("lifecycleEvent"):
        message["lifecycleEvent"] = str(item["lifecycleEvent"])
    else:
        message["changeType"] = str(item.get("changeType") or "updated")
        message["eventId"] = str(event_id) if event_id else None
    return message
