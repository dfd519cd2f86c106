"""The local stand-in for Service Bus: publishing an event delivers it at once, in this process.

Invariants:
- `publish` returns only after `deliver` returned, i.e. after every subscriber handled the event, so
  "accepted by the broker" and "handled" coincide locally.
- A failure of `deliver` surfaces as `TransientError`: the outbox row stays pending and the relay
  publishes it again later, which is what a Service Bus redelivery looks like to the handlers.
- Events of one session (one booking) are delivered one at a time, in publish order: delivery is
  synchronous under a per-session lock. The lock is re-entrant, so a handler may publish an event of
  its own booking without deadlocking; events of different sessions are delivered concurrently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from scheduling_core.errors import TransientError
from scheduling_core.ports import CloudEvent


class InProcessPublisher:
    """An `EventPublisher` that hands each event to `deliver` (the shell's registered trigger functions)."""

    def __init__(self, deliver: Callable[[CloudEvent], None]) -> None:
        self._deliver = deliver
        self._guard = threading.Lock()
        self._sessions: dict[str, tuple[threading.RLock, int]] = {}  # session id -> (lock, holders)

    def publish(self, event: CloudEvent) -> None:
        with self._session(event.session_id):
            try:
                self._deliver(event)
            except Exception as exc:
                raise TransientError(
                    f"Local delivery of event {event.id} failed ({type(exc).__name__}: {exc})."
                ) from exc

    def close(self) -> None:
        """Nothing to release; present so the composition root can close any publisher alike."""

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
