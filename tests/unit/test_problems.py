"""Each error type of the tree answers with exactly the problem api.md gives it (http_api/problems.py)."""

from __future__ import annotations

import json

import pytest

from http_api.problems import PROBLEM_TYPES, problem_response, problem_type, to_problem
from scheduling_core import errors
from scheduling_core.errors import (
    FieldError,
    InvalidRequest,
    SchedulingError,
    TooManyHolds,
    UpstreamUnavailable,
)

#: Every class of scheduling_core/errors.py with its (status, code): a new error gets a row deliberately.
EXPECTED: dict[str, tuple[int, str]] = {
    "SchedulingError": (422, "validation-failed"),
    "PermanentError": (422, "validation-failed"),
    "TransientError": (503, "upstream-unavailable"),
    "InvalidRequest": (422, "validation-failed"),
    "UnknownTimeZone": (422, "validation-failed"),
    "IdempotencyKeyReused": (422, "idempotency-key-reused"),
    "MalformedRequest": (400, "invalid-json"),
    "MalformedContext": (400, "malformed-payload"),
    "PayloadTooLarge": (413, "payload-too-large"),
    "UnsupportedMediaType": (415, "unsupported-media-type"),
    "Unauthorized": (401, "unauthorized"),
    "Forbidden": (403, "forbidden"),
    "NotFound": (404, "not-found"),
    "SlotUnavailable": (409, "slot-unavailable"),
    "HoldExpired": (409, "slot-unavailable"),
    "PageHoldExpired": (409, "hold-expired"),
    "BookingNotModifiable": (409, "booking-not-modifiable"),
    "BookingChanged": (409, "booking-not-modifiable"),
    "StaleBooking": (409, "booking-not-modifiable"),
    "IdempotencyInProgress": (409, "idempotency-in-progress"),
    "SelfServiceClosed": (409, "self-service-closed"),
    "TooManyRequests": (429, "rate-limited"),
    "RateLimited": (429, "rate-limited"),
    "TooManyHolds": (429, "too-many-holds"),
    "UpstreamRejected": (502, "upstream-rejected"),
    "GraphRequestRejected": (502, "upstream-rejected"),
    "MailboxUnavailable": (502, "upstream-rejected"),
    "DuplicateTransaction": (502, "upstream-rejected"),
    "DataverseRequestRejected": (502, "upstream-rejected"),
    "QueryTooLarge": (422, "validation-failed"),
    "DeltaTokenExpired": (422, "validation-failed"),
    "UnreadableEvent": (422, "validation-failed"),
    "EventGone": (422, "validation-failed"),
    "UnmappableBooking": (422, "validation-failed"),
    "MalformedEvent": (422, "validation-failed"),
    "UpstreamUnavailable": (503, "upstream-unavailable"),
    "Throttled": (503, "upstream-unavailable"),
    "OutcomeUnknown": (503, "upstream-unavailable"),
    "RowChanged": (503, "upstream-unavailable"),
    "SubscriptionChanged": (503, "upstream-unavailable"),
    "Misconfigured": (503, "upstream-unavailable"),
    "WeakKey": (503, "upstream-unavailable"),
}

TREE = sorted(
    (c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, SchedulingError)),
    key=lambda c: c.__name__,
)


def test_the_table_names_every_error_of_the_tree() -> None:
    assert sorted(c.__name__ for c in TREE) == sorted(EXPECTED)


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_each_error_type_maps_to_its_one_problem(cls: type[SchedulingError]) -> None:
    kind = problem_type(cls)
    assert (kind.status, kind.code) == EXPECTED[cls.__name__]


def test_each_problem_code_has_one_status_and_title() -> None:
    by_code = {(k.code, k.status, k.title) for k in PROBLEM_TYPES.values()}
    assert len(by_code) == len({code for code, _, _ in by_code})


def test_a_validation_error_keeps_its_fields() -> None:
    problem = to_problem(InvalidRequest("bad", (FieldError(field="start", message="x"),)))
    body = json.loads(problem_response(problem).get_body())
    assert body == {
        "type": "about:blank",
        "title": "Validation failed",
        "status": 422,
        "code": "validation-failed",
        "detail": "bad",
        "errors": [{"field": "start", "message": "x"}],
    }


def test_an_exception_outside_the_tree_is_a_500_without_internals() -> None:
    response = problem_response(to_problem(RuntimeError("secret stack detail")))
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert (body["status"], body["code"], body["type"]) == (500, "internal-error", "about:blank")
    assert "secret" not in response.get_body().decode()


def test_upstream_unavailable_tells_callers_when_to_retry() -> None:
    response = problem_response(to_problem(UpstreamUnavailable("graph", "throttled", 12)))
    assert response.headers["Retry-After"] == "12"


def test_too_many_holds_tells_callers_when_a_hold_frees_up() -> None:
    response = problem_response(to_problem(TooManyHolds("holding two", 90)))
    assert (response.status_code, response.headers["Retry-After"]) == (429, "90")
