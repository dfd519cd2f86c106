"""The outbox: an event committed with its booking is published even if publishing failed after commit."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scheduling_core.errors import TransientError
from scheduling_core.ports import CloudEvent

from .scenario import AT_9
from .scenario import book as _book
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host
from .scenario import partition_rows as _partition_rows


class RecordingPublisher:
    """An EventPublisher that is down until told otherwise, and remembers what it accepted."""

    def __init__(self) -> None:
        self.up = False
        self.accepted: list[CloudEvent] = []

    def publish(self, event: CloudEvent) -> None:
        if not self.up:
            raise TransientError("broker unreachable")
        self.accepted.append(event)


@pytest.fixture
def broker(app: Any, app_env: dict[str, str], clock: Any) -> Iterator[RecordingPublisher]:
    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    publisher = RecordingPublisher()
    install_services(build_services(Settings.from_env(os.environ), clock, publisher=publisher))
    return publisher


def test_a_failed_publish_after_commit_leaves_the_event_pending_and_the_relay_sends_it_once(
    app: Any, graph_sim: Any, broker: RecordingPublisher
) -> None:
    from bootstrap.composition import services

    host = _host(app, graph_sim)
    slug = _event_type(app, [host])
    booking = _book(app, slug, AT_9)
    assert booking.status == 201, booking.body  # the booking stands although publishing failed
    booking_id = booking.json()["id"]
    assert [r["sent"] for r in _partition_rows(app, host, "o|")] == [False]

    assert services().relay.relay().published == 0  # still down: stays pending
    broker.up = True
    assert services().relay.relay().published == 1
    assert services().relay.relay().published == 0
    assert [e.id for e in broker.accepted] == [f"{booking_id}:1"]
    assert [r["sent"] for r in _partition_rows(app, host, "o|")] == [True]


def test_events_carry_the_booking_snapshot_in_order(
    app: Any, graph_sim: Any, broker: RecordingPublisher
) -> None:
    broker.up = True
    host = _host(app, graph_sim)
    slug = _event_type(app, [host])
    b = _book(app, slug, AT_9).json()
    app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": "2026-12-07T10:00:00-06:00"})
    app.post(f"/bookings/{b['id']}/cancel")
    assert [(e.type, e.id, e.session_id) for e in broker.accepted] == [
        ("booking.created", f"{b['id']}:1", b["id"]),
        ("booking.rescheduled", f"{b['id']}:2", b["id"]),
        ("booking.cancelled", f"{b['id']}:3", b["id"]),
    ]
    last = broker.accepted[-1]
    assert last.source == f"/bookings/{b['id']}" and last.data["version"] == 3
    assert last.data["booking"]["status"] == "cancelled"
    assert uuid.UUID(last.data["booking"]["dynamics"]["appointmentId"])
