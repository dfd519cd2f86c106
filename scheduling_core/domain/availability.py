"""The availability engine: when can an event type be booked, with which hosts.

Pure functions over domain values (api.md, "Slot rules (exact)"). Every instant in
and out is an aware UTC datetime; local wall time exists only while a host's
working hours are expanded, in the host's IANA zone.

Invariants of every start this module returns for a host:
- it is `working.start + k * slot_interval` (k >= 0, real elapsed time) for one of
  the host's working-hours intervals `working` (one per weekly rule or override
  range per local date), with `working.start <= start < working.end`;
- the meeting `[start, start + duration)` lies inside the union of the host's
  working hours (adjacent intervals join up, e.g. across midnight);
- `[start - buffer_before, start + duration + buffer_after)` overlaps no blocking
  interval: Outlook items that `block` and commitments widened by their own buffers;
- `now + minimum_notice <= start`, and `start <= now + booking_window_days` if set;
- the local date whose working hours produced it is below the host's daily caps;
- starts are unique and sorted; a `Slot` ends at `start + duration`.

Wall time to UTC (`local_to_utc`): a working range's start maps to the EARLIEST
instant showing that wall time, its end to the LATEST; a wall time inside a DST
gap maps to the transition instant, so a range starting or ending in the gap
shrinks and one lying inside it vanishes. `end_minute == 1440` is the next local
date's 00:00.

Cost: the hot path works on integer microseconds since the Unix epoch ("ticks").
Per host, blocking Outlook items become merged ranges of forbidden starts once; each
working interval's grid is then cut by them (`bisect`, `range`), so the work grows
with busy items and working intervals, not with minutes or candidates. That grid
(working hours and Outlook only) is memoised per item set: the free/busy cache hands
the same `BusyItem` objects to every request, so a warm request only cuts a sorted
list by notice, booking window, commitments and caps (`bisect`, `del`, C work).
Wall-time lookups, working hours and instants are memoised too (pure functions).
`bench/previous_engine.py` keeps the engine before these memos as the reference.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC as STDLIB_UTC
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from itertools import compress, islice, pairwise, repeat
from operator import attrgetter, ge, sub
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from scheduling_core.domain.intervals import Interval, merge_spans
from scheduling_core.domain.timezones import UTC, resolve_time_zone
from scheduling_core.domain.values import (
    WEEKDAYS,
    BusyItem,
    Commitment,
    DateOverride,
    EventType,
    Host,
    LocalTimeRange,
    Slot,
    WorkingHoursRule,
)
from scheduling_core.ports import HostFreeBusy


class PoolMode(StrEnum):
    ANY_OF = "anyOf"  # round robin: a slot wherever at least one host is free
    ALL_OF = "allOf"  # collective: a slot only where every host is free


@dataclass(frozen=True, slots=True, kw_only=True)
class HostCalendar:
    host: Host
    busy: Sequence[BusyItem] = ()  # Outlook items (any showAs, maybe cancelled)
    commitments: Sequence[Commitment] = ()  # this service's bookings and holds


Prefer = Literal["earliest", "latest"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_TICK = timedelta(microseconds=1)
_TICKS_PER_MINUTE = 60_000_000
_TICKS_PER_DAY = 24 * 60 * _TICKS_PER_MINUTE
_ONE_DAY = timedelta(days=1)


#: Subtracting datetimes that share a tzinfo skips two `utcoffset` calls (2-3x faster); only
#: correct for fixed UTC zones, so any other tzinfo goes through the general `_EPOCH`.
_UTC_EPOCHS: dict[tzinfo | None, datetime] = {tz: datetime(1970, 1, 1, tzinfo=tz) for tz in (UTC, STDLIB_UTC)}


def _ticks(instant: datetime) -> int:
    return (instant - _UTC_EPOCHS.get(instant.tzinfo, _EPOCH)) // _TICK


@lru_cache(maxsize=1 << 15)  # pure, and slot grids repeat across hosts and requests
def _instant(ticks: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ticks)


# --- wall time -> UTC --------------------------------------------------------------------------------


def _offset(local: datetime) -> int:
    offset = local.utcoffset()
    assert offset is not None  # always aware here
    return offset // _TICK


def _transition(zone: ZoneInfo, before: int, after: int) -> int:
    """The first instant in `(before, after]` whose UTC offset differs from the one at `before`."""
    offset = _offset(_instant(before).astimezone(zone))
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(_instant(middle).astimezone(zone)) == offset:
            before = middle
        else:
            after = middle
    return after


@lru_cache(maxsize=1 << 14)  # pure, and hosts share zones and hours: most lookups repeat
def _local_ticks(day: date, minute: int, zone: ZoneInfo, latest: bool) -> int:
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = _offset(wall.replace(tzinfo=zone))  # fold=0: the offset in force before a transition
    second = _offset(wall.replace(tzinfo=zone, fold=1))  # fold=1: the offset after it
    wall_ticks = (day.toordinal() - _EPOCH_ORDINAL) * _TICKS_PER_DAY + minute * _TICKS_PER_MINUTE
    if first == second:  # an ordinary wall time: exactly one instant shows it
        return wall_ticks - first
    if first > second:  # clocks went back: two instants show it
        return wall_ticks - (second if latest else first)
    return _transition(zone, wall_ticks - second, wall_ticks - first)  # in the gap: none shows it


#: UTC midnights sampled before and after a local date's own: its wall times (00:00 to 24:00) are
#: instants within a day of them (|UTC offset| < 24 h), so from the day before to two days after.
_STEADY_MARGIN = (1, 2)


@lru_cache(maxsize=1 << 10)  # pure; hosts share zones and date ranges
def _steady_offsets(zone: ZoneInfo, first_day: date, last_day: date) -> dict[date, int]:
    """The UTC offset (ticks) of each local date in `[first_day, last_day]` on which `zone` keeps one
    offset all day; dates near an offset change are absent (`_local_ticks` maps those exactly).

    One `utcoffset` per UTC day instead of two per working-hours bound: a cold pool asks ~10^3
    bounds. The offset is sampled at every UTC midnight from the day before a date to two days
    after; equal neighbouring samples mean no change in between because no zone changes its offset
    twice within 48 hours (`tests/unit/test_availability_fast_engine.py` checks every zone in tzdata).
    """
    before, after = _STEADY_MARGIN
    origin = (first_day.toordinal() - before - _EPOCH_ORDINAL) * _TICKS_PER_DAY
    count = (last_day - first_day).days + before + after + 1
    samples = [_offset(_instant(origin + k * _TICKS_PER_DAY).astimezone(zone)) for k in range(count)]
    steady: dict[date, int] = {}
    day = first_day
    for k in range(count - before - after):
        window = samples[k : k + before + after + 1]
        if window.count(window[0]) == len(window):
            steady[day] = window[0]
        day += _ONE_DAY
    return steady


def local_to_utc(day: date, minute: int, zone: ZoneInfo, *, prefer: Prefer) -> datetime:
    """The instant a wall time `minute` minutes after `day`'s midnight denotes in `zone` (module doc)."""
    return _instant(_local_ticks(day, minute, zone, prefer == "latest"))


