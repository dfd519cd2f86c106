"""Manager override (api.md, Team operations): which slot rules a booking made with the admin key may lift.

Pure. An override lifts only the rules it names; it never lifts this service's own bookings and holds
(storage refuses any overlap whatever the caller asked for) and never makes a past start bookable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from scheduling_core.domain.values import WEEKDAYS, EventType, Host, LocalTimeRange, WorkingHoursRule
from scheduling_core.ports import HostFreeBusy


class OverrideRule(StrEnum):
    OUTSIDE_WORKING_HOURS = "outsideWorkingHours"
    OUTLOOK_BUSY = "outlookBusy"
    CAPS = "caps"
    MINIMUM_NOTICE = "minimumNotice"
    BOOKING_WINDOW = "bookingWindow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    reason: str
    allow: frozenset[OverrideRule]

    @classmethod
    def of(cls, reason: str, allow: Iterable[str]) -> Override:
        return cls(reason=reason, allow=frozenset(OverrideRule(a) for a in allow))

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "allow": sorted(rule.value for rule in self.allow)}

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Override:
        """The override `to_json` wrote (a booking's `routing.override`)."""
        return Override.of(str(doc["reason"]), doc["allow"])


_ALL_DAY = (
    WorkingHoursRule(days=frozenset(WEEKDAYS), hours=LocalTimeRange(start_minute=0, end_minute=1440)),
)


def lifted_host(host: Host, allow: frozenset[OverrideRule]) -> Host:
    """The host as the rules see it: every hour a working hour, and no daily cap, when lifted."""
    if OverrideRule.OUTSIDE_WORKING_HOURS in allow:
        host = replace(host, working_hours=_ALL_DAY, date_overrides=())
    if OverrideRule.CAPS in allow:
        host = replace(host, max_meetings_per_day=None)
    return host


def lifted_event_type(event_type: EventType, allow: frozenset[OverrideRule]) -> EventType:
    if OverrideRule.CAPS in allow:
        event_type = replace(event_type, max_bookings_per_host_per_day=None)
    if OverrideRule.MINIMUM_NOTICE in allow:
        event_type = replace(event_type, minimum_notice_minutes=0)  # a past start stays refused
    if OverrideRule.BOOKING_WINDOW in allow:
        event_type = replace(event_type, booking_window_days=None)
    return event_type


def lifted_free_busy(
    answers: Mapping[str, HostFreeBusy], host_ids: Iterable[str], allow: frozenset[OverrideRule]
) -> dict[str, HostFreeBusy]:
    """Outlook's answers, or, with `outlookBusy` lifted, an empty calendar per host (Outlook not asked)."""
    if OverrideRule.OUTLOOK_BUSY in allow:
        return {host_id: HostFreeBusy(items=()) for host_id in host_ids}
    return dict(answers)
