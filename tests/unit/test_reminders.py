"""Reminders as pure functions: when each is due, and the Graph message (domain/reminders.py)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from scheduling_core.documents.config import EventTypeDoc
from scheduling_core.domain.booking_sections import DynamicsState, RoutingRecord
from scheduling_core.domain.bookings import Booking, BookingStatus, Invitee, appointment_id
from scheduling_core.domain.reminders import (
    ReminderContent,
    ReminderPlan,
    due,
    reminder_key,
    reminder_request,
)

START = datetime(2027, 3, 28, 8, 0, tzinfo=UTC)  # the morning Europe/Berlin moves to summer time
BOOKING = Booking(
    id="bk_" + "a" * 24,
    status=BookingStatus.CONFIRMED,
    version=3,
    event_type="call",
    start=START,
    end=START + timedelta(minutes=30),
    time_zone="Europe/Berlin",
    host_ids=("h1",),
    invitee=Invitee(name="Jo & Co", email="jo@fabrikam.com"),
    buffer_before=timedelta(0),
    buffer_after=timedelta(0),
    created_at=START - timedelta(days=9),
    updated_at=START - timedelta(days=9),
    routing=RoutingRecord(strategy="fixed", reason="first free host of the event type's hostIds"),
    dynamics=DynamicsState(appointment_id=appointment_id("bk_" + "a" * 24)),
)


def test_a_reminder_is_due_from_its_lead_time_until_the_start_and_only_when_confirmed() -> None:
    assert due(BOOKING, (1440,), START - timedelta(minutes=1441)) is None
    assert due(BOOKING, (1440,), START - timedelta(minutes=1440)) == ReminderPlan(send=1440)
    assert due(BOOKING, (1440,), START - timedelta(seconds=1)) == ReminderPlan(send=1440)
    assert due(BOOKING, (1440,), START) is None  # started: a reminder would come too late
    cancelled = replace(BOOKING, status=BookingStatus.CANCELLED)
    assert due(cancelled, (1440,), START - timedelta(minutes=5)) is None


def test_reminders_due_together_send_the_nearest_and_supersede_the_others() -> None:
    plan = due(BOOKING, (1440, 60, 10080), START - timedelta(minutes=30))
    assert plan == ReminderPlan(send=60, superseded=(1440, 10080))


def test_a_reminder_is_named_by_the_start_so_a_reschedule_names_a_new_one() -> None:
    assert reminder_key(START, 60) == f"{int(START.timestamp())}|00060"
    assert reminder_key(START + timedelta(days=1), 60) != reminder_key(START, 60)


def test_the_message_is_graphs_send_mail_body_in_the_invitees_zone_with_the_links_and_an_ics() -> None:
    content = ReminderContent(
        title="Discovery <call>",
        location="Microsoft Teams meeting",
        join_url="https://teams.example/join?a=1&b=2",
        manage_url="https://app.example/api/manage/tok",
    )
    request = reminder_request(BOOKING, content, START - timedelta(days=1))
    message = request["message"]
    assert request["saveToSentItems"] is True
    assert message["toRecipients"] == [{"emailAddress": {"address": "jo@fabrikam.com", "name": "Jo & Co"}}]
    assert message["body"]["contentType"] == "HTML"
    body = message["body"]["content"]
    # 08:00Z on the DST morning is 10:00 CEST (UTC+02:00), not 09:00.
    assert "Sunday, 28 March 2027, 10:00-10:30 (Europe/Berlin, UTC+02:00)" in body
    assert "Hello Jo &amp; Co," in body and "Discovery &lt;call&gt;" in body
    assert '<a href="https://teams.example/join?a=1&amp;b=2">' in body
    assert 'Reschedule or cancel: <a href="https://app.example/api/manage/tok">' in body
    [attachment] = message["attachments"]
    assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert (attachment["name"], attachment["contentType"]) == ("invite.ics", "text/calendar")
    ics = base64.b64decode(attachment["contentBytes"]).decode()
    assert "DTSTART:20270328T080000Z" in ics and "SEQUENCE:3" in ics


def test_without_a_manage_link_or_join_link_the_message_leaves_them_out() -> None:
    content = ReminderContent(title="Call", location=None, join_url=None, manage_url=None)
    body = reminder_request(BOOKING, content, START)["message"]["body"]["content"]
    assert "Reschedule" not in body and "Join" not in body


def test_an_event_type_takes_distinct_reminders_between_5_minutes_and_4_weeks() -> None:
    base = {"title": "Call", "durationMinutes": 30}
    doc = EventTypeDoc.model_validate({**base, "reminders": [{"minutesBefore": 1440}, {"minutesBefore": 60}]})
    assert doc.to_domain("call").reminders == (60, 1440)
    assert EventTypeDoc.model_validate(base).to_domain("call").reminders == ()
    for bad in (
        [{"minutesBefore": 60}, {"minutesBefore": 60}],
        [{"minutesBefore": 0}],
        [{"minutesBefore": 40321}],
    ):
        with pytest.raises(ValidationError):
            EventTypeDoc.model_validate({**base, "reminders": bad})
