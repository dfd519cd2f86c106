"""`GET /slots`: which times can this event type be booked, and with whom.

Invariants: the window asked for is at most 62 days; a host whose free/busy
Outlook could not report is never offered (an unknown calendar is not a free
one); the answer depends only on configuration, free/busy, commitments and now.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from scheduling_core.domain.availability import PoolMode, host_calendars, pooled_slots
from scheduling_core.domain.explain import CONTEXT_MARGIN, Reason, explain_start
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.questions import checked_answers
from scheduling_core.domain.timezones import UTC
from scheduling_core.domain.values import Assignment, EventType, Host, Slot
from scheduling_core.errors import FieldError, InvalidRequest, UpstreamUnavailable
from scheduling_core.ports import BusyTimeSource, Clock, CommitmentSource, Mailbox
from scheduling_core.runtime.telemetry import instruments
from scheduling_core.services.router import ContextIn, RoutingService

log = logging.getLogger(__name__)

MAX_RANGE = timedelta(days=62)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSelection:
    """Which hosts were asked about, and why them (rendered as `routing` on the response)."""

    host_ids: tuple[str, ...]
    strategy: str
    reason: str
    decision_id: str | None = None
    rule_set: str | None = None
    rule: str | None = None
    #: The selected hosts' configuration when routing already read it (not read twice).
    hosts: tuple[Host, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotAnswer:
    event_type: EventType
    selection: HostSelection
    slots: tuple[Slot, ...]
    unavailable_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """`GET /slots/explain`: one host, one start, every reason it is not bookable."""

    event_type: EventType
    host_id: str
    start: datetime
    reasons: tuple[Reason, ...]

    @property
    def bookable(self) -> bool:
        return not self.reasons


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _range_bound(value: str, field: str, zone: ZoneInfo, *, end: bool) -> datetime:
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                "Bad date.", (FieldError(field=field, message="must be YYYY-MM-DD or an ISO 8601 instant"),)
            ) from None
        # Dates are inclusive local dates: an end date covers that whole local day.
        return _midnight(day + timedelta(days=1) if end else day, zone)
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise InvalidRequest(
            "Bad instant.", (FieldError(field=field, message="must be YYYY-MM-DD or an ISO 8601 instant"),)
        ) from None
    if instant.tzinfo is None:
        raise InvalidRequest(
            "Instants need an offset.", (FieldError(field=field, message="missing UTC offset"),)
        )
    return instant.astimezone(UTC)


def resolve_window(start: str, end: str, zone: ZoneInfo) -> Interval:
    """The UTC window `[start, end)` that dates (inclusive, in `zone`) or instants denote."""
    lower = _range_bound(start, "start", zone, end=False)
    upper = _range_bound(end, "end", zone, end=True)
    if upper <= lower:
        raise InvalidRequest("The range is empty.", (FieldError(field="end", message="must be after start"),))
    if upper - lower > MAX_RANGE + timedelta(hours=2):  # two hours of slack for DST-length days
        raise InvalidRequest(
            "The range is too long.",
            (FieldError(field="end", message="the range may cover at most 62 days"),),
        )
    return Interval(lower, upper)


class SlotConfig(Protocol):
    """What slots read of configuration: the repository, or `GET /slots`'s short-lived copy of it."""

    def get_event_type(self, slug: str) -> EventType: ...
    def get_hosts(self, host_ids: Sequence[str]) -> list[Host]: ...