# --- working hours ---------------------------------------------------------------------------------


class _WorkingSpan(NamedTuple):
    start: int
    end: int
    day: date  # the local date whose hours these are


@dataclass(frozen=True, slots=True, eq=False)  # identity: a memo key, and hashing the spans costs
class _Hours:
    """A host's working hours over some local dates, in ticks (memoised: hosts share hours and zones)."""

    spans: tuple[_WorkingSpan, ...]  # sorted, not merged
    stretch_ends: tuple[int, ...]  # ends of the merged spans: where a meeting must have ended
    span_stretch_ends: tuple[int, ...]  # the stretch end of each span (`_last_start` without the bisect)
    disjoint: bool  # no two spans overlap, so their grids come out sorted and unique


def _ranges_by_date(
    working_hours: tuple[WorkingHoursRule, ...], date_overrides: tuple[DateOverride, ...]
) -> tuple[dict[str, list[LocalTimeRange]], dict[date, list[LocalTimeRange]]]:
    weekly: dict[str, list[LocalTimeRange]] = {day: [] for day in WEEKDAYS}
    for rule in working_hours:
        for weekday in rule.days:
            weekly[weekday].append(rule.hours)
    overrides: dict[date, list[LocalTimeRange]] = {}
    for override in date_overrides:  # several overrides of one date add up
        overrides.setdefault(override.date, []).extend(override.intervals)
    return weekly, overrides


