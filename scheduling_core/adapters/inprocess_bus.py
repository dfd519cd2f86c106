"""The local stand-in for Service Bus: publishing an event delivers it at once, in this process.

Invariants:
- `publish` returns only after `deliver` returned, i.e. after every subscriber handled the event (the
  local topic redelivers an abandoned message at once and dead-letters it after maxDeliveryCount, as
  Service Bus does), so "accepted by the broker" and "handled" coincide locally.
- A failure of `deliver` itself (no local topic installed) surfaces as `TransientError`: the outbox row
  stays pending and the relay publishes it again later.
- Events of one session (one booking) are delivered one at a time, in publish order: delivery is
  synchronous under a per-session lock. The lock is re-entrant, so a handler may publish an event of
  its own booking without deadlocking; events of different sessions are delivered concurrently.
- `schedule` keeps a copy hidden until now + its `delay` (Service Bus scheduled messages), then hands it
  to `deliver_copy` on a worker thread under the same per-session lock. Copies live in memory only: a
  restarted local host forgets them (the daily reconciliation repairs what they would have synced).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from scheduling_core.errors import TransientError
from scheduling_core.ports import CloudEvent, ScheduledCopy

log = logging.getLogger(__name__)

Delivery = Callable[[CloudEvent], None]


class QueueReceiver(Protocol):
    def send(self, bodies: Sequence[Mapping[str, Any]]) -> None: ...


class LocalNamespace:
    """The process's local Service Bus namespace, when no real one is configured: the local publisher
    and queues send here, and the local host's receivers (devstack/function_host.py, which feeds the
    registered triggers) listen here. Like a namespace, it is shared infrastructure both sides talk to;
    neither sets the other's state. Nothing listening is an unreachable broker: `TransientError`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topic: Delivery | None = None
        self._queues: dict[str, QueueReceiver] = {}

    @property
    def topic(self) -> Delivery | None:
        return self._topic

    def listen_topic(self, deliver: Delivery | None) -> None:
        """`deliver` receives every published event (None: the topic is unreachable)."""
        with self._lock:
            self._topic = deliver

    def listen_queue(self, name: str, receiver: QueueReceiver | None) -> None:
        """`receiver` gets the messages of queue `name` (None: the queue is unreachable)."""
        with self._lock:
            if receiver is None:
                self._queues.pop(name, None)
            else:
                self._queues[name] = receiver

    def queue(self, name: str) -> QueueReceiver | None:
        return self._queues.get(name)

    def deliver(self, event: CloudEvent) -> None:
        topic = self._topic
        if topic is None:  # nobody listens yet: keep the event pending rather than drop it
            raise TransientError("no local delivery installed for booking events")
        topic(event)

    def deliver_copy(self, copy: ScheduledCopy) -> None:
        deliver_copy = getattr(self._topic, "deliver_copy", None)
        if deliver_copy is None:
            raise TransientError("no local delivery installed for scheduled booking events")
        deliver_copy(copy)

    def send(self, name: str, bodies: Sequence[Mapping[str, Any]]) -> None:
        receiver = self._queues.get(name)
        if receiver is None:
            raise TransientError(f"no local delivery installed for queue {name}")
        receiver.send(bodies)


#: The one local namespace of this process.
LOCAL_NAMESPACE: Final = LocalNamespace()


