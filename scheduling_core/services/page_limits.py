"""The booking page's abuse limits: their settings, the shared store they are counted in, and the
per-process memos that only ever save a storage round trip (never decide a limit on their own).

Invariant: every limit is decided on shared storage (`LimitStore`, Table storage in Azure), so it holds
across instances; the memos hold derived figures (a slot count) or decisions already taken there.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

#: How long an instance reuses its count of an event type's bookable slots (the held-share base).
CAPACITY_TTL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True, kw_only=True)
class PageLimits:
    """api.md "Booking page abuse limits"; each an app setting (README, Configuration)."""

    max_holds_per_client: int = 2
    requests_per_minute: int = 120
    max_held_share: float = 0.2
    max_bookings_per_email_per_day: int = 3


class LimitStore(Protocol):
    """Counters and seat pools shared by every instance (adapters.page_limits_table)."""

    def count(self, name: str, window: str, delta: int = 1) -> int: ...
    def claim(
        self, pool: str, capacity: int, holder: str, expires_at: datetime, now: datetime
    ) -> datetime | None: ...
    def release(self, pool: str, holder: str) -> None: ...
    def live(self, pool: str, now: datetime) -> int: ...


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def client_pool(client: str) -> str:
    return f"holds|client|{digest(client)}"


def share_pool(slug: str) -> str:
    return f"holds|share|{slug}"


class _Capacities:
    """Per-process memo of each event type's bookable-slot count (a derived figure, not a limit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], tuple[datetime, int]] = {}

    def get(self, key: tuple[str, str], now: datetime) -> int | None:
        with self._lock:
            found = self._values.get(key)
        if found is None or now - found[0] >= CAPACITY_TTL or now < found[0]:
            return None
        return found[1]

    def put(self, key: tuple[str, str], now: datetime, value: int) -> None:
        with self._lock:
            self._values[key] = (now, value)


capacities = _Capacities()


class _Refused:
    """Per-process memo of clients already over their rate until the minute ends: their further requests
    are refused without a storage round trip (the decision itself was made on the shared counter)."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], datetime] = {}

    def until(self, key: tuple[str, str], now: datetime) -> datetime | None:
        with self._lock:
            found = self._until.get(key)
        return found if found is not None and now < found else None

    def add(self, key: tuple[str, str], until: datetime) -> None:
        with self._lock:
            if len(self._until) >= self.MAX_ENTRIES:
                self._until.clear()
            self._until[key] = until


refused = _Refused()
