"""No-shows through the real functions (api.md, Attendance): refused before the start, recorded once
after it, the Dataverse appointment completed with a no-show note, `booking.no-show` in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from .scenario import AT_9, book, new_event_type, new_host, outbox_events

STARTED = datetime(2026, 12, 7, 15, 40, tzinfo=UTC)  # AT_9 is 15:00Z


@pytest.fixture
def booking(app: Any, graph_sim: Any) -> dict[str, Any]:
    host = new_host(app, graph_sim)
    r = book(app, new_event_type(app, [host]), AT_9)
    assert r.status == 201, r.body
    created: dict[str, Any] = r.json()
    return created


def test_a_no_show_before_the_meeting_starts_is_409_and_changes_nothing(
    app: Any, booking: dict[str, Any]
) -> None:
    r = app.post(f"/bookings/{booking['id']}/no-show", json_body={"party": "invitee"})
    assert (r.status, r.json()["code"]) == (409, "booking-not-modifiable")
    after = app.get(f"/bookings/{booking['id']}").json()
    assert after["version"] == 1 and "attendance" not in after
    assert [e.type for e in outbox_events(booking["id"])] == ["booking.created"]


def test_a_no_show_after_the_start_is_recorded_once_and_completes_the_appointment_once(
    app: Any, clock: Any, booking: dict[str, Any], dataverse_sim: Any
) -> None:
    appointment = booking["dynamics"]["appointmentId"]
    writes_before = len(dataverse_sim.requests(path_contains=appointment, method="PATCH"))
    clock.set(STARTED)
    r = app.post(f"/bookings/{booking['id']}/no-show", json_body={"party": "invitee", "note": "no answer"})
    assert r.status == 200, r.body
    marked = r.json()
    assert marked["version"] == 2 and marked["status"] == "confirmed"
    assert marked["attendance"] == {
        "status": "noShow",
        "party": "invitee",
        "at": "2026-12-07T09:40:00-06:00",  # in the booking's zone, like every instant of the answer
        "note": "no answer",
    }
    assert r.headers["ETag"] == '"2"'
    row = dataverse_sim.row("appointments", appointment)
    assert (row["statecode"], row["statuscode"]) == (1, 3)  # Completed / Completed
    assert "No-show: invitee (marked 2026-12-07T15:40:00+00:00): no answer" in row["description"]
    writes = len(dataverse_sim.requests(path_contains=appointment, method="PATCH"))
    assert writes - writes_before == 2  # the fields, then the state: one update of the one appointment

    again = app.post(f"/bookings/{booking['id']}/no-show", json_body={"party": "host"})
    assert again.status == 200 and again.json() == marked  # the first mark stands
    assert len(dataverse_sim.requests(path_contains=appointment, method="PATCH")) == writes
    assert [e.type for e in outbox_events(booking["id"])] == ["booking.created", "booking.no-show"]
    assert outbox_events(booking["id"])[1].data["booking"]["attendance"]["party"] == "invitee"


def test_a_no_show_of_a_cancelled_booking_is_409(app: Any, clock: Any, booking: dict[str, Any]) -> None:
    assert app.post(f"/bookings/{booking['id']}/cancel", json_body={}).status == 200
    clock.set(STARTED)
    r = app.post(f"/bookings/{booking['id']}/no-show", json_body={"party": "invitee"})
    assert (r.status, r.json()["code"]) == (409, "booking-not-modifiable")


def test_a_no_show_needs_a_known_party(app: Any, clock: Any, booking: dict[str, Any]) -> None:
    clock.set(STARTED)
    r = app.post(f"/bookings/{booking['id']}/no-show", json_body={"party": "everyone"})
    assert (r.status, r.json()["code"]) == (422, "validation-failed")
    assert (
        app.post("/bookings/bk_000000000000000000000000/no-show", json_body={"party": "host"}).status == 404
    )
