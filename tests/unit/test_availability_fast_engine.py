"""The fast engine (issue 17) gives exactly the previous engine's answers.

`bench/previous_engine.py` is the engine as it was before issue 17, kept verbatim. Random
pools, calendars and event types around DST changes are asked of both; then the same
Outlook items are asked again with another `now`, other commitments and another event
type, which is what the fast engine's memos see on a warm `GET /slots`.
"""

from __future__ import annotations

import importlib
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import previous_engine
from scheduling_core.domain import availability
from scheduling_core.domain.availability import HostCalendar, PoolMode, host_slot_starts, pooled_slots
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import (
    WEEKDAYS,
    BusyItem,
    Commitment,
    DateOverride,
    EventType,
    Host,
    LocalTimeRange,
    ShowAs,
    Slot,
    WorkingHoursRule,
)

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "UTC",
)
BASE_DATES = (date(2027, 3, 14), date(2027, 3, 28), date(2027, 4, 4), date(2027, 10, 31), date(2027, 11, 7))
#: Outlook items arrive in stdlib UTC from the Graph adapter, and in ZoneInfo UTC from elsewhere.
UTC_ZONES = (UTC, ZoneInfo("UTC"))
MINUTE = timedelta(minutes=1)
FAST = settings(max_examples=200, deadline=None)


@st.composite
def local_ranges(draw: st.DrawFn) -> LocalTimeRange:
    start = draw(st.integers(0, 1439))
    return LocalTimeRange(start_minute=start, end_minute=draw(st.integers(start + 1, 1440)))


