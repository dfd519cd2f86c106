"""Manage links (api.md, "Self-service: manage links"): the token and what the policy allows (pure).

Invariants:
- A token is `base64url(id ‖ mac)`: the booking id's 12 random bytes and the first 16 bytes of
  HMAC-SHA256(key, "manage-link:v1:" + booking id). Nothing is stored: the key (app setting
  `MANAGE_LINK_KEY`, a Key Vault reference in Azure) never reaches Table storage, and a token maps back
  to its booking without a lookup table. Verification recomputes the MAC and compares in constant time;
  anything else (other length, other alphabet, one flipped bit) is "no such booking".
- The token depends on the booking id only, so it survives reschedules (and reassignment to another
  host); it stops allowing changes once the booking is cancelled, has started, or is inside the
  event type's cutoff — decided here from values alone (`allowed`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from scheduling_core.domain.values import SelfService
from scheduling_core.errors import WeakKey

_ID: Final = re.compile(r"^bk_([0-9a-f]{24})$")
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{38}$")
_MAC_BYTES: Final = 16
_CONTEXT: Final = b"manage-link:v1:"
#: A key shorter than this is refused at start-up (it must be as hard to guess as the MAC is long).
MIN_KEY_BYTES: Final = 32


def _mac(key: bytes, booking_id: str) -> bytes:
    return hmac.new(key, _CONTEXT + booking_id.encode(), hashlib.sha256).digest()[:_MAC_BYTES]


@dataclass(frozen=True, slots=True)
class ManageLinks:
    """Makes and checks manage-link tokens with one key, and builds their URLs under `base_url`."""

    key: bytes
    base_url: str

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise WeakKey(f"MANAGE_LINK_KEY must be at least {MIN_KEY_BYTES} bytes")

    def token(self, booking_id: str) -> str | None:
        """The booking's token; None for an id that is not one of ours (no link can name it)."""
        match = _ID.match(booking_id)
        if match is None:
            return None
        raw = bytes.fromhex(match.group(1)) + _mac(self.key, booking_id)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def url(self, booking_id: str) -> str | None:
        token = self.token(booking_id)
        return f"{self.base_url}/manage/{token}" if token else None

    def booking_id(self, token: str) -> str | None:
        """The booking a genuine token names; None for anything else (unknown, altered, malformed)."""
        if not _TOKEN.match(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "==")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 12 + _MAC_BYTES:
            return None
        # 28 bytes fill 37⅓ characters: the last one has unused bits, so other spellings decode to the
        # same bytes. Only the canonical spelling is the token (an altered character is never accepted).
        canonical = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not hmac.compare_digest(canonical, token):
            return None
        booking_id = "bk_" + raw[:12].hex()
        if not hmac.compare_digest(raw[12:], _mac(self.key, booking_id)):
            return None
        return booking_id


class Action(StrEnum):
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    allowed: bool
    why: str


def cutoff_at(start: datetime, policy: SelfService) -> datetime:
    """From this instant on, the link no longer changes the booking."""
    return start - policy.cutoff


def allowed(
    action: Action, *, policy: SelfService, start: datetime, cancelled: bool, now: datetime
) -> Verdict:
    """May the invitee do `action` now? (`cancelled` bookings are handled by the caller's own rules.)"""
    if cancelled:
        return Verdict(allowed=False, why="the booking is cancelled")
    if action is Action.CANCEL and not policy.allow_cancel:
        return Verdict(allowed=False, why="this event type does not let invitees cancel")
    if action is Action.RESCHEDULE and not policy.allow_reschedule:
        return Verdict(allowed=False, why="this event type does not let invitees reschedule")
    if now >= start:
        return Verdict(allowed=False, why="the meeting has started or ended")
    if now >= cutoff_at(start, policy):
        return Verdict(allowed=False, why=f"changes close {policy.cutoff_minutes} minutes before the start")
    return Verdict(allowed=True, why="allowed")
