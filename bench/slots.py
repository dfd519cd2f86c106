"""Benchmark of `availability.pooled_slots` against the previous engine and a naive minute scan.

    PYTHONPATH=. .venv/bin/python bench/slots.py [--quick] [--runs N]

Seeded random data: hosts spread over a few zones (the 30 days cross both the US
and the EU spring-forward), 15-minute grid, 30-minute meetings with buffers, 10
Outlook items per host per working day (some `free`, some cancelled) and a few
bookings and holds. The naive scan marks every minute of the window as working
or blocked and tests every minute as a start; its slots must equal the engine's.
The previous engine (`bench/previous_engine.py`, before issue 17) runs interleaved
with the current one in the same process, so their ratio is fair on a busy machine.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench import previous_engine
from scheduling_core.domain import availability
from scheduling_core.domain.availability import HostCalendar, PoolMode, pooled_slots, working_intervals
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import (
    BusyItem,
    Commitment,
    EventType,
    Host,
    LocalTimeRange,
    ShowAs,
    Slot,
    WorkingHoursRule,
)

ZONES = ("Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Kolkata", "Europe/London")
WEEKDAYS_MON_FRI = frozenset({"mon", "tue", "wed", "thu", "fri"})
SHOW_AS_WEIGHTS = {
    ShowAs.BUSY: 6,
    ShowAs.TENTATIVE: 1,
    ShowAs.OOF: 1,
    ShowAs.UNKNOWN: 1,
    ShowAs.FREE: 1,
    ShowAs.WORKING_ELSEWHERE: 1,
}
MINUTE = timedelta(minutes=1)


def hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def make_host(rng: random.Random, index: int) -> Host:
    if index % 3 == 0:  # a split day: alignment restarts after lunch
        ranges = [("08:30", "12:00"), ("13:00", "17:30")]
    else:
        ranges = [rng.choice([("09:00", "17:00"), ("08:00", "16:00"), ("10:00", "18:45")])]
    rules = tuple(
        WorkingHoursRule(
            days=WEEKDAYS_MON_FRI, hours=LocalTimeRange(start_minute=hhmm(a), end_minute=hhmm(b))
        )
        for a, b in ranges
    )
    return Host(
        id=f"host-{index:03d}",
        email=f"host{index}@contoso.com",
        display_name=f"Host {index}",
        time_zone=ZONES[index % len(ZONES)],
        working_hours=rules,
        max_meetings_per_day=rng.choice([None, None, 3]),
    )


def make_calendar(rng: random.Random, host: Host, window: Interval, items_per_day: int) -> HostCalendar:
    busy: list[BusyItem] = []
    commitments: list[Commitment] = []
    for hours in working_intervals(host, window):
        minutes = int(hours.duration / MINUTE)
        per_range = max(1, items_per_day // len(host.working_hours))
        for _ in range(per_range):
            start = hours.start + rng.randrange(-30, minutes, 5) * MINUTE
            busy.append(
                BusyItem(
                    start=start,
                    end=start + rng.choice([15, 30, 45, 60]) * MINUTE,
                    show_as=rng.choices(list(SHOW_AS_WEIGHTS), weights=list(SHOW_AS_WEIGHTS.values()))[0],
                    is_cancelled=rng.random() < 0.1,
                )
            )
        if rng.random() < 0.4:
            start = hours.start + rng.randrange(0, minutes, 15) * MINUTE
            commitments.append(
                Commitment(
                    start=start,
                    end=start + 30 * MINUTE,
                    event_type=rng.choice(["discovery-call", "demo"]),
                    buffer_before=rng.choice([0, 10]) * MINUTE,
                    buffer_after=rng.choice([0, 5, 15]) * MINUTE,
                    counts_toward_caps=rng.random() < 0.8,
                )
            )
    rng.shuffle(busy)
    return HostCalendar(host=host, busy=busy, commitments=commitments)


def build(
    hosts: int, days: int, seed: int = 20270301
) -> tuple[list[HostCalendar], EventType, Interval, datetime]:
    rng = random.Random(seed)
    window = Interval(
        datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC) + timedelta(days=days)
    )
    calendars = [make_calendar(rng, make_host(rng, i), window, 10) for i in range(hosts)]
    event_type = EventType(
        slug="discovery-call",
        title="Discovery call",
        duration_minutes=30,
        slot_interval_minutes=15,
        buffer_before_minutes=5,
        buffer_after_minutes=10,
        minimum_notice_minutes=4 * 60,
        booking_window_days=days - 2,
        max_bookings_per_host_per_day=2,
    )
    now = window.start + timedelta(hours=7, minutes=30)
    return calendars, event_type, window, now


# --- the naive baseline ------------------------------------------------------------------------------


def naive_host_starts(
    calendar: HostCalendar, event_type: EventType, window: Interval, now: datetime
) -> list[int]:
    """Minute offsets (from window.start) of valid starts, found by testing every minute.

    Shares only `working_intervals` (the DST mapping) with the engine; the grid, working
    hours, buffers, notice, booking window and caps are re-done on per-minute arrays.
    """
    zone = ZoneInfo(calendar.host.time_zone)
    duration, step = event_type.duration_minutes, int(event_type.slot_interval / MINUTE)
    before, after = event_type.buffer_before_minutes, event_type.buffer_after_minutes
    margin = 2 * 24 * 60  # minutes of context either side of the window
    origin = window.start - margin * MINUTE
    size = int(window.duration / MINUTE) + 2 * margin

    def index(instant: datetime) -> int:
        return int((instant - origin) / MINUTE)

    working = [False] * size
    aligned = [False] * size
    blocked = [False] * size
    wide = Interval(origin, origin + size * MINUTE)

    counts: dict[date, int] = {}
    of_type: dict[date, int] = {}
    for c in calendar.commitments:
        if c.counts_toward_caps:
            day = c.start.astimezone(zone).date()
            counts[day] = counts.get(day, 0) + 1
            if c.event_type == event_type.slug:
                of_type[day] = of_type.get(day, 0) + 1
    host_cap, type_cap = calendar.host.max_meetings_per_day, event_type.max_bookings_per_host_per_day

    for hours in working_intervals(calendar.host, wide):
        day = hours.start.astimezone(zone).date()
        full = (host_cap is not None and counts.get(day, 0) >= host_cap) or (
            type_cap is not None and of_type.get(day, 0) >= type_cap
        )
        for m in range(max(0, index(hours.start)), min(size, index(hours.end))):
            working[m] = True
            if not full and (m - index(hours.start)) % step == 0:
                aligned[m] = True
    blocking = [(b.start, b.end) for b in calendar.busy if b.blocks]
    blocking += [(c.start - c.buffer_before, c.end + c.buffer_after) for c in calendar.commitments]
    for start, end in blocking:
        for m in range(max(0, index(start)), min(size, index(end))):
            blocked[m] = True

    earliest = now + timedelta(minutes=event_type.minimum_notice_minutes)
    latest = now + timedelta(days=event_type.booking_window_days) if event_type.booking_window_days else None
    found = []
    for minute in range(margin, size - margin):
        if not aligned[minute]:
            continue
        at = origin + minute * MINUTE
        if at < earliest or (latest is not None and at > latest):
            continue
        if not all(working[minute : minute + duration]):
            continue
        if any(blocked[minute - before : minute + duration + after]):
            continue
        found.append(minute - margin)
    return found


def naive_pooled_slots(
    calendars: Sequence[HostCalendar], event_type: EventType, window: Interval, now: datetime
) -> list[Slot]:
    free_at: dict[int, list[str]] = {}
    for calendar in sorted(calendars, key=lambda c: c.host.id):
        for minute in naive_host_starts(calendar, event_type, window, now):
            free_at.setdefault(minute, []).append(calendar.host.id)
    return [
        Slot(
            start=window.start + minute * MINUTE,
            end=window.start + minute * MINUTE + event_type.duration,
            host_ids=tuple(free_at[minute]),
        )
        for minute in sorted(free_at)
    ]


# --- main ----------------------------------------------------------------------------------------


Inputs = tuple[list[HostCalendar], EventType, Interval, datetime]
Engine = Callable[[Inputs], list[Slot]]


def timed_interleaved(
    engines: dict[str, Engine],
    runs: int,
    inputs: Callable[[], Inputs],
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Milliseconds per call of each engine, taking turns run by run.

    The machine is shared: alternating the engines within one process exposes them to the same load,
    so their ratio holds even when the absolute figures drift. `inputs` runs (untimed) before each call
    and gives the call its inputs. `clock` is wall time, or `time.process_time` for the CPU time of this
    process alone (what other processes on a loaded machine do not inflate).
    """
    timings: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(runs):
        for name, engine in engines.items():
            given = inputs()
            began = clock()
            engine(given)
            timings[name].append((clock() - began) * 1000)
    return timings