@lru_cache(maxsize=1 << 12)  # pure; the key is the hours themselves, so changed hours never hit
def _hours(
    working_hours: tuple[WorkingHoursRule, ...],
    date_overrides: tuple[DateOverride, ...],
    zone: ZoneInfo,
    first_day: date,
    last_day: date,
) -> _Hours:
    """Working-hours intervals of every local date in `[first_day, last_day]`."""
    weekly, overrides = _ranges_by_date(working_hours, date_overrides)
    steady = _steady_offsets(zone, first_day, last_day)
    found: set[_WorkingSpan] = set()
    day = first_day
    while day <= last_day:
        ranges = overrides.get(day)
        offset = steady.get(day)
        midnight = (day.toordinal() - _EPOCH_ORDINAL) * _TICKS_PER_DAY
        for hours in weekly[WEEKDAYS[day.weekday()]] if ranges is None else ranges:
            if offset is not None:  # one instant shows each wall time: `_local_ticks`'s first case
                start = midnight + hours.start_minute * _TICKS_PER_MINUTE - offset
                end = midnight + hours.end_minute * _TICKS_PER_MINUTE - offset
            else:
                start = _local_ticks(day, hours.start_minute, zone, False)
                end = _local_ticks(day, hours.end_minute, zone, True)
            if start < end:
                found.add(_WorkingSpan(start, end, day))
        day += _ONE_DAY
    spans = tuple(sorted(found))
    disjoint = all(a.end <= b.start for a, b in pairwise(spans))
    stretch_ends = tuple(end for _, end in merge_spans((span.start, span.end) for span in spans))
    span_stretch_ends = tuple(stretch_ends[bisect_right(stretch_ends, span.start)] for span in spans)
    return _Hours(
        spans=spans, stretch_ends=stretch_ends, span_stretch_ends=span_stretch_ends, disjoint=disjoint
    )


def _host_hours(host: Host, zone: ZoneInfo, days: tuple[date, date]) -> _Hours:
    return _hours(host.working_hours, host.date_overrides, zone, *days)


def _local_days(lower: int, upper: int, zone: ZoneInfo) -> tuple[date, date]:
    """The local dates that can touch `[lower, upper)`, with one day of slack each side."""
    first = _instant(lower).astimezone(zone).date() - _ONE_DAY
    last = _instant(upper).astimezone(zone).date() + _ONE_DAY
    return first, last


def working_intervals(host: Host, window: Interval) -> list[Interval]:
    """The host's working-hours intervals that overlap `window`, sorted by start.

    One interval per weekly rule (or date override range) per local date, NOT
    merged and NOT clipped to `window`: each start is where its slot grid is
    anchored. Ranges that collapse entirely into a DST gap are absent.
    """
    zone = resolve_time_zone(host.time_zone)
    lower, upper = _ticks(window.start), _ticks(window.end)
    spans = _host_hours(host, zone, _local_days(lower, upper, zone)).spans
    return [Interval(_instant(s.start), _instant(s.end)) for s in spans if s.start < upper and lower < s.end]


# --- the grid, cut by forbidden starts -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ask:
    """What one computation asks of every host, in ticks (rule 4 already narrows the starts)."""

    event_type: EventType
    duration: int
    step: int
    lead: int  # a blocking [b0, b1) forbids the starts in [b0 - lead, b1 + lag)
    lag: int
    lower: int  # starts lie in [lower, upper)
    upper: int


def _shape(event_type: EventType) -> tuple[int, int, int, int]:
    """`(duration, step, lead, lag)` in ticks: a blocking `[b0, b1)` forbids the starts `_widen` gives."""
    duration = event_type.duration // _TICK
    step = event_type.slot_interval // _TICK
    if duration <= 0 or step <= 0:
        raise ValueError("an event type needs a positive duration and slot interval")
    before, after = event_type.buffer_before // _TICK, event_type.buffer_after // _TICK
    return duration, step, duration + after - 1, before


def _widen(b0: int, b1: int, lead: int, lag: int) -> tuple[int, int]:
    """The starts `[b0 - lead, b1 + lag)` a blocking `[b0, b1)` forbids (rule 3): those whose
    `[start - before, start + duration + after)` overlaps it (lead = duration + after - 1, lag = before)."""
    return b0 - lead, b1 + lag


