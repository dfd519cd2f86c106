"""The public booking page's narrow surface over slots, holds and bookings (docs/booking-page.md).

Invariants:
- Only event types the page may offer (`BOOKING_PAGE_EVENT_TYPES`, default every one) are visible;
  any other slug is "not found", exactly like a slug that does not exist.
- A visitor never chooses a host: holds and bookings go to the hosts routing (or the event type's
  fixed pool) gives for the visitor's context, the same ones `/slots` offered.
- A booking is only ever shown under its own event type's slug.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from scheduling_core.bookings import Booking, Hold
from scheduling_core.domain import Assignment, EventType, Slot
from scheduling_core.errors import NotFound, SchedulingError, SlotUnavailable
from scheduling_core.intervals import Interval
from scheduling_core.ports import ConfigRepository
from scheduling_core.services.bookings import BookingRequest, BookingService
from scheduling_core.services.routing import ContextIn
from scheduling_core.services.slots import SlotService

#: Route segments under /book that can never be an event type's page.
RESERVED_SLUGS = frozenset({"assets"})
#: Stamped on every booking the page makes, so flows and reports can tell where it came from.
CHANNEL = {"channel": "booking-page"}


class BookingPage:
    def __init__(
        self,
        *,
        config: ConfigRepository,
        slots: SlotService,
        bookings: BookingService,
        offered: Collection[str] | None = None,
    ) -> None:
        """`offered`: the slugs the page may show, or `None` for every event type."""
        self._config = config
        self._slots = slots
        self._bookings = bookings
        self._offered = None if offered is None else frozenset(offered)

    def event_type(self, slug: str) -> EventType:
        if slug in RESERVED_SLUGS or (self._offered is not None and slug not in self._offered):
            raise NotFound("event type", slug)
        return self._config.get_event_type(slug)

    def slots(self, slug: str, window: Interval, context: Mapping[str, Any]) -> tuple[EventType, list[Slot]]:
        self.event_type(slug)
        answer = self._slots.find_slots(
            event_type_slug=slug, window=window, context=ContextIn.from_mapping(context)
        )
        return answer.event_type, list(answer.slots)

    def hold(self, slug: str, start: datetime, context: Mapping[str, Any]) -> Hold:
        """Hold `start` with a host the visitor's routing offers; 409 if none is free any more."""
        event_type = self.event_type(slug)
        if event_type.routing_rule_set is None or event_type.assignment is Assignment.COLLECTIVE:
            return self._bookings.hold(event_type_slug=slug, start=start, host_id=None, context=context)
        window = Interval(start, start + event_type.duration)
        answer = self._slots.find_slots(
            event_type_slug=slug, window=window, context=ContextIn.from_mapping(context)
        )
        hosts = [host for slot in answer.slots if slot.start == start for host in slot.host_ids]
        ordered = [h for h in answer.selection.host_ids if h in hosts]
        last: SlotUnavailable = SlotUnavailable("That time is no longer available.")
        for host_id in ordered:
            try:
                return self._bookings.hold(
                    event_type_slug=slug, start=start, host_id=host_id, context=context
                )
            except SlotUnavailable as exc:
                last = exc
        raise last

    def release_hold(self, slug: str, hold_id: str) -> None:
        self.event_type(slug)
        self._bookings.release_hold(hold_id)

    def book(self, request: BookingRequest) -> Booking:
        """The booking as stored once created: whatever the sync handlers already wrote back (locally they
        run before this returns, so the Teams link is there; in Azure the page polls for it)."""
        self.event_type(request.event_type)
        created = self._bookings.create(request)
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
