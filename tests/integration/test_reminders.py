"""Reminders through the real timer function, Azurite and the Graph simulator's sendMail (api.md,
Reminders): each due reminder reaches the sender's Sent Items once, across re-runs and concurrent runs;
a reschedule makes it due again for the new time; a cancelled booking gets none."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from .scenario import AT_9, BEARER, book, new_event_type, new_host, race, registered_function

SENDER = "scheduling@contoso.com"
DAY_BEFORE = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)  # AT_9 is 2026-12-07 15:00Z


@pytest.fixture
def sent(graph_sim: Any) -> Any:
    """The sender's Sent Items, read over Graph's API, filtered to one invitee."""
    if httpx.get(f"{graph_sim.v1}/users/{SENDER}", headers=BEARER).status_code == 404:
        r = httpx.post(
            f"{graph_sim.v1}/users",
            headers=BEARER,
            json={"displayName": "Scheduling", "mail": SENDER, "userPrincipalName": SENDER},
        )
        assert r.status_code == 201, r.text

    def messages(invitee: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{graph_sim.v1}/users/{SENDER}/mailFolders/sentitems/messages", headers=BEARER)
        assert r.status_code == 200, r.text
        return [
            m
            for m in r.json()["value"]
            if [t["emailAddress"]["address"] for t in m.get("toRecipients", [])] == [invitee]
        ]

    return messages


@pytest.fixture
def booked(app: Any, graph_sim: Any) -> dict[str, Any]:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host], reminders=[{"minutesBefore": 1440}, {"minutesBefore": 60}])
    invitee = f"jo-{uuid.uuid4().hex[:8]}@fabrikam.com"
    r = book(app, slug, AT_9, timeZone="Europe/Berlin", invitee={"name": "Jo <Doe>", "email": invitee})
    assert r.status == 201, r.body
    booking: dict[str, Any] = r.json()
    return booking


def send_reminders() -> None:
    registered_function("send_reminders")(None)


def test_a_due_reminder_is_sent_once_across_two_timer_runs(
    clock: Any, booked: dict[str, Any], sent: Any
) -> None:
    invitee = booked["invitee"]["email"]
    send_reminders()
    assert sent(invitee) == []  # 13 days ahead: nothing is due
    clock.set(DAY_BEFORE)
    send_reminders()
    send_reminders()
    messages = sent(invitee)
    assert len(messages) == 1
    message = messages[0]
    assert message["subject"].startswith("Reminder: Call, Monday, 7 December 2026, 16:00-16:30")
    body = message["body"]["content"]
    assert message["body"]["contentType"] == "html"
    # The invitee's zone (Europe/Berlin), not the host's (America/Chicago) nor UTC; typed text escaped.
    assert "Monday, 7 December 2026, 16:00-16:30 (Europe/Berlin, UTC+01:00)" in body
    assert "Jo &lt;Doe&gt;" in body and "<Doe>" not in body
    assert message["from"]["emailAddress"]["address"] == SENDER
    [attachment] = message["attachments"]
    assert (attachment["@odata.type"], attachment["name"]) == (
        "#microsoft.graph.fileAttachment",
        "invite.ics",
    )
    ics = base64.b64decode(attachment["contentBytes"]).decode()
    assert "DTSTART:20261207T150000Z" in ics and f"UID:{booked['id']}" in ics


def test_the_join_link_is_in_the_reminder_once_outlook_has_it(
    app: Any, clock: Any, booked: dict[str, Any], sent: Any
) -> None:
    join_url = app.get(f"/bookings/{booked['id']}").json()["outlook"]["joinUrl"]
    assert join_url  # the Outlook sync made the Teams meeting
    clock.set(DAY_BEFORE)
    send_reminders()
    [message] = sent(booked["invitee"]["email"])
    assert f'<a href="{join_url}">' in message["body"]["content"]


def test_two_concurrent_runs_send_a_due_reminder_once(clock: Any, booked: dict[str, Any], sent: Any) -> None:
    clock.set(DAY_BEFORE)
    race(2, lambda _i: send_reminders())
    assert len(sent(booked["invitee"]["email"])) == 1


def test_reminders_due_together_send_only_the_nearest(clock: Any, booked: dict[str, Any], sent: Any) -> None:
    clock.set(datetime(2026, 12, 7, 14, 30, tzinfo=UTC))  # 30 min before: the 1440 and the 60 are both due
    send_reminders()
    send_reminders()
    assert len(sent(booked["invitee"]["email"])) == 1


def test_a_reschedule_makes_the_reminder_due_again_for_the_new_time(
    app: Any, clock: Any, booked: dict[str, Any], sent: Any
) -> None:
    invitee = booked["invitee"]["email"]
    clock.set(DAY_BEFORE)
    send_reminders()
    moved = app.post(f"/bookings/{booked['id']}/reschedule", json_body={"start": "2026-12-08T09:00:00-06:00"})
    assert moved.status == 200, moved.body
    send_reminders()
    assert len(sent(invitee)) == 1  # the new time is two days away: not due yet
    clock.set(datetime(2026, 12, 7, 15, 30, tzinfo=UTC))
    send_reminders()
    send_reminders()
    messages = sent(invitee)
    assert len(messages) == 2
    assert "Tuesday, 8 December 2026, 16:00-16:30 (Europe/Berlin" in messages[1]["body"]["content"]


def test_a_cancelled_booking_gets_no_reminder(
    app: Any, clock: Any, booked: dict[str, Any], sent: Any
) -> None:
    assert app.post(f"/bookings/{booked['id']}/cancel", json_body={}).status == 200
    clock.set(DAY_BEFORE)
    send_reminders()
    assert sent(booked["invitee"]["email"]) == []


def test_the_reminder_carries_the_bookings_manage_link(clock: Any, booked: dict[str, Any], sent: Any) -> None:
    link = booked["manageUrl"]
    assert link.startswith("http://localhost:7071/api/manage/")
    clock.set(DAY_BEFORE)
    send_reminders()
    [message] = sent(booked["invitee"]["email"])
    assert f'Reschedule or cancel: <a href="{link}">{link}</a>' in message["body"]["content"]


def test_a_send_whose_answer_is_lost_is_not_sent_again(
    clock: Any, booked: dict[str, Any], sent: Any, graph_sim: Any
) -> None:
    """Graph took the message but the answer never came (a gateway's 504): retrying would mail the
    invitee twice, so the reminder is settled as unknown and never resent."""
    graph_sim.lose_answers(method="POST", path_contains="/sendMail", count=1)
    clock.set(DAY_BEFORE)
    send_reminders()
    send_reminders()
    assert len(sent(booked["invitee"]["email"])) == 1


def test_a_send_graph_throttled_is_sent_by_the_next_run(
    clock: Any, booked: dict[str, Any], sent: Any, graph_sim: Any
) -> None:
    """429/503 mean Graph did not take the message: the claim is given back and the next run sends it."""
    graph_sim.add_fault(503, count=1, retry_after=120, path_contains="/sendMail", method="POST")
    clock.set(DAY_BEFORE)
    send_reminders()
    assert sent(booked["invitee"]["email"]) == []
    send_reminders()
    assert len(sent(booked["invitee"]["email"])) == 1
