"""The availability engine as it was before issue 17 (commit 989c0a0), kept verbatim as a reference.

Not used by the service. `bench/slots.py` times it against `scheduling_core.domain.availability` in the
same process, and `tests/unit/test_availability_fast_engine.py` checks on random inputs that the
fast engine gives exactly its answers. Only the imports changed: `HostCalendar` and `PoolMode` are
the engine's own (so both take the same inputs), and `merge_spans` is copied here so later edits of
`scheduling_core.domain.intervals` cannot change this reference. At the end, the Graph adapter's
conversion of getSchedule items and `BusyItem` as they were before issue 17 round 2 (datetime bounds).

Original module docstring:
    The availability engine: when can an event type be booked, with which hosts.

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
    Per host, blocking intervals become merged ranges of forbidden starts once; each
    working interval's grid is then cut by them (`bisect`, `range`), so the work grows
    with busy items and working intervals, not with minutes or candidates. Wall-time
    lookups are memoised (`_local_ticks`, pure), as hosts share zones and hours.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC as STDLIB_UTC
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from scheduling_core.adapters.graph_models import resolve_graph_time_zone
from scheduling_core.domain.availability import HostCalendar, PoolMode
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.timezones import UTC, resolve_time_zone
from scheduling_core.domain.values import (
    BLOCKING_SHOW_AS,
    WEEKDAYS,
    Commitment,
    EventType,
    Host,
    LocalTimeRange,
    ShowAs,
    Slot,
)
from scheduling_core.ports import HostFreeBusy


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`scheduling_core.intervals.merge_spans` as of commit 989c0a0, on integer spans."""
    result: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if not start < end:
            continue
        if result and not result[-1][1] < start:  # overlaps or touches the previous one
            if result[-1][1] < end:
                result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    return result


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


def local_to_utc(day: date, minute: int, zone: ZoneInfo, *, prefer: Prefer) -> datetime:
    """The instant a wall time `minute` minutes after `day`'s midnight denotes in `zone` (module doc)."""
    return _instant(_local_ticks(day, minute, zone, prefer == "latest"))


# --- working hours ---------------------------------------------------------------------------------


class _WorkingSpan(NamedTuple):
    start: int
    end: int
    day: date  # the local date whose hours these are


def _ranges_by_date(host: Host) -> tuple[dict[str, list[LocalTimeRange]], dict[date, list[LocalTimeRange]]]:
    weekly: dict[str, list[LocalTimeRange]] = {day: [] for day in WEEKDAYS}
    for rule in host.working_hours:
        for weekday in rule.days:
            weekly[weekday].append(rule.hours)
    overrides: dict[date, list[LocalTimeRange]] = {}
    for override in host.date_overrides:  # several overrides of one date add up
        overrides.setdefault(override.date, []).extend(override.intervals)
    return weekly, overrides


def _working_spans(host: Host, zone: ZoneInfo, first_day: date, last_day: date) -> list[_WorkingSpan]:
    """Working-hours intervals of every local date in `[first_day, last_day]`, sorted, not merged."""
    weekly, overrides = _ranges_by_date(host)
    spans: set[_WorkingSpan] = set()
    day = first_day
    while day <= last_day:
        ranges = overrides.get(day)
        for hours in weekly[WEEKDAYS[day.weekday()]] if ranges is None else ranges:
            start = _local_ticks(day, hours.start_minute, zone, False)
            end = _local_ticks(day, hours.end_minute, zone, True)
            if start < end:
                spans.add(_WorkingSpan(start, end, day))
        day += _ONE_DAY
    return sorted(spans)


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
    spans = _working_spans(host, zone, *_local_days(lower, upper, zone))
    return [Interval(_instant(s.start), _instant(s.end)) for s in spans if s.start < upper and lower < s.end]


# --- one host ------------------------------------------------------------------------------------


def _blocking(calendar: HostCalendar) -> list[tuple[int, int]]:
    """The host's blocking intervals (rule 3), unmerged."""
    epochs, epoch, tick = _UTC_EPOCHS, _EPOCH, _TICK  # `_ticks` inlined: this runs per Outlook item
    spans = [
        (
            (item.start - epochs.get(item.start.tzinfo, epoch)) // tick,
            (item.end - epochs.get(item.end.tzinfo, epoch)) // tick,
        )
        for item in calendar.busy
        if item.blocks
    ]
    spans.extend(
        (_ticks(c.start - c.buffer_before), _ticks(c.end + c.buffer_after)) for c in calendar.commitments
    )
    return spans


