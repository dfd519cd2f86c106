"""The free/busy cache cuts a host's cached items to a request's window by bisection (issue 17).

A warm `GET /slots` asks the cache for every pool host; it must hand out exactly the items the
plain filter `_overlapping` finds, in the same order, including items straddling the window's
edges, long items that start well before it, and empty items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling_core.adapters.graph import _CacheEntry, _overlapping
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import BusyItem, ShowAs

BASE = datetime(2027, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def item(start: int, length: int) -> BusyItem:
    return BusyItem(start=BASE + start * MINUTE, end=BASE + (start + length) * MINUTE, show_as=ShowAs.BUSY)


items = st.lists(
    st.builds(item, st.integers(0, 3000), st.integers(1, 1500) | st.sampled_from([0, -10])), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(items, st.integers(-100, 3100), st.integers(1, 2000))
def test_cached_items_cut_to_a_window_are_the_items_the_plain_filter_finds(
    busy: list[BusyItem], start: int, length: int
) -> None:
    window = Interval(BASE + start * MINUTE, BASE + (start + length) * MINUTE)
    entry = _CacheEntry.of("a@contoso.com", window, busy, BASE)
    assert entry.overlapping(window) == _overlapping(entry.items, window)
    assert sorted(entry.overlapping(window), key=id) == sorted(_overlapping(busy, window), key=id)


def test_a_long_item_that_began_days_before_the_window_is_still_handed_out() -> None:
    long_one, short_one, later = item(0, 5 * 1440), item(1440, 30), item(4 * 1440, 30)
    entry = _CacheEntry.of(
        "a@contoso.com", Interval(BASE, BASE + 10 * 1440 * MINUTE), [later, short_one, long_one], BASE
    )
    window = Interval(BASE + 3 * 1440 * MINUTE, BASE + 4 * 1440 * MINUTE + MINUTE)
    assert entry.overlapping(window) == (long_one, later)
