"""The manager override lifts exactly the rules it lists (scheduling_core/domain/override.py, pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduling_core.domain.availability import HostCalendar
from scheduling_core.domain.bookings import ensure_bookable
from scheduling_core.domain.override import (
    Override,
    OverrideRule,
    lifted_event_type,
    lifted_free_busy,
    lifted_host,
)
from scheduling_core.domain.values import (
    BusyItem,
    DateOverride,
    EventType,
    Host,
    LocalTimeRange,
    ShowAs,
    WorkingHoursRule,
)
from scheduling_core.errors import SlotUnavailable
from scheduling_core.ports import HostFreeBusy

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOST = Host(
    id="h1",
    email="h1@contoso.com",
    display_name="H",
    time_zone="UTC",
    working_hours=(
        WorkingHoursRule(days=frozenset({"mon"}), hours=LocalTimeRange(start_minute=540, end_minute=720)),
    ),
    date_overrides=(DateOverride(date=date(2026, 12, 14), intervals=()),),
    max_meetings_per_day=3,
)
EVENT_TYPE = EventType(
    slug="call",
    title="Call",
    duration_minutes=30,
    minimum_notice_minutes=60,
    booking_window_days=10,
    max_bookings_per_host_per_day=2,
)


def _bookable(host: Host, event_type: EventType, start: datetime, busy: tuple[BusyItem, ...] = ()) -> bool:
    try:
        ensure_bookable(HostCalendar(host=host, busy=busy), event_type, start, NOW)
    except SlotUnavailable:
        return False
    return True


def test_nothing_listed_lifts_nothing() -> None:
    assert lifted_host(HOST, frozenset()) == HOST
    assert lifted_event_type(EVENT_TYPE, frozenset()) == EVENT_TYPE


def test_working_hours_lifted_makes_an_evening_start_bookable_and_keeps_the_rest() -> None:
    evening = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # a Monday, outside 09:00-12:00
    assert not _bookable(HOST, EVENT_TYPE, evening)
    host = lifted_host(HOST, frozenset({OverrideRule.OUTSIDE_WORKING_HOURS}))
    assert _bookable(host, EVENT_TYPE, evening)
    assert host.date_overrides == () and host.max_meetings_per_day == 3
    assert not _bookable(host, EVENT_TYPE, NOW + timedelta(minutes=30))  # notice still applies


def test_notice_and_window_lifted_separately_and_a_past_start_stays_refused() -> None:
    soon = lifted_event_type(EVENT_TYPE, frozenset({OverrideRule.MINIMUM_NOTICE}))
    assert (soon.minimum_notice_minutes, soon.booking_window_days) == (0, 10)
    far = lifted_event_type(EVENT_TYPE, frozenset({OverrideRule.BOOKING_WINDOW}))
    assert (far.minimum_notice_minutes, far.booking_window_days) == (60, None)
    host = lifted_host(HOST, frozenset({OverrideRule.OUTSIDE_WORKING_HOURS}))
    assert not _bookable(host, soon, NOW - timedelta(hours=1))


def test_caps_lifted_clears_both_daily_caps() -> None:
    assert lifted_host(HOST, frozenset({OverrideRule.CAPS})).max_meetings_per_day is None
    assert lifted_event_type(EVENT_TYPE, frozenset({OverrideRule.CAPS})).max_bookings_per_host_per_day is None


def test_outlook_busy_lifted_answers_empty_calendars_for_every_host_even_unanswered_ones() -> None:
    item = BusyItem(start=NOW, end=NOW + timedelta(hours=1), show_as=ShowAs.BUSY)
    answers = {"h1": HostFreeBusy(items=(item,)), "h2": HostFreeBusy(error="mailbox fault")}
    assert lifted_free_busy(answers, ["h1", "h2"], frozenset()) == answers
    assert lifted_free_busy(answers, ["h1", "h2", "h3"], frozenset({OverrideRule.OUTLOOK_BUSY})) == {
        h: HostFreeBusy() for h in ("h1", "h2", "h3")
    }


def test_an_override_reads_and_records_its_rules_sorted_and_refuses_unknown_ones() -> None:
    override = Override.of("VIP", ["outlookBusy", "caps"])
    assert override.to_json() == {"reason": "VIP", "allow": ["caps", "outlookBusy"]}
    with pytest.raises(ValueError, match="everything"):
        Override.of("VIP", ["everything"])
