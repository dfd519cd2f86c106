from __future__ import annotations

import json

from http_api.problems import problem_response, to_problem
from scheduling_core.errors import FieldError, InvalidRequest, NotFound, SlotUnavailable, UpstreamUnavailable


def test_each_error_type_maps_to_one_problem_code() -> None:
    cases = [
        (InvalidRequest("bad", (FieldError(field="start", message="x"),)), 422, "validation-failed"),
        (NotFound("event type", "x"), 404, "not-found"),
        (SlotUnavailable("taken"), 409, "slot-unavailable"),
        (UpstreamUnavailable("graph", "down", 7), 503, "upstream-unavailable"),
        (RuntimeError("boom"), 500, "internal-error"),
    ]
    for exc, status, code in cases:
        problem = to_problem(exc)
        assert (problem.status, problem.code) == (status, code)


def test_problem_response_is_rfc7807_json_without_internals() -> None:
    response = problem_response(to_problem(RuntimeError("secret stack detail")))
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert (
        body["status"] == 500
        and body["type"] == "about:blank"
        and "secret" not in response.get_body().decode()
    )


def test_upstream_unavailable_tells_callers_when_to_retry() -> None:
    response = problem_response(to_problem(UpstreamUnavailable("graph", "throttled", 12)))
    assert response.headers["Retry-After"] == "12"
