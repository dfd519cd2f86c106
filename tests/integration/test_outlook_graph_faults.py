"""Outlook sync and reconciliation against Graph as it really answers: a repeated `transactionId`,
mailbox faults that are not deletions, and delta windows fixed by the round's first request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from . import test_outlook_changes as _changes
from .scenario import AT_9, BEARER, book, new_event_type, new_host, registered_function, slot_starts
from .test_outlook_changes import Live, _booked

pytestmark = pytest.mark.integration

# Fixtures shared with the modules that define them.
live = _changes.live

FAULTS = {
    "notEnabledForRest": (
        "HTTP 404 MailboxNotEnabledForRESTAPI: REST API is not yet supported for this mailbox."
    ),
    "inactive": (
        "HTTP 404 MailboxNotEnabledForRESTAPI: The mailbox is either inactive, soft-deleted, or is hosted "
        "on-premise."
    ),
    "softDeleted": (
        "HTTP 404 MailboxNotEnabledForRESTAPI: The mailbox is either inactive, soft-deleted, or is hosted "
        "on-premise."
    ),
    "accessDenied": (
        "HTTP 403 ErrorAccessDenied: Access to OData is disabled: [RAOP] : Blocked by tenant configured "
        "AppOnly AccessPolicy settings."
    ),
}


def _events(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{graph_sim.v1}/users/{host}/events", headers={**BEARER, "Prefer": 'outlook.timezone="UTC"'}
    )
    assert r.status_code == 200, r.text
    value: list[dict[str, Any]] = r.json()["value"]
    return value


def _booking(app: Any, booking_id: str) -> dict[str, Any]:
    got: dict[str, Any] = app.get(f"/bookings/{booking_id}").json()
    return got


def _degraded_hosts(app: Any) -> dict[str, str]:
    r = app.get("/health")
    body: dict[str, Any] = r.json()
    return dict(body.get("degradedHosts") or {})


# --- item 2: a repeated transactionId --------------------------------------------------------------------


def test_a_create_whose_answer_was_lost_adopts_the_event_graph_will_not_create_twice(
    app: Any, graph_sim: Any
) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host])
    # Graph makes the event, the answer is lost (504), the client retries the same POST: Graph answers
    # 400 ErrorDuplicateTransactionId, not the first event.
    graph_sim.lose_answers(method="POST", path_contains=f"/users/{host}/events")
    b = book(app, slug, AT_9).json()
    events = _events(graph_sim, host)
    assert len(events) == 1
    outlook = _booking(app, b["id"])["outlook"]
    assert outlook["syncStatus"] == "synced" and outlook["eventId"] == events[0]["id"]
    assert len(graph_sim.requests(path_contains=f"/users/{host}/events", method="POST")) == 2
    patches = graph_sim.requests(path_contains=f"/users/{host}/events/", method="PATCH")
    assert [r["status"] for r in patches] == [200]  # the adopted event patched to the snapshot
    assert events[0]["start"]["dateTime"].startswith("2026-12-07T15:00:00")


# --- item 3: mailbox faults are not deletions ------------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_mailbox_fault_on_a_change_cancels_nothing_and_names_the_host_in_health(
    live: Live,
    fault: str,
) -> None:
    from bootstrap.composition import services

    host, booking, _ = _booked(live)
    live.graph.set_mailbox_fault(host, fault)
    outcome = services().outlook_reconciler.handle(
        {"hostId": host, "eventId": booking["outlook"]["eventId"], "changeType": "updated"}
    )
    assert outcome.startswith("ignore: updated: mailbox unavailable")
    after = live.booking(booking["id"])
    assert after["status"] == "confirmed" and after["version"] == booking["version"]
    assert after["start"] == booking["start"]
    assert _degraded_hosts(live.client) == {host: f"mailbox unavailable: {FAULTS[fault]}"}

    report = services().outlook_reconciler.resync(host, fresh=True)  # the daily run, still faulted
    assert report.error == f"mailbox unavailable: {FAULTS[fault]}"
    assert live.booking(booking["id"])["status"] == "confirmed"

    live.graph.set_mailbox_fault(host, None)
    registered_function("resync_outlook")(None)  # a later run: the mailbox answers again
    assert host not in _degraded_hosts(live.client)
    assert live.booking(booking["id"]) == after


def test_a_sync_meeting_a_mailbox_fault_fails_with_the_reason_and_a_later_run_retries(
    app: Any, graph_sim: Any
) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host])
    b = book(app, slug, AT_9).json()
    graph_sim.set_mailbox_fault(host, "softDeleted")
    assert app.post(f"/bookings/{b['id']}/cancel", json_body={"reason": "Customer asked"}).status == 200
    cancelled = _booking(app, b["id"])
    assert cancelled["status"] == "cancelled"
    # Not "synced": the meeting is still in the rep's calendar, Graph just could not reach the mailbox.
    assert cancelled["outlook"]["syncStatus"] == "failed"
    assert cancelled["outlook"]["error"] == (
        f"MailboxUnavailable: Graph rejected a request for mailbox {host}: {FAULTS['softDeleted']}"
    )
    assert _degraded_hosts(app) == {host: f"mailbox unavailable: {FAULTS['softDeleted']}"}

    graph_sim.set_mailbox_fault(host, None)
    registered_function("resync_outlook")(None)  # a later run retries once the mailbox answers
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "synced"
    assert _events(graph_sim, host) == []  # the organizer's cancelled copy left the calendar
    assert host not in _degraded_hosts(app)


def test_an_event_the_resync_creates_after_a_mailbox_fault_carries_the_invitees_manage_link(
    app: Any, graph_sim: Any
) -> None:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host])
    graph_sim.add_fault(403, count=None, path_contains=f"/users/{host}/events", method="POST")
    b = book(app, slug, AT_9).json()
    assert _booking(app, b["id"])["outlook"]["syncStatus"] == "failed"
    graph_sim.clear_faults()
    registered_function("resync_outlook")(None)  # the retry creates the invitation Exchange sends
    [event] = _events(graph_sim, host)
    assert b["manageUrl"] in event["body"]["content"]


@pytest.mark.parametrize("faulted", [0, 1])
def test_a_mailbox_fault_of_one_pool_host_leaves_the_others_bookable(
    app: Any, graph_sim: Any, faulted: int
) -> None:
    hosts = [new_host(app, graph_sim), new_host(app, graph_sim)]
    slug = new_event_type(app, hosts)
    graph_sim.set_mailbox_fault(hosts[faulted], "notEnabledForRest")
    # Whichever mailbox getSchedule runs as, the healthy host's free time is still offered.
    assert slot_starts(app, slug) == ["08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    r = book(app, slug, AT_9)
    assert r.status == 201, r.body
    assert r.json()["hostIds"] == [hosts[1 - faulted]]  # the faulted host's calendar is unknown, not free


# --- item 6: the delta window rolls forward ----------------------------------------------------------------


def test_the_daily_resync_starts_a_fresh_window_so_coverage_never_shrinks(live: Live) -> None:
    from bootstrap.composition import services

    host = new_host(live.client, live.graph)
    slug = new_event_type(live.client, [host])
    first = services().outlook_reconciler.resync(host)  # the window is fixed in this round's tokens
    assert first.full
    old_link = services().subscription_store.delta_link(host)

    later = live.clock.now() + timedelta(days=395)  # past the first window's end (400 days) soon
    live.clock.set(later)
    live.graph.set_clock(later)
    r = book(live.client, slug, "2028-01-03T09:00:00-06:00")  # 405 days after the first round
    assert r.status == 201, r.body
    booking = live.booking(r.json()["id"])
    assert booking["outlook"]["syncStatus"] == "synced"

    live.graph.pause_notifications()  # the rep deletes the meeting and the notification is lost
    try:
        deleted = httpx.delete(
            f"{live.graph.v1}/users/{host}/events/{booking['outlook']['eventId']}", headers=BEARER
        )
        assert deleted.status_code == 204
        live.settle()
    finally:
        live.graph.resume_notifications()
    assert live.booking(booking["id"])["status"] == "confirmed"

    registered_function("resync_outlook")(None)  # the daily safety net
    assert live.booking(booking["id"])["status"] == "cancelled"
    new_link = services().subscription_store.delta_link(host)
    assert new_link is not None and new_link != old_link  # the old window's link is retired
    start, end = services().outlook_reconciler.window(later)
    assert (start, end) == (later - timedelta(days=1), later + timedelta(days=62))
    assert datetime(2028, 1, 3, 15, 0, tzinfo=UTC) < end
