"""Team operations end to end (api.md "Team operations", issue 16): reassigning a rep's bookings and the
manager override. Real functions, Azurite, the Graph and Dataverse simulators over HTTP, the local topic
into the real sync triggers."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest

from scheduling_core.domain.bookings import ClaimKind, appointment_id
from scheduling_core.domain.outlook import BOOKING_PROPERTY_EXPAND, BOOKING_PROPERTY_ID
from tests.conftest import ADMIN_KEY, API_KEY
from tests.fixtures.dataverse import DataverseSim

from .scenario import (
    AT_9,
    BEARER,
    MONDAY,
    book,
    claims,
    new_event_type,
    new_host,
    outbox_events,
    race,
    registered_function,
    trigger_message,
)

AT_8 = f"{MONDAY}T08:00:00-06:00"
AT_10 = f"{MONDAY}T10:00:00-06:00"
AT_13 = f"{MONDAY}T13:00:00-06:00"
RANGE = {"from": f"{MONDAY}T00:00:00Z", "to": "2026-12-08T00:00:00Z"}


def _events(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{graph_sim.v1}/users/{host}/events",
        headers={**BEARER, "Prefer": 'outlook.timezone="UTC"'},
        params={"$expand": BOOKING_PROPERTY_EXPAND},
    )
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value


def _booking_ids(events: list[dict[str, Any]]) -> list[str]:
    return sorted(p["value"] for e in events for p in e.get("singleValueExtendedProperties", []))


def _busy(graph_sim: Any, host: str, start: str, end: str) -> None:
    r = httpx.post(
        f"{graph_sim.v1}/users/{host}/events",
        headers=BEARER,
        json={
            "subject": "dentist",
            "showAs": "busy",
            "start": {"dateTime": f"{MONDAY}T{start}:00", "timeZone": "Central Standard Time"},
            "end": {"dateTime": f"{MONDAY}T{end}:00", "timeZone": "Central Standard Time"},
        },
    )
    assert r.status_code == 201, r.text


def _appointment(dataverse: DataverseSim, booking_id: str) -> dict[str, Any]:
    return dataverse.row(
        "appointments",
        appointment_id(booking_id),
        **{"$expand": "appointment_activity_parties($select=participationtypemask,_partyid_value)"},
    )


def _organizer(appointment: dict[str, Any]) -> str | None:
    found = [
        p["_partyid_value"]
        for p in appointment["appointment_activity_parties"]
        if p["participationtypemask"] == 7
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def _reassign(app: Any, host: str, **body: Any) -> Any:
    return app.post(f"/admin/hosts/{host}/reassign", json_body={**RANGE, "reason": "Rep left", **body})


class Team:
    """A rep and three colleagues, each known to Dynamics."""

    def __init__(self, app: Any, graph_sim: Any, dataverse: DataverseSim) -> None:
        self.rep, self.single_mate, self.rr_mate, self.busy_mate = (
            new_host(app, graph_sim) for _ in range(4)
        )
        self.users = {
            h: dataverse.create_user(aad_object_id=h)
            for h in (self.rep, self.single_mate, self.rr_mate, self.busy_mate)
        }


@pytest.fixture
def team(app: Any, graph_sim: Any, dataverse: DataverseSim) -> Team:
    return Team(app, graph_sim, dataverse)


def test_reassign_moves_what_colleagues_can_take_lists_the_rest_and_changes_nothing_when_repeated(
    app: Any, graph_sim: Any, dataverse: DataverseSim, team: Team
) -> None:
    single = new_event_type(app, [team.rep, team.single_mate], title="Single")
    rule_set = "rr-" + uuid.uuid4().hex[:8]
    r = app.put(
        f"/admin/routing/{rule_set}",
        json_body={"rules": [{"name": "rr", "strategy": "roundRobin", "pool": [team.rep, team.rr_mate]}]},
    )
    assert r.status in (200, 201), r.body
    round_robin = new_event_type(
        app, [], title="Round robin", assignment="roundRobin", routingRuleSet=rule_set
    )
    only_busy = new_event_type(app, [team.rep, team.busy_mate], title="Only one other")
    _busy(graph_sim, team.busy_mate, "09:45", "11:00")

    booked = {}
    for slug, start in ((single, AT_8), (round_robin, AT_9), (only_busy, AT_10)):
        r = book(app, slug, start, hostId=team.rep)
        assert r.status == 201, r.body
        booked[slug] = r.json()
    assert _booking_ids(_events(graph_sim, team.rep)) == sorted(b["id"] for b in booked.values())

    r = _reassign(app, team.rep)
    assert r.status == 200, r.body
    answer = r.json()
    assert sorted((m["bookingId"], m["toHostId"]) for m in answer["moved"]) == sorted(
        [(booked[single]["id"], team.single_mate), (booked[round_robin]["id"], team.rr_mate)]
    )
    assert [u["bookingId"] for u in answer["unplaced"]] == [booked[only_busy]["id"]]
    assert answer["unplaced"][0]["why"] and answer["continuationToken"] is None

    for slug, mate in ((single, team.single_mate), (round_robin, team.rr_mate)):
        before = booked[slug]
        now = app.get(f"/bookings/{before['id']}").json()
        assert (now["hostIds"], now["version"], now["status"]) == ([mate], before["version"] + 1, "confirmed")
        assert now["routing"]["reassigned"]["from"] == team.rep and now["routing"]["strategy"] == "reassigned"
        events = _events(graph_sim, mate)
        assert _booking_ids(events) == [before["id"]]  # one event, in the new host's calendar
        assert [a["emailAddress"]["address"] for a in events[0]["attendees"]] == ["jo@fabrikam.com"]
        assert now["outlook"]["eventId"] == events[0]["id"] and now["outlook"]["syncStatus"] == "synced"
        appointment = _appointment(dataverse, before["id"])
        assert _organizer(appointment) == team.users[mate]
        assert appointment["_ownerid_value"] == team.users[mate]
        assert now["dynamics"]["syncStatus"] == "synced"
    # The old calendar keeps only the booking nobody could take; that booking is untouched.
    assert _booking_ids(_events(graph_sim, team.rep)) == [booked[only_busy]["id"]]
    untouched = app.get(f"/bookings/{booked[only_busy]['id']}").json()
    assert (untouched["hostIds"], untouched["version"]) == ([team.rep], booked[only_busy]["version"] + 0)
    assert _organizer(_appointment(dataverse, booked[only_busy]["id"])) == team.users[team.rep]
    appointments = dataverse.call("GET", "appointments", params={"$select": "activityid"}).json()["value"]
    assert sorted(a["activityid"] for a in appointments) == sorted(
        appointment_id(b["id"]) for b in booked.values()
    )
    assert {c.owner for c in claims(app, team.rep)} == {booked[only_busy]["id"]}

    again = _reassign(app, team.rep)
    assert again.status == 200 and again.json()["moved"] == []
    assert [u["bookingId"] for u in again.json()["unplaced"]] == [booked[only_busy]["id"]]
    for slug, mate in ((single, team.single_mate), (round_robin, team.rr_mate)):
        assert app.get(f"/bookings/{booked[slug]['id']}").json()["version"] == booked[slug]["version"] + 1
        assert len(_events(graph_sim, mate)) == 1


def test_reassign_to_a_named_host_pages_a_large_range_with_a_continuation_token(
    app: Any, graph_sim: Any, team: Team
) -> None:
    slug = new_event_type(app, [team.rep])
    ids = [
        book(app, slug, f"{MONDAY}T{h}:00:00-06:00", hostId=team.rep).json()["id"] for h in ("08", "09", "10")
    ]
    first = _reassign(app, team.rep, toHostId=team.single_mate, limit=2)
    assert first.status == 200, first.body
    assert [m["bookingId"] for m in first.json()["moved"]] == ids[:2]
    token = first.json()["continuationToken"]
    assert token
    second = _reassign(app, team.rep, toHostId=team.single_mate, limit=2, continuationToken=token)
    assert [m["bookingId"] for m in second.json()["moved"]] == ids[2:]
    assert second.json()["continuationToken"] is None
    listed = app.get("/bookings", params={"hostId": team.single_mate}).json()["items"]
    assert [b["id"] for b in listed] == ids
    assert app.get("/bookings", params={"hostId": team.rep}).json()["items"] == []


def test_deactivating_a_host_with_reassign_moves_their_future_bookings(
    app: Any, graph_sim: Any, team: Team
) -> None:
    slug = new_event_type(app, [team.rep, team.single_mate])
    b = book(app, slug, AT_9, hostId=team.rep).json()
    host = app.get(f"/admin/hosts/{team.rep}").json()
    doc = {k: v for k, v in host.items() if k != "id"} | {"active": False}
    r = app.put(f"/admin/hosts/{team.rep}", json_body=doc, params={"reassignFutureBookings": "true"})
    assert r.status == 200, r.body
    assert r.json()["active"] is False
    assert r.json()["reassignment"]["moved"] == [{"bookingId": b["id"], "toHostId": team.single_mate}]
    assert app.get(f"/bookings/{b['id']}").json()["hostIds"] == [team.single_mate]
    plain = app.put(f"/admin/hosts/{team.rep}", json_body=doc)
    assert plain.status == 200 and "reassignment" not in plain.json()


def test_bookings_racing_a_reassignment_never_overlap_on_a_host(app: Any, graph_sim: Any, team: Team) -> None:
    slug = new_event_type(app, [team.rep, team.single_mate])
    moving = book(app, slug, AT_9, hostId=team.rep).json()

    def act(i: int) -> Any:
        if i == 0:
            return _reassign(app, team.rep, toHostId=team.single_mate)
        start = (AT_9, f"{MONDAY}T08:30:00-06:00", f"{MONDAY}T09:30:00-06:00")[i % 3]
        return book(app, slug, start, hostId=team.single_mate)

    results = race(21, act)
    assert results[0].status == 200, results[0].body
    mate = app.get("/bookings", params={"hostId": team.single_mate, "status": "confirmed"}).json()["items"]
    spans = sorted((b["start"], b["end"]) for b in mate)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    entries = claims(app, team.single_mate)
    intervals = sorted((e.interval.start, e.interval.end) for e in entries)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(intervals)), intervals
    assert len(entries) == len(mate)
    moved = results[0].json()
    final = app.get(f"/bookings/{moving['id']}").json()
    if moved["moved"]:
        assert final["hostIds"] == [team.single_mate] and moving["id"] in [b["id"] for b in mate]
    else:
        assert [u["bookingId"] for u in moved["unplaced"]] == [moving["id"]] and final["hostIds"] == [
            team.rep
        ]
    assert sum(1 for r in results[1:] if r.status == 201) == len(mate) - (1 if moved["moved"] else 0)


# --- manager override ------------------------------------------------------------------------------------


def _override(*allow: str) -> dict[str, Any]:
    return {"reason": "VIP customer", "allow": list(allow)}


def test_override_lifts_only_the_listed_rules_with_the_admin_key(app: Any, graph_sim: Any) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host], minimumNoticeMinutes=60 * 24 * 30)
    admin = {"x-functions-key": ADMIN_KEY}
    refused = book(app, slug, AT_9)
    assert refused.status == 409 and refused.json()["code"] == "slot-unavailable"
    # Lifting the notice alone does not make 13:00 (outside working hours) bookable.
    outside = book(app, slug, AT_13, override=_override("minimumNotice"), headers=admin)
    assert outside.status == 409 and outside.json()["code"] == "slot-unavailable"
    r = book(app, slug, AT_13, override=_override("minimumNotice", "outsideWorkingHours"), headers=admin)
    assert r.status == 201, r.body
    assert r.json()["routing"]["override"] == {
        "reason": "VIP customer",
        "allow": ["minimumNotice", "outsideWorkingHours"],
    }
    assert app.get(f"/bookings/{r.json()['id']}").json()["routing"]["override"]["reason"] == "VIP customer"

    _busy(graph_sim, host, "10:00", "11:00")
    busy = book(app, slug, AT_10, override=_override("minimumNotice"), headers=admin)
    assert busy.status == 409
    r = book(app, slug, AT_10, override=_override("minimumNotice", "outlookBusy"), headers=admin)
    assert r.status == 201, r.body

    # Reschedule with an override: to 12:00 (outside hours), admin key only.
    moved = app.post(
        f"/bookings/{r.json()['id']}/reschedule",
        json_body={
            "start": f"{MONDAY}T12:00:00-06:00",
            "override": _override("minimumNotice", "outsideWorkingHours"),
        },
        headers=admin,
    )
    assert moved.status == 200, moved.body
    assert moved.json()["routing"]["override"]["allow"] == ["minimumNotice", "outsideWorkingHours"]


def test_override_with_the_api_key_is_forbidden(app: Any, graph_sim: Any) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host])
    r = book(
        app, slug, AT_13, override=_override("outsideWorkingHours"), headers={"x-functions-key": API_KEY}
    )
    assert r.status == 403 and r.json()["code"] == "forbidden"
    ok = book(app, slug, AT_9).json()
    r = app.post(
        f"/bookings/{ok['id']}/reschedule",
        json_body={"start": AT_13, "override": _override("outsideWorkingHours")},
        headers={"x-functions-key": API_KEY},
    )
    assert r.status == 403 and r.json()["code"] == "forbidden"
    assert app.get(f"/bookings/{ok['id']}").json()["start"] == AT_9  # not moved


def test_override_never_overlaps_a_booking_or_hold(app: Any, graph_sim: Any) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host])
    admin = {"x-functions-key": ADMIN_KEY}
    everything = _override("outsideWorkingHours", "outlookBusy", "caps", "minimumNotice", "bookingWindow")
    assert book(app, slug, AT_9).status == 201
    r = book(app, slug, AT_9, override=everything, headers=admin)
    assert r.status == 409 and r.json()["code"] == "slot-unavailable"
    hold = app.post("/holds", json_body={"eventType": slug, "start": AT_10})
    assert hold.status == 201, hold.body
    r = book(app, slug, AT_10, override=everything, headers=admin)
    assert r.status == 409 and r.json()["code"] == "slot-unavailable"
    assert len(app.get("/bookings", params={"hostId": host}).json()["items"]) == 1


def test_override_is_recorded_on_the_routing_decision_and_in_dynamics(
    app: Any, graph_sim: Any, dataverse: DataverseSim
) -> None:
    host = new_host(app, graph_sim)
    dataverse.create_user(aad_object_id=host)
    rule_set = "rr-" + uuid.uuid4().hex[:8]
    app.put(
        f"/admin/routing/{rule_set}",
        json_body={"rules": [{"name": "rr", "strategy": "roundRobin", "pool": [host]}]},
    )
    slug = new_event_type(app, [], assignment="roundRobin", routingRuleSet=rule_set)
    r = book(
        app, slug, AT_13, override=_override("outsideWorkingHours"), headers={"x-functions-key": ADMIN_KEY}
    )
    assert r.status == 201, r.body
    decision = app.get(f"/routing/decisions/{r.json()['routing']['decisionId']}").json()
    assert decision["override"] == {"reason": "VIP customer", "allow": ["outsideWorkingHours"]}
    description = _appointment(dataverse, r.json()["id"])["description"]
    assert "Manager override: VIP customer (lifted: outsideWorkingHours)" in description


# --- the Outlook move under failures ---------------------------------------------------------------------


def test_a_move_whose_create_failed_after_the_cancel_ends_with_one_event_on_the_new_calendar(
    app: Any, graph_sim: Any, team: Team
) -> None:
    slug = new_event_type(app, [team.rep])
    b = book(app, slug, AT_9, hostId=team.rep).json()
    assert _booking_ids(_events(graph_sim, team.rep)) == [b["id"]]
    # The first delivery's create on the new calendar fails at every attempt (5), after the old event was
    # cancelled: as if the process died between the cancel and the create. The bus delivers again.
    new_calendar = f"/users/{team.single_mate}/events"
    fault = httpx.post(
        f"{graph_sim.url}/_sim/faults",
        json={"status": 503, "count": 5, "method": "POST", "pathContains": new_calendar},
    )
    assert fault.status_code in (200, 201), fault.text
    r = _reassign(app, team.rep, toHostId=team.single_mate)
    assert r.status == 200 and [m["bookingId"] for m in r.json()["moved"]] == [b["id"]]
    creates = graph_sim.requests(path_contains=new_calendar, method="POST")
    assert [c["status"] for c in creates] == [503] * 5 + [201]
    events = _events(graph_sim, team.single_mate)
    assert _booking_ids(events) == [b["id"]] and _events(graph_sim, team.rep) == []
    assert [a["emailAddress"]["address"] for a in events[0]["attendees"]] == ["jo@fabrikam.com"]
    outlook = app.get(f"/bookings/{b['id']}").json()["outlook"]
    assert (outlook["eventId"], outlook["syncStatus"]) == (events[0]["id"], "synced")
    # A repeat of the message (Service Bus delivers at least once) changes nothing.
    reassigned = outbox_events(b["id"])[-1]
    assert reassigned.type == "booking.reassigned"
    # Subscribers hand the invitee's manage link on (api.md): the reassignment's snapshot carries it too.
    assert reassigned.data["booking"]["manageUrl"] == b["manageUrl"]
    registered_function("sync_outlook")(trigger_message(reassigned, delivery_count=3))
    assert (
        _booking_ids(_events(graph_sim, team.single_mate)) == [b["id"]] and _events(graph_sim, team.rep) == []
    )


def test_a_move_whose_create_answer_was_lost_adopts_the_event_and_makes_no_second(
    app: Any, graph_sim: Any, team: Team
) -> None:
    slug = new_event_type(app, [team.rep])
    b = book(app, slug, AT_9, hostId=team.rep).json()
    graph_sim.lose_answers(method="POST", path_contains=f"/users/{team.single_mate}/events")
    r = _reassign(app, team.rep, toHostId=team.single_mate)
    assert r.status == 200 and [m["bookingId"] for m in r.json()["moved"]] == [b["id"]]
    events = _events(graph_sim, team.single_mate)
    assert _booking_ids(events) == [b["id"]] and _events(graph_sim, team.rep) == []
    assert app.get(f"/bookings/{b['id']}").json()["outlook"]["eventId"] == events[0]["id"]


def test_override_lifts_caps_and_the_booking_window_only_when_listed(app: Any, graph_sim: Any) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host], maxBookingsPerHostPerDay=1, bookingWindowDays=5)
    admin = {"x-functions-key": ADMIN_KEY}
    beyond = book(app, slug, AT_9)  # 13 days ahead, the window is 5
    assert beyond.status == 409 and beyond.json()["code"] == "slot-unavailable"
    assert book(app, slug, AT_9, override=_override("bookingWindow"), headers=admin).status == 201
    capped = book(app, slug, AT_10, override=_override("bookingWindow"), headers=admin)
    assert capped.status == 409 and capped.json()["code"] == "slot-unavailable"  # one a day
    r = book(app, slug, AT_10, override=_override("bookingWindow", "caps"), headers=admin)
    assert r.status == 201, r.body
    assert r.json()["routing"]["override"]["allow"] == ["bookingWindow", "caps"]


def test_a_move_interrupted_before_the_index_was_repointed_is_found_and_finished_by_the_next_call(
    app: Any, graph_sim: Any, team: Team
) -> None:
    from bootstrap.composition import services

    slug = new_event_type(app, [team.rep])
    b = book(app, slug, AT_9, hostId=team.rep).json()
    assert _reassign(app, team.rep, toHostId=team.single_mate).json()["moved"] != []
    # The state a crash right after the move's commit leaves: the index still names the old host, whose
    # row is a pointer to the new one.
    index = services().tables.table("bookingindex")
    index.upsert_entity(
        {"PartitionKey": f"id|{b['id']}", "RowKey": "", "primaryHost": team.rep, "hostIds": f'["{team.rep}"]'}
    )
    slots = services().tables.table("hostslots")
    slots.update_entity({"PartitionKey": team.rep, "RowKey": f"b|{b['id']}", "status": "moved"}, mode="merge")
    assert app.get(f"/bookings/{b['id']}").json()["hostIds"] == [team.single_mate]  # through the pointer
    again = _reassign(app, team.rep, toHostId=team.single_mate)
    assert again.status == 200 and again.json() == {"moved": [], "unplaced": [], "continuationToken": None}
    assert index.get_entity(f"id|{b['id']}", "")["primaryHost"] == team.single_mate
    assert slots.get_entity(team.rep, f"b|{b['id']}")["status"] == "moved-settled"
    assert {c.owner for c in claims(app, team.single_mate)} == {b["id"]}
    assert claims(app, team.rep) == []


# --- co-hosts of collective bookings (issue 16) ----------------------------------------------------------


def test_reassigning_a_collective_co_host_moves_their_seat_and_keeps_the_first_host(
    app: Any, graph_sim: Any, dataverse: DataverseSim, team: Team
) -> None:
    first, co_host = sorted([team.rep, team.single_mate])  # a collective booking's hosts are in id order
    slug = new_event_type(app, [first, co_host], assignment="collective")
    b = book(app, slug, AT_9).json()
    assert b["hostIds"] == [first, co_host]
    assert [x["id"] for x in app.get("/bookings", params={"hostId": co_host}).json()["items"]] == [b["id"]]

    r = _reassign(app, co_host, toHostId=team.rr_mate)
    assert r.status == 200, r.body
    assert r.json() == {
        "moved": [{"bookingId": b["id"], "toHostId": team.rr_mate}],
        "unplaced": [],
        "continuationToken": None,
    }
    now = app.get(f"/bookings/{b['id']}").json()
    assert (now["hostIds"], now["version"], now["status"]) == (
        [first, team.rr_mate],
        b["version"] + 1,
        "confirmed",
    )
    # Claims: the new co-host holds the time, the old co-host no longer does, the first host is untouched.
    assert [(c.owner, c.kind) for c in claims(app, team.rr_mate)] == [(b["id"], ClaimKind.BOOKING)]
    assert claims(app, co_host) == []
    assert {c.owner for c in claims(app, first)} == {b["id"]}
    # Outlook: one event, on the first host's calendar, the new co-host attending instead of the old one.
    events = _events(graph_sim, first)
    assert _booking_ids(events) == [b["id"]]
    co_host_email = app.get(f"/admin/hosts/{co_host}").json()["email"]
    mate_email = app.get(f"/admin/hosts/{team.rr_mate}").json()["email"]
    assert sorted(a["emailAddress"]["address"] for a in events[0]["attendees"]) == sorted(
        [mate_email, "jo@fabrikam.com"]
    )
    assert co_host_email not in [a["emailAddress"]["address"] for a in events[0]["attendees"]]
    assert _events(graph_sim, team.rr_mate) == [] and _events(graph_sim, co_host) == []
    appointment = _appointment(dataverse, b["id"])
    assert _organizer(appointment) == team.users[first]
    required = [
        p["_partyid_value"]
        for p in appointment["appointment_activity_parties"]
        if p["participationtypemask"] == 5 and p["_partyid_value"] in team.users.values()
    ]
    assert required == [team.users[team.rr_mate]]  # the new co-host attends, the old one no longer
    # Listings by host follow the seat.
    assert app.get("/bookings", params={"hostId": co_host}).json()["items"] == []
    listed = app.get("/bookings", params={"hostId": team.rr_mate}).json()["items"]
    assert [(x["id"], x["hostIds"]) for x in listed] == [(b["id"], [first, team.rr_mate])]
    again = _reassign(app, co_host, toHostId=team.rr_mate)
    assert again.json() == {"moved": [], "unplaced": [], "continuationToken": None}


def test_deactivating_a_collective_co_host_lists_their_booking_nobody_can_take(
    app: Any, graph_sim: Any, team: Team
) -> None:
    first, co_host = sorted([team.rep, team.single_mate])
    slug = new_event_type(app, [first, co_host], assignment="collective")
    b = book(app, slug, AT_9).json()
    assert b["hostIds"] == [first, co_host]
    host = app.get(f"/admin/hosts/{co_host}").json()
    doc = {k: v for k, v in host.items() if k != "id"} | {"active": False}
    r = app.put(f"/admin/hosts/{co_host}", json_body=doc, params={"reassignFutureBookings": "true"})
    assert r.status == 200, r.body
    # Every other host of a collective event type is in the booking already: nobody can take the seat,
    # and the booking is listed, not passed over.
    assert r.json()["reassignment"]["moved"] == []
    assert [u["bookingId"] for u in r.json()["reassignment"]["unplaced"]] == [b["id"]]
    assert app.get(f"/bookings/{b['id']}").json()["hostIds"] == [first, co_host]


# --- moving a booking back to a host it had (issue 16) ---------------------------------------------------


def test_a_booking_moved_back_to_its_earlier_host_has_one_live_event_there_and_one_appointment(
    app: Any, graph_sim: Any, dataverse: DataverseSim, team: Team
) -> None:
    slug = new_event_type(app, [team.rep, team.single_mate])
    b = book(app, slug, AT_9, hostId=team.rep).json()
    first_event = app.get(f"/bookings/{b['id']}").json()["outlook"]["eventId"]
    assert _booking_ids(_events(graph_sim, team.rep)) == [b["id"]]

    away = _reassign(app, team.rep, toHostId=team.single_mate)
    assert away.json()["moved"] == [{"bookingId": b["id"], "toHostId": team.single_mate}], away.body
    back = _reassign(app, team.single_mate, toHostId=team.rep)
    assert back.json()["moved"] == [{"bookingId": b["id"], "toHostId": team.rep}], back.body

    now = app.get(f"/bookings/{b['id']}").json()
    assert (now["hostIds"], now["version"], now["status"]) == ([team.rep], b["version"] + 2, "confirmed")
    # Outlook: one live event on the rep's calendar (a new one: the first was cancelled on the way out),
    # with the invitee; none on the colleague's.
    events = _events(graph_sim, team.rep)
    assert _booking_ids(events) == [b["id"]]
    assert events[0]["id"] != first_event and events[0]["isCancelled"] is False
    assert [a["emailAddress"]["address"] for a in events[0]["attendees"]] == ["jo@fabrikam.com"]
    assert (now["outlook"]["eventId"], now["outlook"]["syncStatus"]) == (events[0]["id"], "synced")
    assert _events(graph_sim, team.single_mate) == []
    # Dataverse: still one appointment, the rep its organizer and owner again.
    appointment = _appointment(dataverse, b["id"])
    assert (_organizer(appointment), appointment["_ownerid_value"]) == (team.users[team.rep],) * 2
    assert now["dynamics"]["syncStatus"] == "synced"
    appointments = dataverse.call("GET", "appointments", params={"$select": "activityid"}).json()["value"]
    assert [a["activityid"] for a in appointments] == [appointment_id(b["id"])]
    assert {c.owner for c in claims(app, team.rep)} == {b["id"]} and claims(app, team.single_mate) == []


def test_a_move_back_whose_create_answer_was_lost_adopts_the_live_event_not_a_cancelled_one(
    app: Any, graph_sim: Any, team: Team
) -> None:
    slug = new_event_type(app, [team.rep, team.single_mate])
    b = book(app, slug, AT_9, hostId=team.rep).json()
    assert _reassign(app, team.rep, toHostId=team.single_mate).json()["moved"] != []
    # The rep's calendar shows a cancelled event stamped with the booking (as Outlook shows a cancelled
    # meeting until it is removed), made before the move back.
    r = httpx.post(
        f"{graph_sim.v1}/users/{team.rep}/events",
        headers=BEARER,
        json={
            "subject": "Canceled: Call",
            "isCancelled": True,
            "start": {"dateTime": f"{MONDAY}T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"{MONDAY}T15:30:00", "timeZone": "UTC"},
            "singleValueExtendedProperties": [{"id": BOOKING_PROPERTY_ID, "value": b["id"]}],
        },
    )
    assert r.status_code == 201, r.text
    cancelled = r.json()["id"]
    graph_sim.lose_answers(method="POST", path_contains=f"/users/{team.rep}/events")
    assert _reassign(app, team.single_mate, toHostId=team.rep).json()["moved"] != []
    live = [e for e in _events(graph_sim, team.rep) if not e["isCancelled"]]
    assert _booking_ids(live) == [b["id"]] and live[0]["id"] != cancelled
    outlook = app.get(f"/bookings/{b['id']}").json()["outlook"]
    assert (outlook["eventId"], outlook["syncStatus"]) == (live[0]["id"], "synced")
