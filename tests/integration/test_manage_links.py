"""Invitee manage links through the real functions (api.md, "Self-service: manage links"): the token,
the policy (`selfService`), and that a change through the link is the same atomic change as the keyed
API's: one booking, one Outlook event, one Dataverse appointment, with the invitee's reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from scheduling_core.domain.bookings import appointment_id
from scheduling_core.domain.outlook import BOOKING_PROPERTY_EXPAND
from tests.fixtures.dataverse import DataverseSim

from .scenario import AT_9, BEARER, MONDAY, book, claims, new_event_type, new_host, outbox_events, race

AT_10 = f"{MONDAY}T10:00:00-06:00"
AT_11 = f"{MONDAY}T11:00:00-06:00"
BASE = "http://localhost:7071/api/manage/"  # no PUBLIC_BASE_URL in the test settings: the local default


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return new_host(app, graph_sim)


def _token(booking: dict[str, Any]) -> str:
    url = booking["manageUrl"]
    assert url.startswith(BASE), url
    return str(url[len(BASE) :])


def _events(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{graph_sim.v1}/users/{host}/events",
        headers={**BEARER, "Prefer": 'outlook.timezone="UTC"'},
        params={"$expand": BOOKING_PROPERTY_EXPAND},
    )
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value


def _sent(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{graph_sim.v1}/users/{host}/mailFolders/sentitems/messages", headers=BEARER)
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value


def _page_headers(response: Any) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_every_booking_answer_carries_a_manage_url_whose_page_and_view_show_the_booking(
    app: Any, host: str
) -> None:
    slug = new_event_type(app, [host], title="Discovery call")
    created = book(app, slug, AT_9)
    assert created.status == 201, created.body
    token = _token(created.json())
    assert app.get(f"/bookings/{created.json()['id']}").json()["manageUrl"] == created.json()["manageUrl"]
    view = app.get(f"/manage/{token}/booking", key=None)
    assert view.status == 200, view.body
    _page_headers(view)
    assert view.json() == {
        "id": created.json()["id"],
        "status": "confirmed",
        "eventType": slug,
        "title": "Discovery call",
        "start": "2026-12-07T09:00:00-06:00",
        "end": "2026-12-07T09:30:00-06:00",
        "timeZone": "America/Chicago",
        "location": {"kind": "teams", "label": "Microsoft Teams meeting", "value": None},
        "joinUrl": view.json()["joinUrl"],
        "canCancel": True,
        "canReschedule": True,
        "cutoffAt": "2026-12-07T09:00:00-06:00",
        "requireReason": False,
    }
    assert view.json()["joinUrl"].startswith("https://")
    page = app.get(f"/manage/{token}", key=None)
    assert page.status == 200 and page.content_type.startswith("text/html")
    _page_headers(page)
    assert b"Discovery call" in page.body and b"/api/book/assets/manage.js?v=" in page.body
    assert f'"api":"/api/manage/{token}"'.encode() in page.body


def test_an_altered_or_unknown_token_is_not_found_everywhere_with_the_page_headers(
    app: Any, host: str
) -> None:
    slug = new_event_type(app, [host])
    token = _token(book(app, slug, AT_9).json())
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, "A" * 38, "not-a-token", token[:-1]):
        for method, path, body in (
            ("GET", f"/manage/{bad}/booking", None),
            ("GET", f"/manage/{bad}/slots?start={MONDAY}&end={MONDAY}", None),
            ("POST", f"/manage/{bad}/reschedule", {"start": AT_10}),
            ("POST", f"/manage/{bad}/cancel", {}),
        ):
            r = app.request(method, path, json_body=body, key=None)
            assert (r.status, r.json()["code"]) == (404, "not-found"), (bad, path)
            _page_headers(r)
        page = app.get(f"/manage/{bad}", key=None)
        assert page.status == 404 and page.content_type.startswith("text/html")
        _page_headers(page)


def test_a_reschedule_through_the_link_moves_the_same_booking_one_event_and_one_appointment(
    app: Any, graph_sim: Any, host: str, dataverse: DataverseSim
) -> None:
    slug = new_event_type(app, [host], title="Discovery call")
    created = book(app, slug, AT_9).json()
    token = _token(created)
    slots = app.get(f"/manage/{token}/slots", params={"start": MONDAY, "end": MONDAY}, key=None)
    assert slots.status == 200, slots.body
    starts = [s["start"] for s in slots.json()["slots"]]
    assert AT_10 in starts and AT_9 not in starts  # its own time is not a move
    assert slots.json()["timeZone"] == "America/Chicago"  # the booking's zone unless asked otherwise
    moved = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10, "reason": "Clash"}, key=None)
    assert moved.status == 200, moved.body
    assert (moved.json()["id"], moved.json()["start"]) == (created["id"], AT_10)
    stored = app.get(f"/bookings/{created['id']}").json()
    assert stored["version"] == 2 and stored["manageUrl"] == created["manageUrl"]  # survives the move
    assert stored["metadata"] == {"lastRescheduleReason": "Clash", "lastRescheduleBy": "invitee"}
    events = _events(graph_sim, host)
    assert len(events) == 1 and events[0]["id"] == stored["outlook"]["eventId"]
    assert events[0]["start"]["dateTime"].startswith("2026-12-07T16:00:00")
    assert created["manageUrl"] in events[0]["body"]["content"]  # the invitation carries the link
    appointments = dataverse.call("GET", "appointments", params={"$select": "activityid"}).json()["value"]
    assert [a["activityid"] for a in appointments] == [appointment_id(created["id"])]
    appointment = dataverse.row("appointments", appointment_id(created["id"]))
    assert appointment["scheduledstart"].startswith("2026-12-07T16:00:00")
    assert "Rescheduled by invitee: Clash" in appointment["description"]


def test_a_cancel_with_a_reason_is_by_the_invitee_in_the_booking_outlook_and_dataverse(
    app: Any, graph_sim: Any, host: str, dataverse: DataverseSim
) -> None:
    slug = new_event_type(app, [host])
    created = book(app, slug, AT_9).json()
    token = _token(created)
    cancelled = app.post(f"/manage/{token}/cancel", json_body={"reason": "No longer needed"}, key=None)
    assert cancelled.status == 200, cancelled.body
    assert cancelled.json()["status"] == "cancelled"
    assert (cancelled.json()["canCancel"], cancelled.json()["canReschedule"]) == (False, False)
    stored = app.get(f"/bookings/{created['id']}").json()
    assert stored["cancellation"]["by"] == "invitee"
    assert stored["cancellation"]["reason"] == "No longer needed"
    assert _events(graph_sim, host) == []
    [message] = _sent(graph_sim, host)
    assert message["meetingMessageType"] == "meetingCancelled"
    assert message["body"]["content"] == "No longer needed"
    assert [r["emailAddress"]["address"] for r in message["toRecipients"]] == ["jo@fabrikam.com"]
    appointment = dataverse.row("appointments", appointment_id(created["id"]))
    assert appointment["statecode"] == 2  # canceled
    assert "Cancelled by invitee: No longer needed" in appointment["description"]


def test_after_a_cancel_the_link_refuses_changes_and_a_second_cancel_changes_nothing(
    app: Any, host: str
) -> None:
    slug = new_event_type(app, [host])
    created = book(app, slug, AT_9).json()
    token = _token(created)
    assert app.post(f"/manage/{token}/cancel", json_body={}, key=None).status == 200
    again = app.post(f"/manage/{token}/cancel", json_body={"reason": "twice"}, key=None)
    assert again.status == 200 and again.json()["status"] == "cancelled"
    moved = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10}, key=None)
    assert (moved.status, moved.json()["code"]) == (409, "booking-not-modifiable")
    slots = app.get(f"/manage/{token}/slots", params={"start": MONDAY, "end": MONDAY}, key=None)
    assert slots.status == 409
    stored = app.get(f"/bookings/{created['id']}").json()
    assert stored["version"] == 2 and stored["cancellation"]["reason"] is None


def test_inside_the_cutoff_changes_are_409_self_service_closed_and_nothing_changes(
    app: Any, graph_sim: Any, host: str
) -> None:
    # The clock reads 2026-11-24 12:00Z; the booking starts 2026-12-07 15:00Z, 13 days and 3 hours later.
    slug = new_event_type(app, [host], selfService={"cutoffMinutes": 14 * 24 * 60})
    created = book(app, slug, AT_9).json()
    token = _token(created)
    view = app.get(f"/manage/{token}/booking", key=None).json()
    assert (view["canCancel"], view["canReschedule"]) == (False, False)
    assert view["cutoffAt"] == "2026-11-23T09:00:00-06:00"
    before = _events(graph_sim, host)
    for path, body in (("reschedule", {"start": AT_10}), ("cancel", {"reason": "late"})):
        r = app.post(f"/manage/{token}/{path}", json_body=body, key=None)
        assert (r.status, r.json()["code"]) == (409, "self-service-closed"), path
    stored = app.get(f"/bookings/{created['id']}").json()
    assert (stored["version"], stored["status"], stored["start"]) == (1, "confirmed", AT_9)
    assert _events(graph_sim, host) == before


def test_the_policy_denies_actions_and_asks_for_a_reason_when_it_must(app: Any, host: str) -> None:
    slug = new_event_type(
        app, [host], selfService={"allowCancel": False, "requireReason": True, "reschedule": "sameHost"}
    )
    token = _token(book(app, slug, AT_9).json())
    cancel = app.post(f"/manage/{token}/cancel", json_body={"reason": "x"}, key=None)
    assert (cancel.status, cancel.json()["code"]) == (409, "self-service-closed")
    silent = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10}, key=None)
    assert (silent.status, silent.json()["code"]) == (422, "validation-failed")
    assert silent.json()["errors"] == [{"field": "reason", "message": "required by this event type"}]
    moved = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10, "reason": "ok"}, key=None)
    assert moved.status == 200 and moved.json()["requireReason"] is True


def test_same_host_never_offers_another_hosts_free_times(app: Any, graph_sim: Any) -> None:
    ana, ben = new_host(app, graph_sim), new_host(app, graph_sim)
    slug = new_event_type(app, [ana, ben], assignment="roundRobin")
    graph_sim.post_event(
        ana,
        start=datetime(2026, 12, 7, 16, 0, tzinfo=UTC),  # 10:00-11:00 Chicago: Ana is busy, Ben is free
        end=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
    )
    created = book(app, slug, AT_9, hostId=ana).json()
    assert created["hostIds"] == [ana]
    params = {"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    pool = app.get("/slots", params=params).json()["slots"]
    assert any(s["start"].startswith("2026-12-07T10:00") and s["hostIds"] == [ben] for s in pool)
    token = _token(created)
    offered = app.get(f"/manage/{token}/slots", params={"start": MONDAY, "end": MONDAY}, key=None).json()
    starts = [s["start"][11:16] for s in offered["slots"]]
    assert starts == ["08:00", "08:30", "09:30", "11:00", "11:30"]  # never Ben's 10:00 or 10:30
    refused = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10}, key=None)
    assert (refused.status, refused.json()["code"]) == (409, "slot-unavailable")
    assert app.get(f"/bookings/{created['id']}").json()["hostIds"] == [ana]


def test_the_booking_page_confirmation_carries_the_manage_url(app: Any, host: str) -> None:
    slug = new_event_type(app, [host], public=True)
    hold = app.post(
        f"/book/{slug}/holds", json_body={"start": AT_11, "timeZone": "America/Chicago"}, key=None
    ).json()
    body = {
        "start": AT_11,
        "timeZone": "America/Chicago",
        "holdId": hold["id"],
        "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com"},
    }
    r = app.post(f"/book/{slug}/bookings", json_body=body, key=None)
    assert r.status == 201, r.body
    token = _token(r.json())
    assert app.get(f"/manage/{token}/booking", key=None).json()["id"] == r.json()["id"]


def test_every_event_snapshot_webhooks_and_the_outlook_sync_receive_carries_the_manage_url(
    app: Any, host: str
) -> None:
    slug = new_event_type(app, [host])
    created = book(app, slug, AT_9).json()
    token = _token(created)
    app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10}, key=None)
    app.post(f"/manage/{token}/cancel", json_body={"reason": "bye"}, key=None)
    events = outbox_events(created["id"])
    assert [e.type for e in events] == ["booking.created", "booking.rescheduled", "booking.cancelled"]
    assert {e.data["booking"]["manageUrl"] for e in events} == {created["manageUrl"]}
    assert events[-1].data["booking"]["cancellation"]["by"] == "invitee"


def test_the_manage_url_follows_public_base_url(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://sched.contoso.com/api/")
    install_services(build_services(Settings.from_env(os.environ), clock))
    created = book(app, new_event_type(app, [host]), AT_9).json()
    url = urlsplit(created["manageUrl"])
    assert (url.scheme, url.netloc, url.path.rsplit("/", 1)[0]) == (
        "https",
        "sched.contoso.com",
        "/api/manage",
    )


# ---- `selfService.reschedule: "reroute"`: routing decides again (docs/decisions.md, issue 14) ------------

AT_8 = f"{MONDAY}T08:00:00-06:00"
EVERY_START = ["08:00", "08:30", "09:30", "10:00", "10:30", "11:00", "11:30"]  # all but its own 09:00


def _booking_events(events: list[dict[str, Any]], booking_id: str) -> list[dict[str, Any]]:
    """The Outlook events of one booking (found by the booking id property the sync writes)."""
    return [
        e for e in events if any(p["value"] == booking_id for p in e.get("singleValueExtendedProperties", []))
    ]


def _organizer(dataverse: DataverseSim, booking_id: str) -> tuple[str | None, str]:
    """The appointment's organizer party and owner."""
    row = dataverse.row(
        "appointments",
        appointment_id(booking_id),
        **{"$expand": "appointment_activity_parties($select=participationtypemask,_partyid_value)"},
    )
    organizers = [
        p["_partyid_value"] for p in row["appointment_activity_parties"] if p["participationtypemask"] == 7
    ]
    assert len(organizers) <= 1, organizers
    return (organizers[0] if organizers else None), row["_ownerid_value"]


