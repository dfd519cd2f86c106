"""Bookings and holds as values, and the pure rules around them.

Invariants:
- A booking or hold claims `[start - before, end + after)` of a host's time. The claim is written, as one
  `DayEntry`, into the host's row of every UTC day it touches (at most three: a claim is at most
  1440 + 2 x 480 minutes); two claims that overlap share at least one day row, so an ETag-conditional write
  of every touched row lets at most one of them commit (storage: adapters/booking_table.py).
- The live entries of one day row are pairwise disjoint claims of at least 5 minutes (every start, duration
  and buffer is on the 5-minute grid), so a row holds at most 288 of them: its size is bounded.
- `version` starts at 1 and grows by one with every change; a cancelled booking never changes again.
- The Dataverse appointment id is a pure function of the booking id, so no retry can make a second one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Protocol

from scheduling_core.domain.availability import HostCalendar, host_slot_starts
from scheduling_core.domain.booking_sections import (
    Attendance,
    AttendanceParty,
    Cancellation,
    DynamicsState,
    JsonObject,
    OutlookState,
    RoutingRecord,
    SyncStatus,
)
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import GRID_MINUTES, Commitment, EventType
from scheduling_core.errors import SlotUnavailable

APPOINTMENT_NAMESPACE = uuid.UUID("8f0c3b5e-6a1d-4c7e-9b2a-5d4e3f2a1b0c")


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class FairnessDiscount(StrEnum):
    """Why a booking counts as only `noShowWeight` of a booking for fairness (routing.md)."""

    NO_SHOW = "noShow"
    INVITEE_CANCEL = "inviteeCancel"


def new_booking_id() -> str:
    return "bk_" + uuid.uuid4().hex[:24]


def new_hold_id() -> str:
    return "hd_" + uuid.uuid4().hex[:24]


def appointment_id(booking_id: str) -> str:
    """The Dataverse `activityid` of a booking's appointment (uuid5: deterministic, collision-free)."""
    return str(uuid.uuid5(APPOINTMENT_NAMESPACE, booking_id))


def claim_interval(start: datetime, end: datetime, before: timedelta, after: timedelta) -> Interval:
    return Interval(start - before, end + after)


#: Live claims in one day row: pairwise disjoint, each at least one grid step long.
MAX_ENTRIES_PER_DAY = 24 * 60 // GRID_MINUTES


