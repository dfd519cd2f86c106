"""Issue 13: invitee-chosen text is inert in Outlook and Dynamics (control characters and markup gone,
lengths bounded), through the pure mappings the sync handlers use."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduling_core.domain.bookings import appointment_id
from scheduling_core.domain.events import booking_event
from scheduling_core.domain.inert_text import inert
from scheduling_core.domain.outlook import MeetingSource, new_event
from scheduling_core.domain.values import EventType
from scheduling_core.services.dataverse_sync import appointment_plan, source_from_event

HOSTILE = 'Jo\r\nBcc: all@contoso.com <script>alert(1)</script><b onclick="x">Doe</b>\u202e\x00\t>'
EVENT_TYPE = EventType(slug="intro", title="Intro call", duration_minutes=30)


def test_inert_keeps_one_plain_bounded_line() -> None:
    assert inert(HOSTILE, 200) == "Jo Bcc: all@contoso.com alert(1) Doe"
    assert inert("Zoë  O'Brien-Łukasz", 200) == "Zoë O'Brien-Łukasz"
    assert inert("x" * 300, 100) == "x" * 99 + "…"
    assert inert("a\u2028b\u200bc", 10) == "a bc"
    assert inert(None, 10) == "" and inert("<>", 10) == ""


def _meeting(name: str) -> MeetingSource:
    return MeetingSource(
        booking_id="bk_1",
        version=1,
        cancelled=False,
        event_type="intro",
        start=datetime(2026, 12, 7, 15, tzinfo=UTC),
        end=datetime(2026, 12, 7, 15, 30, tzinfo=UTC),
        host_ids=("h1",),
        host_emails={"h1": "ana@contoso.com"},
        invitee_name=name,
        invitee_email="jo@fabrikam.com",
    )


def test_the_outlook_subject_carries_no_line_break_or_markup_and_is_bounded() -> None:
    body = new_event(_meeting(HOSTILE), EVENT_TYPE)
    assert body["subject"] == "Intro call with Jo Bcc: all@contoso.com alert(1) Doe"
    long = new_event(_meeting("N" * 5000), EVENT_TYPE)
    assert long["subject"] == "Intro call with " + "N" * 99 + "…"
    assert len(body["body"]["content"]) <= 4000


def test_the_dataverse_subject_and_description_are_inert_and_bounded() -> None:
    snapshot = {
        "id": "bk_1",
        "status": "confirmed",
        "version": 1,
        "eventType": "intro",
        "start": "2026-12-07T09:00:00-06:00",
        "end": "2026-12-07T09:30:00-06:00",
        "timeZone": "America/Chicago",
        "hostIds": ["h1"],
        "invitee": {"name": HOSTILE, "email": "jo@fabrikam.com", "phone": None},
        "context": {},
        "routing": {"reason": "fallback\r\n<img src=x>" + "r" * 5000},
        "outlook": {"eventId": None, "joinUrl": None, "syncStatus": "pending", "drift": None},
        "dynamics": {"appointmentId": appointment_id("bk_1"), "syncStatus": "pending"},
    }
    event = booking_event(
        booking=snapshot,
        event_type="booking.created",
        time=datetime(2026, 11, 24, tzinfo=UTC),
        traceparent=None,
    )
    plan = appointment_plan(source_from_event(event), event_type=EVENT_TYPE, organizer=None, attendees=[])
    assert plan.fields["subject"] == "Intro call with Jo Bcc: all@contoso.com alert(1) Doe"
    description = plan.fields["description"]
    assert len(description) <= 2000
    assert "<img" not in description and "\r" not in description
    assert description.splitlines()[1].startswith("Routing: fallback rrr")
