"""Domain values of scheduling: hosts, event types, busy items, commitments, slots.

Every value is frozen. Every instant is an aware `datetime` in UTC (a `BusyItem` holds its bounds as
integer microseconds since 1970 and gives them as such datetimes); local wall
times appear only as minutes since local midnight (`LocalTimeRange`), so a
working day is tied to a zone only when `availability` expands it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Times of day, durations and buffers are whole multiples of this many minutes (event types, hours).
GRID_MINUTES = 5
MINUTES_PER_DAY = 24 * 60
#: What this service takes for an email address (hosts, invitees, answers): a shape check only;
#: Outlook and Dataverse decide whether the mailbox or record exists.
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ShowAs(StrEnum):
    """Outlook's free/busy status (`graph.freeBusyStatus`)."""

    UNKNOWN = "unknown"
    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"


#: Statuses that make a host unavailable (api.md, slot rule 3).
BLOCKING_SHOW_AS: frozenset[ShowAs] = frozenset({ShowAs.BUSY, ShowAs.TENTATIVE, ShowAs.OOF, ShowAs.UNKNOWN})


class Assignment(StrEnum):
    SINGLE = "single"
    ROUND_ROBIN = "roundRobin"
    COLLECTIVE = "collective"


class LocationKind(StrEnum):
    TEAMS = "teams"
    PHONE = "phone"
    IN_PERSON = "inPerson"
    CUSTOM = "custom"


class OutlookEditPolicy(StrEnum):
    """What a host's hand edit of a booked meeting's time in Outlook does to the booking."""

    FLAG = "flag"  # the booking keeps its time; the drift is recorded and announced
    ACCEPT = "accept"  # Outlook wins: the booking moves to the new time
    REVERT = "revert"  # the booking wins: the Outlook event is moved back


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalTimeRange:
    """A wall-clock range within one local date: minutes since midnight, `end` up to 1440 (24:00)."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("a local time range needs 00:00 <= start < end <= 24:00")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingHoursRule:
    """Recurring weekly hours: on each of `days`, the host works `hours` (local wall time)."""

    days: frozenset[Weekday]
    hours: LocalTimeRange


@dataclass(frozen=True, slots=True, kw_only=True)
class DateOverride:
    """Replaces one local date's working hours; an empty `intervals` is a day off."""

    date: date
    intervals: tuple[LocalTimeRange, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """A bookable person or resource mailbox; `id` is the Entra ID object id."""

    id: str
    email: str
    display_name: str
    time_zone: str  # IANA key
    working_hours: tuple[WorkingHoursRule, ...]
    date_overrides: tuple[DateOverride, ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)
    territories: tuple[str, ...] = ()
    weight: int = 100
    max_meetings_per_day: int | None = None
    active: bool = True
    dynamics_user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    kind: LocationKind = LocationKind.TEAMS
    value: str | None = None


class QuestionKind(StrEnum):
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    NUMBER = "number"
    SELECT = "select"


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """One question the booking page asks before slots (routing.md, "Conditions on answers")."""

    id: str
    label: str
    kind: QuestionKind
    options: tuple[str, ...] = ()  # select only
    required: bool = False


class SelfServiceReschedule(StrEnum):
    """Where an invitee may move a booking through its manage link."""

    SAME_HOST = "sameHost"  # only the booking's own hosts' free times
    REROUTE = "reroute"  # the event type's routing decides again; the host may change


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfService:
    """What an invitee may do with a booking through its manage link (api.md, `selfService`)."""

    allow_cancel: bool = True
    allow_reschedule: bool = True
    cutoff_minutes: int = 0  # changes are refused from this many minutes before the start
    reschedule: SelfServiceReschedule = SelfServiceReschedule.SAME_HOST
    require_reason: bool = False

    @property
    def cutoff(self) -> timedelta:
        return timedelta(minutes=self.cutoff_minutes)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventType:
    """What can be booked: duration, slot grid, buffers and the booking rules around it."""

    slug: str
    title: str
    duration_minutes: int
    slot_interval_minutes: int | None = None
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    minimum_notice_minutes: int = 0
    booking_window_days: int | None = None
    max_bookings_per_host_per_day: int | None = None
    assignment: Assignment = Assignment.SINGLE
    routing_rule_set: str | None = None
    host_ids: tuple[str, ...] = ()
    #: Reminder emails to the invitee, as minutes before the start (sorted, distinct).
    reminders: tuple[int, ...] = ()
    location: Location = field(default_factory=Location)
    required_fields: tuple[str, ...] = ()
    outlook_edit_policy: OutlookEditPolicy = OutlookEditPolicy.FLAG
    #: Offered on the key-less booking page (`/book/{slug}`); off unless an admin turns it on.
    public: bool = False
    #: Asked first on the booking page; answers travel as `answers` and may route (`when`).
    questions: tuple[Question, ...] = ()
    self_service: SelfService = field(default_factory=SelfService)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def slot_interval(self) -> timedelta:
        return timedelta(minutes=self.slot_interval_minutes or self.duration_minutes)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)


