"""Answers to an event type's questions, checked once at the boundary (routing.md, "Conditions on answers").

Pure: no I/O. `checked_answers` turns what a caller sent (`answers` on holds and bookings,
`answers.<id>=` on `GET /slots`) into text values, one per question asked, or raises one 422 that
names every bad field as `answers.<id>`. Answers to questions the event type does not ask are
dropped here (PII minimisation; `services.bookings.asked_answers` keeps those named in
`requiredFields`).

When a required question must be answered (docs/decisions.md, "Questions and explain"):
- always on a booking;
- on `GET /slots` and holds only when the event type's routing rule set decides the hosts (no
  explicit `hostId`): routing may depend on the answer, and slots routed without it would be
  another rep's. With explicit or fixed hosts no answer changes the slots, so none is demanded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from scheduling_core.domain.values import EMAIL_SHAPE, EventType, Question, QuestionKind
from scheduling_core.errors import FieldError, InvalidRequest

MAX_ANSWER_LENGTH = 2000
#: E.164 allows 15 digits; people type spaces, dots, dashes, brackets and an extension-free `+`.
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")


def _text(value: Any) -> str | None:
    """The answer as text, None when not given (absent, null or blank); numbers are accepted as given."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise TypeError


def _problem(question: Question, text: str) -> str | None:
    if len(text) > MAX_ANSWER_LENGTH:
        return f"at most {MAX_ANSWER_LENGTH} characters"
    kind = question.kind
    if kind is QuestionKind.EMAIL and not EMAIL_SHAPE.match(text):
        return "must be an email address"
    if kind is QuestionKind.PHONE and (
        not _PHONE.match(text) or not 3 <= sum(c.isdigit() for c in text) <= 15
    ):
        return "must be a phone number (digits, optionally +, spaces, dots, dashes, brackets)"
    if kind is QuestionKind.NUMBER:
        try:
            number = float(text)
        except ValueError:
            return "must be a number"
        if not math.isfinite(number):
            return "must be a finite number"
    if kind is QuestionKind.SELECT and text not in question.options:
        return f"must be one of: {', '.join(question.options)}"
    return None


def checked_answers(event_type: EventType, answers: Mapping[str, Any], *, require: bool) -> dict[str, str]:
    """The answers to `event_type`'s questions as text; 422 naming `answers.<id>` for each bad one,
    and for each required one left unanswered when `require`."""
    errors: list[FieldError] = []
    found: dict[str, str] = {}
    for question in event_type.questions:
        field = f"answers.{question.id}"
        try:
            text = _text(answers.get(question.id))
        except TypeError:
            errors.append(FieldError(field=field, message="must be text or a number"))
            continue
        if text is None:
            if require and question.required:
                errors.append(FieldError(field=field, message=f"required: {question.label}"))
            continue
        problem = _problem(question, text)
        if problem is not None:
            errors.append(FieldError(field=field, message=problem))
        else:
            found[question.id] = text
    if errors:
        raise InvalidRequest("Some answers are missing or invalid.", tuple(errors))
    return found


def answers_from_query(params: Mapping[str, str]) -> dict[str, str]:
    """`answers.<id>=<value>` query parameters as `{id: value}` (`GET /slots`, the page's slots)."""
    return {
        name.partition(".")[2]: value
        for name, value in params.items()
        if name.startswith("answers.") and len(name) > len("answers.")
    }
