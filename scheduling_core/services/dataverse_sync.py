"""Keeps each booking's Dynamics appointment true to the booking: the `sync-dataverse` handler's one service.

Invariants:
- One appointment per booking, ever: its `activityid` is `appointment_id(bookingId)` and every write is
  `PATCH /appointments({activityid})` (an upsert), so retries, replays and races cannot make a second.
- A booking event carries the full snapshot, so a snapshot is applied whole and alone: whatever arrived
  before it (or never arrived) does not matter, e.g. a cancel seen before its create still ends canceled.
- A snapshot is applied only if its version is newer than the last one applied for that booking (the
  `syncstate` row); older or repeated snapshots are acknowledged without touching Dataverse. One
  delivery at a time applies a booking (an ETag-guarded lease), so concurrent deliveries cannot
  interleave their writes and leave an older snapshot on top.
- `statecode` is never sent on create: the fields are upserted first, then the state is set by an
  update (confirmed: 3 Scheduled / 5 Busy; cancelled: 2 Canceled / 4 Canceled). A canceled
  appointment is closed in Dynamics and is not written again.
- Outcomes: applied → the booking's `dynamics` says `synced`. A permanent refusal (4xx, a record that
  is not there, a snapshot that cannot be mapped) → `failed` with the reason, and the message is
  settled (returning, not raising): redelivering cannot help. A transient failure (throttling past
  the client's retries, 5xx, storage) → raised, so Service Bus redelivers; on the last allowed
  delivery the booking is marked `failed` first, so it says so when the message dead-letters.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from scheduling_core.domain.bookings import Booking, StoredBooking, appointment_id
from scheduling_core.domain.inert_text import inert
from scheduling_core.domain.values import EventType, Host, LocationKind
from scheduling_core.errors import MalformedEvent, NotFound, UnmappableBooking
from scheduling_core.ports import CloudEvent
from scheduling_core.services.sync_runner import LeasedApply, Redelivery, SyncOutcome, SyncStateStore

__all__ = ["DataverseSync", "SyncOutcome", "SyncStateStore"]

log = logging.getLogger(__name__)

TARGET: Final = "dataverse"
APPOINTMENTS: Final = "appointments"
#: `participationtypemask` options of activityparty (reference: 5 Required attendee, 7 Organizer).
REQUIRED_ATTENDEE: Final = 5
ORGANIZER: Final = 7
#: appointment `statecode`/`statuscode` (reference options).
STATE_CANCELED: Final = 2
STATUS_CANCELED: Final = 4
STATE_SCHEDULED: Final = 3
STATUS_BUSY: Final = 5
#: A no-show closes the appointment as Completed (1 / 3): the time passed; the description says who was
#: absent (docs/decisions.md, "Attendance, reminders and the fairness report").
STATE_COMPLETED: Final = 1
STATUS_COMPLETED: Final = 3
#: Dynamics record types a booking's context may name, with their entity sets; the regarding
#: navigation property is `regardingobjectid_{type}_appointment` (reference, appointment manyToOne).
REGARDING_SETS: Final[Mapping[str, str]] = {
    "lead": "leads",
    "opportunity": "opportunities",
    "incident": "incidents",
    "account": "accounts",
    "contact": "contacts",
}
#: Column sizes of appointment (the reference's maxLength): Dataverse refuses a longer string with 400.
SUBJECT_MAX: Final = 200
LOCATION_MAX: Final = 200
JOIN_URL_MAX: Final = 600
#: Where an invitee is looked up by `emailaddress1`, first match wins.
INVITEE_SETS: Final = (("contacts", "contactid"), ("leads", "leadid"))
_PARTY_NAV: Final = {"systemusers": "systemuser", "contacts": "contact", "leads": "lead"}
#: Characters Table storage does not allow in a RowKey.
#: Invitee text in the appointment subject; the description as a whole (issue 13: bounded, inert).
INVITEE_NAME_LIMIT: Final = 100
DESCRIPTION_LIMIT: Final = 2000
_BAD_KEY = re.compile(r"[/\\#?\x00-\x1f\x7f]")


# --- ports -------------------------------------------------------------------------------------------


class DataverseWeb(Protocol):
    """The `DataverseClient` methods this service uses."""

    def get(
        self, entity_set: str, id: str, *, select: Sequence[str] | None = None, expand: str | None = None
    ) -> dict[str, Any] | None: ...

    def query(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        top: int | None = None,
    ) -> list[dict[str, Any]]: ...

    def upsert(
        self,
        entity_set: str,
        id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> None: ...

    def update(self, entity_set: str, id: str, body: Mapping[str, Any]) -> None: ...


class SyncStatusSink(Protocol):
    def get_booking(self, booking_id: str) -> StoredBooking: ...

    def record_sync(self, booking_id: str, section: str, values: Mapping[str, Any]) -> Booking: ...


class EventTypesAndHosts(Protocol):
    def get_event_type(self, slug: str) -> EventType: ...

    def get_host(self, host_id: str) -> Host: ...


# --- the booking as the appointment needs it (pure) ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentSource:
    """What of a booking snapshot the appointment shows."""

    booking_id: str
    version: int
    cancelled: bool
    event_type: str
    start: datetime
    end: datetime
    host_ids: tuple[str, ...]
    invitee_name: str
    invitee_email: str
    record_type: str | None = None
    record_id: str | None = None
    routing_reason: str | None = None
    join_url: str | None = None
    outlook_drift: str | None = None  # what Outlook shows instead, when the host moved the meeting there
    change_note: str | None = None  # who cancelled or last moved it, and why (an invitee's reason)
    override: str | None = None  # a manager's override: who may see in Dynamics that rules were lifted
    reassigned: str | None = None  # the last reassignment to another host, and why
    no_show: str | None = None  # who did not attend, when, and the note, once marked

    @property
    def appointment_id(self) -> str:
        return appointment_id(self.booking_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    """An activity party: a record (`entity_set` + `id`), or an address for someone Dynamics lacks."""

    participation: int
    entity_set: str | None = None
    id: str | None = None
    address: str | None = None

    def body(self) -> dict[str, Any]:
        party: dict[str, Any] = {"participationtypemask": self.participation}
        if self.entity_set is not None and self.id is not None:
            party[f"partyid_{_PARTY_NAV[self.entity_set]}@odata.bind"] = f"/{self.entity_set}({self.id})"
        else:
            party["addressused"] = self.address
        return party


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentPlan:
    """The writes that make Dataverse show one snapshot: the upsert body, then the state update."""

    fields: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


def source_from_event(event: CloudEvent) -> AppointmentSource:
    """The snapshot of a booking event; `MalformedEvent` when it is not one we can map."""
    data = event.data
    snapshot = data.get("booking")
    if not isinstance(snapshot, Mapping):
        raise MalformedEvent(f"Event {event.id} carries no booking snapshot.")
    booking_id = snapshot.get("id")
    if not isinstance(booking_id, str) or not booking_id or _BAD_KEY.search(booking_id):
        raise MalformedEvent(f"Event {event.id} has no usable booking id.")
    if booking_id != event.session_id:
        raise MalformedEvent(f"Event {event.id} is about '{event.session_id}' but carries '{booking_id}'.")
    version = snapshot.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MalformedEvent(f"Event {event.id} has no positive booking version.")
    status = snapshot.get("status")
    if status not in ("confirmed", "cancelled"):
        raise MalformedEvent(f"Event {event.id} has an unknown booking status {status!r}.")
    invitee = _mapping(snapshot.get("invitee"))
    context = _mapping(snapshot.get("context"))
    routing = _mapping(snapshot.get("routing"))
    outlook = _mapping(snapshot.get("outlook"))
    host_ids = snapshot.get("hostIds")
    if not isinstance(host_ids, list) or not host_ids or not all(isinstance(h, str) for h in host_ids):
        raise MalformedEvent(f"Event {event.id} names no hosts.")
    try:
        start = _instant(snapshot["start"])
        end = _instant(snapshot["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"Event {event.id} has no readable start and end.") from exc
    record_type, record_id = context.get("recordType"), context.get("recordId")
    return AppointmentSource(
        booking_id=booking_id,
        version=version,
        cancelled=status == "cancelled",
        event_type=str(snapshot.get("eventType") or ""),
        start=start,
        end=end,
        host_ids=tuple(host_ids),
        invitee_name=_text(invitee.get("name")) or "",
        invitee_email=_text(invitee.get("email")) or "",
        record_type=_text(record_type),
        record_id=_text(record_id),
        routing_reason=_text(routing.get("reason")),
        join_url=_text(outlook.get("joinUrl")),
        outlook_drift=_drift_text(outlook.get("drift")),
        change_note=_change_note(snapshot),
        override=_override_text(routing.get("override")),
        reassigned=_reassigned_text(routing.get("reassigned")),
        no_show=_no_show_text(snapshot.get("attendance")),
    )


def _change_note(snapshot: Mapping[str, Any]) -> str | None:
    """ "Cancelled by invitee: <reason>" / "Rescheduled by invitee: <reason>" for the description."""
    cancellation = _mapping(snapshot.get("cancellation"))
    if snapshot.get("status") == "cancelled" and cancellation:
        by = _text(cancellation.get("by")) or _text(cancellation.get("source")) or "api"
        reason = _text(cancellation.get("reason"))
        return f"Cancelled by {by}" + (f": {reason}" if reason else "")
    metadata = _mapping(snapshot.get("metadata"))
    reason = _text(metadata.get("lastRescheduleReason"))
    if reason:
        by = _text(metadata.get("lastRescheduleBy")) or "api"
        return f"Rescheduled by {by}: {reason}"
    return None


def regarding_bind(source: AppointmentSource) -> tuple[str, str] | None:
    """`(regardingobjectid_{type}_appointment@odata.bind, /{set}({id}))`, or None without a record.

    A record type we do not link is ignored (logged by the caller); a record id that is not a GUID
    cannot name a Dataverse row, which is a permanent `UnmappableBooking`.
    """
    if source.record_type is None or source.record_id is None:
        return None
    record_type = source.record_type.lower()
    entity_set = REGARDING_SETS.get(record_type)
    if entity_set is None:
        return None
    try:
        record_id = str(uuid.UUID(source.record_id))
    except ValueError:
        raise UnmappableBooking(
            f"context.recordId '{source.record_id}' is not a Dataverse {record_type} id (a GUID)."
        ) from None
    return f"regardingobjectid_{record_type}_appointment@odata.bind", f"/{entity_set}({record_id})"


def appointment_location(source: AppointmentSource, event_type: EventType | None) -> str | None:
    """Where the meeting is, for people: the event type's location (its value, or its kind).

    Never the Teams link: a real join URL is about 240 characters and `location` holds 200; the link
    goes to `onlinemeetingjoinurl` (`appointment_plan`).
    """
    if event_type is None:
        return "Microsoft Teams meeting" if source.join_url else None
        return None
    location = event_type.location
    if location.value:
        return location.value
    return {
        LocationKind.TEAMS: "Microsoft Teams meeting",
        LocationKind.PHONE: "Phone call",
        LocationKind.IN_PERSON: "In person",
        LocationKind.CUSTOM: None,
    }.get(location.kind)


def appointment_subject(source: AppointmentSource, event_type: EventType | None) -> str:
    title = event_type.title if event_type is not None else source.event_type
    # Invitee-chosen text: one plain bounded line (no CR/LF, no markup) in Dynamics.
    name = inert(source.invitee_name, INVITEE_NAME_LIMIT) or inert(source.invitee_email, INVITEE_NAME_LIMIT)
    return f"{title} with {name}" if name else title


def appointment_description(source: AppointmentSource) -> str:
    lines = [f"Booking: {source.booking_id} (version {source.version})"]
    if source.no_show:
        lines.append(f"No-show: {source.no_show}")
    if source.join_url:
        lines.append(f"Join: {source.join_url}")
    if source.outlook_drift:
        lines.append(f"Outlook drift: {source.outlook_drift}")
    if source.change_note:
        lines.append(source.change_note)
    if source.routing_reason:
        lines.append(f"Routing: {inert(source.routing_reason, 1000)}")
    if source.override:
        lines.append(f"Manager override: {inert(source.override, 1000)}")
    if source.reassigned:
        lines.append(f"Reassigned: {inert(source.reassigned, 1000)}")
    return "\n".join(lines)[:DESCRIPTION_LIMIT]


def appointment_plan(
    source: AppointmentSource,
    *,
    event_type: EventType | None,
    organizer: Party | None,
    attendees: Sequence[Party],
) -> AppointmentPlan:
    """The upsert body and state update for `source` (pure: every lookup is already resolved)."""
    join_url = source.join_url if source.join_url and len(source.join_url) <= JOIN_URL_MAX else None
    fields: dict[str, Any] = {
        "subject": _clip(appointment_subject(source, event_type), SUBJECT_MAX),
        "scheduledstart": _utc_text(source.start),
        "scheduledend": _utc_text(source.end),
        "location": _clip(appointment_location(source, event_type), LOCATION_MAX),
        "description": appointment_description(source),
        # The Teams link whole or not at all (a clipped link is a broken one); the description has it too.
        "onlinemeetingjoinurl": join_url,
        "isonlinemeeting": join_url is not None,
    }
    regarding = regarding_bind(source)
    if regarding is not None:
        fields[regarding[0]] = regarding[1]
    parties = ([organizer] if organizer is not None else []) + list(attendees)
    fields["appointment_activity_parties"] = [party.body() for party in parties]
    if organizer is not None and organizer.entity_set == "systemusers" and organizer.id is not None:
        # The organizer owns the appointment: after a reassignment it shows in the new host's views
        # (ownerid is a lookup bound like any other single-valued navigation property).
        fields["ownerid@odata.bind"] = f"/systemusers({organizer.id})"
    if source.cancelled:
        state = {"statecode": STATE_CANCELED, "statuscode": STATUS_CANCELED}
    elif source.no_show:
        state = {"statecode": STATE_COMPLETED, "statuscode": STATUS_COMPLETED}
    else:
        state = {"statecode": STATE_SCHEDULED, "statuscode": STATUS_BUSY}
    return AppointmentPlan(fields=fields, state=state)


# --- the service -------------------------------------------------------------------------------------


class DataverseSync:
    def __init__(
        self,
        *,
        dataverse: DataverseWeb,
        bookings: SyncStatusSink,
        config: EventTypesAndHosts,
        runner: LeasedApply,
    ) -> None:
        """`runner` applies snapshots under the `dataverse` target's sync state (see `sync_runner`)."""
        self._dataverse = dataverse
        self._bookings = bookings
        self._config = config
        self._runner = runner

    @property
    def max_delivery_count(self) -> int:
        return self._runner.max_delivery_count

    def apply(self, event: CloudEvent, delivery_count: int = 1, throttle_count: int = 0) -> SyncOutcome:
        """Make the booking's appointment show `event`'s snapshot (see the module docstring for outcomes).

        `delivery_count` is Service Bus's (1 on the first delivery); `throttle_count` the message's
        `throttleCount` (throttled deliveries before it, see `sync_runner`). Raises `MalformedEvent` for an
        event that is not a booking snapshot (no booking to record it on: it dead-letters) and
        `TransientError` when a retry may succeed.
        """
        source = source_from_event(event)

        def write() -> Mapping[str, Any]:
            self._write(source)
            return {}

        return self._runner.run(
            event_id=event.id,
            booking_id=source.booking_id,
            version=source.version,
            delivery_count=delivery_count,
            redelivery=Redelivery(event=event, throttle_count=throttle_count),
            write=write,
            record=lambda values: self._record(source, values),
        )

    def rewrite(self, source: AppointmentSource) -> None:
        """Write `source` to its appointment whatever version was last applied (used by reconciliation,
        where the booking is the source of truth); no lease, no sync state, no status on the booking."""
        self._write(source)

    # -- steps -----------------------------------------------------------------------------------------

    def _write(self, source: AppointmentSource) -> None:
        activity_id = source.appointment_id
        if source.cancelled:
            current = self._dataverse.get(APPOINTMENTS, activity_id, select=["statecode"])
            if current is not None and current.get("statecode") == STATE_CANCELED:
                return  # closed in Dynamics: nothing to change, and a closed activity cannot be edited
        regarding_bind(source)  # fail on an unmappable record before any lookup
        event_type = self._event_type(source.event_type)
        plan = appointment_plan(
            source,
            event_type=event_type,
            organizer=self._organizer(source.host_ids[0]),
            attendees=[*self._co_hosts(source.host_ids[1:]), self._invitee(source)],
        )
        self._dataverse.upsert(APPOINTMENTS, activity_id, plan.fields)
        self._dataverse.update(APPOINTMENTS, activity_id, plan.state)

    def _event_type(self, slug: str) -> EventType | None:
        try:
            return self._config.get_event_type(slug)
        except NotFound:
            return None  # deleted since: the subject falls back to the slug

    def _systemuser(self, host_id: str) -> str | None:
        """The Dynamics user of a host: by Entra object id, else the host's configured `dynamicsUserId`."""
        if _guid(host_id) is not None:
            rows = self._dataverse.query(
                "systemusers",
                filter=f"azureactivedirectoryobjectid eq {_guid(host_id)}",
                select=["systemuserid"],
                top=1,
            )
            if rows and rows[0].get("systemuserid"):
                return str(rows[0]["systemuserid"])
        try:
            configured = self._config.get_host(host_id).dynamics_user_id
        except NotFound:
            return None
        return _guid(configured) if configured else None

    def _organizer(self, host_id: str) -> Party | None:
        user = self._systemuser(host_id)
        if user is None:
            log.warning("dataverse sync: host %s has no Dynamics user; organizer left unset", host_id)
            return None
        return Party(participation=ORGANIZER, entity_set="systemusers", id=user)

    def _co_hosts(self, host_ids: Sequence[str]) -> list[Party]:
        parties = []
        for host_id in host_ids:
            user = self._systemuser(host_id)
            if user is not None:
                parties.append(Party(participation=REQUIRED_ATTENDEE, entity_set="systemusers", id=user))
        return parties

    def _invitee(self, source: AppointmentSource) -> Party:
        email = source.invitee_email
        if email:
            literal = "'" + email.replace("'", "''") + "'"
            for entity_set, key in INVITEE_SETS:
                rows = self._dataverse.query(
                    entity_set, filter=f"emailaddress1 eq {literal}", select=[key], top=1
                )
                if rows and rows[0].get(key):
                    return Party(participation=REQUIRED_ATTENDEE, entity_set=entity_set, id=str(rows[0][key]))
        return Party(participation=REQUIRED_ATTENDEE, address=email or source.invitee_name)

    def _record(self, source: AppointmentSource, values: Mapping[str, Any]) -> None:
        """Write the outcome into the booking's `dynamics` section (an `error` is cleared on success)."""
        update = {"appointmentId": source.appointment_id, **values}
        try:
            if (
                "error" not in update
                and self._bookings.get_booking(source.booking_id).booking.dynamics.error is not None
            ):
                update["error"] = None
            self._bookings.record_sync(source.booking_id, "dynamics", update)
        except NotFound:
            log.warning(
                "dataverse sync: booking %s is gone; its sync status was not written", source.booking_id
            )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _override_text(override: Any) -> str | None:
    values = _mapping(override)
    if not values:
        return None
    allow = values.get("allow")
    lifted = ", ".join(str(a) for a in allow) if isinstance(allow, list) else ""
    return f"{_text(values.get('reason')) or ''} (lifted: {lifted})"


def _reassigned_text(reassigned: Any) -> str | None:
    values = _mapping(reassigned)
    if not values:
        return None
    return f"from {values.get('from')} to {values.get('to')}: {_text(values.get('reason')) or ''}"


def _no_show_text(attendance: Any) -> str | None:
    """`invitee (marked 2026-12-07T15:40:00+00:00): note` for a no-show, else None."""
    values = _mapping(attendance)
    if values.get("status") != "noShow":
        return None
    text = f"{_text(values.get('party')) or 'unknown'} (marked {_text(values.get('at')) or '?'})"
    note = _text(values.get("note"))
    return f"{text}: {note}" if note else text


def _drift_text(drift: Any) -> str | None:
    if not isinstance(drift, Mapping) or not drift.get("eventStart"):
        return None
    return (
        f"the host's Outlook shows {drift.get('eventStart')} to {drift.get('eventEnd')} "
        f"(detected {drift.get('detectedAt')}); the booking keeps its time"
    )


def _instant(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("naive time")
    return parsed.astimezone(UTC)


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[: limit - 1] + "…"


def _guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
