"""`GET /health`: storage must answer; Graph and Dataverse reachability is reported, not required.

Invariants:
- `healthy` (the 200/503 decision) depends on storage alone: without Table storage nothing works,
  while an upstream outage only delays syncs (the outbox and Service Bus keep the work).
- `status` is `ok` when every check is `ok`, `degraded` when storage is fine but an upstream is not,
  and `unavailable` when storage is down.
- Hosts whose mailbox Graph cannot serve (a mailbox fault met by a sync or reconcile, see
  `outlook_calendar.MailboxUnavailable`) are named in `degraded_hosts` with the reason; any makes the
  status `degraded` (check `outlookMailboxes`), never unhealthy: other hosts are unaffected.
- An upstream probe is one cheap unauthenticated request with a short timeout; its answer is cached
  for `probe_ttl_seconds` and at most one probe per upstream is in flight, so health probes (load
  balancers, uptime checks) cannot hammer Graph or Dataverse, nor pile up behind a slow one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import httpx

from scheduling_core.errors import SchedulingError

OK: Final = "ok"
DEGRADED: Final = "degraded"
UNAVAILABLE: Final = "unavailable"
UNREACHABLE: Final = "unreachable"
UNKNOWN: Final = "unknown"
PROBE_TIMEOUT_SECONDS: Final = 2.0
PROBE_TTL_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    healthy: bool
    status: str
    checks: dict[str, str]
    degraded_hosts: dict[str, str] = field(default_factory=dict)


def reachable(url: str, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> str:
    """Any HTTP answer (even 401) proves the endpoint is reachable; only transport failures do not."""
    try:
        httpx.get(url, timeout=timeout_seconds)
    except httpx.HTTPError:
        return UNREACHABLE
    return OK


class CachedProbe:
    """A probe whose answer is reused for `ttl_seconds`; while one call runs, others get the last answer."""

    def __init__(
        self,
        probe: Callable[[], str],
        *,
        ttl_seconds: float = PROBE_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._running = threading.Lock()
        self._answer: tuple[float, str] | None = None

    def __call__(self) -> str:
        cached = self._answer
        if cached is not None and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        if not self._running.acquire(blocking=False):
            return cached[1] if cached is not None else UNKNOWN
        try:
            try:
                value = self._probe()
            except Exception:
                value = UNREACHABLE
            self._answer = (self._monotonic(), value)
            return value
        finally:
            self._running.release()


class HealthService:
    def __init__(
        self,
        *,
        ping_storage: Callable[[], None],
        probes: dict[str, Callable[[], str]],
        mailbox_faults: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self._ping_storage = ping_storage
        self._probes = probes
        self._mailbox_faults = mailbox_faults

    def check(self) -> HealthReport:
        checks: dict[str, str] = {}
        try:
            self._ping_storage()
            checks["storage"] = OK
        except (SchedulingError, Exception):  # an auth refusal (4xx) is as fatal as an outage
            checks["storage"] = UNAVAILABLE
        for name, probe in self._probes.items():
            checks[name] = probe()
        degraded: dict[str, str] = {}
        if self._mailbox_faults is not None and checks["storage"] == OK:
            try:
                degraded = self._mailbox_faults()
            except Exception:
                degraded = {}
            checks["outlookMailboxes"] = DEGRADED if degraded else OK
        healthy = checks["storage"] == OK
        if not healthy:
            status = UNAVAILABLE
        elif all(value == OK for value in checks.values()):
            status = OK
        else:
            status = DEGRADED
        return HealthReport(healthy=healthy, status=status, checks=checks, degraded_hosts=degraded)
