"""Bookings as Outlook events, and Outlook's events read back against bookings (pure).

Invariants:
- An event this service writes carries the booking id in one single-value extended property
  (`BOOKING_PROPERTY_ID`) and `transactionId` = booking id, so an event maps back to its booking
  without any stored state, and a retried create is recognised (Graph de-duplicates on
  `transactionId`; the property finds it when that de-duplication has lapsed). A booking moved into a
  mailbox again (reassigned A to B and back) creates with `{bookingId}~{version of the move}`: the
  event cancelled on the way out sits in Deleted Items with the earlier transactionId, and Graph would
  refuse to create the live one (`transaction_id`, `booking_of_transaction`).
- Times are sent in UTC (`dateTime` without offset, `timeZone: "UTC"`), and read back in whatever
  zone Graph states; comparisons are between aware UTC instants only.
- `judge` decides from values alone what an observed Outlook event means for its booking; every
  outcome names the reason, so the reconciler's log explains each decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from scheduling_core.domain.booking_sections import OutlookDrift
from scheduling_core.domain.inert_text import inert
from scheduling_core.domain.values import EventType, LocationKind, OutlookEditPolicy
from scheduling_core.errors import UnreadableEvent

#: A named string property in our own property set (a GUID we chose; the name says what it holds).
BOOKING_PROPERTY_ID: Final = "String {6f1f1c8e-3c1b-4f4e-9d0a-7b4c2a9e5d10} Name SchedulingBookingId"
#: `$expand` that brings the property back with the event.
BOOKING_PROPERTY_EXPAND: Final = f"singleValueExtendedProperties($filter=id eq '{BOOKING_PROPERTY_ID}')"
#: Graph's `subject` is limited to 255 characters.
_SUBJECT_LIMIT: Final = 255
#: The invitee's part of a subject; the event body as a whole (both bounded whatever the input).
INVITEE_NAME_LIMIT: Final = 100
BODY_LIMIT: Final = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingSource:
    """What of a booking snapshot the Outlook event shows (read from a `booking.*` CloudEvent)."""

    booking_id: str
    version: int
    cancelled: bool
    event_type: str
    start: datetime
    end: datetime
    host_ids: tuple[str, ...]
    host_emails: Mapping[str, str]
    invitee_name: str
    invitee_email: str
    cancel_reason: str | None = None
    drift_recorded: bool = False
    manage_url: str | None = None  # where the invitee reschedules or cancels (api.md)


#: The cancellation comment Exchange mails to attendees: the canceller's reason, one bounded plain line.
CANCEL_COMMENT_LIMIT = 1000


def cancel_comment(source: MeetingSource) -> str:
    """The comment sent with the cancellation: the reason (invitee-chosen text, so made inert)."""
    return inert(source.cancel_reason, CANCEL_COMMENT_LIMIT) or "This meeting was cancelled."


def subject(source: MeetingSource, event_type: EventType | None) -> str:
    title = event_type.title if event_type is not None else source.event_type
    # Invitee-chosen text: one plain bounded line (no CR/LF, no markup) in the rep's calendar.
    name = inert(source.invitee_name, INVITEE_NAME_LIMIT) or inert(source.invitee_email, INVITEE_NAME_LIMIT)
    text = f"{title} with {name}" if name else title
    return text if len(text) <= _SUBJECT_LIMIT else text[: _SUBJECT_LIMIT - 1] + "…"


def body_text(source: MeetingSource, event_type: EventType | None) -> str:
    lines = [f"Booked through the scheduling service (booking {source.booking_id})."]
    if (
        event_type is not None
        and event_type.location.kind is not LocationKind.TEAMS
        and event_type.location.value
    ):
        lines.append(f"Location: {inert(event_type.location.value, 1024)}")
    if source.manage_url:  # ours, not invitee text: where the invitee reschedules or cancels
        lines.append(f"Reschedule or cancel: {source.manage_url}")
    return "\n".join(lines)[:BODY_LIMIT]


def _utc_wire(at: datetime) -> dict[str, str]:
    return {"dateTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _attendee(address: str, name: str | None = None) -> dict[str, Any]:
    email: dict[str, str] = {"address": address}
    if name:
        email["name"] = name
    return {"emailAddress": email, "type": "required"}


def event_times(start: datetime, end: datetime) -> dict[str, Any]:
    """The PATCH body that moves an event to `[start, end)`."""
    return {"start": _utc_wire(start), "end": _utc_wire(end)}


#: Between a booking id and the version of the move that placed it in a mailbox, in a `transactionId`.
PLACEMENT_SEPARATOR: Final = "~"


def transaction_id(booking_id: str, placement: int = 0) -> str:
    """The `transactionId` of the create of a booking's event in one mailbox placement: the booking id
    for its first mailbox (0), `{bookingId}~{version}` once a move (at that version) put it in one; a
    retry of the same create repeats it, a later placement in a mailbox used before never does."""
    return booking_id if placement == 0 else f"{booking_id}{PLACEMENT_SEPARATOR}{placement}"


def booking_of_transaction(value: str) -> str:
    """The booking id a `transactionId` of ours names (`transaction_id` inverted)."""
    return value.partition(PLACEMENT_SEPARATOR)[0]


def new_event(source: MeetingSource, event_type: EventType | None, *, placement: int = 0) -> dict[str, Any]:
    """The `POST /users/{host}/events` body for a booking (the first host's calendar; co-hosts attend);
    `placement` as in `transaction_id`."""
    attendees = [
        _attendee(source.host_emails[host_id])
        for host_id in source.host_ids[1:]
        if source.host_emails.get(host_id)
    ]
    if source.invitee_email:
        attendees.append(_attendee(source.invitee_email, source.invitee_name or None))
    teams = event_type is None or event_type.location.kind is LocationKind.TEAMS
    body: dict[str, Any] = {
        "subject": subject(source, event_type),
        "body": {"contentType": "text", "content": body_text(source, event_type)},
        **event_times(source.start, source.end),
        "attendees": attendees,
        "showAs": "busy",
        "transactionId": transaction_id(source.booking_id, placement),
        "singleValueExtendedProperties": [{"id": BOOKING_PROPERTY_ID, "value": source.booking_id}],
    }
    if teams:
        body["isOnlineMeeting"] = True
        body["onlineMeetingProvider"] = "teamsForBusiness"
    elif event_type is not None and event_type.location.value:
        body["location"] = {"displayName": event_type.location.value[:255]}
    return body


def event_update(source: MeetingSource, event_type: EventType | None) -> dict[str, Any]:
    """The PATCH body that makes an existing event show the booking (times, subject, attendees)."""
    created = new_event(source, event_type)
    return {key: created[key] for key in ("subject", "start", "end", "attendees")}


# --- Outlook's events read back ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlookEvent:
    """An Outlook event as Graph returned it, read once at the adapter edge
    (`adapters.outlook_calendar.read_event`) and reduced to what this service uses.

    Only `id` is certain: a delta page's removals carry nothing else, and Graph sends occurrences of a
    series in a delta page with only id, type, start and end. Times come as aware UTC instants; when
    Graph sent an event this service cannot read (an unknown zone, a malformed value), `unreadable`
    says why and the rest is what could be read without guessing (the id; `removed` of a delta item).
    """

    id: str
    start: datetime | None = None
    end: datetime | None = None
    cancelled: bool = False
    removed: bool = False  # a delta item: deleted, cancelled, or moved out of the round's window
    booking_id: str | None = None  # from our extended property (`BOOKING_PROPERTY_ID`)
    transaction_id: str | None = None
    online_meeting: bool = False  # Graph was asked for an online meeting (`isOnlineMeeting`)
    join_url: str | None = None
    unreadable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedEvent:
    """An Outlook event whose times were read (`observed`), reduced to what reconciliation compares."""

    id: str
    start: datetime
    end: datetime
    cancelled: bool
    booking_id: str | None  # from our extended property, else None
    transaction_id: str | None
    join_url: str | None


def observed(event: OutlookEvent) -> ObservedEvent:
    """The event as reconciliation compares it; `UnreadableEvent` when Graph gave no readable times."""
    if event.unreadable is not None:
        raise UnreadableEvent(event.unreadable)
    if event.start is None or event.end is None:
        raise UnreadableEvent("missing dateTime")
    return ObservedEvent(
        id=event.id,
        start=event.start,
        end=event.end,
        cancelled=event.cancelled,
        booking_id=event.booking_id,
        transaction_id=event.transaction_id,
        join_url=event.join_url,
    )


class Verdict(StrEnum):
    IN_SYNC = "in-sync"  # Outlook shows the booking's time: nothing to do (our own writes land here)
    SYNC_PENDING = "sync-pending"  # Outlook shows what we last wrote; a newer version is on its way
    ALREADY_FLAGGED = "already-flagged"  # this drift is recorded already
    CANCEL = "cancel"  # the host cancelled or deleted the meeting: the booking is cancelled
    FLAG = "flag"
    ACCEPT = "accept"
    REVERT = "revert"
    IGNORE = "ignore"  # the booking is cancelled already, or the event is not ours to judge


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingTimes:
    """The booking as the reconciler compares it, with what this service last wrote to Outlook."""

    booking_id: str
    cancelled: bool
    start: datetime
    end: datetime
    written_start: datetime | None = None  # the times of our last successful write, if any
    written_end: datetime | None = None
    drift: OutlookDrift | None = None


def drift_record(event: ObservedEvent, booking: BookingTimes, detected_at: datetime) -> OutlookDrift:
    """The `outlook.drift` value: what Outlook shows now against what the booking says."""
    changes = []
    if event.start != booking.start:
        changes.append("start")
    if event.end != booking.end:
        changes.append("end")
    return OutlookDrift(
        event_start=event.start,
        event_end=event.end,
        booking_start=booking.start,
        booking_end=booking.end,
        changed=tuple(changes),
        detected_at=detected_at.astimezone(UTC),
    )


def judge(event: ObservedEvent | None, booking: BookingTimes, policy: OutlookEditPolicy) -> Judgement:
    """What an observed event (None: deleted, gone from the calendar) means for its booking."""
    if booking.cancelled:
        return Judgement(verdict=Verdict.IGNORE, reason="the booking is already cancelled")
    if event is None:
        return Judgement(verdict=Verdict.CANCEL, reason="the event was deleted from the host's calendar")
    if event.cancelled:
        return Judgement(verdict=Verdict.CANCEL, reason="the host cancelled the event in Outlook")
    if (event.start, event.end) == (booking.start, booking.end):
        return Judgement(verdict=Verdict.IN_SYNC, reason="Outlook shows the booking's time")
    if booking.written_start is not None and (event.start, event.end) == (
        booking.written_start,
        booking.written_end,
    ):
        return Judgement(
            verdict=Verdict.SYNC_PENDING, reason="Outlook shows our last write; the newer version is pending"
        )
    if booking.drift is not None and (booking.drift.event_start, booking.drift.event_end) == (
        event.start,
        event.end,
    ):
        return Judgement(verdict=Verdict.ALREADY_FLAGGED, reason="this change is recorded as drift already")
    moved = f"moved in Outlook to {event.start.isoformat()} to {event.end.isoformat()}"
    if policy is OutlookEditPolicy.ACCEPT:
        if event.end - event.start != booking.end - booking.start:
            return Judgement(
                verdict=Verdict.FLAG,
                reason=f"{moved}; policy accept, but the duration changed, which a booking cannot take",
            )
        return Judgement(verdict=Verdict.ACCEPT, reason=f"{moved}; policy accept: the booking follows")
    if policy is OutlookEditPolicy.REVERT:
        return Judgement(verdict=Verdict.REVERT, reason=f"{moved}; policy revert: the event is moved back")
    return Judgement(verdict=Verdict.FLAG, reason=f"{moved}; policy flag: the booking keeps its time")
