"""Benchmark of `availability.pooled_slots` against the previous engine and a naive minute scan.

    PYTHONPATH=. .venv/bin/python bench/slots.py [--quick] [--runs N]

Seeded random data: hosts spread over a few zones (the 30 days cross both the US
and the EU spring-forward), 15-minute grid, 30-minute meetings with buffers, 10
Outlook items per host per working day (some `free`, some cancelled) and a few
bookings and holds. The naive scan marks every minute of the window as working
or blocked and tests every minute as a start; its slots must equal the engine's.
The previous engine (`bench/previous_engine.py`, before issue 17) runs interleaved
with the current one in the same process, so their ratio is fair on a busy machine.

Cold runs empty every memo first. The engine-only cold run hands each engine its own freshly built
items (the previous engine the datetime-based `PreviousBusyItem`). The cold run "from Graph's answers"
starts both sides from the same getSchedule `scheduleInformation` JSON, validated into pydantic models
before the clock starts (that validation is identical for both and printed apart), and times the
adapter's conversion plus the engine: `graph.free_busy_of` + `pooled_slots` against the conversion
before round 2 (`previous_engine.PreviousMerged`, `parse_graph_datetime`) + the previous engine.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from bench import previous_engine
from bench.previous_engine import PreviousGetScheduleResponse, PreviousScheduleInformation
from scheduling_core.adapters.graph import free_busy_of
from scheduling_core.adapters.graph_models import (
    GET_SCHEDULE_ANSWER,
    ScheduleInformationWire,
    clear_parse_memos,
    format_graph_datetime,
)
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


def make_calendar(
    rng: random.Random, host: Host, window: Interval, items_per_day: int, item: type[Any] = BusyItem
) -> HostCalendar:
    busy: list[Any] = []
    commitments: list[Commitment] = []
    for hours in working_intervals(host, window):
        minutes = int(hours.duration / MINUTE)
        per_range = max(1, items_per_day // len(host.working_hours))
        for _ in range(per_range):
            start = hours.start + rng.randrange(-30, minutes, 5) * MINUTE
            busy.append(
                item(
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
    hosts: int, days: int, seed: int = 20270301, item: type[Any] = BusyItem
) -> tuple[list[HostCalendar], EventType, Interval, datetime]:
    """The pool; `item` is the class of its Outlook items (`previous_engine.PreviousBusyItem` for the
    previous engine, whose items held datetimes)."""
    rng = random.Random(seed)
    window = Interval(
        datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC) + timedelta(days=days)
    )
    calendars = [make_calendar(rng, make_host(rng, i), window, 10, item) for i in range(hosts)]
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


# --- Graph's answers --------------------------------------------------------------------------------


def graph_answers(calendars: Sequence[HostCalendar]) -> list[dict[str, Any]]:
    """Each host's items as getSchedule's `scheduleInformation` JSON (UTC wall times with seven
    fractional digits, as Graph sends them when asked for UTC). A cancelled item is left out: getSchedule
    lists none (and none blocks), so the slots are the same."""
    answers = []
    for calendar in calendars:
        items = sorted((b for b in calendar.busy if not b.is_cancelled), key=lambda b: (b.start, b.end))
        answers.append(
            {
                "scheduleId": calendar.host.email,
                "scheduleItems": [
                    {
                        "status": b.show_as.value,
                        "start": {"dateTime": format_graph_datetime(b.start), "timeZone": "UTC"},
                        "end": {"dateTime": format_graph_datetime(b.end), "timeZone": "UTC"},
                    }
                    for b in items
                ],
            }
        )
    return answers


def wire(answers: list[dict[str, Any]]) -> bytes:
    """getSchedule's answer for the whole pool as Graph sends it (one body: the CPU work per item is the
    same whether Graph's 20-schedule chunks split it or not)."""
    return json.dumps({"value": answers}).encode()


#: What the adapter's conversion starts from: each host's validated `scheduleInformation` (typed dicts on
#: the current side, the models of `previous_engine` on the previous side), the hosts and commitments
#: (from the same seed), and the rest of the ask.
FromGraph = tuple[list[Any], list[HostCalendar], EventType, Interval, datetime]
#: The same, but from getSchedule's JSON bytes: validation is timed too.
FromWire = tuple[bytes, list[HostCalendar], EventType, Interval, datetime]


def current_from_graph(given: FromGraph) -> list[Slot]:
    """The current side: the adapter's conversion (`dateTime` strings straight to integer microseconds,
    `BusyItem`s, de-duplicated and sorted on ints), then the engine."""
    infos, skeletons, event_type, window, now = given
    calendars = [
        HostCalendar(host=c.host, busy=free_busy_of([info]).items, commitments=c.commitments)
        for info, c in zip(infos, skeletons, strict=True)
    ]
    return pooled_slots(calendars, event_type, window, now, PoolMode.ANY_OF)


