"""What an invitee may do with their booking through its manage link (api.md, "Self-service").

Invariants:
- A token that is not genuine, or names a booking that does not exist, is `NotFound` (404), the same
  answer in both cases, so a guess learns nothing.
- Every change goes through `BookingService` (the same atomic path as `POST /bookings/{id}/reschedule`
  and `/cancel`: same id, version + 1, one Outlook event, one appointment).
- The event type's `selfService` policy is checked before anything changes: an action it denies, a
  started booking or one inside the cutoff is `SelfServiceClosed` (409 `self-service-closed`); a
  reschedule of a cancelled booking is `BookingNotModifiable` (409, as for the keyed API); a second
  cancel answers the cancelled booking again and announces nothing.
- Slots offered are the booking's own hosts' (policy `sameHost`), or, with `reroute`, those of the hosts
  its event type's routing offers it now (docs/decisions.md, "Self-service reschedule with reroute"),
  never anyone else's; the booking's own claim and its own Outlook event do not block the times around
  it. A `reroute` move to another host is a reassignment and a reschedule in one change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduling_core.domain.availability import PoolMode, host_calendars, pooled_slots
from scheduling_core.domain.bookings import Booking, BookingStatus
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.manage_links import Action, ManageLinks, allowed, cutoff_at
from scheduling_core.domain.values import Assignment, EventType, Host, SelfServiceReschedule, Slot
from scheduling_core.errors import (
    BookingNotModifiable,
    FieldError,
    InvalidRequest,
    NotFound,
    SelfServiceClosed,
)
from scheduling_core.ports import BusyTimeSource, Clock, ConfigRepository, Mailbox
from scheduling_core.services.bookings import (
    BookingService,
    BookingStore,
    reroutable,
    without_meeting,
)
from scheduling_core.services.slots import SlotService

#: Recorded as `cancellation.by` and `metadata.lastRescheduleBy` for changes made through a link.
INVITEE = "invitee"


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedBooking:
    """The booking behind a link, its event type, and what the link may still do with it."""

    booking: Booking
    event_type: EventType
    can_cancel: bool
    can_reschedule: bool
    cutoff_at: datetime


class ManageService:
    def __init__(
        self,
        *,
        links: ManageLinks | None,
        bookings: BookingService,
        store: BookingStore,
        config: ConfigRepository,
        slots: SlotService,
        busy: BusyTimeSource,
        clock: Clock,
    ) -> None:
        """`links` None: no MANAGE_LINK_KEY is configured, so no link is genuine (fail closed)."""
        self._links = links
        self._bookings = bookings
        self._store = store
        self._config = config
        self._slots = slots
        self._busy = busy
        self._clock = clock

    def url(self, booking_id: str) -> str | None:
        return self._links.url(booking_id) if self._links is not None else None

    def _booking_id(self, token: str) -> str:
        booking_id = self._links.booking_id(token) if self._links is not None else None
        if booking_id is None:
            raise NotFound("booking", "from this link")
        return booking_id

    def view(self, token: str) -> ManagedBooking:
        booking = self._bookings.get(self._booking_id(token))
        return self._managed(booking)

    def _managed(self, booking: Booking) -> ManagedBooking:
        event_type = self._config.get_event_type(booking.event_type)
        policy = event_type.self_service
        now = self._clock.now()
        cancelled = booking.status is BookingStatus.CANCELLED

        def may(action: Action) -> bool:
            return allowed(action, policy=policy, start=booking.start, cancelled=cancelled, now=now).allowed

        return ManagedBooking(
            booking=booking,
            event_type=event_type,
            can_cancel=may(Action.CANCEL),
            can_reschedule=may(Action.RESCHEDULE),
            cutoff_at=cutoff_at(booking.start, policy),
        )

    def _ensure(self, action: Action, managed: ManagedBooking) -> None:
        booking = managed.booking
        if action is Action.RESCHEDULE and booking.status is BookingStatus.CANCELLED:
            raise BookingNotModifiable(f"Booking '{booking.id}' is cancelled.")
        verdict = allowed(
            action,
            policy=managed.event_type.self_service,
            start=booking.start,
            cancelled=booking.status is BookingStatus.CANCELLED,
            now=self._clock.now(),
        )
        if not verdict.allowed:
            raise SelfServiceClosed(f"This link can no longer {action.value} the booking: {verdict.why}.")

    def _reason(self, managed: ManagedBooking, reason: str | None) -> str | None:
        text = (reason or "").strip() or None
        if text is None and managed.event_type.self_service.require_reason:
            raise InvalidRequest(
                "This event type asks for a reason.",
                (FieldError(field="reason", message="required by this event type"),),
            )
        return text

    def slots(self, token: str, window: Interval) -> tuple[ManagedBooking, list[Slot]]:
        """Where the booking may move: its own hosts' free times (the link must still allow moving)."""
        managed = self.view(token)
        self._ensure(Action.RESCHEDULE, managed)
        booking, event_type = managed.booking, managed.event_type
        fetch = self._slots.fetch_window(event_type, window)
        if fetch is None:
            return managed, []
        own = Interval(booking.start, booking.end)
        hosts: Sequence[Host]
        if self._rerouting(managed):
            # Routing decides again, over the booking's own context and answers; each slot needs one
            # of the hosts it offers (an unknown calendar is skipped, as `GET /slots` skips it).
            _, hosts = self._bookings.rerouting_pool(booking, event_type, window, None)
            mode = PoolMode.ANY_OF
        else:
            hosts = [h for h in self._config.get_hosts(list(booking.host_ids)) if h.active]
            if len(hosts) < len(booking.host_ids):
                return managed, []
            # The booking moves with all its hosts: every one of them must be free (collective or not).
            mode = (
                PoolMode.ALL_OF
                if len(hosts) > 1 or event_type.assignment is Assignment.COLLECTIVE
                else PoolMode.ANY_OF
            )
        if not hosts:
            return managed, []
        answers = self._busy.free_busy([Mailbox(host_id=h.id, email=h.email) for h in hosts], fetch)
        # Its own Outlook event is only in its own hosts' calendars; another host's item then is theirs.
        free_busy = {
            host_id: without_meeting(answer, own) if host_id in booking.host_ids else answer
            for host_id, answer in answers.items()
        }
        commitments = self._store.commitments([h.id for h in hosts], fetch, frozenset({booking.id}))
        calendars, unavailable = host_calendars(hosts, free_busy, commitments)
        if not calendars or (unavailable and mode is PoolMode.ALL_OF):
            return managed, []  # an unknown calendar is never a free one
        now = self._clock.now()
        cutoff = event_type.self_service.cutoff
        slots = [
            s
            for s in pooled_slots(list(calendars.values()), event_type, window, now, mode)
            if s.start != booking.start and s.start - cutoff > now
        ]
        return managed, slots

    def reschedule(self, token: str, start: datetime, reason: str | None) -> ManagedBooking:
        managed = self.view(token)
        self._ensure(Action.RESCHEDULE, managed)
        text = self._reason(managed, reason)
        if start - managed.event_type.self_service.cutoff <= self._clock.now():
            raise SelfServiceClosed("The new time is inside this event type's self-service cutoff.")
        if self._rerouting(managed):
            moved = self._bookings.reroute(managed.booking.id, start, reason=text, by=INVITEE)
        else:
            moved = self._bookings.reschedule(managed.booking.id, start, reason=text, by=INVITEE)
        return self._managed(moved)

    @staticmethod
    def _rerouting(managed: ManagedBooking) -> bool:
        """Policy `reroute` on a booking routing may give another host (one host, not collective)."""
        policy = managed.event_type.self_service.reschedule
        return policy is SelfServiceReschedule.REROUTE and reroutable(managed.booking, managed.event_type)

    def cancel(self, token: str, reason: str | None) -> ManagedBooking:
        managed = self.view(token)
        if managed.booking.status is BookingStatus.CANCELLED:
            return managed  # a second cancel: the same answer, no new event
        self._ensure(Action.CANCEL, managed)
        text = self._reason(managed, reason)
        cancelled = self._bookings.cancel(managed.booking.id, reason=text, source=INVITEE)
        return self._managed(cancelled)