def _earliest(event_type: EventType, now: datetime) -> int:
    """The first start minimum notice allows (rule 4)."""
    return _ticks(now + timedelta(minutes=event_type.minimum_notice_minutes))


def _beyond_window(event_type: EventType, now: datetime) -> int | None:
    """The first start the booking window forbids (rule 4), None without a window."""
    if event_type.booking_window_days is None:
        return None
    return _ticks(now + timedelta(days=event_type.booking_window_days)) + 1


def _ask(event_type: EventType, window: Interval, now: datetime) -> _Ask | None:
    duration, step, lead, lag = _shape(event_type)
    lower = max(_ticks(window.start), _earliest(event_type, now))
    upper = _ticks(window.end)
    beyond = _beyond_window(event_type, now)
    if beyond is not None:
        upper = min(upper, beyond)
    if lower >= upper:
        return None
    return _Ask(event_type, duration, step, lead, lag, lower, upper)


def _last_start(span: _WorkingSpan, stretch_ends: tuple[int, ...], duration: int) -> int:
    """The last start of `span` whose meeting ends inside the stretch of working hours it belongs to
    (rule 2: adjacent spans join up, e.g. across midnight)."""
    return min(span.end - 1, stretch_ends[bisect_right(stretch_ends, span.start)] - duration)


def _scan(
    hours: _Hours,
    forbidden: tuple[list[int], list[int]],
    ask: _Ask,
    lower: int,
    upper: int,
    full_days: set[date],
) -> list[int]:
    """Grid points of each working span in `[lower, upper)` whose meeting fits (rule 2) and that no
    forbidden range holds (rule 3); spans of `full_days` are skipped (rule 5). Sorted and unique
    only if the spans are disjoint.

    Each span's grid is cut by the forbidden ranges (`bisect`, `range`), so the work grows with
    busy items and working spans, not with minutes or candidates.
    """
    forbidden_starts, forbidden_ends = forbidden
    stretch_ends, step, duration = hours.stretch_ends, ask.step, ask.duration
    count = len(forbidden_starts)
    starts: list[int] = []
    for span in hours.spans:
        origin, end, day = span
        if end <= lower or origin >= upper or (full_days and day in full_days):
            continue
        last = min(upper - 1, _last_start(span, stretch_ends, duration))
        cursor = origin if lower <= origin else lower + (origin - lower) % step  # first grid point >= lower
        i = bisect_right(forbidden_ends, cursor)
        while i < count and forbidden_starts[i] <= last:
            if cursor < forbidden_starts[i]:
                starts.extend(range(cursor, forbidden_starts[i], step))
            if cursor < forbidden_ends[i]:
                cursor = forbidden_ends[i] + (origin - forbidden_ends[i]) % step  # next grid point
            i += 1
        starts.extend(range(cursor, last + 1, step))
    return starts


@dataclass(frozen=True, slots=True)
class _Grid:
    """A host's starts allowed by its working hours and Outlook alone, over all of `hours`.

    Notice, booking window, commitments and caps are applied per request by cutting this sorted
    list (`bisect`, `del`), which is C work; only disjoint working spans get one, so the starts
    within a span's `[start, end)` are that span's own (a full day's spans are cut out that way).
    """

    starts: list[int]


def _grid(hours: _Hours, forbidden: tuple[list[int], list[int]], ask: _Ask) -> _Grid:
    """`_scan` over all of `hours` (disjoint spans, no bounds, no full days), on the cold path of
    every host: spans come sorted, so the forbidden ranges are searched from where the last span left
    them, and each span's last start comes from its stored stretch end."""
    forbidden_starts, forbidden_ends = forbidden
    step, duration, count = ask.step, ask.duration, len(forbidden_starts)
    starts: list[int] = []
    extend = starts.extend
    i = 0
    for (origin, end, _), stretch_end in zip(hours.spans, hours.span_stretch_ends, strict=True):
        last = stretch_end - duration  # rule 2, as `_last_start`
        if last >= end:
            last = end - 1
        if last < origin:
            continue
        cursor = origin
        # Merged ranges are disjoint: of those the last span went through, only its last one can reach here.
        i = bisect_right(forbidden_ends, cursor, i - 1 if i else 0)
        while i < count and forbidden_starts[i] <= last:
            if cursor < forbidden_starts[i]:
                extend(range(cursor, forbidden_starts[i], step))
            if cursor < forbidden_ends[i]:
                cursor = forbidden_ends[i] + (origin - forbidden_ends[i]) % step  # next grid point
            i += 1
        extend(range(cursor, last + 1, step))
    return _Grid(starts)


