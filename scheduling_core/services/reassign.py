"""Reassigning a host's bookings (api.md, Team operations): one page of a range per call.

Invariants:
- Each booking moves on its own and atomically (`BookingService.reassign`); a booking no one can take is
  reported in `unplaced` with why and left untouched, never dropped.
- A call handles at most `limit` bookings, in start order, and answers a continuation token (the last
  booking handled) when more remain: a large range is worked through in bounded calls, none near the
  Functions HTTP timeout. The token is only a position: bookings moved meanwhile are simply not found
  again, so pages may be re-asked and the whole run repeated safely (a second run moves nothing new).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from scheduling_core.domain.bookings import Booking, BookingStatus
from scheduling_core.errors import (
    BookingNotModifiable,
    FieldError,
    InvalidRequest,
    NotFound,
    SchedulingError,
    SlotUnavailable,
    UpstreamUnavailable,
)
from scheduling_core.services.bookings import BookingService, BookingStore

DEFAULT_PAGE = 25
MAX_PAGE = 100
#: Bookings of one host read per range: a host's confirmed bookings in the range, sorted in memory.
MAX_SCAN = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class Moved:
    booking_id: str
    to_host_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Unplaced:
    booking_id: str
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReassignPage:
    moved: tuple[Moved, ...]
    unplaced: tuple[Unplaced, ...]
    continuation_token: str | None


def encode_position(booking: Booking) -> str:
    raw = json.dumps([booking.start.isoformat(), booking.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_position(token: str) -> tuple[datetime, str]:
    try:
        start, booking_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(start), str(booking_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidRequest(
            "The continuation token is not one this service gave.",
            (FieldError(field="continuationToken", message="not a token from an earlier answer"),),
        ) from None


def reassign_host(
    *,
    bookings: BookingService,
    store: BookingStore,
    host_id: str,
    start: datetime,
    end: datetime,
    to_host_id: str | None,
    reason: str,
    limit: int = DEFAULT_PAGE,
    continuation_token: str | None = None,
) -> ReassignPage:
    """Move one page of `host_id`'s confirmed bookings starting in `[start, end)` (module doc)."""
    after = decode_position(continuation_token) if continuation_token else None
    store.roll_forward(host_id)  # finish any move a crash interrupted before looking for work
    found, _ = bookings.list(host_id=host_id, start=start, end=end, status="confirmed", limit=MAX_SCAN)
    todo = [
        b
        for b in found
        if start <= b.start < end and host_id in b.host_ids and (after is None or (b.start, b.id) > after)
    ]
    moved: list[Moved] = []
    unplaced: list[Unplaced] = []
    for booking in todo[:limit]:
        try:
            new = bookings.reassign(booking.id, from_host=host_id, to_host_id=to_host_id, reason=reason)
        except SlotUnavailable as exc:
            unplaced.append(Unplaced(booking_id=booking.id, why=exc.detail))
            continue
        except (NotFound, BookingNotModifiable):
            continue  # cancelled or gone meanwhile: nothing left to move
        except UpstreamUnavailable as exc:
            # Outlook or storage did not answer for this one: it stays, listed, and a later call retries it.
            unplaced.append(Unplaced(booking_id=booking.id, why=f"Try again later: {exc.detail}"))
            continue
        except SchedulingError as exc:  # e.g. Graph or Dataverse refused a lookup routing needed
            unplaced.append(Unplaced(booking_id=booking.id, why=exc.detail))
            continue
        if (
            new.status is BookingStatus.CONFIRMED
            and host_id not in new.host_ids
            and new.version > booking.version
        ):
            moved.append(
                Moved(
                    booking_id=new.id, to_host_id=next(h for h in new.host_ids if h not in booking.host_ids)
                )
            )
    token = encode_position(todo[limit - 1]) if len(todo) > limit else None
    return ReassignPage(moved=tuple(moved), unplaced=tuple(unplaced), continuation_token=token)
