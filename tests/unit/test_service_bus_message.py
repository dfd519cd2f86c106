from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_core.adapters.service_bus import (
    ServiceBusPublisher,
    copy_target,
    to_scheduled_message,
    to_service_bus_message,
)
from scheduling_core.domain.events import booking_event, from_json
from scheduling_core.errors import UpstreamUnavailable
from scheduling_core.ports import CloudEvent, ScheduledCopy

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _event() -> CloudEvent:
    return booking_event(
        booking={"id": "bk_123", "version": 3, "status": "cancelled"},
        event_type="booking.cancelled",
        time=AT,
        traceparent=None,
    )


def test_message_is_keyed_for_duplicate_detection_and_sessions() -> None:
    message = to_service_bus_message(_event())
    assert message.message_id == "bk_123:3"
    assert message.session_id == "bk_123"
    assert message.content_type == "application/cloudevents+json"
    assert message.subject == "booking.cancelled"
    assert message.application_properties == {
        "cloudEvents_type": "booking.cancelled",
        "cloudEvents_source": "/bookings/bk_123",
        "cloudEvents_id": "bk_123:3",
    }


def test_body_is_the_structured_cloudevent() -> None:
    event = _event()
    body = b"".join(to_service_bus_message(event).body)
    assert json.loads(body)["specversion"] == "1.0"
    assert from_json(body) == event


def test_publisher_needs_a_way_to_reach_the_namespace() -> None:
    with pytest.raises(ValueError, match="connection string or a fully qualified namespace"):
        ServiceBusPublisher(topic="booking-events")
    with pytest.raises(ValueError, match="malformed"):
        ServiceBusPublisher(topic="booking-events", connection_string="not a connection string")


def test_publisher_connects_lazily_and_closes_cleanly() -> None:
    publisher = ServiceBusPublisher(
        topic="booking-events",
        connection_string="Endpoint=sb://sb-x.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=a2V5",
    )
    assert "booking-events" in repr(publisher) and "a2V5" not in repr(publisher)
    publisher.close()
    publisher.close()


def test_a_broker_that_hangs_up_is_upstream_unavailable_and_the_next_publish_reconnects() -> None:
    """A local socket that speaks no AMQP stands in for an unreachable namespace (no network needed)."""
    broker = socket.socket()
    broker.bind(("127.0.0.1", 0))
    broker.listen()
    broker.settimeout(10)
    port = broker.getsockname()[1]
    greetings: list[bytes] = []

    def hang_up() -> None:
        for _ in range(2):
            connection, _ = broker.accept()
            greetings.append(connection.recv(8))
            connection.close()

    listener = threading.Thread(target=hang_up, daemon=True)
    listener.start()
    publisher = ServiceBusPublisher(
        topic="booking-events",
        connection_string=(
            f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true"
        ),
        retry_total=0,
        send_timeout_seconds=5,
    )
    try:
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable) as caught:
                publisher.publish(_event())
            assert caught.value.service == "service-bus"
            assert "bk_123:3" in caught.value.detail
    finally:
        publisher.close()
        listener.join(timeout=10)
        broker.close()
    assert [g[:4] for g in greetings] == [b"AMQP", b"AMQP"]  # a fresh connection per attempt after a failure
    with pytest.raises(UpstreamUnavailable, match="closed"):
        publisher.publish(_event())


def _copy() -> ScheduledCopy:
    return ScheduledCopy(
        event=_event(),
        subscription="outlook",
        message_id="bk_123:3|outlook|throttled-2",
        delay=timedelta(seconds=45),
        throttle_count=2,
    )


def test_a_scheduled_copy_is_the_event_under_a_new_id_for_one_subscription_at_its_time() -> None:
    at = AT + timedelta(seconds=45)
    message = to_scheduled_message(_copy(), at)
    assert message.message_id == "bk_123:3|outlook|throttled-2"
    assert message.session_id == "bk_123"  # the booking's order is kept
    assert message.scheduled_enqueue_time_utc == at
    assert message.application_properties == {
        "cloudEvents_type": "booking.cancelled",
        "cloudEvents_source": "/bookings/bk_123",
        "cloudEvents_id": "bk_123:3",
        "retrySubscription": "outlook",
        "throttleCount": 2,
    }
    assert from_json(b"".join(message.body)) == _event()
    assert copy_target(message.application_properties) == "outlook"
    assert copy_target(to_service_bus_message(_event()).application_properties) is None


def test_scheduling_on_a_closed_publisher_is_upstream_unavailable() -> None:
    publisher = ServiceBusPublisher(
        topic="booking-events",
        connection_string="Endpoint=sb://sb-x.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=a2V5",
    )
    publisher.close()
    with pytest.raises(UpstreamUnavailable, match="closed"):
        publisher.schedule(_copy())
