"""`LeasedApply` under throttling: a Retry-After past the budget puts the snapshot back for later
(a scheduled copy) instead of spending a delivery, within stated bounds (docs/decisions.md, "Throttling
and redelivery")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.domain.events import booking_event
from scheduling_core.errors import Throttled, TransientError, UpstreamUnavailable
from scheduling_core.ports import LeaseOutcome, LeaseResult, ScheduledCopy
from scheduling_core.services.sync_runner import (
    MAX_THROTTLE_DEFERRALS,
    LeasedApply,
    Redelivery,
    SyncOutcome,
    throttle_wait,
)

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
EVENT = booking_event(
    booking={"id": "bk_1", "version": 1}, event_type="booking.created", time=NOW, traceparent=None
)


class State:
    """The sync-state port as plain memory: every lease is granted."""

    def __init__(self) -> None:
        self.released = 0

    def take_lease(self, target: str, booking_id: str, version: int, **_: Any) -> LeaseResult:
        return LeaseResult(outcome=LeaseOutcome.TAKEN, applied_version=0)

    def finish(self, target: str, booking_id: str, version: int, *, owner: str) -> None:
        raise AssertionError("nothing is applied in these tests")

    def release(self, target: str, booking_id: str, *, owner: str) -> None:
        self.released += 1


class Scheduler:
    def __init__(self, fail: bool = False) -> None:
        self.copies: list[ScheduledCopy] = []
        self.fail = fail

    def schedule(self, copy: ScheduledCopy) -> None:
        if self.fail:
            raise UpstreamUnavailable("service-bus", "Service Bus did not schedule it")
        self.copies.append(copy)


def _run(
    error: Exception,
    *,
    scheduler: Scheduler | None,
    delivery_count: int = 1,
    throttle_count: int = 0,
    recorded: list[Mapping[str, Any]] | None = None,
) -> tuple[SyncOutcome, list[Mapping[str, Any]]]:
    recorded = [] if recorded is None else recorded

    def write() -> Mapping[str, Any]:
        raise error

    runner = LeasedApply(
        target="outlook", state=State(), clock=FixedClock(NOW), max_delivery_count=3, scheduler=scheduler
    )
    outcome = runner.run(
        event_id=EVENT.id,
        booking_id="bk_1",
        version=1,
        delivery_count=delivery_count,
        write=write,
        record=recorded.append,
        redelivery=Redelivery(event=EVENT, throttle_count=throttle_count),
    )
    return outcome, recorded


def _throttled(seconds: int) -> Throttled:
    return Throttled("graph", f"Graph asked to wait {seconds} s", retry_after_seconds=seconds)


def test_throttling_on_the_last_delivery_schedules_a_copy_and_never_marks_the_booking_failed() -> None:
    scheduler = Scheduler()
    outcome, recorded = _run(_throttled(45), scheduler=scheduler, delivery_count=3, throttle_count=2)
    assert outcome is SyncOutcome.DEFERRED
    assert recorded == []
    assert scheduler.copies == [
        ScheduledCopy(
            event=EVENT,
            subscription="outlook",
            message_id="bk_1:1|outlook|throttled-3",
            delay=timedelta(seconds=45),
            throttle_count=3,
        )
    ]


def test_the_wait_is_retry_after_clamped_to_five_seconds_and_fifteen_minutes() -> None:
    assert throttle_wait(_throttled(1)) == timedelta(seconds=5)
    assert throttle_wait(_throttled(60)) == timedelta(seconds=60)
    assert throttle_wait(_throttled(86_400)) == timedelta(minutes=15)
    assert throttle_wait(UpstreamUnavailable("graph", "503 without Retry-After")) is None
    # Retries spent on short Retry-After waits (the client did wait): an ordinary failure.
    assert throttle_wait(UpstreamUnavailable("graph", "still 429 after 5", retry_after_seconds=1)) is None
    assert throttle_wait(TransientError("lease busy")) is None


def test_after_the_bound_throttling_counts_as_a_failed_delivery() -> None:
    scheduler = Scheduler()
    with pytest.raises(UpstreamUnavailable):
        _run(_throttled(45), scheduler=scheduler, delivery_count=1, throttle_count=MAX_THROTTLE_DEFERRALS)
    assert scheduler.copies == []
    recorded: list[Mapping[str, Any]] = []
    with pytest.raises(UpstreamUnavailable):
        _run(
            _throttled(45),
            scheduler=scheduler,
            delivery_count=3,
            throttle_count=MAX_THROTTLE_DEFERRALS,
            recorded=recorded,
        )
    assert scheduler.copies == []
    assert recorded == [
        {
            "syncStatus": "failed",
            "error": "Throttled: Graph asked to wait 45 s (gave up after 3 deliveries)",
        }
    ]


def test_an_unavailable_upstream_without_retry_after_is_an_ordinary_transient_failure() -> None:
    scheduler = Scheduler()
    with pytest.raises(UpstreamUnavailable):
        _run(UpstreamUnavailable("dataverse", "HTTP 503"), scheduler=scheduler, delivery_count=1)
    assert scheduler.copies == []


def test_when_the_copy_cannot_be_scheduled_the_throttling_is_raised_for_redelivery() -> None:
    with pytest.raises(Throttled, match="Graph asked to wait 45 s"):
        _run(_throttled(45), scheduler=Scheduler(fail=True), delivery_count=1)


def test_without_a_scheduler_throttling_is_raised_as_before() -> None:
    with pytest.raises(UpstreamUnavailable):
        _run(_throttled(45), scheduler=None, delivery_count=1)