def previous_from_graph(given: FromGraph) -> list[Slot]:
    """The previous side: the adapter's conversion before round 2 (`parse_graph_datetime` to aware
    datetimes, datetime `BusyItem`s, sorted by datetime), then the previous engine."""
    infos, skeletons, event_type, window, now = given
    calendars = []
    for info, c in zip(infos, skeletons, strict=True):
        merged = previous_engine.PreviousMerged()
        merged.add(info)
        busy = cast(tuple[BusyItem, ...], merged.result())  # duck-typed: the previous engine reads datetimes
        calendars.append(HostCalendar(host=c.host, busy=busy, commitments=c.commitments))
    return previous_engine.pooled_slots(calendars, event_type, window, now, PoolMode.ANY_OF)


def current_from_wire(given: FromWire) -> list[Slot]:
    """The current side from the bytes: `GET_SCHEDULE_ANSWER.validate_json` (typed dicts, in Rust), then
    as `current_from_graph`."""
    body, *rest = given
    return current_from_graph((GET_SCHEDULE_ANSWER.validate_json(body)["value"], *rest))


def previous_from_wire(given: FromWire) -> list[Slot]:
    """The previous side from the bytes, as the adapter read them before issue 17: `response.json()`, then
    `GetScheduleResponse.model_validate` into models (`previous_engine.PreviousGetScheduleResponse`), then
    as `previous_from_graph`."""
    body, *rest = given
    return previous_from_graph((PreviousGetScheduleResponse.model_validate(json.loads(body)).value, *rest))


def validated(name: str, answers: list[dict[str, Any]]) -> list[Any]:
    """Each side's validated answers: typed dicts (current) or the models before issue 17 (previous)."""
    if name == "current":
        return [SCHEDULE_INFORMATION.validate_python(answer) for answer in answers]
    return [PreviousScheduleInformation.model_validate(answer) for answer in answers]


def fresh_from_graph(
    hosts: int, days: int, prepare: Callable[[str, list[dict[str, Any]]], Any]
) -> Callable[[str], Any]:
    """Graph's answers as a fresh process would get them: JSON built anew and handed to side `name` as
    `prepare(name, answers)` gives it (validated, or as bytes; untimed), hosts and commitments built
    anew, every memo emptied, garbage collected."""

    def make(name: str) -> Any:
        calendars, event_type, window, now = build(hosts, days)
        given = prepare(name, graph_answers(calendars))
        skeletons = [replace(c, busy=()) for c in calendars]
        forget_everything()
        gc.collect()
        return given, skeletons, event_type, window, now

    return make


# --- main ----------------------------------------------------------------------------------------


Inputs = tuple[list[HostCalendar], EventType, Interval, datetime]


