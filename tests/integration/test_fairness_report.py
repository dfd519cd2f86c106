"""`GET /routing/fairness` through the real functions: its numbers are those of a count made here, in
the test, from the stored bookings and their decisions; routing's own stats see the same no-show."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from .scenario import MONDAY, book, new_event_type, new_host

FROM, TO = f"{MONDAY}T00:00:00-06:00", "2026-12-08T00:00:00-06:00"
TIMES = ["08:00", "08:30", "09:00", "09:30", "10:00", "10:30"]


def _routed_bookings(app: Any, graph_sim: Any, fairness: str) -> tuple[str, list[str], list[dict[str, Any]]]:
    hosts = [new_host(app, graph_sim) for _ in range(3)]
    doc = app.get(f"/admin/hosts/{hosts[2]}").json()
    doc.pop("id")
    assert app.put(f"/admin/hosts/{hosts[2]}", json_body=doc | {"weight": 200}).status == 200
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    rules = [{"name": "rr", "strategy": "roundRobin", "pool": hosts, "fairness": fairness}]
    assert app.put(f"/admin/routing/{rule_set}", json_body={"rules": rules}).status == 201
    slug = "routed-" + uuid.uuid4().hex[:8]
    body = {"title": "Routed", "durationMinutes": 30, "routingRuleSet": rule_set, "bookingWindowDays": 60}
    assert app.put(f"/admin/event-types/{slug}", json_body=body).status == 201
    booked = []
    for i, at in enumerate(TIMES):
        r = book(app, slug, f"{MONDAY}T{at}:00-06:00", invitee={"name": f"P{i}", "email": f"p{i}@x.com"})
        assert r.status == 201, r.body
        booked.append(r.json())
    # Outside the report: a routed booking after the range, and one made for a host by hand in it.
    assert book(app, slug, "2026-12-08T09:00:00-06:00").status == 201
    assert book(app, new_event_type(app, [hosts[0]]), f"{MONDAY}T11:00:00-06:00").status == 201
    return rule_set, hosts, booked


def _independent_count(app: Any, rule_set: str) -> dict[str, dict[str, Any]]:
    """Counted here from `GET /bookings` and each booking's stored decision, as routing.md says."""
    items = app.get("/bookings", params={"from": FROM, "to": TO}).json()["items"]
    start, end = datetime.fromisoformat(FROM), datetime.fromisoformat(TO)
    tally: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"bookings": 0, "cancelled": 0, "noShows": 0, "counted": Fraction(0)}
    )
    for b in items:
        decision_id = b["routing"].get("decisionId")
        if not decision_id or not start <= datetime.fromisoformat(b["start"]) < end:
            continue
        if app.get(f"/routing/decisions/{decision_id}").json()["decision"]["ruleSet"] != rule_set:
            continue
        row = tally[b["hostIds"][0]]
        row["bookings"] += 1
        row["cancelled"] += b["status"] == "cancelled"
        attendance = b.get("attendance") or {}
        row["noShows"] += attendance.get("status") == "noShow"
        if attendance.get("party") == "invitee":
            row["counted"] += Fraction(1, 2)
        elif b["status"] == "confirmed":
            row["counted"] += 1
    return tally


def test_the_fairness_report_equals_a_count_of_the_stored_bookings(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    rule_set, hosts, booked = _routed_bookings(app, graph_sim, "weighted")
    assert len({b["hostIds"][0] for b in booked}) == 3  # the rotation spread them
    assert app.post(f"/bookings/{booked[0]['id']}/cancel", json_body={"reason": "host ill"}).status == 200
    clock.set(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))
    assert app.post(f"/bookings/{booked[1]['id']}/no-show", json_body={"party": "invitee"}).status == 200
    assert app.post(f"/bookings/{booked[2]['id']}/no-show", json_body={"party": "host"}).status == 200

    r = app.get("/routing/fairness", params={"ruleSet": rule_set, "from": FROM, "to": TO})
    assert r.status == 200, r.body
    report = r.json()
    assert (report["ruleSet"], report["from"], report["to"]) == (
        rule_set,
        "2026-12-07T06:00:00+00:00",
        "2026-12-08T06:00:00+00:00",
    )
    tally = _independent_count(app, rule_set)
    total = sum((t["counted"] for t in tally.values()), Fraction(0))
    assert sum(t["bookings"] for t in tally.values()) == len(TIMES)
    assert report["hosts"] == [
        {
            "hostId": h,
            "weight": 200 if h == hosts[2] else 100,
            "bookings": tally[h]["bookings"],
            "cancelled": tally[h]["cancelled"],
            "noShows": tally[h]["noShows"],
            "expectedShare": 0.5 if h == hosts[2] else 0.25,
            "actualShare": round(float(tally[h]["counted"] / total), 4),
        }
        for h in sorted(hosts)
    ]


def test_routing_stats_count_an_invitee_no_show_as_discounted_not_whole(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    _, hosts, booked = _routed_bookings(app, graph_sim, "balanced")
    clock.set(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))
    absent = booked[1]
    assert app.post(f"/bookings/{absent['id']}/no-show", json_body={"party": "invitee"}).status == 200
    slug = absent["eventType"]
    slots = app.get("/slots", params={"eventType": slug, "start": "2026-12-09", "end": "2026-12-09"}).json()
    stats = app.get(f"/routing/decisions/{slots['routing']['decisionId']}").json()["inputs"]["stats"]
    host = absent["hostIds"][0]
    # Balanced counts every confirmed booking of the host in the last 30 days, whatever routed it.
    mine = app.get(
        "/bookings",
        params={"hostId": host, "from": "2026-11-08T12:00:00Z", "to": "2026-12-08T12:00:00Z"},
    ).json()["items"]
    whole = sum(1 for b in mine if b["status"] == "confirmed" and "attendance" not in b)
    assert whole >= 1
    assert stats[host]["discountedLast30Days"] == 1
    assert stats[host]["bookingsLast30Days"] == whole
    assert all("discountedLast30Days" not in stats.get(h, {}) for h in hosts if h != host)


def test_the_fairness_report_of_an_unknown_rule_set_is_404_and_a_bad_range_422(app: Any) -> None:
    assert app.get("/routing/fairness", params={"ruleSet": "nope", "from": FROM, "to": TO}).status == 404
    r = app.get("/routing/fairness", params={"ruleSet": "nope", "from": TO, "to": FROM})
    assert (r.status, r.json()["code"]) == (422, "validation-failed")
    assert app.get("/routing/fairness", params={"ruleSet": "nope"}).status == 422
