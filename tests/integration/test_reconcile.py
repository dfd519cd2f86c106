"""Reconciliation end to end: bookings synced through the local topic, drift made by hand in the Dataverse
simulator, then `POST /admin/reconcile` over the real functions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.dataverse_sim.app import SIMULATED_CALLER
from devstack.localhost import create_app
from devstack.serving import RunningServer, serve_in_thread
from scheduling_core.domain.bookings import appointment_id
from tests.fixtures.dataverse import DataverseSim

from .scenario import MONDAY, new_event_type
from .test_dataverse_sync import AT_10, AT_11, World

RANGE = {"from": "2026-12-01", "to": "2026-12-31"}


SECRET = "test-webhook-secret"
HEADER = "x-scheduling-webhook-key"
APP_USER = SIMULATED_CALLER["UserId"]  # the simulator's token user: our application user
PERSON = "0a0a0a0a-1111-4222-8333-444444444444"  # someone working in Dynamics


@pytest.fixture
def app_env(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {"DYNAMICS_WEBHOOK_SECRET": SECRET, "DYNAMICS_APPLICATION_USER_ID": APP_USER}
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return {**app_env, **extra}


@pytest.fixture
def world(app: Any, graph_sim: Any, dataverse: DataverseSim) -> World:
    return World(app, graph_sim, dataverse)


@pytest.fixture
def local_host(app: Any) -> Iterator[RunningServer]:
    server = serve_in_thread(create_app(app._router))
    yield server
    server.stop()


def _as_person(world: World, booking_id: str, body: dict[str, Any]) -> None:
    r = world.dataverse.call(
        "PATCH",
        f"appointments({appointment_id(booking_id)})",
        json=body,
        headers={"MSCRMCallerID": PERSON, "If-Match": "*"},
    )
    assert r.status_code == 204, r.text


def _settled_deliveries(dataverse: DataverseSim, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        answer = dataverse.http.get(f"{dataverse.url}/_sim/webhooks/deliveries").json()
        if answer["inFlight"] == 0:
            found: list[dict[str, Any]] = answer["value"]
            return found
        assert time.monotonic() < deadline, "webhook deliveries did not settle"
        time.sleep(0.05)


def _patch(world: World, booking_id: str, body: dict[str, Any]) -> None:
    r = world.dataverse.call("PATCH", f"appointments({appointment_id(booking_id)})", json=body)
    assert r.status_code == 204, r.text


def _reconcile(world: World, params: dict[str, str] = RANGE) -> dict[str, Any]:
    r = world.app.post("/admin/reconcile", params=params)
    assert r.status == 200, r.body
    report: dict[str, Any] = r.json()
    return report


def test_reconcile_repairs_exactly_the_drift_and_a_second_run_finds_everything_in_sync(world: World) -> None:
    untouched = world.book()
    deleted = world.book(AT_10)
    moved = world.book(AT_11)
    reopened = world.book(f"{MONDAY}T08:30:00-06:00")
    assert world.app.post(f"/bookings/{reopened['id']}/cancel", json_body={}).status == 200
    assert world.appointment(reopened["id"])["statecode"] == 2
    expected = {b["id"]: world.appointment(b["id"]) for b in (untouched, deleted, moved)}

    assert world.dataverse.call("DELETE", f"appointments({appointment_id(deleted['id'])})").status_code == 204
    _patch(world, moved["id"], {"scheduledstart": "2026-12-07T18:00:00Z"})
    _patch(world, reopened["id"], {"statecode": 3, "statuscode": 5})

    report = _reconcile(world)
    assert report["from"].startswith("2026-12-01T00:00:00") and report["to"].startswith("2027-01-01T00:00:00")
    assert {k: report[k] for k in ("checked", "inSync", "created", "updated", "orphans", "failed")} == {
        "checked": 4,
        "inSync": 1,
        "created": 1,
        "updated": 2,
        "orphans": 0,
        "failed": 0,
    }
    items = {i["bookingId"]: (i["action"], i["differences"]) for i in report["items"]}
    assert items == {
        deleted["id"]: ("created", ["missing"]),
        moved["id"]: ("updated", ["scheduledstart"]),
        reopened["id"]: ("updated", ["state"]),
    }
    for booking_id, before in expected.items():
        after = world.appointment(booking_id)
        for column in ("subject", "scheduledstart", "scheduledend", "statecode", "_regardingobjectid_value"):
            assert after[column] == before[column], (booking_id, column)
    assert (
        world.appointment(reopened["id"])["statecode"],
        world.appointment(reopened["id"])["statuscode"],
    ) == (
        2,
        4,
    )
    assert world.appointment_count() == 4

    again = _reconcile(world)
    assert (again["checked"], again["inSync"], again["items"]) == (4, 4, [])


def test_an_appointment_whose_booking_is_gone_is_reported_as_an_orphan_and_kept(world: World) -> None:
    ghost = "bk_" + "0" * 24
    world.dataverse.call(
        "PATCH",
        f"appointments({appointment_id(ghost)})",
        json={
            "subject": "Left behind",
            "scheduledstart": "2026-12-08T15:00:00Z",
            "scheduledend": "2026-12-08T15:30:00Z",
            "description": f"Booking: {ghost} (version 1)",
        },
    ).raise_for_status()
    world.dataverse.create(
        "appointments",
        {
            "subject": "Someone else's",
            "scheduledstart": "2026-12-08T16:00:00Z",
            "scheduledend": "2026-12-08T16:30:00Z",
            "description": "Booking: not-ours (version 1)",
        },
    )
    report = _reconcile(world)
    assert report["orphans"] == 1 and report["checked"] == 0
    assert report["items"] == [
        {
            "bookingId": ghost,
            "appointmentId": appointment_id(ghost),
            "action": "orphan",
            "differences": ["booking missing"],
            "error": None,
        }
    ]
    assert world.appointment_count() == 2


def test_a_failure_on_one_booking_is_reported_and_the_rest_still_reconciled(world: World) -> None:
    first = world.book()
    second = world.book(AT_10)
    for b in (first, second):
        assert world.dataverse.call("DELETE", f"appointments({appointment_id(b['id'])})").status_code == 204
    world.dataverse.add_fault(400, count=1, path_contains=appointment_id(first["id"]), method="GET")
    report = _reconcile(world)
    assert (report["checked"], report["failed"], report["created"]) == (2, 1, 1)
    failed = [i for i in report["items"] if i["action"] == "failed"]
    assert failed[0]["bookingId"] == first["id"] and failed[0]["error"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2026-12-01"},
        {"from": "2026-12-01", "to": "not-a-date"},
        {"from": "2026-12-01T00:00:00", "to": "2026-12-02"},
        {"from": "2026-12-10", "to": "2026-12-01"},
        {"from": "2026-12-01", "to": "2027-02-15"},
    ],
)
def test_bad_ranges_are_422_problems(app: Any, params: dict[str, str]) -> None:
    r = app.post("/admin/reconcile", params=params)
    assert r.status == 422, r.body
    assert r.content_type.startswith("application/problem+json")
    assert r.json()["code"] == "validation-failed"


def test_reconcile_needs_the_admin_key(app: Any) -> None:
    assert app.post("/admin/reconcile", params=RANGE, key=None).status == 401


def test_the_timer_is_registered_daily() -> None:
    import function_app
    from devstack.function_host import indexed_functions

    names = {fn.get_function_name() for fn in indexed_functions(function_app.app)}
    assert "reconcile_dataverse" in names


def test_a_retitled_or_re_regarded_appointment_is_rewritten(world: World) -> None:
    b = world.book()
    other_lead = world.dataverse.create("leads", {"lastname": "Other"})
    _patch(
        world,
        b["id"],
        {
            "subject": "Edited by hand",
            "regardingobjectid_lead_appointment@odata.bind": f"/leads({other_lead})",
        },
    )
    report = _reconcile(world, {"from": "2026-12-07T00:00:00Z", "to": "2026-12-08T00:00:00+00:00"})
    assert [(i["action"], i["differences"]) for i in report["items"]] == [
        ("updated", ["subject", "regarding"])
    ]
    appt = world.appointment(b["id"])
    assert (appt["subject"], appt["_regardingobjectid_value"]) == ("Discovery call with Jo Doe", world.lead)


def test_a_cancel_made_by_a_person_whose_webhook_was_lost_cancels_the_booking_at_reconciliation(
    world: World, local_host: RunningServer
) -> None:
    b = world.book()
    r = world.dataverse.http.post(
        f"{world.dataverse.url}/_sim/webhooks",
        json={"url": f"{local_host.url}/api/dynamics/webhook", "headers": {HEADER: SECRET}},
    )
    assert r.status_code == 201, r.text
    drop = world.dataverse.http.post(f"{world.dataverse.url}/_sim/webhooks/drop", json={"count": 1})
    assert drop.status_code == 200, drop.text

    _as_person(world, b["id"], {"statecode": 2, "statuscode": 4})
    deliveries = _settled_deliveries(world.dataverse)
    assert [d.get("dropped") for d in deliveries] == [True]  # the webhook never reached us
    assert world.booking(b["id"])["status"] == "confirmed"

    report = _reconcile(world)
    assert [(i["action"], i["differences"]) for i in report["items"]] == [("cancelled", ["state"])]
    booking = world.booking(b["id"])
    assert (booking["status"], booking["cancellation"]["source"]) == ("cancelled", "dynamics")
    appt = world.appointment(b["id"])
    assert (appt["statecode"], appt["statuscode"], appt["_modifiedby_value"]) == (2, 4, PERSON)
    again = _reconcile(world)
    assert (again["checked"], again["inSync"], again["items"]) == (1, 1, [])


@pytest.mark.parametrize(
    ("policy", "action", "booking_start", "appointment_start"),
    [
        ("flag", "flagged", "2026-12-07T09:00:00-06:00", "2026-12-07T16:00:00Z"),
        ("accept", "followed", "2026-12-07T10:00:00-06:00", "2026-12-07T16:00:00Z"),
        ("revert", "updated", "2026-12-07T09:00:00-06:00", "2026-12-07T15:00:00Z"),
    ],
)
def test_a_move_made_by_a_person_follows_the_event_types_edit_policy_at_reconciliation(
    world: World, policy: str, action: str, booking_start: str, appointment_start: str
) -> None:
    world.slug = new_event_type(world.app, [world.host], title="Discovery call", outlookEditPolicy=policy)
    b = world.book()
    _as_person(
        world, b["id"], {"scheduledstart": "2026-12-07T16:00:00Z", "scheduledend": "2026-12-07T16:30:00Z"}
    )

    report = _reconcile(world)
    assert [(i["action"], i["differences"]) for i in report["items"]] == [
        (action, ["scheduledstart", "scheduledend"])
    ]
    booking = world.booking(b["id"])
    assert (booking["status"], booking["start"]) == ("confirmed", booking_start)
    assert world.appointment(b["id"])["scheduledstart"] == appointment_start
    if policy == "flag":
        from bootstrap.composition import services

        drift = services().bookings.get(b["id"]).dynamics.to_json()["drift"]
        assert (drift["scheduledstart"], drift["modifiedBy"]) == ("2026-12-07T16:00:00+00:00", PERSON)
        assert [i["action"] for i in _reconcile(world)["items"]] == ["flagged"]  # recorded once, kept