# --- Outlook items, compiled once ----------------------------------------------------------------


_BLOCKS, _START_US, _END_US = attrgetter("blocks"), attrgetter("start_us"), attrgetter("end_us")


class _OutlookBusy:
    """One host's blocking Outlook items as sorted ticks, and the starts they forbid.

    `BusyItem` holds its bounds as integer microseconds since 1970, which are ticks: compiling
    reads two ints per item (no datetime arithmetic) and sorts them. Cutting the grid is a loop per
    working span: most of a host's cold work. The free/busy cache hands the same `BusyItem` objects
    to every request, so `_outlook_busy` memoises this object per item set, and it memoises the
    forbidden ranges per event type shape and the grid per working hours too.
    """

    __slots__ = ("_degenerate", "_ends", "_forbidden", "_gaps", "_grids", "_starts", "items")

    def __init__(self, items: tuple[BusyItem, ...]) -> None:
        self.items = items  # pins the items: their ids are the memo key
        blocking = list(compress(items, map(_BLOCKS, items)))
        starts = list(map(_START_US, blocking))
        ends = list(map(_END_US, blocking))
        self._forbidden: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self._grids: dict[tuple[_Hours, int, int, int, int], _Grid] = {}
        if any(map(ge, starts, ends)):  # an empty or reversed item: rare, the general path
            raw = list(zip(starts, ends, strict=True))
            spans = merge_spans(raw)
            # An empty item (start >= end) still forbids the starts whose widened meeting straddles it.
            self._degenerate = spans + [r for r in raw if r[0] >= r[1]]
            starts, ends = [s for s, _ in spans], [e for _, e in spans]
        else:
            self._degenerate = []
        # Sorting the starts and the ends each on its own keeps the union of non-empty intervals:
        # there is a gap after the i-th smallest end exactly when the next start lies beyond it
        # (at most i starts precede such a point, and at least i + 1 ends do). Sorting two lists
        # of ints is several times faster than sorting pairs.
        starts.sort()
        ends.sort()
        self._starts, self._ends = starts, ends
        self._gaps = list(map(sub, islice(starts, 1, None), ends))  # gap after the i-th end

    def forbidden(self, lead: int, lag: int) -> tuple[list[int], list[int]]:
        """Starts and ends (ticks) of the merged ranges `[b0 - lead, b1 + lag)` of forbidden starts.

        Widening shifts every start and end alike, so the sorted bounds stay sorted and a gap
        after the i-th end survives exactly when it exceeds `lead + lag` (neighbours that touch join).
        """
        found = self._forbidden.get((lead, lag))
        if found is not None:
            return found
        if self._degenerate:
            merged = merge_spans(_widen(b0, b1, lead, lag) for b0, b1 in self._degenerate)
            found = [s for s, _ in merged], [e for _, e in merged]
        elif not self._starts:
            found = [], []
        else:
            starts, ends = self._starts, self._ends
            apart = list(map((lead + lag).__lt__, self._gaps))  # True: the gap stays
            kept_starts = [starts[0], *compress(islice(starts, 1, None), apart)]
            kept_ends = [*compress(ends, apart), ends[-1]]
            # `s - lead` and `e + lag` of each, looped in C
            found = list(map(lead.__rsub__, kept_starts)), list(map(lag.__add__, kept_ends))
        if len(self._forbidden) >= _SHAPES_PER_HOST:
            self._forbidden.clear()
        self._forbidden[(lead, lag)] = found
        return found

    def grid(self, hours: _Hours, ask: _Ask) -> _Grid:
        key = (hours, ask.duration, ask.step, ask.lead, ask.lag)  # `_Hours` hashes by identity
        found = self._grids.get(key)
        if found is None:
            found = _grid(hours, self.forbidden(ask.lead, ask.lag), ask)
            if len(self._grids) >= _SHAPES_PER_HOST:
                self._grids.clear()
            self._grids[key] = found
        return found


_SHAPES_PER_HOST = 16  # event type shapes and day ranges memoised per item set
_OUTLOOK_MEMO_SIZE = 4096  # item sets memoised (hosts, roughly)
_outlook_memo: dict[tuple[int, ...], _OutlookBusy] = {}
_outlook_memo_lock = threading.Lock()


