"""Outgoing webhooks end to end: subscriptions through the admin API, bookings through the real functions,
events through the local topic into the real `deliver_webhooks` trigger, retries through the real
`retry_webhooks` timer, Azurite for state, and receivers that are real HTTP servers on this machine.

Signatures are checked with the verification snippet published in docs/webhooks.md (run as written),
not with our signer."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.functions import servicebus

from .scenario import AT_9, book, new_event_type, new_host

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-integration-0123456789"


def _documented_verifier() -> Callable[..., bool]:
    text = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    match = re.search(r"```python verify-webhook\n(.*?)```", text, re.DOTALL)
    assert match, "docs/webhooks.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "docs/webhooks.md", "exec"), namespace)  # the snippet, as published
    verifier: Callable[..., bool] = namespace["verify_webhook"]
    return verifier


verify_webhook = _documented_verifier()


@pytest.fixture(autouse=True)
def _local_development(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers are plain-http servers on 127.0.0.1: allowed in local development only."""
    monkeypatch.setenv("AZURE_FUNCTIONS_ENVIRONMENT", "Development")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A webhook receiver on a free local port that answers with the given statuses, then `default`."""

    def __init__(self, statuses: list[int] | None = None, default: int = 200) -> None:
        self.requests: list[Received] = []
        self._statuses = list(statuses or [])
        self._default = default
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver._statuses.pop(0) if receiver._statuses else receiver._default
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None, default: int = 200) -> Receiver:
        made.append(Receiver(statuses, default))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _function(name: str) -> Callable[..., None]:
    import function_app
    from devstack.function_host import indexed_functions

    for fn in indexed_functions(function_app.app):
        if fn.get_function_name() == name:
            call: Callable[..., None] = fn.get_user_function()
            return call
    raise AssertionError(f"{name} is not registered")


def _retry_pass() -> None:
    from devstack.function_host import LocalTimer

    _function("retry_webhooks")(LocalTimer())


def _subscribe(app: Any, webhook_id: str, url: str, events: list[str] | None = None) -> None:
    r = app.put(
        f"/admin/webhooks/{webhook_id}",
        json_body={"url": url, "events": events or ["booking.*"], "secret": SECRET},
    )
    assert r.status == 201, r.body


def _verified(request: Received, at: datetime) -> bool:
    return verify_webhook(
        SECRET,
        request.body,
        request.headers["x-signature-256"],
        request.headers["x-signature-timestamp"],
        now=at.timestamp(),
    )


def _booking(app: Any, graph_sim: Any) -> dict[str, Any]:
    host = new_host(app, graph_sim)
    slug = new_event_type(app, [host])
    r = book(app, slug, AT_9)
    assert r.status == 201, r.body
    booking: dict[str, Any] = r.json()
    return booking


def test_a_receiver_that_fails_twice_gets_the_signed_event_on_the_third_try(
    app: Any, graph_sim: Any, clock: Any, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers([500, 503])
    _subscribe(app, "crm-flow", receiver.url)
    t0 = clock.now()

    booking = _booking(app, graph_sim)
    assert len(receiver.requests) == 1  # the first attempt ran as the event was published

    clock.set(t0 + timedelta(seconds=29))
    _retry_pass()
    assert len(receiver.requests) == 1  # not due yet
    clock.set(t0 + timedelta(seconds=30))
    _retry_pass()
    assert len(receiver.requests) == 2
    clock.set(t0 + timedelta(seconds=30) + timedelta(minutes=2))
    _retry_pass()
    assert len(receiver.requests) == 3
    clock.set(t0 + timedelta(hours=12))
    _retry_pass()
    assert len(receiver.requests) == 3  # delivered is final

    times = [t0, t0 + timedelta(seconds=30), t0 + timedelta(seconds=150)]
    for attempt, (request, at) in enumerate(zip(receiver.requests, times, strict=True), start=1):
        assert _verified(request, at), attempt
        assert request.headers["content-type"] == "application/cloudevents+json"
        assert request.headers["webhook-id"] == f"{booking['id']}:1"
        assert request.headers["webhook-attempt"] == str(attempt)
        assert request.body == receiver.requests[0].body  # the same raw CloudEvent every time
    event = json.loads(receiver.requests[2].body)
    assert (event["specversion"], event["type"], event["id"]) == (
        "1.0",
        "booking.created",
        f"{booking['id']}:1",
    )
    assert event["data"]["booking"]["id"] == booking["id"]

    log = app.get("/admin/webhooks/crm-flow/deliveries").json()["items"]
    assert [(i["attempt"], i["outcome"], i["statusCode"]) for i in log] == [
        (3, "delivered", 200),
        (2, "retrying", 503),
        (1, "retrying", 500),
    ]
    assert log[1]["nextAttemptAt"] == (times[1] + timedelta(minutes=2)).isoformat()
    assert all(i["eventId"] == f"{booking['id']}:1" and i["eventType"] == "booking.created" for i in log)
    assert "jo@fabrikam.com" not in json.dumps(log)


def test_a_tampered_body_fails_the_documented_verification(
    app: Any, graph_sim: Any, clock: Any, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    _subscribe(app, "tamper", receiver.url)
    _booking(app, graph_sim)
    [request] = receiver.requests
    assert _verified(request, clock.now())
    event = json.loads(request.body)
    event["data"]["booking"]["invitee"]["email"] = "mallory@example.com"
    tampered = Received(request.headers, json.dumps(event, separators=(",", ":")).encode())
    assert not _verified(tampered, clock.now())
    assert not _verified(Received(request.headers, request.body + b" "), clock.now())
    assert not _verified(request, clock.now() + timedelta(minutes=6))  # a replay


def test_a_redelivered_message_does_not_repeat_deliveries_to_healthy_subscribers(
    app: Any, graph_sim: Any, clock: Any, receivers: Callable[..., Receiver]
) -> None:
    healthy, failing = receivers(), receivers(default=500)
    _subscribe(app, "healthy", healthy.url)
    _subscribe(app, "failing", failing.url)
    booking = _booking(app, graph_sim)
    assert (len(healthy.requests), len(failing.requests)) == (1, 1)

    raw = healthy.requests[0].body  # exactly the published message body
    redelivery = servicebus.ServiceBusMessage(
        body=raw,
        message_id=f"{booking['id']}:1",
        session_id=booking["id"],
        delivery_count=2,
        content_type="application/cloudevents+json",
        application_properties={},
        user_properties={},
    )
    _function("deliver_webhooks")(redelivery)
    assert (len(healthy.requests), len(failing.requests)) == (1, 1)

    clock.set(clock.now() + timedelta(seconds=30))
    _retry_pass()  # only the failing subscriber is on a retry schedule
    assert (len(healthy.requests), len(failing.requests)) == (1, 2)
    assert [i["outcome"] for i in app.get("/admin/webhooks/healthy/deliveries").json()["items"]] == [
        "delivered"
    ]


def test_subscribers_get_only_the_event_types_they_asked_for(
    app: Any, graph_sim: Any, receivers: Callable[..., Receiver]
) -> None:
    cancels, everything = receivers(), receivers()
    _subscribe(app, "cancels", cancels.url, ["booking.cancelled"])
    _subscribe(app, "everything", everything.url, ["booking.*"])
    booking = _booking(app, graph_sim)
    assert (
        app.post(f"/bookings/{booking['id']}/cancel", json_body={"reason": "no longer needed"}).status == 200
    )
    assert [json.loads(r.body)["type"] for r in cancels.requests] == ["booking.cancelled"]
    assert [json.loads(r.body)["type"] for r in everything.requests] == [
        "booking.created",
        "booking.cancelled",
    ]


def test_a_no_show_reaches_the_subscribers_of_booking_no_show(
    app: Any, graph_sim: Any, clock: Any, receivers: Callable[..., Receiver]
) -> None:
    no_shows = receivers()
    _subscribe(app, "no-shows", no_shows.url, ["booking.no-show"])
    booking = _booking(app, graph_sim)
    clock.set(datetime.fromisoformat(AT_9) + timedelta(minutes=20))
    r = app.post(f"/bookings/{booking['id']}/no-show", json_body={"party": "invitee"})
    assert r.status == 200, r.body
    [received] = no_shows.requests
    event = json.loads(received.body)
    assert event["type"] == "booking.no-show"
    assert event["data"]["booking"]["attendance"]["party"] == "invitee"


def test_an_unreachable_receiver_is_logged_with_the_transport_error_and_retried(
    app: Any, graph_sim: Any
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _subscribe(app, "gone", f"http://127.0.0.1:{port}/hook")
    _booking(app, graph_sim)
    [item] = app.get("/admin/webhooks/gone/deliveries").json()["items"]
    assert (item["outcome"], item["statusCode"]) == ("retrying", None)
    assert item["error"].startswith("ConnectError")


def test_a_deleted_subscription_gives_up_its_scheduled_retries(
    app: Any, graph_sim: Any, clock: Any, receivers: Callable[..., Receiver]
) -> None:
    failing = receivers(default=500)
    _subscribe(app, "short-lived", failing.url)
    _booking(app, graph_sim)
    assert app.delete("/admin/webhooks/short-lived").status == 204
    clock.set(clock.now() + timedelta(minutes=1))
    _retry_pass()
    assert len(failing.requests) == 1
    _subscribe(app, "short-lived", failing.url)  # the log outlives the subscription
    outcomes = [i["outcome"] for i in app.get("/admin/webhooks/short-lived/deliveries").json()["items"]]
    assert outcomes == ["gave-up", "retrying"]


# --- the admin API ------------------------------------------------------------------------------------


def test_subscriptions_are_stored_and_listed_without_their_secret(app: Any) -> None:
    r = app.put(
        "/admin/webhooks/crm",
        json_body={"url": "https://hooks.contoso.com/x", "events": ["booking.created"], "secret": SECRET},
    )
    assert r.status == 201
    assert r.json()["events"] == ["booking.created"]
    replaced = app.put(
        "/admin/webhooks/crm",
        json_body={"url": "https://hooks.contoso.com/y", "events": ["booking.*"], "secret": SECRET},
    )
    assert replaced.status == 200
    assert replaced.json()["createdAt"] == r.json()["createdAt"]
    for response in (r, replaced, app.get("/admin/webhooks/crm"), app.get("/admin/webhooks")):
        assert SECRET not in response.body.decode()
        assert b"secret" not in response.body
    assert [w["id"] for w in app.get("/admin/webhooks").json()["items"]] == ["crm"]
    assert app.get("/admin/webhooks/crm").json()["url"] == "https://hooks.contoso.com/y"
    assert app.delete("/admin/webhooks/crm").status == 204
    assert app.get("/admin/webhooks/crm").status == 404


def test_invalid_subscriptions_are_refused_with_problem_json_naming_each_field(app: Any) -> None:
    r = app.put(
        "/admin/webhooks/bad",
        json_body={
            "url": "http://hooks.contoso.com/x",
            "events": ["booking.created", "booking.moved"],
            "secret": "short",
        },
    )
    assert r.status == 422
    assert r.content_type == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "validation-failed"
    assert {e["field"] for e in problem["errors"]} == {"url", "events.1", "secret"}
    assert "short" not in r.body.decode()

    for body, field in [
        ({"url": "https://x.example/h", "events": [], "secret": SECRET}, "events"),
        ({"url": "https://x.example/h", "events": ["booking.*"]}, "secret"),
        ({"url": "https://x.example/h", "events": ["booking.*"], "secret": SECRET, "extra": 1}, "extra"),
        ({"url": "ftp://x.example/h", "events": ["booking.*"], "secret": SECRET}, "url"),
    ]:
        r = app.put("/admin/webhooks/bad", json_body=body)
        assert (r.status, r.content_type) == (422, "application/problem+json"), body
        assert field in {e["field"] for e in r.json()["errors"]}, body

    r = app.put("/admin/webhooks/bad", body=b"{not json", headers={"Content-Type": "application/json"})
    assert (r.status, r.content_type, r.json()["code"]) == (400, "application/problem+json", "invalid-json")
    r = app.put(
        "/admin/webhooks/Bad_Id",
        json_body={"url": "https://x.example/h", "events": ["booking.*"], "secret": SECRET},
    )
    assert (r.status, r.content_type) == (422, "application/problem+json")
    assert app.get("/admin/webhooks/bad").status == 404


def test_webhook_admin_needs_the_admin_key(app: Any) -> None:
    r = app.get("/admin/webhooks", key="test-api-key")
    assert (r.status, r.content_type) == (403, "application/problem+json")


def test_delivery_log_of_an_unknown_subscription_or_with_a_bad_limit_is_a_problem(app: Any) -> None:
    r = app.get("/admin/webhooks/nobody/deliveries")
    assert (r.status, r.content_type, r.json()["code"]) == (404, "application/problem+json", "not-found")
    _subscribe(app, "somebody", "https://hooks.contoso.com/x")
    r = app.get("/admin/webhooks/somebody/deliveries", params={"limit": "0"})
    assert (r.status, r.content_type) == (422, "application/problem+json")
    assert app.get("/admin/webhooks/somebody/deliveries", params={"limit": "5"}).json() == {"items": []}


def test_webhook_trigger_subscribes_to_the_booking_topic_and_dead_letters_unreadable_bodies() -> None:
    from scheduling_core.errors import MalformedEvent

    with pytest.raises(MalformedEvent):
        _function("deliver_webhooks")(
            servicebus.ServiceBusMessage(
                body=b"not a cloudevent", message_id="x", application_properties={}, user_properties={}
            )
        )
