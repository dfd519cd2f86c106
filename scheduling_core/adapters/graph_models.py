"""Wire payloads of Microsoft Graph v1.0 that this service reads or writes.

Every field's alias is a property name of the Graph v1.0 schema
(`../shared/reference/graph-v1.0-calendar-types.json`; a unit test holds the
models to it) and every enum is one of Graph's own members. Graph payloads are
parsed here once, at the adapter edge; properties we do not model are ignored,
so Graph adding properties never breaks parsing. Evolvable enums Graph may
extend (`freeBusyStatus`) parse an unknown member as `unknown`, which blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, NotRequired
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic.alias_generators import to_camel

# pydantic reads TypedDicts from typing_extensions on Python < 3.12 (the Functions runtime is 3.11).
from typing_extensions import TypedDict

from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.domain.values import ShowAs
from scheduling_core.errors import UnknownTimeZone

#: Graph writes local times with seven fractional digits: 2026-12-01T09:00:00.0000000
_GRAPH_DATETIME = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d+))?(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)
#: Graph sometimes names zones by an internal URI, e.g. "tzone://Microsoft/Utc".
_TZONE_URI_PREFIX = "tzone://Microsoft/"
_AWARE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

AttendeeType = Literal["required", "optional", "resource"]
BodyType = Literal["text", "html"]
EventType = Literal["singleInstance", "occurrence", "exception", "seriesMaster"]
Importance = Literal["low", "normal", "high"]
OnlineMeetingProviderType = Literal["unknown", "skypeForBusiness", "skypeForConsumer", "teamsForBusiness"]
ResponseType = Literal["none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"]
Sensitivity = Literal["normal", "personal", "private", "confidential"]


class GraphModel(BaseModel):
    """Base of the wire models: camelCase on the wire, snake_case in Python, extra fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON object Graph expects: aliases, and unset optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@lru_cache(maxsize=1 << 16)  # pure; a month of a pool's items shares a few thousand quarter-hour stamps
def parse_graph_datetime(value: str, time_zone: str | None) -> datetime:
    """The UTC instant a Graph `dateTime` denotes in `time_zone` (an explicit offset wins).

    Cached: a cold `GET /slots` parses two stamps per Outlook item (11,000 items for 50 hosts over a
    month), which cost more than the slot computation; the result is immutable and the cache's misses
    (unknown zones, malformed stamps) raise and are not kept.
    """
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


#: Zone names of answers given in UTC (what we ask for with `Prefer: outlook.timezone="UTC"`).
_UTC_NAMES = frozenset({None, "UTC", "tzone://Microsoft/Utc"})
#: Graph's usual UTC stamp, `2026-12-01T09:00:00.0000000`, split after the `T`: microseconds since 1970
#: of each date part seen (`2026-12-01T`) and within the day of each time part (`09:00:00.0000000`).
#: A cold month of a 50-host pool has ~20,000 stamps but a few dozen dates and a few hundred times of
#: day, so nearly every stamp is two dict hits. Emptied when one grows past `_PARTS_MEMO_SIZE`.
_day_memo: dict[str, int] = {}
_time_memo: dict[str, int] = {}
_PARTS_MEMO_SIZE = 1 << 14
_EPOCH_ORDINAL = _AWARE_EPOCH.toordinal()


def graph_datetime_microseconds(value: str, time_zone: str | None) -> int:
    """`parse_graph_datetime(value, time_zone)` as microseconds since 1970-01-01 UTC, the form of
    `BusyItem`'s bounds, without building an aware datetime for Graph's usual answer.

    That answer is a UTC wall time with seven fractional digits (`2026-12-01T09:00:00.0000000`): its
    fixed separators are checked and `date.fromisoformat` and `time.fromisoformat` (C) read the two
    parts (the seventh fractional digit is dropped, as `parse_graph_datetime` drops it), memoised per
    part. Anything else, and any zone but UTC, takes `parse_graph_datetime`.
    """
    if time_zone in _UTC_NAMES:
        day, moment = _day_memo.get(value[:11]), _time_memo.get(value[11:])
        if day is not None and moment is not None:  # both parts seen: a 27-character stamp of the form
            return day + moment
        if (
            len(value) == 27
            and value[4] == "-"
            and value[7] == "-"
            and value[10] == "T"
            and value[13] == ":"
            and value[16] == ":"
            and value[19] == "."
        ):
            try:
                # Only `YYYY-MM-DD` has these separators among the forms `date.fromisoformat` reads.
                wall_date, wall_time = date.fromisoformat(value[:10]), time.fromisoformat(value[11:])
            except ValueError:
                wall_time = None
            if wall_time is not None and wall_time.tzinfo is None:
                day = (wall_date.toordinal() - _EPOCH_ORDINAL) * 86_400_000_000
                seconds = (wall_time.hour * 60 + wall_time.minute) * 60 + wall_time.second
                moment = seconds * 1_000_000 + wall_time.microsecond
                if len(_day_memo) >= _PARTS_MEMO_SIZE or len(_time_memo) >= _PARTS_MEMO_SIZE:
                    _day_memo.clear()
                    _time_memo.clear()
                _day_memo[value[:11]] = day
                _time_memo[value[11:]] = moment
                return day + moment
    return (parse_graph_datetime(value, time_zone) - _AWARE_EPOCH) // _MICROSECOND


