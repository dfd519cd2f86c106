"""`explain_start` agrees with the slot engine, and names the rule that failed.

The property: for any calendar, event type and `now`, a start is in `host_slot_starts` exactly when
`explain_start` gives no reason. Starts are drawn at the engine's own slots, next to them (one step or
one minute away) and anywhere in the window, so every rule gets both outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling_core.domain.availability import HostCalendar, host_slot_starts
from scheduling_core.domain.explain import ReasonCode, explain_start
from scheduling_core.domain.values import (
    BusyItem,
    Commitment,
    DateOverride,
    EventType,
    Host,
    LocalTimeRange,
    ShowAs,
    WorkingHoursRule,
)
from tests.unit.test_availability_fast_engine import MINUTE, Scenario, scenarios


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.data())
def test_a_start_is_a_slot_exactly_when_explain_says_bookable(
    scenario: Scenario, data: st.DataObject
) -> None:
    pool, event_type, window, now, _ = scenario
    calendar = pool[0]
    slots = host_slot_starts(calendar, event_type, window, now)
    step = event_type.slot_interval
    probes = set(slots[:20])
    for start in slots[:20]:
        probes.update({start - step, start + step, start - MINUTE, start + MINUTE})
    span_minutes = int(window.duration.total_seconds()) // 60
    for _ in range(20):
        probes.add(window.start + data.draw(st.integers(0, max(span_minutes - 1, 0))) * MINUTE)
    offered = set(slots)
    for start in probes:
        if not window.start <= start < window.end:
            continue
        reasons = explain_start(calendar, event_type, start, now)
        assert (start in offered) == (reasons == ()), (start, reasons)


HOST = Host(
    id="ana",
    email="ana@contoso.com",
    display_name="Ana",
    time_zone="Europe/Berlin",
    working_hours=(
        WorkingHoursRule(
            days=frozenset({"mon", "tue", "wed", "thu", "fri"}),
            hours=LocalTimeRange(start_minute=9 * 60, end_minute=17 * 60),
        ),
    ),
    date_overrides=(DateOverride(date=datetime(2026, 12, 24).date(), intervals=()),),
    max_meetings_per_day=2,
)
CALL = EventType(
    slug="call",
    title="Call",
    duration_minutes=30,
    buffer_after_minutes=15,
    minimum_notice_minutes=60,
    booking_window_days=30,
    max_bookings_per_host_per_day=1,
)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in Berlin


def _codes(calendar: HostCalendar, start: datetime, event_type: EventType = CALL) -> list[str]:
    return [r.code.value for r in explain_start(calendar, event_type, start, NOW)]


def test_each_rule_is_named_by_its_code() -> None:
    free = HostCalendar(host=HOST)
    berlin_ten = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Berlin
    assert _codes(free, berlin_ten) == []
    assert _codes(free, datetime(2026, 12, 2, 19, 0, tzinfo=UTC)) == ["outside-working-hours"]
    hour_long = EventType(slug="long", title="Long", duration_minutes=60, slot_interval_minutes=30)
    late = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # 16:30 in Berlin: would end 17:30
    assert _codes(free, late, hour_long) == ["outside-working-hours"]
    assert _codes(free, datetime(2026, 12, 24, 9, 0, tzinfo=UTC)) == ["date-override"]
    assert _codes(free, berlin_ten + timedelta(minutes=10)) == ["not-aligned"]
    assert _codes(free, datetime(2026, 12, 1, 8, 30, tzinfo=UTC)) == ["minimum-notice"]
    assert _codes(free, datetime(2027, 1, 5, 9, 0, tzinfo=UTC)) == ["booking-window"]
    busy = HostCalendar(
        host=HOST,
        busy=(
            BusyItem(start=berlin_ten, end=berlin_ten + 30 * MINUTE, show_as=ShowAs.TENTATIVE),
            BusyItem(start=berlin_ten + 60 * MINUTE, end=berlin_ten + 90 * MINUTE, show_as=ShowAs.BUSY),
            BusyItem(start=berlin_ten, end=berlin_ten + 30 * MINUTE, show_as=ShowAs.FREE),
        ),
    )
    assert [(r.code, r.start, r.end) for r in explain_start(busy, CALL, berlin_ten, NOW)] == [
        (ReasonCode.BUSY, berlin_ten, berlin_ten + 30 * MINUTE)
    ]
    assert _codes(busy, berlin_ten + 30 * MINUTE) == ["buffer"]  # 10:30-11:00, then 15 minutes of buffer
    claimed = HostCalendar(
        host=HOST,
        commitments=(
            Commitment(start=berlin_ten, end=berlin_ten + 30 * MINUTE, event_type="call"),
            Commitment(
                start=berlin_ten + 120 * MINUTE,
                end=berlin_ten + 150 * MINUTE,
                event_type="call",
                counts_toward_caps=False,
            ),
        ),
    )
    assert _codes(claimed, berlin_ten) == ["booked", "event-type-cap"]  # every reason, not the first
    assert _codes(claimed, berlin_ten + 120 * MINUTE) == ["held", "event-type-cap"]
    assert _codes(claimed, berlin_ten + 240 * MINUTE) == ["event-type-cap"]  # one call a day
    other = EventType(slug="demo", title="Demo", duration_minutes=30)
    two = HostCalendar(
        host=HOST,
        commitments=tuple(
            Commitment(
                start=berlin_ten + k * 60 * MINUTE, end=berlin_ten + (k * 60 + 30) * MINUTE, event_type="x"
            )
            for k in (0, 1)
        ),
    )
    assert _codes(two, berlin_ten + 240 * MINUTE, other) == ["daily-cap"]
    inactive = HostCalendar(host=Host(**{**_fields(HOST), "active": False}))
    assert _codes(inactive, berlin_ten) == ["host-inactive"]


def _fields(host: Host) -> dict[str, object]:
    return {name: getattr(host, name) for name in Host.__dataclass_fields__}


def test_an_outlook_reason_never_carries_more_than_status_and_times() -> None:
    start = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    calendar = HostCalendar(
        host=HOST, busy=(BusyItem(start=start, end=start + 30 * MINUTE, show_as=ShowAs.OOF),)
    )
    (reason,) = explain_start(calendar, CALL, start, NOW)
    assert reason.detail == "an Outlook item shown as oof"
