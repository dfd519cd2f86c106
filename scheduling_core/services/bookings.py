"""Holds and bookings: create (once), reschedule, cancel.

Invariants:
- Nothing is committed unless the slot rules hold for the host at commit time, against Outlook read fresh
  (not from the cache) and this service's own bookings and holds; storage then refuses any overlap atomically.
- Every change bumps `version` and writes its CloudEvent in the same transaction (outbox); publishing is
  attempted right after commit and retried by the relay, so an event is never lost and may repeat.
- A cancelled booking never changes again; cancelling it twice answers the same booking, with no new event.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from scheduling_core.domain.availability import host_calendars
from scheduling_core.domain.booking_sections import (
    AttendanceParty,
    DynamicsState,
    OutlookDrift,
    OutlookState,
    Reassignment,
    RoutingRecord,
)
from scheduling_core.domain.bookings import (
    Booking,
    BookingReader,
    BookingStatus,
    Hold,
    Invitee,
    StoredBooking,
    appointment_id,
    booking_snapshot,
    claim_for,
    ensure_bookable,
    new_booking_id,
    new_hold_id,
)
from scheduling_core.domain.events import (
    BOOKING_DRIFT_DETECTED,
    BOOKING_NO_SHOW,
    BOOKING_REASSIGNED,
    booking_event,
)
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.override import (
    Override,
    OverrideRule,
    lifted_event_type,
    lifted_host,
)
from scheduling_core.domain.questions import checked_answers
from scheduling_core.domain.values import Assignment, Commitment, EventType, Host
from scheduling_core.errors import (
    BookingChanged,
    BookingNotModifiable,
    FieldError,
    HoldExpired,
    InvalidRequest,
    NotFound,
    SlotUnavailable,
)
from scheduling_core.ports import (
    BusyTimeSource,
    Clock,
    CloudEvent,
    ConfigRepository,
    HostFreeBusy,
    Mailbox,
    PendingEvent,
)
from scheduling_core.runtime.deadline import ensure_time_left
from scheduling_core.runtime.telemetry import booking_changed, current_traceparent
from scheduling_core.services.router import ContextIn, RoutingService, StoredDecision

log = logging.getLogger(__name__)

HOLD_LIFETIME = timedelta(minutes=5)
MAX_RECORD_ID_LENGTH = 100
CHANGE_ATTEMPTS = 3
#: Rules a reassignment does not ask again: the booking was within them when it was made, and moving
#: it to a colleague must not fail because it is now close, or because the window moved on. The new
#: host's working hours, Outlook, caps and our own bookings and holds all still apply.
REASSIGN_LIFTS = frozenset({OverrideRule.MINIMUM_NOTICE, OverrideRule.BOOKING_WINDOW})


def without_meeting(answer: HostFreeBusy, meeting: Interval) -> HostFreeBusy:
    """`answer` less the Outlook items at exactly `meeting`'s time (the booking's own event)."""
    items = tuple(i for i in answer.items if (i.start, i.end) != (meeting.start, meeting.end))
    return HostFreeBusy(items=items, error=answer.error)


def reroutable(booking: Booking, event_type: EventType) -> bool:
    """Whether routing may give the booking another host: one host, not a collective meeting (a
    collective booking's hosts are the meeting; docs/decisions.md)."""
    return len(booking.host_ids) == 1 and event_type.assignment is not Assignment.COLLECTIVE


def routing_context(booking: Booking, event_type: EventType) -> ContextIn:
    """The routing input a booking was made with: its stored context (with the record its invitee
    email matched, kept there at booking), its invitee email and its answers to the event type's
    questions (checked when booked)."""
    asked = {q.id for q in event_type.questions}
    answers = {k: str(v) for k, v in booking.answers.items() if k in asked and v is not None}
    return replace(ContextIn.from_mapping(booking.context), email=booking.invitee.email, answers=answers)


def _moved_by(booking: Booking, by: str | None) -> Booking:
    """Who moved it, beside the reason (Dynamics shows both); a later API move clears it."""
    metadata = {k: v for k, v in booking.metadata.items() if k != "lastRescheduleBy"}
    return replace(booking, metadata={**metadata, "lastRescheduleBy": by} if by else metadata)


def _rerouted_routing(
    old: Booking,
    to_host: str,
    routed: StoredDecision | None,
    reason: str | None,
    by: str,
    now: datetime,
) -> RoutingRecord:
    """The routing record of a booking an invitee's reschedule moved to another host: the new decision
    (if a rule set made one) and the hand-over, as a reassignment records it."""
    handover = Reassignment(
        from_host=old.primary_host, to_host=to_host, reason=reason or f"rescheduled by {by}", by=by, at=now
    )
    why = routed.decision.reason if routed is not None else "the event type's hostIds"
    # Its keys were written in this order (`ruleSet` after `rule`); kept for byte-identical snapshots.
    order = ("decisionId", "rule", "ruleSet", "match", "strategy", "reason", "reassigned")
    return RoutingRecord(
        decision_id=routed.id if routed is not None else None,
        rule_set=routed.decision.rule_set if routed is not None else None,
        rule=routed.decision.rule if routed is not None else None,
        match=routed.match if routed is not None else None,
        strategy="rerouted",
        reason=f"rescheduled by {by}; routing decided again ({why}): {to_host}, free at the new time",
        reassigned=handover,
        key_order=order if routed is not None else (),
    )


class BookingStore(BookingReader, Protocol):
    def create_booking(
        self, booking: Booking, event: CloudEvent, now: datetime, *, hold: Hold | None = None
    ) -> PendingEvent: ...
    def amend_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent: ...
    def record_sync(self, booking_id: str, section: str, values: Mapping[str, Any]) -> Booking: ...
    def reschedule_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent: ...
    def cancel_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent: ...
    def create_hold(self, hold: Hold, now: datetime) -> None: ...
    def get_hold(self, hold_id: str) -> Hold: ...
    def delete_hold(self, hold_id: str) -> None: ...
    def expire_holds(self, now: datetime) -> int: ...
    def commitments(
        self, host_ids: Sequence[str], window: Interval, exclude: frozenset[str] = frozenset()
    ) -> Mapping[str, Sequence[Commitment]]: ...
    def reassign_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime, *, from_host: str
    ) -> PendingEvent: ...
    def roll_forward(self, host_id: str) -> int: ...


