"""Keeps each booking's Outlook event true to the booking: the `sync-outlook` handler's one service.

Invariants:
- One event per booking, ever. Creates carry `transactionId` = booking id (Graph de-duplicates a
  retried create), or booking id and the move's version once a reassignment placed the booking in a
  mailbox (`outlook.transaction_id`: moved back to a host, it must not repeat the cancelled event's).
  Graph documents no retention for that, so once a create has been attempted (`createAttemptedAt` in
  the link row, written before the request), a later attempt first looks the event up by our extended
  property and adopts it (never a cancelled one) instead of creating.
- The event lives in the first host's calendar; co-hosts of a collective booking and the invitee are
  required attendees (one meeting, one Teams link, one set of responses).
- Graph may refuse a create with 400 `ErrorDuplicateTransactionId` (an earlier attempt made the event and
  its answer was lost, e.g. the client retried after a gateway timeout): the event is found by our extended
  property, adopted and patched to the snapshot, so the booking still has one event and says `synced`.
- A mailbox fault (Graph cannot serve the mailbox: 404 `MailboxNotEnabledForRESTAPI`, 403 access policy)
  is never taken for a deleted event: the sync fails with the reason, the host is recorded as degraded
  (`/health`), and the next run for the booking retries; a write that succeeds clears the record.
- Reschedule = PATCH of the same event; cancel = the organizer's `cancel` with the reason. An event the
  host deleted is not created again (the reconciler cancels that booking); the sync says `failed`.
- A `booking.drift-detected` snapshot changes nothing in Outlook: under policy `flag` Outlook is left
  as the host put it.
- Version order, leases and outcomes are those of `sync_runner` (stale or repeated events are
  acknowledged and ignored; permanent refusals settle with `failed`; transient ones are retried and
  marked `failed` on the last delivery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, Protocol

from scheduling_core.domain.bookings import Booking
from scheduling_core.domain.events import BOOKING_DRIFT_DETECTED
from scheduling_core.domain.outlook import (
    MeetingSource,
    OutlookEvent,
    cancel_comment,
    event_update,
    new_event,
)
from scheduling_core.domain.values import EventType, Host
from scheduling_core.errors import (
    DuplicateTransaction,
    EventGone,
    MailboxUnavailable,
    NotFound,
    UpstreamUnavailable,
)
from scheduling_core.ports import Clock, CloudEvent, OutlookLink
from scheduling_core.services.dataverse_sync import source_from_event
from scheduling_core.services.sync_runner import LeasedApply, Redelivery, SyncOutcome

log = logging.getLogger(__name__)

TARGET: Final = "outlook"


class Calendars(Protocol):
    def create_event(self, mailbox: str, body: Mapping[str, Any]) -> OutlookEvent: ...
    def get_event(self, mailbox: str, event_id: str) -> OutlookEvent | None: ...
    def find_booking_event(self, mailbox: str, booking_id: str) -> OutlookEvent | None: ...
    def update_event(self, mailbox: str, event_id: str, body: Mapping[str, Any]) -> OutlookEvent | None: ...
    def cancel_event(self, mailbox: str, event_id: str, comment: str) -> bool: ...


class Links(Protocol):
    def get(self, booking_id: str) -> OutlookLink | None: ...
    def put(self, link: OutlookLink) -> None: ...


class CacheInvalidation(Protocol):
    def invalidate(self, host_id: str) -> None: ...


class MailboxFaults(Protocol):
    def mark(self, host_id: str, reason: str, at: datetime) -> None: ...
    def clear(self, host_id: str) -> None: ...


class SyncStatusSink(Protocol):
    def record_sync(self, booking_id: str, section: str, values: Mapping[str, Any]) -> Booking: ...


class EventTypesAndHosts(Protocol):
    def get_event_type(self, slug: str) -> EventType: ...
    def get_host(self, host_id: str) -> Host: ...


def meeting_source(event: CloudEvent, emails: Mapping[str, str]) -> MeetingSource:
    """The snapshot of a booking event as the Outlook event shows it (`MalformedEvent` if unusable)."""
    source = source_from_event(event)
    snapshot = event.data.get("booking") or {}
    cancellation = snapshot.get("cancellation") if isinstance(snapshot, Mapping) else None
    reason = cancellation.get("reason") if isinstance(cancellation, Mapping) else None
    return MeetingSource(
        booking_id=source.booking_id,
        version=source.version,
        cancelled=source.cancelled,
        event_type=source.event_type,
        start=source.start,
        end=source.end,
        host_ids=source.host_ids,
        host_emails=emails,
        invitee_name=source.invitee_name,
        invitee_email=source.invitee_email,
        cancel_reason=str(reason) if reason else None,
        drift_recorded=event.type == BOOKING_DRIFT_DETECTED,
    )


class OutlookSync:
    def __init__(
        self,
        *,
        calendars: Calendars,
        links: Links,
        runner: LeasedApply,
        bookings: SyncStatusSink,
        config: EventTypesAndHosts,
        clock: Clock,
        cache: CacheInvalidation | None = None,
        faults: MailboxFaults | None = None,
        manage_url: Callable[[str], str | None] | None = None,
    ) -> None:
        self._manage_url = manage_url
        self._cache = cache
        self._faults = faults
        self._calendars = calendars
        self._links = links
        self._runner = runner
        self._bookings = bookings
        self._config = config
        self._clock = clock

    @property
    def max_delivery_count(self) -> int:
        return self._runner.max_delivery_count

    def apply(self, event: CloudEvent, delivery_count: int = 1, throttle_count: int = 0) -> SyncOutcome:
        source = source_from_event(event)  # MalformedEvent before any lookup
        meeting = meeting_source(event, self._emails(source.host_ids))
        if self._manage_url is not None:  # the invitation carries the invitee's manage link
            meeting = replace(meeting, manage_url=self._manage_url(meeting.booking_id))

        def record(values: Mapping[str, Any]) -> None:
            try:
                self._bookings.record_sync(meeting.booking_id, "outlook", values)
            except NotFound:
                log.warning("outlook sync: booking %s is gone; status not written", meeting.booking_id)

        return self._runner.run(
            event_id=event.id,
            booking_id=meeting.booking_id,
            version=meeting.version,
            delivery_count=delivery_count,
            redelivery=Redelivery(event=event, throttle_count=throttle_count),
            write=lambda: self._write(meeting, delivery_count),
            record=record,
        )

    def _emails(self, host_ids: tuple[str, ...]) -> dict[str, str]:
        emails = {}
        for host_id in host_ids:
            try:
                emails[host_id] = self._config.get_host(host_id).email
            except NotFound:
                continue
        return emails

    def _write(self, meeting: MeetingSource, delivery_count: int) -> Mapping[str, Any]:
        try:
            written = self._write_event(meeting, delivery_count)
        except MailboxUnavailable as exc:
            if self._faults is not None:
                self._faults.mark(exc.mailbox, exc.reason, self._clock.now())
            raise
        else:
            if self._faults is not None:
                self._faults.clear(meeting.host_ids[0])  # the mailbox answers: it is not degraded
            return written
        finally:
            if self._cache is not None:  # our write changed these calendars: no stale free/busy here
                for host_id in meeting.host_ids:
                    self._cache.invalidate(host_id)

    def _write_event(self, meeting: MeetingSource, delivery_count: int) -> Mapping[str, Any]:
        mailbox = meeting.host_ids[0]
        link = self._links.get(meeting.booking_id) or OutlookLink(
            booking_id=meeting.booking_id, mailbox=mailbox
        )
        if link.mailbox and link.mailbox != mailbox:
            link = self._leave_old_mailbox(meeting, link, mailbox)
        event_id = link.event_id
        if event_id is None and (link.create_attempted_at is not None or delivery_count > 1):
            found = self._calendars.find_booking_event(mailbox, meeting.booking_id)
            if found is not None:
                event_id = found.id
                log.info("outlook sync: adopted event of %s found by its booking id", meeting.booking_id)
        if meeting.cancelled:
            return self._cancel(meeting, link, mailbox, event_id)
        if meeting.drift_recorded:
            return {"error": None}  # policy flag: Outlook stays as the host left it
        event_type = self._event_type(meeting.event_type)
        written: OutlookEvent | None = None
        if event_id is None:
            self._links.put(replace(link, create_attempted_at=self._clock.now()))
            try:
                body = new_event(meeting, event_type, placement=link.placement)
                written = self._calendars.create_event(mailbox, body)
                event_id = written.id
            except DuplicateTransaction:
                found = self._calendars.find_booking_event(mailbox, meeting.booking_id)
                if found is None:  # made, but not yet findable by its property: a later delivery adopts it
                    raise UpstreamUnavailable(
                        "graph",
                        f"the Outlook event of booking '{meeting.booking_id}' exists but was not found",
                    ) from None
                event_id = found.id
                log.info(
                    "outlook sync: adopted event of %s after a duplicate transactionId", meeting.booking_id
                )
        if written is None:
            assert event_id is not None
            updated = self._calendars.update_event(mailbox, event_id, event_update(meeting, event_type))
            if updated is None:
                raise EventGone(
                    f"The Outlook event of booking '{meeting.booking_id}' was deleted in Outlook."
                )
            written = updated
        join_url = written.join_url
        if join_url is None and written.online_meeting:
            # Graph may answer before the Teams meeting exists: read it once more, only then.
            reread = self._calendars.get_event(mailbox, event_id)
            join_url = reread.join_url if reread is not None else None
        self._links.put(
            replace(
                link,
                event_id=event_id,
                written_version=meeting.version,
                written_start=meeting.start,
                written_end=meeting.end,
            )
        )
        return {"eventId": event_id, "joinUrl": join_url, "drift": None, "error": None}

    def _leave_old_mailbox(self, meeting: MeetingSource, link: OutlookLink, mailbox: str) -> OutlookLink:
        """The booking was reassigned: Graph cannot move an event between mailboxes, so the old host
        cancels theirs (the invitee gets the cancellation with a comment) and the new host's calendar
        gets a new event (the caller creates it, the invitee gets the invitation from the new host).

        Crash-safe in this order: cancelling again is harmless (False when gone), and the link names the
        new mailbox only once the old event is cancelled; a create lost after that is adopted by a later
        delivery through the booking id property.
        """
        old_event = link.event_id
        if old_event is None and link.create_attempted_at is not None:
            found = self._calendars.find_booking_event(link.mailbox, meeting.booking_id)
            old_event = found.id if found is not None else None
        if old_event is not None:
            new_organizer = meeting.host_emails.get(mailbox, "another colleague")
            comment = f"This meeting was handed over to {new_organizer}, who sends you a new invitation."
            self._calendars.cancel_event(link.mailbox, old_event, comment)
            log.info("outlook sync: %s left the calendar of %s", meeting.booking_id, link.mailbox)
        if self._cache is not None:
            self._cache.invalidate(link.mailbox)
        # A new placement, a new transactionId: the mailbox may hold (in Deleted Items) the event an
        # earlier placement there made and a move cancelled, and Graph refuses a repeated transactionId.
        moved = OutlookLink(booking_id=meeting.booking_id, mailbox=mailbox, placement=meeting.version)
        self._links.put(moved)
        return moved

    def _cancel(
        self, meeting: MeetingSource, link: OutlookLink, mailbox: str, event_id: str | None
    ) -> Mapping[str, Any]:
        if event_id is not None:
            comment = cancel_comment(meeting)
            self._calendars.cancel_event(mailbox, event_id, comment)  # False: gone already, fine
            self._links.put(replace(link, event_id=event_id, written_version=meeting.version))
        return {"error": None}

    def _event_type(self, slug: str) -> EventType | None:
        try:
            return self._config.get_event_type(slug)
        except NotFound:
            return None