def schedule_item_bounds(items: Iterable[ScheduleItemWire]) -> list[tuple[int, int, ShowAs]]:
    """Each non-empty item's `(start, end, status)`, bounds as `graph_datetime_microseconds` gives them,
    status as `show_as_of` reads it (`unknown` when absent, as Graph's default).

    The memos are consulted inline (a function call per stamp costs as much as two hits): a cold month
    of a 50-host pool has ~20,000 stamps.
    """
    days, times, utc, parse = _day_memo.get, _time_memo.get, _UTC_NAMES, graph_datetime_microseconds
    statuses, unknown = _SHOW_AS_BY_VALUE.get, ShowAs.UNKNOWN
    bounds: list[tuple[int, int, ShowAs]] = []
    append = bounds.append
    for item in items:
        start, end = item["start"], item["end"]
        stamp, zone = start["dateTime"], start.get("timeZone")
        day = days(stamp[:11], -1) if zone in utc else -1  # -1: not memoised (a day is >= 0 after 1970)
        moment = times(stamp[11:], -1) if day >= 0 else -1
        begin = day + moment if moment >= 0 else parse(stamp, zone)
        stamp, zone = end["dateTime"], end.get("timeZone")
        day = days(stamp[:11], -1) if zone in utc else -1
        moment = times(stamp[11:], -1) if day >= 0 else -1
        finish = day + moment if moment >= 0 else parse(stamp, zone)
        if begin < finish:  # an empty or reversed item blocks nothing
            status = item.get("status")
            show_as = unknown if status is None else statuses(status) or show_as_of(status)
            append((begin, finish, show_as))
    return bounds


def clear_parse_memos() -> None:
    """Forget every parsed `dateTime` (a fresh process's state; benchmarks time it)."""
    _day_memo.clear()
    _time_memo.clear()
    parse_graph_datetime.cache_clear()


def resolve_graph_time_zone(name: str) -> ZoneInfo:
    """A Windows, IANA or `tzone://Microsoft/...` zone name as a `ZoneInfo`; ValueError otherwise."""
    if name.startswith(_TZONE_URI_PREFIX):
        name = name[len(_TZONE_URI_PREFIX) :]
        if name.lower() == "utc":
            name = "UTC"
    try:
        return resolve_time_zone(name)
    except UnknownTimeZone as exc:  # from Graph this is a malformed answer, not the caller's bad input
        raise ValueError(f"Graph named an unknown time zone '{name}'") from exc


def format_graph_datetime(instant: datetime) -> str:
    """An aware instant as Graph's UTC wall time with seven fractional digits."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0"


class DateTimeTimeZone(GraphModel):
    """`graph.dateTimeTimeZone`: a wall-clock time and the zone it is in."""

    date_time: str
    time_zone: str | None = None

    @classmethod
    def utc(cls, instant: datetime) -> DateTimeTimeZone:
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        return cls(date_time=format_graph_datetime(instant), time_zone="UTC")

    def to_utc(self) -> datetime:
        return parse_graph_datetime(self.date_time, self.time_zone)


class EmailAddress(GraphModel):
    address: str | None = None
    name: str | None = None


class Recipient(GraphModel):
    email_address: EmailAddress | None = None


class ResponseStatus(GraphModel):
    response: ResponseType | None = None
    time: str | None = None


class Attendee(GraphModel):
    email_address: EmailAddress | None = None
    type: AttendeeType | None = None
    status: ResponseStatus | None = None


class ItemBody(GraphModel):
    content_type: BodyType | None = None
    content: str | None = None


class Location(GraphModel):
    display_name: str | None = None


class OnlineMeetingInfo(GraphModel):
    join_url: str | None = None


_SHOW_AS_BY_VALUE: dict[str, ShowAs] = {member.value: member for member in ShowAs}
_SHOW_AS_BY_LOWER: dict[str, ShowAs] = {member.value.lower(): member for member in ShowAs}


def show_as_of(status: str) -> ShowAs:
    """A `freeBusyStatus` read leniently: Graph's examples capitalise statuses ("Busy"), and an unknown
    future member of this evolvable enum counts as unknown (which blocks)."""
    found = _SHOW_AS_BY_VALUE.get(status)
    return found if found is not None else _SHOW_AS_BY_LOWER.get(status.lower(), ShowAs.UNKNOWN)


def _show_as(value: object) -> object:
    """`show_as_of` for a model's field validator: anything but a string is left to the field's type."""
    return show_as_of(value) if isinstance(value, str) else value


# --- getSchedule's answer, as typed dicts ------------------------------------------------------------
#
# The one Graph answer read in bulk (~10^4 schedule items for a cold month of a 50-host pool), so it is
# validated straight from the response bytes into plain dicts (`GET_SCHEDULE_ANSWER.validate_json`,
# pydantic-core in Rust) instead of into three models per item: ~6x less CPU, the difference mostly the
# garbage collector walking ~30,000 fresh model objects (docs/decisions.md, cold slot computation,
# round 4). The keys are Graph's own (camelCase) and a unit test holds them to the schema, like the
# models; only the properties we read are declared, the rest are ignored.


class DateTimeTimeZoneWire(TypedDict):
    """`graph.dateTimeTimeZone` as getSchedule writes it (the `DateTimeTimeZone` model elsewhere)."""

    dateTime: str
    timeZone: NotRequired[str | None]


class ScheduleItemWire(TypedDict):
    """`graph.scheduleItem`: one busy/free block of a schedule; `status` read by `show_as_of`."""

    start: DateTimeTimeZoneWire
    end: DateTimeTimeZoneWire
    status: NotRequired[str]


class FreeBusyErrorWire(TypedDict):
    """`graph.freeBusyError`: why one schedule could not be read (the call itself succeeded)."""

    message: NotRequired[str | None]
    responseCode: NotRequired[str | None]


def describe_free_busy_error(error: FreeBusyErrorWire) -> str:
    parts = [part for part in (error.get("responseCode"), error.get("message")) if part]
    return ": ".join(parts) or "Graph could not read this schedule"


class ScheduleInformationWire(TypedDict):
    """`graph.scheduleInformation`: one requested schedule's items, or its `error`."""

    scheduleId: NotRequired[str | None]
    scheduleItems: NotRequired[list[ScheduleItemWire] | None]
    error: NotRequired[FreeBusyErrorWire | None]


