"""The booking page asks the event type's questions first; the answers route to a rep, whose slots the
page then shows, and the booking carries them (routing.md, "Conditions on answers").

Two reps on one rule set: big companies go to the rep working 09:00-10:00 UTC, everyone else to the one
working 10:00-11:00 UTC, so the times shown tell which rep the answers routed to. "Now" is Tuesday
2026-11-24 12:00Z; the visitor is in Berlin. Every wait is a Playwright expectation, never a sleep.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.integration.scenario import BEARER


def _rep(app: Any, graph_sim: Any, start: str, end: str) -> str:
    host_id = str(uuid.uuid4())
    email = f"{host_id[:8]}@contoso.com"
    r = httpx.post(
        f"{graph_sim.v1}/users",
        headers=BEARER,
        json={
            "id": host_id,
            "displayName": "Rep",
            "mail": email,
            "userPrincipalName": email,
            "accountEnabled": True,
        },
    )
    assert r.status_code == 201, r.text
    doc = {
        "email": email,
        "displayName": "Rep",
        "timeZone": "UTC",
        "workingHours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": start, "end": end}],
    }
    assert app.put(f"/admin/hosts/{host_id}", json_body=doc).status == 201
    return host_id


def test_questions_come_first_and_route_the_slots_and_the_booking(
    app: Any, graph_sim: Any, site: Any, open_page: Any
) -> None:
    big, small = _rep(app, graph_sim, "09:00", "10:00"), _rep(app, graph_sim, "10:00", "11:00")
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    rules = {
        "rules": [
            {
                "name": "enterprise",
                "when": {"answers.companySize": ["201-1000", "1000+"]},
                "strategy": "roundRobin",
                "pool": [big],
            },
            {"name": "everyone else", "strategy": "roundRobin", "pool": [small]},
        ]
    }
    assert app.put(f"/admin/routing/{rule_set}", json_body=rules).status == 201
    slug = "demo-" + uuid.uuid4().hex[:8]
    event_type = {
        "title": "Product demo",
        "durationMinutes": 30,
        "bookingWindowDays": 30,
        "routingRuleSet": rule_set,
        "public": True,
        "questions": [
            {
                "id": "companySize",
                "label": "Company size",
                "kind": "select",
                "options": ["1-50", "51-200", "201-1000", "1000+"],
                "required": True,
            },
            {"id": "seats", "label": "Seats", "kind": "number"},
        ],
    }
    assert app.put(f"/admin/event-types/{slug}", json_body=event_type).status == 201

    page = open_page(site.page_url(slug))
    expect(page.get_by_role("heading", name="A few questions first")).to_be_visible()
    expect(page.get_by_role("heading", name="Pick a time")).to_be_hidden()
    page.get_by_role("button", name="Show free times").click()
    expect(page.locator("#q-companySize-error")).to_have_text("Choose company size.")

    page.get_by_label("Company size").select_option("1000+")
    page.get_by_label("Seats").fill("40")
    with page.expect_request(lambda r: "/slots?" in r.url) as asked:
        page.get_by_role("button", name="Show free times").click()
    assert "answers.companySize=1000%2B" in asked.value.url and "answers.seats=40" in asked.value.url
    page.get_by_role("button", name="Wed 25 Nov").click()
    expect(page.locator("#slots button")).to_have_text(["10:00", "10:30"])  # the enterprise rep's hour

    # Other answers, another rep: the page asks again and shows that rep's times.
    page.get_by_role("button", name="Change your answers").click()
    page.get_by_label("Company size").select_option("1-50")
    page.get_by_role("button", name="Show free times").click()
    expect(page.get_by_role("status")).to_contain_text("free times")
    page.get_by_role("button", name="Wed 25 Nov").click()
    expect(page.locator("#slots button")).to_have_text(["11:00", "11:30"])

    page.get_by_role("button", name="Change your answers").click()
    page.get_by_label("Company size").select_option("201-1000")
    page.get_by_role("button", name="Show free times").click()
    expect(page.get_by_role("status")).to_contain_text("free times")
    page.get_by_role("button", name="Wed 25 Nov").click()
    expect(page.locator("#slots button")).to_have_text(["10:00", "10:30"])
    page.locator("#slots").get_by_role("button", name=re.compile("^10:30 to ")).click()
    expect(page.get_by_role("heading", name="Your details")).to_be_focused()
    page.get_by_label("Name").fill("Jo Doe")
    page.get_by_label("Email").fill("jo@fabrikam.com")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_role("heading", name="You're booked")).to_be_focused()

    items = app.get("/bookings", params={"hostId": big}).json()["items"]
    # The page held the time with the rep the answers routed to; the booking keeps the answers.
    assert [(b["hostIds"], b["answers"]) for b in items] == [
        ([big], {"companySize": "201-1000", "seats": "40"})
    ]
    assert app.get("/bookings", params={"hostId": small}).json()["items"] == []
    assert page.js_errors == []


def test_questions_then_email_then_the_matched_accounts_rep_then_booking(
    app: Any, graph_sim: Any, dataverse: Any, site: Any, open_page: Any
) -> None:
    """Issue 15's page flow in one go: the answers and the matched account both route."""
    owner_rep, other_rep = _rep(app, graph_sim, "09:00", "10:00"), _rep(app, graph_sim, "10:00", "11:00")
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    rules = {
        "rules": [
            {
                "name": "enterprise account owner",
                "when": {"recordType": ["account"], "answers.companySize": ["1000+"]},
                "strategy": "owner",
            },
            {"name": "everyone else", "strategy": "roundRobin", "pool": [other_rep]},
        ],
        "matching": {"byContactEmail": True, "byLeadEmail": True, "byAccountDomain": True},
    }
    assert app.put(f"/admin/routing/{rule_set}", json_body=rules).status == 201
    owner = dataverse.create_user(aad_object_id=owner_rep)
    account = dataverse.create(
        "accounts",
        {
            "name": "Tailspin",
            "websiteurl": "https://www.tailspin.example",
            "ownerid@odata.bind": f"/systemusers({owner})",
        },
    )
    slug = "demo-" + uuid.uuid4().hex[:8]
    event_type = {
        "title": "Product demo",
        "durationMinutes": 30,
        "bookingWindowDays": 30,
        "routingRuleSet": rule_set,
        "public": True,
        "questions": [
            {
                "id": "companySize",
                "label": "Company size",
                "kind": "select",
                "options": ["1-50", "51-200", "201-1000", "1000+"],
                "required": True,
            }
        ],
    }
    assert app.put(f"/admin/event-types/{slug}", json_body=event_type).status == 201

    page = open_page(site.page_url(slug))
    expect(page.get_by_role("heading", name="A few questions first")).to_be_visible()
    page.get_by_label("Company size").select_option("1000+")
    page.get_by_role("button", name="Show free times").click()
    # The rule set matches by email: the page asks for it before any time is shown.
    expect(page.get_by_role("heading", name="Who is booking?")).to_be_focused()
    expect(page.get_by_role("heading", name="Pick a time")).to_be_hidden()
    page.get_by_label("Business e-mail").fill("kim@TAILSPIN.example")
    with page.expect_request(lambda r: "/slots?" in r.url) as asked:
        page.get_by_role("button", name="Show free times").click()
    assert (
        "answers.companySize=1000%2B" in asked.value.url and "email=kim%40TAILSPIN.example" in asked.value.url
    )
    page.get_by_role("button", name="Wed 25 Nov").click()
    # The account owner's hour (09:00-10:00 UTC, shown in the page's zone as the test above shows it).
    expect(page.locator("#slots button")).to_have_text(["10:00", "10:30"])
    page.locator("#slots").get_by_role("button", name=re.compile("^10:30 to ")).click()
    expect(page.get_by_role("heading", name="Your details")).to_be_focused()
    page.get_by_label("Name").fill("Kim Lee")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_role("heading", name="You're booked")).to_be_focused()

    items = app.get("/bookings", params={"hostId": owner_rep}).json()["items"]
    assert [(b["context"], b["answers"]) for b in items] == [
        ({"recordType": "account", "recordId": account}, {"companySize": "1000+"})
    ]
    assert app.get("/bookings", params={"hostId": other_rep}).json()["items"] == []
    assert page.js_errors == []