class Pair:
    """Ana and Ben, both known to Dynamics; Ana is busy 10:00-11:00 Chicago on Monday, Ben is free."""

    def __init__(self, app: Any, graph_sim: Any, dataverse: DataverseSim) -> None:
        self.ana, self.ben = new_host(app, graph_sim), new_host(app, graph_sim)
        self.users = {h: dataverse.create_user(aad_object_id=h) for h in (self.ana, self.ben)}
        graph_sim.post_event(
            self.ana,
            start=datetime(2026, 12, 7, 16, 0, tzinfo=UTC),
            end=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
        )


@pytest.fixture
def pair(app: Any, graph_sim: Any, dataverse: DataverseSim) -> Pair:
    return Pair(app, graph_sim, dataverse)


def _reroute_type(app: Any, pair: Pair, **fields: Any) -> str:
    return new_event_type(
        app,
        [pair.ana, pair.ben],
        assignment="roundRobin",
        selfService={"reschedule": "reroute"},
        **fields,
    )


def _offered(app: Any, token: str) -> list[str]:
    r = app.get(f"/manage/{token}/slots", params={"start": MONDAY, "end": MONDAY}, key=None)
    assert r.status == 200, r.body
    return [s["start"][11:16] for s in r.json()["slots"]]


def test_reroute_offers_a_colleagues_time_and_moving_there_reassigns_the_same_booking(
    app: Any, graph_sim: Any, dataverse: DataverseSim, pair: Pair
) -> None:
    slug = _reroute_type(app, pair)
    created = book(app, slug, AT_9, hostId=pair.ana).json()
    token = _token(created)
    assert _offered(app, token) == EVERY_START  # 10:00 and 10:30 only Ben can take

    moved = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10, "reason": "Clash"}, key=None)
    assert moved.status == 200, moved.body
    assert (moved.json()["id"], moved.json()["start"]) == (created["id"], AT_10)
    stored = app.get(f"/bookings/{created['id']}").json()
    assert (stored["hostIds"], stored["version"], stored["start"]) == ([pair.ben], 2, AT_10)
    assert stored["manageUrl"] == created["manageUrl"]
    assert stored["metadata"] == {"lastRescheduleReason": "Clash", "lastRescheduleBy": "invitee"}
    reassigned = stored["routing"]["reassigned"]
    assert (reassigned["from"], reassigned["to"], reassigned["reason"]) == (pair.ana, pair.ben, "Clash")
    assert stored["routing"]["strategy"] == "rerouted"
    events = outbox_events(created["id"])
    assert [e.type for e in events] == ["booking.created", "booking.reassigned"]
    assert events[-1].data["booking"]["routing"]["reassigned"]["by"] == "invitee"
    assert events[-1].data["booking"]["start"] == "2026-12-07T16:00:00+00:00"
    assert events[-1].data["booking"]["manageUrl"] == created["manageUrl"]
    # One Outlook event, on Ben's calendar at the new time; none left on Ana's.
    assert _booking_events(_events(graph_sim, pair.ana), created["id"]) == []
    [event] = _booking_events(_events(graph_sim, pair.ben), created["id"])
    assert event["start"]["dateTime"].startswith("2026-12-07T16:00:00")
    assert stored["outlook"]["eventId"] == event["id"] and stored["outlook"]["syncStatus"] == "synced"
    # One Dataverse appointment, same id, with Ben as organizer and owner, at the new time.
    appointments = dataverse.call("GET", "appointments", params={"$select": "activityid"}).json()["value"]
    assert [a["activityid"] for a in appointments] == [appointment_id(created["id"])]
    assert _organizer(dataverse, created["id"]) == (pair.users[pair.ben], pair.users[pair.ben])
    appointment = dataverse.row("appointments", appointment_id(created["id"]))
    assert appointment["scheduledstart"].startswith("2026-12-07T16:00:00")
    assert {c.owner for c in claims(app, pair.ana)} == set()
    assert [(c.owner, c.start) for c in claims(app, pair.ben)] == [
        (created["id"], datetime(2026, 12, 7, 16, 0, tzinfo=UTC))
    ]


