"""Day rows (a host's claims on one UTC day): which days a claim touches, and the worst-case row size."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduling_core.adapters.booking_table import decode_day, encode_day
from scheduling_core.domain.bookings import MAX_ENTRIES_PER_DAY, ClaimKind, DayEntry, claim_days
from scheduling_core.domain.intervals import Interval

#: Azure Table storage: a string property holds at most 64 KiB, stored as UTF-16 (2 bytes a character).
MAX_STRING_CHARS = 64 * 1024 // 2
MAX_ENTITY_BYTES = 1024 * 1024


def test_the_longest_claim_touches_three_days_and_a_midnight_end_stays_out() -> None:
    start = datetime(2026, 12, 8, tzinfo=UTC)
    longest = Interval(start - timedelta(minutes=480), start + timedelta(minutes=1440 + 480))
    assert claim_days(longest) == [date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9)]
    assert claim_days(Interval(start - timedelta(hours=1), start)) == [date(2026, 12, 7)]


def test_a_full_day_row_of_the_busiest_kind_fits_the_storage_limits() -> None:
    # 288 five-minute holds, each of a different event type with the longest slug, the longest owner id
    # and an expiry: the worst a row can hold, since its live claims are disjoint and on the 5-minute grid.
    day = datetime(2026, 12, 7, tzinfo=UTC)
    entries = [
        DayEntry(
            owner="hd_" + f"{n:024x}",
            kind=ClaimKind.HOLD,
            event_type=f"{n:03d}" + "x" * 61,
            start=day + timedelta(minutes=5 * n),
            end=day + timedelta(minutes=5 * n + 5),
            buffer_before=timedelta(0),
            buffer_after=timedelta(0),
            expires_at=datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
        )
        for n in range(MAX_ENTRIES_PER_DAY)
    ]
    claims, types = encode_day(entries)
    assert MAX_ENTRIES_PER_DAY == 288
    assert len(claims) < 23_000 < MAX_STRING_CHARS and len(types) < 20_000 < MAX_STRING_CHARS
    assert 2 * (len(claims) + len(types)) < MAX_ENTITY_BYTES // 10
    assert decode_day(claims, types) == entries


def test_a_row_round_trips_bookings_holds_and_pending_claims() -> None:
    start = datetime(2026, 12, 7, 15, tzinfo=UTC)
    entries = [
        DayEntry(
            owner="bk_1",
            kind=ClaimKind.BOOKING,
            event_type="visit",
            start=start,
            end=start + timedelta(hours=8),
            buffer_before=timedelta(minutes=60),
            buffer_after=timedelta(minutes=480),
        ),
        DayEntry(
            owner="bk_2",
            kind=ClaimKind.PENDING,
            event_type="call",
            start=start - timedelta(hours=3),
            end=start - timedelta(hours=2),
            buffer_before=timedelta(0),
            buffer_after=timedelta(0),
            expires_at=start,
        ),
    ]
    claims, types = encode_day(entries)
    assert decode_day(claims, types) == sorted(entries, key=lambda e: e.start)
    assert entries[0].overlaps(Interval(start - timedelta(minutes=5), start - timedelta(minutes=4)))
    assert not entries[0].overlaps(Interval(start + timedelta(hours=16), start + timedelta(hours=17)))
