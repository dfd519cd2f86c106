"""The in-process host directory copy: kept 60 s, cleared by this instance's own host writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.domain.values import Host
from scheduling_core.services.config import HOST_DIRECTORY_TTL, HostDirectoryCache

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _host(host_id: str) -> Host:
    return Host(
        id=host_id, email=f"{host_id}@contoso.com", display_name=host_id, time_zone="UTC", working_hours=()
    )


class Rows:
    """An in-memory directory that counts whole-directory reads (the cost the cache exists to save)."""

    def __init__(self, *ids: str) -> None:
        self.hosts = {h: _host(h) for h in ids}
        self.scans = 0
        self.during_scan: list[str] = []  # ids written by "another request" while a scan is under way
        self.cache: HostDirectoryCache | None = None

    def list_hosts(self) -> list[Host]:
        self.scans += 1
        snapshot = list(self.hosts.values())
        for host_id in self.during_scan:
            self.hosts[host_id] = _host(host_id)
            assert self.cache is not None
            self.cache.invalidate()
        self.during_scan = []
        return snapshot

    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]:
        return [self.hosts[h] for h in host_ids if h in self.hosts]


def test_the_directory_is_read_once_per_ttl_and_again_after_it() -> None:
    clock = FixedClock(NOW)
    rows = Rows("b", "a")
    cache = HostDirectoryCache(rows, clock)
    assert [h.id for h in cache.all_hosts()] == ["a", "b"]
    rows.hosts["c"] = _host("c")  # written by another instance: not seen until the copy expires
    clock.set(NOW + HOST_DIRECTORY_TTL - timedelta(microseconds=1))
    assert [h.id for h in cache.all_hosts()] == ["a", "b"] and rows.scans == 1
    clock.set(NOW + HOST_DIRECTORY_TTL)
    assert [h.id for h in cache.all_hosts()] == ["a", "b", "c"] and rows.scans == 2


def test_a_host_write_on_this_instance_clears_the_copy_at_once() -> None:
    rows = Rows("a")
    cache = HostDirectoryCache(rows, FixedClock(NOW))
    cache.all_hosts()
    rows.hosts["b"] = _host("b")
    cache.invalidate()
    assert [h.id for h in cache.all_hosts()] == ["a", "b"] and rows.scans == 2


def test_a_copy_read_while_a_host_was_written_is_used_once_and_not_kept() -> None:
    rows = Rows("a")
    cache = HostDirectoryCache(rows, FixedClock(NOW))
    rows.cache = cache
    rows.during_scan = ["b"]
    assert [h.id for h in cache.all_hosts()] == ["a"]  # the scan began before "b" was written
    assert [h.id for h in cache.all_hosts()] == ["a", "b"] and rows.scans == 2
