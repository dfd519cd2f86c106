"""Slot rule 6 and the wall-time mapping on DST days (api.md worked examples included).

Starts are rendered in the host's zone as `HH:MM±HH:MM`, the api.md notation:
the offset tells which of two equal wall times is meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from scheduling_core.domain.availability import (
    HostCalendar,
    host_slot_starts,
    local_to_utc,
    working_intervals,
)
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import WEEKDAYS, EventType, Host, LocalTimeRange, WorkingHoursRule

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
US_SPRING, US_FALL = date(2027, 3, 14), date(2027, 11, 7)
EU_SPRING, EU_FALL = date(2027, 3, 28), date(2027, 10, 31)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def hm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def every_day(zone: ZoneInfo, start: str, end: str) -> Host:
    rule = WorkingHoursRule(
        days=frozenset(WEEKDAYS), hours=LocalTimeRange(start_minute=hm(start), end_minute=hm(end))
    )
    return Host(id="h", email="h@contoso.com", display_name="H", time_zone=zone.key, working_hours=(rule,))


def local_day(day: date, zone: ZoneInfo) -> Interval:
    return Interval(
        datetime.combine(day, time(), zone).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC),
    )


def utc(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), UTC)


def rendered(starts: Sequence[datetime], zone: ZoneInfo) -> list[str]:
    return [(local := start.astimezone(zone)).isoformat()[11:16] + local.isoformat()[-6:] for start in starts]


def slots(host: Host, day: date, duration: int, interval: int | None = None) -> list[datetime]:
    event_type = EventType(
        slug="call", title="Call", duration_minutes=duration, slot_interval_minutes=interval
    )
    zone = ZoneInfo(host.time_zone)
    return host_slot_starts(HostCalendar(host=host), event_type, local_day(day, zone), LONG_AGO)


def assert_real_time_grid(starts: Sequence[datetime], step_minutes: int) -> None:
    assert len(set(starts)) == len(starts), "no instant twice"
    assert all(b - a == timedelta(minutes=step_minutes) for a, b in pairwise(starts)), "steps in elapsed time"


# --- the worked examples of api.md ---------------------------------------------------------------


def test_new_york_spring_forward_worked_example() -> None:
    host = every_day(NEW_YORK, "01:00", "04:00")
    assert working_intervals(host, local_day(US_SPRING, NEW_YORK)) == [
        Interval(utc(US_SPRING, "06:00"), utc(US_SPRING, "08:00"))
    ]
    assert rendered(slots(host, US_SPRING, 60, 60), NEW_YORK) == ["01:00-05:00", "03:00-04:00"]


def test_new_york_fall_back_worked_example() -> None:
    host = every_day(NEW_YORK, "01:00", "04:00")
    assert working_intervals(host, local_day(US_FALL, NEW_YORK)) == [
        Interval(utc(US_FALL, "05:00"), utc(US_FALL, "09:00"))
    ]
    assert rendered(slots(host, US_FALL, 60, 60), NEW_YORK) == [
        "01:00-04:00",
        "01:00-05:00",
        "02:00-05:00",
        "03:00-05:00",
    ]


# --- spring forward: the missing hour ------------------------------------------------------------


def test_berlin_spring_forward_offers_no_nonexistent_local_time() -> None:
    host = every_day(BERLIN, "01:00", "04:00")  # 02:00-03:00 does not exist on 2027-03-28
    starts = slots(host, EU_SPRING, 30)
    assert rendered(starts, BERLIN) == ["01:00+01:00", "01:30+01:00", "03:00+02:00", "03:30+02:00"]
    assert_real_time_grid(starts, 30)


def test_new_york_spring_forward_steps_in_elapsed_time_not_wall_time() -> None:
    host = every_day(NEW_YORK, "01:00", "05:00")  # three real hours: 06:00Z-09:00Z
    starts = slots(host, US_SPRING, 45)
    assert rendered(starts, NEW_YORK) == ["01:00-05:00", "01:45-05:00", "03:30-04:00", "04:15-04:00"]
    assert_real_time_grid(starts, 45)


@pytest.mark.parametrize(("zone", "day"), [(BERLIN, EU_SPRING), (NEW_YORK, US_SPRING)])
def test_a_nine_to_five_day_is_eight_real_hours_on_spring_forward(zone: ZoneInfo, day: date) -> None:
    starts = slots(every_day(zone, "09:00", "17:00"), day, 30)
    assert len(starts) == 16
    assert_real_time_grid(starts, 30)


def test_working_hours_starting_inside_the_gap_start_at_the_transition() -> None:
    host = every_day(BERLIN, "02:30", "05:00")
    assert working_intervals(host, local_day(EU_SPRING, BERLIN)) == [
        Interval(utc(EU_SPRING, "01:00"), utc(EU_SPRING, "03:00"))
    ]
    assert rendered(slots(host, EU_SPRING, 60), BERLIN) == ["03:00+02:00", "04:00+02:00"]


def test_working_hours_ending_inside_the_gap_end_at_the_transition() -> None:
    host = every_day(BERLIN, "00:00", "02:30")
    assert rendered(slots(host, EU_SPRING, 60), BERLIN) == ["00:00+01:00", "01:00+01:00"]


def test_working_hours_entirely_inside_the_gap_vanish() -> None:
    host = every_day(BERLIN, "02:00", "02:45")
    assert working_intervals(host, local_day(EU_SPRING, BERLIN)) == []
    assert slots(host, EU_SPRING, 15) == []
    assert len(slots(host, EU_SPRING + timedelta(days=1), 15)) == 3  # an ordinary day after it


def test_local_to_utc_maps_a_gap_wall_time_to_the_transition_instant() -> None:
    for prefer in ("earliest", "latest"):
        assert local_to_utc(US_SPRING, hm("02:30"), NEW_YORK, prefer=prefer) == utc(US_SPRING, "07:00")
        assert local_to_utc(EU_SPRING, hm("02:00"), BERLIN, prefer=prefer) == utc(EU_SPRING, "01:00")


# --- fall back: the repeated hour ----------------------------------------------------------------


def test_berlin_fall_back_offers_each_instant_of_the_repeated_hour_once() -> None:
    host = every_day(BERLIN, "01:00", "04:00")  # 02:00-03:00 happens twice on 2027-10-31
    starts = slots(host, EU_FALL, 60)
    assert rendered(starts, BERLIN) == ["01:00+02:00", "02:00+02:00", "02:00+01:00", "03:00+01:00"]
    assert_real_time_grid(starts, 60)


@pytest.mark.parametrize(("zone", "day"), [(BERLIN, EU_FALL), (NEW_YORK, US_FALL)])
def test_a_nine_to_five_day_is_eight_real_hours_on_fall_back(zone: ZoneInfo, day: date) -> None:
    starts = slots(every_day(zone, "09:00", "17:00"), day, 30)
    assert len(starts) == 16
    assert_real_time_grid(starts, 30)


def test_working_hours_starting_in_the_repeated_hour_start_at_its_first_occurrence() -> None:
    host = every_day(NEW_YORK, "01:30", "03:00")
    assert working_intervals(host, local_day(US_FALL, NEW_YORK)) == [
        Interval(utc(US_FALL, "05:30"), utc(US_FALL, "08:00"))
    ]


def test_working_hours_ending_in_the_repeated_hour_end_at_its_second_occurrence() -> None:
    host = every_day(NEW_YORK, "00:00", "01:30")
    assert working_intervals(host, local_day(US_FALL, NEW_YORK)) == [
        Interval(utc(US_FALL, "04:00"), utc(US_FALL, "06:30"))
    ]
    assert rendered(slots(host, US_FALL, 30, 60), NEW_YORK) == ["00:00-04:00", "01:00-04:00", "01:00-05:00"]


def test_local_to_utc_picks_the_requested_occurrence_of_a_repeated_wall_time() -> None:
    assert local_to_utc(US_FALL, hm("01:30"), NEW_YORK, prefer="earliest") == utc(US_FALL, "05:30")
    assert local_to_utc(US_FALL, hm("01:30"), NEW_YORK, prefer="latest") == utc(US_FALL, "06:30")


def test_a_window_of_the_whole_fall_back_week_keeps_days_apart() -> None:
    host = every_day(BERLIN, "09:00", "17:00")
    event_type = EventType(slug="call", title="Call", duration_minutes=60)
    week = Interval(
        local_day(EU_FALL - timedelta(days=3), BERLIN).start,
        local_day(EU_FALL + timedelta(days=3), BERLIN).end,
    )
    starts = host_slot_starts(HostCalendar(host=host), event_type, week, LONG_AGO)
    assert len(starts) == 7 * 8
    assert {s.astimezone(BERLIN).strftime("%H:%M") for s in starts} == {f"{h:02d}:00" for h in range(9, 17)}
