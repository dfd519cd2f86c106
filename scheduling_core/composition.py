"""The composition root: adapters built from settings and wired into services, once per process.

Function invocations share one `Services` (HTTP connection pools, the free/busy
cache); tests call `reset_services()` after changing the environment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from scheduling_core.adapters.credentials import token_provider_from_settings
from scheduling_core.adapters.graph import CachedBusyTimes, GraphClient
from scheduling_core.adapters.tables import TableConfigRepository, Tables, table_service_from_settings
from scheduling_core.clock import Clock, SystemClock
from scheduling_core.services.config import ConfigService
from scheduling_core.services.health import HealthService, reachable
from scheduling_core.services.slots import SlotService
from scheduling_core.settings import Settings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    clock: Clock
    tables: Tables
    graph: GraphClient
    busy_times: CachedBusyTimes
    config: ConfigService
    slots: SlotService
    health: HealthService

    def close(self) -> None:
        self.graph.close()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    tables = Tables(table_service_from_settings(settings), settings.table_prefix)
    repository = TableConfigRepository(tables)
    graph = GraphClient(
        base_url=settings.graph_base_url,
        tokens=token_provider_from_settings(
            static_token=settings.graph_static_token,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=GRAPH_SCOPE,
        ),
        timeout_seconds=settings.graph_timeout_seconds,
    )
    busy_times = CachedBusyTimes(graph, ttl_seconds=settings.busy_cache_ttl_seconds, clock=clock)
    return Services(
        settings=settings,
        clock=clock,
        tables=tables,
        graph=graph,
        busy_times=busy_times,
        config=ConfigService(repository=repository, rule_sets=repository),
        slots=SlotService(config=repository, busy=busy_times, clock=clock),
        health=HealthService(
            ping_storage=tables.ping, probes={"graph": lambda: reachable(settings.graph_base_url)}
        ),
    )


_lock = threading.Lock()
_current: Services | None = None


def services() -> Services:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = build_services(Settings.from_env())
    return _current


def install_services(value: Services | None) -> None:
    """Replace the services (tests inject a clock this way); `None` rebuilds from the environment."""
    global _current
    with _lock:
        if _current is not None and _current is not value:
            _current.close()
        _current = value


def reset_services() -> None:
    install_services(None)
