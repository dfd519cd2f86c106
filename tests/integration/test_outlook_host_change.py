"""A booking whose first host changes (a reassignment: `booking.reassigned`) in the Outlook sync.

Graph cannot move an event between mailboxes, so the old organizer cancels it (the invitee gets the
cancellation with a note) and the new host's calendar gets one new event; redelivery changes nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from scheduling_core.bookings import booking_snapshot
from scheduling_core.events import BOOKING_REASSIGNED, booking_event

from .scenario import AT_9, BEARER, book, new_event_type, new_host


def _events(graph_sim: Any, host: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{graph_sim.v1}/users/{host}/events", headers=BEARER)
    assert r.status_code == 200, r.text
    return list(r.json()["value"])


def test_a_new_first_host_gets_one_new_event_and_the_old_organizer_cancels_theirs(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    from scheduling_core.composition import services

    ana, ben = new_host(app, graph_sim), new_host(app, graph_sim)
    slug = new_event_type(app, [ana, ben], assignment="roundRobin")
    created = book(app, slug, AT_9, hostId=ana).json()
    [old] = _events(graph_sim, ana)
    booking = services().bookings.get(created["id"])
    moved = replace(booking, host_ids=(ben,), version=booking.version + 1)
    event = booking_event(booking=booking_snapshot(moved), event_type=BOOKING_REASSIGNED, time=clock.now())
    sync = services().outlook_sync
    assert sync.apply(event, delivery_count=1) == "synced"
    assert _events(graph_sim, ana) == []
    [new] = _events(graph_sim, ben)
    assert new["id"] != old["id"] and new["start"] == old["start"]
    assert [a["emailAddress"]["address"] for a in new["attendees"]] == ["jo@fabrikam.com"]
    sent = httpx.get(f"{graph_sim.v1}/users/{ana}/mailFolders/sentitems/messages", headers=BEARER).json()
    assert [m["body"]["content"] for m in sent["value"]] == [
        "This meeting moved to another host; a new invitation follows."
    ]
    link = services().outlook_links.get(created["id"])
    assert link is not None and (link.mailbox, link.event_id) == (ben, new["id"])
    assert sync.apply(event, delivery_count=2) == "ignored"  # redelivered: nothing changes
    assert [e["id"] for e in _events(graph_sim, ben)] == [new["id"]] and _events(graph_sim, ana) == []
    cancelled = replace(moved, version=moved.version + 1).cancelled(clock.now(), "bye", "api")
    gone = booking_event(
        booking=booking_snapshot(cancelled), event_type="booking.cancelled", time=clock.now()
    )
    sync.apply(gone, delivery_count=1)
    assert _events(graph_sim, ben) == []
