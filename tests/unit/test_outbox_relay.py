"""The relay's logic against an in-memory outbox and broker (the Table storage outbox: integration tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.domain.events import booking_event
from scheduling_core.errors import TransientError, UpstreamUnavailable
from scheduling_core.ports import CloudEvent, PendingEvent
from scheduling_core.services.outbox import OutboxRelay, RelayReport

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _pending(booking_id: str, version: int) -> PendingEvent:
    event_type = "booking.created" if version == 1 else "booking.rescheduled"
    event = booking_event(
        booking={"id": booking_id, "version": version}, event_type=event_type, time=AT, traceparent=None
    )
    return PendingEvent(
        event=event, partition_key="host-1", row_key=f"o|{booking_id}|{version:08d}", etag="e1"
    )


@dataclass
class MemoryOutbox:
    """An OutboxStore: rows in insertion order, each with the time it was marked sent (or None)."""

    rows: list[PendingEvent] = field(default_factory=list)
    sent_at: dict[str, datetime] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def add(self, *items: PendingEvent) -> None:
        self.rows.extend(items)

    def pending(self, limit: int = 100) -> list[PendingEvent]:
        return [r for r in self.rows if r.row_key not in self.sent_at][:limit]

    def mark_sent(self, pending: PendingEvent, at: datetime) -> None:
        self.log.append(f"mark {pending.event.id}")
        self.sent_at.setdefault(pending.row_key, at)


@dataclass
class MemoryBroker:
    """An EventPublisher that accepts everything except the event ids it is told to refuse."""

    log: list[str]
    refuse: set[str] = field(default_factory=set)
    accepted: list[CloudEvent] = field(default_factory=list)

    def publish(self, event: CloudEvent) -> None:
        self.log.append(f"publish {event.id}")
        if event.id in self.refuse:
            raise UpstreamUnavailable("service-bus", "broker unreachable")
        self.accepted.append(event)


def _relay(outbox: MemoryOutbox, broker: MemoryBroker, clock: FixedClock | None = None) -> OutboxRelay:
    return OutboxRelay(store=outbox, publisher=broker, clock=clock or FixedClock(AT))


def test_pending_events_are_published_in_order_and_marked_sent_after_publishing() -> None:
    outbox = MemoryOutbox()
    broker = MemoryBroker(outbox.log)
    outbox.add(_pending("a", 1), _pending("b", 1), _pending("a", 2))
    clock = FixedClock(AT + timedelta(seconds=30))

    report = _relay(outbox, broker, clock).relay()

    assert report == RelayReport(published_ids=("a:1", "b:1", "a:2"))
    assert (report.published, report.failed, report.held_back) == (3, 0, 0)
    assert outbox.log == ["publish a:1", "mark a:1", "publish b:1", "mark b:1", "publish a:2", "mark a:2"]
    assert set(outbox.sent_at.values()) == {AT + timedelta(seconds=30)}
    assert outbox.pending() == []


def test_a_failed_publish_stays_pending_and_holds_back_its_session_only() -> None:
    outbox = MemoryOutbox()
    broker = MemoryBroker(outbox.log, refuse={"a:1"})
    outbox.add(_pending("a", 1), _pending("b", 1), _pending("a", 2), _pending("b", 2))

    report = _relay(outbox, broker).relay()

    assert report.published_ids == ("b:1", "b:2")
    assert report.failed_ids == ("a:1",)
    assert report.held_back_ids == ("a:2",)  # never published ahead of a:1
    assert "publish a:2" not in outbox.log
    assert "mark a:1" not in outbox.log
    assert [p.event.id for p in outbox.pending()] == ["a:1", "a:2"]

    broker.refuse.clear()  # the broker is back: the next pass sends the session in order
    assert _relay(outbox, broker).relay().published_ids == ("a:1", "a:2")
    assert [e.id for e in broker.accepted] == ["b:1", "b:2", "a:1", "a:2"]


def test_publish_now_never_raises_and_leaves_failures_to_the_timer() -> None:
    outbox = MemoryOutbox()
    broker = MemoryBroker(outbox.log, refuse={"a:1"})
    row = _pending("a", 1)
    outbox.add(row)
    relay = _relay(outbox, broker)

    report = relay.publish_now([row])

    assert (report.published, report.failed) == (0, 1)
    assert outbox.pending() == [row]
    broker.refuse.clear()
    assert relay.relay().published_ids == ("a:1",)
    assert relay.relay() == RelayReport()


def test_an_unexpected_publisher_error_is_a_failure_not_a_crash() -> None:
    class Broken:
        def publish(self, event: CloudEvent) -> None:
            raise RuntimeError("bug")

    outbox = MemoryOutbox()
    outbox.add(_pending("a", 1), _pending("b", 1))
    report = OutboxRelay(store=outbox, publisher=Broken(), clock=FixedClock(AT)).relay()
    assert report.failed_ids == ("a:1", "b:1")
    assert len(outbox.pending()) == 2


def test_publishing_twice_is_harmless() -> None:
    outbox = MemoryOutbox()
    broker = MemoryBroker(outbox.log)
    row = _pending("a", 1)
    outbox.add(row)
    relay = _relay(outbox, broker)

    assert relay.publish_now([row]).published == 1
    assert relay.publish_now([row]).published == 1  # e.g. the fast path and the timer raced
    assert relay.relay().published == 0
    assert [e.id for e in broker.accepted] == [
        "a:1",
        "a:1",
    ]  # same id: the broker's duplicate detection drops one
    assert len(outbox.sent_at) == 1


def test_a_row_that_cannot_be_marked_sent_is_still_reported_published_and_later_events_go_on() -> None:
    class StuckOutbox(MemoryOutbox):
        def mark_sent(self, pending: PendingEvent, at: datetime) -> None:
            if pending.event.id == "a:1":
                raise TransientError("storage unreachable")
            super().mark_sent(pending, at)

    outbox = StuckOutbox()
    broker = MemoryBroker(outbox.log)
    outbox.add(_pending("a", 1), _pending("a", 2))

    report = _relay(outbox, broker).relay()

    assert report.published_ids == ("a:1", "a:2")
    assert [p.event.id for p in outbox.pending()] == [
        "a:1"
    ]  # republished next pass; its id makes that harmless


def test_relay_asks_the_store_for_at_most_limit_rows() -> None:
    outbox = MemoryOutbox()
    broker = MemoryBroker(outbox.log)
    outbox.add(*(_pending(f"b{i}", 1) for i in range(5)))
    assert _relay(outbox, broker).relay(limit=2).published_ids == ("b0:1", "b1:1")
    assert len(outbox.pending()) == 3
