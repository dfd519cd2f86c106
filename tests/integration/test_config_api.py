"""Hosts and event types through the real functions, stored in Azurite."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

HOST = {
    "email": "ana@contoso.com",
    "displayName": "Ana Ruiz",
    "timeZone": "W. Europe Standard Time",
    "workingHours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}],
    "dateOverrides": [{"date": "2026-12-24", "intervals": []}],
    "skills": {"german": 4},
    "territories": ["DACH"],
    "weight": 100,
    "maxMeetingsPerDay": 8,
    "active": True,
    "dynamicsUserId": None,
}


def test_host_round_trip_create_replace_get_list_delete(app: Any) -> None:
    host_id = str(uuid.uuid4())
    created = app.put(f"/admin/hosts/{host_id}", json_body=HOST)
    assert created.status == 201, created.body
    assert created.json()["timeZone"] == "Europe/Berlin" and created.json()["id"] == host_id
    replaced = app.put(f"/admin/hosts/{host_id}", json_body=HOST | {"displayName": "Ana R."})
    assert replaced.status == 200
    got = app.get(f"/admin/hosts/{host_id}").json()
    assert got["displayName"] == "Ana R." and got["dateOverrides"] == [
        {"date": "2026-12-24", "intervals": []}
    ]
    assert [h["id"] for h in app.get("/admin/hosts").json()["items"]] == [host_id]
    assert app.delete(f"/admin/hosts/{host_id}").status == 204
    missing = app.get(f"/admin/hosts/{host_id}")
    assert missing.status == 404 and missing.json()["code"] == "not-found"
    assert app.delete(f"/admin/hosts/{host_id}").status == 404


def test_event_type_round_trip_and_reference_checks(app: Any) -> None:
    host_id = str(uuid.uuid4())
    app.put(f"/admin/hosts/{host_id}", json_body=HOST)
    body = {
        "title": "Discovery",
        "durationMinutes": 30,
        "hostIds": [host_id],
        "location": {"kind": "teams", "value": None},
    }
    assert app.put("/admin/event-types/discovery", json_body=body).status == 201
    got = app.get("/admin/event-types/discovery").json()
    assert got["slug"] == "discovery" and got["hostIds"] == [host_id] and got["bookingWindowDays"] == 60
    unknown = app.put("/admin/event-types/other", json_body=body | {"hostIds": [host_id, "ghost"]})
    assert unknown.status == 422
    assert unknown.json()["errors"] == [{"field": "hostIds.1", "message": "unknown host 'ghost'"}]
    no_rules = app.put("/admin/event-types/other", json_body=body | {"routingRuleSet": "default"})
    assert no_rules.status == 422 and no_rules.json()["errors"][0]["field"] == "routingRuleSet"
    assert app.get("/admin/event-types/other").status == 404  # nothing half-written


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid-json"),
        (b"", 400, "invalid-json"),
        (b'{"email": "x@y.z"}', 422, "validation-failed"),
        (b'{"timeZone": "Nowhere/Land"}', 422, "validation-failed"),
        (b"[1, 2]", 422, "validation-failed"),
        (b'{"x": "' + b"a" * 70000 + b'"}', 413, "payload-too-large"),
    ],
)
def test_bad_admin_input_gets_a_problem_not_a_500(app: Any, body: bytes, status: int, code: str) -> None:
    response = app.put(
        f"/admin/hosts/{uuid.uuid4()}", body=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == status
    assert response.content_type.startswith("application/problem+json")
    assert response.json()["code"] == code


def test_invalid_identifiers_in_the_path_are_rejected(app: Any) -> None:
    assert (
        app.put("/admin/event-types/Bad%20Slug!", json_body={"title": "x", "durationMinutes": 30}).status
        == 422
    )


def test_admin_endpoints_need_the_admin_key(app: Any) -> None:
    assert app.get("/admin/hosts", key=None).json()["code"] == "unauthorized"
    wrong = app.get("/admin/hosts", key="test-api-key")
    assert wrong.status == 403 and wrong.json()["code"] == "forbidden"


@pytest.mark.parametrize(
    "patch",
    [
        {"durationMinutes": -30},
        {"bufferAfterMinutes": -5},
        {"slotIntervalMinutes": 0},
        {"bookingWindowDays": -1},
    ],
)
def test_negative_or_zero_durations_are_rejected_through_the_api(app: Any, patch: dict[str, int]) -> None:
    r = app.put("/admin/event-types/neg", json_body={"title": "x", "durationMinutes": 30} | patch)
    assert r.status == 422 and r.json()["code"] == "validation-failed"
    assert r.json()["errors"][0]["field"] == next(iter(patch))
    assert app.get("/admin/event-types/neg").status == 404
