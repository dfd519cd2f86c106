"""Graph simulator subscriptions and notifications over real HTTP: the validation handshake, Graph's
limits and errors, change and lifecycle notifications to a local endpoint, retries, pause, expiry."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from devstack.graph_sim import create_app
from devstack.serving import serve_in_thread
from tests.fixtures.graph import GraphSchema, GraphSim, NotificationReceiver

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
EVENT_KEYS = {
    "subscriptionId",
    "subscriptionExpirationDateTime",
    "changeType",
    "resource",
    "resourceData",
    "clientState",
    "tenantId",
}
LIFECYCLE_KEYS = {
    "subscriptionId",
    "subscriptionExpirationDateTime",
    "tenantId",
    "clientState",
    "lifecycleEvent",
}


@pytest.fixture
def clock(graph: GraphSim) -> datetime:
    """The simulator's clock fixed at NOW (as a test's app clock would be)."""
    graph.set_clock(NOW)
    return NOW


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def subscription_body(user: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "resource": f"users/{user}/events",
        "expirationDateTime": (NOW + timedelta(hours=24)).isoformat(),
        "clientState": "secret",
        **extra,
    }


def post(graph: GraphSim, path: str, body: Any) -> httpx.Response:
    return graph.http.post(f"{graph.v1}{path}", json=body, headers=graph.auth)


def patch(graph: GraphSim, path: str, body: Any) -> httpx.Response:
    return graph.http.patch(f"{graph.v1}{path}", json=body, headers=graph.auth)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/lifecycle"


def slot(hour: int) -> dict[str, Any]:
    return {
        "start": {"dateTime": f"2026-12-02T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2026-12-02T{hour:02d}:30:00", "timeZone": "UTC"},
    }


# -- creating a subscription -------------------------------------------------------------------------


def test_a_subscription_is_created_only_after_its_endpoints_echo_the_validation_token(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    graph.create_user("ana@contoso.com", id="ana-id")
    created = graph.subscribe(
        "ana@contoso.com",
        graph_receiver.url("/notifications?tenant=t1"),
        lifecycle_url=graph_receiver.url("/lifecycle"),
        expiration=clock + timedelta(days=3),
    )

    (validation,) = graph_receiver.validations("/notifications")
    token = validation.query["validationToken"]
    assert {"<", "&", " ", ":"} <= set(token)  # only an unescaped echo passes
    assert validation.query["tenant"] == "t1"  # the notificationUrl's own query is kept
    assert validation.headers["content-type"].startswith("text/plain")
    assert len(graph_receiver.validations("/lifecycle")) == 1

    assert created["@odata.context"].endswith("/v1.0/$metadata#subscriptions/$entity")
    assert len(created["id"]) == 36
    assert created["resource"] == "users/ana@contoso.com/events"
    assert created["changeType"] == "created,updated,deleted"
    assert created["clientState"] == "client-state-secret"
    assert created["expirationDateTime"] == "2026-12-04T08:00:00.0000000Z"
    assert created["includeResourceData"] is False
    assert created["latestSupportedTlsVersion"] == "v1_2"
    assert created["notificationQueryOptions"] is None
    assert created["encryptionCertificate"] is None
    assert created["lifecycleNotificationUrl"] == graph_receiver.url("/lifecycle")
    assert created["applicationId"] and created["creatorId"]

    fetched = graph.http.get(f"{graph.v1}/subscriptions/{created['id']}", headers=graph.auth).json()
    assert fetched == created
    listed = graph.http.get(f"{graph.v1}/subscriptions", headers=graph.auth).json()
    assert [s["id"] for s in listed["value"]] == [created["id"]]


@pytest.mark.parametrize("answer", ["escaped", "encoded", "json", "error"])
def test_an_endpoint_that_does_not_echo_the_token_exactly_gets_no_subscription(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime, answer: str
) -> None:
    graph_receiver.handshake = answer
    response = post(graph, "/subscriptions", subscription_body("ana", graph_receiver.url()))
    assert response.status_code == 400
    assert error_code(response) == "ValidationError"
    assert response.json()["error"]["message"] == (
        "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
        "validation request."
    )
    assert graph.http.get(f"{graph.v1}/subscriptions", headers=graph.auth).json()["value"] == []


def test_an_unreachable_lifecycle_endpoint_or_a_slow_one_fails_validation(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    unreachable = post(
        graph,
        "/subscriptions",
        subscription_body("ana", graph_receiver.url(), lifecycleNotificationUrl=closed_port_url()),
    )
    assert unreachable.status_code == 400
    assert error_code(unreachable) == "ValidationError"

    graph.configure_notifications(validationTimeoutSeconds=0.3)
    graph_receiver.handshake, graph_receiver.hang_seconds = "hang", 1.5
    slow = post(graph, "/subscriptions", subscription_body("ana", graph_receiver.url()))
    assert slow.status_code == 400
    assert slow.json()["error"]["message"] == "Subscription validation request timed out."
    handshakes = graph.http.get(f"{graph.url}/_sim/notifications/deliveries").json()["handshakes"]
    assert [h["reason"] for h in handshakes][-1] == "timed out"


def test_subscription_requests_are_checked_against_graphs_outlook_limits(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    url = graph_receiver.url()

    def create(**extra: Any) -> httpx.Response:
        return post(graph, "/subscriptions", subscription_body("ana", url, **extra))

    assert create(clientState="x" * 128).status_code == 201
    too_long = create(clientState="x" * 129)
    assert too_long.status_code == 400

    longest = create(expirationDateTime=(clock + timedelta(minutes=10080)).isoformat())
    assert longest.status_code == 201
    beyond = create(expirationDateTime=(clock + timedelta(minutes=10081)).isoformat())
    assert beyond.status_code == 400
    assert error_code(beyond) == "ExtensionError"
    assert (
        beyond.json()["error"]["message"]
        == "Subscription expiration can only be 10080 minutes in the future."
    )
    past = create(expirationDateTime=(clock - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"))
    assert past.status_code == 400
    short = create(expirationDateTime=(clock + timedelta(minutes=5)).isoformat())
    assert short.json()["expirationDateTime"] == "2026-12-01T08:45:00.0000000Z"  # raised to 45 minutes

    for bad in (
        {"changeType": "created,moved"},
        {"changeType": ""},
        {"resource": "me/events"},
        {"resource": "users/ana/messages"},
        {"colour": "blue"},
        {"includeResourceData": True},
        {"notificationUrl": "ftp://example.com/x"},
        {"latestSupportedTlsVersion": "v9"},
    ):
        response = create(**bad)
        assert response.status_code == 400, bad
    for resource in ("/users/ana/events", "Users/ana/Calendar/Events", "users/ana@contoso.com/events"):
        assert create(resource=resource).status_code == 201, resource
    missing = post(
        graph, "/subscriptions", {k: v for k, v in subscription_body("ana", url).items() if k != "resource"}
    )
    assert missing.status_code == 400


def test_a_subscription_is_renewed_reauthorized_and_deleted_like_graphs(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    created = graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(hours=1))
    path = f"/subscriptions/{created['id']}"

    renewed = patch(graph, path, {"expirationDateTime": "2026-12-03T08:00:00Z"})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expirationDateTime"] == "2026-12-03T08:00:00.0000000Z"
    assert len(graph_receiver.validations()) == 2  # a renewal validates the endpoint again
    assert patch(graph, path, {"expirationDateTime": "2026-12-09T08:00:00Z"}).status_code == 400
    assert patch(graph, path, {"lifecycleNotificationUrl": graph_receiver.url("/l")}).status_code == 400
    assert patch(graph, path, {}).status_code == 400
    moved = patch(graph, path, {"notificationUrl": graph_receiver.url("/elsewhere")})
    assert moved.json()["notificationUrl"] == graph_receiver.url("/elsewhere")
    assert graph_receiver.validations("/elsewhere")

    reauthorized = graph.http.post(f"{graph.v1}{path}/reauthorize", headers=graph.auth)
    assert reauthorized.status_code == 204

    assert graph.http.delete(f"{graph.v1}{path}", headers=graph.auth).status_code == 204
    for method in ("GET", "DELETE", "PATCH"):
        gone = graph.http.request(
            method,
            f"{graph.v1}{path}",
            headers=graph.auth,
            json={"expirationDateTime": "2026-12-02T08:00:00Z"},
        )
        assert gone.status_code == 404, method
        assert error_code(gone) == "ResourceNotFound"
        assert gone.json()["error"]["message"] == "The object was not found."


# -- change notifications ----------------------------------------------------------------------------


def test_every_event_write_notifies_the_mailboxs_matching_subscriptions(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    graph.create_user("ana@contoso.com", id="ana-id")
    everything = graph.subscribe("ana-id", graph_receiver.url(), expiration=clock + timedelta(days=2))
    graph.subscribe(
        "ana@contoso.com",
        graph_receiver.url("/created"),
        expiration=clock + timedelta(days=2),
        change_type="created",
    )
    graph.subscribe("ben", graph_receiver.url("/ben"), expiration=clock + timedelta(days=2))

    first = graph.post_event(
        "ana-id", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00", transactionId="t1"
    )
    retry = post(graph, "/users/ana-id/events", {**slot(9), "transactionId": "t1"})
    assert retry.status_code == 400  # ErrorDuplicateTransactionId: nothing written, nothing notified
    moved = patch(graph, f"/users/ana-id/events/{first['id']}", slot(11)).json()
    second = graph.post_event("ana@contoso.com", start="2026-12-02T13:00:00", end="2026-12-02T14:00:00")
    assert post(graph, f"/users/ana-id/events/{second['id']}/cancel", {"comment": "sorry"}).status_code == 202
    assert (
        graph.http.delete(f"{graph.v1}/users/ana-id/events/{first['id']}", headers=graph.auth).status_code
        == 204
    )
    graph.flush()

    received = graph_receiver.notifications("/notifications")
    assert [(n["changeType"], n["resourceData"]["id"]) for n in received] == [
        ("created", first["id"]),
        ("updated", first["id"]),
        ("created", second["id"]),
        ("deleted", second["id"]),
        ("deleted", first["id"]),
    ]
    for item in received:
        assert set(item) == EVENT_KEYS
        assert item["subscriptionId"] == everything["id"]
        assert item["subscriptionExpirationDateTime"] == everything["expirationDateTime"]
        assert item["clientState"] == "client-state-secret"
        assert item["resource"] == f"Users/ana-id/Events/{item['resourceData']['id']}"
        assert item["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
        assert item["resourceData"]["@odata.id"] == item["resource"]
    assert received[0]["resourceData"]["@odata.etag"] == first["@odata.etag"]
    assert received[1]["resourceData"]["@odata.etag"] == moved["@odata.etag"]
    assert [n["changeType"] for n in graph_receiver.notifications("/created")] == ["created", "created"]
    assert graph_receiver.notifications("/ben") == []
    assert all(d["outcome"] == "delivered" and d["status"] == 202 for d in graph.deliveries())


def test_an_endpoint_may_read_and_write_the_simulator_while_it_is_being_notified(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(days=1), change_type="created")
    subjects: list[str] = []

    def read_back(body: Any) -> None:  # what a reconciler does: GET the resource, write something
        resource = body["value"][0]["resource"]
        subjects.append(graph.http.get(f"{graph.v1}/{resource}", headers=graph.auth).json()["subject"])
        graph.post_event("ben", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00")

    graph_receiver.on_notification = read_back
    graph.post_event("ana", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00", subject="Intro")
    graph.flush()
    assert subjects == ["Intro"]
    assert len(graph.http.get(f"{graph.v1}/users/ben/events", headers=graph.auth).json()["value"]) == 1


def test_a_failing_endpoint_gets_a_few_retries_then_the_notification_is_dropped(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    graph.configure_notifications(retryDelaysSeconds=[0.01, 0.02, 0.03])
    graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(days=1))
    graph_receiver.statuses.extend([500, 503])
    graph.post_event("ana", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00")
    graph.flush()
    (recovered,) = graph.deliveries()
    assert recovered["outcome"] == "delivered"
    assert [a["status"] for a in recovered["attempts"]] == [500, 503, 202]
    assert len(graph_receiver.notifications()) == 3  # the same notification, posted three times

    graph_receiver.statuses.extend([500] * 4)
    graph.post_event("ana", start="2026-12-02T11:00:00", end="2026-12-02T12:00:00")
    graph.flush()
    given_up = graph.deliveries()[-1]
    assert given_up["outcome"] == "failed"
    assert [a["status"] for a in given_up["attempts"]] == [500, 500, 500, 500]


def test_an_endpoint_answering_slowly_is_marked_drop_and_loses_new_notifications(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    """Graph: more than 15% of answers slower than the threshold in 10 minutes and new notifications
    are dropped. The threshold is lowered to 50 ms so the test need not wait 3 s per answer."""
    graph.configure_notifications(slowSeconds=0.05)
    graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(days=1))
    graph_receiver.on_notification = lambda body: time.sleep(0.2)  # a slow endpoint, not a synchronisation
    for hour in range(10):
        graph.post_event("ana", start=f"2026-12-02T{hour:02d}:00:00", end=f"2026-12-02T{hour:02d}:30:00")
    graph.flush(timeout=30)
    state = graph.http.get(f"{graph.url}/_sim/notifications/deliveries").json()["endpoints"]
    assert state == {graph_receiver.url(): {"state": "drop", "answers": 10, "slow": 10}}
    graph_receiver.on_notification = None
    graph.post_event("ana", start="2026-12-02T11:00:00", end="2026-12-02T11:30:00")
    graph.flush()
    last = graph.deliveries()[-1]
    assert last["outcome"] == "dropped" and last["attempts"][0]["reason"] == "endpoint-drop"
    assert len(graph_receiver.notifications()) == 10


def test_notifications_are_lost_while_paused_and_flow_again_after_resume(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(days=1))
    graph.pause_notifications()
    missed = graph.post_event("ana", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00")
    graph.flush()
    assert graph_receiver.notifications() == []
    assert [(d["outcome"], d["body"]["value"][0]["resourceData"]["id"]) for d in graph.deliveries()] == [
        ("dropped", missed["id"])
    ]
    graph.resume_notifications()
    seen = graph.post_event("ana", start="2026-12-02T11:00:00", end="2026-12-02T12:00:00")
    graph.flush()
    assert [n["resourceData"]["id"] for n in graph_receiver.notifications()] == [seen["id"]]


def test_an_expired_subscription_gets_nothing_and_disappears(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    created = graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(hours=1))
    graph.set_clock(clock + timedelta(minutes=59))
    graph.post_event("ana", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00")
    graph.set_clock(clock + timedelta(hours=1))
    graph.post_event("ana", start="2026-12-02T11:00:00", end="2026-12-02T12:00:00")
    graph.flush()
    assert len(graph_receiver.notifications()) == 1
    assert graph.http.get(f"{graph.v1}/subscriptions/{created['id']}", headers=graph.auth).status_code == 404
    assert graph.http.get(f"{graph.v1}/subscriptions", headers=graph.auth).json()["value"] == []


def test_the_clock_is_real_time_unless_a_test_fixes_it(graph: GraphSim) -> None:
    before = datetime.now(UTC)
    answer = graph.http.get(f"{graph.url}/_sim/clock").json()
    assert answer["fixed"] is False
    assert datetime.fromisoformat(answer["now"]) >= before
    graph.set_clock(NOW)
    assert graph.http.get(f"{graph.url}/_sim/clock").json() == {"now": NOW.isoformat(), "fixed": True}
    event = graph.post_event("ana", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00")
    assert event["createdDateTime"] == "2026-12-01T08:00:00.0000000Z"
    graph.set_clock(None)
    assert graph.http.get(f"{graph.url}/_sim/clock").json()["fixed"] is False
    assert graph.http.post(f"{graph.url}/_sim/clock", json={"now": "soon"}).status_code == 400


# -- lifecycle notifications -------------------------------------------------------------------------


def test_lifecycle_notifications_go_to_the_lifecycle_url_and_removal_ends_the_subscription(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    created = graph.subscribe(
        "ana",
        graph_receiver.url(),
        lifecycle_url=graph_receiver.url("/lifecycle"),
        expiration=clock + timedelta(days=1),
    )
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        graph.lifecycle(created["id"], event)
    graph.flush()
    received = graph_receiver.notifications("/lifecycle")
    assert [n["lifecycleEvent"] for n in received] == [
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    ]
    for item in received:
        assert set(item) == LIFECYCLE_KEYS
        assert item["subscriptionId"] == created["id"]
        assert item["clientState"] == "client-state-secret"
    assert graph_receiver.notifications("/notifications") == []
    assert graph.http.get(f"{graph.v1}/subscriptions/{created['id']}", headers=graph.auth).status_code == 404

    unknown = graph.http.post(
        f"{graph.url}/_sim/subscriptions/{created['id']}/lifecycle", json={"lifecycleEvent": "missed"}
    )
    assert unknown.status_code == 404
    plain = graph.subscribe("ana", graph_receiver.url(), expiration=clock + timedelta(days=1))
    no_url = graph.http.post(
        f"{graph.url}/_sim/subscriptions/{plain['id']}/lifecycle", json={"lifecycleEvent": "missed"}
    )
    assert no_url.status_code == 400
    bad = graph.http.post(
        f"{graph.url}/_sim/subscriptions/{plain['id']}/lifecycle", json={"lifecycleEvent": "nap"}
    )
    assert bad.status_code == 400


# -- faults, persistence, schema ---------------------------------------------------------------------


def test_queued_faults_apply_to_subscription_and_delta_requests(
    graph: GraphSim, graph_receiver: NotificationReceiver, clock: datetime
) -> None:
    graph.add_fault(429, retry_after=2, path_contains="/subscriptions", method="POST")
    throttled = post(graph, "/subscriptions", subscription_body("ana", graph_receiver.url()))
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert graph_receiver.validations() == []  # refused before anything else happened
    graph.add_fault(503, path_contains="calendarView/delta")
    window = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-02T00:00:00Z"}
    unavailable = graph.http.get(
        f"{graph.v1}/users/ana/calendarView/delta", params=window, headers=graph.auth
    )
    assert unavailable.status_code == 503
    graph.add_fault(500, path_contains="/subscriptions/", method="PATCH")
    assert patch(graph, "/subscriptions/x", {"expirationDateTime": "2026-12-02T00:00:00Z"}).status_code == 500


def test_subscriptions_and_delta_links_survive_a_restart(
    tmp_path: Path, graph_receiver: NotificationReceiver
) -> None:
    state_file = tmp_path / "graph.json"
    auth = {"Authorization": "Bearer t"}
    expiration = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    window = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-03T00:00:00Z"}
    first = serve_in_thread(create_app(state_file))
    try:
        with httpx.Client(base_url=f"{first.url}/v1.0", headers=auth) as client:
            subscription = client.post(
                "/subscriptions",
                json=subscription_body("ana", graph_receiver.url(), expirationDateTime=expiration),
            ).json()
            before = client.post("/users/ana/events", json=slot(9)).json()
            client.post(f"{first.url}/_sim/notifications/flush").raise_for_status()
            delta_link = client.get("/users/ana/calendarView/delta", params=window).json()["@odata.deltaLink"]
    finally:
        first.stop()
    second = serve_in_thread(create_app(state_file))
    try:
        with httpx.Client(headers=auth) as client:
            assert client.get(f"{second.url}/v1.0/subscriptions/{subscription['id']}").status_code == 200
            created = client.post(f"{second.url}/v1.0/users/ana/events", json=slot(11)).json()
            changes = client.get(delta_link.replace(first.url, second.url)).json()
            assert [item["id"] for item in changes["value"]] == [created["id"]]
            client.post(f"{second.url}/_sim/notifications/flush").raise_for_status()
    finally:
        second.stop()
    assert [n["resourceData"]["id"] for n in graph_receiver.notifications()] == [before["id"], created["id"]]


def test_subscription_and_notification_payloads_fit_the_graph_v1_schema(
    graph: GraphSim, graph_receiver: NotificationReceiver, graph_schema: GraphSchema, clock: datetime
) -> None:
    created = graph.subscribe(
        "ana",
        graph_receiver.url(),
        lifecycle_url=graph_receiver.url("/lifecycle"),
        expiration=clock + timedelta(days=1),
    )
    event = graph.post_event("ana", start="2026-12-02T09:00:00", end="2026-12-02T10:00:00")
    patch(graph, f"/users/ana/events/{event['id']}", {"subject": "moved"})
    graph.http.delete(f"{graph.v1}/users/ana/events/{event['id']}", headers=graph.auth)
    graph.lifecycle(created["id"], "missed")
    graph.flush()
    listed = graph.http.get(f"{graph.v1}/subscriptions", headers=graph.auth).json()

    objects: list[tuple[Any, str]] = [(created, "graph.subscription")]
    objects += [(s, "graph.subscription") for s in listed["value"]]
    bodies = [r.body for r in graph_receiver.received if "validationToken" not in r.query]
    assert len(bodies) == 4
    objects += [(body, "graph.changeNotificationCollection") for body in bodies]
    problems = [p for value, type_name in objects for p in graph_schema.problems(value, type_name)]
    assert problems == []
    for name in created:  # every property Graph returns, not just known ones
        assert name.startswith("@odata.") or name in graph_schema.properties("graph.subscription"), name
    # the check itself bites: a made-up lifecycle event or property is caught
    wrong = {"value": [{"lifecycleEvent": "napping", "subscriptionId": created["id"], "colour": 1}]}
    assert len(graph_schema.problems(wrong, "graph.changeNotificationCollection")) == 2
    assert unquote(graph_receiver.validations()[0].query["validationToken"]).startswith("Validation:")