class AfterCommit(Protocol):
    def publish_now(self, pending: Sequence[PendingEvent]) -> object: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingRequest:
    event_type: str
    start: datetime
    time_zone: str
    invitee: Invitee
    hold_id: str | None = None
    host_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    answers: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: A manager's override (admin key only): the slot rules it lifts, recorded on the booking.
    override: Override | None = None
    #: Set when the request is idempotent (derived from its key and body): a retry after the first
    #: attempt committed but never answered (a crash) finds that booking instead of booking again.
    booking_id: str | None = None


def missing_required_fields(event_type: EventType, request: BookingRequest) -> list[FieldError]:
    sections: dict[str, Mapping[str, Any]] = {
        "context": request.context,
        "answers": request.answers,
        "invitee": {
            "name": request.invitee.name,
            "email": request.invitee.email,
            "phone": request.invitee.phone,
        },
    }
    missing = []
    for name in event_type.required_fields:
        section, _, key = name.partition(".")
        value = sections.get(section, {}).get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(FieldError(field=name, message="required by this event type"))
    return missing


def context_errors(context: Mapping[str, Any]) -> list[FieldError]:
    """`context.recordId` is text of at most 100 characters without control characters.

    It becomes part of storage keys (encoded there, see `key_text`) and of Dataverse URLs (parsed as a
    GUID there first); a number, an object or a control character can only be a caller's mistake.
    """
    record_id = context.get("recordId")
    if record_id is None:
        return []
    if (
        not isinstance(record_id, str)
        or not 0 < len(record_id) <= MAX_RECORD_ID_LENGTH
        or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in record_id)
    ):
        return [
            FieldError(
                field="context.recordId",
                message=f"must be text of 1 to {MAX_RECORD_ID_LENGTH} characters without control characters",
            )
        ]
    return []


