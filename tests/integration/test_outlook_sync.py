"""sync-outlook end to end: bookings through the real functions, events through the local topic into the
real trigger, Azurite for state, the Graph simulator over HTTP for the hosts' calendars."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from scheduling_core.domain.outlook import BOOKING_PROPERTY_EXPAND, BOOKING_PROPERTY_ID

from .scenario import (
    AT_9,
    BEARER,
    MONDAY,
    book,
    local_topic,
    new_event_type,
    new_host,
    outbox_events,
    registered_function,
    trigger_message,
)

AT_10 = f"{MONDAY}T10:00:00-06:00"


def _events(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{graph_sim.v1}/users/{host}/events",
        headers={**BEARER, "Prefer": 'outlook.timezone="UTC"'},
        params={"$expand": BOOKING_PROPERTY_EXPAND},
    )
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value


def _utc(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["dateTime"]).replace(tzinfo=UTC)


def _booking(app: Any, booking_id: str) -> dict[str, Any]:
    got: dict[str, Any] = app.get(f"/bookings/{booking_id}").json()
    return got


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return new_host(app, graph_sim)


def test_a_booking_becomes_one_event_with_the_invitee_teams_link_and_booking_id(
    app: Any, graph_sim: Any, host: str
) -> None:
    slug = new_event_type(app, [host], title="Discovery call")
    b = book(app, slug, AT_9).json()
    events = _events(graph_sim, host)
    assert len(events) == 1
    event = events[0]
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["jo@fabrikam.com"]
    assert event["isOnlineMeeting"] is True and event["onlineMeeting"]["joinUrl"].startswith("https://")
    assert event["singleValueExtendedProperties"] == [{"id": BOOKING_PROPERTY_ID, "value": b["id"]}]
    assert event["transactionId"] == b["id"] and event["subject"] == "Discovery call with Jo Doe"
    assert _utc(event["start"]) == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    outlook = _booking(app, b["id"])["outlook"]
    assert outlook == {
        "eventId": event["id"],
        "joinUrl": event["onlineMeeting"]["joinUrl"],
        "syncStatus": "synced",
        "drift": None,
    }


def test_three_reschedules_move_the_same_event_to_the_last_time(app: Any, graph_sim: Any, host: str) -> None:
    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    event_id = _booking(app, b["id"])["outlook"]["eventId"]
    for start in (AT_10, f"{MONDAY}T09:30:00-06:00", f"{MONDAY}T11:00:00-06:00"):
        r = app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": start})
        assert r.status == 200, r.body
    events = _events(graph_sim, host)
    assert [e["id"] for e in events] == [event_id]
    assert _utc(events[0]["start"]) == datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "synced"


def test_a_reschedule_overlapping_the_old_time_is_not_blocked_by_its_own_event(
    app: Any, graph_sim: Any, host: str
) -> None:
    slug = new_event_type(app, [host], slotIntervalMinutes=15)
    b = book(app, slug, AT_9).json()
    r = app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": f"{MONDAY}T09:15:00-06:00"})
    assert r.status == 200, r.body


def test_cancelling_cancels_the_event_with_the_reason(app: Any, graph_sim: Any, host: str) -> None:
    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    event_id = _booking(app, b["id"])["outlook"]["eventId"]
    graph_sim.clear_requests()
    assert app.post(f"/bookings/{b['id']}/cancel", json_body={"reason": "Customer asked"}).status == 200
    cancels = graph_sim.requests(path_contains=f"/events/{event_id}/cancel", method="POST")
    assert [r["status"] for r in cancels] == [202]
    assert _events(graph_sim, host) == []  # the organizer's copy leaves the calendar
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "synced"


def test_a_collective_booking_is_one_event_on_the_first_hosts_calendar(app: Any, graph_sim: Any) -> None:
    hosts = sorted([new_host(app, graph_sim), new_host(app, graph_sim)])
    slug = new_event_type(app, hosts, assignment="collective")
    b = book(app, slug, AT_9).json()
    organizer_events = _events(graph_sim, b["hostIds"][0])
    assert len(organizer_events) == 1
    attendees = {a["emailAddress"]["address"] for a in organizer_events[0]["attendees"]}
    assert attendees == {f"{b['hostIds'][1][:8]}@contoso.com", "jo@fabrikam.com"}


def test_a_repeated_message_makes_no_second_event(app: Any, graph_sim: Any, host: str) -> None:
    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    created = outbox_events(b["id"])[0]
    sync = registered_function("sync_outlook")
    sync(trigger_message(created, delivery_count=1))
    sync(trigger_message(created, delivery_count=2))
    assert len(_events(graph_sim, host)) == 1


def test_a_crash_after_graph_accepted_the_create_is_adopted_on_redelivery(
    app: Any, graph_sim: Any, host: str
) -> None:
    from bootstrap.composition import services
    from scheduling_core.domain.events import booking_event
    from scheduling_core.domain.outlook import new_event
    from scheduling_core.ports import OutlookLink
    from scheduling_core.services.outlook_sync import meeting_source

    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    # Another booking id on the same host: the state a crash right after Graph's 201 leaves behind is
    # the create attempt recorded, the event in Outlook, and nothing else known.
    snapshot = {**b, "id": "bk_crashed0000000000000000", "start": f"{MONDAY}T17:00:00+00:00"}
    snapshot["end"] = f"{MONDAY}T17:30:00+00:00"
    event = booking_event(
        booking=snapshot, event_type="booking.created", time=datetime.now(UTC), traceparent=None
    )
    svc = services()
    meeting = meeting_source(event, {host: f"{host[:8]}@contoso.com"})
    svc.outlook_links.put(
        OutlookLink(booking_id=meeting.booking_id, mailbox=host, create_attempted_at=datetime.now(UTC))
    )
    accepted = svc.calendars.create_event(host, new_event(meeting, None))
    assert len(_events(graph_sim, host)) == 2
    graph_sim.clear_requests()
    outcome = svc.outlook_sync.apply(event, delivery_count=2)
    assert outcome == "synced"  # (that booking has no row here: its status is only logged)
    assert len(_events(graph_sim, host)) == 2
    assert graph_sim.requests(path_contains=f"/users/{host}/events", method="POST") == []
    assert svc.outlook_links.get(meeting.booking_id).event_id == accepted.id  # type: ignore[union-attr]


def test_throttling_and_unavailability_during_sync_are_retried(app: Any, graph_sim: Any, host: str) -> None:
    graph_sim.add_fault(429, count=1, retry_after=0, path_contains=f"/users/{host}/events", method="POST")
    graph_sim.add_fault(503, count=1, retry_after=0, path_contains=f"/users/{host}/events", method="POST")
    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "synced"
    assert len(_events(graph_sim, host)) == 1
    statuses = [r["status"] for r in graph_sim.requests(path_contains=f"/users/{host}/events", method="POST")]
    assert statuses == [429, 503, 201]


def test_exhausted_retries_mark_the_booking_failed_and_dead_letter_the_message(
    app: Any, graph_sim: Any, host: str
) -> None:
    from bootstrap.composition import services

    graph_sim.add_fault(503, count=10_000, retry_after=0, path_contains=f"/users/{host}/events")
    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()  # every delivery fails, and Service Bus redelivers each at once
    max_count = services().outlook_sync.max_delivery_count
    outlook = _booking(app, b["id"])["outlook"]
    assert outlook["syncStatus"] == "failed"
    assert "503" in outlook["error"] and f"after {max_count} deliveries" in outlook["error"]
    letters = [(d.function, d.message_id, d.reason) for d in local_topic().dead_letters]
    assert ("sync_outlook", f"{b['id']}:1", "MaxDeliveryCountExceeded") in letters
    graph_sim.clear_faults()


def test_the_handler_marks_failed_only_on_the_last_delivery(app: Any, graph_sim: Any, host: str) -> None:
    from bootstrap.composition import services
    from scheduling_core.errors import UpstreamUnavailable

    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": AT_10})
    moved = outbox_events(b["id"])[-1]
    graph_sim.add_fault(503, count=10_000, retry_after=0, path_contains=f"/users/{host}/events")
    sync = registered_function("sync_outlook")
    # As if version 2 had not been applied yet.
    services().tables.table("syncstate").delete_entity("outlook", b["id"])
    with pytest.raises(UpstreamUnavailable):
        sync(trigger_message(moved, delivery_count=1))
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "synced"  # not yet: more deliveries come
    last = services().outlook_sync.max_delivery_count
    with pytest.raises(UpstreamUnavailable):
        sync(trigger_message(moved, delivery_count=last))
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "failed"
    graph_sim.clear_faults()
