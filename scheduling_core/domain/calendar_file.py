"""An iCalendar (RFC 5545) file for one booking: the booking page's "add to calendar" download.

Invariants: times are written in UTC (`...Z`), so no VTIMEZONE is needed and every calendar shows the
same instant; text values are escaped (backslash, semicolon, comma, newline); lines end in CRLF and
are folded at 75 octets without splitting a UTF-8 character; the UID is the booking id, and SEQUENCE
its version, so importing a later download updates the same event instead of adding a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

PRODUCT_ID = "-//Dynamics scheduling//Booking page//EN"


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarEntry:
    uid: str
    sequence: int
    start: datetime
    end: datetime
    stamp: datetime
    summary: str
    description: str = ""
    location: str = ""
    url: str | None = None
    cancelled: bool = False


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def escape_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """`line` folded so no physical line exceeds 75 octets (continuations start with one space)."""
    out: list[str] = []
    current = ""
    size = 0
    for char in line:
        width = len(char.encode())
        limit = 75 if not out else 74  # a continuation's leading space counts
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def calendar_file(entry: CalendarEntry) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODUCT_ID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{escape_text(entry.uid)}",
        f"SEQUENCE:{entry.sequence}",
        f"DTSTAMP:{_utc(entry.stamp)}",
        f"DTSTART:{_utc(entry.start)}",
        f"DTEND:{_utc(entry.end)}",
        f"SUMMARY:{escape_text(entry.summary)}",
        f"STATUS:{'CANCELLED' if entry.cancelled else 'CONFIRMED'}",
    ]
    if entry.description:
        lines.append(f"DESCRIPTION:{escape_text(entry.description)}")
    if entry.location:
        lines.append(f"LOCATION:{escape_text(entry.location)}")
    if entry.url:
        lines.append("URL:" + "".join(c for c in entry.url if c >= " "))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
