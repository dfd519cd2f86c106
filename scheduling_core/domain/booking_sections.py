"""The typed sections of a booking, and their stored and published JSON forms (issue 18 item 5).

Invariants:
- `X.from_json(x.to_json()) == x`, and `to_json(from_json(doc))` is `doc` byte for byte for every document
  the booking table has stored (tests/unit/test_booking_stored_forms.py holds such documents): rows already
  in Table storage read back as they were written, and the HTTP answer and event snapshots do not change.
- Keys are written in the order the earlier dict-based code wrote them. JSON objects are unordered, but the
  stored row and the event payloads are compared as text by people and tests, so the order stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, TypeAlias

from scheduling_core.domain.matching import Match
from scheduling_core.domain.override import Override

#: A JSON value as `json.loads` returns it. A booking's `context`, `answers` and `metadata` are JSON objects
#: the caller chose (api.md: any keys, up to 100; `context` also feeds routing), echoed back unchanged.
JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = Mapping[str, JsonValue]


class AttendanceParty(StrEnum):
    """Who did not attend a booked meeting (api.md, Attendance)."""

    INVITEE = "invitee"
    HOST = "host"


class AttendanceStatus(StrEnum):
    NO_SHOW = "noShow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancellation:
    """Why and when a booking was cancelled, and by whom (api.md: `by` is `invitee` through a manage link).

    `source` is the older name of `by`; both are written. `by` is None only in rows stored before it existed.
    """

    reason: str | None
    source: str
    by: str | None
    at: datetime

    @property
    def by_invitee(self) -> bool:
        return "invitee" in (self.by, self.source)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"reason": self.reason, "source": self.source}
        if self.by is not None:
            doc["by"] = self.by
        doc["at"] = self.at.isoformat()
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Cancellation:
        return Cancellation(
            reason=doc.get("reason"),
            source=str(doc["source"]),
            by=doc.get("by"),
            at=datetime.fromisoformat(doc["at"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Attendance:
    """Who missed a booked meeting, noted when (api.md, `POST /bookings/{id}/no-show`)."""

    party: AttendanceParty
    at: datetime
    note: str | None = None
    status: AttendanceStatus = AttendanceStatus.NO_SHOW

    def to_json(self, zone: tzinfo) -> dict[str, Any]:
        """`at` rendered in `zone` (the booking's time zone in the HTTP answer, UTC when stored)."""
        doc: dict[str, Any] = {
            "status": self.status.value,
            "party": self.party.value,
            "at": self.at.astimezone(zone).isoformat(),
        }
        if self.note:
            doc["note"] = self.note
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Attendance:
        return Attendance(
            status=AttendanceStatus(doc["status"]),
            party=AttendanceParty(doc["party"]),
            at=datetime.fromisoformat(doc["at"]),
            note=doc.get("note"),
        )


class SyncStatus(StrEnum):
    """Where a booking's copy in Outlook or Dynamics stands (api.md: `pending|synced|failed`)."""

    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlookDrift:
    """What the host's Outlook shows against what the booking says (policy `flag`, or a move not followed)."""

    event_start: datetime
    event_end: datetime
    booking_start: datetime
    booking_end: datetime
    #: Which of the event's times differ from the booking's: "start", "end" or both.
    changed: tuple[str, ...]
    detected_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "eventStart": self.event_start.isoformat(),
            "eventEnd": self.event_end.isoformat(),
            "bookingStart": self.booking_start.isoformat(),
            "bookingEnd": self.booking_end.isoformat(),
            "changed": list(self.changed),
            "detectedAt": self.detected_at.isoformat(),
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> OutlookDrift:
        return OutlookDrift(
            event_start=datetime.fromisoformat(doc["eventStart"]),
            event_end=datetime.fromisoformat(doc["eventEnd"]),
            booking_start=datetime.fromisoformat(doc["bookingStart"]),
            booking_end=datetime.fromisoformat(doc["bookingEnd"]),
            changed=tuple(doc["changed"]),
            detected_at=datetime.fromisoformat(doc["detectedAt"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlookState:
    """The booking's Outlook event as the sync last reported it (api.md, `outlook`).

    `eventId`, `joinUrl`, `syncStatus` and `drift` are always shown (null before the first sync);
    `error` only while the last sync failed.
    """

    event_id: str | None = None
    join_url: str | None = None
    sync_status: SyncStatus = SyncStatus.PENDING
    drift: OutlookDrift | None = None
    error: str | None = None

    def merged(self, report: Mapping[str, Any]) -> OutlookState:
        """This state with a sync's report (`record_sync`) applied: a key given as None is cleared."""
        return OutlookState.from_json({**self.to_json(), **report})

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "eventId": self.event_id,
            "joinUrl": self.join_url,
            "syncStatus": self.sync_status.value,
            "drift": self.drift.to_json() if self.drift is not None else None,
        }
        if self.error is not None:
            doc["error"] = self.error
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> OutlookState:
        drift = doc.get("drift")
        return OutlookState(
            event_id=doc.get("eventId"),
            join_url=doc.get("joinUrl"),
            sync_status=SyncStatus(doc.get("syncStatus") or SyncStatus.PENDING),
            drift=OutlookDrift.from_json(drift) if drift else None,
            error=doc.get("error"),
        )


class DriftSeenBy(StrEnum):
    """Who noticed that the Dataverse appointment moved away from the booking."""

    WEBHOOK = "webhook"  # the Dynamics webhook (`operationId` of its execution context)
    RECONCILE = "reconcile"  # the reconciler's sweep (`modifiedBy`: who last changed the appointment)


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicsDrift:
    """The appointment's times in Dynamics that the booking did not follow, and why."""

    scheduled_start: datetime
    scheduled_end: datetime | None
    seen_by: DriftSeenBy
    operation_id: str | None = None  # seen_by WEBHOOK
    modified_by: str | None = None  # seen_by RECONCILE (Dataverse may not say)
    at: datetime
    reason: str

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "scheduledstart": self.scheduled_start.isoformat(),
            "scheduledend": self.scheduled_end.isoformat() if self.scheduled_end is not None else None,
        }
        if self.seen_by is DriftSeenBy.WEBHOOK:
            doc["operationId"] = self.operation_id
        else:
            doc["modifiedBy"] = self.modified_by
        doc["at"] = self.at.isoformat()
        doc["reason"] = self.reason
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> DynamicsDrift:
        end = doc.get("scheduledend")
        return DynamicsDrift(
            scheduled_start=datetime.fromisoformat(doc["scheduledstart"]),
            scheduled_end=datetime.fromisoformat(end) if end else None,
            seen_by=DriftSeenBy.WEBHOOK if "operationId" in doc else DriftSeenBy.RECONCILE,
            operation_id=doc.get("operationId"),
            modified_by=doc.get("modifiedBy"),
            at=datetime.fromisoformat(doc["at"]),
            reason=str(doc["reason"]),
        )


#: The `dynamics` section's optional keys, in the order a new state writes them.
_DYNAMICS_OPTIONAL = ("error", "drift")


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicsState:
    """The booking's Dataverse appointment as the sync last reported it (api.md, `dynamics`).

    `error` (while the last sync failed) and `drift` (the appointment moved in Dynamics and the booking
    kept its time) are written only when set.
    """

    appointment_id: str
    sync_status: SyncStatus = SyncStatus.PENDING
    error: str | None = None
    drift: DynamicsDrift | None = None
    #: The optional keys in the order they were first written. The sync merges its reports into the
    #: stored object, which appends a new key: a failure after a drift wrote `drift, error`, a drift
    #: after a failure `error, drift`. Kept so a stored row is written back byte for byte; not a value.
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def merged(self, report: Mapping[str, Any]) -> DynamicsState:
        """This state with a sync's report (`record_sync`) applied: a key given as None is removed."""
        doc = {**self.to_json(), **report}
        return DynamicsState.from_json({k: v for k, v in doc.items() if not (k in report and v is None)})

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"appointmentId": self.appointment_id, "syncStatus": self.sync_status.value}
        values: dict[str, Any] = {
            "error": self.error,
            "drift": self.drift.to_json() if self.drift is not None else None,
        }
        for key in (*self.key_order, *_DYNAMICS_OPTIONAL):
            if key not in doc and values[key] is not None:
                doc[key] = values[key]
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> DynamicsState:
        drift = doc.get("drift")
        return DynamicsState(
            appointment_id=str(doc["appointmentId"]),
            sync_status=SyncStatus(doc.get("syncStatus") or SyncStatus.PENDING),
            error=doc.get("error"),
            drift=DynamicsDrift.from_json(drift) if drift else None,
            key_order=tuple(k for k in doc if k in _DYNAMICS_OPTIONAL),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reassignment:
    """The last hand-over of a booking to another host (api.md, Team operations; or a rerouted reschedule)."""

    from_host: str
    to_host: str
    reason: str
    at: datetime
    #: Who rescheduled, when a reschedule moved the booking to another host (reroute); else None.
    by: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"from": self.from_host, "to": self.to_host, "reason": self.reason}
        if self.by is not None:
            doc["by"] = self.by
        doc["at"] = self.at.isoformat()
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Reassignment:
        return Reassignment(
            from_host=str(doc["from"]),
            to_host=str(doc["to"]),
            reason=str(doc["reason"]),
            by=doc.get("by"),
            at=datetime.fromisoformat(doc["at"]),
        )


#: The `routing` section's keys in the order a new booking's record writes them.
_ROUTING_KEYS = ("decisionId", "ruleSet", "rule", "strategy", "reason", "match", "override", "reassigned")
#: Written even when null: a booking no rule set routed says so with `decisionId: null, rule: null`.
_ROUTING_ALWAYS = frozenset({"decisionId", "rule", "strategy", "reason"})
#: Written as null when present without a value (`ruleSet` of a rerouted booking whose decision had none).
_ROUTING_NULLABLE = frozenset({"decisionId", "ruleSet", "rule"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRecord:
    """Why the booking has its hosts (api.md, `routing`): the routing decision, or how else they were
    chosen (`strategy`: a rule's strategy, `hold`, `explicit`, `fixed`, `reassigned`, `rerouted`), with a
    manager's override and the last reassignment when there were any."""

    #: None only if a decision without a rule routed it (none does: a decision without a rule picks no host).
    strategy: str | None
    reason: str
    decision_id: str | None = None
    rule_set: str | None = None
    rule: str | None = None
    match: Match | None = None
    override: Override | None = None
    reassigned: Reassignment | None = None
    #: The keys in the order they were written. A record is changed by adding keys to the stored object
    #: (an override after a reassignment, or before it; a rerouted record names `ruleSet` after `rule`),
    #: so the order tells its history. Kept so a stored row and the event snapshots stay byte for byte
    #: what they were; not part of the value.
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def changed(self, **changes: Any) -> RoutingRecord:
        """This record with `changes`; keys it did not have yet are written after the ones it had."""
        return replace(self, **changes, key_order=tuple(self.to_json()))

    def _values(self) -> dict[str, Any]:
        return {
            "decisionId": self.decision_id,
            "ruleSet": self.rule_set,
            "rule": self.rule,
            "strategy": self.strategy,
            "reason": self.reason,
            "match": self.match.to_json() if self.match is not None else None,
            "override": self.override.to_json() if self.override is not None else None,
            "reassigned": self.reassigned.to_json() if self.reassigned is not None else None,
        }

    def to_json(self) -> dict[str, Any]:
        values = self._values()
        doc: dict[str, Any] = {}
        for key in self.key_order:
            if key in values and (values[key] is not None or key in _ROUTING_NULLABLE):
                doc[key] = values[key]
        for key in _ROUTING_KEYS:
            if key not in doc and (values[key] is not None or key in _ROUTING_ALWAYS):
                doc[key] = values[key]
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> RoutingRecord:
        match, override, reassigned = doc.get("match"), doc.get("override"), doc.get("reassigned")
        return RoutingRecord(
            decision_id=doc.get("decisionId"),
            rule_set=doc.get("ruleSet"),
            rule=doc.get("rule"),
            strategy=doc["strategy"],
            reason=str(doc["reason"]),
            match=Match.from_json(match) if match else None,
            override=Override.from_json(override) if override else None,
            reassigned=Reassignment.from_json(reassigned) if reassigned else None,
            key_order=tuple(k for k in doc if k in _ROUTING_KEYS),
        )
