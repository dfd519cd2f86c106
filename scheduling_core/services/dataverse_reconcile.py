"""Reconciliation: compares the bookings of a time range with their Dynamics appointments and repairs drift.

The booking is the source of truth. For every booking overlapping the window (all hosts) the appointment
`appointments(appointment_id(bookingId))` is read and compared on what the sync writes and someone could
change by hand or a lost event could leave behind: start, end, subject, regarding record and state.

- missing appointment → created by re-applying the booking's snapshot (`DataverseSync.rewrite`, the same
  mapping and upsert the sync uses); a cancelled booking gets a canceled appointment, as the sync would.
- anything differing → the snapshot is re-applied (an appointment the booking says is confirmed but that
  is canceled in Dynamics is reopened first, since a closed activity cannot be edited).
- a cancelled booking whose appointment is canceled is in sync whatever else it shows: a closed
  activity is not written again (as in the sync).
- a change a person made in Dynamics is never silently undone (its webhook may have been lost). Before
  reopening or moving an appointment back, who changed it last is checked: `_modifiedby_value` not our
  application user, and `modifiedon` not older than the booking's last change (second precision, a tie
  goes to the person). A person's cancel cancels the booking (source `dynamics`, action `cancelled`); a
  person's move follows the event type's edit policy (`outlookEditPolicy`, shared with Outlook): `flag`
  records the drift on the booking's `dynamics` section (`flagged`, once), `accept` reschedules the
  booking when the time is free and keeps the duration (`followed`, else flagged), `revert` writes the
  booking back (`updated`). A person's subject or regarding edit is re-applied from the booking (`updated`:
  those are the sync's own fields), reported, not silent.
- appointments in the window that carry our booking id (the `Booking: <id>` line of the description,
  whose id maps to the appointment's own activityid) but whose booking no longer exists are reported as
  orphans and left alone: bookings are never deleted by this service, so an orphan means data removed by
  hand or restored from elsewhere, and an appointment in Dynamics may carry notes and history a person
  wants to keep; deciding is left to a person.

A failure on one booking (throttling past the client's retries, a refusal, an unmappable record) is
reported and does not stop the rest. A sync delivery racing a repair may leave the older of the two
snapshots on top; the next run (or the next event) repairs it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from scheduling_core.domain.booking_sections import DriftSeenBy, DynamicsDrift
from scheduling_core.domain.bookings import Booking, BookingReader, appointment_id, booking_snapshot
from scheduling_core.domain.events import BOOKING_CREATED, booking_event
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import EventType, OutlookEditPolicy
from scheduling_core.errors import InvalidRequest, NotFound, SlotUnavailable
from scheduling_core.ports import Clock
from scheduling_core.runtime.telemetry import current_traceparent
from scheduling_core.services.dataverse_sync import (
    APPOINTMENTS,
    STATE_CANCELED,
    STATE_SCHEDULED,
    STATUS_BUSY,
    AppointmentSource,
    DataverseSync,
    DataverseWeb,
    appointment_subject,
    regarding_bind,
    source_from_event,
)

log = logging.getLogger(__name__)

#: The appointment columns compared (all written by the sync).
SELECT: Final = (
    "subject",
    "scheduledstart",
    "scheduledend",
    "statecode",
    "statuscode",
    "_regardingobjectid_value",
    "_modifiedby_value",
    "modifiedon",
)
PAGE: Final = 200
SOURCE: Final = "dynamics"
_BOOKING_LINE = re.compile(r"^Booking: (\S+) \(version \d+\)", re.MULTILINE)


class Action(StrEnum):
    NONE = "none"
    CREATED = "created"
    UPDATED = "updated"
    ORPHAN = "orphan"
    FAILED = "failed"
    #: A person's change in Dynamics the booking followed (cancel, accepted move) or recorded (flag).
    CANCELLED = "cancelled"
    FOLLOWED = "followed"
    FLAGGED = "flagged"


FOLLOWING: Final = frozenset({Action.CANCELLED, Action.FOLLOWED, Action.FLAGGED})


class EventTypes(Protocol):
    def get_event_type(self, slug: str) -> EventType: ...


class PersonChanges(Protocol):
    """What following a person's change needs: `BookingService` and the booking store's sync section."""

    def cancel(self, booking_id: str, *, reason: str | None = None, source: str = "api") -> Booking: ...

    def reschedule(self, booking_id: str, start: datetime, *, reason: str | None = None) -> Booking: ...


class DriftSink(Protocol):
    def record_sync(self, booking_id: str, section: str, values: Any) -> Booking: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileItem:
    booking_id: str
    appointment_id: str
    action: Action
    differences: tuple[str, ...] = ()
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class ReconcileReport:
    window: Interval
    checked: int = 0
    in_sync: int = 0
    created: int = 0
    updated: int = 0
    followed: int = 0
    orphans: int = 0
    failed: int = 0
    items: list[ReconcileItem] = field(default_factory=list)

    def add(self, item: ReconcileItem) -> None:
        if item.action is Action.ORPHAN:
            self.orphans += 1
        else:
            self.checked += 1
            if item.action is Action.NONE:
                self.in_sync += 1
                return  # in-sync bookings are counted, not listed
            if item.action is Action.CREATED:
                self.created += 1
            elif item.action is Action.UPDATED:
                self.updated += 1
            elif item.action in FOLLOWING:
                self.followed += 1
            else:
                self.failed += 1
        self.items.append(item)


class Reconciler:
    def __init__(
        self,
        *,
        dataverse: DataverseWeb,
        sync: DataverseSync,
        bookings: BookingReader,
        config: EventTypes,
        clock: Clock,
        changes: PersonChanges | None = None,
        drift: DriftSink | None = None,
        application_user_id: str | None = None,
    ) -> None:
        """`changes`, `drift` and `application_user_id` let a person's change be followed; without them
        (or without knowing our application user) every difference is repaired from the booking."""
        self._dataverse = dataverse
        self._sync = sync
        self._bookings = bookings
        self._config = config
        self._clock = clock
        self._changes = changes
        self._drift = drift
        self._app_user = (application_user_id or "").strip().strip("{}").lower() or None

    def reconcile(self, window: Interval) -> ReconcileReport:
        report = ReconcileReport(window=window)
        offset: int | None = 0
        while offset is not None:
            page, offset = self._bookings.list_bookings(
                record_id=None,
                host_id=None,
                start=window.start,
                end=window.end,
                status=None,
                limit=PAGE,
                offset=offset,
            )
            for booking in page:
                report.add(self._reconcile_one(booking))
        try:
            for item in self._orphans(window):
                report.add(item)
        except Exception as exc:
            log.exception("reconcile: the orphan scan failed")
            report.add(
                ReconcileItem(booking_id="", appointment_id="", action=Action.FAILED, error=_reason(exc))
            )
        log.info(
            "reconcile %s..%s: checked %d, in sync %d, created %d, updated %d, orphans %d, failed %d",
            window.start.isoformat(),
            window.end.isoformat(),
            report.checked,
            report.in_sync,
            report.created,
            report.updated,
            report.orphans,
            report.failed,
        )
        return report

    def _reconcile_one(self, booking: Booking) -> ReconcileItem:
        activity_id = appointment_id(booking.id)
        try:
            source = _source(booking, self._clock.now())
            current = self._dataverse.get(APPOINTMENTS, activity_id, select=list(SELECT))
            if current is None:
                self._sync.rewrite(source)
                return ReconcileItem(
                    booking_id=booking.id,
                    appointment_id=activity_id,
                    action=Action.CREATED,
                    differences=("missing",),
                )
            differences = self._differences(source, current)
            if not differences:
                return ReconcileItem(booking_id=booking.id, appointment_id=activity_id, action=Action.NONE)
            if self._by_person(booking, current):
                followed = self._follow_person(booking, source, current, differences)
                if followed is not None:
                    return ReconcileItem(
                        booking_id=booking.id,
                        appointment_id=activity_id,
                        action=followed,
                        differences=tuple(differences),
                    )
            if not source.cancelled and current.get("statecode") == STATE_CANCELED:
                # A closed activity cannot be edited: reopen it, then write the snapshot.
                self._dataverse.update(
                    APPOINTMENTS, activity_id, {"statecode": STATE_SCHEDULED, "statuscode": STATUS_BUSY}
                )
            self._sync.rewrite(source)
            return ReconcileItem(
                booking_id=booking.id,
                appointment_id=activity_id,
                action=Action.UPDATED,
                differences=tuple(differences),
            )
        except Exception as exc:
            log.warning("reconcile: booking %s failed: %s", booking.id, exc)
            return ReconcileItem(
                booking_id=booking.id, appointment_id=activity_id, action=Action.FAILED, error=_reason(exc)
            )

    def _by_person(self, booking: Booking, current: dict[str, Any]) -> bool:
        """Whether a person (not our application user) changed the appointment after the booking's
        last change (`modifiedon` has whole seconds: a tie goes to the person, who is never undone)."""
        if self._app_user is None or self._changes is None or self._drift is None:
            return False
        modified_by = str(current.get("_modifiedby_value") or "").lower()
        if not modified_by or modified_by == self._app_user:
            return False
        modified_on = _when(current.get("modifiedon"))
        last_change = booking.updated_at.astimezone(UTC).replace(microsecond=0)
        return modified_on is None or modified_on >= last_change

    def _follow_person(
        self, booking: Booking, source: AppointmentSource, current: dict[str, Any], differences: list[str]
    ) -> Action | None:
        """Follow a person's cancel or move (see the module docstring); None: repair from the booking."""
        assert self._changes is not None
        assert self._drift is not None
        if not source.cancelled and current.get("statecode") == STATE_CANCELED:
            self._changes.cancel(
                booking.id, reason="Appointment canceled in Dynamics (found by reconciliation)", source=SOURCE
            )
            return Action.CANCELLED
        if source.cancelled or not {"scheduledstart", "scheduledend"} & set(differences):
            return None
        start, end = _when(current.get("scheduledstart")), _when(current.get("scheduledend"))
        if start is None or end is None:
            return None
        policy = self._policy(booking.event_type)
        if policy is OutlookEditPolicy.REVERT:
            return None
        problem = f"policy {policy.value}: the booking keeps its time"
        if policy is OutlookEditPolicy.ACCEPT:
            if end - start != booking.end - booking.start:
                problem = "policy accept, but the duration changed, which a booking cannot take"
            else:
                try:
                    self._changes.reschedule(booking.id, start, reason="Appointment moved in Dynamics")
                    return Action.FOLLOWED
                except (SlotUnavailable, InvalidRequest) as exc:
                    problem = f"policy accept, but the time cannot be booked: {exc}"
        drift = booking.dynamics.drift
        if drift is not None and (drift.scheduled_start, drift.scheduled_end) == (start, end):
            return Action.FLAGGED  # recorded already: nothing to write
        moved = DynamicsDrift(
            scheduled_start=start,
            scheduled_end=end,
            seen_by=DriftSeenBy.RECONCILE,
            modified_by=current.get("_modifiedby_value"),
            at=self._clock.now(),
            reason=f"moved in Dynamics; {problem}",
        )
        self._drift.record_sync(booking.id, SOURCE, {"drift": moved.to_json()})
        return Action.FLAGGED

    def _policy(self, slug: str) -> OutlookEditPolicy:
        event_type = self._event_type(slug)
        return event_type.outlook_edit_policy if event_type is not None else OutlookEditPolicy.FLAG

    def _differences(self, source: AppointmentSource, current: dict[str, Any]) -> list[str]:
        state = current.get("statecode")
        if source.cancelled:
            # Closed in Dynamics: nothing else is compared (a closed activity is not written again).
            return [] if state == STATE_CANCELED else ["state"]
        differences = []
        if _when(current.get("scheduledstart")) != source.start:
            differences.append("scheduledstart")
        if _when(current.get("scheduledend")) != source.end:
            differences.append("scheduledend")
        if current.get("subject") != _clip(appointment_subject(source, self._event_type(source.event_type))):
            differences.append("subject")
        regarding = regarding_bind(source)
        expected = regarding[1].split("(", 1)[1].rstrip(")") if regarding is not None else None
        actual = current.get("_regardingobjectid_value")
        if (str(actual).lower() if actual else None) != (expected.lower() if expected else None):
            differences.append("regarding")
        if state == STATE_CANCELED:
            differences.append("state")
        return differences

    def _orphans(self, window: Interval) -> list[ReconcileItem]:
        rows = self._dataverse.query(
            APPOINTMENTS,
            filter=(
                f"scheduledstart lt {_utc_text(window.end)} and scheduledend gt {_utc_text(window.start)}"
                " and contains(description,'Booking: ')"
            ),
            select=["activityid", "description"],
        )
        orphans = []
        for row in rows:
            match = _BOOKING_LINE.search(str(row.get("description") or ""))
            activity_id = str(row.get("activityid") or "")
            if match is None or appointment_id(match.group(1)) != activity_id.lower():
                continue  # not one of ours
            try:
                self._bookings.get_booking(match.group(1))
            except NotFound:
                orphans.append(
                    ReconcileItem(
                        booking_id=match.group(1),
                        appointment_id=activity_id,
                        action=Action.ORPHAN,
                        differences=("booking missing",),
                    )
                )
        return orphans

    def _event_type(self, slug: str) -> EventType | None:
        try:
            return self._config.get_event_type(slug)
        except NotFound:
            return None


def _source(booking: Booking, now: datetime) -> AppointmentSource:
    event = booking_event(
        booking=booking_snapshot(booking),
        event_type=BOOKING_CREATED,
        time=now,
        traceparent=current_traceparent(),
    )
    return source_from_event(event)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _reason(exc: Exception) -> str:
    detail = getattr(exc, "detail", None) or str(exc)
    return f"{type(exc).__name__}: {detail}"[:1000]
