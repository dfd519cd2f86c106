"""Schemathesis against `/openapi.json` of the local host over real HTTP (Azurite, simulators, keys).

Every documented operation gets generated requests, valid (positive) and invalid (negative); each
answer must not be a 5xx and must conform to the document: a documented status code, the documented
content type, a body that validates against the response schema, documented headers. The tenant is
seeded first, so slots and bookings of real event types are among what is generated. `/admin/*` gets
the admin key, the rest the API key (both in `x-functions-key`, as the Functions host takes them), and
the Dynamics webhook its shared secret. Negative cases may drop those headers on purpose (401 is then
the documented answer).

Operations are driven one by one with Hypothesis (`APIOperation.as_strategy`) rather than through
schemathesis' pytest plugin, whose lazy fixture loader does not run under pytest 9. Every failing
operation is collected and reported together.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.proof.conftest import StackFactory
from tests.proof.stack import ADMIN_KEY, API_KEY, ProofStack
from tests.proof.tenant import seed

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # a keyed operation must refuse the same request without its key or with a wrong one
    ignored_auth,
]
# Not `negative_data_rejection`: this API ignores unknown query parameters, as most HTTP APIs do, and
# the key headers we add to every case undo negative cases that drop them.
WEBHOOK_HEADER = "x-scheduling-webhook-key"
WEBHOOK_SECRET = "proof-webhook-secret"
PROFILES = [
    pytest.param(6, id="fast", marks=pytest.mark.proof),
    pytest.param(100, id="soak", marks=[pytest.mark.soak, pytest.mark.timeout(3600)]),
]


def _runner(
    stack: ProofStack, strategy: Any, headers: dict[str, str], max_examples: int, statuses: Counter[str]
) -> Any:
    """A Hypothesis test that sends each generated case with `key` and validates the answer."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=stack.api, headers=headers, timeout=60)
        statuses[str(response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    return run


#: Dates far outside the service's bounds (api.md "Limits": 2000-01-01 ... 2100-12-31 → 422), swapped in
#: for every date-like string of a generated case, so far past and future inputs are always among them.
FAR_DATES = ("0001-01-01T00:00:00Z", "0462-03-01T10:00:00+00:00", "1999-12-31", "2101-01-01", "9999-12-31")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _far_dated(value: Any, far: str) -> Any:
    if isinstance(value, str) and _DATE_LIKE.match(value):
        return far
    if isinstance(value, dict):
        return {key: _far_dated(item, far) for key, item in value.items()}
    if isinstance(value, list):
        return [_far_dated(item, far) for item in value]
    return value


def far_dated(strategy: Any) -> Any:
    """`strategy`'s cases with each date-like query value and body string replaced by a far date."""

    def swap(pair: tuple[Any, str]) -> Any:
        case, far = pair
        if case.query:
            case.query = _far_dated(dict(case.query), far)
        if isinstance(case.body, dict | list):
            case.body = _far_dated(case.body, far)
        return case

    return st.tuples(strategy, st.sampled_from(FAR_DATES)).map(swap)


def exercise(stack: ProofStack, max_examples: int) -> tuple[Counter[str], dict[str, str]]:
    """Run every operation in both modes; (requests per status, first failure per operation)."""
    schema = schemathesis.openapi.from_url(f"{stack.api}/openapi.json")
    statuses: Counter[str] = Counter()
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = {"x-functions-key": ADMIN_KEY if operation.path.startswith("/admin") else API_KEY}
        if operation.path == "/dynamics/webhook":
            headers[WEBHOOK_HEADER] = WEBHOOK_SECRET
        strategies = [
            (mode.value, operation.as_strategy(generation_mode=mode))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
        strategies.append(
            ("far dates", far_dated(operation.as_strategy(generation_mode=GenerationMode.POSITIVE)))
        )
        for label, strategy in strategies:
            run = _runner(stack, strategy, headers, max_examples, statuses)
            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid (e.g. GET /health in negative mode)
            except (Exception, BaseExceptionGroup) as exc:
                name = f"{operation.method.upper()} {operation.path} ({label})"
                failures.setdefault(name, str(exc)[:3000])
    return statuses, failures


@pytest.mark.parametrize("max_examples", PROFILES)
def test_every_operation_answers_as_documented_and_never_with_a_5xx(
    proof_stack: StackFactory, max_examples: int, report: Callable[[str], None]
) -> None:
    stack = proof_stack(DYNAMICS_WEBHOOK_SECRET=WEBHOOK_SECRET)
    seed(stack)
    statuses, failures = exercise(stack, max_examples)
    report(
        f"schemathesis: up to {max_examples} examples per operation and mode,"
        f" {sum(statuses.values())} requests: {dict(sorted(statuses.items()))}"
    )
    assert not failures, f"{len(failures)} operations do not conform:\n\n" + "\n\n".join(
        f"== {name}\n{text}" for name, text in failures.items()
    )
