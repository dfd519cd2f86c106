"""The outbox relay: publishes events committed with their state change, and marks them sent.

Invariants:
- An event is marked sent only after `publish` returned (the broker accepted it). A crash between
  the two republishes it later, which is harmless: the event id is the broker's duplicate-detection
  key and handlers ignore versions they have already applied.
- Events of one session (one booking) are published in the order given (the store's oldest first).
  Once one of them fails, the later ones of that session stay pending in this pass; other sessions
  carry on.
- Neither `relay` nor `publish_now` raises because publishing failed: a failed event simply stays
  pending for the next timer pass. (Failures of the store's `pending()` query do propagate from
  `relay`; there is nothing to relay without it.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.trace import SpanKind

from scheduling_core.errors import SchedulingError
from scheduling_core.ports import Clock, EventPublisher, OutboxStore, PendingEvent
from scheduling_core.runtime.telemetry import span

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayReport:
    """What one pass did, by event id: published (and marked sent), failed, or held back behind a failure."""

    published_ids: tuple[str, ...] = ()
    failed_ids: tuple[str, ...] = ()
    held_back_ids: tuple[str, ...] = ()  # not tried: an earlier event of the same session failed

    @property
    def published(self) -> int:
        return len(self.published_ids)

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

    @property
    def held_back(self) -> int:
        return len(self.held_back_ids)

    def __str__(self) -> str:
        return f"published={self.published} failed={self.failed} held_back={self.held_back}"


class OutboxRelay:
    def __init__(self, *, store: OutboxStore, publisher: EventPublisher, clock: Clock) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    def relay(self, limit: int = 100) -> RelayReport:
        """Publish up to `limit` pending events, oldest first (the timer's slow path)."""
        return self.publish_now(self._store.pending(limit))

    def publish_now(self, pending: Sequence[PendingEvent]) -> RelayReport:
        """Publish these events in order right after their commit (the fast path); never raises for them."""
        published: list[str] = []
        failed: list[str] = []
        held_back: list[str] = []
        blocked_sessions: set[str] = set()
        for item in pending:
            event = item.event
            if event.session_id in blocked_sessions:
                held_back.append(event.id)
                continue
            if self._publish(item):
                published.append(event.id)
                self._mark_sent(item)
            else:
                failed.append(event.id)
                blocked_sessions.add(event.session_id)
        return RelayReport(
            published_ids=tuple(published), failed_ids=tuple(failed), held_back_ids=tuple(held_back)
        )

    def _publish(self, item: PendingEvent) -> bool:
        event = item.event
        try:
            # A child of the trace that produced the event, whether published in its request or by the timer.
            with span(
                f"publish {event.type}",
                kind=SpanKind.PRODUCER,
                traceparent=event.traceparent,
                attributes={"messaging.message.id": event.id, "booking.id": event.session_id},
            ):
                self._publisher.publish(event)
        except SchedulingError as exc:
            log.warning("event %s stays pending: %s", item.event.id, exc.detail)
            return False
        except Exception:
            # A bug, not an outage; the event is safe in the outbox either way, so log it loudly and go on.
            log.exception("event %s stays pending: the publisher failed unexpectedly", item.event.id)
            return False
        return True

    def _mark_sent(self, item: PendingEvent) -> None:
        try:
            self._store.mark_sent(item, at=self._clock.now())
        except Exception:
            # Published but still pending: a later pass publishes it again, which duplicate detection absorbs.
            log.exception("event %s was published but could not be marked sent", item.event.id)
