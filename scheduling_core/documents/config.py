"""Configuration documents as the admin API accepts, stores and returns them.

These pydantic models are the boundary form of `Host` and `EventType`: camelCase
JSON, validated once, then turned into frozen domain values. The mapping is
lossless (`to_domain` then `from_domain` gives the same document back), which is
what lets the Table adapter store documents and hand out domain values.
"""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scheduling_core.documents.fields import email_address, zone_name
from scheduling_core.domain.values import (
    GRID_MINUTES,
    MINUTES_PER_DAY,
    Assignment,
    DateOverride,
    EventType,
    Host,
    LocalTimeRange,
    Location,
    LocationKind,
    OutlookEditPolicy,
    Question,
    QuestionKind,
    SelfService,
    SelfServiceReschedule,
    Weekday,
    WorkingHoursRule,
)

#: Every time a booking can start, last or be buffered by sits on this grid, which bounds how many claims
#: one day row can hold (see `bookings.MAX_ENTRIES_PER_DAY`).
#: Each buffer (api.md Limits): a claim is then at most 1440 + 2 x 480 minutes, so it touches at most
#: three UTC day rows (docs/decisions.md, "Long meetings").
MAX_BUFFER_MINUTES = 480
_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
#: Azure Table keys may not contain / \ # ? or control characters; ids are used as keys.
HOST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"


def clock_to_minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def minutes_to_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class TimeRangeDoc(Document):
    start: str = Field(description="HH:MM local wall time")
    end: str = Field(description="HH:MM local wall time; 24:00 means the end of the day")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("must be HH:MM between 00:00 and 24:00")
        if clock_to_minutes(value) % GRID_MINUTES:
            raise ValueError(f"must be on the {GRID_MINUTES}-minute grid (e.g. 09:00, 09:05)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeDoc:
        if self.start == "24:00":
            raise ValueError("start cannot be 24:00")
        if clock_to_minutes(self.start) >= clock_to_minutes(self.end):
            raise ValueError("end must be after start")
        return self

    def to_domain(self) -> LocalTimeRange:
        return LocalTimeRange(
            start_minute=clock_to_minutes(self.start), end_minute=clock_to_minutes(self.end)
        )

    @classmethod
    def from_domain(cls, value: LocalTimeRange) -> TimeRangeDoc:
        return cls(start=minutes_to_clock(value.start_minute), end=minutes_to_clock(value.end_minute))


class WorkingHoursDoc(TimeRangeDoc):
    days: list[Weekday] = Field(min_length=1)


class DateOverrideDoc(Document):
    date: date
    intervals: list[TimeRangeDoc] = Field(default_factory=list, max_length=24)


def _no_overlap(ranges: list[LocalTimeRange], what: str) -> None:
    ordered = sorted(ranges, key=lambda r: r.start_minute)
    for earlier, later in pairwise(ordered):
        if later.start_minute < earlier.end_minute:
            raise ValueError(f"{what} overlap")


class HostDoc(Document):
    """`PUT /admin/hosts/{hostId}` body; `hostId` is the Entra ID object id (Graph user id)."""

    email: str = Field(max_length=320)
    displayName: str = Field(min_length=1, max_length=256)
    timeZone: str = Field(description="IANA or Windows zone name; stored as IANA")
    workingHours: list[WorkingHoursDoc] = Field(default_factory=list, max_length=100)
    dateOverrides: list[DateOverrideDoc] = Field(default_factory=list, max_length=1000)
    skills: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[int, Field(ge=0, le=100)]] = (
        Field(default_factory=dict)
    )
    territories: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    weight: int = Field(default=100, ge=0, le=1_000_000)
    maxMeetingsPerDay: int | None = Field(default=None, ge=1, le=1000)
    active: bool = True
    dynamicsUserId: str | None = Field(default=None, max_length=64)

    _email = field_validator("email")(email_address)
    _zone = field_validator("timeZone")(zone_name)

    @model_validator(mode="after")
    def _consistent(self) -> HostDoc:
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            _no_overlap(
                [w.to_domain() for w in self.workingHours if day in w.days], f"working hours on {day}"
            )
        seen: set[date] = set()
        for override in self.dateOverrides:
            if override.date in seen:
                raise ValueError(f"two date overrides for {override.date}")
            seen.add(override.date)
            _no_overlap([i.to_domain() for i in override.intervals], f"intervals of {override.date}")
        return self

    def to_domain(self, host_id: str) -> Host:
        return Host(
            id=host_id,
            email=self.email,
            display_name=self.displayName,
            time_zone=self.timeZone,
            working_hours=tuple(
                WorkingHoursRule(days=frozenset(w.days), hours=w.to_domain()) for w in self.workingHours
            ),
            date_overrides=tuple(
                DateOverride(date=o.date, intervals=tuple(i.to_domain() for i in o.intervals))
                for o in self.dateOverrides
            ),
            skills=dict(self.skills),
            territories=tuple(self.territories),
            weight=self.weight,
            max_meetings_per_day=self.maxMeetingsPerDay,
            active=self.active,
            dynamics_user_id=self.dynamicsUserId,
        )

    @classmethod
    def from_domain(cls, host: Host) -> HostDoc:
        order = {d: i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
        return cls(
            email=host.email,
            displayName=host.display_name,
            timeZone=host.time_zone,
            workingHours=[
                WorkingHoursDoc(
                    days=sorted(rule.days, key=order.__getitem__),
                    start=minutes_to_clock(rule.hours.start_minute),
                    end=minutes_to_clock(rule.hours.end_minute),
                )
                for rule in host.working_hours
            ],
            dateOverrides=[
                DateOverrideDoc(date=o.date, intervals=[TimeRangeDoc.from_domain(i) for i in o.intervals])
                for o in host.date_overrides
            ],
            skills=dict(host.skills),
            territories=list(host.territories),
            weight=host.weight,
            maxMeetingsPerDay=host.max_meetings_per_day,
            active=host.active,
            dynamicsUserId=host.dynamics_user_id,
        )


class LocationDoc(Document):
    kind: Literal["teams", "phone", "inPerson", "custom"] = "teams"
    value: str | None = Field(default=None, max_length=1024)


QUESTION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_QUESTIONS = 20
MAX_OPTIONS = 50


class QuestionDoc(Document):
    """A question of an event type: `{"id", "label", "kind", "options"?, "required"}`."""

    id: str = Field(pattern=QUESTION_ID_PATTERN, description="Answers travel as answers.<id>")
    label: str = Field(min_length=1, max_length=200)
    kind: Literal["text", "email", "phone", "number", "select"]
    options: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=MAX_OPTIONS, description="select only: the values offered"
    )
    required: bool = False

    @model_validator(mode="after")
    def _options(self) -> QuestionDoc:
        if self.kind == "select":
            if not self.options:
                raise ValueError("a select question needs at least one option")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options must be unique")
        elif self.options is not None:
            raise ValueError(f"options are only for select questions, not {self.kind}")
        return self

    def to_domain(self) -> Question:
        return Question(
            id=self.id,
            label=self.label,
            kind=QuestionKind(self.kind),
            options=tuple(self.options or ()),
            required=self.required,
        )

    @classmethod
    def from_domain(cls, question: Question) -> QuestionDoc:
        return cls(
            id=question.id,
            label=question.label,
            kind=question.kind.value,
            options=list(question.options) if question.kind is QuestionKind.SELECT else None,
            required=question.required,
        )


