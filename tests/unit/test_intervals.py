"""The interval algebra: examples, then laws checked against a set-of-minutes model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling_core.domain.intervals import (
    Interval,
    covers,
    intersect,
    merge,
    merge_spans,
    overlaps_any,
    subtract,
    subtract_spans,
    total_duration,
    union,
)

BASE = datetime(2027, 3, 1, tzinfo=UTC)


def iv(start: int, end: int) -> Interval:
    """An interval from minute offsets after BASE."""
    return Interval(BASE + timedelta(minutes=start), BASE + timedelta(minutes=end))


def minutes(intervals: list[Interval]) -> set[int]:
    """The model: the set of minutes an interval list covers."""
    covered: set[int] = set()
    for piece in intervals:
        covered.update(
            range(
                int((piece.start - BASE) / timedelta(minutes=1)),
                int((piece.end - BASE) / timedelta(minutes=1)),
            )
        )
    return covered


def assert_canonical(intervals: list[Interval]) -> None:
    for left, right in pairwise(intervals):
        assert left.end < right.start, "sorted, disjoint and non-adjacent"


# --- examples ------------------------------------------------------------------------------------


def test_interval_rejects_empty_and_naive_bounds() -> None:
    with pytest.raises(ValueError, match="start < end"):
        iv(10, 10)
    with pytest.raises(ValueError, match="aware"):
        Interval(datetime(2027, 3, 1), datetime(2027, 3, 2))


def test_merge_joins_overlapping_and_adjacent_intervals_and_keeps_gaps() -> None:
    assert merge([iv(30, 40), iv(0, 10), iv(10, 20), iv(5, 8), iv(35, 50)]) == [iv(0, 20), iv(30, 50)]


def test_merge_of_nothing_is_nothing() -> None:
    assert merge([]) == []
    assert union() == []


def test_subtract_cuts_holes_and_trims_edges() -> None:
    assert subtract([iv(0, 100)], [iv(10, 20), iv(50, 60), iv(90, 120)]) == [
        iv(0, 10),
        iv(20, 50),
        iv(60, 90),
    ]


def test_subtract_of_a_touching_interval_removes_nothing() -> None:
    assert subtract([iv(0, 10)], [iv(10, 20)]) == [iv(0, 10)]


def test_intersect_keeps_only_common_time() -> None:
    assert intersect([iv(0, 10), iv(20, 30)], [iv(5, 25)]) == [iv(5, 10), iv(20, 25)]


def test_intersect_of_touching_intervals_is_empty() -> None:
    assert intersect([iv(0, 10)], [iv(10, 20)]) == []


def test_union_merges_every_group() -> None:
    assert union([iv(0, 10)], [iv(10, 20)], [iv(40, 50)]) == [iv(0, 20), iv(40, 50)]


def test_covers_lets_adjacent_pieces_join_up() -> None:
    assert covers([iv(0, 10), iv(10, 20)], iv(5, 15))
    assert not covers([iv(0, 10), iv(11, 20)], iv(5, 15))


def test_overlaps_any_is_half_open() -> None:
    assert not overlaps_any([iv(0, 10)], iv(10, 20))
    assert overlaps_any([iv(0, 11)], iv(10, 20))


def test_total_duration_counts_overlaps_once() -> None:
    assert total_duration([iv(0, 10), iv(5, 15)]) == timedelta(minutes=15)


def test_span_functions_work_on_integers_and_skip_empty_spans() -> None:
    assert merge_spans([(5, 5), (3, 1), (0, 2), (2, 4)]) == [(0, 4)]
    assert subtract_spans([(0, 10)], [(2, 3), (3, 4), (8, 20)]) == [(0, 2), (4, 8)]


# --- laws ----------------------------------------------------------------------------------------

interval_lists = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 40)).map(lambda p: iv(p[0], p[0] + p[1])), max_size=12
)
LAWS = settings(max_examples=150, deadline=None)


@LAWS
@given(interval_lists)
def test_merge_is_canonical_idempotent_and_keeps_coverage(a: list[Interval]) -> None:
    merged = merge(a)
    assert_canonical(merged)
    assert merge(merged) == merged
    assert minutes(merged) == minutes(a)
    assert merge(list(reversed(a))) == merged


@LAWS
@given(interval_lists, interval_lists)
def test_algebra_matches_set_semantics(a: list[Interval], b: list[Interval]) -> None:
    for result, expected in (
        (union(a, b), minutes(a) | minutes(b)),
        (intersect(a, b), minutes(a) & minutes(b)),
        (subtract(a, b), minutes(a) - minutes(b)),
    ):
        assert_canonical(result)
        assert minutes(result) == expected


@LAWS
@given(interval_lists, interval_lists)
def test_subtract_then_union_restores_coverage(a: list[Interval], b: list[Interval]) -> None:
    assert union(subtract(a, b), b) == union(a, b)
    assert union(subtract(a, b), intersect(a, b)) == merge(a)
    assert intersect(subtract(a, b), b) == []


@LAWS
@given(interval_lists, interval_lists, interval_lists)
def test_union_and_intersect_commute_and_associate(
    a: list[Interval], b: list[Interval], c: list[Interval]
) -> None:
    assert union(a, b) == union(b, a)
    assert intersect(a, b) == intersect(b, a)
    assert union(union(a, b), c) == union(a, union(b, c))
    assert intersect(intersect(a, b), c) == intersect(a, intersect(b, c))


@LAWS
@given(interval_lists, interval_lists)
def test_durations_add_up_by_inclusion_exclusion(a: list[Interval], b: list[Interval]) -> None:
    assert total_duration(union(a, b)) == total_duration(a) + total_duration(b) - total_duration(
        intersect(a, b)
    )
    assert subtract(a, a) == []
