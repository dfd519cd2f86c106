"""The booking → appointment mapping of sync-dataverse (pure), held against the table reference."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scheduling_core.domain.bookings import appointment_id
from scheduling_core.domain.events import booking_event
from scheduling_core.domain.values import EventType, Location, LocationKind
from scheduling_core.errors import MalformedEvent, UnmappableBooking
from scheduling_core.services.dataverse_sync import (
    ORGANIZER,
    REQUIRED_ATTENDEE,
    STATE_CANCELED,
    STATE_SCHEDULED,
    STATUS_BUSY,
    STATUS_CANCELED,
    AppointmentSource,
    Party,
    appointment_plan,
    regarding_bind,
    source_from_event,
)

LEAD = "5f0c0a57-3d5c-4f61-9a4e-2b0c8f2a7d11"
USER = "0a6b3c0e-1111-4a2b-8c3d-4e5f6a7b8c9d"
CONTACT = "9e8d7c6b-2222-4a2b-8c3d-4e5f6a7b8c9d"


def _snapshot(**changes: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": "bk_1",
        "status": "confirmed",
        "version": 2,
        "eventType": "discovery",
        "start": "2026-12-07T09:00:00-06:00",
        "end": "2026-12-07T09:30:00-06:00",
        "timeZone": "America/Chicago",
        "hostIds": ["h1"],
        "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": None},
        "context": {"recordType": "lead", "recordId": LEAD},
        "routing": {"reason": "owner of the lead"},
        "outlook": {"eventId": None, "joinUrl": None, "syncStatus": "pending", "drift": None},
        "dynamics": {"appointmentId": appointment_id("bk_1"), "syncStatus": "pending"},
    }
    snapshot.update(changes)
    return snapshot


def _source(**changes: Any) -> AppointmentSource:
    event = booking_event(
        booking=_snapshot(**changes),
        event_type="booking.created",
        time=datetime(2026, 11, 24, tzinfo=UTC),
        traceparent=None,
    )
    return source_from_event(event)


EVENT_TYPE = EventType(slug="discovery", title="Discovery call", duration_minutes=30)
ORGANIZER_PARTY = Party(participation=ORGANIZER, entity_set="systemusers", id=USER)
INVITEE_PARTY = Party(participation=REQUIRED_ATTENDEE, entity_set="contacts", id=CONTACT)


def test_a_confirmed_booking_maps_to_a_scheduled_busy_appointment_regarding_its_lead() -> None:
    plan = appointment_plan(
        _source(), event_type=EVENT_TYPE, organizer=ORGANIZER_PARTY, attendees=[INVITEE_PARTY]
    )
    assert plan.fields == {
        "subject": "Discovery call with Jo Doe",
        "scheduledstart": "2026-12-07T15:00:00Z",
        "scheduledend": "2026-12-07T15:30:00Z",
        "location": "Microsoft Teams meeting",
        "description": "Booking: bk_1 (version 2)\nRouting: owner of the lead",
        "onlinemeetingjoinurl": None,
        "isonlinemeeting": False,
        "regardingobjectid_lead_appointment@odata.bind": f"/leads({LEAD})",
        "appointment_activity_parties": [
            {"participationtypemask": 7, "partyid_systemuser@odata.bind": f"/systemusers({USER})"},
            {"participationtypemask": 5, "partyid_contact@odata.bind": f"/contacts({CONTACT})"},
        ],
        "ownerid@odata.bind": f"/systemusers({USER})",  # the organizer owns it (a reassignment moves both)
    }
    assert "statecode" not in plan.fields  # never on create
    assert plan.state == {"statecode": STATE_SCHEDULED, "statuscode": STATUS_BUSY}


def test_a_cancelled_booking_maps_to_the_canceled_state() -> None:
    plan = appointment_plan(_source(status="cancelled"), event_type=None, organizer=None, attendees=[])
    assert plan.state == {"statecode": STATE_CANCELED, "statuscode": STATUS_CANCELED}
    assert plan.fields["subject"] == "discovery with Jo Doe"  # event type gone: its slug


def test_the_join_link_goes_to_onlinemeetingjoinurl_and_the_description_not_to_location() -> None:
    url = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + "x" * 200  # real ones are ~240 chars
    source = _source(outlook={"joinUrl": url})
    plan = appointment_plan(source, event_type=EVENT_TYPE, organizer=None, attendees=[])
    assert (plan.fields["onlinemeetingjoinurl"], plan.fields["isonlinemeeting"]) == (url, True)
    assert (
        plan.fields["location"] == "Microsoft Teams meeting" and f"Join: {url}" in plan.fields["description"]
    )
    too_long = appointment_plan(
        _source(outlook={"joinUrl": url + "y" * 600}), event_type=EVENT_TYPE, organizer=None, attendees=[]
    )
    assert (too_long.fields["onlinemeetingjoinurl"], too_long.fields["isonlinemeeting"]) == (None, False)
    room = EventType(
        slug="d",
        title="D",
        duration_minutes=30,
        location=Location(kind=LocationKind.IN_PERSON, value="Room 4"),
    )
    assert appointment_plan(_source(), event_type=room, organizer=None, attendees=[]).fields["location"] == (
        "Room 4"
    )


def test_an_unknown_invitee_is_an_address() -> None:
    party = Party(participation=REQUIRED_ATTENDEE, address="sam@elsewhere.example")
    assert party.body() == {"participationtypemask": 5, "addressused": "sam@elsewhere.example"}


def test_a_context_without_a_usable_record() -> None:
    assert regarding_bind(_source(context={})) is None
    assert regarding_bind(_source(context={"recordType": "campaign", "recordId": LEAD})) is None
    with pytest.raises(UnmappableBooking, match="not a Dataverse lead id"):
        regarding_bind(_source(context={"recordType": "lead", "recordId": "lead-1"}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "lost"}, "unknown booking status"),
        ({"hostIds": []}, "names no hosts"),
        ({"start": "tomorrow"}, "no readable start"),
        ({"start": "2026-12-07T09:00:00"}, "no readable start"),
    ],
)
def test_snapshots_that_cannot_be_mapped_are_malformed(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        _source(**change)


def test_an_override_and_a_reassignment_are_shown_in_the_description() -> None:
    routing = {
        "strategy": "reassigned",
        "reason": "reassigned from a to b: rep left",
        "override": {"reason": "VIP", "allow": ["caps", "outlookBusy"]},
        "reassigned": {"from": "a", "to": "b", "reason": "rep left", "at": "2026-11-24T00:00:00+00:00"},
    }
    plan = appointment_plan(_source(routing=routing), event_type=None, organizer=None, attendees=[])
    assert plan.fields["description"] == (
        "Booking: bk_1 (version 2)\nRouting: reassigned from a to b: rep left\n"
        "Manager override: VIP (lifted: caps, outlookBusy)\nReassigned: from a to b: rep left"
    )
    assert "ownerid@odata.bind" not in plan.fields  # no organizer known: the owner is left as it is
