"""`GET /health`: storage must answer; Graph and Dataverse reachability is reported, not required."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from scheduling_core.errors import SchedulingError


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    healthy: bool
    checks: dict[str, str]


def reachable(url: str, timeout_seconds: float = 2.0) -> str:
    """Any HTTP answer (even 401) proves the endpoint is reachable; only transport failures do not."""
    try:
        httpx.get(url, timeout=timeout_seconds)
    except httpx.HTTPError:
        return "unreachable"
    return "ok"


class HealthService:
    def __init__(self, *, ping_storage: Callable[[], None], probes: dict[str, Callable[[], str]]) -> None:
        self._ping_storage = ping_storage
        self._probes = probes

    def check(self) -> HealthReport:
        checks: dict[str, str] = {}
        try:
            self._ping_storage()
            checks["storage"] = "ok"
        except SchedulingError:
            checks["storage"] = "unavailable"
        for name, probe in self._probes.items():
            checks[name] = probe()
        return HealthReport(healthy=checks["storage"] == "ok", checks=checks)