class SelfServiceDoc(Document):
    """What an invitee may do through the booking's manage link (api.md, "Self-service")."""

    allowCancel: bool = True
    allowReschedule: bool = True
    cutoffMinutes: int = Field(
        default=0, ge=0, le=365 * MINUTES_PER_DAY, description="Changes refused this close to the start"
    )
    reschedule: Literal["sameHost", "reroute"] = "sameHost"
    requireReason: bool = False

    def to_domain(self) -> SelfService:
        return SelfService(
            allow_cancel=self.allowCancel,
            allow_reschedule=self.allowReschedule,
            cutoff_minutes=self.cutoffMinutes,
            reschedule=SelfServiceReschedule(self.reschedule),
            require_reason=self.requireReason,
        )

    @classmethod
    def from_domain(cls, value: SelfService) -> SelfServiceDoc:
        return cls(
            allowCancel=value.allow_cancel,
            allowReschedule=value.allow_reschedule,
            cutoffMinutes=value.cutoff_minutes,
            reschedule=value.reschedule.value,
            requireReason=value.require_reason,
        )


#: Reminders per event type, and how early one may go: four weeks (the booking window is usually shorter).
MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 28 * MINUTES_PER_DAY


class ReminderDoc(Document):
    minutesBefore: int = Field(ge=5, le=MAX_REMINDER_MINUTES)


_REQUIRED_FIELD = re.compile(r"^(context|answers|invitee)\.[A-Za-z0-9_-]{1,64}$")


