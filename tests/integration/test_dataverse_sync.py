"""sync-dataverse end to end: bookings through the real functions, events through the local topic into
the real trigger, Azurite for state, the Dataverse simulator over HTTP for Dynamics."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from azure.functions import servicebus

from scheduling_core.domain.booking_sections import SyncStatus
from scheduling_core.domain.bookings import appointment_id
from scheduling_core.domain.events import booking_event, to_json
from scheduling_core.ports import CloudEvent
from tests.fixtures.dataverse import DataverseSim

from .scenario import AT_9, MONDAY, local_topic, outbox_events, registered_function, trigger_message
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host

AT_10 = f"{MONDAY}T10:00:00-06:00"
AT_11 = f"{MONDAY}T11:00:00-06:00"
INVITEE = {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": None}


class World:
    """A host known to Dynamics, a lead to book against, and an event type."""

    def __init__(self, app: Any, graph_sim: Any, dataverse: DataverseSim) -> None:
        self.app = app
        self.dataverse = dataverse
        self.host = _host(app, graph_sim)
        self.user = dataverse.create_user(aad_object_id=self.host)
        self.lead = dataverse.create(
            "leads", {"firstname": "Jo", "lastname": "Doe", "emailaddress1": "lead-only@fabrikam.com"}
        )
        self.slug = _event_type(app, [self.host], title="Discovery call")

    def book(self, start: str = AT_9, **extra: Any) -> dict[str, Any]:
        body = {
            "eventType": self.slug,
            "start": start,
            "timeZone": "America/Chicago",
            "invitee": extra.pop("invitee", INVITEE),
            "context": extra.pop("context", {"recordType": "lead", "recordId": self.lead}),
            **extra,
        }
        r = self.app.post("/bookings", json_body=body)
        assert r.status == 201, r.body
        booking: dict[str, Any] = r.json()
        return booking

    def appointment(self, booking_id: str) -> dict[str, Any]:
        return self.dataverse.row(
            "appointments",
            appointment_id(booking_id),
            **{
                "$expand": "appointment_activity_parties($select=participationtypemask,_partyid_value,"
                "addressused)"
            },
        )

    def appointment_count(self) -> int:
        rows = self.dataverse.call("GET", "appointments", params={"$select": "activityid"}).json()["value"]
        return len(rows)

    def booking(self, booking_id: str) -> dict[str, Any]:
        booking: dict[str, Any] = self.app.get(f"/bookings/{booking_id}").json()
        return booking


@pytest.fixture
def world(app: Any, graph_sim: Any, dataverse: DataverseSim) -> World:
    return World(app, graph_sim, dataverse)


def _parties(appointment: dict[str, Any]) -> set[tuple[int, str | None, str | None]]:
    return {
        (p["participationtypemask"], p.get("_partyid_value"), p.get("addressused"))
        for p in appointment["appointment_activity_parties"]
    }


def _trigger() -> Callable[[func.ServiceBusMessage], None]:
    return registered_function("sync_dataverse")


# --- the happy path through the local topic -----------------------------------------------------------


def test_create_reschedules_and_cancel_keep_one_appointment_true_to_the_booking(world: World) -> None:
    contact = world.dataverse.create(
        "contacts", {"firstname": "Jo", "lastname": "Doe", "emailaddress1": INVITEE["email"]}
    )
    b = world.book()
    assert world.booking(b["id"])["dynamics"] == {
        "appointmentId": appointment_id(b["id"]),
        "syncStatus": "synced",
    }
    appt = world.appointment(b["id"])
    assert appt["subject"] == "Discovery call with Jo Doe"
    assert (appt["scheduledstart"], appt["scheduledend"]) == ("2026-12-07T15:00:00Z", "2026-12-07T15:30:00Z")
    assert appt["_regardingobjectid_value"] == world.lead
    assert appt["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "lead"
    assert (appt["statecode"], appt["statuscode"]) == (3, 5)
    assert _parties(appt) == {(7, world.user, None), (5, contact, None)}
    assert b["id"] in appt["description"] and "first free host" in appt["description"]
    assert appt["location"] == "Microsoft Teams meeting"

    for start in (AT_10, AT_11, f"{MONDAY}T08:30:00-06:00"):
        r = world.app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": start})
        assert r.status == 200, r.body
    appt = world.appointment(b["id"])
    assert (appt["scheduledstart"], appt["scheduledend"]) == ("2026-12-07T14:30:00Z", "2026-12-07T15:00:00Z")
    assert (appt["statecode"], appt["statuscode"]) == (3, 5)
    assert world.appointment_count() == 1

    assert (
        world.app.post(f"/bookings/{b['id']}/cancel", json_body={"reason": "no longer needed"}).status == 200
    )
    appt = world.appointment(b["id"])
    assert (appt["statecode"], appt["statuscode"]) == (2, 4)
    assert world.appointment_count() == 1
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "synced"


def test_an_invitee_unknown_to_dynamics_is_an_address_and_a_lead_match_is_used(world: World) -> None:
    stranger = world.book(invitee={"name": "Sam", "email": "sam@elsewhere.example", "phone": None})
    assert _parties(world.appointment(stranger["id"])) == {
        (7, world.user, None),
        (5, None, "sam@elsewhere.example"),
    }
    lead_invitee = world.book(AT_10, invitee={"name": "Jo", "email": "lead-only@fabrikam.com", "phone": None})
    assert (5, world.lead, None) in _parties(world.appointment(lead_invitee["id"]))


def test_a_missing_regarding_record_marks_the_booking_failed_and_settles(world: World) -> None:
    from bootstrap.composition import services

    missing = str(uuid.uuid4())
    b = world.book(context={"recordType": "opportunity", "recordId": missing})
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "failed"
    stored = services().bookings.get(b["id"])
    error = stored.dynamics.error or ""
    assert "404" in error and missing in error
    # Settled, not left for redelivery: the outbox has nothing pending for it.
    assert all(e.data["bookingId"] != b["id"] for e in (p.event for p in services().booking_store.pending()))
    assert world.appointment_count() == 0


# --- ordering, duplicates, concurrency (the trigger called directly) ------------------------------------


def _booking_with_three_versions(world: World) -> tuple[str, list[CloudEvent]]:
    """A booking created, rescheduled and cancelled with Dataverse switched off, and its three events."""
    world.dataverse.add_fault(503, count=1000, retry_after=0)
    b = world.book()
    assert world.app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": AT_10}).status == 200
    assert world.app.post(f"/bookings/{b['id']}/cancel", json_body={}).status == 200
    world.dataverse.clear_faults()
    events = outbox_events(b["id"])
    assert [e.type for e in events] == ["booking.created", "booking.rescheduled", "booking.cancelled"]
    assert world.appointment_count() == 0
    return b["id"], events


def test_cancel_before_create_and_duplicates_end_canceled_with_one_appointment(world: World) -> None:
    booking_id, (created, rescheduled, cancelled) = _booking_with_three_versions(world)
    trigger = _trigger()
    trigger(trigger_message(cancelled))
    trigger(trigger_message(created))
    trigger(trigger_message(cancelled, delivery_count=2))
    trigger(trigger_message(rescheduled))
    appt = world.appointment(booking_id)
    assert (appt["statecode"], appt["statuscode"]) == (2, 4)
    assert appt["scheduledstart"] == "2026-12-07T16:00:00Z"  # the cancelled snapshot's (rescheduled) time
    assert world.appointment_count() == 1
    writes = world.dataverse.requests(path_contains="appointments", method="PATCH")
    assert len(writes) == 2  # the fields and the state of the one snapshot that counted


def test_v3_before_v2_keeps_v3_and_the_same_event_twice_is_a_no_op(world: World) -> None:
    world.dataverse.add_fault(503, count=1000, retry_after=0)
    b = world.book()
    for start in (AT_10, AT_11):
        assert world.app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": start}).status == 200
    world.dataverse.clear_faults()
    v1, v2, v3 = outbox_events(b["id"])
    trigger = _trigger()
    trigger(trigger_message(v3))
    world.dataverse.clear_requests()
    for event in (v2, v3, v1, v3):
        trigger(trigger_message(event))
    assert world.dataverse.requests() == []  # stale and repeated snapshots never reach Dataverse
    appt = world.appointment(b["id"])
    assert appt["scheduledstart"] == "2026-12-07T17:00:00Z" and (appt["statecode"], appt["statuscode"]) == (
        3,
        5,
    )
    assert world.appointment_count() == 1
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "synced"


def test_concurrent_deliveries_for_one_booking_end_at_the_newest_snapshot(world: World) -> None:
    booking_id, events = _booking_with_three_versions(world)
    trigger = _trigger()
    deliveries = [event for event in events for _ in range(3)]  # each version three times
    barrier = threading.Barrier(len(deliveries))
    failures: list[BaseException] = []

    def deliver(event: CloudEvent) -> None:
        barrier.wait()
        try:
            trigger(trigger_message(event))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    appt = world.appointment(booking_id)
    assert (appt["statecode"], appt["statuscode"]) == (2, 4)
    assert world.appointment_count() == 1


def test_a_newer_snapshot_built_by_hand_is_applied_whole(world: World) -> None:
    """`booking_event` of a snapshot is all the handler needs: the appointment follows it field by field."""
    b = world.book()
    snapshot = world.booking(b["id"])
    moved = {**snapshot, "version": 7, "start": "2026-12-08T15:00:00Z", "end": "2026-12-08T15:30:00Z"}
    moved["outlook"] = {**snapshot["outlook"], "joinUrl": "https://teams.microsoft.com/l/meetup-join/abc"}
    event = booking_event(
        booking=moved, event_type="booking.rescheduled", time=datetime.now(UTC), traceparent=None
    )
    assert json.loads(to_json(event))["id"] == f"{b['id']}:7"
    _trigger()(trigger_message(event))
    appt = world.appointment(b["id"])
    assert appt["scheduledstart"] == "2026-12-08T15:00:00Z"
    assert appt["onlinemeetingjoinurl"] == "https://teams.microsoft.com/l/meetup-join/abc"
    assert appt["location"] == "Microsoft Teams meeting"
    assert "https://teams.microsoft.com/l/meetup-join/abc" in appt["description"]


def test_a_new_organizer_after_creation_is_set_through_the_appointments_own_party_collection(
    world: World, graph_sim: Any
) -> None:
    """Parties of an existing appointment change the documented way: the appointment's update carries its
    whole `appointment_activity_parties` list; no request writes `activityparties` on its own."""
    b = world.book()
    before = _parties(world.appointment(b["id"]))
    assert (7, world.user, None) in before
    new_host = _host(world.app, graph_sim)
    new_user = world.dataverse.create_user(aad_object_id=new_host, first_name="Bo")
    snapshot = world.booking(b["id"])
    reassigned = {**snapshot, "version": 7, "hostIds": [new_host]}
    _trigger()(
        trigger_message(
            booking_event(
                booking=reassigned, event_type="booking.rescheduled", time=datetime.now(UTC), traceparent=None
            )
        )
    )
    after = _parties(world.appointment(b["id"]))
    assert after == (before - {(7, world.user, None)}) | {(7, new_user, None)}
    assert world.dataverse.requests(path_contains="activityparties") == []
    writes = [
        r for r in world.dataverse.requests(path_contains=appointment_id(b["id"])) if r["method"] == "PATCH"
    ]
    named = [
        r["json"]["appointment_activity_parties"]
        for r in writes
        if "appointment_activity_parties" in r["json"]
    ]
    assert named[-1] == [  # the whole list, in the appointment's own update
        {"participationtypemask": 7, "partyid_systemuser@odata.bind": f"/systemusers({new_user})"},
        {"participationtypemask": 5, "addressused": INVITEE["email"]},
    ]


def test_the_trigger_binds_the_dataverse_subscription_with_sessions() -> None:
    import function_app
    from devstack.function_host import indexed_functions

    (fn,) = [f for f in indexed_functions(function_app.app) if f.get_function_name() == "sync_dataverse"]
    (binding,) = json.loads(fn.get_function_json())["bindings"]
    assert binding == {
        "direction": "IN",
        "type": "serviceBusTrigger",
        "name": "msg",
        "connection": "ServiceBusConnection",
        "topicName": "booking-events",
        "subscriptionName": "dataverse",
        "isSessionsEnabled": True,
    }


def test_an_unreadable_message_is_raised_so_it_ends_in_the_dead_letter_queue() -> None:
    from scheduling_core.errors import MalformedEvent

    message = servicebus.ServiceBusMessage(
        body=b"{not json", delivery_count=1, message_id="x", application_properties={}, user_properties={}
    )
    with pytest.raises(MalformedEvent):
        _trigger()(message)


# --- failures ------------------------------------------------------------------------------------------


def test_throttling_is_retried_by_the_client_and_then_succeeds(world: World) -> None:
    world.dataverse.add_fault(429, count=2, retry_after=0, path_contains="appointments", method="PATCH")
    b = world.book()
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "synced"
    assert world.appointment(b["id"])["statecode"] == 3
    statuses = [r["status"] for r in world.dataverse.requests(path_contains="appointments", method="PATCH")]
    assert statuses.count(429) == 2 and world.appointment_count() == 1


def test_server_errors_are_redelivered_then_marked_failed_and_dead_lettered(world: World) -> None:
    from bootstrap.composition import services

    world.dataverse.add_fault(500, count=1000, path_contains="appointments")
    b = world.book()  # every delivery fails, and Service Bus redelivers each at once
    max_count = services().dataverse_sync.max_delivery_count
    dynamics = services().bookings.get(b["id"]).dynamics
    assert dynamics.sync_status is SyncStatus.FAILED
    error = dynamics.error or ""
    assert "500" in error and f"after {max_count} deliveries" in error
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "failed"
    topic = local_topic()
    assert [(d.function, d.message_id, d.reason) for d in topic.dead_letters] == [
        ("sync_dataverse", f"{b['id']}:1", "MaxDeliveryCountExceeded")
    ]
    # Once Dataverse is back, a later snapshot (here: the cancel) brings it in line again.
    world.dataverse.clear_faults()
    assert world.app.post(f"/bookings/{b['id']}/cancel", json_body={}).status == 200
    assert world.appointment(b["id"])["statecode"] == 2
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "synced"


# --- the sync-state table (Azurite) ---------------------------------------------------------------------


def test_the_sync_state_lease_excludes_others_until_it_ends_or_expires(azurite: Any) -> None:
    from datetime import timedelta

    from azure.data.tables import TableServiceClient

    from scheduling_core.adapters.sync_state_table import TableSyncStateStore
    from scheduling_core.adapters.tables import Tables
    from scheduling_core.ports import LeaseOutcome

    tables = Tables(
        TableServiceClient.from_connection_string(azurite.connection_string), "t" + uuid.uuid4().hex[:10]
    )
    store = TableSyncStateStore(tables)
    now, minute = datetime(2026, 11, 24, 12, 0, tzinfo=UTC), timedelta(minutes=1)

    def take(version: int, owner: str, at: datetime = now) -> LeaseOutcome:
        return store.take_lease("dataverse", "bk_1", version, owner=owner, now=at, duration=minute).outcome

    assert store.applied_version("dataverse", "bk_1") == 0
    assert take(2, "a") is LeaseOutcome.TAKEN
    assert take(3, "b") is LeaseOutcome.BUSY
    store.release("dataverse", "bk_1", owner="a")
    assert take(3, "b") is LeaseOutcome.TAKEN
    store.finish("dataverse", "bk_1", 3, owner="b")
    assert store.applied_version("dataverse", "bk_1") == 3
    assert take(3, "c") is LeaseOutcome.ALREADY_APPLIED and take(2, "c") is LeaseOutcome.ALREADY_APPLIED
    # An owner that never finishes: its lease expires and another takes over.
    assert take(4, "d") is LeaseOutcome.TAKEN
    assert take(5, "e", now + 2 * minute) is LeaseOutcome.TAKEN
    store.finish("dataverse", "bk_1", 4, owner="d")  # late: records 4, leaves e's lease alone
    assert store.applied_version("dataverse", "bk_1") == 4
    assert take(5, "f", now + 2 * minute) is LeaseOutcome.BUSY
    store.finish("dataverse", "bk_1", 5, owner="e")
    store.finish("dataverse", "bk_1", 4, owner="d")  # never lowers the version
    assert store.applied_version("dataverse", "bk_1") == 5


def test_the_teams_link_goes_to_onlinemeetingjoinurl_and_location_stays_readable(world: World) -> None:
    b = world.book()
    join_url = world.booking(b["id"])["outlook"]["joinUrl"]
    assert len(join_url) > 200  # a real Teams join URL: longer than appointment.location holds
    # The join URL reaches the appointment with the booking's next event.
    assert world.app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": AT_10}).status == 200
    appt = world.appointment(b["id"])
    assert (appt["onlinemeetingjoinurl"], appt["isonlinemeeting"]) == (join_url, True)
    assert appt["location"] == "Microsoft Teams meeting"
    assert join_url in appt["description"]
    assert world.booking(b["id"])["dynamics"]["syncStatus"] == "synced"
