"""Half-open intervals `[start, end)` of aware UTC instants, and their algebra.

Invariants: `start < end` for every `Interval`; the results of `merge`, `union`,
`subtract` and `intersect` are sorted, disjoint and non-adjacent (two results
never touch: `a.end < b.start` for consecutive `a`, `b`), whatever the order,
overlap or duplication of the inputs. None of them mutates its inputs.

The algebra is written once over *spans*: `(start, end)` pairs of any ordered
values with `start < end`. `Interval` lists go through it as pairs of datetimes;
the availability engine runs it on integer microseconds, where building an
`Interval` per busy item would cost more than the computation itself. Empty
spans (`start >= end`) given to the `*_spans` functions are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if not self.start < self.end:
            raise ValueError("an interval needs start < end")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    def widen(self, before: timedelta, after: timedelta) -> Interval:
        return Interval(self.start - before, self.end + after)


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=_Ordered)


# --- spans: the algebra itself ---------------------------------------------------------------------


def merge_spans(spans: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """Sorted, disjoint, non-adjacent spans covering exactly what `spans` cover."""
    result: list[tuple[T, T]] = []
    for start, end in sorted(spans):
        if not start < end:
            continue
        if result and not result[-1][1] < start:  # overlaps or touches the previous one
            if result[-1][1] < end:
                result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    return result


def intersect_spans(a: Iterable[tuple[T, T]], b: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """What both `a` and `b` cover, merged."""
    left, right = merge_spans(a), merge_spans(b)
    result: list[tuple[T, T]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        (a_start, a_end), (b_start, b_end) = left[i], right[j]
        start = b_start if a_start < b_start else a_start
        end = a_end if a_end < b_end else b_end
        if start < end:
            result.append((start, end))
        if a_end < b_end:
            i += 1
        else:
            j += 1
    return result


def subtract_spans(a: Iterable[tuple[T, T]], b: Iterable[tuple[T, T]]) -> list[tuple[T, T]]:
    """What `a` covers and `b` does not, merged."""
    removals = merge_spans(b)
    result: list[tuple[T, T]] = []
    j = 0
    for start, end in merge_spans(a):
        while j < len(removals) and not start < removals[j][1]:  # removal ends at or before `start`
            j += 1
        cursor = start
        k = j
        while k < len(removals) and removals[k][0] < end:
            cut_start, cut_end = removals[k]
            if cursor < cut_start:
                result.append((cursor, cut_start))
            if cursor < cut_end:
                cursor = cut_end
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


# --- intervals: the same algebra on `Interval` -----------------------------------------------------


def _spans(intervals: Iterable[Interval]) -> list[tuple[datetime, datetime]]:
    return [(interval.start, interval.end) for interval in intervals]


def _intervals(spans: Iterable[tuple[datetime, datetime]]) -> list[Interval]:
    return [Interval(start, end) for start, end in spans]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent intervals covering exactly what `intervals` cover."""
    return _intervals(merge_spans(_spans(intervals)))


def union(*groups: Iterable[Interval]) -> list[Interval]:
    """What any of `groups` covers, merged."""
    return _intervals(merge_spans(span for group in groups for span in _spans(group)))


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """What both `a` and `b` cover, merged."""
    return _intervals(intersect_spans(_spans(a), _spans(b)))


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """What `a` covers and `b` does not, merged."""
    return _intervals(subtract_spans(_spans(a), _spans(b)))


def covers(intervals: Iterable[Interval], interval: Interval) -> bool:
    """Whether `interval` lies entirely inside what `intervals` cover (adjacent pieces join up)."""
    return any(piece.contains(interval) for piece in merge(intervals))


def overlaps_any(intervals: Iterable[Interval], interval: Interval) -> bool:
    """Whether `interval` shares at least one instant with one of `intervals`."""
    return any(piece.overlaps(interval) for piece in intervals)


def total_duration(intervals: Iterable[Interval]) -> timedelta:
    """The length of what `intervals` cover, overlaps counted once."""
    return sum((piece.duration for piece in merge(intervals)), timedelta(0))