def asked_answers(event_type: EventType, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers this event type asks for (its questions, `answers.x` in its required fields); nothing
    else is kept.

    PII minimisation: a caller may send more (a form with extra fields, a flow that forwards a whole
    record), but what the event type does not ask for is neither stored nor sent to Outlook or Dynamics.
    """
    asked = {name.partition(".")[2] for name in event_type.required_fields if name.startswith("answers.")}
    asked |= {question.id for question in event_type.questions}
    return {key: value for key, value in answers.items() if key in asked}


class BookingService:
    def __init__(
        self,
        *,
        config: ConfigRepository,
        store: BookingStore,
        busy: BusyTimeSource,
        clock: Clock,
        after_commit: AfterCommit | None = None,
        hold_lifetime: timedelta = HOLD_LIFETIME,
        routing: RoutingService | None = None,
        manage_url: Callable[[str], str | None] | None = None,
    ) -> None:
        self._routing = routing
        self._manage_url = manage_url
        self._config = config
        self._store = store
        self._busy = busy
        self._clock = clock
        self._after_commit = after_commit
        self._hold_lifetime = hold_lifetime
        self._io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="outlook-recheck")

    # ---- rules -----------------------------------------------------------------------------------

    def _candidates(self, event_type: EventType, host_id: str | None) -> list[Host]:
        if host_id:
            return self._config.get_hosts([host_id])
        if not event_type.host_ids:
            raise InvalidRequest(
                "The event type has no hosts.",
                (FieldError(field="hostId", message="give hostId, or configure hostIds on the event type"),),
            )
        return [h for h in self._config.get_hosts(event_type.host_ids) if h.active]

    def _free_hosts(
        self,
        event_type: EventType,
        hosts: Sequence[Host],
        start: datetime,
        exclude: frozenset[str],
        own_meeting: Interval | None = None,
        allow: frozenset[OverrideRule] = frozenset(),
        *,
        outlook: bool = True,
        own_hosts: frozenset[str] | None = None,
    ) -> list[Host]:
        """Hosts for whom `start` is a slot right now: Outlook read fresh, our own claims from storage.

        `own_meeting` is the time of the booking being moved: its own Outlook event (an item at exactly
        that time) does not count as busy, as its claims in `exclude` do not. `outlook=False` skips
        Outlook (booking-page holds: no Graph call per hold; the booking re-checks Outlook fresh).
        `allow`: the rules a manager's override lifts (our own bookings and holds are never among them;
        `outlookBusy` skips Outlook as well). `own_hosts`: the calendars that hold the booking's own event
        (None: all of them); another host's item at that same time is theirs, and busy.
        """
        hosts = [lifted_host(h, allow) for h in hosts]
        event_type = lifted_event_type(event_type, allow)
        claim = claim_for(event_type, "", start)
        # A day either side covers the caps of the host's local date as well as the buffers.
        window = Interval(claim.interval.start - timedelta(days=1), claim.interval.end + timedelta(days=1))
        # Outlook (over HTTP) and our own claims (storage) are read side by side: one round trip of
        # latency instead of two on every commit. Booking-page holds skip Outlook (no Graph call per hold).
        ask_outlook = outlook and OverrideRule.OUTLOOK_BUSY not in allow
        outlook_answer = (
            self._io.submit(
                contextvars.copy_context().run,  # the request's trace context goes along
                self._busy.free_busy,
                [Mailbox(host_id=h.id, email=h.email) for h in hosts],
                window,
                fresh=True,
            )
            if ask_outlook
            else None
        )
        commitments = self._store.commitments([h.id for h in hosts], window, exclude)
        free_busy: Mapping[str, HostFreeBusy] = (
            outlook_answer.result() if outlook_answer is not None else {h.id: HostFreeBusy() for h in hosts}
        )
        if own_meeting is not None:
            free_busy = {
                host_id: without_meeting(answer, own_meeting)
                if own_hosts is None or host_id in own_hosts
                else answer
                for host_id, answer in free_busy.items()
            }
        calendars, _ = host_calendars(hosts, free_busy, commitments)
        now = self._clock.now()
        free = []
        first_error: SlotUnavailable | None = None
        for host in hosts:
            calendar = calendars.get(host.id)
            if calendar is None:
                first_error = first_error or SlotUnavailable("Outlook could not confirm the host is free.")
                continue
            try:
                ensure_bookable(calendar, event_type, start, now)
            except SlotUnavailable as exc:
                first_error = first_error or exc
                continue
            free.append(host)
        if not free:
            raise first_error or SlotUnavailable("No host is free at that time.")
        return free

    def _snapshot(self, booking: Booking) -> dict[str, Any]:
        """The event's booking snapshot, with the invitee's manage link: Outlook and webhook subscribers
        hand it on (api.md); the stored booking row never holds it (it is derived, see manage_links)."""
        snapshot = booking_snapshot(booking)
        if self._manage_url is not None:
            snapshot["manageUrl"] = self._manage_url(booking.id)
        return snapshot

    def _publish(self, pending: PendingEvent) -> None:
        """Telemetry and the fast-path publish of a committed change; never raises (issue 13).

        The event sits in the outbox row committed with the change, so the relay publishes whatever
        this attempt could not; an error here must not tell the caller "try again" and book twice.
        """
        event = pending.event
        try:
            snapshot = event.data.get("booking")
            host_ids = snapshot.get("hostIds", ()) if isinstance(snapshot, Mapping) else ()
            booking_changed(event.type, event.session_id, host_ids)
            if self._after_commit is not None:
                self._after_commit.publish_now([pending])
        except Exception:
            log.warning("after-commit publish of %s failed; the outbox relay retries it", event.id)

    # ---- holds -----------------------------------------------------------------------------------

    def hold(
        self,
        *,
        event_type_slug: str,
        start: datetime,
        host_id: str | None,
        context: Mapping[str, Any],
        hold_id: str | None = None,
        outlook: bool = True,
        answers: Mapping[str, Any] | None = None,
    ) -> Hold:
        """`hold_id` lets a caller name the hold before it exists (the booking page's seats);
        `outlook=False` checks only this service's own bookings and holds (no Graph call). `answers`
        are checked (a hold does not route, so none is demanded) and not stored: the booking carries them."""
        invalid = context_errors(context)
        if invalid:
            raise InvalidRequest("The context is not valid.", tuple(invalid))
        event_type = self._config.get_event_type(event_type_slug)
        checked_answers(event_type, answers or {}, require=False)
        candidates = self._candidates(event_type, host_id)
        free = self._free_hosts(event_type, candidates, start, frozenset(), outlook=outlook)
        now = self._clock.now()
        hosts = [h.id for h in candidates] if event_type.assignment is Assignment.COLLECTIVE else None
        if hosts is not None and len(free) < len(candidates):
            raise SlotUnavailable("Not every host of this collective event type is free then.")
        last_error: SlotUnavailable | None = None
        for host in free:
            claim = claim_for(event_type, host.id, start)
            hold = Hold(
                id=hold_id or new_hold_id(),
                event_type=event_type.slug,
                host_ids=tuple(hosts or [host.id]),
                start=start,
                end=claim.end,
                buffer_before=claim.buffer_before,
                buffer_after=claim.buffer_after,
                expires_at=now + self._hold_lifetime,
                context=dict(context),
            )
            ensure_time_left("storing the hold")
            try:
                self._store.create_hold(hold, now)
                return hold
            except SlotUnavailable as exc:
                last_error = exc
        raise last_error or SlotUnavailable("No host is free at that time.")

    def get_hold(self, hold_id: str) -> Hold:
        return self._store.get_hold(hold_id)

    def release_hold(self, hold_id: str) -> None:
        self._store.delete_hold(hold_id)

    def expire_holds(self) -> int:
        return self._store.expire_holds(self._clock.now())

    # ---- bookings --------------------------------------------------------------------------------

    def create(self, request: BookingRequest) -> Booking:
        if request.booking_id is not None:
            try:
                return self._store.get_booking(request.booking_id).booking  # made by an earlier attempt
            except NotFound:
                pass
        event_type = self._config.get_event_type(request.event_type)
        missing = missing_required_fields(event_type, request) + context_errors(request.context)
        answers: dict[str, str] = {}
        try:
            answers = checked_answers(event_type, request.answers, require=True)
        except InvalidRequest as exc:
            named = {m.field for m in missing}
            missing += [e for e in exc.errors if e.field not in named]
        if missing:
            raise InvalidRequest("Fields this event type requires are missing or invalid.", tuple(missing))
        hold = self._usable_hold(request, event_type) if request.hold_id else None
        routed: StoredDecision | None = None
        if hold is not None:
            candidates = self._config.get_hosts(list(hold.host_ids))
        elif (
            request.host_id is None and event_type.routing_rule_set is not None and self._routing is not None
        ):
            routed = self._route(request, event_type, answers)
            candidates = [routed.hosts[h] for h in self._routing.ordered_pool(routed)]  # read by routing
        else:
            candidates = self._candidates(event_type, request.host_id)
        request = self._with_record(request, event_type, routed)
        exclude = frozenset({hold.id}) if hold is not None else frozenset()
        allow = request.override.allow if request.override is not None else frozenset()
        free = self._free_hosts(event_type, candidates, request.start, exclude, allow=allow)
        collective = event_type.assignment is Assignment.COLLECTIVE
        if collective and len(free) < len(candidates):
            raise SlotUnavailable("Not every host of this collective event type is free then.")
        pools = [sorted(h.id for h in candidates)] if collective else [[h.id] for h in free]
        last_error: SlotUnavailable | None = None
        for host_ids in pools:
            booking = self._new_booking(request, event_type, host_ids, hold, routed, answers)
            now = self._clock.now()
            event = booking_event(
                booking=self._snapshot(booking),
                event_type="booking.created",
                time=now,
                traceparent=current_traceparent(),
            )
            ensure_time_left("committing the booking")
            try:
                pending = self._store.create_booking(booking, event, now, hold=hold)
            except SlotUnavailable as exc:
                last_error = exc
                continue
            if routed is not None and self._routing is not None:
                self._record_assignment(routed, host_ids[0])
            self._publish(pending)
            return booking
        raise last_error or SlotUnavailable("No host is free at that time.")

    def _with_record(
        self, request: BookingRequest, event_type: EventType, routed: StoredDecision | None
    ) -> BookingRequest:
        """The request with the record its invitee email matched (or the lead `createLead` made) as its
        context, so the appointment lands on it (routing.md, "Matching people Dynamics already knows")."""
        if self._routing is None or event_type.routing_rule_set is None or request.context.get("recordId"):
            return request
        found = routed.match if routed is not None else None
        if found is None and routed is None:  # held or explicit host: match for the regarding record only
            invitee = ContextIn(email=request.invitee.email)
            found = self._routing.match(self._routing.rule_set(event_type.routing_rule_set), invitee)
        if found is None:
            return request
        if found.record_id is None:
            company = asked_answers(event_type, request.answers).get("company")  # only when asked
            found = self._routing.lead_for(
                event_type.routing_rule_set,
                email=request.invitee.email,
                name=request.invitee.name,
                company=str(company).strip() or None if company is not None else None,
            )
        if found is None or found.record_id is None:
            return request
        context = {**request.context, "recordType": found.record_type, "recordId": found.record_id}
        return replace(request, context=context)

    def _record_assignment(self, routed: StoredDecision, host_id: str) -> None:
        """The rotation counter after a commit: lost on failure (fairness drifts by one), never an error."""
        assert self._routing is not None
        try:
            self._routing.record_assignment(routed, host_id)
        except Exception:
            log.warning("rotation counter not advanced for decision %s", routed.id)

    def _route(
        self, request: BookingRequest, event_type: EventType, answers: Mapping[str, str]
    ) -> StoredDecision:
        assert self._routing is not None
        assert event_type.routing_rule_set is not None
        slot = Interval(request.start, request.start + event_type.duration)
        routed = self._routing.decide(
            rule_set_id=event_type.routing_rule_set,
            context=replace(
                ContextIn.from_mapping(request.context), email=request.invitee.email, answers=answers
            ),
            window=slot,
            event_type=event_type,
            booking_start=request.start,
            override=request.override.to_json() if request.override is not None else None,
        )
        if not routed.decision.host_ids:
            raise SlotUnavailable(f"No eligible host: {routed.decision.reason}")
        return routed

    def _usable_hold(self, request: BookingRequest, event_type: EventType) -> Hold:
        assert request.hold_id is not None
        hold = self._store.get_hold(request.hold_id)
        if hold.event_type != event_type.slug or hold.start != request.start:
            raise InvalidRequest(
                "The hold is for a different slot.",
                (FieldError(field="holdId", message="held for another event type or start"),),
            )
        if request.host_id and request.host_id not in hold.host_ids:
            raise InvalidRequest(
                "The hold is for another host.", (FieldError(field="hostId", message="not the held host"),)
            )
        if hold.expired(self._clock.now()):
            raise HoldExpired(f"The hold expired at {hold.expires_at.isoformat()}; pick the slot again.")
        return hold

    def _new_booking(
        self,
        request: BookingRequest,
        event_type: EventType,
        host_ids: list[str],
        hold: Hold | None,
        routed: StoredDecision | None = None,
        answers: Mapping[str, str] | None = None,
    ) -> Booking:
        now = self._clock.now()
        booking_id = request.booking_id or new_booking_id()
        routing: RoutingRecord
        if routed is not None:
            decision = routed.decision
            routing = RoutingRecord(
                decision_id=routed.id,
                rule_set=decision.rule_set,
                rule=decision.rule,
                strategy=decision.strategy,
                reason=f"{decision.reason}; picked {host_ids[0]}, the first free host by fairness",
                match=routed.match,
            )
        elif hold is not None:
            routing = RoutingRecord(strategy="hold", reason=f"held by {hold.id}")
        elif request.host_id:
            routing = RoutingRecord(strategy="explicit", reason="hostId in the request")
        else:
            routing = RoutingRecord(strategy="fixed", reason="first free host of the event type's hostIds")
        if request.override is not None:
            routing = routing.changed(override=request.override)
        return Booking(
            id=booking_id,
            status=BookingStatus.CONFIRMED,
            version=1,
            event_type=event_type.slug,
            start=request.start,
            end=request.start + event_type.duration,
            time_zone=request.time_zone,
            host_ids=tuple(host_ids),
            invitee=request.invitee,
            buffer_before=event_type.buffer_before,
            buffer_after=event_type.buffer_after,
            created_at=now,
            updated_at=now,
            context=dict(request.context),
            answers=asked_answers(event_type, request.answers) | dict(answers or {}),
            metadata=dict(request.metadata),
            routing=routing,
            outlook=OutlookState(),
            dynamics=DynamicsState(appointment_id=appointment_id(booking_id)),
        )

    def get(self, booking_id: str) -> Booking:
        return self._store.get_booking(booking_id).booking

    def list(
        self,
        *,
        record_id: str | None = None,
        host_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        status: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[list[Booking], int | None]:
        return self._store.list_bookings(
            record_id=record_id,
            host_id=host_id,
            start=start,
            end=end,
            status=status,
            limit=limit,
            offset=offset,
        )

    def _modifiable(self, booking_id: str, if_match: int | None) -> StoredBooking:
        stored = self._store.get_booking(booking_id)
        if stored.booking.status is BookingStatus.CANCELLED:
            raise BookingNotModifiable(f"Booking '{booking_id}' is cancelled.")
        if if_match is not None and if_match != stored.booking.version:
            raise BookingNotModifiable(
                f"Booking '{booking_id}' is at version {stored.booking.version}, not {if_match}."
            )
        return stored

    def reschedule(
        self,
        booking_id: str,
        start: datetime,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        by: str | None = None,
        override: Override | None = None,
    ) -> Booking:
        """Move the booking (same id, version + 1); `by` names who asked when not the API (`invitee`)."""
        return self._retry_unless_pinned(
            if_match,
            lambda: self._reschedule(booking_id, start, reason, if_match, override=override, by=by),
        )

    def cancel(
        self, booking_id: str, *, reason: str | None = None, source: str = "api", if_match: int | None = None
    ) -> Booking:
        return self._retry_unless_pinned(if_match, lambda: self._cancel(booking_id, reason, source, if_match))

    def accept_outlook_move(self, booking_id: str, start: datetime, *, reason: str) -> Booking:
        """Move the booking to where its host put the meeting in Outlook (policy `accept`).

        The host chose the time, so Outlook free/busy, working hours and notice are not asked; this
        service's own bookings and holds still are (the locks), so no double booking can follow.
        """
        return self._retry_unless_pinned(
            None, lambda: self._reschedule(booking_id, start, reason, None, check_availability=False)
        )

    def record_outlook_drift(self, booking_id: str, drift: OutlookDrift | None) -> Booking:
        """Note (or, with None, clear) that Outlook shows another time than the booking (policy `flag`).

        A new version with a `booking.drift-detected` event, so Dynamics can show the drift; the
        booking keeps its time. Clearing announces nothing.
        """

        def change() -> Booking:
            stored = self._modifiable(booking_id, None)
            old = stored.booking
            if drift is None:
                return self._store.record_sync(booking_id, "outlook", {"drift": None})
            now = self._clock.now()
            new = replace(
                old, version=old.version + 1, updated_at=now, outlook=replace(old.outlook, drift=drift)
            )
            event = booking_event(
                booking=self._snapshot(new),
                event_type=BOOKING_DRIFT_DETECTED,
                time=now,
                traceparent=current_traceparent(),
            )
            self._publish(self._store.amend_booking(stored, new, event, now))
            return new

        return self._retry_unless_pinned(None, change)

    def mark_no_show(self, booking_id: str, party: AttendanceParty, note: str | None = None) -> Booking:
        """Record that `party` did not attend (api.md, Attendance): a new version and `booking.no-show`.

        Only once the meeting has started (before, nobody can have missed it: 409). Marking it again
        answers the booking as it is, with no new version or event, whatever party the repeat names:
        the first mark is what Dynamics and fairness already counted.
        """

        def change() -> Booking:
            stored = self._store.get_booking(booking_id)
            old = stored.booking
            if old.no_show:
                return old
            if old.status is BookingStatus.CANCELLED:
                raise BookingNotModifiable(f"Booking '{booking_id}' is cancelled.")
            now = self._clock.now()
            if now < old.start:
                raise BookingNotModifiable(
                    f"Booking '{booking_id}' starts at {old.start.isoformat()}; "
                    "a no-show can be recorded only once the meeting has started."
                )
            new = old.marked_no_show(party, note, now)
            event = booking_event(
                booking=self._snapshot(new),
                event_type=BOOKING_NO_SHOW,
                time=now,
                traceparent=current_traceparent(),
            )
            self._publish(self._store.amend_booking(stored, new, event, now))
            return new

        return self._retry_unless_pinned(None, change)

    @staticmethod
    def _retry_unless_pinned(if_match: int | None, change: Callable[[], Booking]) -> Booking:
        """Re-read and re-apply when the row changed under us (e.g. a sync status written back), unless the
        caller pinned a version with If-Match, who then gets the 409 it asked for."""
        for _ in range(CHANGE_ATTEMPTS - 1):
            try:
                return change()
            except BookingChanged:
                if if_match is not None:
                    raise
        return change()

    def _reschedule(
        self,
        booking_id: str,
        start: datetime,
        reason: str | None,
        if_match: int | None,
        *,
        check_availability: bool = True,
        by: str | None = None,
        override: Override | None = None,
    ) -> Booking:
        stored = self._modifiable(booking_id, if_match)
        old = stored.booking
        if start == old.start:
            return old
        if check_availability:
            event_type = self._config.get_event_type(old.event_type)
            hosts = self._config.get_hosts(list(old.host_ids))
            free = self._free_hosts(
                event_type,
                hosts,
                start,
                frozenset({old.id}),
                Interval(old.start, old.end),
                allow=override.allow if override is not None else frozenset(),
            )
            if len(free) < len(hosts):
                raise SlotUnavailable("The booking's host is not free at the new time.")
        now = self._clock.now()
        new = old.rescheduled(start, now, reason)
        if override is not None:
            new = replace(new, routing=new.routing.changed(override=override))
        new = _moved_by(new, by)
        event = booking_event(
            booking=self._snapshot(new),
            event_type="booking.rescheduled",
            time=now,
            traceparent=current_traceparent(),
        )
        ensure_time_left("committing the new time")
        self._publish(self._store.reschedule_booking(stored, new, event, now))
        return new

    def reroute(self, booking_id: str, start: datetime, *, reason: str | None, by: str) -> Booking:
        """Move the booking to `start` with whom its event type's routing picks there now (self-service
        `reroute`, docs/decisions.md "Self-service reschedule with reroute").

        Its own host, when routing still offers it and it is free then: exactly `reschedule` (same
        event, `booking.rescheduled`). Otherwise the first free host of routing's pool takes it, time and
        host in one change through the reassignment's atomic path (same id, version + 1, the new host's
        claim taken under its locks, `booking.reassigned`). SlotUnavailable when routing offers nobody
        free then; the booking is untouched. A booking with several hosts is only rescheduled.
        """
        return self._retry_unless_pinned(None, lambda: self._reroute(booking_id, start, reason, by))

    def rerouting_pool(
        self, booking: Booking, event_type: EventType, window: Interval, booking_start: datetime | None
    ) -> tuple[StoredDecision | None, Sequence[Host]]:
        """Whom routing offers `booking` over `window` now, best first: the rule set's decision over the
        booking's stored context and answers (stored, so it can be explained), or, without a rule set,
        the event type's active hostIds (as `GET /slots` and `POST /bookings`)."""
        if event_type.routing_rule_set is not None and self._routing is not None:
            routed = self._routing.decide(
                rule_set_id=event_type.routing_rule_set,
                context=routing_context(booking, event_type),
                window=window,
                event_type=event_type,
                booking_start=booking_start,
            )
            pool = self._routing.ordered_pool(routed)
            # The hosts as routing read them (as `create` does): a pool id that is no host is nobody.
            return routed, [routed.hosts[h] for h in pool if h in routed.hosts and routed.hosts[h].active]
        return None, [h for h in self._config.get_hosts(list(event_type.host_ids)) if h.active]

    def _reroute(self, booking_id: str, start: datetime, reason: str | None, by: str) -> Booking:
        stored = self._modifiable(booking_id, None)
        old = stored.booking
        if start == old.start:
            return old
        event_type = self._config.get_event_type(old.event_type)
        if not reroutable(old, event_type):
            return self._reschedule(booking_id, start, reason, None, by=by)
        slot = Interval(start, start + (old.end - old.start))
        routed, pool = self.rerouting_pool(old, event_type, slot, start)
        if not pool:
            why = routed.decision.reason if routed is not None else "the event type has no active host"
            raise SlotUnavailable(f"No eligible host: {why}")
        free = self._free_hosts(
            event_type,
            pool,
            start,
            frozenset({old.id}),
            Interval(old.start, old.end),
            own_hosts=frozenset(old.host_ids),
        )
        if any(h.id == old.primary_host for h in free):
            # Routing still offers its own host, free then: a plain reschedule (the store checks the locks).
            return self._reschedule(booking_id, start, reason, None, check_availability=False, by=by)
        now = self._clock.now()
        last_error: SlotUnavailable | None = None
        for host in free:
            routing = _rerouted_routing(old, host.id, routed, reason, by, now)
            new = _moved_by(old.rerouted(start, host.id, now, reason, routing), by)
            event = booking_event(
                booking=self._snapshot(new),
                event_type=BOOKING_REASSIGNED,
                time=now,
                traceparent=current_traceparent(),
            )
            ensure_time_left("committing the new time and host")
            try:
                pending = self._store.reassign_booking(stored, new, event, now, from_host=old.primary_host)
            except SlotUnavailable as exc:
                last_error = exc  # taken meanwhile: the next host routing offers
                continue
            if routed is not None:
                self._record_assignment(routed, host.id)
            self._publish(pending)
            return new
        raise last_error or SlotUnavailable("No host is free at that time.")

    def reassign(self, booking_id: str, *, from_host: str, to_host_id: str | None, reason: str) -> Booking:
        """Move a confirmed booking from `from_host` to `to_host_id`, or to the host its event type's
        routing picks among the others free at its time (same id, version + 1, `booking.reassigned`).

        SlotUnavailable (with why) when no one can take it; the booking is then untouched. A booking
        `from_host` no longer hosts is answered as it is (a repeated call moves nothing).
        """
        last_error: SlotUnavailable | None = None
        for _ in range(CHANGE_ATTEMPTS):
            stored = self._modifiable(booking_id, None)
            old = stored.booking
            if from_host not in old.host_ids:
                return old
            now = self._clock.now()
            if old.start <= now:
                raise SlotUnavailable("The meeting has started already.")
            try:
                event_type = self._config.get_event_type(old.event_type)
            except NotFound:
                raise SlotUnavailable(f"Its event type '{old.event_type}' no longer exists.") from None
            routed, candidates = self._reassign_candidates(old, event_type, to_host_id)
            if not candidates:
                raise SlotUnavailable("No other active host can take this event type.")
            free = self._free_hosts(
                event_type, candidates, old.start, frozenset({old.id}), allow=REASSIGN_LIFTS
            )
            for host in free:
                new = old.reassigned(
                    from_host,
                    host.id,
                    now,
                    self._reassigned_routing(old, host.id, from_host, reason, routed, now),
                )
                event = booking_event(
                    booking=self._snapshot(new),
                    event_type=BOOKING_REASSIGNED,
                    time=now,
                    traceparent=current_traceparent(),
                )
                try:
                    pending = self._store.reassign_booking(stored, new, event, now, from_host=from_host)
                except SlotUnavailable as exc:
                    last_error = exc
                    continue
                except BookingChanged:
                    break  # read it again
                if routed is not None and self._routing is not None:
                    self._routing.record_assignment(routed, host.id)
                self._publish(pending)
                return new
            else:
                raise last_error or SlotUnavailable("No other host is free at that time.")
        raise last_error or SlotUnavailable("The booking kept changing; try again.")

    def _reassign_candidates(
        self, booking: Booking, event_type: EventType, to_host_id: str | None
    ) -> tuple[StoredDecision | None, Sequence[Host]]:
        routed: StoredDecision | None = None
        if to_host_id is not None:
            hosts = self._config.get_hosts([to_host_id])
        elif event_type.routing_rule_set is not None and self._routing is not None:
            routed = self._routing.decide(
                rule_set_id=event_type.routing_rule_set,
                context=ContextIn.from_mapping(booking.context),
                window=Interval(booking.start, booking.end),
                event_type=event_type,
                booking_start=booking.start,
            )
            hosts = self._config.get_hosts(list(self._routing.ordered_pool(routed)))
        else:
            hosts = self._config.get_hosts(list(event_type.host_ids))
        return routed, [h for h in hosts if h.active and h.id not in booking.host_ids]

    @staticmethod
    def _reassigned_routing(
        old: Booking, to_host: str, from_host: str, reason: str, routed: StoredDecision | None, now: datetime
    ) -> RoutingRecord:
        routing = old.routing
        if routed is not None:
            routing = routing.changed(decision_id=routed.id, rule=routed.decision.rule)
        return routing.changed(
            strategy="reassigned",
            reason=f"reassigned from {from_host} to {to_host}: {reason}",
            reassigned=Reassignment(from_host=from_host, to_host=to_host, reason=reason, at=now),
        )

    def _cancel(self, booking_id: str, reason: str | None, source: str, if_match: int | None) -> Booking:
        stored = self._store.get_booking(booking_id)
        if stored.booking.status is BookingStatus.CANCELLED:
            return stored.booking
        if if_match is not None and if_match != stored.booking.version:
            raise BookingNotModifiable(
                f"Booking '{booking_id}' is at version {stored.booking.version}, not {if_match}."
            )
        now = self._clock.now()
        new = stored.booking.cancelled(now, reason, source)
        event = booking_event(
            booking=self._snapshot(new),
            event_type="booking.cancelled",
            time=now,
            traceparent=current_traceparent(),
        )
        self._publish(self._store.cancel_booking(stored, new, event, now))
        return new
