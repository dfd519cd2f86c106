from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.errors import InvalidRequest
from scheduling_core.services.slots import resolve_window

BERLIN = resolve_time_zone("Europe/Berlin")


def test_dates_are_inclusive_local_days_of_the_requested_zone() -> None:
    window = resolve_window("2026-12-01", "2026-12-07", BERLIN)
    assert window.start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert window.end == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def test_instants_are_taken_as_given() -> None:
    window = resolve_window("2026-12-01T09:00:00+01:00", "2026-12-01T12:00:00Z", BERLIN)
    assert window.start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert window.end == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_dst_day_is_covered_by_its_real_length() -> None:
    window = resolve_window("2027-03-28", "2027-03-28", BERLIN)
    assert window.duration.total_seconds() == 23 * 3600


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-12-07", "2026-12-01", "end"),
        ("2026-12-01", "2027-02-15", "end"),
        ("2026-13-01", "2026-12-02", "start"),
        ("2026-12-01T09:00:00", "2026-12-02", "start"),
        ("yesterday!", "2026-12-02", "start"),
    ],
)
def test_bad_ranges_are_rejected_with_the_field_named(start: str, end: str, field: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        resolve_window(start, end, BERLIN)
    assert err.value.errors[0].field == field


def test_sixty_two_days_are_allowed() -> None:
    assert resolve_window("2026-12-01", "2027-01-31", BERLIN).duration.days == 62
