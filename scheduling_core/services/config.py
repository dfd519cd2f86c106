"""Admin configuration: hosts and event types.

Invariants: a stored event type only names hosts and rule sets that existed when
it was stored (a later host deletion is reported when slots are asked for). Saving
or deleting a host tells the `HostWatcher` (Graph subscriptions) after the write;
its failure never fails the write (the maintenance timer catches up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from scheduling_core.domain.values import EventType, Host
from scheduling_core.errors import FieldError, InvalidRequest, NotFound, SchedulingError
from scheduling_core.ports import Clock, ConfigRepository


class RuleSetLookup(Protocol):
    def has_rule_set(self, rule_set_id: str) -> bool: ...


class HostWatcher(Protocol):
    def host_saved(self, host: Host) -> None: ...
    def host_removed(self, host_id: str) -> None: ...


log = logging.getLogger(__name__)

#: How stale the in-process host directory may be (docs/decisions.md, "Tenant scale"): this instance's own
#: host writes clear it at once; another instance's are seen within this time.
HOST_DIRECTORY_TTL = timedelta(seconds=60)


class HostRows(Protocol):
    def list_hosts(self) -> list[Host]: ...
    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]: ...


class HostDirectoryCache:
    """The whole host directory, read at most once per TTL, for the scans routing cannot avoid.

    Only territory and skills rules (and an `ownerId` that is a Dynamics user id) need to look across every
    host; everything else reads hosts by id (`find_hosts`, always fresh). Candidates found through the
    cached copy are read again by id before routing uses them, so a stale copy can at worst miss a host
    added or re-skilled on another instance in the last TTL, never route to a deleted or deactivated one.
    """

    def __init__(self, rows: HostRows, clock: Clock, ttl: timedelta = HOST_DIRECTORY_TTL) -> None:
        self._rows = rows
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._hosts: tuple[Host, ...] | None = None
        self._read_at: datetime | None = None
        self._generation = 0

    def all_hosts(self) -> tuple[Host, ...]:
        now = self._clock.now()
        with self._lock:
            if self._hosts is not None and self._read_at is not None and now - self._read_at < self._ttl:
                return self._hosts
            generation = self._generation
        hosts = tuple(sorted(self._rows.list_hosts(), key=lambda h: h.id))
        with self._lock:
            # A write that happened while we were reading makes this copy suspect: use it once, keep none.
            if generation == self._generation:
                self._hosts, self._read_at = hosts, now
        return hosts

    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]:
        return self._rows.find_hosts(host_ids)

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._hosts = self._read_at = None


#: How stale `GET /slots`'s copy of an event type or host may be (docs/decisions.md, "Slots computation and
#: serialisation speed", Warm path): this instance's own config writes clear it at once; another
#: instance's are seen within this time. Bookings never read through it.
CONFIG_CACHE_TTL = timedelta(seconds=30)

_V = TypeVar("_V")


class ConfigReads(Protocol):
    def get_event_type(self, slug: str) -> EventType: ...
    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]: ...


class ConfigCache:
    """Event types and hosts as `GET /slots` reads them: each kept per instance for at most the TTL.

    A warm `/slots` otherwise spent most of its time reading and validating the same documents (one
    event type and a point read per pool host) on every call. Only documents that exist are kept, so an
    event type or host created elsewhere is seen at once; a change or deletion made on another instance
    is seen within the TTL, one made here at once (`invalidate`, called by `ConfigService`). A copy read
    while this instance wrote config is used once and not kept. The commit path does not read through
    it: a booking checks the event type and hosts as stored.
    """

    #: Past this many documents the copy starts over (a tenant of thousands of hosts stays well under).
    MAX_ENTRIES = 20_000

    def __init__(self, repository: ConfigReads, clock: Clock, ttl: timedelta = CONFIG_CACHE_TTL) -> None:
        self._repo = repository
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[datetime, object]] = {}
        self._generation = 0

    def get_event_type(self, slug: str) -> EventType:
        now = self._clock.now()
        kept = self._fresh(("eventtype", slug), now, EventType)
        if kept is not None:
            return kept
        generation = self._generation
        event_type = self._repo.get_event_type(slug)  # NotFound is never kept
        self._keep(generation, now, {("eventtype", slug): event_type})
        return event_type

    def get_hosts(self, host_ids: Sequence[str]) -> list[Host]:
        """The hosts in the order asked; missing copies read by id in one parallel batch; NotFound names
        the first host that does not exist."""
        now = self._clock.now()
        found: dict[str, Host] = {}
        for host_id in host_ids:
            kept = self._fresh(("host", host_id), now, Host)
            if kept is not None:
                found[host_id] = kept
        missing = [h for h in dict.fromkeys(host_ids) if h not in found]
        if missing:
            generation = self._generation
            read = {h.id: h for h in self._repo.find_hosts(missing)}
            self._keep(generation, now, {("host", h): host for h, host in read.items()})
            found.update(read)
        for host_id in host_ids:
            if host_id not in found:
                raise NotFound("host", host_id)
        return [found[h] for h in host_ids]

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries = {}

    def _fresh(self, key: Hashable, now: datetime, kind: type[_V]) -> _V | None:
        entry = self._entries.get(key)
        if entry is None or not timedelta(0) <= now - entry[0] < self._ttl:
            return None
        value = entry[1]
        return value if isinstance(value, kind) else None

    def _keep(self, generation: int, read_at: datetime, values: dict[Hashable, object]) -> None:
        with self._lock:
            if generation != self._generation:  # this instance wrote config meanwhile: use once, keep none
                return
            if len(self._entries) + len(values) > self.MAX_ENTRIES:
                self._entries = {}
            for key, value in values.items():
                self._entries[key] = (read_at, value)


class ConfigService:
    def __init__(
        self,
        *,
        repository: ConfigRepository,
        rule_sets: RuleSetLookup,
        host_watcher: HostWatcher | None = None,
        directory: HostDirectoryCache | None = None,
        cache: ConfigCache | None = None,
    ) -> None:
        self._repo = repository
        self._rule_sets = rule_sets
        self._watcher = host_watcher
        self._directory = directory
        self._cache = cache

    def _written(self, *, host: bool) -> None:
        """Forget this instance's copies after one of its own config writes."""
        if host and self._directory is not None:
            self._directory.invalidate()
        if self._cache is not None:
            self._cache.invalidate()

    def put_host(self, host: Host) -> bool:
        created = self._repo.put_host(host)
        self._written(host=True)
        if self._watcher is not None:
            try:
                self._watcher.host_saved(host)
            except SchedulingError as exc:
                log.error("host %s saved; its Outlook subscription was not updated: %s", host.id, exc)
        return created

    def get_host(self, host_id: str) -> Host:
        return self._repo.get_host(host_id)

    def list_hosts(self) -> list[Host]:
        return sorted(self._repo.list_hosts(), key=lambda h: h.id)

    def delete_host(self, host_id: str) -> None:
        self._repo.delete_host(host_id)
        self._written(host=True)
        if self._watcher is not None:
            try:
                self._watcher.host_removed(host_id)
            except SchedulingError as exc:
                log.error("host %s deleted; its Outlook subscription was not removed: %s", host_id, exc)

    def put_event_type(self, event_type: EventType) -> bool:
        problems: list[FieldError] = []
        for index, host_id in enumerate(event_type.host_ids):
            try:
                self._repo.get_host(host_id)
            except NotFound:
                problems.append(FieldError(field=f"hostIds.{index}", message=f"unknown host '{host_id}'"))
        if event_type.routing_rule_set is not None and not self._rule_sets.has_rule_set(
            event_type.routing_rule_set
        ):
            problems.append(
                FieldError(
                    field="routingRuleSet",
                    message=f"unknown routing rule set '{event_type.routing_rule_set}'",
                )
            )
        if problems:
            raise InvalidRequest("The event type refers to things that do not exist.", tuple(problems))
        created = self._repo.put_event_type(event_type)
        self._written(host=False)
        return created

    def get_event_type(self, slug: str) -> EventType:
        return self._repo.get_event_type(slug)

    def list_event_types(self) -> list[EventType]:
        return sorted(self._repo.list_event_types(), key=lambda e: e.slug)

    def delete_event_type(self, slug: str) -> None:
        self._repo.delete_event_type(slug)
        self._written(host=False)