def _outlook_busy(busy: Sequence[BusyItem]) -> _OutlookBusy:
    """The compiled items, memoised by the identity of each item.

    An entry keeps its items alive, so an id in a stored key still names the very object the
    caller holds: a hit means the same (immutable) items in the same order.
    """
    key = tuple(map(id, busy))
    found = _outlook_memo.get(key)
    if found is None:
        found = _OutlookBusy(tuple(busy))
        with _outlook_memo_lock:
            while len(_outlook_memo) >= _OUTLOOK_MEMO_SIZE:  # oldest first: dicts keep insertion order
                del _outlook_memo[next(iter(_outlook_memo))]
            _outlook_memo[key] = found
    return found


def clear_memos() -> None:
    """Forget every memoised computation (a fresh process's state; benchmarks time it)."""
    with _outlook_memo_lock:
        _outlook_memo.clear()
        _pool_memo.clear()
        global _pool_memo_hosts
        _pool_memo_hosts = 0
    _hours.cache_clear()
    _local_ticks.cache_clear()
    _steady_offsets.cache_clear()
    _instant.cache_clear()


# --- one host ------------------------------------------------------------------------------------


def _claim(c: Commitment, lead: int, lag: int) -> tuple[int, int]:
    """The starts a commitment forbids (rule 3), widened by its own buffers and then like any item."""
    epochs, epoch, tick = _UTC_EPOCHS, _EPOCH, _TICK
    b0 = (c.start - c.buffer_before - epochs.get(c.start.tzinfo, epoch)) // tick
    b1 = (c.end + c.buffer_after - epochs.get(c.end.tzinfo, epoch)) // tick
    return _widen(b0, b1, lead, lag)


#: A commitment in ticks: the span it blocks, `[start - buffer_before, end + buffer_after)`.
_Held = tuple[int, int]


def _held(commitments: Sequence[Commitment]) -> list[_Held]:
    """The commitments' blocked spans in ticks, once per host and computation (the claims of every
    event type shape come from these, as `_claim` gives them one by one)."""
    epochs, epoch, tick = _UTC_EPOCHS, _EPOCH, _TICK
    return [
        (
            (c.start - c.buffer_before - epochs.get(c.start.tzinfo, epoch)) // tick,
            (c.end + c.buffer_after - epochs.get(c.end.tzinfo, epoch)) // tick,
        )
        for c in commitments
    ]


def _commitment_ranges(held: Sequence[_Held], ask: _Ask) -> list[tuple[int, int]]:
    """Ranges of starts the host's commitments forbid (rule 3), each widened by its own buffers
    (`_claim` of each)."""
    lead, lag = ask.lead, ask.lag
    return [(b0 - lead, b1 + lag) for b0, b1 in held if b0 - lead < b1 + lag]


def _cap_counts(
    calendar: HostCalendar, event_type: EventType, zone: ZoneInfo
) -> tuple[dict[date, int], dict[date, int]]:
    """Confirmed bookings per local date: all of them, and those of `event_type` (rule 5)."""
    total: dict[date, int] = {}
    of_type: dict[date, int] = {}
    for commitment in calendar.commitments:
        if commitment.counts_toward_caps:
            day = commitment.start.astimezone(zone).date()
            total[day] = total.get(day, 0) + 1
            if commitment.event_type == event_type.slug:
                of_type[day] = of_type.get(day, 0) + 1
    return total, of_type


def _full_days(calendar: HostCalendar, event_type: EventType, zone: ZoneInfo) -> set[date]:
    """Local dates on which the host has reached a daily cap (rule 5)."""
    host_cap, type_cap = calendar.host.max_meetings_per_day, event_type.max_bookings_per_host_per_day
    if (host_cap is None and type_cap is None) or not calendar.commitments:
        return set()
    total, of_type = _cap_counts(calendar, event_type, zone)
    return _at_cap(total, host_cap) | _at_cap(of_type, type_cap)


def _at_cap(counts: Mapping[date, int], cap: int | None) -> set[date]:
    return set() if cap is None else {day for day, count in counts.items() if count >= cap}


