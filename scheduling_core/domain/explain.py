"""Why one start is or is not bookable with one host (`GET /slots/explain`, api.md "Explaining availability")

Not a second slot engine: every rule is decided by the very functions `availability` computes slots
with (`_shape`, `_widen`, `_earliest`, `_beyond_window`, `_host_hours`, `_last_start`, `_claim`,
`_cap_counts`), applied to one start instead of a grid. A start is bookable exactly when
`host_slot_starts` lists it (property-tested in tests/unit/test_explain.py); this module only adds
which rule failed and the item, commitment or bound that made it fail.

An Outlook item is described by its status and times only: the free/busy view has no subject, and an
explanation must never leak one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from scheduling_core.domain.availability import (
    HostCalendar,
    _beyond_window,
    _cap_counts,
    _claim,
    _earliest,
    _host_hours,
    _instant,
    _last_start,
    _local_days,
    _shape,
    _ticks,
    _widen,
    _WorkingSpan,
)
from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.domain.values import EventType


class ReasonCode(StrEnum):
    OUTSIDE_WORKING_HOURS = "outside-working-hours"
    DATE_OVERRIDE = "date-override"
    BUSY = "busy"
    BUFFER = "buffer"
    BOOKED = "booked"
    HELD = "held"
    MINIMUM_NOTICE = "minimum-notice"
    BOOKING_WINDOW = "booking-window"
    DAILY_CAP = "daily-cap"
    EVENT_TYPE_CAP = "event-type-cap"
    NOT_ALIGNED = "not-aligned"
    HOST_INACTIVE = "host-inactive"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    code: ReasonCode
    detail: str
    start: datetime | None = None  # rendered as `from`
    end: datetime | None = None  # rendered as `to`


def explain_start(
    calendar: HostCalendar, event_type: EventType, start: datetime, now: datetime
) -> tuple[Reason, ...]:
    """Every reason `start` is not a slot of `event_type` for the calendar's host; `()` when it is."""
    host = calendar.host
    duration, step, lead, lag = _shape(event_type)
    t = _ticks(start)
    reasons: list[Reason] = []
    if not host.active:
        reasons.append(Reason(code=ReasonCode.HOST_INACTIVE, detail=f"host {host.id} is not active"))

    zone = resolve_time_zone(host.time_zone)
    hours = _host_hours(host, zone, _local_days(t, t + duration + 1, zone))
    containing = [s for s in hours.spans if s.start <= t < s.end]
    aligned = [s for s in containing if (t - s.start) % step == 0]
    fitting = [s for s in aligned if t <= _last_start(s, hours.stretch_ends, duration)]
    if not fitting:
        reasons.append(_hours_reason(calendar, event_type, start, containing, aligned))

    earliest = _earliest(event_type, now)
    if t < earliest:
        reasons.append(
            Reason(
                code=ReasonCode.MINIMUM_NOTICE,
                detail=f"starts sooner than the {event_type.minimum_notice_minutes}-minute minimum notice",
                end=_instant(earliest),
            )
        )
    beyond = _beyond_window(event_type, now)
    if beyond is not None and t >= beyond:
        reasons.append(
            Reason(
                code=ReasonCode.BOOKING_WINDOW,
                detail=f"beyond the {event_type.booking_window_days}-day booking window",
                start=_instant(beyond - 1),
            )
        )

    busy_lead = duration - 1  # the meeting alone, without this event type's buffers
    for item in calendar.busy:
        if not item.blocks:
            continue
        b0, b1 = item.start_us, item.end_us  # microseconds since 1970: ticks
        low, high = _widen(b0, b1, lead, lag)
        if not low <= t < high:
            continue
        alone_low, alone_high = _widen(b0, b1, busy_lead, 0)
        inside = alone_low <= t < alone_high
        reasons.append(
            Reason(
                code=ReasonCode.BUSY if inside else ReasonCode.BUFFER,
                detail=f"an Outlook item shown as {item.show_as.value}"
                + ("" if inside else " overlaps the event type's buffers"),
                start=item.start,
                end=item.end,
            )
        )
    for commitment in calendar.commitments:
        low, high = _claim(commitment, lead, lag)
        if low <= t < high:
            booked = commitment.counts_toward_caps  # only confirmed bookings count toward caps
            reasons.append(
                Reason(
                    code=ReasonCode.BOOKED if booked else ReasonCode.HELD,
                    detail=("a confirmed booking" if booked else "an unexpired hold")
                    + f" of {commitment.event_type} (with its buffers)",
                    start=commitment.start,
                    end=commitment.end,
                )
            )

    if fitting:
        reasons.extend(_cap_reasons(calendar, event_type, sorted({s.day for s in fitting})))
    return tuple(reasons)


def _hours_reason(
    calendar: HostCalendar,
    event_type: EventType,
    start: datetime,
    containing: list[_WorkingSpan],
    aligned: list[_WorkingSpan],
) -> Reason:
    host = calendar.host
    zone = resolve_time_zone(host.time_zone)
    local = start.astimezone(zone)
    if containing and not aligned:
        minutes = int(event_type.slot_interval.total_seconds()) // 60
        return Reason(
            code=ReasonCode.NOT_ALIGNED,
            detail=f"starts are every {minutes} minutes from the start of the working hours",
        )
    days = {local.date(), (start + event_type.duration).astimezone(zone).date()}
    overridden = sorted(o.date for o in host.date_overrides if o.date in days)
    if overridden:
        return Reason(
            code=ReasonCode.DATE_OVERRIDE,
            detail=f"a date override replaces the working hours of {overridden[0].isoformat()}",
        )
    what = "the meeting does not fit inside" if containing else "starts outside"
    return Reason(
        code=ReasonCode.OUTSIDE_WORKING_HOURS, detail=f"{what} the host's working hours ({host.time_zone})"
    )


def _cap_reasons(calendar: HostCalendar, event_type: EventType, days: list[date]) -> list[Reason]:
    """Cap reasons when every local date whose hours offer the start is full (the engine's rule 5)."""
    host_cap, type_cap = calendar.host.max_meetings_per_day, event_type.max_bookings_per_host_per_day
    if host_cap is None and type_cap is None:
        return []
    zone = resolve_time_zone(calendar.host.time_zone)
    total, of_type = _cap_counts(calendar, event_type, zone)
    found: list[Reason] = []
    for day in days:
        on_day: list[Reason] = []
        if host_cap is not None and total.get(day, 0) >= host_cap:
            on_day.append(
                Reason(
                    code=ReasonCode.DAILY_CAP,
                    detail=f"the host has {total[day]} booking(s) on {day.isoformat()}, "
                    f"the most allowed is {host_cap}",
                )
            )
        if type_cap is not None and of_type.get(day, 0) >= type_cap:
            on_day.append(
                Reason(
                    code=ReasonCode.EVENT_TYPE_CAP,
                    detail=f"the host has {of_type[day]} {event_type.slug} booking(s) on {day.isoformat()}, "
                    f"the most allowed is {type_cap}",
                )
            )
        if not on_day:
            return []  # one date with room is enough
        found = found or on_day
    return found


#: How far around a start explain reads free/busy and commitments: a day covers any buffer.
CONTEXT_MARGIN = timedelta(days=1)