#: Origin of `BusyItem`'s integer bounds: microseconds since the Unix epoch, in UTC.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_microseconds(instant: datetime) -> int:
    """An aware instant as whole microseconds since `EPOCH` (exact: datetimes have no finer digits)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return (instant - EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True, init=False, repr=False)
class BusyItem:
    """One item of a host's Outlook free/busy (a `scheduleItem` or an event), in UTC.

    The bounds are held as integer microseconds since `EPOCH` (`start_us`, `end_us`), exact for
    any aware datetime: the Graph adapter parses Graph's `dateTime` strings straight to them and
    the availability engine reads them without datetime arithmetic (a cold pool has ~10^4 items).
    `start` and `end` give them as aware UTC datetimes; `BusyItem(start=..., end=...)` takes those.
    """

    start_us: int
    end_us: int
    show_as: ShowAs
    is_cancelled: bool
    #: Derived from the two above (`compare=False`): stored because the engine reads it per item.
    blocks: bool = field(compare=False)

    def __init__(
        self, *, start: datetime, end: datetime, show_as: ShowAs, is_cancelled: bool = False
    ) -> None:
        _init_busy_item(self, epoch_microseconds(start), epoch_microseconds(end), show_as, is_cancelled)

    @classmethod
    def of_microseconds(
        cls, start_us: int, end_us: int, show_as: ShowAs, is_cancelled: bool = False
    ) -> BusyItem:
        """An item from bounds already in microseconds since `EPOCH` (the Graph adapter's parse)."""
        item = object.__new__(cls)
        # `_init_busy_item` inlined: the adapter builds ~10^4 items per cold pool.
        _SET_START_US(item, start_us)
        _SET_END_US(item, end_us)
        _SET_SHOW_AS(item, show_as)
        _SET_IS_CANCELLED(item, is_cancelled)
        _SET_BLOCKS(item, not is_cancelled and id(show_as) in _BLOCKING_IDS)
        return item

    @property
    def start(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.start_us)

    @property
    def end(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.end_us)

    def __repr__(self) -> str:
        return (
            f"BusyItem(start={self.start!r}, end={self.end!r}, show_as={self.show_as!r}, "
            f"is_cancelled={self.is_cancelled!r})"
        )


#: `BusyItem`'s fields as the slot descriptors a frozen dataclass's `__init__` sets them through.
_SET_START_US, _SET_END_US, _SET_SHOW_AS, _SET_IS_CANCELLED, _SET_BLOCKS = (
    vars(BusyItem)[name].__set__ for name in ("start_us", "end_us", "show_as", "is_cancelled", "blocks")
)


#: `BLOCKING_SHOW_AS` by identity: an enum member hashes through a Python-level `__hash__`, an id in C.
_BLOCKING_IDS = frozenset(map(id, BLOCKING_SHOW_AS))


def _init_busy_item(item: BusyItem, start_us: int, end_us: int, show_as: ShowAs, is_cancelled: bool) -> None:
    """What a frozen dataclass's `__init__` does, through the slot descriptors (a third of the cost
    of its `object.__setattr__` per field; the adapter builds ~10^4 items per cold pool), plus `blocks`."""
    _SET_START_US(item, start_us)
    _SET_END_US(item, end_us)
    _SET_SHOW_AS(item, show_as)
    _SET_IS_CANCELLED(item, is_cancelled)
    _SET_BLOCKS(item, not is_cancelled and id(show_as) in _BLOCKING_IDS)


def busy_items_of_microseconds(bounds: Iterable[tuple[int, int, ShowAs]]) -> list[BusyItem]:
    """`BusyItem.of_microseconds(start, end, show_as)` of each of `bounds`, in one loop (the Graph
    adapter builds ~10^4 items per cold pool; a call per item costs a fifth of building it)."""
    new, blocking = object.__new__, _BLOCKING_IDS
    set_start, set_end, set_show_as, set_is_cancelled, set_blocks = (
        _SET_START_US,
        _SET_END_US,
        _SET_SHOW_AS,
        _SET_IS_CANCELLED,
        _SET_BLOCKS,
    )
    items: list[BusyItem] = []
    append = items.append
    for start_us, end_us, show_as in bounds:
        item = new(BusyItem)
        set_start(item, start_us)
        set_end(item, end_us)
        set_show_as(item, show_as)
        set_is_cancelled(item, False)
        set_blocks(item, id(show_as) in blocking)
        append(item)
    return items


@dataclass(frozen=True, slots=True, kw_only=True)
class Commitment:
    """This service's own claim on a host's time: a confirmed booking or an unexpired hold.

    It blocks `[start - buffer_before, end + buffer_after)` with its *own* event
    type's buffers; only confirmed bookings count toward daily caps.
    """

    start: datetime
    end: datetime
    event_type: str
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    counts_toward_caps: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """A bookable meeting time and the hosts free at it (sorted host ids)."""

    start: datetime
    end: datetime
    host_ids: tuple[str, ...]