class InProcessPublisher:
    """An `EventPublisher` (and `RedeliveryScheduler`) that hands each event to `deliver` (the shell's
    registered trigger functions) and each due scheduled copy to `deliver_copy`."""

    def __init__(
        self,
        deliver: Callable[[CloudEvent], None],
        *,
        deliver_copy: Callable[[ScheduledCopy], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deliver = deliver
        self._deliver_copy = deliver_copy or getattr(deliver, "deliver_copy", None)
        self._now = now
        self._guard = threading.Lock()
        self._sessions: dict[str, tuple[threading.RLock, int]] = {}  # session id -> (lock, holders)
        self._timer = threading.Condition()
        self._scheduled: list[tuple[datetime, int, ScheduledCopy]] = []  # heap by enqueue time
        self._scheduled_ids: set[str] = set()  # duplicate detection for copies not yet delivered
        self._in_flight = 0
        self._order = itertools.count()
        self._worker: threading.Thread | None = None
        self._closed = False

    def publish(self, event: CloudEvent) -> None:
        with self._session(event.session_id):
            try:
                self._deliver(event)
            except Exception as exc:
                raise TransientError(
                    f"Local delivery of event {event.id} failed ({type(exc).__name__}: {exc})."
                ) from exc

    def schedule(self, copy: ScheduledCopy) -> None:
        """Keep `copy` for `copy.delay`, then deliver it; a copy with a message id already
        waiting is dropped (duplicate detection)."""
        if self._deliver_copy is None:
            raise TransientError("No local delivery for scheduled messages is installed.")
        with self._timer:
            if self._closed:
                raise TransientError("The local bus is closed.")
            if copy.message_id in self._scheduled_ids:
                return
            self._scheduled_ids.add(copy.message_id)
            heapq.heappush(self._scheduled, (self._now() + copy.delay, next(self._order), copy))
            if self._worker is None:
                self._worker = threading.Thread(target=self._run_timer, name="local-bus-timer", daemon=True)
                self._worker.start()
            self._timer.notify_all()

    @property
    def scheduled(self) -> tuple[ScheduledCopy, ...]:
        """The copies still waiting for their enqueue time, soonest first."""
        with self._timer:
            return tuple(copy for _, _, copy in sorted(self._scheduled))

    @property
    def unsettled_copies(self) -> int:
        """Scheduled copies waiting for their time or being delivered right now."""
        with self._timer:
            return len(self._scheduled) + self._in_flight

    def wait_scheduled(self, timeout: float) -> bool:
        """Wait until every scheduled copy has been delivered; False if `timeout` passed first."""
        with self._timer:
            return self._timer.wait_for(lambda: not self._scheduled and not self._in_flight, timeout)

    def close(self) -> None:
        """Stop the timer; copies still waiting are forgotten (as on a restart of the local host)."""
        with self._timer:
            self._closed = True
            self._scheduled.clear()
            self._scheduled_ids.clear()
            self._timer.notify_all()

    def _run_timer(self) -> None:
        while True:
            with self._timer:
                while not self._closed:
                    if self._scheduled:
                        wait = (self._scheduled[0][0] - self._now()).total_seconds()
                        if wait <= 0:
                            break
                        self._timer.wait(timeout=min(wait, 1.0))
                    else:
                        self._timer.wait(timeout=1.0)
                if self._closed:
                    self._worker = None
                    return
                _, _, copy = heapq.heappop(self._scheduled)
                self._in_flight += 1
            # One thread per due copy: sessions deliver concurrently, each under its own lock.
            threading.Thread(
                target=self._deliver_due, args=(copy,), name="local-bus-copy", daemon=True
            ).start()

    def _deliver_due(self, copy: ScheduledCopy) -> None:
        try:
            with self._session(copy.event.session_id):
                assert self._deliver_copy is not None
                self._deliver_copy(copy)
        except Exception:
            log.exception("scheduled copy %s could not be delivered", copy.message_id)
        finally:
            with self._timer:
                self._in_flight -= 1
                self._scheduled_ids.discard(copy.message_id)
                self._timer.notify_all()

    @contextmanager
    def _session(self, session_id: str) -> Iterator[None]:
        with self._guard:
            lock, holders = self._sessions.get(session_id) or (threading.RLock(), 0)
            self._sessions[session_id] = (lock, holders + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, holders = self._sessions[session_id]
                if holders == 1:
                    del self._sessions[session_id]  # no one waits on it: forget the session
                else:
                    self._sessions[session_id] = (lock, holders - 1)
