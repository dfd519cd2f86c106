"""`GET /slots` end to end: Azurite for configuration, busy times from the Graph simulator over HTTP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from .scenario import new_event_type, new_host

BEARER = {"Authorization": "Bearer test"}
MONDAY = "2026-12-07"  # the app fixture's clock reads 2026-11-24 12:00Z


@pytest.fixture
def chicago_host(app: Any, graph_sim: Any) -> tuple[str, str]:
    host_id = new_host(app, graph_sim)  # America/Chicago, 08:00-12:00 on weekdays
    return host_id, new_event_type(app, [host_id], durationMinutes=60, bookingWindowDays=None)


def _busy(
    graph_sim: Any,
    host_id: str,
    day: str,
    start: str,
    end: str,
    show_as: str = "busy",
    zone: str = "Central Standard Time",
) -> None:
    r = httpx.post(
        f"{graph_sim.v1}/users/{host_id}/events",
        headers=BEARER,
        json={
            "subject": "busy",
            "showAs": show_as,
            "start": {"dateTime": f"{day}T{start}:00", "timeZone": zone},
            "end": {"dateTime": f"{day}T{end}:00", "timeZone": zone},
        },
    )
    assert r.status_code == 201, r.text


def _starts(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [s["start"] for s in response.json()["slots"]]


def test_outlook_busy_items_remove_slots_in_the_hosts_day(
    app: Any, graph_sim: Any, chicago_host: tuple[str, str]
) -> None:
    host_id, slug = chicago_host
    _busy(graph_sim, host_id, MONDAY, "09:00", "10:00")
    _busy(graph_sim, host_id, MONDAY, "10:00", "11:00", show_as="free")
    r = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    )
    body = r.json()
    assert _starts(r) == [f"{MONDAY}T08:00:00-06:00", f"{MONDAY}T10:00:00-06:00", f"{MONDAY}T11:00:00-06:00"]
    assert (
        body["eventType"] == slug and body["timeZone"] == "America/Chicago" and body["durationMinutes"] == 60
    )
    assert all(s["hostIds"] == [host_id] for s in body["slots"])
    assert body["slots"][0]["end"] == f"{MONDAY}T09:00:00-06:00"
    assert body["routing"]["strategy"] == "fixed" and body["routing"]["hostIds"] == [host_id]


def test_slots_render_in_the_callers_zone(app: Any, chicago_host: tuple[str, str]) -> None:
    _, slug = chicago_host
    r = app.get(
        "/slots",
        params={
            "eventType": slug,
            "start": f"{MONDAY}T14:00:00Z",
            "end": f"{MONDAY}T16:00:00Z",
            "timeZone": "W. Europe Standard Time",
        },
    )
    assert _starts(r) == [f"{MONDAY}T15:00:00+01:00", f"{MONDAY}T16:00:00+01:00"]
    assert r.json()["timeZone"] == "Europe/Berlin"


def test_explicit_host_ids_override_the_event_type(app: Any, chicago_host: tuple[str, str]) -> None:
    _, slug = chicago_host
    other = str(uuid.uuid4())
    r = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "hostId": other})
    assert r.status == 404 and r.json()["code"] == "not-found"


def test_throttled_graph_is_retried_after_retry_after(
    app: Any, graph_sim: Any, chicago_host: tuple[str, str]
) -> None:
    _, slug = chicago_host
    httpx.post(
        f"{graph_sim.url}/_sim/faults",
        json={"status": 429, "retryAfter": 1, "count": 1, "pathContains": "getSchedule"},
    ).raise_for_status()
    began = time.monotonic()
    r = app.get(
        "/slots",
        params={"eventType": slug, "start": "2026-12-08", "end": "2026-12-08", "timeZone": "America/Chicago"},
    )
    assert len(_starts(r)) == 4
    assert time.monotonic() - began >= 0.9


def test_graph_outage_is_a_503_problem_not_a_500(
    app: Any, graph_sim: Any, chicago_host: tuple[str, str]
) -> None:
    _, slug = chicago_host
    httpx.post(
        f"{graph_sim.url}/_sim/faults",
        json={"status": 503, "retryAfter": 0, "count": 50, "pathContains": "getSchedule"},
    ).raise_for_status()
    try:
        r = app.get("/slots", params={"eventType": slug, "start": "2026-12-09", "end": "2026-12-09"})
    finally:
        httpx.delete(f"{graph_sim.url}/_sim/faults")
    assert r.status == 503
    assert r.content_type.startswith("application/problem+json")
    assert r.json()["code"] == "upstream-unavailable" and "Retry-After" in r.headers


def test_unknown_mailbox_yields_no_slots_rather_than_guessing(app: Any) -> None:
    host_id = str(uuid.uuid4())
    app.put(
        f"/admin/hosts/{host_id}",
        json_body={
            "email": "nobody@nowhere.example",
            "displayName": "Ghost",
            "timeZone": "UTC",
            "workingHours": [{"days": ["mon"], "start": "09:00", "end": "17:00"}],
        },
    )
    app.put(
        "/admin/event-types/ghost-call", json_body={"title": "x", "durationMinutes": 30, "hostIds": [host_id]}
    )
    r = app.get("/slots", params={"eventType": "ghost-call", "start": MONDAY, "end": MONDAY})
    assert r.status == 200 and r.json()["slots"] == []


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"eventType": "no-such-type", "start": MONDAY, "end": MONDAY}, 404, None),
        ({"start": MONDAY, "end": MONDAY}, 422, "eventType"),
        ({"eventType": "x", "start": MONDAY, "end": MONDAY, "timeZone": "Mars/Base"}, 422, "timeZone"),
        ({"eventType": "x", "start": "2026-12-09", "end": "2026-12-01"}, 422, "end"),
        ({"eventType": "x", "start": "2026-12-01", "end": "2027-03-01"}, 422, "end"),
        ({"eventType": "x", "start": "soon", "end": "2026-12-01"}, 422, "start"),
        ({"eventType": "x", "start": MONDAY, "end": MONDAY, "hostId": "bad/id"}, 422, "hostId.0"),
    ],
)
def test_bad_slot_queries_get_problem_codes(
    app: Any, params: dict[str, str], status: int, field: str | None
) -> None:
    r = app.get("/slots", params=params)
    assert r.status == status, r.body
    assert r.content_type.startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == ("not-found" if status == 404 else "validation-failed")
    if field:
        assert field in [e["field"] for e in problem["errors"]]


def test_slots_need_the_api_key(app: Any, chicago_host: tuple[str, str]) -> None:
    _, slug = chicago_host
    r = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY}, key=None)
    assert r.status == 401


def test_busy_times_are_served_from_cache_within_its_lifetime(
    app: Any, graph_sim: Any, chicago_host: tuple[str, str]
) -> None:
    _, slug = chicago_host
    params = {"eventType": slug, "start": MONDAY, "end": MONDAY}
    app.get("/slots", params=params)
    before = len(httpx.get(f"{graph_sim.url}/_sim/requests").json())
    assert app.get("/slots", params=params).status == 200
    assert len(httpx.get(f"{graph_sim.url}/_sim/requests").json()) == before


def test_a_pool_is_read_in_one_go_and_a_missing_member_is_named(
    app: Any, chicago_host: tuple[str, str]
) -> None:
    host_id, slug = chicago_host
    ghost = "ghost-" + uuid.uuid4().hex[:6]
    r = app.get(
        "/slots",
        params=[
            ("eventType", slug),
            ("start", MONDAY),
            ("end", MONDAY),
            ("hostId", host_id),
            ("hostId", ghost),
        ],
    )
    assert r.status == 404 and ghost in r.json()["detail"]


def test_round_robin_pool_lists_every_free_host_per_slot(
    app: Any, graph_sim: Any, chicago_host: tuple[str, str]
) -> None:
    first, _ = chicago_host
    second = str(uuid.uuid4())
    email = f"{second[:8]}@contoso.com"
    httpx.post(
        f"{graph_sim.v1}/users",
        headers=BEARER,
        json={
            "id": second,
            "displayName": "Two",
            "mail": email,
            "userPrincipalName": email,
            "accountEnabled": True,
        },
    )
    app.put(
        f"/admin/hosts/{second}",
        json_body={
            "email": email,
            "displayName": "Two",
            "timeZone": "America/Chicago",
            "workingHours": [{"days": ["mon"], "start": "10:00", "end": "12:00"}],
        },
    )
    _busy(graph_sim, first, MONDAY, "10:00", "11:00")
    for assignment, expected in (
        (
            "roundRobin",
            {"08:00": [first], "09:00": [first], "10:00": [second], "11:00": sorted([first, second])},
        ),
        ("collective", {"11:00": sorted([first, second])}),
    ):
        slug = f"{assignment.lower()}-{uuid.uuid4().hex[:6]}"
        app.put(
            f"/admin/event-types/{slug}",
            json_body={
                "title": "Pool",
                "durationMinutes": 60,
                "assignment": assignment,
                "hostIds": [first, second],
            },
        )
        r = app.get(
            "/slots",
            params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"},
        )
        assert {s["start"][11:16]: s["hostIds"] for s in r.json()["slots"]} == expected, assignment
