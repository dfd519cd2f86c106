"""RFC 7807 problem responses, and the one catalogue of problem codes and the errors they stand for.

Invariants:
- Every problem `code` this service answers with is declared once, here (`PROBLEM_TYPES`); each error
  type of scheduling_core/errors.py maps to exactly one of them, through its nearest catalogued ancestor.
- Whatever a handler raises, the caller gets `application/problem+json` with a stable `code`; only an
  exception outside the error tree (a bug) becomes a 500 `internal-error`, with a correlation id and no
  stack trace.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import azure.functions as func
from pydantic import ValidationError

from scheduling_core.errors import (
    BookingNotModifiable,
    FieldError,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    MalformedContext,
    MalformedRequest,
    NotFound,
    PageHoldExpired,
    PayloadTooLarge,
    PermanentError,
    RateLimited,
    SchedulingError,
    SelfServiceClosed,
    SlotUnavailable,
    TooManyHolds,
    TooManyRequests,
    TransientError,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamRejected,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One problem code of the API (api.md "Errors"), with its status and title."""

    status: int
    code: str
    title: str


VALIDATION_FAILED: Final = ProblemType(422, "validation-failed", "Validation failed")
IDEMPOTENCY_KEY_REUSED: Final = ProblemType(422, "idempotency-key-reused", "Idempotency key reused")
INVALID_JSON: Final = ProblemType(400, "invalid-json", "Invalid JSON")
MALFORMED_PAYLOAD: Final = ProblemType(400, "malformed-payload", "Malformed payload")
UNAUTHORIZED: Final = ProblemType(401, "unauthorized", "Unauthorized")
FORBIDDEN: Final = ProblemType(403, "forbidden", "Forbidden")
NOT_FOUND: Final = ProblemType(404, "not-found", "Not found")
SLOT_UNAVAILABLE: Final = ProblemType(409, "slot-unavailable", "Slot unavailable")
HOLD_EXPIRED: Final = ProblemType(409, "hold-expired", "Hold expired")
BOOKING_NOT_MODIFIABLE: Final = ProblemType(409, "booking-not-modifiable", "Booking not modifiable")
IDEMPOTENCY_IN_PROGRESS: Final = ProblemType(409, "idempotency-in-progress", "Request in progress")
SELF_SERVICE_CLOSED: Final = ProblemType(409, "self-service-closed", "Self-service closed")
PAYLOAD_TOO_LARGE: Final = ProblemType(413, "payload-too-large", "Payload too large")
UNSUPPORTED_MEDIA_TYPE: Final = ProblemType(415, "unsupported-media-type", "Unsupported media type")
RATE_LIMITED: Final = ProblemType(429, "rate-limited", "Too many requests")
TOO_MANY_HOLDS: Final = ProblemType(429, "too-many-holds", "Too many requests")
UPSTREAM_REJECTED: Final = ProblemType(502, "upstream-rejected", "Upstream rejected the request")
UPSTREAM_UNAVAILABLE: Final = ProblemType(503, "upstream-unavailable", "Service unavailable")
INTERNAL_ERROR: Final = ProblemType(500, "internal-error", "Internal error")

#: Each error type's problem; a type not listed answers as its nearest listed ancestor. The order of the
#: tree does the rest: `PermanentError` and `TransientError` close it, so no error of ours is a 500.
PROBLEM_TYPES: Final[Mapping[type[SchedulingError], ProblemType]] = {
    InvalidRequest: VALIDATION_FAILED,
    IdempotencyKeyReused: IDEMPOTENCY_KEY_REUSED,
    MalformedRequest: INVALID_JSON,
    MalformedContext: MALFORMED_PAYLOAD,
    PayloadTooLarge: PAYLOAD_TOO_LARGE,
    UnsupportedMediaType: UNSUPPORTED_MEDIA_TYPE,
    Unauthorized: UNAUTHORIZED,
    Forbidden: FORBIDDEN,
    NotFound: NOT_FOUND,
    SlotUnavailable: SLOT_UNAVAILABLE,
    PageHoldExpired: HOLD_EXPIRED,
    BookingNotModifiable: BOOKING_NOT_MODIFIABLE,
    IdempotencyInProgress: IDEMPOTENCY_IN_PROGRESS,
    SelfServiceClosed: SELF_SERVICE_CLOSED,
    TooManyRequests: RATE_LIMITED,
    RateLimited: RATE_LIMITED,
    TooManyHolds: TOO_MANY_HOLDS,
    UpstreamRejected: UPSTREAM_REJECTED,
    UpstreamUnavailable: UPSTREAM_UNAVAILABLE,
    # A permanent error no entry above names (a sync-side refusal reaching a request): the request as
    # sent cannot succeed, which is what 422 says; never a 500 (errors.py invariant).
    PermanentError: VALIDATION_FAILED,
    TransientError: UPSTREAM_UNAVAILABLE,
    SchedulingError: VALIDATION_FAILED,
}