def test_reroute_to_a_time_the_own_host_is_free_is_a_plain_reschedule(
    app: Any, graph_sim: Any, pair: Pair
) -> None:
    slug = _reroute_type(app, pair)
    created = book(app, slug, AT_9, hostId=pair.ana).json()
    token = _token(created)
    [first] = _booking_events(_events(graph_sim, pair.ana), created["id"])
    moved = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_11}, key=None)
    assert moved.status == 200, moved.body
    stored = app.get(f"/bookings/{created['id']}").json()
    assert (stored["hostIds"], stored["version"], stored["start"]) == ([pair.ana], 2, AT_11)
    assert stored["routing"] == created["routing"]  # no new decision: the booking stays where it was
    assert [e.type for e in outbox_events(created["id"])] == ["booking.created", "booking.rescheduled"]
    [now] = _booking_events(_events(graph_sim, pair.ana), created["id"])
    assert now["id"] == first["id"] and now["start"]["dateTime"].startswith("2026-12-07T17:00:00")
    assert _booking_events(_events(graph_sim, pair.ben), created["id"]) == []


def test_reroute_never_offers_or_takes_a_time_no_host_is_free(app: Any, graph_sim: Any, pair: Pair) -> None:
    slug = _reroute_type(app, pair)
    created = book(app, slug, AT_9, hostId=pair.ana).json()
    assert book(app, slug, AT_10, hostId=pair.ben).status == 201  # Ben's 10:00 is taken too
    token = _token(created)
    assert _offered(app, token) == ["08:00", "08:30", "09:30", "10:30", "11:00", "11:30"]
    refused = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_10}, key=None)
    assert (refused.status, refused.json()["code"]) == (409, "slot-unavailable")
    stored = app.get(f"/bookings/{created['id']}").json()
    assert (stored["hostIds"], stored["version"], stored["start"]) == ([pair.ana], 1, AT_9)
    assert [e.type for e in outbox_events(created["id"])] == ["booking.created"]


