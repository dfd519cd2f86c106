"""Keeping invitee data out of logs and traces.

Invariants:
- `redact(text)` replaces every e-mail address and international (`+...`) or bracketed-area-code phone
  number with a placeholder, and every value registered with `sensitive(...)` in the current context
  (the invitee's name, e-mail and phone, the answers, a presented secret) with `[redacted]`.
- Registered values are scoped: `sensitive` is a context manager over a `ContextVar`, so one request's
  invitee never leaks into another request's redaction list (nor stays after the request).
- Values shorter than `MIN_SENSITIVE_LENGTH` characters are not registered: replacing "a" or "Jo"
  everywhere would shred the log without protecting anything an id or a time does not already say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

#: An address, also URL-encoded (`%40`) as it appears in a `$filter` of a traced request URL. Letters are
#: any script's (`\w` is Unicode): an internationalised address (`zoë@bücher-müller.de`), its punycode
#: (`xn--...`) and its percent-encoded UTF-8 (`b%C3%BCcher`) are addresses like any other (issue 13).
EMAIL: Final = re.compile(
    r"[\w.%+'-]+(?:@|%40)[\w%-]+(?:\.[\w%-]+)*\.(?:[^\W\d_]{2,}|xn--[A-Za-z0-9-]+|(?:%[0-9A-Fa-f]{2})+)"
)
#: "+49 30 1234567", "+1 (425) 555-0100", "(425) 555-0100"; not ISO dates, GUIDs or version numbers.
PHONE: Final = re.compile(r"\+\d[\d\s().-]{6,}\d|\(\d{2,5}\)\s?\d{2,4}[\s.-]?\d{3,4}")
EMAIL_PLACEHOLDER: Final = "[email]"
PHONE_PLACEHOLDER: Final = "[phone]"
VALUE_PLACEHOLDER: Final = "[redacted]"
MIN_SENSITIVE_LENGTH: Final = 3

_sensitive: ContextVar[tuple[str, ...]] = ContextVar("sensitive_values", default=())


def redact(text: str) -> str:
    """`text` with e-mail addresses, phone numbers and this context's sensitive values replaced."""
    for value in _sensitive.get():
        if value in text:
            text = text.replace(value, VALUE_PLACEHOLDER)
    if "@" in text or "%40" in text:
        text = EMAIL.sub(EMAIL_PLACEHOLDER, text)
    return PHONE.sub(PHONE_PLACEHOLDER, text)


def sensitive_strings(value: Any) -> Iterator[str]:
    """Every string inside `value` (nested mappings and lists included), keys excluded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from sensitive_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from sensitive_strings(item)


@contextmanager
def sensitive(values: Iterable[Any]) -> Iterator[None]:
    """Within the block, `redact` also hides each of `values` (strings, or containers of strings)."""
    found = {s.strip() for v in values for s in sensitive_strings(v)}
    added = tuple(sorted((s for s in found if len(s) >= MIN_SENSITIVE_LENGTH), key=len, reverse=True))
    if not added:
        yield
        return
    token = _sensitive.set(_sensitive.get() + added)
    try:
        yield
    finally:
        _sensitive.reset(token)


def add_sensitive(values: Iterable[Any]) -> None:
    """Register `values` for the rest of the current context (a request or a handler invocation)."""
    found = {s.strip() for v in values for s in sensitive_strings(v)}
    added = tuple(s for s in found if len(s) >= MIN_SENSITIVE_LENGTH)
    if added:
        merged = set(_sensitive.get()) | set(added)
        _sensitive.set(tuple(sorted(merged, key=len, reverse=True)))


@contextmanager
def scope() -> Iterator[None]:
    """Values `add_sensitive` registers inside the block are forgotten when it ends (one per invocation)."""
    token = _sensitive.set(_sensitive.get())
    try:
        yield
    finally:
        _sensitive.reset(token)
