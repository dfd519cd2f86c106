"""The public booking page's narrow surface over slots, holds and bookings (docs/booking-page.md).

Invariants:
- Only event types marked `public: true` (and, when `BOOKING_PAGE_EVENT_TYPES` is set, also listed
  there) are visible; any other slug is "not found", exactly like a slug that does not exist.
- A visitor never chooses a host: holds and bookings go to the hosts routing (or the event type's
  fixed pool) gives for the visitor's context, the same ones `/slots` offered.
- A booking is only ever shown, and a hold only ever released, under its own event type's slug.
- Abuse limits (api.md "Booking page abuse limits") live in shared storage, not in process memory, so
  they hold across instances: a request rate per client, a number of unexpired holds per client, a share
  of the event type's bookable slots that page holds may cover, and bookings per invitee email per day.
- A page hold never calls Graph: it checks working hours, notice, window, caps and this service's own
  bookings and holds; Outlook is read fresh when the booking commits.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from scheduling_core.domain.bookings import Booking, Hold, new_hold_id
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import Assignment, EventType, Slot
from scheduling_core.errors import NotFound, RateLimited, SchedulingError, SlotUnavailable, TooManyHolds
from scheduling_core.ports import Clock, ConfigRepository
from scheduling_core.services.bookings import HOLD_LIFETIME, BookingRequest, BookingService
from scheduling_core.services.page_limits import (
    LimitStore,
    PageLimits,
    capacities,
    client_pool,
    digest,
    refused,
    share_pool,
)
from scheduling_core.services.router import ContextIn
from scheduling_core.services.slots import SlotService

#: Route segments under /book that can never be an event type's page.
RESERVED_SLUGS = frozenset({"assets"})
#: Stamped on every booking the page makes, so flows and reports can tell where it came from.
CHANNEL = {"channel": "booking-page"}
#: The held share is of the slots in the next `bookingWindowDays`; event types without one use this.
DEFAULT_SHARE_WINDOW_DAYS = 60


def _context(context: Mapping[str, Any], answers: Mapping[str, Any] | None) -> ContextIn:
    return replace(ContextIn.from_mapping(context), answers=dict(answers or {}))


class BookingPage:
    def __init__(
        self,
        *,
        config: ConfigRepository,
        slots: SlotService,
        bookings: BookingService,
        offered: Collection[str] | None = None,
        offline_slots: SlotService | None = None,
        limits_store: LimitStore | None = None,
        limits: PageLimits | None = None,
        clock: Clock | None = None,
        scope: str = "",
    ) -> None:
        """`offered`: an extra allow-list of slugs (`None`: every public event type). `offline_slots`:
        slots without Outlook (the held-share base). Without `limits_store` no abuse limit applies
        (unit tests of the page's rules); `scope` keys the per-process capacity memo (the table prefix)."""
        self._config = config
        self._slots = slots
        self._offline = offline_slots or slots
        self._bookings = bookings
        self._offered = None if offered is None else frozenset(offered)
        self._store = limits_store
        self._limits = limits or PageLimits()
        self._clock = clock
        self._scope = scope

    def event_type(self, slug: str) -> EventType:
        if slug in RESERVED_SLUGS or (self._offered is not None and slug not in self._offered):
            raise NotFound("event type", slug)
        event_type = self._config.get_event_type(slug)
        if not event_type.public:
            raise NotFound("event type", slug)
        return event_type

    # ---- limits ----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        assert self._clock is not None
        return self._clock.now()

    def admit(self, client: str) -> None:
        """Count one request of `client` against its per-minute rate; 429 `rate-limited` past it."""
        if self._store is None:
            return
        now = self._now()
        minute = now.replace(second=0, microsecond=0)
        key = (self._scope, client)
        until = refused.until(key, now)
        if until is None:
            count = self._store.count(f"rate|{digest(client)}", minute.isoformat())
            if count <= self._limits.requests_per_minute:
                return
            until = minute + timedelta(minutes=1)
            refused.add(key, until)
        raise RateLimited(
            f"Too many requests from this address; at most {self._limits.requests_per_minute} a minute.",
            math.ceil((until - now).total_seconds()),
        )

    def _capacity(self, event_type: EventType, now: datetime) -> int:
        """How many page holds may be live for `event_type`: the share of its bookable slots.

        The base is the slots our own rules leave open in the next `bookingWindowDays` (working hours,
        overrides, notice, caps, this service's bookings), counted without Outlook so a hold never
        calls Graph; page holds themselves are added back so the cap does not shrink as they are taken.
        """
        assert self._store is not None
        key = (self._scope, event_type.slug)
        base = capacities.get(key, now)
        if base is None:
            days = min(event_type.booking_window_days or DEFAULT_SHARE_WINDOW_DAYS, 62)
            answer = self._offline.find_slots(
                event_type_slug=event_type.slug, window=Interval(now, now + timedelta(days=days))
            )
            base = len(answer.slots) + self._store.live(share_pool(event_type.slug), now)
            capacities.put(key, now, base)
        return math.floor(self._limits.max_held_share * base)

    def _take_seats(self, event_type: EventType, client: str, hold_id: str, now: datetime) -> None:
        assert self._store is not None
        expires = now + HOLD_LIFETIME
        busy_until = self._store.claim(
            client_pool(client), self._limits.max_holds_per_client, hold_id, expires, now
        )
        if busy_until is not None:
            raise TooManyHolds(
                f"This address already holds {self._limits.max_holds_per_client} times; book or release one.",
                math.ceil((busy_until - now).total_seconds()),
            )
        capacity = self._capacity(event_type, now)
        busy_until = self._store.claim(share_pool(event_type.slug), capacity, hold_id, expires, now)
        if busy_until is not None:
            self._store.release(client_pool(client), hold_id)
            raise TooManyHolds(
                "Too many times of this event type are held on the booking page right now.",
                math.ceil((busy_until - now).total_seconds()),
            )

    def _free_seats(self, slug: str, client: str | None, hold_id: str) -> None:
        if self._store is None:
            return
        self._store.release(share_pool(slug), hold_id)
        if client is not None:
            self._store.release(client_pool(client), hold_id)

    # ---- the page's operations -------------------------------------------------------------------

    def slots(
        self,
        slug: str,
        window: Interval,
        context: Mapping[str, Any],
        answers: Mapping[str, Any] | None = None,
    ) -> tuple[EventType, list[Slot]]:
        self.event_type(slug)
        answer = self._slots.find_slots(
            event_type_slug=slug, window=window, context=_context(context, answers)
        )
        return answer.event_type, list(answer.slots)

    def hold(
        self,
        slug: str,
        start: datetime,
        context: Mapping[str, Any],
        client: str = "",
        answers: Mapping[str, Any] | None = None,
    ) -> Hold:
        """Hold `start` with a host the visitor's routing offers; 409 if none is free any more,
        429 `too-many-holds` when the client or the event type's held share is at its limit."""
        event_type = self.event_type(slug)
        hold_id = new_hold_id()
        if self._store is not None:
            self._take_seats(event_type, client, hold_id, self._now())
        try:
            return self._hold(event_type, start, context, hold_id, answers or {})
        except BaseException:
            self._free_seats(slug, client, hold_id)
            raise

    def _hold(
        self,
        event_type: EventType,
        start: datetime,
        context: Mapping[str, Any],
        hold_id: str,
        answers: Mapping[str, Any],
    ) -> Hold:
        slug = event_type.slug
        routing_context, context = context, {k: v for k, v in context.items() if k != "email"}  # not stored
        if event_type.routing_rule_set is None or event_type.assignment is Assignment.COLLECTIVE:
            return self._bookings.hold(
                event_type_slug=slug,
                start=start,
                host_id=None,
                context=context,
                hold_id=hold_id,
                outlook=False,
                answers=answers,
            )
        window = Interval(start, start + event_type.duration)
        # The visitor's answers route the hold to the rep the slots came from (and are checked there).
        answer = self._offline.find_slots(
            event_type_slug=slug, window=window, context=_context(routing_context, answers)
        )
        hosts = [host for slot in answer.slots if slot.start == start for host in slot.host_ids]
        ordered = [h for h in answer.selection.host_ids if h in hosts]
        last: SlotUnavailable = SlotUnavailable("That time is no longer available.")
        for host_id in ordered:
            try:
                return self._bookings.hold(
                    event_type_slug=slug,
                    start=start,
                    host_id=host_id,
                    context=context,
                    hold_id=hold_id,
                    outlook=False,
                )
            except SlotUnavailable as exc:
                last = exc
        raise last

    def release_hold(self, slug: str, hold_id: str, client: str | None = None) -> None:
        """Release a hold, only under its own event type's URL (any other slug: 404, hold kept)."""
        self.event_type(slug)
        hold = self._bookings.get_hold(hold_id)
        if hold.event_type != slug:
            raise NotFound("hold", hold_id)
        self._bookings.release_hold(hold_id)
        self._free_seats(slug, client, hold_id)

    def limit_invitee(self, email: str) -> None:
        """Count one page booking for `email` today; 429 `rate-limited` past the daily limit."""
        if self._store is None:
            return
        now = self._now()
        day = now.date().isoformat()
        name = f"email|{digest(email.strip().lower())}"
        if self._store.count(name, day) > self._limits.max_bookings_per_email_per_day:
            self._store.count(name, day, -1)  # a refused request does not use up the allowance
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
            raise RateLimited(
                f"At most {self._limits.max_bookings_per_email_per_day} bookings a day per email address.",
                math.ceil((midnight - now).total_seconds()),
            )

    def book(self, request: BookingRequest, client: str | None = None) -> Booking:
        """The booking as stored once created: whatever the sync handlers already wrote back (locally they
        run before this returns, so the Teams link is there; in Azure the page polls for it)."""
        self.event_type(request.event_type)
        self.limit_invitee(request.invitee.email)
        try:
            created = self._bookings.create(request)
        except BaseException:
            if self._store is not None:  # a refused booking does not count against the invitee
                day = self._now().date().isoformat()
                self._store.count(f"email|{digest(request.invitee.email.strip().lower())}", day, -1)
            raise
        if request.hold_id is not None:
            # The hold became the booking: its seats are free again (else they expire with it).
            with suppress(SchedulingError):
                self._free_seats(request.event_type, client, request.hold_id)
        try:
            return self._bookings.get(created.id)
        except SchedulingError:
            return created

    def booking(self, slug: str, booking_id: str) -> tuple[EventType, Booking]:
        event_type = self.event_type(slug)
        booking = self._bookings.get(booking_id)
        if booking.event_type != slug:
            raise NotFound("booking", booking_id)
        return event_type, booking