def claim_days(claim: Interval) -> list[date]:
    """The UTC dates whose day rows `claim` touches (`[start, end)`: an end at midnight stays out)."""
    first = claim.start.astimezone(UTC).date()
    last = (claim.end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class ClaimKind(StrEnum):
    BOOKING = "b"
    HOLD = "h"
    #: A collective booking's claim on a non-primary host before the primary host committed.
    PENDING = "p"


@dataclass(frozen=True, slots=True, kw_only=True)
class DayEntry:
    """One claim as a day row stores it: the meeting, its buffers, who owns it and until when."""

    owner: str
    kind: ClaimKind
    event_type: str
    start: datetime
    end: datetime
    buffer_before: timedelta
    buffer_after: timedelta
    expires_at: datetime | None = None

    @property
    def interval(self) -> Interval:
        return claim_interval(self.start, self.end, self.buffer_before, self.buffer_after)

    def overlaps(self, other: Interval) -> bool:
        mine = self.interval
        return mine.start < other.end and other.start < mine.end

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def to_commitment(self) -> Commitment:
        return Commitment(
            start=self.start,
            end=self.end,
            event_type=self.event_type,
            buffer_before=self.buffer_before,
            buffer_after=self.buffer_after,
            counts_toward_caps=self.kind is ClaimKind.BOOKING,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """What a booking or hold takes of one host's time."""

    host_id: str
    event_type: str
    start: datetime
    end: datetime
    buffer_before: timedelta
    buffer_after: timedelta

    @property
    def interval(self) -> Interval:
        return claim_interval(self.start, self.end, self.buffer_before, self.buffer_after)

    def entry(self, owner: str, kind: ClaimKind, expires_at: datetime | None = None) -> DayEntry:
        return DayEntry(
            owner=owner,
            kind=kind,
            event_type=self.event_type,
            start=self.start,
            end=self.end,
            buffer_before=self.buffer_before,
            buffer_after=self.buffer_after,
            expires_at=expires_at,
        )


class _Claimant(Protocol):
    @property
    def event_type(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def buffer_before(self) -> timedelta: ...
    @property
    def buffer_after(self) -> timedelta: ...


def _claim(owner: _Claimant, host_id: str) -> Claim:
    """What a booking or hold takes of `host_id`'s time (both carry the same fields)."""
    return Claim(
        host_id=host_id,
        event_type=owner.event_type,
        start=owner.start,
        end=owner.end,
        buffer_before=owner.buffer_before,
        buffer_after=owner.buffer_after,
    )


def claim_for(event_type: EventType, host_id: str, start: datetime) -> Claim:
    return Claim(
        host_id=host_id,
        event_type=event_type.slug,
        start=start,
        end=start + event_type.duration,
        buffer_before=event_type.buffer_before,
        buffer_after=event_type.buffer_after,
    )


def ensure_bookable(calendar: HostCalendar, event_type: EventType, start: datetime, now: datetime) -> None:
    """Raise `SlotUnavailable` unless `start` is one of the host's slots now (api.md slot rules 1-6)."""
    if start < now + timedelta(minutes=event_type.minimum_notice_minutes):
        raise SlotUnavailable("The start is in the past or inside the minimum notice.")
    if event_type.booking_window_days is not None and start > now + timedelta(
        days=event_type.booking_window_days
    ):
        raise SlotUnavailable("The start is beyond the booking window.")
    probe = Interval(start, start + timedelta(minutes=1))
    if start not in host_slot_starts(calendar, event_type, probe, now):
        raise SlotUnavailable(
            "The slot is not available: taken or held, busy in Outlook, outside working hours, "
            "off the slot grid, or over a daily cap."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitee:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Booking:
    id: str
    status: BookingStatus
    version: int
    event_type: str
    start: datetime
    end: datetime
    time_zone: str
    host_ids: tuple[str, ...]
    invitee: Invitee
    buffer_before: timedelta
    buffer_after: timedelta
    created_at: datetime
    updated_at: datetime
    context: JsonObject = field(default_factory=dict)
    answers: JsonObject = field(default_factory=dict)
    metadata: JsonObject = field(default_factory=dict)
    routing: RoutingRecord
    outlook: OutlookState = field(default_factory=OutlookState)
    dynamics: DynamicsState
    cancellation: Cancellation | None = None
    attendance: Attendance | None = None

    @property
    def primary_host(self) -> str:
        return self.host_ids[0]

    @property
    def no_show(self) -> bool:
        return self.attendance is not None

    @property
    def fairness_discount(self) -> FairnessDiscount | None:
        """Whether fairness counts this booking as `noShowWeight` of one, and why (routing.md).

        The invitee's absence or cancel is not the host's doing, so the host is not charged a whole
        booking for it. A host's own no-show counts whole: skipping meetings must not earn a rep more.
        """
        if self.attendance is not None and self.attendance.party is AttendanceParty.INVITEE:
            return FairnessDiscount.NO_SHOW if self.no_show else None
        cancel = self.cancellation
        if self.status is BookingStatus.CANCELLED and cancel is not None and cancel.by_invitee:
            return FairnessDiscount.INVITEE_CANCEL
        return None

    def marked_no_show(self, party: AttendanceParty, note: str | None, at: datetime) -> Booking:
        attendance = Attendance(party=party, at=at, note=note or None)
        return replace(self, version=self.version + 1, updated_at=at, attendance=attendance)

    def claim(self, host_id: str) -> Claim:
        return _claim(self, host_id)

    def rescheduled(self, start: datetime, at: datetime, reason: str | None) -> Booking:
        duration = self.end - self.start
        metadata = dict(self.metadata)
        if reason:
            metadata["lastRescheduleReason"] = reason
        return replace(
            self,
            start=start,
            end=start + duration,
            version=self.version + 1,
            updated_at=at,
            metadata=metadata,
        )

    def reassigned(self, from_host: str, to_host: str, at: datetime, routing: RoutingRecord) -> Booking:
        """The same booking with `to_host` in `from_host`'s place (same position: the first host stays
        the organizer), one version newer."""
        hosts = tuple(to_host if h == from_host else h for h in self.host_ids)
        # Both syncs have work to do (a new Outlook event, a new organizer): pending until they report.
        return replace(
            self,
            host_ids=hosts,
            version=self.version + 1,
            updated_at=at,
            routing=routing,
            outlook=replace(self.outlook, sync_status=SyncStatus.PENDING),
            dynamics=replace(self.dynamics, sync_status=SyncStatus.PENDING),
        )

    def rerouted(
        self, start: datetime, to_host: str, at: datetime, reason: str | None, routing: RoutingRecord
    ) -> Booking:
        """Moved to `start` and from its (only) host to `to_host` in one change: one version newer."""
        moved = self.rescheduled(start, at, reason).reassigned(self.primary_host, to_host, at, routing)
        return replace(moved, version=self.version + 1)

    def cancelled(self, at: datetime, reason: str | None, source: str) -> Booking:
        return replace(
            self,
            status=BookingStatus.CANCELLED,
            version=self.version + 1,
            updated_at=at,
            # `by` is api.md's name for who cancelled (`invitee` through a manage link); `source` stays.
            cancellation=Cancellation(reason=reason, source=source, by=source, at=at),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscountedBooking:
    """A booking fairness counts as `noShowWeight` of one: its primary host, why, when, which rule set."""

    host_id: str
    discount: FairnessDiscount
    start: datetime
    rule_set: str | None


@dataclass(frozen=True, slots=True)
class StoredBooking:
    """A booking as read from storage, with the ETag a conditional write must match."""

    booking: Booking
    etag: str


class BookingReader(Protocol):
    """Reading stored bookings (`TableBookingStore` is one): by id, and listed by record, host and time."""

    def get_booking(self, booking_id: str) -> StoredBooking: ...  # NotFound if absent

    def list_bookings(
        self,
        *,
        record_id: str | None,
        host_id: str | None,
        start: datetime | None,
        end: datetime | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Booking], int | None]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    id: str
    event_type: str
    host_ids: tuple[str, ...]
    start: datetime
    end: datetime
    buffer_before: timedelta
    buffer_after: timedelta
    expires_at: datetime
    context: JsonObject = field(default_factory=dict)

    def claim(self, host_id: str) -> Claim:
        return _claim(self, host_id)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def _iso(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).isoformat()


def booking_snapshot(booking: Booking, zone: tzinfo = UTC) -> dict[str, Any]:
    """The booking as `GET /bookings/{id}` shows it, instants rendered in `zone`."""
    snapshot: dict[str, Any] = {
        "id": booking.id,
        "status": booking.status.value,
        "version": booking.version,
        "eventType": booking.event_type,
        "start": _iso(booking.start, zone),
        "end": _iso(booking.end, zone),
        "timeZone": booking.time_zone,
        "hostIds": list(booking.host_ids),
        "invitee": {
            "name": booking.invitee.name,
            "email": booking.invitee.email,
            "phone": booking.invitee.phone,
        },
        "context": dict(booking.context),
        "answers": dict(booking.answers),
        "metadata": dict(booking.metadata),
        "routing": booking.routing.to_json(),
        "outlook": booking.outlook.to_json(),
        "dynamics": booking.dynamics.to_json(),
        "createdAt": _iso(booking.created_at, zone),
        "updatedAt": _iso(booking.updated_at, zone),
    }
    if booking.cancellation is not None:
        snapshot["cancellation"] = booking.cancellation.to_json()
    if booking.attendance is not None:
        snapshot["attendance"] = booking.attendance.to_json(zone)
    return snapshot


def booking_from_snapshot(
    doc: Mapping[str, Any], *, buffer_before: timedelta, buffer_after: timedelta
) -> Booking:
    invitee = doc["invitee"]
    return Booking(
        id=doc["id"],
        status=BookingStatus(doc["status"]),
        version=int(doc["version"]),
        event_type=doc["eventType"],
        start=datetime.fromisoformat(doc["start"]).astimezone(UTC),
        end=datetime.fromisoformat(doc["end"]).astimezone(UTC),
        time_zone=doc["timeZone"],
        host_ids=tuple(doc["hostIds"]),
        invitee=Invitee(name=invitee["name"], email=invitee["email"], phone=invitee.get("phone")),
        buffer_before=buffer_before,
        buffer_after=buffer_after,
        created_at=datetime.fromisoformat(doc["createdAt"]).astimezone(UTC),
        updated_at=datetime.fromisoformat(doc["updatedAt"]).astimezone(UTC),
        context=doc.get("context") or {},
        answers=doc.get("answers") or {},
        metadata=doc.get("metadata") or {},
        routing=RoutingRecord.from_json(doc["routing"]),
        outlook=OutlookState.from_json(doc.get("outlook") or {}),
        dynamics=DynamicsState.from_json(doc["dynamics"]),
        cancellation=Cancellation.from_json(doc["cancellation"]) if doc.get("cancellation") else None,
        attendance=Attendance.from_json(doc["attendance"]) if doc.get("attendance") else None,
    )