class EventTypeDoc(Document):
    """`PUT /admin/event-types/{slug}` body."""

    title: str = Field(min_length=1, max_length=256)
    durationMinutes: int = Field(ge=5, le=MINUTES_PER_DAY)
    slotIntervalMinutes: int | None = Field(default=None, ge=5, le=MINUTES_PER_DAY)
    bufferBeforeMinutes: int = Field(default=0, ge=0, le=MAX_BUFFER_MINUTES)
    bufferAfterMinutes: int = Field(default=0, ge=0, le=MAX_BUFFER_MINUTES)
    minimumNoticeMinutes: int = Field(default=0, ge=0, le=365 * MINUTES_PER_DAY)
    bookingWindowDays: int | None = Field(default=60, ge=1, le=3650)
    maxBookingsPerHostPerDay: int | None = Field(default=None, ge=1, le=1000)
    assignment: Literal["single", "roundRobin", "collective"] = "single"
    routingRuleSet: str | None = Field(default=None, pattern=SLUG_PATTERN)
    hostIds: list[Annotated[str, Field(pattern=HOST_ID_PATTERN)]] = Field(
        default_factory=list, max_length=500
    )
    reminders: list[ReminderDoc] = Field(
        default_factory=list, max_length=MAX_REMINDERS, description="Emails to the invitee before the start"
    )
    location: LocationDoc = Field(default_factory=LocationDoc)
    requiredFields: list[str] = Field(default_factory=list, max_length=50)
    outlookEditPolicy: Literal["flag", "accept", "revert"] = "flag"
    public: bool = Field(default=False, description="Offered on the key-less booking page /book/{slug}")
    questions: list[QuestionDoc] = Field(
        default_factory=list, max_length=MAX_QUESTIONS, description="Asked first on the booking page"
    )

    @field_validator("questions")
    @classmethod
    def _unique_questions(cls, value: list[QuestionDoc]) -> list[QuestionDoc]:
        first: dict[str, int] = {}
        for index, question in enumerate(value):
            if question.id in first:
                raise ValueError(f"question ids must be unique: questions.{index}.id repeats '{question.id}'")
            first[question.id] = index
        return value

    selfService: SelfServiceDoc = Field(default_factory=SelfServiceDoc)

    @field_validator("requiredFields")
    @classmethod
    def _required_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _REQUIRED_FIELD.match(name):
                raise ValueError(f"'{name}' must look like context.x, answers.x or invitee.x")
        return value

    @field_validator(
        "durationMinutes",
        "slotIntervalMinutes",
        "bufferBeforeMinutes",
        "bufferAfterMinutes",
        "minimumNoticeMinutes",
    )
    @classmethod
    def _on_grid(cls, value: int | None) -> int | None:
        if value is not None and value % GRID_MINUTES:
            raise ValueError(f"must be a multiple of {GRID_MINUTES} minutes")
        return value

    @field_validator("hostIds")
    @classmethod
    def _unique_hosts(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("host ids must be unique")
        return value

    @field_validator("reminders")
    @classmethod
    def _unique_reminders(cls, value: list[ReminderDoc]) -> list[ReminderDoc]:
        if len({r.minutesBefore for r in value}) != len(value):
            raise ValueError("two reminders at the same minutesBefore")
        return value

    def to_domain(self, slug: str) -> EventType:
        return EventType(
            slug=slug,
            title=self.title,
            duration_minutes=self.durationMinutes,
            slot_interval_minutes=self.slotIntervalMinutes,
            buffer_before_minutes=self.bufferBeforeMinutes,
            buffer_after_minutes=self.bufferAfterMinutes,
            minimum_notice_minutes=self.minimumNoticeMinutes,
            booking_window_days=self.bookingWindowDays,
            max_bookings_per_host_per_day=self.maxBookingsPerHostPerDay,
            assignment=Assignment(self.assignment),
            routing_rule_set=self.routingRuleSet,
            host_ids=tuple(self.hostIds),
            reminders=tuple(sorted(r.minutesBefore for r in self.reminders)),
            location=Location(kind=LocationKind(self.location.kind), value=self.location.value),
            required_fields=tuple(self.requiredFields),
            outlook_edit_policy=OutlookEditPolicy(self.outlookEditPolicy),
            public=self.public,
            questions=tuple(q.to_domain() for q in self.questions),
            self_service=self.selfService.to_domain(),
        )

    @classmethod
    def from_domain(cls, event_type: EventType) -> EventTypeDoc:
        return cls(
            title=event_type.title,
            durationMinutes=event_type.duration_minutes,
            slotIntervalMinutes=event_type.slot_interval_minutes,
            bufferBeforeMinutes=event_type.buffer_before_minutes,
            bufferAfterMinutes=event_type.buffer_after_minutes,
            minimumNoticeMinutes=event_type.minimum_notice_minutes,
            bookingWindowDays=event_type.booking_window_days,
            maxBookingsPerHostPerDay=event_type.max_bookings_per_host_per_day,
            assignment=event_type.assignment.value,
            routingRuleSet=event_type.routing_rule_set,
            hostIds=list(event_type.host_ids),
            reminders=[ReminderDoc(minutesBefore=m) for m in event_type.reminders],
            location=LocationDoc(kind=event_type.location.kind.value, value=event_type.location.value),
            requiredFields=list(event_type.required_fields),
            outlookEditPolicy=event_type.outlook_edit_policy.value,
            public=event_type.public,
            questions=[QuestionDoc.from_domain(q) for q in event_type.questions],
            selfService=SelfServiceDoc.from_domain(event_type.self_service),
        )


def host_from_json(host_id: str, payload: Any) -> Host:
    return HostDoc.model_validate(payload).to_domain(host_id)


def event_type_from_json(slug: str, payload: Any) -> EventType:
    return EventTypeDoc.model_validate(payload).to_domain(slug)
