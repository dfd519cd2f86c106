"""Every route that reads a body refuses an oversized one with 413 problem+json (real functions)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from http_api.dynamics_webhook import MAX_WEBHOOK_BYTES
from http_api.endpoint import MAX_BODY_BYTES, ROUTES
from http_api.graph_callbacks import MAX_NOTIFICATION_BYTES

#: Routes whose senders legitimately post more than 64 KB, with their own (still finite) limits:
#: Dynamics posts RemoteExecutionContext up to 256 KB; Graph batches notifications (docs/outlook-sync.md).
LARGER_LIMITS = {
    "dynamics/webhook": MAX_WEBHOOK_BYTES,
    "graph/notifications": MAX_NOTIFICATION_BYTES,
    "graph/lifecycle": MAX_NOTIFICATION_BYTES,
}

_SAMPLE = {
    "hostId": str(uuid.uuid4()),
    "slug": "limits",
    "ruleSetId": "limits",
    "bookingId": "bk_" + "0" * 24,
    "holdId": "hd_" + "0" * 24,
}


def _body_reading_operations() -> list[tuple[str, str]]:
    import function_app  # noqa: F401  (registers every route)

    return sorted(
        {
            (route.route, op.method)
            for route in ROUTES
            for op in route.operations
            if op.request is not None or 413 in op.responses
        }
    )


def _path(route: str) -> str:
    return "/" + re.sub(r"{(\w+)}", lambda m: _SAMPLE.get(m.group(1), "x1"), route)


def _oversized(limit: int) -> bytes:
    return b'{"pad": "' + b"x" * limit + b'"}'


@pytest.mark.parametrize(("route", "method"), _body_reading_operations())
def test_an_oversized_body_is_413_on_every_route_that_reads_one(app: Any, route: str, method: str) -> None:
    headers = {}
    limit = LARGER_LIMITS.get(route, MAX_BODY_BYTES)
    if route == "dynamics/webhook":
        from bootstrap.composition import services

        headers[services().settings.dynamics_webhook_header] = "limits-secret"
    r = app.request(method, _path(route), body=_oversized(limit), headers=headers)
    assert r.status == 413, (route, method, r.status, r.body[:200])
    assert r.content_type.startswith("application/problem+json")
    assert r.json()["code"] == "payload-too-large"


@pytest.fixture(autouse=True)
def _webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMICS_WEBHOOK_SECRET", "limits-secret")


def test_the_list_of_body_reading_routes_covers_the_known_ones() -> None:
    found = set(_body_reading_operations())
    assert {
        ("bookings", "POST"),
        ("bookings/{bookingId}/reschedule", "POST"),
        ("bookings/{bookingId}/cancel", "POST"),
        ("holds", "POST"),
        ("admin/hosts/{hostId}", "PUT"),
        ("admin/event-types/{slug}", "PUT"),
        ("admin/routing/{ruleSetId}", "PUT"),
        ("dynamics/webhook", "POST"),
    } <= found