def _host_starts(
    calendar: HostCalendar,
    ask: _Ask,
    days: dict[ZoneInfo, tuple[date, date]],
    outlook: _OutlookBusy | None = None,
    held: Sequence[_Held] | None = None,
) -> list[int]:
    """The host's valid starts, sorted and unique; `days` memoises `_local_days` per zone, and
    `outlook` is `_outlook_busy(calendar.busy)` and `held` is `_held(calendar.commitments)` if the
    caller has them."""
    zone = resolve_time_zone(calendar.host.time_zone)
    local_days = days.get(zone)
    if local_days is None:
        local_days = days[zone] = _local_days(ask.lower, ask.upper + ask.duration, zone)
    hours = _host_hours(calendar.host, zone, local_days)
    if not hours.spans:
        return []
    if outlook is None:
        outlook = _outlook_busy(calendar.busy)
    if held is None:
        held = _held(calendar.commitments)
    full_days = _full_days(calendar, ask.event_type, zone)
    if not hours.disjoint:  # overlapping working hours: one scan with everything, then sort
        forbidden = merge_spans(
            [*zip(*outlook.forbidden(ask.lead, ask.lag), strict=True), *_commitment_ranges(held, ask)]
        )
        cut = ([s for s, _ in forbidden], [e for _, e in forbidden])
        return sorted(set(_scan(hours, cut, ask, ask.lower, ask.upper, full_days)))

    grid = outlook.grid(hours, ask)
    starts = grid.starts[bisect_left(grid.starts, ask.lower) : bisect_left(grid.starts, ask.upper)]
    for low, high in _commitment_ranges(held, ask):
        del starts[bisect_left(starts, low) : bisect_left(starts, high)]
    if full_days:
        for span in hours.spans:
            if span.day in full_days:
                del starts[bisect_left(starts, span.start) : bisect_left(starts, span.end)]
    return starts


def host_slot_starts(
    calendar: HostCalendar, event_type: EventType, window: Interval, now: datetime
) -> list[datetime]:
    """Every valid start (UTC) of `event_type` for this host with start in `[window.start, window.end)`."""
    ask = _ask(event_type, window, now)
    return [] if ask is None else [_instant(start) for start in _host_starts(calendar, ask, {})]


# --- a pool of hosts -----------------------------------------------------------------------------


def pooled_slots(
    calendars: Sequence[HostCalendar],
    event_type: EventType,
    window: Interval,
    now: datetime,
    mode: PoolMode,
) -> list[Slot]:
    """The pool's slots, sorted by start, each listing the hosts free at it (sorted, unique).

    ANY_OF: a slot wherever at least one host is free, listing those hosts.
    ALL_OF: a slot only where every calendar's host is free, listing them all.
    """
    ask = _ask(event_type, window, now)
    if ask is None:
        return []
    ordered = sorted(calendars, key=lambda c: c.host.id)
    compiled = [_outlook_busy(calendar.busy) for calendar in ordered]
    # Everything the answer depends on but `now`: hosts and compiled items by identity (the entry pins
    # them, so an id in a stored key still names the very object), commitments and the rest by value.
    key = (
        event_type,
        window.start,
        window.end,
        mode,
        tuple(
            (id(calendar.host), id(outlook), tuple(calendar.commitments))
            for calendar, outlook in zip(ordered, compiled, strict=True)
        ),
    )
    found = _pool_memo.get(key)
    if found is None:
        # `now` only narrows the starts (notice, booking window): the answer over the whole window, cut
        # below, serves every request until commitments, items or configuration change.
        whole = replace(ask, lower=_ticks(window.start), upper=_ticks(window.end))
        held = [_held(calendar.commitments) for calendar in ordered]
        starts, slots = _pool(ordered, whole, mode, compiled, held)
        found = _PoolAnswer(pins=(*(c.host for c in ordered), *compiled), starts=starts, slots=slots)
        with _outlook_memo_lock:
            global _pool_memo_hosts
            # Oldest first, bounded by the hosts pinned (each pins its compiled items and grids).
            while _pool_memo and (
                len(_pool_memo) >= _POOL_MEMO_SIZE or _pool_memo_hosts + len(ordered) > _POOL_MEMO_HOSTS
            ):
                _pool_memo_hosts -= len(_pool_memo.pop(next(iter(_pool_memo))).pins) // 2
            _pool_memo[key] = found
            _pool_memo_hosts += len(ordered)
    first, last = bisect_left(found.starts, ask.lower), bisect_left(found.starts, ask.upper)
    return found.slots[first:last]


