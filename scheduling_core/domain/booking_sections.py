"""The typed sections of a booking, and their stored and published JSON forms (issue 18 item 5).

Invariants:
- `X.from_json(x.to_json()) == x`, and `to_json(from_json(doc))` is `doc` byte for byte for every document
  the booking table has stored (tests/unit/test_booking_stored_forms.py holds such documents): rows already
  in Table storage read back as they were written, and the HTTP answer and event snapshots do not change.
- Keys are written in the order the earlier dict-based code wrote them. JSON objects are unordered, but the
  stored row and the event payloads are compared as text by people and tests, so the order stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class AttendanceParty(StrEnum):
    """Who did not attend a booked meeting (api.md, Attendance)."""

    INVITEE = "invitee"
    HOST = "host"


class AttendanceStatus(StrEnum):
    NO_SHOW = "noShow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancellation:
    """Why and when a booking was cancelled, and by whom (api.md: `by` is `invitee` through a manage link).

    `source` is the older name of `by`; both are written. `by` is None only in rows stored before it existed.
    """

    reason: str | None
    source: str
    by: str | None
    at: datetime

    @property
    def by_invitee(self) -> bool:
        return "invitee" in (self.by, self.source)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"reason": self.reason, "source": self.source}
        if self.by is not None:
            doc["by"] = self.by
        doc["at"] = self.at.isoformat()
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Cancellation:
        return Cancellation(
            reason=doc.get("reason"),
            source=str(doc["source"]),
            by=doc.get("by"),
            at=datetime.fromisoformat(doc["at"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Attendance:
    """Who missed a booked meeting, noted when (api.md, `POST /bookings/{id}/no-show`)."""

    party: AttendanceParty
    at: datetime
    note: str | None = None
    status: AttendanceStatus = AttendanceStatus.NO_SHOW

    def to_json(self, zone: Any) -> dict[str, Any]:
        """`at` rendered in `zone` (the booking's time zone in the HTTP answer, UTC when stored)."""
        doc: dict[str, Any] = {
            "status": self.status.value,
            "party": self.party.value,
            "at": self.at.astimezone(zone).isoformat(),
        }
        if self.note:
            doc["note"] = self.note
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Attendance:
        return Attendance(
            status=AttendanceStatus(doc["status"]),
            party=AttendanceParty(doc["party"]),
            at=datetime.fromisoformat(doc["at"]),
            note=doc.get("note"),
        )
