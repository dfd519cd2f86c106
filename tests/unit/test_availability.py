"""Slot rules 1-5 (api.md "Slot rules (exact)") on ordinary days, one rule at a time.

Unless a test says otherwise the host works 09:00-12:00 Monday to Friday in
Berlin, meetings last 30 minutes on a 30-minute grid, and `now` is long past.
2027-06-14 is a Monday (CEST, UTC+2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduling_core.domain.availability import (
    HostCalendar,
    PoolMode,
    host_slot_starts,
    local_to_utc,
    pooled_slots,
    working_intervals,
)
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.timezones import iana_name, resolve_time_zone
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

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2027, 6, 14)
TUESDAY = MONDAY + timedelta(days=1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def hours(start: str, end: str) -> LocalTimeRange:
    return LocalTimeRange(start_minute=hm(start), end_minute=hm(end))


def make_host(
    zone: str = "Europe/Berlin",
    start: str = "09:00",
    end: str = "12:00",
    days: Sequence[str] = WORKDAYS,
    host_id: str = "ana",
    **extra: Any,
) -> Host:
    rule = WorkingHoursRule(days=frozenset(d for d in WEEKDAYS if d in days), hours=hours(start, end))
    return Host(
        id=host_id,
        email=f"{host_id}@contoso.com",
        display_name=host_id.title(),
        time_zone=zone,
        working_hours=(rule,),
        **extra,
    )


def make_event_type(duration: int = 30, **extra: Any) -> EventType:
    return EventType(slug="call", title="Call", duration_minutes=duration, **extra)


def at(day: date, clock: str, zone: ZoneInfo = BERLIN) -> datetime:
    """An aware UTC instant from a local wall time (never ambiguous in these tests)."""
    return datetime.combine(day, time.fromisoformat(clock), zone).astimezone(UTC)


def local_dates(first: date, last: date, zone: ZoneInfo = BERLIN) -> Interval:
    """The window that local dates `first`..`last` (inclusive) denote in `zone`."""
    return Interval(at(first, "00:00", zone), at(last + timedelta(days=1), "00:00", zone))


def wall(starts: Sequence[datetime], zone: ZoneInfo = BERLIN) -> list[str]:
    return [start.astimezone(zone).strftime("%a %H:%M") for start in starts]


def starts_of(
    calendar: HostCalendar | Host,
    event_type: EventType | None = None,
    window: Interval | None = None,
    now: datetime = LONG_AGO,
    zone: ZoneInfo = BERLIN,
) -> list[str]:
    if isinstance(calendar, Host):
        calendar = HostCalendar(host=calendar)
    found = host_slot_starts(
        calendar, event_type or make_event_type(), window or local_dates(MONDAY, MONDAY), now
    )
    return wall(found, zone)


def busy(start: str, end: str, show_as: ShowAs = ShowAs.BUSY, day: date = MONDAY, **extra: Any) -> BusyItem:
    return BusyItem(start=at(day, start), end=at(day, end), show_as=show_as, **extra)


def commitment(
    start: str, end: str, day: date = MONDAY, event_type: str = "call", **extra: Any
) -> Commitment:
    return Commitment(start=at(day, start), end=at(day, end), event_type=event_type, **extra)


ALL_MONDAY = ["Mon 09:00", "Mon 09:30", "Mon 10:00", "Mon 10:30", "Mon 11:00", "Mon 11:30"]


# --- rule 1 and 2: the grid and working hours ----------------------------------------------------


def test_a_free_day_yields_every_grid_point_whose_meeting_ends_by_closing_time() -> None:
    assert starts_of(make_host()) == ALL_MONDAY


def test_grid_is_anchored_at_the_start_of_working_hours_not_at_the_hour() -> None:
    host = make_host(start="09:10", end="10:30")
    assert starts_of(host, make_event_type(30, slot_interval_minutes=20)) == [
        "Mon 09:10",
        "Mon 09:30",
        "Mon 09:50",
    ]


def test_slot_interval_defaults_to_the_duration() -> None:
    assert starts_of(make_host(), make_event_type(45)) == ["Mon 09:00", "Mon 09:45", "Mon 10:30", "Mon 11:15"]


def test_each_working_range_anchors_its_own_grid() -> None:
    host = make_host(start="09:00", end="10:00")
    afternoon = WorkingHoursRule(days=frozenset(WORKDAYS), hours=hours("13:10", "14:00"))
    host = replace(host, working_hours=(*host.working_hours, afternoon))
    assert starts_of(host, make_event_type(20)) == [
        "Mon 09:00",
        "Mon 09:20",
        "Mon 09:40",
        "Mon 13:10",
        "Mon 13:30",
    ]


def test_overlapping_rules_do_not_duplicate_slots() -> None:
    host = make_host()
    host = replace(host, working_hours=host.working_hours * 2)
    assert starts_of(host) == ALL_MONDAY


def test_a_meeting_may_run_across_adjacent_working_ranges() -> None:
    """Rule 2 asks for the meeting to lie inside working hours as a whole, so 09-10 + 10-11 join up."""
    first = WorkingHoursRule(days=frozenset(WORKDAYS), hours=hours("09:00", "10:00"))
    second = WorkingHoursRule(days=frozenset(WORKDAYS), hours=hours("10:00", "11:00"))
    host = replace(make_host(), working_hours=(first, second))
    assert starts_of(host, make_event_type(50)) == ["Mon 09:00", "Mon 09:50", "Mon 10:00"]


def test_end_2400_means_the_next_midnight() -> None:
    host = make_host(start="22:00", end="24:00")
    assert starts_of(host) == ["Mon 22:00", "Mon 22:30", "Mon 23:00", "Mon 23:30"]
    assert working_intervals(host, local_dates(MONDAY, MONDAY)) == [
        Interval(at(MONDAY, "22:00"), at(TUESDAY, "00:00"))
    ]


def test_round_the_clock_hours_let_a_meeting_cross_midnight_and_restart_the_grid_each_day() -> None:
    host = make_host(start="00:00", end="24:00", days=WEEKDAYS)
    found = starts_of(host, make_event_type(60, slot_interval_minutes=45), local_dates(MONDAY, TUESDAY))
    assert len(found) == 2 * 32
    assert found[30:34] == ["Mon 22:30", "Mon 23:15", "Tue 00:00", "Tue 00:45"]


def test_no_working_hours_means_no_slots() -> None:
    assert starts_of(make_host(days=())) == []


# --- date overrides ------------------------------------------------------------------------------


def test_a_date_override_with_no_intervals_is_a_day_off() -> None:
    host = make_host(date_overrides=(DateOverride(date=MONDAY, intervals=()),))
    assert starts_of(host, window=local_dates(MONDAY, TUESDAY)) == [
        s.replace("Mon", "Tue") for s in ALL_MONDAY
    ]


def test_a_date_override_replaces_the_weekly_hours_of_that_date_only() -> None:
    host = make_host(date_overrides=(DateOverride(date=MONDAY, intervals=(hours("10:00", "11:00"),)),))
    assert starts_of(host, window=local_dates(MONDAY, TUESDAY)) == [
        "Mon 10:00",
        "Mon 10:30",
        *[s.replace("Mon", "Tue") for s in ALL_MONDAY],
    ]


def test_a_date_override_can_open_a_weekend_day() -> None:
    saturday = MONDAY - timedelta(days=2)
    host = make_host(date_overrides=(DateOverride(date=saturday, intervals=(hours("10:00", "11:00"),)),))
    assert starts_of(host, window=local_dates(saturday, saturday)) == ["Sat 10:00", "Sat 10:30"]


# --- time zones ----------------------------------------------------------------------------------


def test_a_window_in_another_zone_covers_that_zones_local_dates() -> None:
    """A Los Angeles host's Tuesday afternoon is a Berlin Wednesday's small hours."""
    la = ZoneInfo("America/Los_Angeles")
    host = make_host("America/Los_Angeles", start="13:00", end="17:00", days=("tue",))
    event_type = make_event_type(60)
    tuesday_berlin = starts_of(host, event_type, local_dates(TUESDAY, TUESDAY), zone=la)
    wednesday_berlin = starts_of(
        host, event_type, local_dates(TUESDAY + timedelta(days=1), TUESDAY + timedelta(days=1))
    )
    assert tuesday_berlin == ["Tue 13:00", "Tue 14:00"]
    assert wednesday_berlin == ["Wed 00:00", "Wed 01:00"]  # LA Tue 15:00 and 16:00 (PDT, UTC-7)


@pytest.mark.parametrize(
    ("windows_name", "iana"),
    [("W. Europe Standard Time", "Europe/Berlin"), ("Pacific Standard Time", "America/Los_Angeles")],
)
def test_a_host_stored_from_a_windows_zone_name_gets_the_same_slots(windows_name: str, iana: str) -> None:
    assert iana_name(windows_name) == resolve_time_zone(windows_name).key == iana
    window = local_dates(date(2027, 3, 22), date(2027, 4, 2))  # spans both spring-forward dates
    from_windows = make_host(resolve_time_zone(windows_name).key, days=WEEKDAYS)
    from_iana = make_host(iana, days=WEEKDAYS)
    assert starts_of(from_windows, window=window) == starts_of(from_iana, window=window)
    assert len(starts_of(from_iana, window=window)) == 12 * 6


def test_working_intervals_are_whole_ranges_that_touch_the_window() -> None:
    host = make_host(days=WEEKDAYS)
    window = Interval(at(MONDAY, "10:15"), at(TUESDAY, "09:30"))
    assert working_intervals(host, window) == [
        Interval(at(MONDAY, "09:00"), at(MONDAY, "12:00")),
        Interval(at(TUESDAY, "09:00"), at(TUESDAY, "12:00")),
    ]


def test_working_intervals_leave_out_ranges_that_only_touch_the_window_edge() -> None:
    host = make_host(days=WEEKDAYS)
    assert working_intervals(host, Interval(at(MONDAY, "12:00"), at(TUESDAY, "09:00"))) == []


def test_window_bounds_are_half_open_for_starts() -> None:
    window = Interval(at(MONDAY, "09:30"), at(MONDAY, "11:00"))
    assert starts_of(make_host(), window=window) == ["Mon 09:30", "Mon 10:00", "Mon 10:30"]


def test_a_window_cutting_a_working_range_keeps_the_grid_of_the_whole_range() -> None:
    window = Interval(at(MONDAY, "09:10"), at(MONDAY, "12:00"))
    assert starts_of(make_host(), window=window) == ALL_MONDAY[1:]


def test_a_meeting_may_end_after_the_window_ends() -> None:
    window = Interval(at(MONDAY, "09:00"), at(MONDAY, "11:45"))
    assert starts_of(make_host(), window=window) == ALL_MONDAY


def test_local_to_utc_of_an_ordinary_wall_time() -> None:
    assert local_to_utc(MONDAY, hm("09:00"), BERLIN, prefer="earliest") == at(MONDAY, "09:00")
    assert local_to_utc(MONDAY, hm("24:00"), BERLIN, prefer="latest") == at(TUESDAY, "00:00")


# --- rule 3: busy time and buffers ---------------------------------------------------------------


@pytest.mark.parametrize("show_as", [ShowAs.BUSY, ShowAs.TENTATIVE, ShowAs.OOF, ShowAs.UNKNOWN])
def test_busy_tentative_oof_and_unknown_items_block(show_as: ShowAs) -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("10:00", "10:30", show_as)])
    assert starts_of(calendar) == ["Mon 09:00", "Mon 09:30", "Mon 10:30", "Mon 11:00", "Mon 11:30"]


@pytest.mark.parametrize("show_as", [ShowAs.FREE, ShowAs.WORKING_ELSEWHERE])
def test_free_and_working_elsewhere_items_do_not_block(show_as: ShowAs) -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("09:00", "12:00", show_as)])
    assert starts_of(calendar) == ALL_MONDAY


def test_cancelled_items_do_not_block() -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("09:00", "12:00", is_cancelled=True)])
    assert starts_of(calendar) == ALL_MONDAY


def test_a_busy_item_partly_overlapping_removes_every_slot_it_touches() -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("09:45", "10:40")])
    assert starts_of(calendar) == ["Mon 09:00", "Mon 11:00", "Mon 11:30"]


def test_a_meeting_may_end_exactly_when_a_busy_item_starts_and_start_when_it_ends() -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("10:00", "10:30")])
    assert {"Mon 09:30", "Mon 10:30"} <= set(starts_of(calendar))


def test_buffer_after_keeps_a_meeting_from_ending_right_before_busy_time() -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("10:00", "10:30")])
    found = starts_of(calendar, make_event_type(buffer_after_minutes=15))
    assert found == ["Mon 09:00", "Mon 10:30", "Mon 11:00", "Mon 11:30"]


def test_buffer_before_keeps_a_meeting_from_starting_right_after_busy_time() -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("10:00", "10:30")])
    found = starts_of(calendar, make_event_type(buffer_before_minutes=15))
    assert found == ["Mon 09:00", "Mon 09:30", "Mon 11:00", "Mon 11:30"]


def test_buffers_may_reach_outside_working_hours() -> None:
    calendar = HostCalendar(host=make_host(), busy=[busy("08:00", "08:50"), busy("12:10", "13:00")])
    event_type = make_event_type(buffer_before_minutes=15, buffer_after_minutes=15)
    assert starts_of(calendar, event_type) == ALL_MONDAY[1:-1]
    assert starts_of(HostCalendar(host=make_host()), event_type) == ALL_MONDAY


def test_a_commitment_blocks_its_own_time() -> None:
    calendar = HostCalendar(host=make_host(), commitments=[commitment("10:00", "10:30")])
    assert starts_of(calendar) == ["Mon 09:00", "Mon 09:30", "Mon 10:30", "Mon 11:00", "Mon 11:30"]


def test_a_commitment_is_widened_by_its_own_buffers() -> None:
    booked = commitment(
        "10:00", "10:30", buffer_before=timedelta(minutes=30), buffer_after=timedelta(minutes=30)
    )
    calendar = HostCalendar(host=make_host(), commitments=[booked])
    assert starts_of(calendar) == ["Mon 09:00", "Mon 11:00", "Mon 11:30"]


def test_a_commitments_buffer_and_the_event_types_buffer_add_up() -> None:
    booked = commitment("10:00", "10:30", buffer_after=timedelta(minutes=15))  # blocks until 10:45
    calendar = HostCalendar(host=make_host(), commitments=[booked])
    assert "Mon 11:00" in starts_of(calendar, make_event_type(buffer_before_minutes=15))  # 10:45 touches
    assert "Mon 11:00" not in starts_of(calendar, make_event_type(buffer_before_minutes=20))
    assert "Mon 09:30" in starts_of(calendar, make_event_type(buffer_before_minutes=20))


def test_a_hold_blocks_time_like_a_booking() -> None:
    hold = commitment("10:00", "10:30", counts_toward_caps=False)
    assert "Mon 10:00" not in starts_of(HostCalendar(host=make_host(), commitments=[hold]))


# --- rule 4: notice and booking window -----------------------------------------------------------


def test_minimum_notice_drops_early_starts_without_shifting_the_grid() -> None:
    now = at(MONDAY, "09:10")
    event_type = make_event_type(minimum_notice_minutes=60)  # earliest start 10:10
    assert starts_of(make_host(), event_type, now=now) == ["Mon 10:30", "Mon 11:00", "Mon 11:30"]


def test_a_start_exactly_at_the_minimum_notice_is_allowed() -> None:
    now = at(MONDAY, "09:00")
    assert starts_of(make_host(), make_event_type(minimum_notice_minutes=60), now=now)[0] == "Mon 10:00"


def test_nothing_in_the_past_is_offered_even_without_notice() -> None:
    assert starts_of(make_host(), now=at(MONDAY, "10:45")) == ["Mon 11:00", "Mon 11:30"]


def test_booking_window_includes_its_last_instant_and_nothing_after() -> None:
    now = at(MONDAY, "09:00")
    found = starts_of(make_host(), make_event_type(booking_window_days=1), local_dates(MONDAY, TUESDAY), now)
    assert found == [*ALL_MONDAY, "Tue 09:00"]


# --- rule 5: daily caps --------------------------------------------------------------------------


def two_days(calendar: HostCalendar, event_type: EventType | None = None) -> list[str]:
    return starts_of(calendar, event_type, local_dates(MONDAY, TUESDAY))


def test_a_host_at_max_meetings_per_day_gets_no_slots_that_day() -> None:
    booked = [commitment("14:00", "14:30"), commitment("15:00", "15:30", event_type="other")]
    calendar = HostCalendar(host=make_host(max_meetings_per_day=2), commitments=booked)
    assert two_days(calendar) == [s.replace("Mon", "Tue") for s in ALL_MONDAY]


def test_a_host_below_max_meetings_per_day_keeps_its_free_slots() -> None:
    calendar = HostCalendar(
        host=make_host(max_meetings_per_day=2), commitments=[commitment("14:00", "14:30")]
    )
    assert len(two_days(calendar)) == 12


def test_holds_do_not_count_toward_caps() -> None:
    holds = [commitment("14:00", "14:30", counts_toward_caps=False), commitment("15:00", "15:30")]
    calendar = HostCalendar(host=make_host(max_meetings_per_day=2), commitments=holds)
    assert len(two_days(calendar)) == 12


def test_max_bookings_per_host_per_day_counts_only_this_event_type() -> None:
    calendar = HostCalendar(host=make_host(), commitments=[commitment("14:00", "14:30", event_type="other")])
    assert len(two_days(calendar, make_event_type(max_bookings_per_host_per_day=1))) == 12
    calendar = HostCalendar(host=make_host(), commitments=[commitment("14:00", "14:30")])
    assert two_days(calendar, make_event_type(max_bookings_per_host_per_day=1)) == [
        s.replace("Mon", "Tue") for s in ALL_MONDAY
    ]


def test_caps_count_bookings_by_the_hosts_local_date() -> None:
    """00:30 Tuesday in Berlin is still Monday in UTC; it fills Tuesday."""
    late = commitment("00:30", "01:00", day=TUESDAY)
    assert late.start.date() == MONDAY
    calendar = HostCalendar(host=make_host(max_meetings_per_day=1), commitments=[late])
    assert two_days(calendar) == ALL_MONDAY


# --- pools ---------------------------------------------------------------------------------------


def pool() -> list[HostCalendar]:
    return [
        HostCalendar(host=make_host(host_id="zoe"), busy=[busy("09:00", "10:00")]),
        HostCalendar(host=make_host(host_id="ana"), busy=[busy("11:00", "12:00")]),
    ]


def test_any_of_lists_every_free_host_per_start_sorted_by_id() -> None:
    slots = pooled_slots(pool(), make_event_type(), local_dates(MONDAY, MONDAY), LONG_AGO, PoolMode.ANY_OF)
    assert [(wall([s.start])[0], s.host_ids) for s in slots] == [
        ("Mon 09:00", ("ana",)),
        ("Mon 09:30", ("ana",)),
        ("Mon 10:00", ("ana", "zoe")),
        ("Mon 10:30", ("ana", "zoe")),
        ("Mon 11:00", ("zoe",)),
        ("Mon 11:30", ("zoe",)),
    ]


def test_all_of_offers_only_starts_where_every_host_is_free() -> None:
    slots = pooled_slots(pool(), make_event_type(), local_dates(MONDAY, MONDAY), LONG_AGO, PoolMode.ALL_OF)
    assert slots == [
        Slot(start=at(MONDAY, "10:00"), end=at(MONDAY, "10:30"), host_ids=("ana", "zoe")),
        Slot(start=at(MONDAY, "10:30"), end=at(MONDAY, "11:00"), host_ids=("ana", "zoe")),
    ]


def test_a_pool_of_nobody_has_no_slots() -> None:
    for mode in PoolMode:
        assert pooled_slots([], make_event_type(), local_dates(MONDAY, MONDAY), LONG_AGO, mode) == []


def test_a_host_passed_twice_is_listed_once() -> None:
    calendars = [HostCalendar(host=make_host()), HostCalendar(host=make_host())]
    slots = pooled_slots(calendars, make_event_type(), local_dates(MONDAY, MONDAY), LONG_AGO, PoolMode.ANY_OF)
    assert {s.host_ids for s in slots} == {("ana",)}


def test_pool_modes_are_the_wire_names() -> None:
    assert PoolMode("anyOf") is PoolMode.ANY_OF
    assert PoolMode("allOf") is PoolMode.ALL_OF


def test_an_event_type_without_duration_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        starts_of(make_host(), make_event_type(0))