@st.composite
def hosts(draw: st.DrawFn, base: date, host_id: str) -> Host:
    rules = draw(
        st.lists(
            st.builds(
                lambda days, hours: WorkingHoursRule(days=frozenset(days), hours=hours),
                st.sets(st.sampled_from(WEEKDAYS), min_size=1),
                local_ranges(),
            ),
            min_size=1,
            max_size=3,  # rules may overlap: the engine's unsorted path
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


def instant_near(draw: st.DrawFn, anchor: datetime) -> datetime:
    """Mostly whole minutes; sometimes seconds and microseconds, which Outlook items can carry."""
    seconds = draw(st.integers(-2 * 86400, 4 * 86400))
    if draw(st.booleans()):
        seconds -= seconds % 300
    micro = draw(st.sampled_from([0, 0, 0, 1, 999_999]))
    return (anchor + timedelta(seconds=seconds, microseconds=micro)).astimezone(
        draw(st.sampled_from(UTC_ZONES))
    )


@st.composite
def busy_items(draw: st.DrawFn, anchor: datetime) -> BusyItem:
    start = instant_near(draw, anchor)
    # Zero and negative lengths too: the engine must treat them as the previous one did.
    length = draw(st.sampled_from([-5, 0, 1, 15, 30, 60, 240, 1500]))
    return BusyItem(
        start=start,
        end=start + length * MINUTE,
        show_as=draw(st.sampled_from(ShowAs)),
        is_cancelled=draw(st.booleans()),
    )


@st.composite
def commitments(draw: st.DrawFn, anchor: datetime) -> Commitment:
    start = instant_near(draw, anchor)
    return Commitment(
        start=start,
        end=start + draw(st.sampled_from([0, 15, 30, 90])) * MINUTE,
        event_type=draw(st.sampled_from(["call", "other"])),
        buffer_before=draw(st.integers(0, 6)) * 5 * MINUTE,
        buffer_after=draw(st.integers(0, 6)) * 5 * MINUTE,
        counts_toward_caps=draw(st.booleans()),
    )


event_types = st.builds(
    EventType,
    slug=st.just("call"),
    title=st.just("Call"),
    duration_minutes=st.sampled_from([1, 15, 30, 45, 60, 90, 1440]),
    slot_interval_minutes=st.sampled_from([None, 1, 7, 10, 15, 30, 60]),
    buffer_before_minutes=st.sampled_from([0, 5, 15, 480]),
    buffer_after_minutes=st.sampled_from([0, 5, 15]),
    minimum_notice_minutes=st.integers(0, 20).map(lambda n: n * 30),
    booking_window_days=st.none() | st.integers(0, 3),
    max_bookings_per_host_per_day=st.none() | st.integers(1, 2),
)

Scenario = tuple[list[HostCalendar], EventType, Interval, datetime, PoolMode]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    base = draw(st.sampled_from(BASE_DATES))
    anchor = datetime(base.year, base.month, base.day, tzinfo=UTC) + draw(st.integers(-36, 36)) * 60 * MINUTE
    window = Interval(anchor, anchor + draw(st.integers(1, 96 * 60)) * MINUTE)
    size = draw(st.integers(1, 4))
    ids = [f"host-{draw(st.integers(0, size))}" for _ in range(size)]  # the same host may come twice
    pool = [
        HostCalendar(
            host=draw(hosts(base, host_id)),
            busy=draw(st.lists(busy_items(anchor), max_size=14)),
            commitments=draw(st.lists(commitments(anchor), max_size=5)),
        )
        for host_id in ids
    ]
    now = anchor - draw(st.integers(-16, 192)) * 15 * MINUTE + draw(st.integers(0, 59)) * timedelta(seconds=1)
    return pool, draw(event_types), window, now, draw(st.sampled_from(PoolMode))


@FAST
@given(scenarios())
def test_the_fast_engine_gives_the_previous_engines_slots(scenario: Scenario) -> None:
    pool, event_type, window, now, mode = scenario
    expected = previous_engine.pooled_slots(pool, event_type, window, now, mode)
    assert pooled_slots(pool, event_type, window, now, mode) == expected
    for calendar in pool:
        assert host_slot_starts(calendar, event_type, window, now) == previous_engine.host_slot_starts(
            calendar, event_type, window, now
        )


@FAST
@given(scenarios(), st.data())
def test_memoised_outlook_items_give_the_previous_engines_slots_for_any_later_request(
    scenario: Scenario, data: st.DataObject
) -> None:
    pool, event_type, window, now, mode = scenario
    pooled_slots(pool, event_type, window, now, mode)  # fills the memos with these very items
    # A later request over the same items: time has moved, commitments changed, maybe another type.
    later_now = now + data.draw(st.integers(0, 48 * 60)) * MINUTE
    later_type = data.draw(
        st.sampled_from([event_type])
        | event_types
        | st.builds(  # the same grid with other buffers: memos keyed by shape must tell them apart
            lambda before, after: replace(
                event_type, buffer_before_minutes=before, buffer_after_minutes=after
            ),
            st.sampled_from([0, 5, 15, 480]),
            st.sampled_from([0, 5, 15]),
        )
    )
    anchor = window.start
    later_pool = [
        HostCalendar(
            host=calendar.host,
            busy=calendar.busy,
            commitments=data.draw(st.lists(commitments(anchor), max_size=5)),
        )
        for calendar in pool
    ]
    expected = previous_engine.pooled_slots(later_pool, later_type, window, later_now, mode)
    assert pooled_slots(later_pool, later_type, window, later_now, mode) == expected


@FAST
@given(scenarios(), st.data())
def test_a_pools_answer_kept_for_the_same_inputs_is_cut_right_for_any_later_now(
    scenario: Scenario, data: st.DataObject
) -> None:
    """A warm `GET /slots`: the very hosts, items, commitments and event type again, only `now` moved
    (notice and booking window narrow the kept whole-window answer)."""
    pool, event_type, window, now, mode = scenario
    pooled_slots(pool, event_type, window, now, mode)  # keeps the pool's answer
    later_now = now + data.draw(st.integers(0, 62 * 24 * 60)) * MINUTE
    expected = previous_engine.pooled_slots(pool, event_type, window, later_now, mode)
    assert pooled_slots(pool, event_type, window, later_now, mode) == expected


def test_forgetting_the_memos_changes_no_answer() -> None:
    host = Host(
        id="h",
        email="h@contoso.com",
        display_name="h",
        time_zone="Europe/Berlin",
        working_hours=(
            WorkingHoursRule(
                days=frozenset({"mon", "tue"}), hours=LocalTimeRange(start_minute=540, end_minute=1020)
            ),
        ),
    )
    start = datetime(2027, 3, 29, 8, tzinfo=UTC)
    calendar = HostCalendar(
        host=host, busy=(BusyItem(start=start, end=start + 30 * MINUTE, show_as=ShowAs.BUSY),)
    )
    event_type = EventType(slug="call", title="Call", duration_minutes=30)
    window = Interval(datetime(2027, 3, 29, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC))
    now = datetime(2027, 3, 28, tzinfo=UTC)
    first = pooled_slots([calendar], event_type, window, now, PoolMode.ANY_OF)
    availability.clear_memos()
    again = pooled_slots([calendar], event_type, window, now, PoolMode.ANY_OF)
    assert first == again
    # 09:00-17:00 Berlin (UTC+2 after 28 March) is 07:00-15:00Z: 16 slots a day, less Monday's 08:00Z
    # (the item); 07:30Z ends as the item begins, which is no overlap.
    assert len(first) == 15 + 16
    assert [slot.start.hour * 60 + slot.start.minute for slot in first[:3]] == [
        7 * 60,
        7 * 60 + 30,
        8 * 60 + 30,
    ]


def test_kept_pool_answers_pin_no_more_hosts_than_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each kept answer pins its hosts' compiled items; the oldest answers go once the bound is reached."""
    availability.clear_memos()
    monkeypatch.setattr(availability, "_POOL_MEMO_HOSTS", 5)
    event_type = EventType(slug="call", title="Call", duration_minutes=30)
    window = Interval(datetime(2027, 3, 29, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC))
    now = datetime(2027, 3, 28, tzinfo=UTC)
    for index in range(6):  # pools of two hosts, new host objects each time: six distinct answers
        pool = [
            HostCalendar(
                host=Host(
                    id=f"h{index}-{n}",
                    email=f"h{n}@contoso.com",
                    display_name="h",
                    time_zone="Europe/Berlin",
                    working_hours=(
                        WorkingHoursRule(
                            days=frozenset({"mon"}), hours=LocalTimeRange(start_minute=540, end_minute=600)
                        ),
                    ),
                )
            )
            for n in range(2)
        ]
        assert len(pooled_slots(pool, event_type, window, now, PoolMode.ANY_OF)) == 2
    kept = list(availability._pool_memo.values())
    assert [len(entry.pins) // 2 for entry in kept] == [2, 2]  # the two newest; 4 hosts <= 5
    assert availability._pool_memo_hosts == 4
    availability.clear_memos()


@FAST
@given(scenarios())
def test_the_engine_from_empty_memos_gives_the_previous_engines_slots(scenario: Scenario) -> None:
    """The cold path (a fresh process, new Outlook items): no memo of an earlier example helps."""
    pool, event_type, window, now, mode = scenario
    availability.clear_memos()
    assert pooled_slots(pool, event_type, window, now, mode) == previous_engine.pooled_slots(
        pool, event_type, window, now, mode
    )


def _one_host_slots(busy: list[BusyItem], buffer_after_minutes: int = 0) -> list[int]:
    """Minutes after 09:00Z of the 30-minute slots of a 09:00-11:00 UTC host, from empty memos."""
    host = Host(
        id="h",
        email="h@contoso.com",
        display_name="h",
        time_zone="UTC",
        working_hours=(
            WorkingHoursRule(days=frozenset({"mon"}), hours=LocalTimeRange(start_minute=540, end_minute=660)),
        ),
    )
    event_type = EventType(
        slug="call", title="Call", duration_minutes=30, buffer_after_minutes=buffer_after_minutes
    )
    window = Interval(datetime(2027, 3, 29, tzinfo=UTC), datetime(2027, 3, 30, tzinfo=UTC))
    now = datetime(2027, 3, 28, tzinfo=UTC)
    calendar = HostCalendar(host=host, busy=tuple(busy))
    availability.clear_memos()
    slots = pooled_slots([calendar], event_type, window, now, PoolMode.ANY_OF)
    assert slots == previous_engine.pooled_slots([calendar], event_type, window, now, PoolMode.ANY_OF)
    nine = datetime(2027, 3, 29, 9, tzinfo=UTC)
    return [int((slot.start - nine) / MINUTE) for slot in slots]


@pytest.mark.parametrize("zone", UTC_ZONES)
def test_outlook_bounds_off_the_second_block_exactly_the_slots_they_touch(zone: ZoneInfo) -> None:
    """Items are compiled to whole seconds rounded outward; a microsecond either way still decides."""
    nine = datetime(2027, 3, 29, 9, tzinfo=UTC).astimezone(zone)
    micro = timedelta(microseconds=1)

    def item(start: datetime, end: datetime) -> BusyItem:
        return BusyItem(start=start, end=end, show_as=ShowAs.BUSY)

    assert _one_host_slots([]) == [0, 30, 60, 90]
    # Ends as the 09:30 meeting begins: no overlap; one microsecond later it overlaps.
    assert _one_host_slots([item(nine, nine + 30 * MINUTE)]) == [30, 60, 90]
    assert _one_host_slots([item(nine, nine + 30 * MINUTE + micro)]) == [60, 90]
    # Begins one microsecond before the 09:30 meeting ends: it overlaps; at its end, not.
    assert _one_host_slots([item(nine + 60 * MINUTE - micro, nine + 61 * MINUTE)]) == [0, 90]
    assert _one_host_slots([item(nine + 60 * MINUTE, nine + 61 * MINUTE)]) == [0, 30, 90]
    # A 10-minute buffer after: an item from 10:39:59.999999 holds the 10:00 meeting's buffer.
    assert _one_host_slots([item(nine + 100 * MINUTE - micro, nine + 101 * MINUTE)], 10) == [0, 30]
    assert _one_host_slots([item(nine + 100 * MINUTE, nine + 101 * MINUTE)], 10) == [0, 30, 60]
    # An empty item strictly inside a meeting still blocks it (the previous engine's rule 3).
    inside = nine + 45 * MINUTE + 500_000 * micro
    assert _one_host_slots([item(inside, inside)]) == [0, 60, 90]


def test_slots_are_built_like_slot_init() -> None:
    """`_slots` fills slots through their descriptors, skipping nothing `Slot.__init__` does."""
    assert "__post_init__" not in vars(Slot)
    start = datetime(2027, 3, 29, 9, tzinfo=UTC)
    ticks = availability._ticks(start)
    step = 15 * 60_000_000
    built = availability._slots([ticks, ticks + step], [("a",), ("a", "b")], 2 * step)
    expected = [
        Slot(start=start, end=start + 30 * MINUTE, host_ids=("a",)),
        Slot(start=start + 15 * MINUTE, end=start + 45 * MINUTE, host_ids=("a", "b")),
    ]
    assert built == expected
    assert [hash(slot) for slot in built] == [hash(slot) for slot in expected]
    with pytest.raises(FrozenInstanceError):
        built[0].host_ids = ()  # type: ignore[misc]


def test_no_zone_changes_its_offset_twice_within_48_hours() -> None:
    """`availability._steady_offsets` samples each zone's offset once a day and takes equal samples
    for no change in between: that holds only while no zone changes twice within a day (we check 48
    hours) in tzdata's explicit transitions, read here through the pure-Python `zoneinfo`."""
    pure_zone_info = importlib.import_module("zoneinfo._zoneinfo").ZoneInfo
    since_1900 = -2_208_988_800
    close = []
    for name in sorted(available_timezones()):
        transitions: list[int] = pure_zone_info.no_cache(name)._trans_utc
        close += [(name, a) for a, b in pairwise(transitions) if a >= since_1900 and b - a < 2 * 86_400]
    assert len(available_timezones()) > 400
    assert close == []
