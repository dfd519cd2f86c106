"""Properties of the availability engine over random hosts, calendars and event types.

Windows are drawn around DST transitions of several zones (Lord Howe shifts by
30 minutes; Santiago's gap and repeated hour sit at midnight). A plain reference
implementation of the slot rules, written with the `Interval` algebra and a loop
over every grid point, must agree with the engine exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling_core.domain.availability import (
    HostCalendar,
    PoolMode,
    host_slot_starts,
    pooled_slots,
    working_intervals,
)
from scheduling_core.domain.intervals import Interval, covers, merge, overlaps_any
from scheduling_core.domain.values import (
    WEEKDAYS,
    BusyItem,
    Commitment,
    DateOverride,
    EventType,
    Host,
    LocalTimeRange,
    ShowAs,
    WorkingHoursRule,
)

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
)
#: Dates near DST changes of those zones in 2027, and one quiet date.
BASE_DATES = (
    date(2027, 3, 14),
    date(2027, 3, 28),
    date(2027, 4, 4),
    date(2027, 9, 5),
    date(2027, 10, 3),
    date(2027, 10, 31),
    date(2027, 11, 7),
    date(2027, 6, 14),
)
MINUTE = timedelta(minutes=1)
PROPERTIES = settings(max_examples=150, deadline=None)


def midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@st.composite
def local_ranges(draw: st.DrawFn) -> LocalTimeRange:
    start = draw(st.integers(0, 95)) * 15
    end = draw(st.integers(start // 15 + 1, 96)) * 15
    return LocalTimeRange(start_minute=start, end_minute=end)


@st.composite
def hosts(draw: st.DrawFn, base: date, host_id: str = "h") -> Host:
    rules = draw(
        st.lists(
            st.builds(
                lambda days, hours: WorkingHoursRule(days=frozenset(days), hours=hours),
                st.sets(st.sampled_from(WEEKDAYS), min_size=1),
                local_ranges(),
            ),
            min_size=1,
            max_size=3,
        )
    )
    overrides = draw(
        st.lists(
            st.builds(
                lambda offset, ranges: DateOverride(
                    date=base + timedelta(days=offset), intervals=tuple(ranges)
                ),
                st.integers(-2, 3),
                st.lists(local_ranges(), max_size=2),
            ),
            max_size=2,
        )
    )
    return Host(
        id=host_id,
        email=f"{host_id}@contoso.com",
        display_name=host_id,
        time_zone=draw(st.sampled_from(ZONES)),
        working_hours=tuple(rules),
        date_overrides=tuple(overrides),
        max_meetings_per_day=draw(st.none() | st.integers(1, 3)),
    )


def spans_near(draw: st.DrawFn, anchor: datetime, max_minutes: int) -> tuple[datetime, datetime]:
    start = anchor + draw(st.integers(-288, 3 * 288)) * 5 * MINUTE
    return start, start + draw(st.integers(1, max_minutes // 5)) * 5 * MINUTE


@st.composite
def calendars(draw: st.DrawFn, base: date, anchor: datetime, host_id: str = "h") -> HostCalendar:
    busy = [
        BusyItem(
            start=start, end=end, show_as=draw(st.sampled_from(ShowAs)), is_cancelled=draw(st.booleans())
        )
        for start, end in (spans_near(draw, anchor, 240) for _ in range(draw(st.integers(0, 12))))
    ]
    commitments = [
        Commitment(
            start=start,
            end=end,
            event_type=draw(st.sampled_from(["call", "other"])),
            buffer_before=draw(st.integers(0, 6)) * 5 * MINUTE,
            buffer_after=draw(st.integers(0, 6)) * 5 * MINUTE,
            counts_toward_caps=draw(st.booleans()),
        )
        for start, end in (spans_near(draw, anchor, 120) for _ in range(draw(st.integers(0, 5))))
    ]
    return HostCalendar(host=draw(hosts(base, host_id)), busy=busy, commitments=commitments)


event_types = st.builds(
    EventType,
    slug=st.just("call"),
    title=st.just("Call"),
    duration_minutes=st.sampled_from([15, 30, 45, 60, 90]),
    slot_interval_minutes=st.sampled_from([None, 10, 15, 20, 30, 60]),
    buffer_before_minutes=st.sampled_from([0, 5, 10, 15]),
    buffer_after_minutes=st.sampled_from([0, 5, 10, 15]),
    minimum_notice_minutes=st.integers(0, 20).map(lambda n: n * 30),
    booking_window_days=st.none() | st.integers(1, 3),
    max_bookings_per_host_per_day=st.none() | st.integers(1, 2),
)


@st.composite
def scenarios(
    draw: st.DrawFn, pool_size: int = 1
) -> tuple[list[HostCalendar], EventType, Interval, datetime]:
    base = draw(st.sampled_from(BASE_DATES))
    start = midnight_utc(base) + draw(st.integers(-36, 36)) * 60 * MINUTE
    window = Interval(start, start + draw(st.integers(1, 96)) * 60 * MINUTE)
    pool = [draw(calendars(base, start, f"host-{i}")) for i in range(pool_size)]
    now = start - draw(st.integers(-4 * 4, 48 * 4)) * 15 * MINUTE  # mostly before the window
    return pool, draw(event_types), window, now


# --- the reference: the rules read literally --------------------------------------------------------


def blocking(calendar: HostCalendar) -> list[Interval]:
    items = [Interval(item.start, item.end) for item in calendar.busy if item.blocks]
    return items + [
        Interval(c.start, c.end).widen(c.buffer_before, c.buffer_after) for c in calendar.commitments
    ]


def reference_starts(
    calendar: HostCalendar, event_type: EventType, window: Interval, now: datetime
) -> list[datetime]:
    zone = ZoneInfo(calendar.host.time_zone)
    wide = Interval(window.start - timedelta(days=2), window.end + timedelta(days=2))
    ranges = working_intervals(calendar.host, wide)
    hours, blocked = merge(ranges), blocking(calendar)
    total: Counter[date] = Counter()
    of_type: Counter[date] = Counter()
    for c in calendar.commitments:
        if c.counts_toward_caps:
            total[c.start.astimezone(zone).date()] += 1
            of_type[c.start.astimezone(zone).date()] += c.event_type == event_type.slug
    host_cap, type_cap = calendar.host.max_meetings_per_day, event_type.max_bookings_per_host_per_day
    earliest = now + timedelta(minutes=event_type.minimum_notice_minutes)
    latest = (
        None
        if event_type.booking_window_days is None
        else now + timedelta(days=event_type.booking_window_days)
    )

    found: set[datetime] = set()
    for working in ranges:
        day = working.start.astimezone(zone).date()
        if (host_cap is not None and total[day] >= host_cap) or (
            type_cap is not None and of_type[day] >= type_cap
        ):
            continue
        start = working.start
        while start < working.end:
            meeting = Interval(start, start + event_type.duration)
            if (
                window.start <= start < window.end
                and earliest <= start
                and (latest is None or start <= latest)
                and covers(hours, meeting)
                and not overlaps_any(
                    blocked, meeting.widen(event_type.buffer_before, event_type.buffer_after)
                )
            ):
                found.add(start)
            start += event_type.slot_interval
    return sorted(found)


# --- properties ----------------------------------------------------------------------------------


@PROPERTIES
@given(scenarios())
def test_engine_agrees_with_the_literal_reading_of_the_rules(
    scenario: tuple[list[HostCalendar], EventType, Interval, datetime],
) -> None:
    [calendar], event_type, window, now = scenario
    assert host_slot_starts(calendar, event_type, window, now) == reference_starts(
        calendar, event_type, window, now
    )


@PROPERTIES
@given(scenarios())
def test_no_slot_overlaps_blocking_time_widened_by_buffers(
    scenario: tuple[list[HostCalendar], EventType, Interval, datetime],
) -> None:
    [calendar], event_type, window, now = scenario
    blocked = blocking(calendar)
    for start in host_slot_starts(calendar, event_type, window, now):
        meeting = Interval(start, start + event_type.duration)
        assert not overlaps_any(blocked, meeting.widen(event_type.buffer_before, event_type.buffer_after))


@PROPERTIES
@given(scenarios())
def test_every_slot_lies_in_working_hours_on_the_grid_inside_the_window(
    scenario: tuple[list[HostCalendar], EventType, Interval, datetime],
) -> None:
    [calendar], event_type, window, now = scenario
    starts = host_slot_starts(calendar, event_type, window, now)
    ranges = working_intervals(
        calendar.host, Interval(window.start - timedelta(days=1), window.end + timedelta(days=1))
    )
    assert starts == sorted(set(starts))
    for start in starts:
        assert window.start <= start < window.end
        assert start >= now + timedelta(minutes=event_type.minimum_notice_minutes)
        assert covers(ranges, Interval(start, start + event_type.duration))
        assert any(
            w.start <= start < w.end and (start - w.start) % event_type.slot_interval == timedelta(0)
            for w in ranges
        )


@PROPERTIES
@given(scenarios(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_the_order_of_busy_items_and_commitments(
    scenario: tuple[list[HostCalendar], EventType, Interval, datetime], rng: random.Random
) -> None:
    [calendar], event_type, window, now = scenario
    busy, commitments = list(calendar.busy), list(calendar.commitments)
    rng.shuffle(busy)
    rng.shuffle(commitments)
    shuffled = replace(calendar, busy=tuple(busy), commitments=tuple(commitments))
    assert host_slot_starts(shuffled, event_type, window, now) == host_slot_starts(
        calendar, event_type, window, now
    )


@PROPERTIES
@given(st.integers(1, 4).flatmap(scenarios))
def test_pooled_any_of_is_the_union_and_all_of_the_intersection_of_single_hosts(
    scenario: tuple[list[HostCalendar], EventType, Interval, datetime],
) -> None:
    pool, event_type, window, now = scenario
    free: dict[datetime, list[str]] = {}
    for calendar in pool:
        for start in host_slot_starts(calendar, event_type, window, now):
            free.setdefault(start, []).append(calendar.host.id)
    expected_any = [(start, tuple(sorted(free[start]))) for start in sorted(free)]
    expected_all = [(start, ids) for start, ids in expected_any if len(ids) == len(pool)]

    for mode, expected in ((PoolMode.ANY_OF, expected_any), (PoolMode.ALL_OF, expected_all)):
        slots = pooled_slots(list(reversed(pool)), event_type, window, now, mode)
        assert [(slot.start, slot.host_ids) for slot in slots] == expected
        assert all(slot.end - slot.start == event_type.duration for slot in slots)
