"""`send_reminders`: email each due reminder to its invitee once (api.md, Reminders).

Delivery is at-most-once per (booking, start, minutesBefore), across timer re-runs, crashes and
concurrent instances (docs/decisions.md, "Attendance, reminders and the fairness report"):
1. the reminder's row is created (create-only: one claimant in the whole deployment) as `sending`;
2. only then is the email handed to Graph (`sendMail`, never resent on a lost answer);
3. the row is settled `sent`, or `failed` (Graph refused it), or `unknown` (no answer: it may be out).
Graph answering 429/503 past the retries means it did not take the message: the claim is removed and the
next run sends it. A crash between 1 and 2 leaves a `sending` row and the reminder is not sent: missing
one reminder is preferred over mailing the invitee twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from scheduling_core.domain.bookings import Booking, BookingReader
from scheduling_core.domain.reminders import ReminderContent, due, reminder_key, reminder_request
from scheduling_core.domain.values import EventType, LocationKind
from scheduling_core.errors import OutcomeUnknown, PermanentError, UpstreamUnavailable
from scheduling_core.ports import Clock

log = logging.getLogger(__name__)
PAGE = 500


class ReminderClaims(Protocol):
    def claim(self, booking_id: str, key: str, status: str, now: datetime) -> bool: ...
    def settle(
        self, booking_id: str, key: str, status: str, now: datetime, detail: str | None = None
    ) -> None: ...
    def release(self, booking_id: str, key: str) -> None: ...


class Mailer(Protocol):
    def send_mail(self, sender: str, request: Mapping[str, Any]) -> None: ...


class EventTypes(Protocol):
    def list_event_types(self) -> list[EventType]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderRun:
    sent: int = 0
    superseded: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by another run before this one

    def __str__(self) -> str:
        return f"sent={self.sent} superseded={self.superseded} failed={self.failed} skipped={self.skipped}"


def _location(event_type: EventType) -> str | None:
    location = event_type.location
    if location.value:
        return location.value
    return {LocationKind.TEAMS: "Microsoft Teams meeting", LocationKind.PHONE: "Phone call"}.get(
        location.kind
    )


class ReminderService:
    def __init__(
        self,
        *,
        event_types: EventTypes,
        bookings: BookingReader,
        claims: ReminderClaims,
        mailer: Mailer,
        clock: Clock,
        sender: str,
        manage_url: Callable[[str], str | None] = lambda _booking_id: None,
    ) -> None:
        """`manage_url`: the invitee's manage link of a booking id, when manage links are configured."""
        self._event_types = event_types
        self._bookings = bookings
        self._claims = claims
        self._mailer = mailer
        self._clock = clock
        self._sender = sender
        self._manage_url = manage_url

    def send_due(self) -> ReminderRun:
        now = self._clock.now()
        with_reminders = {t.slug: t for t in self._event_types.list_event_types() if t.reminders}
        if not with_reminders:
            return ReminderRun()
        horizon = now + timedelta(minutes=max(max(t.reminders) for t in with_reminders.values()))
        counts = {"sent": 0, "superseded": 0, "failed": 0, "skipped": 0}
        for booking in self._upcoming(now, horizon):
            event_type = with_reminders.get(booking.event_type)
            if event_type is None:
                continue
            plan = due(booking, event_type.reminders, now)
            if plan is None:
                continue
            for minutes in plan.superseded:
                if self._claims.claim(booking.id, reminder_key(booking.start, minutes), "superseded", now):
                    counts["superseded"] += 1
            counts[self._send(booking, event_type, plan.send, now)] += 1
        return ReminderRun(**counts)

    def _upcoming(self, now: datetime, horizon: datetime) -> Iterator[Booking]:
        """Confirmed bookings starting in `[now, horizon]` (the longest reminder's reach)."""
        offset: int | None = 0
        while offset is not None:
            page, offset = self._bookings.list_bookings(
                record_id=None,
                host_id=None,
                start=now,
                end=horizon,
                status="confirmed",
                limit=PAGE,
                offset=offset,
            )
            yield from (b for b in page if b.start >= now)

    def _send(self, booking: Booking, event_type: EventType, minutes: int, now: datetime) -> str:
        key = reminder_key(booking.start, minutes)
        if not self._claims.claim(booking.id, key, "sending", now):
            return "skipped"
        content = ReminderContent(
            title=event_type.title,
            location=_location(event_type),
            join_url=booking.outlook.join_url or None,
            manage_url=self._manage_url(booking.id),
        )
        try:
            self._mailer.send_mail(self._sender, reminder_request(booking, content, now))
        except OutcomeUnknown as exc:
            self._claims.settle(booking.id, key, "unknown", self._clock.now(), exc.detail)
            log.warning("reminder %s/%s: no answer from Graph, not resent: %s", booking.id, key, exc.detail)
            return "failed"
        except UpstreamUnavailable as exc:
            self._claims.release(booking.id, key)  # Graph did not take it: the next run sends it
            log.warning(
                "reminder %s/%s: Graph unavailable, retried next run: %s", booking.id, key, exc.detail
            )
            return "failed"
        except PermanentError as exc:
            self._claims.settle(booking.id, key, "failed", self._clock.now(), exc.detail)
            log.warning("reminder %s/%s: refused by Graph: %s", booking.id, key, exc.detail)
            return "failed"
        self._claims.settle(booking.id, key, "sent", self._clock.now())
        return "sent"
