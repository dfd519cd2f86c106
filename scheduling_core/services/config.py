"""Admin configuration: hosts and event types.

Invariants: a stored event type only names hosts and rule sets that existed when
it was stored (a later host deletion is reported when slots are asked for). Saving
or deleting a host tells the `HostWatcher` (Graph subscriptions) after the write;
its failure never fails the write (the maintenance timer catches up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from scheduling_core.clock import Clock
from scheduling_core.domain import EventType, Host
from scheduling_core.errors import FieldError, InvalidRequest, NotFound, SchedulingError
from scheduling_core.ports import ConfigRepository


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


class ConfigService:
    def __init__(
        self,
        *,
        repository: ConfigRepository,
        rule_sets: RuleSetLookup,
        host_watcher: HostWatcher | None = None,
        directory: HostDirectoryCache | None = None,
    ) -> None:
        self._repo = repository
        self._rule_sets = rule_sets
        self._watcher = host_watcher
        self._directory = directory

    def put_host(self, host: Host) -> bool:
        created = self._repo.put_host(host)
        if self._directory is not None:
            self._directory.invalidate()
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
        if self._directory is not None:
            self._directory.invalidate()
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
        return self._repo.put_event_type(event_type)

    def get_event_type(self, slug: str) -> EventType:
        return self._repo.get_event_type(slug)

    def list_event_types(self) -> list[EventType]:
        return sorted(self._repo.list_event_types(), key=lambda e: e.slug)

    def delete_event_type(self, slug: str) -> None:
        self._repo.delete_event_type(slug)
