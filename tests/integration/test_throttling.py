"""Throttling past the clients' time budget (issue 12, item 1), end to end: bookings through the real
functions, the local topic (which redelivers an abandoned message at once, as Service Bus does) into
the real `sync-outlook` and `sync-dataverse` triggers, the simulators answering 429/503 with a
`Retry-After` longer than the Graph and Dataverse clients' 20 s budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scheduling_core.domain.bookings import appointment_id
from tests.fixtures.dataverse import DataverseSim

from .scenario import AT_9, BEARER, book, local_topic, new_event_type, new_host

#: Past the clients' 20 s budget, so they give up at once instead of waiting.
RETRY_AFTER = 21


def _until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)  # polling a condition with a deadline, not waiting for time to pass
    return condition()


def _events(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{graph_sim.v1}/users/{host}/events", headers=BEARER)
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value


def _appointments(dataverse: DataverseSim) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = dataverse.call(
        "GET", "appointments", params={"$select": "activityid,statecode"}
    ).json()["value"]
    return rows


@pytest.fixture
def host(app: Any, graph: Any, dataverse: DataverseSim) -> str:
    host_id = new_host(app, graph)
    dataverse.create_user(aad_object_id=host_id)
    return host_id


def test_throttling_past_the_budget_neither_burns_deliveries_nor_fails_the_booking(
    app: Any, graph: Any, dataverse: DataverseSim, host: str
) -> None:
    from bootstrap.composition import services

    graph.add_fault(429, count=None, retry_after=RETRY_AFTER, path_contains=f"/users/{host}/events")
    dataverse.add_fault(503, count=None, retry_after=RETRY_AFTER, path_contains="appointments")
    lead = dataverse.create("leads", {"firstname": "Jo", "lastname": "Doe"})
    slug = new_event_type(app, [host])
    created = book(app, slug, AT_9, record_id=lead)
    assert created.status == 201, created.body
    booking_id = created.json()["id"]

    booking = app.get(f"/bookings/{booking_id}").json()
    assert (booking["outlook"]["syncStatus"], booking["dynamics"]["syncStatus"]) == ("pending", "pending")
    assert local_topic().dead_letters == ()
    waiting = services().publisher.scheduled
    assert sorted((c.subscription, c.message_id, c.throttle_count) for c in waiting) == [
        ("dataverse", f"{booking_id}:1|dataverse|throttled-1", 1),
        ("outlook", f"{booking_id}:1|outlook|throttled-1", 1),
    ]
    assert [c.delay.total_seconds() for c in waiting] == [RETRY_AFTER, RETRY_AFTER]

    graph.clear_faults()
    dataverse.clear_faults()  # the throttling window passes; the copies come due after Retry-After

    def synced() -> bool:
        b = app.get(f"/bookings/{booking_id}").json()
        return bool(b["outlook"]["syncStatus"] == "synced" and b["dynamics"]["syncStatus"] == "synced")

    assert _until(synced, timeout=RETRY_AFTER + 30)
    assert len(_events(graph, host)) == 1
    assert [a["activityid"] for a in _appointments(dataverse)] == [appointment_id(booking_id)]
    assert local_topic().dead_letters == ()
