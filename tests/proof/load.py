"""The load: N concurrent clients listing slots and booking against the local host over HTTP.

Each client loops until the deadline (and at most `max_ops` times): pick an event type, list one day of
its slots, book one of them (or, with `hot_share`, one of a few fixed instants every client fights
over; every client's first booking is one of those, so races start at once), and sometimes replay
the same `Idempotency-Key`, cancel, or reschedule. Every request's latency and status is kept; an
answer outside the expected set is recorded as unexpected with its body.

Every booking request carries its `Idempotency-Key` in `metadata.proofKey` as well, so what reached
storage can be traced back to the request that made it (at most one booking per key, ever).
A request that gets no answer (the host died) is retried with the same key and body, so the suites can
check that retries across a crash converge on one booking.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.proof.stack import API_KEY
from tests.proof.tenant import WINDOW_DAYS

OPS = ("slots", "book", "replay", "cancel", "reschedule")


@dataclass(frozen=True)
class LoadProfile:
    clients: int
    seconds: float
    hot_share: float = 0.2
    replay_share: float = 0.05
    cancel_share: float = 0.06
    reschedule_share: float = 0.06
    max_ops: int = 100_000  # per client; the deadline normally ends the loop first
    #: statuses that are acceptable besides the contract's normal answers (503 under upstream faults)
    tolerated: frozenset[int] = frozenset()
    #: retry requests that got no answer (the restart suite kills the host)
    retry_unanswered_for: float = 0.0
    seed: int = 8


@dataclass
class Booked:
    id: str
    key: str
    body: dict[str, Any]
    answer: dict[str, Any]
    answered_at: float
    replayed: bool = False


@dataclass
class LoadResult:
    profile: LoadProfile
    elapsed: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    booked: dict[str, Booked] = field(default_factory=dict)
    #: keys of booking requests that never got an answer (or only idempotency-in-progress) in time
    in_doubt: dict[str, dict[str, Any]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    unanswered: int = 0  # transport failures (connection refused/reset) seen, all retried

    def percentiles(self, op: str) -> tuple[float, float, float]:
        values = sorted(self.latencies.get(op, []))
        if not values:
            return (0.0, 0.0, 0.0)

        def at(q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))] * 1000

        return at(0.50), at(0.95), at(0.99)

    def summary(self, title: str) -> str:
        p = self.profile
        lines = [
            f"{title}: {p.clients} clients for {p.seconds:g} s (ran {self.elapsed:.1f} s)",
            f"  {'operation':<11}{'count':>7}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses",
        ]
        for op in OPS:
            count = len(self.latencies.get(op, []))
            if not count:
                continue
            p50, p95, p99 = self.percentiles(op)
            statuses = ", ".join(
                f"{status}x{n}" for (o, status), n in sorted(self.statuses.items()) if o == op
            )
            lines.append(
                f"  {op:<11}{count:>7}{count / max(self.elapsed, 1e-9):>8.1f}"
                f"{p50:>9.0f}{p95:>9.0f}{p99:>9.0f}  {statuses}"
            )
        lines.append(
            f"  bookings made: {len(self.booked)}; in doubt: {len(self.in_doubt)}; "
            f"unanswered requests retried: {self.unanswered}; unexpected answers: {len(self.unexpected)}"
        )
        return "\n".join(lines)


EXPECTED = {
    "slots": {200},
    "book": {201, 409},
    "replay": {201},
    "cancel": {200},
    "reschedule": {200, 409},
}


class Unanswered(Exception):
    pass


class LoadRun:
    def __init__(
        self,
        api: str,
        slugs: list[str],
        profile: LoadProfile,
        on_booked: Callable[[LoadResult], None] | None = None,
    ) -> None:
        self.on_booked = on_booked
        self.api = api
        self.slugs = slugs
        self.profile = profile
        self.result = LoadResult(profile)
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        self.first_day = tomorrow
        # The fought-over instants: hosts 0 and 1 (solo-0, solo-1 and the collective pair-0) at once.
        self.hot = [
            (slug, datetime(tomorrow.year, tomorrow.month, tomorrow.day, hour, tzinfo=UTC).isoformat())
            for slug in ("solo-0", "solo-1", "pair-0")
            for hour in (9, 10)
        ]

    async def run(self) -> LoadResult:
        limits = httpx.Limits(
            max_connections=self.profile.clients, max_keepalive_connections=self.profile.clients
        )
        started = time.monotonic()
        deadline = started + self.profile.seconds
        async with httpx.AsyncClient(
            base_url=self.api, headers={"x-functions-key": API_KEY}, timeout=120, limits=limits
        ) as http:
            await asyncio.gather(*(self._client(http, i, deadline) for i in range(self.profile.clients)))
        self.result.elapsed = time.monotonic() - started
        return self.result

    # -- one client -----------------------------------------------------------------------------------

    async def _client(self, http: httpx.AsyncClient, index: int, deadline: float) -> None:
        rng = random.Random(self.profile.seed * 100_003 + index)
        for op in range(self.profile.max_ops):
            if time.monotonic() >= deadline:
                return
            # Every client opens with a fought-over instant, so races happen at once, whatever the length.
            opening = self.hot[index % len(self.hot)] if op == 0 else None
            try:
                await self._one(http, rng, opening)
            except Unanswered:
                continue

    async def _one(self, http: httpx.AsyncClient, rng: random.Random, hot: tuple[str, str] | None) -> None:
        slots: list[dict[str, Any]] = []
        if hot is not None:
            slug, start = hot
        elif rng.random() < self.profile.hot_share:
            slug, start = rng.choice(self.hot)
        else:
            slug = rng.choice(self.slugs)
            day = self.first_day + timedelta(days=rng.randrange(WINDOW_DAYS - 2))
            answer = await self._call(http, "slots", "GET", "/slots", params=self._day(slug, day))
            if answer.status_code != 200:
                return
            slots = answer.json()["slots"]
            if not slots:
                return
            start = rng.choice(slots)["start"]
        key = uuid.uuid4().hex
        body = {
            "eventType": slug,
            "start": start,
            "timeZone": "UTC",
            "invitee": {"name": "Load Client", "email": f"load-{key[:8]}@fabrikam.com"},
            "metadata": {"proofKey": key},
        }
        answer = await self._book(http, key, body)
        if answer is None or answer.status_code != 201:
            return
        booking = answer.json()
        booked = Booked(
            booking["id"],
            key,
            body,
            booking,
            time.monotonic(),
            answer.headers.get("Idempotent-Replayed") == "true",
        )
        self.result.booked[booking["id"]] = booked
        if self.on_booked is not None:
            self.on_booked(self.result)
        roll = rng.random()
        if roll < self.profile.replay_share:
            replay = await self._call(
                http, "replay", "POST", "/bookings", json=body, headers={"Idempotency-Key": key}
            )
            if replay.status_code == 201 and (
                replay.json()["id"] != booking["id"] or replay.headers.get("Idempotent-Replayed") != "true"
            ):
                self.result.unexpected.append(f"replay of {key} answered {replay.text[:300]}")
        elif roll < self.profile.replay_share + self.profile.cancel_share:
            await self._call(
                http, "cancel", "POST", f"/bookings/{booking['id']}/cancel", json={"reason": "load"}
            )
        elif roll < self.profile.replay_share + self.profile.cancel_share + self.profile.reschedule_share:
            others = [s["start"] for s in slots if s["start"] != start]
            if others:
                await self._call(
                    http,
                    "reschedule",
                    "POST",
                    f"/bookings/{booking['id']}/reschedule",
                    json={"start": rng.choice(others)},
                )

    async def _book(self, http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> httpx.Response | None:
        """POST /bookings; retried with the same key while unanswered or in progress (restart suite)."""
        give_up = time.monotonic() + self.profile.retry_unanswered_for
        while True:
            try:
                answer = await self._call(
                    http, "book", "POST", "/bookings", json=body, headers={"Idempotency-Key": key}
                )
            except Unanswered:
                if time.monotonic() >= give_up:
                    self.result.in_doubt[key] = body
                    return None
                await asyncio.sleep(0.05)  # pacing between retries while the host is down
                continue
            in_progress = answer.status_code == 409 and answer.json().get("code") == "idempotency-in-progress"
            if in_progress and self.profile.retry_unanswered_for:
                # The claim a killed host left behind: its answer is unknown until the claim goes stale.
                self.result.in_doubt[key] = body
                return None
            return answer

    async def _call(
        self, http: httpx.AsyncClient, op: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        started = time.monotonic()
        try:
            answer = await http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.result.unanswered += 1
            if not self.profile.retry_unanswered_for:
                self.result.unexpected.append(f"{op} {method} {path}: no answer ({type(exc).__name__})")
            raise Unanswered from exc
        self.result.latencies[op].append(time.monotonic() - started)
        self.result.statuses[(op, answer.status_code)] += 1
        if answer.status_code not in EXPECTED[op] | self.profile.tolerated:
            self.result.unexpected.append(f"{op} {method} {path}: {answer.status_code} {answer.text[:300]}")
        elif answer.status_code >= 400 and not answer.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            self.result.unexpected.append(f"{op} {method} {path}: {answer.status_code} without problem+json")
        return answer

    @staticmethod
    def _day(slug: str, day: date) -> dict[str, str]:
        return {"eventType": slug, "start": day.isoformat(), "end": day.isoformat(), "timeZone": "UTC"}


def run_load(
    api: str,
    slugs: list[str],
    profile: LoadProfile,
    on_booked: Callable[[LoadResult], None] | None = None,
) -> LoadResult:
    return asyncio.run(LoadRun(api, slugs, profile, on_booked).run())