def forget_everything() -> None:
    """Empty every memo of both engines, as in a fresh process."""
    availability.clear_memos()
    previous_engine._local_ticks.cache_clear()


def fresh_inputs(hosts: int, days: int) -> Callable[[], Inputs]:
    """Inputs as a fresh process (or new Outlook items) would see them: every object built anew (the same
    seed, so equal values), every memo of both engines emptied, garbage collected beforehand so that
    neither engine pays for the build's garbage."""

    def make() -> Inputs:
        given = build(hosts, days)
        forget_everything()
        gc.collect()
        return given

    return make


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 hosts x 7 days, 3 runs (a smoke test)")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    hosts, days, runs = (5, 7, 3) if args.quick else (50, 30, 21)
    runs = args.runs or runs

    data = build(hosts, days)
    calendars, event_type, window, now = data
    busy_items = sum(len(c.busy) for c in calendars)
    engines: dict[str, Engine] = {
        "previous": lambda given: previous_engine.pooled_slots(*given, PoolMode.ANY_OF),
        "current": lambda given: pooled_slots(*given, PoolMode.ANY_OF),
    }
    slots = engines["current"](data)  # warm-up (imports, zone caches)
    if slots != engines["previous"](data):
        print("MISMATCH: the engine and the previous engine disagree", file=sys.stderr)
        return 1
    cold_inputs = fresh_inputs(hosts, days)
    if engines["current"](cold_inputs()) != slots:
        print("MISMATCH: the engine from empty memos disagrees with itself warm", file=sys.stderr)
        return 1
    warm = {name: statistics.median(t) for name, t in timed_interleaved(engines, runs, lambda: data).items()}
    cold = {name: statistics.median(t) for name, t in timed_interleaved(engines, runs, cold_inputs).items()}
    cold_cpu = {
        name: statistics.median(t)
        for name, t in timed_interleaved(engines, runs, cold_inputs, time.process_time).items()
    }

    began = time.perf_counter()
    baseline = naive_pooled_slots(calendars, event_type, window, now)
    naive = (time.perf_counter() - began) * 1000
    if slots != baseline:
        print("MISMATCH: the engine and the naive scan disagree", file=sys.stderr)
        return 1

    print(f"hosts: {hosts}, days: {days}, busy items: {busy_items}")
    print(f"slots found: {len(slots)} (host-slots: {sum(len(s.host_ids) for s in slots)})")
    print(
        f"pooled_slots ANY_OF: median {warm['current']:.1f} ms over {runs} runs "
        f"(previous engine, same runs interleaved: {warm['previous']:.1f} ms, "
        f"{warm['previous'] / warm['current']:.1f}x faster)"
    )
    print(
        f"  cold (empty memos, freshly built inputs, as in a fresh process): median {cold['current']:.1f} ms "
        f"over {runs} runs (previous engine, same runs interleaved: {cold['previous']:.1f} ms, "
        f"{cold['previous'] / cold['current']:.1f}x faster)"
    )
    print(
        f"  cold, CPU time of this process: median {cold_cpu['current']:.1f} ms (previous engine: "
        f"{cold_cpu['previous']:.1f} ms, {cold_cpu['previous'] / cold_cpu['current']:.1f}x faster)"
    )
    print(f"target: median <= 12 ms: {'met' if warm['current'] <= 12 else 'MISSED'}")
    ratio = cold["previous"] / cold["current"]
    print(
        f"target: cold >= 3x faster than the previous engine: {'met' if ratio >= 3 else 'MISSED'} "
        f"({ratio:.1f}x)"
    )
    print(f"naive minute-by-minute scan: {naive:.0f} ms, same slots: matched (previous engine: matched)")
    print(f"speed-up: {naive / warm['current']:.0f}x over the naive scan")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
