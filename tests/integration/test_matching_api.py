"""Matching people Dynamics already knows (routing.md), over HTTP against the Dataverse simulator:
an invitee email routes as if its contact's account, its lead or its company's account had been given,
and with `createLead` a booking that matched nothing lands on one lead per email."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from scheduling_core.adapters.dataverse import lead_id_for
from scheduling_core.services.dataverse_sync import appointment_id
from tests.fixtures.dataverse import DataverseSim

from .scenario import MONDAY
from .scenario import new_host as _host
from .scenario import race as _race

MATCH_ALL = {"byContactEmail": True, "byLeadEmail": True, "byAccountDomain": True}


class World:
    """Three hosts known to Dynamics; rules: lead owner, account owner, fallback to the third host."""

    def __init__(self, app: Any, graph_sim: Any, dataverse: DataverseSim, *, create_lead: bool) -> None:
        self.app = app
        self.dataverse = dataverse
        self.hosts = sorted(_host(app, graph_sim) for _ in range(3))
        self.users = [
            dataverse.create_user(aad_object_id=h, first_name=f"U{i}") for i, h in enumerate(self.hosts)
        ]
        self.rule_set = "rs-" + uuid.uuid4().hex[:8]
        body = {
            "rules": [
                {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
                {"name": "account owner", "when": {"recordType": ["account"]}, "strategy": "owner"},
                {"name": "fallback", "strategy": "roundRobin", "pool": [self.hosts[2]]},
            ],
            "matching": MATCH_ALL | {"createLead": create_lead},
        }
        r = app.put(f"/admin/routing/{self.rule_set}", json_body=body)
        assert r.status == 201, r.body
        assert r.json()["matching"] == body["matching"]
        self.slug = "matched-" + uuid.uuid4().hex[:8]
        r = app.put(
            f"/admin/event-types/{self.slug}",
            json_body={
                "title": "Intro",
                "durationMinutes": 30,
                "routingRuleSet": self.rule_set,
                "bookingWindowDays": 60,
            },
        )
        assert r.status == 201, r.body

    def account(self, owner: int, **fields: Any) -> str:
        return self.dataverse.create(
            "accounts", {"name": "Acme", "ownerid@odata.bind": f"/systemusers({self.users[owner]})", **fields}
        )

    def routing(self, email: str) -> dict[str, Any]:
        r = self.app.get(
            "/slots", params={"eventType": self.slug, "start": MONDAY, "end": MONDAY, "email": email}
        )
        assert r.status == 200, r.body
        routing: dict[str, Any] = r.json()["routing"]
        return routing

    def match(self, routing: dict[str, Any]) -> dict[str, Any]:
        r = self.app.get(f"/routing/decisions/{routing['decisionId']}")
        assert r.status == 200, r.body
        match: dict[str, Any] = r.json()["match"]
        return match


@pytest.fixture
def world(app: Any, graph_sim: Any, dataverse: DataverseSim) -> World:
    return World(app, graph_sim, dataverse, create_lead=False)


def test_a_contact_email_routes_to_the_owner_of_its_parent_account(world: World) -> None:
    account = world.account(0)
    contact = world.dataverse.create(
        "contacts",
        {
            "lastname": "Ng",
            "emailaddress1": "ana.ng@acme.example",
            "parentcustomerid_account@odata.bind": f"/accounts({account})",
        },
    )
    world.lead_decoy = world.dataverse.create(  # type: ignore[attr-defined]
        "leads", {"lastname": "Ng", "emailaddress1": "ana.ng@acme.example"}
    )
    routing = world.routing("Ana.Ng@ACME.example")
    assert (routing["rule"], routing["hostIds"]) == ("account owner", [world.hosts[0]])
    match = world.match(routing)
    assert {k: match[k] for k in ("by", "recordType", "recordId", "contactId")} == {
        "by": "contactEmail",
        "recordType": "account",
        "recordId": account,
        "contactId": contact,
    }


def test_a_lead_email_routes_to_the_lead_owner(world: World) -> None:
    lead = world.dataverse.create(
        "leads",
        {
            "lastname": "Lee",
            "emailaddress1": "lee@prospect.example",
            "ownerid@odata.bind": f"/systemusers({world.users[1]})",
        },
    )
    routing = world.routing("lee@prospect.example")
    assert (routing["rule"], routing["hostIds"]) == ("lead owner", [world.hosts[1]])
    match = world.match(routing)
    assert (match["by"], match["recordType"], match["recordId"]) == ("leadEmail", "lead", lead)


def test_the_email_domain_matches_an_account_website_ignoring_www_and_case(world: World) -> None:
    account = world.account(0, websiteurl="https://WWW.Fabrikam.example/about")
    world.account(1, websiteurl="https://notfabrikam.example")  # contains the domain, is not it
    routing = world.routing("zoe@fabrikam.EXAMPLE")
    assert (routing["rule"], routing["hostIds"]) == ("account owner", [world.hosts[0]])
    match = world.match(routing)
    assert (match["by"], match["recordType"], match["recordId"], match["others"]) == (
        "accountDomain",
        "account",
        account,
        [],
    )


def test_two_accounts_on_one_domain_resolve_to_the_oldest_and_record_the_other(world: World) -> None:
    first = world.account(1, websiteurl="tailspin.example")
    second = world.account(0, emailaddress1="info@tailspin.example")
    routing = world.routing("kim@tailspin.example")
    assert routing["hostIds"] == [world.hosts[1]]
    match = world.match(routing)
    assert (match["recordId"], match["others"]) == (first, [second])


def test_a_free_mail_address_never_matches_by_domain(world: World) -> None:
    world.account(0, websiteurl="https://www.gmail.com", emailaddress1="press@gmail.com")
    routing = world.routing("someone@gmail.com")
    assert (routing["rule"], routing["hostIds"]) == ("fallback", [world.hosts[2]])
    assert world.match(routing)["by"] == "none"


def test_nothing_matched_falls_back_and_the_booking_records_it(world: World) -> None:
    routing = world.routing("new.person@unknown.example")
    assert (routing["rule"], routing["hostIds"]) == ("fallback", [world.hosts[2]])
    assert (world.match(routing)["by"], world.match(routing)["recordId"]) == ("none", None)
    r = world.app.post(
        "/bookings",
        json_body={
            "eventType": world.slug,
            "start": f"{MONDAY}T09:00:00-06:00",
            "invitee": {"name": "New Person", "email": "new.person@unknown.example"},
        },
    )
    assert r.status == 201, r.body
    booking = r.json()
    assert (booking["hostIds"], booking["routing"]["match"]["by"], booking["context"]) == (
        [world.hosts[2]],
        "none",
        {},
    )
    leads = world.dataverse.call("GET", "leads", params={"$select": "leadid"}).json()["value"]
    assert leads == []  # createLead is off


def test_a_matched_booking_lands_on_the_matched_record(world: World) -> None:
    lead = world.dataverse.create(
        "leads",
        {
            "lastname": "Lee",
            "emailaddress1": "lee@prospect.example",
            "ownerid@odata.bind": f"/systemusers({world.users[1]})",
        },
    )
    r = world.app.post(
        "/bookings",
        json_body={
            "eventType": world.slug,
            "start": f"{MONDAY}T09:00:00-06:00",
            "invitee": {"name": "Lee", "email": "lee@prospect.example"},
        },
    )
    assert r.status == 201, r.body
    booking = r.json()
    assert booking["hostIds"] == [world.hosts[1]]
    assert booking["context"] == {"recordType": "lead", "recordId": lead}
    appointment = world.dataverse.row("appointments", appointment_id(booking["id"]))
    assert appointment["_regardingobjectid_value"] == lead


def test_create_lead_under_twenty_concurrent_bookings_makes_one_lead_they_all_regard(
    app: Any, graph_sim: Any, dataverse: DataverseSim
) -> None:
    world = World(app, graph_sim, dataverse, create_lead=True)
    r = app.put(
        f"/admin/routing/{world.rule_set}",
        json_body={
            "rules": [{"name": "fallback", "strategy": "roundRobin", "pool": world.hosts}],
            "matching": MATCH_ALL | {"createLead": True},
        },
    )
    assert r.status == 200, r.body
    first = datetime.fromisoformat(f"{MONDAY}T08:00:00-06:00")
    # 3 hosts x 8 half hours: room for 20 bookings at 7 starts.
    starts = [(first + timedelta(minutes=30 * (i % 7))).isoformat() for i in range(20)]

    def book(i: int) -> Any:
        return app.post(
            "/bookings",
            json_body={
                "eventType": world.slug,
                "start": starts[i],
                "invitee": {"name": "Rosa Diaz", "email": "Rosa.Diaz@newco.example"},
            },
        )

    results = _race(20, book)
    assert [r.status for r in results] == [201] * 20, [r.body for r in results if r.status != 201]
    leads = dataverse.call(
        "GET", "leads", params={"$select": "leadid,firstname,lastname,emailaddress1"}
    ).json()["value"]
    assert [(row["leadid"], row["firstname"], row["lastname"], row["emailaddress1"]) for row in leads] == [
        (lead_id_for("rosa.diaz@newco.example"), "Rosa", "Diaz", "rosa.diaz@newco.example")
    ]
    lead = leads[0]["leadid"]
    for result in results:
        booking = result.json()
        assert booking["context"] == {"recordType": "lead", "recordId": lead}
        appointment = dataverse.row("appointments", appointment_id(booking["id"]))
        assert appointment["_regardingobjectid_value"] == lead

    # A retry later finds the lead (looked up first): still one. Its time is full by now (3 bookings at
    # 08:00 on 3 hosts), so the retry itself is refused.
    retry = book(0)
    assert (retry.status, retry.json()["code"]) == (409, "slot-unavailable"), retry.body
    assert len(dataverse.call("GET", "leads", params={"$select": "leadid"}).json()["value"]) == 1


def test_the_page_asks_for_the_email_routes_by_it_and_answers_alike_whether_dynamics_knows_it(
    app: Any, graph_sim: Any, dataverse: DataverseSim
) -> None:
    world = World(app, graph_sim, dataverse, create_lead=False)
    doc = app.get(f"/admin/event-types/{world.slug}").json()
    doc.pop("slug")
    assert app.put(f"/admin/event-types/{world.slug}", json_body=doc | {"public": True}).status == 200
    page = app.get(f"/book/{world.slug}", key=None)
    assert page.status == 200 and b'"asksEmail":true' in page.body
    # Every host works the same hours here: the page's answers compare by shape, the routed host shows
    # on the booking (keyed read).
    account = world.account(0, websiteurl="https://contoso-ltd.example")

    def slots(email: str) -> Any:
        r = app.get(
            f"/book/{world.slug}/slots", params={"start": MONDAY, "end": MONDAY, "email": email}, key=None
        )
        assert r.status == 200, r.body
        return r.json()

    known, unknown = slots("amy@contoso-ltd.example"), slots("amy@nobody.example")
    assert set(known) == set(unknown) == {"eventType", "timeZone", "durationMinutes", "slots"}
    assert account not in json.dumps(known)
    hold = app.post(
        f"/book/{world.slug}/holds",
        json_body={"start": known["slots"][0]["start"], "invitee": {"email": "amy@contoso-ltd.example"}},
        key=None,
    )
    assert hold.status == 201, hold.body
    r = app.post(
        f"/book/{world.slug}/bookings",
        json_body={
            "start": known["slots"][0]["start"],
            "holdId": hold.json()["id"],
            "invitee": {"name": "Amy Ray", "email": "amy@contoso-ltd.example"},
        },
        key=None,
    )
    assert r.status == 201, r.body
    booking = app.get(f"/bookings/{r.json()['id']}").json()
    assert (booking["hostIds"], booking["context"]) == (
        [world.hosts[0]],
        {"recordType": "account", "recordId": account},
    )


def test_an_inactive_contact_is_not_matched(world: World) -> None:
    account = world.account(0)
    contact = world.dataverse.create(
        "contacts",
        {
            "lastname": "Old",
            "emailaddress1": "gone@acme.example",
            "parentcustomerid_account@odata.bind": f"/accounts({account})",
        },
    )
    r = world.dataverse.call("PATCH", f"contacts({contact})", json={"statecode": 1, "statuscode": 2})
    assert r.status_code == 204, r.text
    routing = world.routing("gone@acme.example")
    assert (routing["rule"], world.match(routing)["by"]) == ("fallback", "none")


def test_something_that_is_not_an_email_asks_dataverse_nothing_and_falls_back(world: World) -> None:
    world.dataverse.clear_requests()
    routing = world.routing("o'brien-no-at-sign")
    assert (routing["rule"], world.match(routing)["by"], world.match(routing)["note"]) == (
        "fallback",
        "none",
        "not an email address",
    )
    assert [r for r in world.dataverse.requests() if "emailaddress1" in str(r)] == []
    world.routing("o'brien@quote.example")  # an apostrophe is escaped in the OData literal, not a 400
    assert len([r for r in world.dataverse.requests() if "emailaddress1" in str(r)]) == 3