@dataclass(frozen=True, slots=True)
class _PoolAnswer:
    pins: tuple[object, ...]  # the hosts and compiled items whose ids are in the key
    starts: list[int]
    slots: list[Slot]


_POOL_MEMO_SIZE = 256  # pools x windows x configurations kept; each entry is one answer's slots
_POOL_MEMO_HOSTS = 2 * _OUTLOOK_MEMO_SIZE  # hosts pinned by all kept answers together
_pool_memo: dict[object, _PoolAnswer] = {}
_pool_memo_hosts = 0


def _pool(
    calendars: Sequence[HostCalendar],
    ask: _Ask,
    mode: PoolMode,
    compiled: Sequence[_OutlookBusy],
    held: Sequence[Sequence[_Held]],
) -> tuple[list[int], list[Slot]]:
    """Starts and slots of `calendars` (sorted by host id, with their compiled items and commitments in
    ticks) over `ask`'s bounds."""
    days: dict[ZoneInfo, tuple[date, date]] = {}
    free_at: defaultdict[int, list[str]] = defaultdict(list)
    for calendar, outlook, commitments in zip(calendars, compiled, held, strict=True):
        # `free_at[start].append(host_id)` for every start, looped in C: a pool has ~10^4 host-slots.
        lists = map(free_at.__getitem__, _host_starts(calendar, ask, days, outlook, commitments))
        deque(map(list.append, lists, repeat(calendar.host.id)), maxlen=0)
    needed = len(calendars) if mode == PoolMode.ALL_OF else 1
    repeated = len({c.host.id for c in calendars}) < len(calendars)  # the same host passed twice
    starts = sorted(free_at)
    if needed > 1:
        starts = [start for start in starts if len(free_at[start]) >= needed]
    # Looped in C: a pool has ~2,000 starts.
    lists = map(free_at.__getitem__, starts)
    host_ids = list(map(tuple, map(dict.fromkeys, lists) if repeated else lists))
    return starts, _slots(starts, host_ids, ask.duration)


#: `Slot`'s fields as the slot descriptors a frozen dataclass's `__init__` sets them through.
_SET_START, _SET_END, _SET_HOST_IDS = (vars(Slot)[name].__set__ for name in ("start", "end", "host_ids"))


def _slots(starts: list[int], host_ids: list[tuple[str, ...]], duration: int) -> list[Slot]:
    """One `Slot` per start (sorted, unique), ending `duration` later.

    A cold pool builds ~2,000 slots: the instants are made once per distinct value (a slot's end is
    usually a later slot's start), and each slot is filled through its slot descriptors, what
    `Slot.__init__` does but without its per-field `object.__setattr__` calls (`Slot` has no
    `__post_init__`: nothing is skipped; `test_slots_are_built_like_slot_init` holds this).
    """
    epoch = _EPOCH
    begins = [epoch + timedelta(0, 0, start) for start in starts]
    instants = dict(zip(starts, begins, strict=True))
    ends = [instants.get(start + duration) or epoch + timedelta(0, 0, start + duration) for start in starts]
    new, set_start, set_end, set_host_ids = object.__new__, _SET_START, _SET_END, _SET_HOST_IDS
    slots: list[Slot] = []
    append = slots.append
    for begin, end, ids in zip(begins, ends, host_ids, strict=True):
        slot = new(Slot)
        set_start(slot, begin)
        set_end(slot, end)
        set_host_ids(slot, ids)
        append(slot)
    return slots


def host_calendars(
    hosts: Sequence[Host],
    free_busy: Mapping[str, HostFreeBusy],
    commitments: Mapping[str, Sequence[Commitment]],
) -> tuple[dict[str, HostCalendar], list[str]]:
    """Calendars of the hosts Outlook answered for, and the ids of those it did not.

    A host without an answer (or with a per-schedule error) gets no calendar: an unknown calendar is never
    taken for a free one.
    """
    calendars: dict[str, HostCalendar] = {}
    unanswered: list[str] = []
    for host in hosts:
        answer = free_busy.get(host.id)
        if answer is None or answer.error is not None:
            unanswered.append(host.id)
            continue
        calendars[host.id] = HostCalendar(
            host=host, busy=answer.items, commitments=tuple(commitments.get(host.id, ()))
        )
    return calendars, unanswered
