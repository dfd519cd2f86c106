"""The local Service Bus: published events reach the app's real `serviceBusTrigger` functions."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devstack.local_bus import deliver_to_functions
from scheduling_core.adapters.inprocess_bus import InProcessPublisher
from scheduling_core.domain.events import booking_event, from_json
from scheduling_core.ports import CloudEvent, ScheduledCopy

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _event(booking_id: str = "bk_1", version: int = 1) -> CloudEvent:
    event_type = "booking.created" if version == 1 else "booking.rescheduled"
    return booking_event(
        booking={"id": booking_id, "version": version}, event_type=event_type, time=AT, traceparent=None
    )


@dataclass
class Seen:
    message_id: str
    session_id: str | None
    delivery_count: int | None
    body: bytes
    content_type: str | None
    subject: str | None
    application_properties: dict[str, Any]


@dataclass
class Subscriptions:
    """A tiny app with the two subscriptions of booking-events; `fail` makes a handler raise."""

    app: func.FunctionApp
    outlook: list[Seen] = field(default_factory=list)
    dataverse: list[Seen] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # function -> how many more times to raise


def _record(msg: func.ServiceBusMessage) -> Seen:
    return Seen(
        message_id=msg.message_id,
        session_id=msg.session_id,
        delivery_count=msg.delivery_count,
        body=msg.get_body(),
        content_type=msg.content_type,
        subject=msg.subject,
        application_properties=msg.application_properties,
    )


def _subscriptions() -> Subscriptions:
    app = func.FunctionApp()
    subs = Subscriptions(app)

    def maybe_fail(name: str) -> None:
        if subs.fail.get(name, 0) > 0:
            subs.fail[name] -= 1
            raise RuntimeError(f"{name} is down")

    @app.service_bus_topic_trigger(
        arg_name="msg",
        topic_name="booking-events",
        subscription_name="outlook",
        connection="ServiceBusConnection",
        is_sessions_enabled=True,
    )
    def sync_outlook(msg: func.ServiceBusMessage) -> None:
        subs.outlook.append(_record(msg))
        maybe_fail("sync_outlook")

    @app.service_bus_topic_trigger(
        arg_name="message",
        topic_name="booking-events",
        subscription_name="dataverse",
        connection="ServiceBusConnection",
        is_sessions_enabled=True,
    )
    def sync_dataverse(message: func.ServiceBusMessage) -> None:
        subs.dataverse.append(_record(message))
        maybe_fail("sync_dataverse")

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="other-topic", subscription_name="x", connection="ServiceBusConnection"
    )
    def unrelated(msg: func.ServiceBusMessage) -> None:
        raise AssertionError("not subscribed to booking-events")

    @app.route(route="ping")
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    return subs


def _publisher(subs: Subscriptions, **options: Any) -> InProcessPublisher:
    return InProcessPublisher(deliver_to_functions(subs.app.get_functions(), "booking-events", **options))


def test_a_published_event_reaches_each_subscription_as_azure_would_deliver_it() -> None:
    subs = _subscriptions()
    event = _event()
    _publisher(subs).publish(event)

    assert len(subs.outlook) == 1 and len(subs.dataverse) == 1
    seen = subs.outlook[0]
    assert seen.message_id == "bk_1:1"
    assert seen.session_id == "bk_1"
    assert seen.delivery_count == 1
    assert seen.content_type == "application/cloudevents+json"
    assert seen.subject == "booking.created"
    assert seen.application_properties["cloudEvents_type"] == "booking.created"
    assert json.loads(seen.body)["type"] == "booking.created"
    assert from_json(seen.body) == event
    assert subs.dataverse[0] == seen


def test_only_functions_of_the_topic_are_subscribed() -> None:
    subs = _subscriptions()
    topic = deliver_to_functions(subs.app.get_functions(), "booking-events")
    assert topic.functions == ("sync_outlook", "sync_dataverse")


def test_an_abandoned_message_is_redelivered_at_once_and_publish_still_succeeds() -> None:
    subs = _subscriptions()
    publisher = _publisher(subs)
    subs.fail["sync_outlook"] = 2

    publisher.publish(_event())  # the broker accepted it: a consumer's failure is not the sender's

    assert [s.delivery_count for s in subs.outlook] == [1, 2, 3]  # no relay pass in between
    assert [s.message_id for s in subs.outlook] == ["bk_1:1", "bk_1:1", "bk_1:1"]
    assert [s.delivery_count for s in subs.dataverse] == [1]  # it completed the first time: not redelivered


def test_republishing_a_handled_event_is_absorbed_like_duplicate_detection() -> None:
    subs = _subscriptions()
    publisher = _publisher(subs)
    publisher.publish(_event())
    publisher.publish(_event())
    assert len(subs.outlook) == 1 and len(subs.dataverse) == 1
    publisher.publish(_event(version=2))
    assert [s.message_id for s in subs.outlook] == ["bk_1:1", "bk_1:2"]


def test_after_max_delivery_count_the_message_is_dead_lettered_and_stops_blocking() -> None:
    subs = _subscriptions()
    topic = deliver_to_functions(subs.app.get_functions(), "booking-events", max_delivery_count=3)
    publisher = InProcessPublisher(topic)
    subs.fail["sync_outlook"] = 99

    publisher.publish(_event())
    publisher.publish(_event())  # republished (e.g. by the relay): dead-lettered, nothing to deliver
    publisher.publish(_event(version=2))  # the session is not blocked

    assert [(s.message_id, s.delivery_count) for s in subs.outlook] == [
        ("bk_1:1", 1),
        ("bk_1:1", 2),
        ("bk_1:1", 3),
        ("bk_1:2", 1),
        ("bk_1:2", 2),
        ("bk_1:2", 3),
    ]
    assert [
        (d.function, d.subscription, d.message_id, d.session_id, d.reason) for d in topic.dead_letters
    ] == [
        ("sync_outlook", "outlook", "bk_1:1", "bk_1", "MaxDeliveryCountExceeded"),
        ("sync_outlook", "outlook", "bk_1:2", "bk_1", "MaxDeliveryCountExceeded"),
    ]
    assert topic.dead_letters[0].description == "RuntimeError: sync_outlook is down"


def _copy(
    event: CloudEvent, *, subscription: str = "outlook", seconds: float = 0.3, n: int = 1
) -> ScheduledCopy:
    return ScheduledCopy(
        event=event,
        subscription=subscription,
        message_id=f"{event.id}|{subscription}|throttled-{n}",
        delay=timedelta(seconds=seconds),
        throttle_count=n,
    )


def test_a_scheduled_copy_stays_hidden_until_its_time_then_reaches_only_its_subscription() -> None:
    subs = _subscriptions()
    publisher = _publisher(subs)
    scheduled_at = time.monotonic()

    publisher.schedule(_copy(_event(), seconds=0.5))

    assert subs.outlook == [] and subs.dataverse == []
    assert [c.message_id for c in publisher.scheduled] == ["bk_1:1|outlook|throttled-1"]
    assert publisher.wait_scheduled(timeout=10)
    assert time.monotonic() - scheduled_at >= 0.5
    [seen] = subs.outlook
    assert (seen.message_id, seen.session_id, seen.delivery_count) == (
        "bk_1:1|outlook|throttled-1",
        "bk_1",
        1,
    )
    assert seen.application_properties["retrySubscription"] == "outlook"
    assert seen.application_properties["throttleCount"] == 1
    assert from_json(seen.body) == _event()  # the same CloudEvent, under a new message id
    assert subs.dataverse == []  # the copy is for the outlook subscription only


def test_a_copy_is_delivered_even_when_its_original_was_and_a_repeated_copy_only_once() -> None:
    subs = _subscriptions()
    publisher = _publisher(subs)
    publisher.publish(_event())

    publisher.schedule(_copy(_event(), seconds=0.1))
    publisher.schedule(_copy(_event(), seconds=0.1))  # same message id: duplicate detection drops it

    assert publisher.wait_scheduled(timeout=10)
    assert [s.message_id for s in subs.outlook] == ["bk_1:1", "bk_1:1|outlook|throttled-1"]


def test_a_failing_scheduled_copy_is_redelivered_at_once_then_dead_lettered() -> None:
    subs = _subscriptions()
    topic = deliver_to_functions(subs.app.get_functions(), "booking-events", max_delivery_count=2)
    publisher = InProcessPublisher(topic)
    subs.fail["sync_dataverse"] = 99

    publisher.schedule(_copy(_event(), subscription="dataverse", seconds=0.1))

    assert publisher.wait_scheduled(timeout=10)
    assert [s.delivery_count for s in subs.dataverse] == [1, 2]
    assert [(d.function, d.message_id) for d in topic.dead_letters] == [
        ("sync_dataverse", "bk_1:1|dataverse|throttled-1")
    ]


def test_one_session_is_delivered_one_event_at_a_time() -> None:
    app = func.FunctionApp()
    active: dict[str, int] = {}
    overlaps: list[str] = []
    order: list[str] = []
    guard = threading.Lock()

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="booking-events", subscription_name="outlook", connection="C"
    )
    def handler(msg: func.ServiceBusMessage) -> None:
        session = msg.session_id or ""
        with guard:
            active[session] = active.get(session, 0) + 1
            if active[session] > 1:
                overlaps.append(session)
        time.sleep(0.01)
        with guard:
            active[session] -= 1
            order.append(msg.message_id)

    publisher = InProcessPublisher(deliver_to_functions(app.get_functions(), "booking-events"))
    threads = [
        threading.Thread(target=publisher.publish, args=(_event(booking, version),))
        for version in (1, 2, 3)
        for booking in ("bk_a", "bk_b")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    assert sorted(order) == sorted(f"{b}:{v}" for b in ("bk_a", "bk_b") for v in (1, 2, 3))


def test_a_handler_may_publish_for_its_own_session_without_deadlock() -> None:
    app = func.FunctionApp()
    seen: list[str] = []
    publisher: InProcessPublisher

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="booking-events", subscription_name="outlook", connection="C"
    )
    def handler(msg: func.ServiceBusMessage) -> None:
        seen.append(msg.message_id)
        if msg.message_id == "bk_1:1":
            publisher.publish(_event(version=2))

    publisher = InProcessPublisher(deliver_to_functions(app.get_functions(), "booking-events"))
    publisher.publish(_event())
    assert seen == ["bk_1:1", "bk_1:2"]


def test_functions_needing_other_bindings_are_refused_up_front() -> None:
    app = func.FunctionApp()

    @app.service_bus_topic_trigger(
        arg_name="msg", topic_name="booking-events", subscription_name="outlook", connection="C"
    )
    def handler(msg: func.ServiceBusMessage, out: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'out'"):
        deliver_to_functions(app.get_functions(), "booking-events")


def test_an_abandoned_queue_message_is_redelivered_at_once_ahead_of_later_ones() -> None:
    from devstack.local_bus import LocalQueue, _Subscriber

    handled: list[tuple[int, int]] = []
    failures = {1: 1}  # message value -> how many more times its handler raises

    def handler(msg: func.ServiceBusMessage) -> None:
        value = json.loads(msg.get_body())["value"]
        handled.append((value, msg.delivery_count or 0))
        if failures.get(value, 0) > 0:
            failures[value] -= 1
            raise RuntimeError("downstream is down")

    queue = LocalQueue(
        _Subscriber(function="q", subscription="q", arg_name="msg", many=False, call=handler), queue="q"
    )
    queue.send([{"value": 1}, {"value": 2}])
    assert queue.drain(10)
    assert handled == [(1, 1), (1, 2), (2, 1)]
    assert queue.dead_letters == ()