def _full_days(calendar: HostCalendar, event_type: EventType, zone: ZoneInfo) -> set[date]:
    """Local dates on which the host has reached a daily cap (rule 5)."""
    host_cap, type_cap = calendar.host.max_meetings_per_day, event_type.max_bookings_per_host_per_day
    if host_cap is None and type_cap is None:
        return set()
    total: Counter[date] = Counter()
    of_type: Counter[date] = Counter()
    for commitment in calendar.commitments:
        if commitment.counts_toward_caps:
            day = commitment.start.astimezone(zone).date()
            total[day] += 1
            if commitment.event_type == event_type.slug:
                of_type[day] += 1
    return _at_cap(total, host_cap) | _at_cap(of_type, type_cap)


def _at_cap(counts: Mapping[date, int], cap: int | None) -> set[date]:
    return set() if cap is None else {day for day, count in counts.items() if count >= cap}


def _host_starts(calendar: HostCalendar, event_type: EventType, window: Interval, now: datetime) -> list[int]:
    duration = event_type.duration // _TICK
    step = event_type.slot_interval // _TICK
    if duration <= 0 or step <= 0:
        raise ValueError("an event type needs a positive duration and slot interval")
    before, after = event_type.buffer_before // _TICK, event_type.buffer_after // _TICK

    # Rule 4 narrows the starts to [lower, upper).
    lower = max(_ticks(window.start), _ticks(now + timedelta(minutes=event_type.minimum_notice_minutes)))
    upper = _ticks(window.end)
    if event_type.booking_window_days is not None:
        upper = min(upper, _ticks(now + timedelta(days=event_type.booking_window_days)) + 1)
    if lower >= upper:
        return []

    zone = resolve_time_zone(calendar.host.time_zone)
    spans = _working_spans(calendar.host, zone, *_local_days(lower, upper + duration, zone))
    hour_ends = [end for _, end in merge_spans((span.start, span.end) for span in spans)]
    # Rule 3 turned around: a blocking [b0, b1) forbids the starts in (b0 - duration - after, b1 + before).
    forbidden = merge_spans((b0 - duration - after + 1, b1 + before) for b0, b1 in _blocking(calendar))
    forbidden_starts = [start for start, _ in forbidden]
    forbidden_ends = [end for _, end in forbidden]
    full_days = _full_days(calendar, event_type, zone)

    starts: list[int] = []
    for origin, end, day in spans:
        if end <= lower or origin >= upper or day in full_days:
            continue
        # Rule 2: the meeting must end inside the stretch of working hours this span belongs to.
        stretch_end = hour_ends[bisect_right(hour_ends, origin)]
        last = min(end - 1, upper - 1, stretch_end - duration)
        cursor = origin if lower <= origin else lower + (origin - lower) % step  # first grid point >= lower
        i = bisect_right(forbidden_ends, cursor)
        while i < len(forbidden) and forbidden_starts[i] <= last:
            if cursor < forbidden_starts[i]:
                starts.extend(range(cursor, forbidden_starts[i], step))
            if cursor < forbidden_ends[i]:
                cursor = forbidden_ends[i] + (origin - forbidden_ends[i]) % step  # next grid point
            i += 1
        starts.extend(range(cursor, last + 1, step))
    return sorted(set(starts))


def host_slot_starts(
    calendar: HostCalendar, event_type: EventType, window: Interval, now: datetime
) -> list[datetime]:
    """Every valid start (UTC) of `event_type` for this host with start in `[window.start, window.end)`."""
    return [_instant(start) for start in _host_starts(calendar, event_type, window, now)]


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
    free_at: defaultdict[int, list[str]] = defaultdict(list)
    for calendar in sorted(calendars, key=lambda c: c.host.id):
        host_id = calendar.host.id
        for start in _host_starts(calendar, event_type, window, now):
            free_at[start].append(host_id)
    needed = len(calendars) if mode == PoolMode.ALL_OF else 1
    repeated = len({c.host.id for c in calendars}) < len(calendars)  # the same host passed twice
    slots = []
    for start in sorted(free_at):
        ids = free_at[start]
        if len(ids) >= needed:
            begins = _instant(start)
            host_ids = tuple(dict.fromkeys(ids) if repeated else ids)
            slots.append(Slot(start=begins, end=begins + event_type.duration, host_ids=host_ids))
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


# --- the Graph adapter's conversion before issue 17 round 2 (commit 3247b71) ---------------------------
#
# Kept so that `bench/slots.py` can time the previous engine from the same Graph answers as the current
# one: `BusyItem` then held its bounds as aware datetimes, and `graph._Merged` built them through
# `DateTimeTimeZone.to_utc()` (`parse_graph_datetime`, memoised) and sorted them by datetime.


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviousBusyItem:
    """`scheduling_core.domain.values.BusyItem` before round 2, verbatim but for its name."""

    start: datetime
    end: datetime
    show_as: ShowAs
    is_cancelled: bool = False

    @property
    def blocks(self) -> bool:
        return not self.is_cancelled and self.show_as in BLOCKING_SHOW_AS