class SlotService:
    def __init__(
        self,
        *,
        config: SlotConfig,
        busy: BusyTimeSource,
        clock: Clock,
        commitments: CommitmentSource | None = None,
        routing: RoutingService | None = None,
    ) -> None:
        self._config = config
        self._busy = busy
        self._clock = clock
        self._commitments = commitments
        self._routing = routing

    def select_hosts(
        self,
        event_type: EventType,
        explicit: Sequence[str],
        window: Interval,
        context: ContextIn | None = None,
    ) -> HostSelection:
        if explicit:
            ids = tuple(dict.fromkeys(explicit))
            return HostSelection(host_ids=ids, strategy="explicit", reason="hostId given in the request")
        if event_type.routing_rule_set is not None and self._routing is not None:
            stored = self._routing.decide(
                rule_set_id=event_type.routing_rule_set,
                context=context or ContextIn(),
                window=window,
                event_type=event_type,
            )
            pool = self._routing.ordered_pool(stored)
            return HostSelection(
                host_ids=pool,
                hosts=tuple(stored.hosts[h] for h in pool),
                strategy=stored.decision.strategy or "none",
                reason=stored.decision.reason,
                decision_id=stored.id,
                rule_set=stored.decision.rule_set,
                rule=stored.decision.rule,
            )
        if event_type.host_ids:
            return HostSelection(
                host_ids=event_type.host_ids, strategy="fixed", reason="the event type's fixed hostIds"
            )
        raise InvalidRequest(
            "The event type has no hosts to ask.",
            (FieldError(field="hostId", message="give hostId, or configure hostIds on the event type"),),
        )

    def find_slots(
        self,
        *,
        event_type_slug: str,
        window: Interval,
        host_ids: Sequence[str] = (),
        context: ContextIn | None = None,
    ) -> SlotAnswer:
        event_type = self._config.get_event_type(event_type_slug)
        if context is not None and (context.answers or event_type.questions):
            # A caller's request (it always has a context): a required question routes, so slots routed
            # without its answer would be another rep's. Internal counts (`context=None`, the page's
            # held-share base) route without answers.
            routed = not host_ids and event_type.routing_rule_set is not None
            answers = checked_answers(event_type, context.answers, require=routed)
            context = replace(context, answers=answers)
        selection = self.select_hosts(event_type, host_ids, window, context)
        if not selection.host_ids:
            return SlotAnswer(event_type=event_type, selection=selection, slots=())
        hosts = list(selection.hosts) or self._config.get_hosts(selection.host_ids)
        mode = PoolMode.ALL_OF if event_type.assignment is Assignment.COLLECTIVE else PoolMode.ANY_OF
        slots, unavailable = self.compute(event_type, hosts, window, mode)
        instruments().slots_served.add(len(slots), {"eventType": event_type.slug})
        return SlotAnswer(
            event_type=event_type, selection=selection, slots=tuple(slots), unavailable_hosts=unavailable
        )

    def fetch_window(self, event_type: EventType, window: Interval) -> Interval | None:
        """The part of `window` that notice and booking window leave open, widened by buffers."""
        now = self._clock.now()
        earliest = max(window.start, now + timedelta(minutes=event_type.minimum_notice_minutes))
        latest = window.end
        if event_type.booking_window_days is not None:
            latest = min(latest, now + timedelta(days=event_type.booking_window_days, seconds=1))
        if latest <= earliest:
            return None
        # Commitments carry their own buffers; a day of margin covers any buffer an event type may set.
        margin = timedelta(days=1)
        return Interval(earliest - margin, latest + event_type.duration + margin)

    def compute(
        self, event_type: EventType, hosts: Sequence[Host], window: Interval, mode: PoolMode
    ) -> tuple[list[Slot], tuple[str, ...]]:
        active = [h for h in hosts if h.active]
        if not active or (mode is PoolMode.ALL_OF and len(active) < len(hosts)):
            return [], tuple(h.id for h in hosts if not h.active)
        fetch = self.fetch_window(event_type, window)
        if fetch is None:
            return [], ()
        free_busy = self._busy.free_busy([Mailbox(host_id=h.id, email=h.email) for h in active], fetch)
        commitments = (
            self._commitments.commitments([h.id for h in active], fetch)
            if self._commitments is not None
            else {}
        )
        by_host, unavailable = host_calendars(active, free_busy, commitments)
        for host_id in unavailable:
            answer = free_busy.get(host_id)
            log.warning(
                "free/busy unavailable for host %s: %s", host_id, answer.error if answer else "missing"
            )
        calendars = list(by_host.values())
        if not calendars or (mode is PoolMode.ALL_OF and unavailable):
            return [], tuple(unavailable)
        return pooled_slots(calendars, event_type, window, self._clock.now(), mode), tuple(unavailable)

    def explain(self, *, event_type_slug: str, host_id: str, start: datetime) -> Explanation:
        """Why `start` is or is not bookable with `host_id`: the slot engine's own rules (explain.py),
        over the same free/busy and commitments `compute` reads, fetched around that one start."""
        event_type = self._config.get_event_type(event_type_slug)
        [host] = self._config.get_hosts([host_id])  # NotFound for an unknown host
        around = Interval(start - CONTEXT_MARGIN, start + event_type.duration + CONTEXT_MARGIN)
        free_busy = self._busy.free_busy([Mailbox(host_id=host.id, email=host.email)], around)
        commitments = (
            self._commitments.commitments([host.id], around) if self._commitments is not None else {}
        )
        by_host, unavailable = host_calendars([host], free_busy, commitments)
        if unavailable:
            # An unknown calendar is never explained as a free one, as `compute` never offers it.
            raise UpstreamUnavailable("graph", f"Outlook did not report the free/busy of host {host.id}")
        reasons = explain_start(by_host[host.id], event_type, start, self._clock.now())
        return Explanation(event_type=event_type, host_id=host.id, start=start, reasons=reasons)
