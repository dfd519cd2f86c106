"""How a sync handler applies one booking snapshot to a downstream system (Dataverse, Outlook).

Invariants (shared by every `sync-*` handler):
- A snapshot is applied only if its version is newer than the last one applied there (the `syncstate`
  row of the target); older or repeated snapshots are acknowledged without touching the target.
- One delivery at a time applies a booking (an ETag-guarded lease), so concurrent deliveries cannot
  interleave their writes and leave an older snapshot on top.
- Outcomes: applied → the booking's section says `synced`. A permanent refusal → `failed` with the
  reason, and the message is settled (returning, not raising): redelivering cannot help. A transient
  failure → raised, so Service Bus redelivers; on the last allowed delivery the booking is marked
  `failed` first, so it says so when the message dead-letters.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from scheduling_core.adapters.sync_state_table import LeaseOutcome, LeaseResult
from scheduling_core.clock import Clock
from scheduling_core.errors import PermanentError, TransientError

log = logging.getLogger(__name__)


class SyncOutcome(StrEnum):
    SYNCED = "synced"
    IGNORED = "ignored"  # stale or repeated: a newer or the same version is already applied
    FAILED = "failed"  # permanently refused; recorded on the booking, message settled


class SyncStateStore(Protocol):
    def take_lease(
        self, target: str, booking_id: str, version: int, *, owner: str, now: datetime, duration: timedelta
    ) -> LeaseResult: ...

    def finish(self, target: str, booking_id: str, version: int, *, owner: str) -> None: ...

    def release(self, target: str, booking_id: str, *, owner: str) -> None: ...


class LeasedApply:
    """Runs one snapshot's write under the target's lease and records the outcome on the booking."""

    def __init__(
        self,
        *,
        target: str,
        state: SyncStateStore,
        clock: Clock,
        max_delivery_count: int = 10,
        lease_duration: timedelta = timedelta(minutes=5),
        lease_wait_seconds: float = 30.0,
        poll_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        self.target = target
        self.max_delivery_count = max_delivery_count
        self._state = state
        self._clock = clock
        self._lease_duration = lease_duration
        self._lease_wait_seconds = lease_wait_seconds
        self._poll_seconds = poll_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    def run(
        self,
        *,
        event_id: str,
        booking_id: str,
        version: int,
        delivery_count: int,
        write: Callable[[], Mapping[str, Any]],
        record: Callable[[Mapping[str, Any]], None],
    ) -> SyncOutcome:
        """`write` applies the snapshot and returns what to record besides `syncStatus: synced`;
        `record` merges values into the booking's section for this target."""
        owner = uuid.uuid4().hex
        lease = self._take_lease(booking_id, version, owner)
        if lease.outcome is LeaseOutcome.ALREADY_APPLIED:
            log.info(
                "%s sync: %s ignored, version %d already applied",
                self.target,
                event_id,
                lease.applied_version,
            )
            return SyncOutcome.IGNORED
        try:
            extra = write()
        except PermanentError as exc:
            self._state.release(self.target, booking_id, owner=owner)
            log.error("%s sync: %s failed permanently, message settled: %s", self.target, event_id, exc)
            record({"syncStatus": "failed", "error": failure_reason(exc)})
            return SyncOutcome.FAILED
        except Exception as exc:
            self._state.release(self.target, booking_id, owner=owner)
            if isinstance(exc, TransientError) and delivery_count >= self.max_delivery_count:
                log.error(
                    "%s sync: %s failed on delivery %d of %d, dead-lettering: %s",
                    self.target,
                    event_id,
                    delivery_count,
                    self.max_delivery_count,
                    exc,
                )
                reason = f"{failure_reason(exc)} (gave up after {delivery_count} deliveries)"
                record({"syncStatus": "failed", "error": reason})
            raise
        try:
            record({**extra, "syncStatus": "synced"})
            self._state.finish(self.target, booking_id, version, owner=owner)
        except Exception:
            self._state.release(self.target, booking_id, owner=owner)
            raise
        return SyncOutcome.SYNCED

    def _take_lease(self, booking_id: str, version: int, owner: str) -> LeaseResult:
        deadline = self._monotonic() + self._lease_wait_seconds
        while True:
            lease = self._state.take_lease(
                self.target,
                booking_id,
                version,
                owner=owner,
                now=self._clock.now(),
                duration=self._lease_duration,
            )
            if lease.outcome is not LeaseOutcome.BUSY:
                return lease
            if self._monotonic() + self._poll_seconds >= deadline:
                raise TransientError(
                    f"Another delivery is applying booking '{booking_id}' to {self.target}; retry later."
                )
            self._sleep(self._poll_seconds)


def failure_reason(exc: Exception) -> str:
    detail = getattr(exc, "detail", None) or str(exc)
    return f"{type(exc).__name__}: {detail}"[:1000]