class PreviousMerged:
    """`scheduling_core.adapters.graph._Merged` before round 2, verbatim but for the item class."""

    def __init__(self) -> None:
        self.items: dict[tuple[datetime, datetime, str], PreviousBusyItem] = {}
        self.error: str | None = None
        self.answered = False

    def add(self, info: PreviousScheduleInformation) -> None:
        self.answered = True
        if info.error is not None:
            self.error = self.error or info.error.describe()
            return
        for item in info.schedule_items or ():
            start, end = item.start.to_utc(), item.end.to_utc()
            if start >= end:
                continue
            busy = PreviousBusyItem(start=start, end=end, show_as=item.status)
            self.items[(start, end, busy.show_as.value)] = busy

    def result(self) -> tuple[PreviousBusyItem, ...]:
        return tuple(sorted(self.items.values(), key=lambda item: (item.start, item.end)))


# --- getSchedule's wire models before issue 17 (commit 989c0a0) -------------------------------------------
#
# Kept so that `bench/slots.py` can time the previous side from getSchedule's JSON bytes: the adapter
# then parsed the body (`response.json()`) and validated it into these models
# (`GetScheduleResponse.model_validate`), three models per schedule item; `to_utc` called
# `parse_graph_datetime`, not yet memoised, and `_show_as` built its lookup table per item. Verbatim
# but for their names (prefixed `Previous`), `DateTimeTimeZone` reduced to the method read here,
# and `DayOfWeek`, `GraphModel` and the `dateTime` pattern written out.

_GRAPH_DATETIME = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d+))?(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)
PreviousDayOfWeek = Literal["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]


class PreviousGraphModel(BaseModel):
    """Base of the wire models: camelCase on the wire, snake_case in Python, extra fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


def previous_parse_graph_datetime(value: str, time_zone: str | None) -> datetime:
    """The UTC instant a Graph `dateTime` denotes in `time_zone` (an explicit offset wins)."""
    match = _GRAPH_DATETIME.match(value.strip())
    if match is None:
        raise ValueError(f"'{value}' is not a Graph dateTime")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    naive = datetime.fromisoformat(f"{match['base']}.{fraction}")
    offset = match["offset"]
    if offset is not None:
        stamp = datetime.fromisoformat(f"{naive.isoformat()}{'+00:00' if offset == 'Z' else offset}")
        return stamp.astimezone(UTC)
    zone = resolve_graph_time_zone(time_zone or "UTC")
    return naive.replace(tzinfo=zone).astimezone(UTC)


class PreviousDateTimeTimeZone(PreviousGraphModel):
    """`graph.dateTimeTimeZone`: a wall-clock time and the zone it is in."""

    date_time: str
    time_zone: str | None = None

    def to_utc(self) -> datetime:
        return previous_parse_graph_datetime(self.date_time, self.time_zone)


def _previous_show_as(value: object) -> object:
    """Graph's examples capitalise statuses ("Busy"); an unknown future member counts as unknown."""
    if isinstance(value, ShowAs) or not isinstance(value, str):
        return value
    by_lower = {member.value.lower(): member for member in ShowAs}
    return by_lower.get(value.lower(), ShowAs.UNKNOWN)


class PreviousScheduleItem(PreviousGraphModel):
    """`graph.scheduleItem`: one busy/free block of a schedule."""

    start: PreviousDateTimeTimeZone
    end: PreviousDateTimeTimeZone
    status: ShowAs = ShowAs.UNKNOWN
    is_private: bool | None = None
    subject: str | None = None
    location: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _lenient_status(cls, value: object) -> object:
        return _previous_show_as(value)


class PreviousFreeBusyError(PreviousGraphModel):
    """`graph.freeBusyError`: why one schedule could not be read (the call itself succeeded)."""

    message: str | None = None
    response_code: str | None = None

    def describe(self) -> str:
        parts = [part for part in (self.response_code, self.message) if part]
        return ": ".join(parts) or "Graph could not read this schedule"


class PreviousTimeZoneBase(PreviousGraphModel):
    name: str | None = None


class PreviousWorkingHours(PreviousGraphModel):
    days_of_week: list[PreviousDayOfWeek] | None = None
    start_time: str | None = None
    end_time: str | None = None
    time_zone: PreviousTimeZoneBase | None = None


class PreviousScheduleInformation(PreviousGraphModel):
    """`graph.scheduleInformation`: one requested schedule's items, or its `error`."""

    schedule_id: str | None = None
    availability_view: str | None = None
    schedule_items: list[PreviousScheduleItem] | None = None
    working_hours: PreviousWorkingHours | None = None
    error: PreviousFreeBusyError | None = None


class PreviousGetScheduleResponse(PreviousGraphModel):
    value: list[PreviousScheduleInformation] = Field(default_factory=list)
