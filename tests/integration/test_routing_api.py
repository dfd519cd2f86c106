"""Routing through the real functions: rule sets, routed slots and bookings, the stored explanation."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from .scenario import AT_9, MONDAY
from .scenario import new_host as _host
from .scenario import partition_rows as _partition_rows
from .scenario import race as _race


def _rule_set(app: Any, body: dict[str, Any]) -> str:
    rule_set_id = "rs-" + uuid.uuid4().hex[:8]
    r = app.put(f"/admin/routing/{rule_set_id}", json_body=body)
    assert r.status == 201, r.body
    return rule_set_id


def _routed_event_type(app: Any, rule_set_id: str, **fields: Any) -> str:
    slug = "routed-" + uuid.uuid4().hex[:8]
    r = app.put(
        f"/admin/event-types/{slug}",
        json_body={"title": "Routed", "durationMinutes": 30, "routingRuleSet": rule_set_id, **fields},
    )
    assert r.status == 201, r.body
    return slug


def _territory_host(app: Any, graph_sim: Any, territories: list[str], weight: int = 100) -> str:
    host_id = _host(app, graph_sim)
    doc = app.get(f"/admin/hosts/{host_id}").json()
    doc.pop("id")
    assert (
        app.put(
            f"/admin/hosts/{host_id}", json_body=doc | {"territories": territories, "weight": weight}
        ).status
        == 200
    )
    return host_id


def _booking(app: Any, slug: str, start: str, context: dict[str, Any], i: int = 0) -> Any:
    return app.post(
        "/bookings",
        json_body={
            "eventType": slug,
            "start": start,
            "timeZone": "America/Chicago",
            "invitee": {"name": f"P{i}", "email": f"p{i}@fabrikam.com"},
            "context": context,
        },
    )


def test_rule_sets_round_trip_and_bad_ones_name_the_offending_path(app: Any, graph_sim: Any) -> None:
    host = _host(app, graph_sim)
    body = {
        "rules": [{"name": "fallback", "strategy": "roundRobin", "pool": [host], "fairness": "weighted"}],
        "eligibility": {"excludeOutOfOffice": True, "respectDailyCaps": True},
    }
    rule_set_id = _rule_set(app, body)
    got = app.get(f"/admin/routing/{rule_set_id}").json()
    assert got["id"] == rule_set_id and got["rules"][0]["pool"] == [host]
    assert app.put(f"/admin/routing/{rule_set_id}", json_body=body).status == 200
    assert rule_set_id in [r["id"] for r in app.get("/admin/routing").json()["items"]]

    def problem(payload: dict[str, Any]) -> list[str]:
        r = app.put("/admin/routing/bad", json_body=payload)
        assert r.status == 422, r.body
        return [e["field"] for e in r.json()["errors"]]

    assert "rules.0.strategy" in problem({"rules": [{"name": "x", "strategy": "coinFlip"}]})
    assert problem({"rules": []}) == ["rules"]
    assert problem({"rules": [{"name": "rr", "strategy": "roundRobin", "pool": [host, "ghost"]}]}) == [
        "rules.0.pool.1"
    ]
    assert app.get("/admin/routing/bad").status == 404
    assert app.delete(f"/admin/routing/{rule_set_id}").status == 204


def test_territory_routing_pools_slots_and_explains_itself(app: Any, graph_sim: Any) -> None:
    dach = _territory_host(app, graph_sim, ["DACH"])
    us = _territory_host(app, graph_sim, ["US-West"])
    rule_set_id = _rule_set(
        app,
        {
            "rules": [
                {
                    "name": "territory",
                    "strategy": "territory",
                    "territories": {
                        "DACH": {"countries": ["DE", "AT", "CH"]},
                        "US-West": {"postalPrefixes": ["9"]},
                    },
                },
                {"name": "fallback", "strategy": "roundRobin", "pool": [dach, us]},
            ]
        },
    )
    slug = _routed_event_type(app, rule_set_id)
    r = app.get(
        "/slots",
        params={"eventType": slug, "start": MONDAY, "end": MONDAY, "country": "de", "recordId": "lead-42"},
    )
    assert r.status == 200, r.body
    routing = r.json()["routing"]
    explain = app.get(f"/routing/decisions/{routing['decisionId']}").body
    assert (routing["ruleSet"], routing["rule"], routing["strategy"], routing["hostIds"]) == (
        rule_set_id,
        "territory",
        "territory",
        [dach],
    ), explain
    assert {h for s in r.json()["slots"] for h in s["hostIds"]} == {dach}
    stored = app.get(f"/routing/decisions/{routing['decisionId']}").json()
    assert stored["recordId"] == "lead-42" and stored["decision"]["rule"] == "territory"
    assert stored["decision"]["trace"][0]["eligible"] == [dach]
    listed = app.get("/routing/decisions", params={"recordId": "lead-42"}).json()["items"]
    assert [d["id"] for d in listed] == [routing["decisionId"]]
    nowhere = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "country": "FR"})
    assert nowhere.json()["routing"]["rule"] == "fallback"


def test_a_stored_decision_replays_to_the_same_pick(app: Any, graph_sim: Any) -> None:
    from bootstrap.composition import services
    from scheduling_core.documents.routing_decisions import decision_to_json

    hosts = [_host(app, graph_sim) for _ in range(3)]
    rule_set_id = _rule_set(
        app, {"rules": [{"name": "rr", "strategy": "roundRobin", "pool": hosts, "fairness": "balanced"}]}
    )
    slug = _routed_event_type(app, rule_set_id)
    decision_id = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY}).json()[
        "routing"
    ]["decisionId"]
    stored = services().routing.get(decision_id)
    assert decision_to_json(services().routing.replay(decision_id)) == stored["decision"]


def test_round_robin_bookings_rotate_and_record_their_decision(app: Any, graph_sim: Any, clock: Any) -> None:
    hosts = sorted(_host(app, graph_sim) for _ in range(2))
    rule_set_id = _rule_set(
        app,
        {
            "rules": [
                {"name": "rr", "strategy": "roundRobin", "pool": hosts, "fairness": "leastRecentlyBooked"}
            ]
        },
    )
    slug = _routed_event_type(app, rule_set_id)
    picked = []
    for hour in ("08", "09", "10", "11"):
        clock.set(clock.now() + timedelta(minutes=1))  # bookings are made one after another
        r = _booking(app, slug, f"{MONDAY}T{hour}:00:00-06:00", {"recordType": "lead", "recordId": "lead-rr"})
        assert r.status == 201, r.body
        picked.append(r.json()["hostIds"][0])
        assert r.json()["routing"]["decisionId"].startswith("rd_")
    assert picked == [hosts[0], hosts[1], hosts[0], hosts[1]]


def test_forty_concurrent_routed_bookings_never_double_book_and_keep_state_consistent(
    app: Any, graph_sim: Any
) -> None:
    from bootstrap.composition import services

    hosts = sorted(_host(app, graph_sim) for _ in range(3))
    rule_set_id = _rule_set(
        app, {"rules": [{"name": "rr", "strategy": "roundRobin", "pool": hosts, "fairness": "weighted"}]}
    )
    slug = _routed_event_type(app, rule_set_id)
    starts = [AT_9, f"{MONDAY}T10:00:00-06:00"]
    results = _race(40, lambda i: _booking(app, slug, starts[i % 2], {}, i))
    created = [r.json() for r in results if r.status == 201]
    assert all(r.status == 409 for r in results if r.status != 201)
    assert len(created) == 6  # every host once per slot, no more
    assert Counter((b["hostIds"][0], b["start"]) for b in created).most_common(1)[0][1] == 1
    rotation = services().routing_store.rotation(rule_set_id, "rotation")
    assert sum(v["assignments"] for v in rotation.values()) == len(created)
    for host in hosts:
        assert len(_partition_rows(app, host, "b|")) == rotation[host]["assignments"] == 2


def test_no_eligible_host_is_explained_not_a_500(app: Any, graph_sim: Any) -> None:
    host = _host(app, graph_sim)
    rule_set_id = _rule_set(
        app, {"rules": [{"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"}]}
    )
    slug = _routed_event_type(app, rule_set_id)
    r = app.get(
        "/slots",
        params={"eventType": slug, "start": MONDAY, "end": MONDAY, "recordType": "lead", "ownerId": host},
    )
    assert r.status == 200 and r.json()["routing"]["hostIds"] == [host]
    r = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "recordType": "opportunity"}
    )
    assert r.status == 200 and r.json()["slots"] == [] and r.json()["routing"]["hostIds"] == []
    booking = _booking(app, slug, AT_9, {"recordType": "opportunity"})
    assert booking.status == 409 and "No eligible host" in booking.json()["detail"]


def test_unknown_decision_is_404(app: Any) -> None:
    assert app.get("/routing/decisions/rd_" + "0" * 24).status == 404
    assert app.get("/routing/decisions/nonsense").status == 404
    assert app.get("/routing/decisions").status == 422


# ---- context from Dataverse ---------------------------------------------------------------------


@pytest.fixture
def owner_rules(app: Any, graph_sim: Any) -> tuple[str, list[str]]:
    hosts = sorted(_host(app, graph_sim) for _ in range(3))
    rule_set_id = _rule_set(
        app,
        {
            "rules": [
                {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
                {
                    "name": "account team",
                    "when": {"recordType": ["opportunity", "account"]},
                    "strategy": "accountTeam",
                    "role": "CSM",
                },
                {
                    "name": "territory",
                    "strategy": "territory",
                    "territories": {"DACH": {"countries": ["DE"]}},
                },
                {"name": "fallback", "strategy": "roundRobin", "pool": [hosts[2]]},
            ]
        },
    )
    return _routed_event_type(app, rule_set_id), hosts


def _routing_of(app: Any, slug: str, **context: str) -> Any:
    r = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, **context})
    assert r.status == 200, r.body
    return r.json()["routing"]


def test_the_lead_owner_is_read_from_dataverse(app: Any, dataverse: Any, owner_rules: Any) -> None:
    slug, hosts = owner_rules
    user = dataverse.create_user(aad_object_id=hosts[0])
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({user})"})
    routing = _routing_of(app, slug, recordType="lead", recordId=lead)
    assert (routing["rule"], routing["hostIds"]) == ("lead owner", [hosts[0]])


def test_a_team_owner_yields_its_members_as_a_pool(app: Any, dataverse: Any, owner_rules: Any) -> None:
    slug, hosts = owner_rules
    members = [dataverse.create_user(aad_object_id=h, first_name=f"U{i}") for i, h in enumerate(hosts[:2])]
    team = dataverse.create_team("Inside sales", members=members)
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/teams({team})"})
    routing = _routing_of(app, slug, recordType="lead", recordId=lead)
    assert routing["rule"] == "lead owner" and sorted(routing["hostIds"]) == hosts[:2]


def test_an_owner_who_is_not_a_bookable_host_falls_through_with_the_reason(
    app: Any, dataverse: Any, owner_rules: Any
) -> None:
    slug, _ = owner_rules
    stranger = dataverse.create_user(aad_object_id=str(uuid.uuid4()))
    lead = dataverse.create(
        "leads",
        {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({stranger})", "address1_country": "DE"},
    )
    routing = _routing_of(app, slug, recordType="lead", recordId=lead)
    assert routing["rule"] == "fallback"  # no host has the DACH territory either
    trace = app.get(f"/routing/decisions/{routing['decisionId']}").json()["decision"]["trace"]
    assert "not a bookable host" in str(trace[0])


def test_the_account_team_of_an_opportunity_is_read_from_dataverse(
    app: Any, dataverse: Any, owner_rules: Any
) -> None:
    slug, hosts = owner_rules
    csm = dataverse.create_user(aad_object_id=hosts[1])
    account = dataverse.create_account("Fabrikam")
    dataverse.create_account_team(account, "CSM", [csm])
    opportunity = dataverse.create(
        "opportunities", {"name": "Deal", "parentaccountid@odata.bind": f"/accounts({account})"}
    )
    routing = _routing_of(app, slug, recordType="opportunity", recordId=opportunity)
    assert (routing["rule"], routing["hostIds"]) == ("account team", [hosts[1]])


def test_a_missing_record_is_a_404_problem_not_a_500(app: Any, dataverse: Any, owner_rules: Any) -> None:
    slug, _ = owner_rules
    r = app.get(
        "/slots",
        params={
            "eventType": slug,
            "start": MONDAY,
            "end": MONDAY,
            "recordType": "lead",
            "recordId": str(uuid.uuid4()),
        },
    )
    assert r.status == 404 and r.json()["code"] == "not-found"


def test_dataverse_throttling_is_retried_after_retry_after(
    app: Any, dataverse: Any, owner_rules: Any
) -> None:
    slug, hosts = owner_rules
    user = dataverse.create_user(aad_object_id=hosts[0])
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({user})"})
    dataverse.clear_requests()
    dataverse.add_fault(429, retry_after=1, count=1, path_contains="leads")
    routing = _routing_of(app, slug, recordType="lead", recordId=lead)
    assert routing["hostIds"] == [hosts[0]]
    assert [r["status"] for r in dataverse.requests(path_contains="leads")][:2] == [429, 200]


def test_a_host_out_of_office_all_day_is_skipped_with_the_reason(app: Any, graph_sim: Any) -> None:
    away, here = sorted(_host(app, graph_sim) for _ in range(2))
    graph_sim.post_event(
        away,
        subject="Vacation",
        show_as="oof",
        start=f"{MONDAY}T00:00:00",
        end=f"{MONDAY}T23:59:00",
        time_zone="Central Standard Time",
    )
    rule_set_id = _rule_set(app, {"rules": [{"name": "rr", "strategy": "roundRobin", "pool": [away, here]}]})
    slug = _routed_event_type(app, rule_set_id)
    r = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    )
    routing = r.json()["routing"]
    assert routing["hostIds"] == [here]
    trace = app.get(f"/routing/decisions/{routing['decisionId']}").json()["decision"]["trace"][0]
    assert trace["excluded"] == {away: "out of office for the whole range"}


def test_an_owner_id_names_a_host_by_its_id_or_its_dynamics_user_and_anything_else_falls_through(
    app: Any, dataverse: Any, owner_rules: Any
) -> None:
    slug, hosts = owner_rules
    dynamics_user = str(uuid.uuid4())
    doc = app.get(f"/admin/hosts/{hosts[1]}").json()
    doc.pop("id")
    assert (
        app.put(f"/admin/hosts/{hosts[1]}", json_body=doc | {"dynamicsUserId": dynamics_user}).status == 200
    )
    assert _routing_of(app, slug, recordType="lead", ownerId=hosts[0])["hostIds"] == [hosts[0]]
    # Found through this instance's directory copy, which the host write above refreshed.
    assert _routing_of(app, slug, recordType="lead", ownerId=dynamics_user.upper())["hostIds"] == [hosts[1]]
    # No host can have this id (Table keys refuse `/` and `#`): the rule falls through, no storage error.
    assert _routing_of(app, slug, recordType="lead", ownerId="a/b#c")["rule"] == "fallback"
