"""Domain values of scheduling: hosts, event types, busy items, commitments, slots.

Every value is frozen. Every instant is an aware `datetime` in UTC; local wall
times appear only as minutes since local midnight (`LocalTimeRange`), so a
working day is tied to a zone only when `availability` expands it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Times of day, durations and buffers are whole multiples of this many minutes (event types, hours).
GRID_MINUTES = 5
MINUTES_PER_DAY = 24 * 60


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


@dataclass(frozen=True, slots=True, kw_only=True)
class BusyItem:
    """One item of a host's Outlook free/busy (a `scheduleItem` or an event), in UTC."""

    start: datetime
    end: datetime
    show_as: ShowAs
    is_cancelled: bool = False

    @property
    def blocks(self) -> bool:
        return not self.is_cancelled and self.show_as in BLOCKING_SHOW_AS


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
