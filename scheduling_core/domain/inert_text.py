"""Invitee-chosen text made inert before it lands in someone else's calendar or CRM (pure).

An invitee on the key-less booking page chooses their name (and answers); that text becomes part of the
rep's Outlook event subject and the Dataverse appointment. `inert` keeps it to one plain line: markup
removed (tags, then any stray angle bracket), control characters (CR/LF included) and invisible
format characters (bidi overrides, zero-width joiners) replaced, whitespace collapsed, length bounded.
"""

from __future__ import annotations

import re
import unicodedata

_TAG = re.compile(r"<[^<>]{0,1000}>")
_SPACE = re.compile(r"\s+")


def _visible(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cc" or category in ("Zl", "Zp"):
        return " "  # CR, LF, TAB, NUL ... and the Unicode line/paragraph separators
    if category in ("Cf", "Co", "Cs", "Cn"):
        return ""  # invisible formatting (U+202E, U+200B), private use, lone surrogates, unassigned
    if char in "<>":
        return ""
    return char


def inert(text: str | None, limit: int) -> str:
    """`text` as one plain, bounded line; "" for nothing. `limit` counts characters, "…" included."""
    if not text:
        return ""
    plain = _TAG.sub(" ", text)
    plain = "".join(_visible(c) for c in plain)
    plain = _SPACE.sub(" ", plain).strip()
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"
