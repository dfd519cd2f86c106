"""Changes made in Dynamics, posted by a service endpoint webhook, applied to bookings.

The payload is a `RemoteExecutionContext` (Dataverse plug-in execution context, JSON): `MessageName`,
`PrimaryEntityName`, `PrimaryEntityId`, `InputParameters` (the `Target` entity with its `Attributes`
as a key/value list), `PreEntityImages`/`PostEntityImages`, `InitiatingUserId`, `UserId`, `Depth`,
`OperationId`, `CorrelationId`, `OrganizationId`, `Stage`.

The webhook only stores the context (the `dynamics-changes` queue) and answers at once: Dynamics retries
a post only after 502/503/504, and only once, so processing in the request would lose any change whose
processing failed. The queue trigger calls `handle_queued`; raising leaves the retries to Service Bus.

Invariants:
- An appointment is mapped to its booking only through the `appt|{activityid}` index row written when the
  booking was created (activityid = `appointment_id(bookingId)`); appointments no booking made are ignored.
- The service's own writes never loop back: an event whose `InitiatingUserId` or `UserId` is our
  application user, or whose `Depth` > 1 (caused by another plug-in/flow), is ignored; a change whose
  state and times equal the booking's current ones is a no-op.
- Each `OperationId` is processed once (a create-only row); a failure forgets the id so a retry by
  Dynamics is processed again.
- Appointment canceled (statecode 2) or deleted → booking cancelled with source `dynamics`. Times moved →
  the event type's edit policy (`outlookEditPolicy`, shared with Outlook edits): `flag` (default) records
  the drift on the booking's `dynamics` section and the booking keeps its time; `accept` reschedules the
  booking if the host is free (else the drift is recorded); `revert` writes the booking's times back to the
  appointment. Only the end moved is drift whatever the policy: a booking keeps its duration.
- An owner change of a lead/opportunity is logged and audited; future bookings keep their host (policy).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from scheduling_core.domain.booking_sections import DriftSeenBy, DynamicsDrift
from scheduling_core.domain.bookings import Booking, BookingStatus, StoredBooking
from scheduling_core.domain.values import EventType, OutlookEditPolicy
from scheduling_core.errors import InvalidRequest, MalformedContext, NotFound, SlotUnavailable
from scheduling_core.ports import Clock

log = logging.getLogger(__name__)

SOURCE: Final = "dynamics"
STATE_CANCELED: Final = 2
OWNER_ENTITIES: Final = frozenset({"lead", "opportunity"})
APPOINTMENT_FIELDS: Final = ("activityid", "statecode", "scheduledstart", "scheduledend", "_ownerid_value")
_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?:[+-]\d{4})?\)/$")


class WebhookOutcome(StrEnum):
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    REVERTED = "reverted"
    DRIFT = "drift-recorded"
    OWNER_RECORDED = "owner-recorded"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


# --- ports -------------------------------------------------------------------------------------------


class AppointmentBookings(Protocol):
    def booking_for_appointment(self, activity_id: str) -> str | None: ...
    def get_booking(self, booking_id: str) -> StoredBooking: ...
    def record_sync(self, booking_id: str, section: str, values: Mapping[str, Any]) -> Booking: ...


class BookingChanges(Protocol):
    def cancel(self, booking_id: str, *, reason: str | None = None, source: str = "api") -> Booking: ...
    def reschedule(self, booking_id: str, start: datetime, *, reason: str | None = None) -> Booking: ...


class WebhookLedger(Protocol):
    def claim(self, operation_id: str, now: datetime) -> bool: ...
    def forget(self, operation_id: str) -> None: ...
    def record_owner_change(self, entry: Mapping[str, Any], now: datetime) -> None: ...


class AppointmentReader(Protocol):
    def get(
        self, entity_set: str, id: str, *, select: list[str] | None = None, expand: str | None = None
    ) -> dict[str, Any] | None: ...

    def update(self, entity_set: str, id: str, body: Mapping[str, Any]) -> None: ...


class EventTypes(Protocol):
    def get_event_type(self, slug: str) -> EventType: ...


# --- the payload -------------------------------------------------------------------------------------


def _norm_guid(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().strip("{}").lower()


def _value(raw: Any) -> Any:
    """An attribute value as the JSON context carries it: OptionSetValue/Money → Value, refs as dicts."""
    if isinstance(raw, dict):
        if "Value" in raw and len({k for k in raw if k != "__type"}) == 1:
            return raw["Value"]
        return raw
    return raw


def _key_values(items: Any, what: str) -> dict[str, Any]:
    if items is None:
        return {}
    if isinstance(items, dict):  # some serializers emit a plain object
        return {str(k): v for k, v in items.items()}
    if not isinstance(items, list):
        raise MalformedContext(f"'{what}' must be a list of key/value pairs.")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise MalformedContext(f"'{what}' must be a list of key/value pairs.")
        out[item["key"]] = item.get("value")
    return out


def _entity_attributes(entity: Any, what: str) -> dict[str, Any]:
    if not isinstance(entity, dict):
        return {}
    return {k: _value(v) for k, v in _key_values(entity.get("Attributes"), f"{what}.Attributes").items()}


def parse_instant(value: Any) -> datetime | None:
    """`/Date(ms)/` (DataContract JSON) or ISO 8601, as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        match = _MS_DATE.match(value)
        if match:
            return datetime.fromtimestamp(int(match["ms"]) / 1000, UTC)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionContext:
    message: str
    entity: str
    entity_id: str | None
    operation_id: str
    initiating_user_id: str | None
    user_id: str | None
    depth: int
    target: Mapping[str, Any] = field(default_factory=dict)
    target_ref: Mapping[str, Any] = field(default_factory=dict)
    assignee: Mapping[str, Any] = field(default_factory=dict)
    post_image: Mapping[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None

    @classmethod
    def parse(cls, payload: Any, post_image_name: str = "PostImage") -> ExecutionContext:
        """The context of `payload`; the post image is the one registered as `post_image_name`, never
        simply the first: an asynchronous step also carries `AsynchronousStepPrimaryName`."""
        if not isinstance(payload, dict):
            raise MalformedContext("The body must be a RemoteExecutionContext object.")
        message, entity = payload.get("MessageName"), payload.get("PrimaryEntityName")
        operation_id = _norm_guid(payload.get("OperationId"))
        if not isinstance(message, str) or not isinstance(entity, str) or operation_id is None:
            raise MalformedContext("MessageName, PrimaryEntityName and OperationId are required.")
        depth = payload.get("Depth", 1)
        if not isinstance(depth, int) or isinstance(depth, bool):
            raise MalformedContext("'Depth' must be an integer.")
        inputs = _key_values(payload.get("InputParameters"), "InputParameters")
        target = inputs.get("Target")
        images = _key_values(payload.get("PostEntityImages"), "PostEntityImages")
        post = images.get(post_image_name)
        assignee = inputs.get("Assignee")
        return cls(
            message=message,
            entity=entity.lower(),
            entity_id=_norm_guid(payload.get("PrimaryEntityId")),
            operation_id=operation_id,
            initiating_user_id=_norm_guid(payload.get("InitiatingUserId")),
            user_id=_norm_guid(payload.get("UserId")),
            depth=depth,
            target=_entity_attributes(target, "Target") if isinstance(target, dict) else {},
            target_ref=target if isinstance(target, dict) else {},
            assignee=assignee if isinstance(assignee, dict) else {},
            post_image=_entity_attributes(post, "PostEntityImage"),
            correlation_id=_norm_guid(payload.get("CorrelationId")),
        )


#: Above this size a stored context keeps only what identifies the change and is read back from Dataverse
#: when applied, as Dynamics does past 256 KB (a Service Bus Standard message holds 256 KB in all).
MAX_QUEUED_CONTEXT_CHARS: Final = 192 * 1024
_STRIPPED: Final = ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages")


def queued_change(payload: Mapping[str, Any], *, size_exceeded: bool) -> dict[str, Any]:
    """The `dynamics-changes` message for a context posted to the webhook (see `handle_queued`)."""
    context = dict(payload)
    if len(json.dumps(context, separators=(",", ":"))) > MAX_QUEUED_CONTEXT_CHARS:
        context = {k: v for k, v in context.items() if k not in _STRIPPED}
        size_exceeded = True
    return {"context": context, "sizeExceeded": size_exceeded}


# --- the service -------------------------------------------------------------------------------------


class DynamicsWebhook:
    def __init__(
        self,
        *,
        bookings: AppointmentBookings,
        changes: BookingChanges,
        ledger: WebhookLedger,
        dataverse: AppointmentReader,
        clock: Clock,
        application_user_id: str | None,
        post_image_name: str = "PostImage",
        event_types: EventTypes | None = None,
    ) -> None:
        self._bookings = bookings
        self._changes = changes
        self._ledger = ledger
        self._dataverse = dataverse
        self._clock = clock
        self._app_user = _norm_guid(application_user_id)
        self._post_image_name = post_image_name
        self._event_types = event_types

    def handle_queued(self, message: Mapping[str, Any]) -> WebhookOutcome:
        """Apply one `dynamics-changes` message (`queued_change`); raises for a retry by the queue."""
        return self.handle(message.get("context"), size_exceeded=message.get("sizeExceeded") is True)

    def handle(self, payload: Any, *, size_exceeded: bool = False) -> WebhookOutcome:
        context = ExecutionContext.parse(payload, self._post_image_name)
        if self._own_change(context):
            log.info("dynamics webhook: ignoring our own change (operation %s)", context.operation_id)
            return WebhookOutcome.IGNORED
        if not self._ledger.claim(context.operation_id, self._clock.now()):
            return WebhookOutcome.DUPLICATE
        try:
            return self._apply(context, size_exceeded)
        except Exception:
            self._ledger.forget(context.operation_id)
            raise

    def _own_change(self, context: ExecutionContext) -> bool:
        if context.depth > 1:
            return True
        return self._app_user is not None and self._app_user in (context.initiating_user_id, context.user_id)

    def _apply(self, context: ExecutionContext, size_exceeded: bool) -> WebhookOutcome:
        if context.entity == "appointment" and context.message in ("Update", "Delete"):
            return self._appointment(context, size_exceeded)
        if context.entity in OWNER_ENTITIES and context.message in ("Assign", "Update"):
            return self._owner(context, size_exceeded)
        return WebhookOutcome.IGNORED

    def _appointment(self, context: ExecutionContext, size_exceeded: bool) -> WebhookOutcome:
        activity_id = context.entity_id or _norm_guid(context.target_ref.get("Id"))
        if activity_id is None:
            raise MalformedContext("PrimaryEntityId is required for an appointment.")
        booking_id = self._bookings.booking_for_appointment(activity_id)
        if booking_id is None:
            return WebhookOutcome.IGNORED
        try:
            booking = self._bookings.get_booking(booking_id).booking
        except NotFound:
            return WebhookOutcome.IGNORED
        if booking.status is BookingStatus.CANCELLED:
            return WebhookOutcome.IGNORED
        if context.message == "Delete":
            self._changes.cancel(booking_id, reason="Appointment deleted in Dynamics", source=SOURCE)
            return WebhookOutcome.CANCELLED
        values = self._appointment_values(context, activity_id, size_exceeded)
        if values is None:
            return WebhookOutcome.IGNORED
        if _int(values.get("statecode")) == STATE_CANCELED:
            self._changes.cancel(booking_id, reason="Appointment canceled in Dynamics", source=SOURCE)
            return WebhookOutcome.CANCELLED
        start = parse_instant(values.get("scheduledstart"))
        end = parse_instant(values.get("scheduledend"))
        if start is None or (start == booking.start and (end is None or end == booking.end)):
            return WebhookOutcome.IGNORED
        problem: str | None = None
        policy = self._policy(booking.event_type)
        if start == booking.start:
            problem = "Only the end moved; a booking keeps its event type's duration."
        elif policy is OutlookEditPolicy.REVERT:
            times = {"scheduledstart": _utc(booking.start), "scheduledend": _utc(booking.end)}
            self._dataverse.update("appointments", activity_id, times)
            return WebhookOutcome.REVERTED
        elif policy is OutlookEditPolicy.FLAG:
            problem = "Moved in Dynamics; policy flag: the booking keeps its time."
        else:
            try:
                self._changes.reschedule(booking_id, start, reason="Appointment moved in Dynamics")
            except (SlotUnavailable, InvalidRequest) as exc:  # busy, or not a bookable time
                problem = str(exc)
        if problem is not None:
            drift = DynamicsDrift(
                scheduled_start=start,
                scheduled_end=end,
                seen_by=DriftSeenBy.WEBHOOK,
                operation_id=context.operation_id,
                at=self._clock.now(),
                reason=problem,
            ).to_json()
            self._bookings.record_sync(booking_id, SOURCE, {"drift": drift})
            log.warning("dynamics webhook: booking %s drifted from its appointment: %s", booking_id, drift)
            return WebhookOutcome.DRIFT
        return WebhookOutcome.RESCHEDULED

    def _policy(self, slug: str) -> OutlookEditPolicy:
        if self._event_types is None:
            return OutlookEditPolicy.FLAG
        try:
            return self._event_types.get_event_type(slug).outlook_edit_policy
        except NotFound:
            return OutlookEditPolicy.FLAG

    def _appointment_values(
        self, context: ExecutionContext, activity_id: str, size_exceeded: bool
    ) -> Mapping[str, Any] | None:
        """The appointment's state and times: the post-image over the target, or read back when stripped."""
        if size_exceeded or not (context.target or context.post_image):
            return self._dataverse.get("appointments", activity_id, select=list(APPOINTMENT_FIELDS))
        return {**context.target, **context.post_image}

    def _owner(self, context: ExecutionContext, size_exceeded: bool) -> WebhookOutcome:
        if context.message == "Assign":
            owner = _norm_guid(context.assignee.get("Id"))
        else:
            raw = {**context.target, **context.post_image}.get("ownerid")
            if raw is None and not size_exceeded:
                return WebhookOutcome.IGNORED  # an update that did not touch the owner
            owner = _norm_guid(raw.get("Id")) if isinstance(raw, dict) else _norm_guid(raw)
        record_id = context.entity_id or _norm_guid(context.target_ref.get("Id"))
        entry = {
            "recordType": context.entity,
            "recordId": record_id,
            "ownerId": owner,
            "message": context.message,
            "operationId": context.operation_id,
            "initiatingUserId": context.initiating_user_id,
            "policy": "keep-host",
        }
        log.info(
            "dynamics webhook: owner of %s %s changed to %s (policy: keep host)",
            context.entity,
            record_id,
            owner,
        )
        self._ledger.record_owner_change(entry, self._clock.now())
        return WebhookOutcome.OWNER_RECORDED


def _int(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("Value")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