def test_two_invitees_rerouting_onto_the_one_free_colleague_at_once_never_double_book_him(
    app: Any, pair: Pair
) -> None:
    slug = _reroute_type(app, pair)
    first = book(app, slug, AT_8, hostId=pair.ana).json()
    second = book(app, slug, AT_9, hostId=pair.ana).json()
    tokens = [_token(first), _token(second)]
    results = race(
        2,
        lambda i: app.post(f"/manage/{tokens[i]}/reschedule", json_body={"start": AT_10}, key=None).status,
    )
    assert sorted(results) == [200, 409]
    moved = [b for b in (first, second) if app.get(f"/bookings/{b['id']}").json()["hostIds"] == [pair.ben]]
    assert len(moved) == 1
    assert [c.owner for c in claims(app, pair.ben)] == [moved[0]["id"]]
    loser = second if moved[0] is first else first
    assert app.get(f"/bookings/{loser['id']}").json()["version"] == 1


def test_reroute_offers_only_the_hosts_the_rule_set_picks_and_stores_the_new_decision(
    app: Any, graph_sim: Any, pair: Pair
) -> None:
    carl = new_host(app, graph_sim)  # free all Monday, but not in the rule set's pool
    rule_set = "rr-" + uuid.uuid4().hex[:8]
    rules = [{"name": "rr", "strategy": "roundRobin", "pool": [pair.ana, pair.ben]}]
    assert app.put(f"/admin/routing/{rule_set}", json_body={"rules": rules}).status in (200, 201)
    slug = new_event_type(
        app,
        [],
        assignment="roundRobin",
        routingRuleSet=rule_set,
        selfService={"reschedule": "reroute"},
    )
    created = book(app, slug, AT_9, hostId=carl).json()  # a manager put it on Carl by hand
    token = _token(created)
    assert _offered(app, token) == EVERY_START
    # Carl is free at 08:00, but routing would not pick him: the booking leaves him for a pool host.
    moved = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_8}, key=None)
    assert moved.status == 200, moved.body
    stored = app.get(f"/bookings/{created['id']}").json()
    assert stored["hostIds"][0] in (pair.ana, pair.ben) and stored["version"] == 2
    decision = app.get(f"/routing/decisions/{stored['routing']['decisionId']}")
    assert decision.status == 200, decision.body
    assert decision.json()["decision"]["ruleSet"] == rule_set
    assert (stored["routing"]["ruleSet"], stored["routing"]["rule"]) == (rule_set, "rr")
    # The rule set now yields nobody for this booking (its rule asks for an account): no slots, no move.
    empty = [{**rules[0], "when": {"recordType": ["account"]}}]
    assert app.put(f"/admin/routing/{rule_set}", json_body={"rules": empty}).status in (200, 201)
    assert _offered(app, token) == []
    refused = app.post(f"/manage/{token}/reschedule", json_body={"start": AT_11}, key=None)
    assert (refused.status, refused.json()["code"]) == (409, "slot-unavailable")
