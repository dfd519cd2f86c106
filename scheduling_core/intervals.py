"""Half-open intervals `[start, end)` of aware UTC instants, and their algebra.

Invariants: `start < end` for every `Interval`; the results of `merge`, `union`,
`subtract` and `intersect` are sorted, disjoint and non-adjacent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
