"""Outlook-side changes end to end: the app served over real HTTP so the Graph simulator can call it back.

A host's creation subscribes to its calendar (the simulator performs Graph's validation handshake against
`/api/graph/notifications`); a rep acting in Outlook (the simulator's API) makes the simulator post real
change notifications; the app validates them, queues them to `graph-changes` (a worker thread locally)
and the reconciler applies them. Tests wait on the simulator's `flush` and the queue's `drain`, never
on time.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import AppClient

from .scenario import AT_9, BEARER, MONDAY, book, new_event_type, new_host, outbox_events, slot_starts


@dataclass
class Live:
    client: AppClient
    router: Any
    url: str
    graph: Any
    clock: Any

    def settle(self) -> None:
        """Wait until Graph delivered every notification and the reconciler handled every queued one."""
        self.graph.flush()
        assert self.router.graph_changes.drain(timeout=30), "graph-changes did not drain"

    def booking(self, booking_id: str) -> dict[str, Any]:
        got: dict[str, Any] = self.client.get(f"/bookings/{booking_id}").json()
        return got

    def event(self, host: str, event_id: str) -> httpx.Response:
        return httpx.get(
            f"{self.graph.v1}/users/{host}/events/{event_id}",
            headers={**BEARER, "Prefer": 'outlook.timezone="UTC"'},
        )

    def move_event(self, host: str, event_id: str, start: datetime, minutes: int = 30) -> None:
        """The rep drags the meeting in Outlook."""
        end = start + timedelta(minutes=minutes)
        r = httpx.patch(
            f"{self.graph.v1}/users/{host}/events/{event_id}",
            headers=BEARER,
            json={
                "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            },
        )
        assert r.status_code == 200, r.text

    def subscription(self, host: str) -> Any:
        from bootstrap.composition import services

        return services().subscription_store.get(host)


@pytest.fixture
def live(
    app_env: dict[str, str], clock: Any, graph_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    import function_app
    from bootstrap.composition import build_services, install_services, reset_services
    from bootstrap.settings import Settings
    from devstack import localhost
    from devstack.function_host import FunctionRouter
    from devstack.serving import serve_in_thread

    router = FunctionRouter(function_app.app)
    server = serve_in_thread(localhost.create_app(router))
    monkeypatch.setenv("PUBLIC_BASE_URL", f"{server.url}/api")
    install_services(build_services(Settings.from_env(os.environ), clock))
    graph_sim.set_clock(clock.now())  # subscription limits are checked against the app's clock
    try:
        yield Live(client=AppClient(router), router=router, url=server.url, graph=graph_sim, clock=clock)
    finally:
        router.graph_changes.drain(timeout=30)
        server.stop()
        reset_services()
        graph_sim.set_clock(None)


def _booked(live: Live, **event_type: Any) -> tuple[str, dict[str, Any], str]:
    host = new_host(live.client, live.graph)
    slug = new_event_type(live.client, [host], **event_type)
    r = book(live.client, slug, AT_9)
    assert r.status == 201, r.body
    booking = live.booking(r.json()["id"])
    live.settle()  # our own create notifies too; it must change nothing
    assert live.booking(booking["id"]) == booking
    return host, booking, slug


NINE_UTC = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # AT_9 in Chicago


# --- subscriptions ----------------------------------------------------------------------------------------


def test_a_new_host_is_subscribed_with_its_own_client_state_stored_only_hashed(live: Live) -> None:
    import hashlib

    host = new_host(live.client, live.graph)
    record = live.subscription(host)
    assert record is not None and record.status == "active"
    r = httpx.get(f"{live.graph.v1}/subscriptions/{record.subscription_id}", headers=BEARER)
    assert r.status_code == 200, r.text
    sub = r.json()
    assert sub["resource"] == f"users/{host}/events"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["notificationUrl"] == f"{live.url}/api/graph/notifications"
    assert sub["lifecycleNotificationUrl"] == f"{live.url}/api/graph/lifecycle"
    assert len(sub["clientState"]) <= 128
    assert record.client_state_hash == hashlib.sha256(sub["clientState"].encode()).hexdigest()
    assert sub["clientState"] not in repr(record)
    expires = datetime.fromisoformat(sub["expirationDateTime"])
    assert expires - live.clock.now() <= timedelta(minutes=4200)
    handshakes = [h for h in live.graph.flush()["handshakes"] if h["url"].startswith(live.url)]
    assert handshakes and all(h["ok"] for h in handshakes)


def test_deactivating_a_host_deletes_its_subscription(live: Live) -> None:
    host = new_host(live.client, live.graph)
    sub_id = live.subscription(host).subscription_id
    doc = live.client.get(f"/admin/hosts/{host}").json()
    doc.pop("id", None)
    assert live.client.put(f"/admin/hosts/{host}", json_body={**doc, "active": False}).status == 200
    assert live.subscription(host) is None
    assert httpx.get(f"{live.graph.v1}/subscriptions/{sub_id}", headers=BEARER).status_code == 404


def test_subscriptions_are_renewed_before_they_expire(live: Live) -> None:
    from .scenario import registered_function

    host = new_host(live.client, live.graph)
    first = live.subscription(host)
    maintain = registered_function("maintain_graph_subscriptions")
    maintain(None)
    assert live.subscription(host).expires_at == first.expires_at  # far from expiry: kept
    later = first.expires_at - timedelta(hours=11)
    live.clock.set(later)
    live.graph.set_clock(later)
    maintain(None)
    renewed = live.subscription(host)
    assert renewed.subscription_id == first.subscription_id
    assert renewed.expires_at > first.expires_at
    sub = httpx.get(f"{live.graph.v1}/subscriptions/{first.subscription_id}", headers=BEARER).json()
    assert datetime.fromisoformat(sub["expirationDateTime"]) == renewed.expires_at


def test_a_removed_subscription_is_recreated(live: Live) -> None:
    host = new_host(live.client, live.graph)
    old = live.subscription(host).subscription_id
    live.graph.lifecycle(old, "subscriptionRemoved")
    live.settle()
    new = live.subscription(host)
    assert new.status == "active" and new.subscription_id != old
    assert (
        httpx.get(f"{live.graph.v1}/subscriptions/{new.subscription_id}", headers=BEARER).status_code == 200
    )


def test_reauthorization_required_renews_the_subscription(live: Live) -> None:
    host = new_host(live.client, live.graph)
    before = live.subscription(host)
    live.clock.set(live.clock.now() + timedelta(hours=1))
    live.graph.set_clock(live.clock.now())
    live.graph.lifecycle(before.subscription_id, "reauthorizationRequired")
    live.settle()
    after = live.subscription(host)
    assert after.subscription_id == before.subscription_id and after.expires_at > before.expires_at


# --- the callbacks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/graph/notifications", "/graph/lifecycle"])
def test_the_handshake_returns_the_token_verbatim_as_text_plain(live: Live, route: str) -> None:
    token = "Validation: <token> & more+plus =%20 ünïcode"
    r = httpx.post(f"{live.url}/api{route}", params={"validationToken": token})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == token


def test_a_forged_client_state_is_dropped_and_never_processed(live: Live) -> None:
    host, booking, _ = _booked(live)
    record = live.subscription(host)
    item = {
        "subscriptionId": record.subscription_id,
        "clientState": "forged",
        "changeType": "deleted",
        "resource": f"Users/{host}/Events/{booking['outlook']['eventId']}",
        "resourceData": {"id": booking["outlook"]["eventId"]},
    }
    r = httpx.post(f"{live.url}/api/graph/notifications", json={"value": [item]})
    assert r.status_code == 202 and r.json() == {"accepted": 0, "rejected": 1}
    lifecycle = httpx.post(
        f"{live.url}/api/graph/lifecycle",
        json={
            "value": [
                {
                    "subscriptionId": record.subscription_id,
                    "clientState": "x",
                    "lifecycleEvent": "subscriptionRemoved",
                }
            ]
        },
    )
    assert lifecycle.json() == {"accepted": 0, "rejected": 1}
    live.settle()
    assert live.subscription(host).subscription_id == record.subscription_id


def test_a_burst_of_500_notifications_is_answered_202_within_3_seconds(live: Live) -> None:
    from bootstrap.composition import services
    from scheduling_core.ports import SubscriptionRecord
    from scheduling_core.services.outlook_subscriptions import hash_client_state

    host = str(uuid.uuid4())  # a mailbox with a known client state, so the test can sign items
    subscription_id = str(uuid.uuid4())
    services().subscription_store.save(
        SubscriptionRecord(
            host_id=host,
            subscription_id=subscription_id,
            client_state_hash=hash_client_state("burst-state"),
            expires_at=None,
            status="active",
        ),
        expected_etag=None,
        create=True,
    )
    items = [
        {
            "subscriptionId": subscription_id,
            "clientState": "burst-state" if i % 10 else "wrong",
            "changeType": "updated",
            "resource": f"Users/{host}/Events/ev{i}",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": f"ev{i}"},
            "tenantId": str(uuid.uuid4()),
        }
        for i in range(500)
    ]
    started = time.monotonic()
    r = httpx.post(f"{live.url}/api/graph/notifications", json={"value": items}, timeout=10)
    elapsed = time.monotonic() - started
    assert r.status_code == 202 and r.json() == {"accepted": 450, "rejected": 50}
    assert elapsed < 3, f"answered in {elapsed:.2f} s"
    assert live.router.graph_changes.drain(timeout=120)
    assert live.router.graph_changes.dead_letters == ()


def test_a_notification_body_that_is_not_a_collection_is_a_problem(live: Live) -> None:
    r = httpx.post(
        f"{live.url}/api/graph/notifications",
        content=b"[1, 2]",
        headers={"Content-Type": "application/json"},  # as Graph sends its notifications
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


# --- the rep acts in Outlook ------------------------------------------------------------------------------


def test_the_rep_cancelling_in_outlook_cancels_the_booking_and_frees_the_slot(live: Live) -> None:
    host, booking, slug = _booked(live)
    assert "09:00" not in slot_starts(live.client, slug)
    r = httpx.post(
        f"{live.graph.v1}/users/{host}/events/{booking['outlook']['eventId']}/cancel",
        headers=BEARER,
        json={"comment": "Out sick"},
    )
    assert r.status_code == 202
    live.settle()
    after = live.booking(booking["id"])
    assert after["status"] == "cancelled" and after["cancellation"]["source"] == "outlook"
    assert "09:00" in slot_starts(live.client, slug)
    events = outbox_events(booking["id"])
    assert [e.type for e in events][-1] == "booking.cancelled"
    assert after["dynamics"]["syncStatus"] == "synced"  # Dataverse got the cancellation too


def test_the_rep_deleting_the_meeting_cancels_the_booking(live: Live) -> None:
    host, booking, _ = _booked(live)
    r = httpx.delete(f"{live.graph.v1}/users/{host}/events/{booking['outlook']['eventId']}", headers=BEARER)
    assert r.status_code == 204
    live.settle()
    assert live.booking(booking["id"])["status"] == "cancelled"


def test_a_hand_move_is_flagged_as_drift_by_default(live: Live, dataverse_sim: Any) -> None:
    from scheduling_core.domain.bookings import appointment_id

    host, booking, _ = _booked(live)
    event_id = booking["outlook"]["eventId"]
    live.move_event(host, event_id, NINE_UTC + timedelta(hours=2))
    live.settle()
    after = live.booking(booking["id"])
    assert after["start"] == booking["start"] and after["version"] == booking["version"] + 1
    drift = after["outlook"]["drift"]
    assert drift["eventStart"] == (NINE_UTC + timedelta(hours=2)).isoformat() and drift["changed"] == [
        "start",
        "end",
    ]
    assert outbox_events(booking["id"])[-1].type == "booking.drift-detected"
    appointment = dataverse_sim.row("appointments", appointment_id(booking["id"]))
    assert "Outlook drift: the host's Outlook shows 2026-12-07T17:00:00+00:00" in appointment["description"]
    event = live.event(host, event_id).json()
    assert event["start"]["dateTime"].startswith("2026-12-07T17:00:00")  # Outlook left as the rep put it
    live.move_event(host, event_id, NINE_UTC)  # the rep moves it back: the drift is resolved
    live.settle()
    assert live.booking(booking["id"])["outlook"]["drift"] is None


def test_a_hand_move_under_accept_reschedules_the_booking(live: Live) -> None:
    host, booking, slug = _booked(live, outlookEditPolicy="accept")
    live.move_event(host, booking["outlook"]["eventId"], NINE_UTC + timedelta(hours=1))
    live.settle()
    after = live.booking(booking["id"])
    assert after["start"] == f"{MONDAY}T10:00:00-06:00" and after["status"] == "confirmed"
    assert (
        after["outlook"]["drift"] is None and outbox_events(booking["id"])[-1].type == "booking.rescheduled"
    )
    assert "09:00" in slot_starts(live.client, slug) and "10:00" not in slot_starts(live.client, slug)


def test_a_hand_move_under_revert_moves_the_event_back(live: Live) -> None:
    host, booking, _ = _booked(live, outlookEditPolicy="revert")
    event_id = booking["outlook"]["eventId"]
    live.move_event(host, event_id, NINE_UTC + timedelta(hours=1))
    live.settle()
    event = live.event(host, event_id).json()
    assert event["start"]["dateTime"].startswith("2026-12-07T15:00:00")
    after = live.booking(booking["id"])
    assert after["start"] == booking["start"] and after["version"] == booking["version"]


# --- lost notifications -----------------------------------------------------------------------------------


def test_missed_notifications_are_caught_up_by_delta_resync(live: Live) -> None:
    from bootstrap.composition import services

    host, booking, _ = _booked(live)
    first = services().outlook_reconciler.resync(host)  # the first round stores a delta link
    assert first.full and services().subscription_store.delta_link(host)
    live.graph.pause_notifications()
    try:
        live.move_event(host, booking["outlook"]["eventId"], NINE_UTC + timedelta(hours=2))
        live.settle()
    finally:
        live.graph.resume_notifications()
    assert live.booking(booking["id"])["outlook"]["drift"] is None  # the notification was lost
    live.graph.lifecycle(live.subscription(host).subscription_id, "missed")
    live.settle()
    assert live.booking(booking["id"])["outlook"]["drift"]["eventStart"] == "2026-12-07T17:00:00+00:00"


def test_a_missed_deletion_arrives_in_the_next_delta_round_as_a_bare_removal_and_cancels(live: Live) -> None:
    from bootstrap.composition import services

    host, booking, _ = _booked(live)
    event_id = booking["outlook"]["eventId"]
    services().outlook_reconciler.resync(host)  # the first round stores a delta link
    live.graph.pause_notifications()
    try:
        r = httpx.delete(f"{live.graph.v1}/users/{host}/events/{event_id}", headers=BEARER)
        assert r.status_code == 204
        live.settle()
    finally:
        live.graph.resume_notifications()
    assert live.booking(booking["id"])["status"] == "confirmed"  # the notification was lost
    report = services().outlook_reconciler.resync(host)  # from the link: a removal, no times
    assert not report.full
    assert [(d.event_id, d.verdict) for d in report.decisions] == [(event_id, "cancel")]
    assert live.booking(booking["id"])["status"] == "cancelled"


def test_an_expired_delta_token_falls_back_to_a_full_round(live: Live) -> None:
    from bootstrap.composition import services

    host, booking, _ = _booked(live)
    services().outlook_reconciler.resync(host)
    live.graph.pause_notifications()
    try:
        r = httpx.delete(
            f"{live.graph.v1}/users/{host}/events/{booking['outlook']['eventId']}", headers=BEARER
        )
        assert r.status_code == 204
        live.settle()
    finally:
        live.graph.resume_notifications()
    live.graph.expire_delta_tokens()
    report = services().outlook_reconciler.resync(host)
    assert report.full
    assert live.booking(booking["id"])["status"] == "cancelled"