def timed_interleaved(
    engines: Mapping[str, Callable[[Any], list[Slot]]],
    runs: int,
    inputs: Callable[[str], Any],
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Milliseconds per call of each engine, taking turns run by run.

    The machine is shared: alternating the engines within one process exposes them to the same load,
    so their ratio holds even when the absolute figures drift. `inputs(name)` runs (untimed) before each
    call and gives engine `name` its inputs. `clock` is wall time, or `time.process_time` for the CPU time
    of this process alone (what other processes on a loaded machine do not inflate).
    """
    timings: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(runs):
        for name, engine in engines.items():
            given = inputs(name)
            began = clock()
            engine(given)
            timings[name].append((clock() - began) * 1000)
    return timings


#: One `scheduleInformation` validated alone (the benchmark's untimed preparation).
SCHEDULE_INFORMATION: TypeAdapter[ScheduleInformationWire] = TypeAdapter(ScheduleInformationWire)


def forget_everything() -> None:
    """Empty every memo of both engines and of the Graph adapter's parsing, as in a fresh process."""
    availability.clear_memos()
    previous_engine._local_ticks.cache_clear()
    clear_parse_memos()


ITEM_CLASS: dict[str, type[Any]] = {"previous": previous_engine.PreviousBusyItem, "current": BusyItem}


def fresh_inputs(hosts: int, days: int) -> Callable[[str], Inputs]:
    """Inputs as a fresh process (or new Outlook items) would see them: every object built anew (the same
    seed, so equal values; each engine gets its own `BusyItem` class), every memo emptied, garbage
    collected beforehand so that neither engine pays for the build's garbage."""

    def make(name: str) -> Inputs:
        given = build(hosts, days, item=ITEM_CLASS[name])
        forget_everything()
        gc.collect()
        return given

    return make


def medians(timings: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(t) for name, t in timings.items()}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 hosts x 7 days, 3 runs (a smoke test)")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    hosts, days, runs = (5, 7, 3) if args.quick else (50, 30, 21)
    runs = args.runs or runs

    data = build(hosts, days)
    previous_data = build(hosts, days, item=previous_engine.PreviousBusyItem)
    calendars, event_type, window, now = data
    busy_items = sum(len(c.busy) for c in calendars)
    engines: dict[str, Callable[[Inputs], list[Slot]]] = {
        "previous": lambda given: previous_engine.pooled_slots(*given, PoolMode.ANY_OF),
        "current": lambda given: pooled_slots(*given, PoolMode.ANY_OF),
    }
    both = {"previous": previous_data, "current": data}
    slots = engines["current"](data)  # warm-up (imports, zone caches)
    if slots != engines["previous"](previous_data):
        print("MISMATCH: the engine and the previous engine disagree", file=sys.stderr)
        return 1
    cold_inputs = fresh_inputs(hosts, days)
    if engines["current"](cold_inputs("current")) != slots:
        print("MISMATCH: the engine from empty memos disagrees with itself warm", file=sys.stderr)
        return 1
    from_graph = fresh_from_graph(hosts, days, validated)
    sides: dict[str, Callable[[FromGraph], list[Slot]]] = {
        "previous": previous_from_graph,
        "current": current_from_graph,
    }
    from_wire = fresh_from_graph(hosts, days, lambda _, answers: wire(answers))
    wire_sides: dict[str, Callable[[FromWire], list[Slot]]] = {
        "previous": previous_from_wire,
        "current": current_from_wire,
    }
    for name in ("previous", "current"):
        if sides[name](from_graph(name)) != slots or wire_sides[name](from_wire(name)) != slots:
            print(f"MISMATCH: the {name} side's slots from Graph's answers differ", file=sys.stderr)
            return 1
    answers = graph_answers(calendars)
    graph_items = sum(len(a["scheduleItems"]) for a in answers)
    body = wire(answers)
    validators: dict[str, Callable[[bytes], object]] = {
        "previous": lambda raw: PreviousGetScheduleResponse.model_validate(json.loads(raw)),
        "current": GET_SCHEDULE_ANSWER.validate_json,
    }

    warm = medians(timed_interleaved(engines, runs, both.__getitem__))
    cold = medians(timed_interleaved(engines, runs, cold_inputs))
    cold_cpu = medians(timed_interleaved(engines, runs, cold_inputs, time.process_time))
    graph_cpu = medians(timed_interleaved(sides, runs, from_graph, time.process_time))
    wire_wall = medians(timed_interleaved(wire_sides, runs, from_wire))
    wire_cpu = medians(timed_interleaved(wire_sides, runs, from_wire, time.process_time))
    validation = medians(timed_interleaved(validators, runs, lambda _: body, time.process_time))

    began = time.perf_counter()
    baseline = naive_pooled_slots(calendars, event_type, window, now)
    naive = (time.perf_counter() - began) * 1000
    if slots != baseline:
        print("MISMATCH: the engine and the naive scan disagree", file=sys.stderr)
        return 1

    def versus(figures: dict[str, float]) -> str:
        ratio = figures["previous"] / figures["current"]
        return f"{figures['current']:.1f} ms vs {figures['previous']:.1f} ms, {ratio:.1f}x faster"

    print(f"hosts: {hosts}, days: {days}, busy items: {busy_items} (in Graph's answers: {graph_items})")
    print(f"slots found: {len(slots)} (host-slots: {sum(len(s.host_ids) for s in slots)})")
    print(f"medians over {runs} runs, current vs previous (bench/previous_engine.py) taking turns:")
    print(f"pooled_slots ANY_OF, warm (memos filled, the same inputs): {versus(warm)}")
    print(
        "  cold, engine only (empty memos, every input object built anew; each side its own BusyItems, "
        f"already built, untimed): wall {versus(cold)}; CPU {versus(cold_cpu)}"
    )
    print(
        "  cold from validated getSchedule answers (conversion + compute, every memo emptied): CPU "
        f"{versus(graph_cpu)}"
    )
    print(
        "  cold from getSchedule's JSON bytes (validation + conversion + compute, every memo emptied): "
        f"wall {versus(wire_wall)}; CPU {versus(wire_cpu)}"
    )
    print(f"    of which validation alone, CPU: {versus(validation)}")
    print(
        "    current side: GET_SCHEDULE_ANSWER.validate_json (typed dicts) + graph.free_busy_of "
        "(dateTime strings straight to integer microseconds) + pooled_slots"
    )
    print(
        "    previous side, as before issue 17: json.loads + GetScheduleResponse.model_validate (models) + "
        "the adapter's conversion (parse_graph_datetime to aware datetimes, sorted by datetime) + the "
        "previous engine"
    )
    print(f"target: median <= 12 ms: {'met' if warm['current'] <= 12 else 'MISSED'}")
    ratios = {
        "warm (wall)": warm["previous"] / warm["current"],
        "cold, engine only (CPU)": cold_cpu["previous"] / cold_cpu["current"],
        "cold, from getSchedule's JSON (CPU)": wire_cpu["previous"] / wire_cpu["current"],
    }
    for label, ratio in ratios.items():
        verdict = "met" if ratio >= 3 else "MISSED"
        print(f"target: >= 3x faster than before issue 17, {label}: {verdict} ({ratio:.1f}x)")
    print(f"naive minute-by-minute scan: {naive:.0f} ms, same slots: matched (previous engine: matched)")
    print(f"speed-up: {naive / warm['current']:.0f}x over the naive scan")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
