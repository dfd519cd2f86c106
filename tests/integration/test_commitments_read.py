"""How `GET /slots` reads this service's bookings and holds: one storage round trip for a whole pool, and
a booking committed through one instance is never offered by another instance afterwards (bound: zero —
the read goes to the rows the commit wrote, no cache in between)."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from .scenario import AT_9, MONDAY
from .scenario import book as _book
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host

AZURE_HTTP_LOG = "azure.core.pipeline.policies.http_logging_policy"


def _slot_hosts(app: Any, slug: str) -> dict[str, list[str]]:
    r = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    )
    assert r.status == 200, r.body
    return {s["start"][11:16]: sorted(s["hostIds"]) for s in r.json()["slots"]}


def _storage_requests(caplog: pytest.LogCaptureFixture, table: str) -> list[str]:
    """The requests the Azure SDK logged for `table` (its HTTP logging policy logs every request URL)."""
    return [r.getMessage() for r in caplog.records if r.name == AZURE_HTTP_LOG and table in r.getMessage()]


def test_a_pools_bookings_and_holds_are_read_in_one_storage_round_trip(
    app: Any, graph_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = [_host(app, graph_sim) for _ in range(10)]
    slug = _event_type(app, hosts, assignment="roundRobin")
    for n, host in enumerate(hosts[:5]):
        assert (
            _book(app, slug, AT_9, hostId=host, invitee={"name": "P", "email": f"p{n}@x.com"}).status == 201
        )
    hold = app.post("/holds", json_body={"eventType": slug, "start": AT_9, "hostId": hosts[5]})
    assert hold.status == 201, hold.body
    with caplog.at_level(logging.INFO, logger=AZURE_HTTP_LOG):
        caplog.clear()
        by_start = _slot_hosts(app, slug)
        reads = _storage_requests(caplog, "hostslots")
    assert by_start["09:00"] == sorted(hosts[6:])  # five booked, one held
    assert by_start["09:30"] == sorted(hosts)
    assert len(reads) == 1, reads


def test_a_booking_through_one_instance_is_not_offered_by_another_instance_afterwards(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    host = _host(app, graph_sim)
    slug = _event_type(app, [host])
    # A second instance over the same storage, warmed first: its Outlook cache and anything it might
    # keep of commitments were filled before the booking.
    other = build_services(Settings.from_env(os.environ), clock)
    assert "09:00" in _slot_hosts(app, slug)
    window_slots = other.slots.find_slots(
        event_type_slug=slug,
        window=_monday_window(),
        host_ids=(),
    ).slots
    assert any(s.start.isoformat() == f"{MONDAY}T15:00:00+00:00" for s in window_slots)

    assert _book(app, slug, AT_9).status == 201  # through the first instance
    # Stated bound: zero. The other instance answers GET /slots at once, with no wait and no refresh.
    install_services(other)
    assert "09:00" not in _slot_hosts(app, slug)
    assert "09:30" in _slot_hosts(app, slug)


def _monday_window() -> Any:
    from datetime import UTC, datetime

    from scheduling_core.domain.intervals import Interval

    return Interval(datetime(2026, 12, 7, 14, tzinfo=UTC), datetime(2026, 12, 7, 18, tzinfo=UTC))
