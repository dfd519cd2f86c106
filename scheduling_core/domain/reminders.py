"""Reminder emails (api.md, Reminders) as pure functions: which are due, and the Graph message for one.

Invariants:
- A reminder is identified by (booking id, start, minutesBefore): a reschedule gives the booking a new
  start and so new reminders, due again; the old ones can never be sent for the new time.
- Due: the booking is confirmed, it has not started, and now >= start - minutesBefore. When several of a
  booking's reminders are due at once (a booking made late, a timer that was down), only the nearest to
  the start is sent; the earlier ones are settled as superseded, so the invitee gets one email, not three.
- The message is Graph's `sendMail` request body (message.subject, body HTML, toRecipients, one
  `#microsoft.graph.fileAttachment` `.ics`); every value the invitee or an admin typed is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduling_core.domain.bookings import Booking, BookingStatus
from scheduling_core.domain.calendar_file import CalendarEntry, calendar_file
from scheduling_core.domain.timezones import resolve_time_zone

ICS_NAME = "invite.ics"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderPlan:
    """The reminders of one booking that are due now: the one to send and those it supersedes."""

    send: int  # minutesBefore
    superseded: tuple[int, ...] = ()


def reminder_key(start: datetime, minutes_before: int) -> str:
    """The reminder's name among its booking's reminders: the start (epoch seconds) and the lead time."""
    return f"{int(start.timestamp())}|{minutes_before:05d}"


def due(booking: Booking, reminders: Sequence[int], now: datetime) -> ReminderPlan | None:
    if booking.status is not BookingStatus.CONFIRMED or now >= booking.start:
        return None
    ready = sorted(m for m in set(reminders) if now >= booking.start - timedelta(minutes=m))
    if not ready:
        return None
    return ReminderPlan(send=ready[0], superseded=tuple(ready[1:]))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderContent:
    title: str
    location: str | None
    join_url: str | None
    manage_url: str | None


def local_time_text(booking: Booking) -> str:
    """The meeting's time in the invitee's zone (the booking's `timeZone`), e.g.
    `Monday, 7 December 2026, 09:00-09:30 (America/Chicago, UTC-06:00)`."""
    zone = resolve_time_zone(booking.time_zone)
    start, end = booking.start.astimezone(zone), booking.end.astimezone(zone)
    offset = start.strftime("%z")
    return (
        f"{start:%A}, {start.day} {start:%B %Y}, {start:%H:%M}-{end:%H:%M} "
        f"({booking.time_zone}, UTC{offset[:3]}:{offset[3:]})"
    )


def _link(url: str) -> str:
    safe = html.escape(url, quote=True)
    return f'<a href="{safe}">{safe}</a>'


def reminder_request(
    booking: Booking, content: ReminderContent, now: datetime, *, save_to_sent_items: bool = True
) -> dict[str, Any]:
    """The `POST /users/{sender}/sendMail` body reminding the invitee of `booking`."""
    when = local_time_text(booking)
    name = booking.invitee.name
    rows = [f"<p>Hello {html.escape(name)},</p>"]
    rows.append(f"<p>This is a reminder of <strong>{html.escape(content.title)}</strong>.</p>")
    rows.append(f"<p>When: {html.escape(when)}</p>")
    if content.location:
        rows.append(f"<p>Where: {html.escape(content.location)}</p>")
    if content.join_url:
        rows.append(f"<p>Join: {_link(content.join_url)}</p>")
    if content.manage_url:
        rows.append(f"<p>Reschedule or cancel: {_link(content.manage_url)}</p>")
    description = "\n".join(
        line
        for line in (
            f"Join: {content.join_url}" if content.join_url else "",
            f"Reschedule or cancel: {content.manage_url}" if content.manage_url else "",
        )
        if line
    )
    ics = calendar_file(
        CalendarEntry(
            uid=booking.id,
            sequence=booking.version,
            start=booking.start,
            end=booking.end,
            stamp=now,
            summary=content.title,
            description=description,
            location=content.location or "",
            url=content.join_url,
        )
    )
    return {
        "message": {
            "subject": f"Reminder: {content.title}, {when}",
            "body": {"contentType": "HTML", "content": "\n".join(rows)},
            "toRecipients": [{"emailAddress": {"address": booking.invitee.email, "name": name}}],
            "attachments": [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": ICS_NAME,
                    "contentType": "text/calendar",
                    "contentBytes": base64.b64encode(ics.encode()).decode("ascii"),
                }
            ],
        },
        "saveToSentItems": save_to_sent_items,
    }
