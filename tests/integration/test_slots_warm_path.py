"""What a warm `GET /slots` reads from storage, and how fresh the configuration it uses is.

A warm request (Outlook's free/busy cached) reads one thing from storage: the pool's commitments, which
are never cached (a booking through any instance is excluded at once, test_commitments_read.py). Event
types and hosts come from a per-instance copy kept at most `CONFIG_CACHE_TTL` (30 s): a change made
through this instance is served at once, one made through another instance within the bound.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

import pytest

from .scenario import AT_9, MONDAY
from .scenario import book as _book
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host

AZURE_HTTP_LOG = "azure.core.pipeline.policies.http_logging_policy"


def _slots(app: Any, slug: str) -> list[dict[str, Any]]:
    r = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    )
    assert r.status == 200, r.body
    slots: list[dict[str, Any]] = r.json()["slots"]
    return slots


def _storage_requests(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every request URL the Azure SDK logged (its HTTP logging policy logs each one it sends)."""
    return [
        r.getMessage().split("\n", 1)[0]
        for r in caplog.records
        if r.name == AZURE_HTTP_LOG and "Request URL" in r.getMessage()
    ]


def _spans(slots: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["start"][11:16], s["end"][11:16]) for s in slots]


def test_a_warm_get_slots_reads_only_the_pools_commitments_from_storage(
    app: Any, graph_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hosts = [_host(app, graph_sim) for _ in range(5)]
    slug = _event_type(app, hosts, assignment="roundRobin")
    first = _slots(app, slug)
    with caplog.at_level(logging.INFO, logger=AZURE_HTTP_LOG):
        caplog.clear()
        assert _slots(app, slug) == first
        reads = _storage_requests(caplog)
    assert len(reads) == 1, reads
    assert "hostslots" in reads[0]


def test_an_event_type_changed_through_this_instance_is_served_at_once(app: Any, graph_sim: Any) -> None:
    host = _host(app, graph_sim)
    slug = _event_type(app, [host])
    assert _spans(_slots(app, slug))[0] == ("08:00", "08:30")
    changed = app.put(
        f"/admin/event-types/{slug}",
        json_body={"title": "Call", "durationMinutes": 60, "hostIds": [host], "bookingWindowDays": 60},
    )
    assert changed.status == 200, changed.body
    assert _spans(_slots(app, slug))[0] == ("08:00", "09:00")


def test_a_host_deactivated_through_this_instance_is_not_offered_at_once(app: Any, graph_sim: Any) -> None:
    hosts = sorted(_host(app, graph_sim) for _ in range(2))
    slug = _event_type(app, hosts, assignment="roundRobin")
    assert _slots(app, slug)[0]["hostIds"] == hosts
    stored = app.get(f"/admin/hosts/{hosts[0]}").json()
    stored.pop("id", None)
    assert app.put(f"/admin/hosts/{hosts[0]}", json_body={**stored, "active": False}).status == 200
    assert _slots(app, slug)[0]["hostIds"] == hosts[1:]


def test_a_config_change_through_another_instance_is_served_within_the_stated_bound(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    from bootstrap.composition import build_services
    from bootstrap.settings import Settings
    from scheduling_core.domain.timezones import resolve_time_zone
    from scheduling_core.services.config import CONFIG_CACHE_TTL
    from scheduling_core.services.slots import resolve_window

    host = _host(app, graph_sim)
    slug = _event_type(app, [host])
    other = build_services(Settings.from_env(os.environ), clock)
    try:
        window = resolve_window(MONDAY, MONDAY, resolve_time_zone("America/Chicago"))

        def other_durations() -> set[int]:
            answer = other.slots.find_slots(event_type_slug=slug, window=window)
            return {int((s.end - s.start).total_seconds() // 60) for s in answer.slots}

        assert other_durations() == {30}
        changed = app.put(
            f"/admin/event-types/{slug}",
            json_body={"title": "Call", "durationMinutes": 60, "hostIds": [host], "bookingWindowDays": 60},
        )
        assert changed.status == 200, changed.body
        start = clock.now()
        clock.set(start + CONFIG_CACHE_TTL - timedelta(microseconds=1))
        assert other_durations() == {30}  # within the bound the other instance may serve its copy
        clock.set(start + CONFIG_CACHE_TTL)
        assert other_durations() == {60}  # and never past it
    finally:
        other.close()


def test_a_booking_checks_the_stored_event_type_not_this_instances_copy(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    """The copy only shapes what is offered: a commit reads the event type as stored. Here another
    instance has just made it 60 minutes long, so 09:00-10:00 overlaps the 09:30 booking, while this
    instance's copy still offers a 30-minute 09:00."""
    import dataclasses

    from bootstrap.composition import build_services
    from bootstrap.settings import Settings

    host = _host(app, graph_sim)
    slug = _event_type(app, [host])
    assert _book(app, slug, f"{MONDAY}T09:30:00-06:00").status == 201
    assert ("09:00", "09:30") in _spans(_slots(app, slug))
    other = build_services(Settings.from_env(os.environ), clock)
    try:
        stored = other.config.get_event_type(slug)
        other.config.put_event_type(dataclasses.replace(stored, duration_minutes=60))
    finally:
        other.close()
    assert ("09:00", "09:30") in _spans(_slots(app, slug))  # within the bound: the copy is served
    refused = _book(app, slug, AT_9)
    assert refused.status == 409, refused.body
    assert refused.json()["code"] == "slot-unavailable"
