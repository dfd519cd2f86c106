"""The Dataverse codes and names the sync writes are the ones Microsoft publishes (the vendored table
reference, held equal to ../shared/reference by tests/devstack/test_dataverse_simulator.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scheduling_core.domain.events import booking_event
from scheduling_core.services.dataverse_sync import (
    ORGANIZER,
    REQUIRED_ATTENDEE,
    STATE_CANCELED,
    STATE_SCHEDULED,
    STATUS_BUSY,
    STATUS_CANCELED,
    regarding_bind,
    source_from_event,
)

REFERENCE = Path(__file__).resolve().parents[2] / "devstack" / "dataverse_sim" / "dataverse-entities.json"


LEAD = "5f0c0a57-3d5c-4f61-9a4e-2b0c8f2a7d11"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return loaded


def test_the_codes_and_names_are_the_references(reference: dict[str, Any]) -> None:
    appointment = reference["entities"]["appointment"]
    state = appointment["attributes"]["statecode"]["options"]
    status = appointment["attributes"]["statuscode"]["options"]
    assert state[str(STATE_SCHEDULED)]["label"] == "Scheduled" and status[str(STATUS_BUSY)]["label"] == "Busy"
    assert status[str(STATUS_BUSY)]["state"] == STATE_SCHEDULED
    assert state[str(STATE_CANCELED)]["label"] == "Canceled" and status[str(STATUS_CANCELED)]["state"] == 2
    assert appointment["attributes"]["statecode"]["create"] is False
    masks = reference["entities"]["activityparty"]["attributes"]["participationtypemask"]["options"]
    assert (masks[str(ORGANIZER)], masks[str(REQUIRED_ATTENDEE)]) == ("Organizer", "Required attendee")
    assert "appointment_activity_parties" in appointment["oneToMany"]
    party_navs = reference["entities"]["activityparty"]["manyToOne"]
    assert {"partyid_systemuser", "partyid_contact", "partyid_lead"} <= set(party_navs)


@pytest.mark.parametrize("record_type", ["lead", "opportunity", "incident", "account", "contact"])
def test_each_record_type_binds_through_its_reference_navigation_property(
    record_type: str, reference: dict[str, Any]
) -> None:
    snapshot = {
        "id": "bk_1",
        "status": "confirmed",
        "version": 1,
        "eventType": "discovery",
        "start": "2026-12-07T09:00:00-06:00",
        "end": "2026-12-07T09:30:00-06:00",
        "timeZone": "America/Chicago",
        "hostIds": ["h1"],
        "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": None},
        "context": {"recordType": record_type, "recordId": LEAD},
    }
    event = booking_event(
        booking=snapshot,
        event_type="booking.created",
        time=datetime(2026, 11, 24, tzinfo=UTC),
        traceparent=None,
    )
    bind = regarding_bind(source_from_event(event))
    assert bind is not None
    navigation = bind[0].removesuffix("@odata.bind")
    appointment = reference["entities"]["appointment"]
    assert navigation in appointment["manyToOne"]
    target = appointment["manyToOne"][navigation]["referenced"]
    assert bind[1] == f"/{reference['entities'][target]['entitySetName']}({LEAD})"
