"""Questions and answers over HTTP: answers route `GET /slots`, holds and bookings to the rep the rule
set's `when` picks; a required question left unanswered is a 422 naming `answers.<id>`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .scenario import MONDAY, new_host

AT_9 = f"{MONDAY}T09:00:00-06:00"  # the app fixture's clock reads 2026-11-24 12:00Z
QUESTIONS = [
    {
        "id": "companySize",
        "label": "Company size",
        "kind": "select",
        "options": ["1-50", "51-200", "201-1000", "1000+"],
        "required": True,
    },
    {"id": "seats", "label": "Seats", "kind": "number"},
]


@pytest.fixture
def routed(app: Any, graph_sim: Any) -> tuple[str, str, str]:
    """An event type whose rule set sends big companies to one rep and everyone else to another."""
    big, small = new_host(app, graph_sim), new_host(app, graph_sim)
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    r = app.put(
        f"/admin/routing/{rule_set}",
        json_body={
            "rules": [
                {
                    "name": "enterprise",
                    "when": {"answers.companySize": ["201-1000", "1000+"]},
                    "strategy": "roundRobin",
                    "pool": [big],
                },
                {"name": "everyone else", "strategy": "roundRobin", "pool": [small]},
            ]
        },
    )
    assert r.status == 201, r.body
    slug = "et-" + uuid.uuid4().hex[:8]
    r = app.put(
        f"/admin/event-types/{slug}",
        json_body={
            "title": "Demo",
            "durationMinutes": 30,
            "routingRuleSet": rule_set,
            "questions": QUESTIONS,
        },
    )
    assert r.status == 201, r.body
    assert r.json()["questions"][1] == {
        "id": "seats",
        "label": "Seats",
        "kind": "number",
        "options": None,
        "required": False,
    }
    return slug, big, small


def _slots(app: Any, slug: str, **answers: str) -> Any:
    params = {"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    return app.get("/slots", params=params | {f"answers.{k}": v for k, v in answers.items()})


def test_answers_on_slots_route_to_the_rep_the_when_picks(app: Any, routed: tuple[str, str, str]) -> None:
    slug, big, small = routed
    enterprise = _slots(app, slug, companySize="1000+")
    assert enterprise.status == 200, enterprise.body
    assert enterprise.json()["routing"]["hostIds"] == [big]
    assert {h for s in enterprise.json()["slots"] for h in s["hostIds"]} == {big}
    assert _slots(app, slug, companySize="1-50").json()["routing"]["hostIds"] == [small]
    decision = app.get(f"/routing/decisions/{enterprise.json()['routing']['decisionId']}").json()["decision"]
    assert decision["answers"] == {"companySize": "1000+"}


def test_a_required_question_unanswered_is_422_naming_the_answer(
    app: Any, routed: tuple[str, str, str]
) -> None:
    slug, big, _ = routed
    r = _slots(app, slug)
    assert r.status == 422 and r.json()["code"] == "validation-failed"
    assert r.json()["errors"] == [{"field": "answers.companySize", "message": "required: Company size"}]
    r = _slots(app, slug, companySize="huge")
    assert r.status == 422
    assert r.json()["errors"] == [
        {"field": "answers.companySize", "message": "must be one of: 1-50, 51-200, 201-1000, 1000+"}
    ]
    # With an explicit host no answer can change the slots: none is demanded.
    assert (
        app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "hostId": big}).status
        == 200
    )
    booking = {
        "eventType": slug,
        "start": AT_9,
        "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com"},
        "answers": {"seats": "lots"},
    }
    r = app.post("/bookings", json_body=booking)
    assert r.status == 422
    assert [e["field"] for e in r.json()["errors"]] == ["answers.companySize", "answers.seats"]


def test_a_booking_routes_by_its_answers_and_keeps_them(app: Any, routed: tuple[str, str, str]) -> None:
    slug, big, _ = routed
    r = app.post(
        "/bookings",
        json_body={
            "eventType": slug,
            "start": AT_9,
            "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com"},
            "answers": {"companySize": "201-1000", "seats": 40, "unasked": "dropped"},
        },
    )
    assert r.status == 201, r.body
    body = r.json()
    assert body["hostIds"] == [big]
    assert body["answers"] == {"companySize": "201-1000", "seats": "40"}
    assert body["routing"]["rule"] == "enterprise"


def test_holds_check_answers(app: Any, routed: tuple[str, str, str]) -> None:
    slug, big, _ = routed
    r = app.post(
        "/holds", json_body={"eventType": slug, "start": AT_9, "hostId": big, "answers": {"seats": "x"}}
    )
    assert r.status == 422 and r.json()["errors"] == [
        {"field": "answers.seats", "message": "must be a number"}
    ]
    r = app.post(
        "/holds", json_body={"eventType": slug, "start": AT_9, "hostId": big, "answers": {"seats": 3}}
    )
    assert r.status == 201, r.body
