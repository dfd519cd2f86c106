"""DataverseSync's outcomes with plain fakes: what it writes, records, raises and ignores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.domain.bookings import appointment_id
from scheduling_core.domain.events import booking_event
from scheduling_core.errors import DataverseRequestRejected, NotFound, TransientError, UpstreamUnavailable
from scheduling_core.ports import CloudEvent, LeaseOutcome, LeaseResult
from scheduling_core.services.dataverse_sync import DataverseSync, SyncOutcome
from scheduling_core.services.sync_runner import LeasedApply

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOST = "0a6b3c0e-1111-4a2b-8c3d-4e5f6a7b8c9d"
USER = "11111111-2222-4333-8444-555555555555"


class FakeDataverse:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.rows: dict[str, dict[str, Any]] = {}
        self.fail_with: list[Exception] = []

    def get(self, entity_set: str, id: str, **_: Any) -> dict[str, Any] | None:
        return self.rows.get(id)

    def query(self, entity_set: str, **options: Any) -> list[dict[str, Any]]:
        if entity_set == "systemusers":
            return [{"systemuserid": USER}]
        return []

    def upsert(self, entity_set: str, id: str, body: Mapping[str, Any], **_: Any) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.writes.append(("upsert", id, dict(body)))
        self.rows.setdefault(id, {}).update({k: v for k, v in body.items() if "@" not in k})

    def update(self, entity_set: str, id: str, body: Mapping[str, Any]) -> None:
        self.writes.append(("update", id, dict(body)))
        self.rows[id].update(body)


class FakeState:
    def __init__(self) -> None:
        self.version: dict[str, int] = {}
        self.lease: dict[str, str] = {}

    def take_lease(self, target: str, booking_id: str, version: int, *, owner: str, **_: Any) -> LeaseResult:
        applied = self.version.get(booking_id, 0)
        if applied >= version:
            return LeaseResult(outcome=LeaseOutcome.ALREADY_APPLIED, applied_version=applied)
        if self.lease.get(booking_id, owner) != owner:
            return LeaseResult(outcome=LeaseOutcome.BUSY, applied_version=applied)
        self.lease[booking_id] = owner
        return LeaseResult(outcome=LeaseOutcome.TAKEN, applied_version=applied)

    def finish(self, target: str, booking_id: str, version: int, *, owner: str) -> None:
        self.version[booking_id] = max(version, self.version.get(booking_id, 0))
        self.lease.pop(booking_id, None)

    def release(self, target: str, booking_id: str, *, owner: str) -> None:
        self.lease.pop(booking_id, None)


class FakeBookings:
    def __init__(self) -> None:
        self.dynamics: dict[str, dict[str, Any]] = {}

    def get_booking(self, booking_id: str) -> Any:
        error = self.dynamics.get(booking_id, {}).get("error")
        return SimpleNamespace(booking=SimpleNamespace(dynamics=SimpleNamespace(error=error)))

    def record_sync(self, booking_id: str, section: str, values: Mapping[str, Any]) -> Any:
        assert section == "dynamics"
        self.dynamics[booking_id] = {**self.dynamics.get(booking_id, {}), **values}


class NoConfig:
    def get_event_type(self, slug: str) -> Any:
        raise NotFound("event type", slug)

    def get_host(self, host_id: str) -> Any:
        raise NotFound("host", host_id)


def _event(version: int = 1, status: str = "confirmed", **context: Any) -> CloudEvent:
    snapshot = {
        "id": "bk_1",
        "status": status,
        "version": version,
        "eventType": "call",
        "start": "2026-12-07T15:00:00Z",
        "end": "2026-12-07T15:30:00Z",
        "hostIds": [HOST],
        "invitee": {"name": "Jo", "email": "jo@fabrikam.com"},
        "context": context,
    }
    return booking_event(booking=snapshot, event_type="booking.created", time=NOW, traceparent=None)


def _sync(**options: Any) -> tuple[DataverseSync, FakeDataverse, FakeState, FakeBookings]:
    dataverse, state, bookings = FakeDataverse(), FakeState(), FakeBookings()
    runner = LeasedApply(
        target="dataverse", state=state, clock=FixedClock(NOW), max_delivery_count=3, **options
    )
    sync = DataverseSync(dataverse=dataverse, bookings=bookings, config=NoConfig(), runner=runner)
    return sync, dataverse, state, bookings


def test_apply_upserts_then_sets_state_and_records_synced() -> None:
    sync, dataverse, state, bookings = _sync()
    assert sync.apply(_event()) is SyncOutcome.SYNCED
    activity = appointment_id("bk_1")
    assert [(kind, id) for kind, id, _ in dataverse.writes] == [("upsert", activity), ("update", activity)]
    assert "statecode" not in dataverse.writes[0][2]
    assert dataverse.writes[1][2] == {"statecode": 3, "statuscode": 5}
    assert bookings.dynamics["bk_1"] == {"appointmentId": activity, "syncStatus": "synced"}
    assert state.version["bk_1"] == 1 and state.lease == {}


def test_stale_and_repeated_snapshots_are_ignored_without_calls() -> None:
    sync, dataverse, _, _ = _sync()
    sync.apply(_event(version=2))
    dataverse.writes.clear()
    assert sync.apply(_event(version=2)) is SyncOutcome.IGNORED
    assert sync.apply(_event(version=1)) is SyncOutcome.IGNORED
    assert dataverse.writes == []


def test_a_refusal_is_recorded_as_failed_and_not_raised() -> None:
    sync, dataverse, state, bookings = _sync()
    dataverse.fail_with = [
        DataverseRequestRejected(status_code=400, code="0x80040203", message="bad", request="PATCH x")
    ]
    assert sync.apply(_event()) is SyncOutcome.FAILED
    assert bookings.dynamics["bk_1"]["syncStatus"] == "failed"
    assert "HTTP 400" in bookings.dynamics["bk_1"]["error"]
    assert state.version == {} and state.lease == {}
    # A later snapshot succeeds and clears the error.
    assert sync.apply(_event(version=2)) is SyncOutcome.SYNCED
    assert bookings.dynamics["bk_1"]["error"] is None and bookings.dynamics["bk_1"]["syncStatus"] == "synced"


def test_transient_errors_raise_and_the_last_delivery_marks_failed_first() -> None:
    sync, dataverse, state, bookings = _sync()
    outage = UpstreamUnavailable("dataverse", "Dataverse failed PATCH appointments: HTTP 500")
    dataverse.fail_with = [outage, outage, outage]
    for delivery in (1, 2):
        with pytest.raises(UpstreamUnavailable):
            sync.apply(_event(), delivery_count=delivery)
        assert "bk_1" not in bookings.dynamics and state.lease == {}
    with pytest.raises(UpstreamUnavailable):
        sync.apply(_event(), delivery_count=3)
    assert bookings.dynamics["bk_1"]["syncStatus"] == "failed"
    assert "HTTP 500" in bookings.dynamics["bk_1"]["error"]
    assert "after 3 deliveries" in bookings.dynamics["bk_1"]["error"]


def test_an_unmappable_record_id_fails_before_any_call() -> None:
    sync, dataverse, _, bookings = _sync()
    assert sync.apply(_event(recordType="lead", recordId="lead-1")) is SyncOutcome.FAILED
    assert dataverse.writes == [] and "not a Dataverse lead id" in bookings.dynamics["bk_1"]["error"]


def test_a_canceled_appointment_is_not_written_again() -> None:
    sync, dataverse, _, bookings = _sync()
    dataverse.rows[appointment_id("bk_1")] = {"statecode": 2}
    assert sync.apply(_event(status="cancelled")) is SyncOutcome.SYNCED
    assert dataverse.writes == [] and bookings.dynamics["bk_1"]["syncStatus"] == "synced"


def test_a_delivery_that_finds_the_booking_leased_waits_then_asks_for_redelivery() -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    sync, _, state, _ = _sync(
        lease_wait_seconds=1.0, poll_seconds=0.25, sleep=sleep, monotonic=lambda: clock[0]
    )
    state.lease["bk_1"] = "someone else"
    with pytest.raises(TransientError, match="Another delivery"):
        sync.apply(_event())
    assert 0.5 <= clock[0] <= 1.0
