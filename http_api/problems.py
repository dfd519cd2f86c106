"""RFC 7807 problem responses, and the one table mapping errors to problem codes.

Invariant: whatever a handler raises, the caller gets `application/problem+json`
with a stable `code`; unexpected exceptions become a 500 `internal-error` with a
correlation id and no stack trace.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import azure.functions as func
from pydantic import ValidationError

from scheduling_core.errors import (
    BookingNotModifiable,
    FieldError,
    InvalidRequest,
    NotFound,
    PermanentError,
    SchedulingError,
    SelfServiceClosed,
    SlotUnavailable,
    TooManyRequests,
    TransientError,
    UpstreamRejected,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class HttpProblem(Exception):
    """A problem raised by the shell itself (bad JSON, bad key, body too large)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def problem_response(problem: HttpProblem) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": problem.title,
        "status": problem.status,
        "code": problem.code,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in problem.errors]
    return func.HttpResponse(
        json.dumps(body), status_code=problem.status, mimetype=PROBLEM_JSON, headers=problem.headers
    )


def _pydantic_field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body",)) or "body"


def from_validation_error(exc: ValidationError, prefix: str = "") -> HttpProblem:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        field = _pydantic_field(tuple(err["loc"]))
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append(FieldError(field=f"{prefix}{field}" if prefix else field, message=message))
    return HttpProblem(422, "validation-failed", "Validation failed", "The request did not validate.", errors)


def to_problem(exc: Exception) -> HttpProblem:
    """The problem a caller sees for `exc` (the single error-to-code table)."""
    if isinstance(exc, HttpProblem):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, InvalidRequest):
        return HttpProblem(422, "validation-failed", "Validation failed", exc.detail, exc.errors)
    if isinstance(exc, NotFound):
        return HttpProblem(404, "not-found", "Not found", exc.detail)
    if isinstance(exc, BookingNotModifiable):
        return HttpProblem(409, "booking-not-modifiable", "Booking not modifiable", exc.detail)
    if isinstance(exc, SelfServiceClosed):
        return HttpProblem(409, "self-service-closed", "Self-service closed", exc.detail)
    if isinstance(exc, SlotUnavailable):
        return HttpProblem(409, "slot-unavailable", "Slot unavailable", exc.detail)
    if isinstance(exc, TooManyRequests):
        retry = {"Retry-After": str(exc.retry_after_seconds)}
        return HttpProblem(429, exc.code, "Too many requests", exc.detail, headers=retry)
    if isinstance(exc, UpstreamUnavailable):
        headers = {"Retry-After": str(exc.retry_after_seconds or 5)}
        return HttpProblem(
            503,
            "upstream-unavailable",
            "Service unavailable",
            f"{exc.service} is unavailable; try again shortly. {exc.detail}".strip(),
            headers=headers,
        )
    if isinstance(exc, UpstreamRejected):
        log.warning("upstream refused a request: %s", exc.detail)
        return HttpProblem(
            502,
            "upstream-rejected",
            "Upstream rejected the request",
            f"{exc.service} refused a request this service made; retrying will not help.",
        )
    if isinstance(exc, TransientError):
        return HttpProblem(
            503,
            "upstream-unavailable",
            "Service unavailable",
            f"Try again shortly. {exc.detail}".strip(),
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, PermanentError | SchedulingError):
        # A permanent error no branch above names (a sync-side refusal reaching a request): the request
        # as sent cannot succeed, which is what 422 says; never a 500 (errors.py invariant).
        return HttpProblem(422, "validation-failed", "Validation failed", exc.detail)
    incident = uuid.uuid4().hex
    log.exception("unhandled error (incident %s)", incident)
    return HttpProblem(
        500, "internal-error", "Internal error", f"Something went wrong on our side (incident {incident})."
    )