@dataclass(frozen=True, slots=True)
class ProblemDetails:
    """The problem a caller is answered with (RFC 7807 body plus response headers)."""

    kind: ProblemType
    detail: str
    errors: tuple[FieldError, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


def problem_type(error: type[SchedulingError]) -> ProblemType:
    """The catalogued problem of `error`: its own entry, else its nearest catalogued ancestor's."""
    for cls in error.__mro__:
        kind = PROBLEM_TYPES.get(cls)
        if kind is not None:
            return kind
    raise TypeError(f"{error.__name__} is not a SchedulingError")  # unreachable for the error tree


def _upstream_unavailable_detail(exc: SchedulingError) -> str:
    if isinstance(exc, UpstreamUnavailable):
        return f"{exc.service} is unavailable; try again shortly. {exc.detail}".strip()
    return f"Try again shortly. {exc.detail}".strip()


def _upstream_rejected_detail(exc: SchedulingError) -> str:
    log.warning("upstream refused a request: %s", exc.detail)
    service = exc.service if isinstance(exc, UpstreamRejected) else "An upstream service"
    return f"{service} refused a request this service made; retrying will not help."


#: Problems whose detail is not the error's own (upstream details are our business, not the caller's).
_DETAILS: Final[Mapping[ProblemType, Callable[[SchedulingError], str]]] = {
    UPSTREAM_UNAVAILABLE: _upstream_unavailable_detail,
    UPSTREAM_REJECTED: _upstream_rejected_detail,
}


def _headers(exc: SchedulingError, kind: ProblemType) -> dict[str, str]:
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after_seconds)}
    if isinstance(exc, UpstreamUnavailable):
        return {"Retry-After": str(exc.retry_after_seconds or 5)}
    if kind is UPSTREAM_UNAVAILABLE:
        return {"Retry-After": "5"}
    if kind is IDEMPOTENCY_IN_PROGRESS:
        return {"Retry-After": "1"}
    return {}


def invalid_request(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    """Pydantic's refusal of a body or query as this service's `InvalidRequest`, field by field."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        field_name = ".".join(str(part) for part in err["loc"] if part not in ("body",)) or "body"
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append(FieldError(field=f"{prefix}{field_name}" if prefix else field_name, message=message))
    return InvalidRequest("The request did not validate.", tuple(errors))


def to_problem(exc: BaseException) -> ProblemDetails:
    """The problem a caller sees for `exc` (the catalogue above; anything else is a logged 500)."""
    if isinstance(exc, ValidationError):
        exc = invalid_request(exc)
    if isinstance(exc, SchedulingError):
        kind = problem_type(type(exc))
        detail = _DETAILS[kind](exc) if kind in _DETAILS else exc.detail
        errors = exc.errors if isinstance(exc, InvalidRequest) else ()
        return ProblemDetails(kind, detail, errors, _headers(exc, kind))
    incident = uuid.uuid4().hex
    log.exception("unhandled error (incident %s)", incident)
    return ProblemDetails(INTERNAL_ERROR, f"Something went wrong on our side (incident {incident}).")


def problem_response(problem: ProblemDetails) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": problem.kind.title,
        "status": problem.kind.status,
        "code": problem.kind.code,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in problem.errors]
    return func.HttpResponse(
        json.dumps(body),
        status_code=problem.kind.status,
        mimetype=PROBLEM_JSON,
        headers=dict(problem.headers),
    )
