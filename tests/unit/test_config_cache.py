"""`GET /slots`'s copy of event types and hosts: kept 30 s, cleared by this instance's own writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.domain.values import EventType, Host
from scheduling_core.errors import NotFound
from scheduling_core.services.config import CONFIG_CACHE_TTL, ConfigCache

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _host(host_id: str, name: str = "Host") -> Host:
    return Host(
        id=host_id, email=f"{host_id}@contoso.com", display_name=name, time_zone="UTC", working_hours=()
    )


class Documents:
    """In-memory configuration that counts reads (the cost the copy exists to save)."""

    def __init__(self, *host_ids: str) -> None:
        self.hosts = {h: _host(h) for h in host_ids}
        self.event_types = {"call": EventType(slug="call", title="Call", duration_minutes=30)}
        self.reads: list[str] = []
        self.while_reading: ConfigCache | None = None  # a write on this instance lands mid-read

    def get_event_type(self, slug: str) -> EventType:
        self.reads.append(f"eventtype:{slug}")
        self._written_meanwhile()
        if slug not in self.event_types:
            raise NotFound("event type", slug)
        return self.event_types[slug]

    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]:
        wanted = list(host_ids)
        self.reads.extend(f"host:{h}" for h in wanted)
        self._written_meanwhile()
        return [self.hosts[h] for h in wanted if h in self.hosts]

    def _written_meanwhile(self) -> None:
        if self.while_reading is not None:
            self.while_reading.invalidate()
            self.while_reading = None


def test_documents_are_read_once_per_ttl_and_again_after_it() -> None:
    clock = FixedClock(NOW)
    docs = Documents("a", "b")
    cache = ConfigCache(docs, clock)
    assert [h.id for h in cache.get_hosts(["b", "a"])] == ["b", "a"]
    assert cache.get_event_type("call").duration_minutes == 30
    docs.hosts["a"] = _host("a", "Renamed")  # written by another instance
    docs.event_types["call"] = EventType(slug="call", title="Call", duration_minutes=60)
    clock.set(NOW + CONFIG_CACHE_TTL - timedelta(microseconds=1))
    assert cache.get_hosts(["a"])[0].display_name == "Host"
    assert cache.get_event_type("call").duration_minutes == 30
    assert docs.reads == ["host:b", "host:a", "eventtype:call"]
    clock.set(NOW + CONFIG_CACHE_TTL)
    assert cache.get_hosts(["a", "b"])[0].display_name == "Renamed"
    assert cache.get_event_type("call").duration_minutes == 60
    assert docs.reads[3:] == ["host:a", "host:b", "eventtype:call"]


def test_only_the_hosts_not_kept_are_read_and_each_once() -> None:
    docs = Documents("a", "b", "c")
    cache = ConfigCache(docs, FixedClock(NOW))
    cache.get_hosts(["a"])
    assert [h.id for h in cache.get_hosts(["c", "a", "c", "b"])] == ["c", "a", "c", "b"]
    assert docs.reads == ["host:a", "host:c", "host:b"]


def test_an_own_write_clears_the_copy_at_once() -> None:
    docs = Documents("a")
    cache = ConfigCache(docs, FixedClock(NOW))
    cache.get_hosts(["a"])
    cache.get_event_type("call")
    docs.hosts["a"] = _host("a", "Renamed")
    cache.invalidate()
    assert cache.get_hosts(["a"])[0].display_name == "Renamed"
    assert docs.reads == ["host:a", "eventtype:call", "host:a"]


def test_a_copy_read_while_this_instance_wrote_config_is_used_once_and_not_kept() -> None:
    docs = Documents("a")
    cache = ConfigCache(docs, FixedClock(NOW))
    docs.while_reading = cache
    cache.get_hosts(["a"])
    cache.get_hosts(["a"])
    assert docs.reads == ["host:a", "host:a"]


def test_absence_is_never_kept_and_names_the_first_missing_host() -> None:
    docs = Documents("a")
    cache = ConfigCache(docs, FixedClock(NOW))
    with pytest.raises(NotFound) as missing:
        cache.get_hosts(["a", "x", "y"])
    assert missing.value.key == "x"
    with pytest.raises(NotFound):
        cache.get_event_type("demo")
    docs.hosts["x"] = _host("x")  # created on another instance: seen at once
    docs.event_types["demo"] = EventType(slug="demo", title="Demo", duration_minutes=15)
    assert [h.id for h in cache.get_hosts(["x", "a"])] == ["x", "a"]
    assert cache.get_event_type("demo").duration_minutes == 15


def test_a_clock_set_back_does_not_extend_a_copys_life() -> None:
    clock = FixedClock(NOW)
    docs = Documents("a")
    cache = ConfigCache(docs, clock)
    cache.get_hosts(["a"])
    clock.set(NOW - timedelta(hours=1))
    cache.get_hosts(["a"])
    assert docs.reads == ["host:a", "host:a"]