class GetScheduleAnswer(TypedDict):
    """The body of getSchedule's answer: a collection of `graph.scheduleInformation`."""

    value: NotRequired[list[ScheduleInformationWire]]


#: Validates a getSchedule answer's JSON bytes (`validate_json`) or parsed JSON (`validate_python`).
GET_SCHEDULE_ANSWER: TypeAdapter[GetScheduleAnswer] = TypeAdapter(GetScheduleAnswer)


class GetScheduleRequest(GraphModel):
    """Body of `POST /users/{id}/calendar/getSchedule` (action parameters, not a schema type)."""

    schedules: list[str]
    start_time: DateTimeTimeZone
    end_time: DateTimeTimeZone
    availability_view_interval: int | None = Field(default=None, ge=5, le=1440)


class SingleValueExtendedProperty(GraphModel):
    """`graph.singleValueLegacyExtendedProperty`: one named value on an item (our booking id stamp)."""

    id: str | None = None
    value: str | None = None


class Removed(GraphModel):
    """Delta's `@removed` annotation: the item was deleted or left the window (`reason`)."""

    reason: str | None = None


class Event(GraphModel):
    """The subset of `graph.event` this service reads and writes.

    Every property is optional: a delta page's removals carry only `id` and `@removed`, and Graph
    answers occurrences of a series in a delta page with only id, type, start and end."""

    id: str | None = None
    created_date_time: str | None = None
    last_modified_date_time: str | None = None
    change_key: str | None = None
    subject: str | None = None
    body: ItemBody | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    show_as: ShowAs | None = None
    is_cancelled: bool | None = None
    is_all_day: bool | None = None
    type: EventType | None = None
    sensitivity: Sensitivity | None = None
    importance: Importance | None = None
    organizer: Recipient | None = None
    attendees: list[Attendee] | None = None
    location: Location | None = None
    transaction_id: str | None = None
    i_cal_u_id: str | None = None
    is_online_meeting: bool | None = None
    online_meeting_provider: OnlineMeetingProviderType | None = None
    online_meeting: OnlineMeetingInfo | None = None
    web_link: str | None = None
    single_value_extended_properties: list[SingleValueExtendedProperty] | None = None
    #: An instance annotation, not a property: present only on a delta page's removals.
    removed: Removed | None = Field(default=None, alias="@removed")

    @field_validator("show_as", mode="before")
    @classmethod
    def _lenient_show_as(cls, value: object) -> object:
        return _show_as(value)


class EventPage(GraphModel):
    """One page of `/events` or `/calendarView`; follow `next_link` for the rest."""

    value: list[Event] = Field(default_factory=list)
    next_link: str | None = Field(default=None, alias="@odata.nextLink")


class EventListing(GraphModel):
    """One page of `calendarView/delta` or of an `/events` query. Its items stay unparsed here: each is
    read on its own (`outlook_calendar.read_event`), so one item Graph wrote oddly cannot cost the page."""

    value: list[Any] = Field(default_factory=list)
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


class GraphErrorDetail(GraphModel):
    code: str | None = None
    message: str | None = None


class GraphError(GraphModel):
    """Graph's error body: `{"error": {"code", "message", "innerError"}}`."""

    error: GraphErrorDetail | None = None
