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
- Throttling past the client's time budget (`Throttled`: a `Retry-After` longer than the time left) is
  not a failure: Service Bus would redeliver an abandoned message at once and burn every delivery
  inside the throttling window. The snapshot is put back instead: a `ScheduledCopy` for this
  subscription, due after the `Retry-After` (clamped to `MIN_THROTTLE_WAIT`..`MAX_THROTTLE_WAIT`), and
  the message is completed (`DEFERRED`). Throttled deliveries never mark the booking `failed`; only
  after `MAX_THROTTLE_DEFERRALS` of them for one snapshot does throttling count as an ordinary
  transient failure.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from scheduling_core.errors import PermanentError, SchedulingError, Throttled, TransientError
from scheduling_core.ports import (
    Clock,
    CloudEvent,
    LeaseOutcome,
    LeaseResult,
    RedeliveryScheduler,
    ScheduledCopy,
)

log = logging.getLogger(__name__)


#: Throttled deliveries of one snapshot that are put back before throttling counts as a failure
#: (with Retry-After of 30-60 s: 10-20 minutes of continuous throttling).
MAX_THROTTLE_DEFERRALS: Final = 20
#: A scheduled copy waits at least this long (a short Retry-After that only just ran past the time left)
MIN_THROTTLE_WAIT: Final = timedelta(seconds=5)
#: ... and at most this long, whatever Retry-After asked for.
MAX_THROTTLE_WAIT: Final = timedelta(minutes=15)


class SyncOutcome(StrEnum):
    SYNCED = "synced"
    IGNORED = "ignored"  # stale or repeated: a newer or the same version is already applied
    FAILED = "failed"  # permanently refused; recorded on the booking, message settled
    DEFERRED = "deferred"  # throttled: a copy is scheduled for after Retry-After, message settled


@dataclass(frozen=True, slots=True, kw_only=True)
class Redelivery:
    """What a throttled delivery needs to put its snapshot back: the event as received and how many
    throttled deliveries came before this one (the message's `throttleCount`, 0 on the original)."""

    event: CloudEvent
    throttle_count: int = 0


def throttle_wait(exc: BaseException) -> timedelta | None:
    """How long to wait before trying again when `exc` is throttling (a `Retry-After` we could not
    honour within the budget), clamped; None for any other failure."""
    if not isinstance(exc, Throttled) or exc.retry_after_seconds is None:
        return None
    return min(max(timedelta(seconds=exc.retry_after_seconds), MIN_THROTTLE_WAIT), MAX_THROTTLE_WAIT)


def copy_message_id(event_id: str, subscription: str, throttle_count: int) -> str:
    """Deterministic: a repeated delivery that schedules the same copy again is absorbed by duplicate
    detection; distinct per subscription, so two throttled subscriptions do not drop each other's."""
    return f"{event_id}|{subscription}|throttled-{throttle_count}"


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
        subscription: str | None = None,
        scheduler: RedeliveryScheduler | None = None,
        max_throttle_deferrals: int = MAX_THROTTLE_DEFERRALS,
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
        self.subscription = subscription or target  # the topic subscription the handler reads
        self._scheduler = scheduler
        self._max_throttle_deferrals = max_throttle_deferrals
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
        redelivery: Redelivery | None = None,
    ) -> SyncOutcome:
        """`write` applies the snapshot and returns what to record besides `syncStatus: synced`;
        `record` merges values into the booking's section for this target. Without `redelivery` (or
        a scheduler) throttling is an ordinary transient failure."""
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
            if self._deferred(exc, redelivery):
                return SyncOutcome.DEFERRED
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

    def _deferred(self, exc: Exception, redelivery: Redelivery | None) -> bool:
        """Put a throttled snapshot back for later; False when `exc` is no throttling or cannot be."""
        wait = throttle_wait(exc)
        if wait is None or redelivery is None or self._scheduler is None:
            return False
        event = redelivery.event
        if redelivery.throttle_count >= self._max_throttle_deferrals:
            log.error(
                "%s sync: %s throttled %d times already; counting it as a failed delivery",
                self.target,
                event.id,
                redelivery.throttle_count,
            )
            return False
        count = redelivery.throttle_count + 1
        copy = ScheduledCopy(
            event=event,
            subscription=self.subscription,
            message_id=copy_message_id(event.id, self.subscription, count),
            delay=wait,
            throttle_count=count,
        )
        try:
            self._scheduler.schedule(copy)
        except SchedulingError as failure:
            log.warning(
                "%s sync: %s throttled, and putting it back failed: %s", self.target, event.id, failure
            )
            return False
        log.warning(
            "%s sync: %s throttled (%s); retrying in %d s as %s (throttled delivery %d of at most %d)",
            self.target,
            event.id,
            exc,
            wait.total_seconds(),
            copy.message_id,
            count,
            self._max_throttle_deferrals,
        )
        return True

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
