"""Observability end to end: one trace from the HTTP request through the outbox, the Service Bus message
and the sync handler; counters that move; logs that carry the trace and never the invitee.

Bookings go through the real functions (`app`), events through the local topic into the real
`sync_dataverse` trigger, Dataverse is the simulator over HTTP; spans and metrics are recorded in memory
by the OpenTelemetry SDK (`otel`), logs by pytest's `caplog`.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.functions import servicebus

from scheduling_core.adapters.service_bus import to_service_bus_message
from scheduling_core.domain.events import booking_event, from_json
from scheduling_core.runtime.logs import JsonFormatter
from scheduling_core.runtime.telemetry import current_traceparent
from tests.fixtures.dataverse import DataverseSim
from tests.fixtures.telemetry import Recorded

from .scenario import AT_9, MONDAY, new_event_type, new_host

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
AT_10 = f"{MONDAY}T10:00:00-06:00"
NAME = "Zelda Quintanilla-Marsh"
EMAIL = "zelda.quintanilla@fabrikam.example"
PHONE = "+49 30 98765432"
CASE = "CAS-7731-PRIVATE"


def _sync_trigger() -> Any:
    import function_app
    from devstack.function_host import indexed_functions

    (fn,) = [f for f in indexed_functions(function_app.app) if f.get_function_name() == "sync_dataverse"]
    return fn.get_user_function()


def _outbox_events(booking_id: str) -> list[Any]:
    from bootstrap.composition import services

    rows = services().booking_store.outbox_rows(booking_id)
    return sorted((from_json(r["event"]) for r in rows), key=lambda e: e.data["version"])


def _url(span: Any) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url") or "")


def _trace_of(span: Any) -> str:
    return f"{span.context.trace_id:032x}"


@pytest.fixture
def lead(app: Any, graph_sim: Any, dataverse: DataverseSim) -> tuple[str, str]:
    host = new_host(app, graph_sim)
    dataverse.create_user(aad_object_id=host)
    lead_id = dataverse.create("leads", {"firstname": "Zelda", "lastname": "Quintanilla-Marsh"})
    return host, lead_id


def _booking_body(slug: str, lead_id: str, start: str = AT_9, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": slug,
        "start": start,
        "timeZone": "America/Chicago",
        "invitee": {"name": NAME, "email": EMAIL, "phone": PHONE},
        "context": {"recordType": "lead", "recordId": lead_id},
        **extra,
    }


def test_one_trace_runs_from_the_request_through_outbox_and_message_to_the_sync_handler(
    app: Any, otel: Recorded, lead: tuple[str, str]
) -> None:
    host, lead_id = lead
    slug = new_event_type(app, [host])
    r = app.post("/bookings", json_body=_booking_body(slug, lead_id), headers={"traceparent": INCOMING})
    assert r.status == 201, r.body
    assert r.headers["X-Correlation-Id"] == TRACE_ID
    assert re.fullmatch(rf"00-{TRACE_ID}-[0-9a-f]{{16}}-01", r.headers["traceresponse"])
    booking = r.json()

    # The event committed with the booking (the outbox row) carries the request's trace ...
    (event,) = _outbox_events(booking["id"])
    assert event.traceparent is not None and event.traceparent.split("-")[1] == TRACE_ID
    # ... and so does the Service Bus message built from it, as the SDK's own properties.
    properties = to_service_bus_message(event).application_properties or {}
    assert properties["traceparent"] == event.traceparent
    assert properties["Diagnostic-Id"] == event.traceparent

    (server,) = otel.spans("POST /api/bookings")
    (publish,) = otel.spans("publish booking.created")
    (handler,) = otel.spans("sync-dataverse")
    assert {_trace_of(server), _trace_of(publish), _trace_of(handler)} == {TRACE_ID}
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert handler.attributes is not None and handler.attributes["booking.id"] == booking["id"]
    # Outbound Dataverse calls of the handler are spans of the same trace (httpx instrumentation).
    dataverse_calls = [s for s in otel.spans() if "/appointments(" in _url(s)]
    assert dataverse_calls and {_trace_of(s) for s in dataverse_calls} == {TRACE_ID}
    assert app.get(f"/bookings/{booking['id']}").json()["dynamics"]["syncStatus"] == "synced"


def test_an_event_relayed_later_still_continues_the_request_trace(
    app: Any, otel: Recorded, lead: tuple[str, str], dataverse: DataverseSim
) -> None:
    from bootstrap.composition import services
    from scheduling_core.adapters.inprocess_bus import LOCAL_NAMESPACE

    host, lead_id = lead
    slug = new_event_type(app, [host])
    topic = LOCAL_NAMESPACE.topic
    LOCAL_NAMESPACE.listen_topic(None)  # the broker is unreachable: the event stays in the outbox
    try:
        r = app.post("/bookings", json_body=_booking_body(slug, lead_id), headers={"traceparent": INCOMING})
    finally:
        LOCAL_NAMESPACE.listen_topic(topic)
    assert r.status == 201, r.body
    assert otel.spans("sync-dataverse") == []
    otel.exporter.clear()

    services().relay.relay()  # the timer's pass: no request, no current span

    (handler,) = otel.spans("sync-dataverse")
    assert _trace_of(handler) == TRACE_ID
    assert handler.attributes is not None and handler.attributes["messaging.delivery_count"] == 1
    (publish,) = otel.spans("publish booking.created")
    assert _trace_of(publish) == TRACE_ID


def test_a_request_without_traceparent_starts_a_trace_and_a_bad_one_is_ignored(app: Any) -> None:
    fresh = app.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Correlation-Id"])
    assert fresh.headers["X-Correlation-Id"] != "0" * 32
    garbage = app.get("/health", headers={"traceparent": "00-zzzz-nope-01"})
    assert re.fullmatch(r"[0-9a-f]{32}", garbage.headers["X-Correlation-Id"])
    assert garbage.headers["X-Correlation-Id"] != fresh.headers["X-Correlation-Id"]
    # Without an SDK, no span is recorded, yet the incoming trace is kept (correlation only).
    kept = app.get("/health", headers={"traceparent": INCOMING})
    assert kept.headers["X-Correlation-Id"] == TRACE_ID


def test_counters_move_for_slots_bookings_conflicts_sync_lag_and_dead_letters(
    app: Any, otel: Recorded, lead: tuple[str, str]
) -> None:
    host, lead_id = lead
    slug = new_event_type(app, [host])
    slots = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    ).json()["slots"]
    assert len(slots) == 8
    assert otel.total("scheduling.slots.served", eventType=slug) == 8

    booking = app.post("/bookings", json_body=_booking_body(slug, lead_id)).json()
    taken = app.post("/bookings", json_body=_booking_body(slug, lead_id))
    assert taken.status == 409
    assert app.post(f"/bookings/{booking['id']}/reschedule", json_body={"start": AT_10}).status == 200
    assert app.post(f"/bookings/{booking['id']}/cancel", json_body={}).status == 200
    assert app.post(f"/bookings/{booking['id']}/cancel", json_body={}).status == 200  # no new change

    assert otel.total("scheduling.bookings", change="created") == 1
    assert otel.total("scheduling.bookings", change="rescheduled") == 1
    assert otel.total("scheduling.bookings", change="cancelled") == 1
    assert otel.total("scheduling.http.conflicts", code="slot-unavailable", route="bookings") == 1
    assert otel.count("scheduling.sync.lag", handler="sync-dataverse") == 3  # three snapshots applied

    unreadable = servicebus.ServiceBusMessage(
        body=b"{not json", delivery_count=1, message_id="x", application_properties={}, user_properties={}
    )
    with pytest.raises(Exception, match="not JSON"):
        _sync_trigger()(unreadable)
    assert otel.total("scheduling.sync.dead_letters", handler="sync-dataverse", reason="malformed") == 1


def test_the_last_failed_delivery_counts_a_dead_letter(
    app: Any, otel: Recorded, lead: tuple[str, str], dataverse: DataverseSim
) -> None:
    from bootstrap.composition import services

    host, lead_id = lead
    slug = new_event_type(app, [host])
    dataverse.add_fault(500, count=1000, path_contains="appointments")
    app.post("/bookings", json_body=_booking_body(slug, lead_id))  # every delivery fails, redelivered at once
    deliveries = [r for r in dataverse.requests(path_contains="appointments") if r["status"] == 500]
    assert len(deliveries) == services().dataverse_sync.max_delivery_count
    assert otel.total("scheduling.sync.dead_letters", reason="max-delivery-count") == 1  # the last one only


def test_logs_carry_trace_and_booking_ids_and_never_the_invitee(
    app: Any, otel: Recorded, lead: tuple[str, str], dataverse: DataverseSim, caplog: pytest.LogCaptureFixture
) -> None:
    host, lead_id = lead
    slug = new_event_type(app, [host], requiredFields=["answers.caseNumber"])
    caplog.set_level(logging.DEBUG)
    # The invitee lookup fails once: its URL names the e-mail, and the failure is logged.
    dataverse.add_fault(500, count=1, path_contains="contacts")
    body = _booking_body(slug, lead_id, answers={"caseNumber": CASE})
    r = app.post("/bookings", json_body=body, headers={"traceparent": INCOMING})
    assert r.status == 201, r.body
    booking_id = r.json()["id"]
    assert app.post("/bookings", json_body=body).status == 409
    assert app.post(f"/bookings/{booking_id}/reschedule", json_body={"start": AT_10}).status == 200
    assert app.post(f"/bookings/{booking_id}/cancel", json_body={"reason": f"{NAME} asked"}).status == 200
    # A handler invocation with the invitee in the message (e.g. redelivered by Service Bus).
    (event,) = _outbox_events(booking_id)[:1]
    _sync_trigger()(
        servicebus.ServiceBusMessage(
            body=_body(event),
            delivery_count=3,
            message_id=event.id,
            application_properties={},
            user_properties={},
        )
    )

    records = caplog.records
    assert records, "the booking and the sync log something"
    everything = caplog.text + "\n".join(
        json.dumps({k: str(v) for k, v in r.__dict__.items()}) for r in records
    )
    formatted = "\n".join(JsonFormatter().format(r) for r in records)
    for secret in (NAME, EMAIL, PHONE, CASE, "Quintanilla", "zelda.quintanilla"):
        assert secret not in everything, secret
        assert secret not in formatted, secret
    # Records made in the booking's trace say so, and name the booking.
    created = [r for r in records if getattr(r, "event", None) == "booking.created"]
    assert created and created[0].__dict__["trace_id"] == TRACE_ID
    assert created[0].__dict__["booking.id"] == booking_id
    synced = [r for r in records if getattr(r, "event", None) == "sync.dataverse"]
    assert synced and all(r.__dict__["booking.id"] == booking_id for r in synced)
    assert any(r.__dict__["trace_id"] == TRACE_ID for r in synced)
    line = json.loads(JsonFormatter().format(created[0]))
    assert (
        line["traceId"] == TRACE_ID and line["bookingId"] == booking_id and line["event"] == "booking.created"
    )
    assert line["hostId"] == host
    # No span attribute (URLs of the invitee lookup included) holds the invitee either.
    attributes = json.dumps([dict(s.attributes or {}) for s in otel.spans()], default=str)
    assert "emailaddress1" in attributes  # the lookup was traced ...
    for secret in (EMAIL, "zelda.quintanilla", PHONE):
        assert secret not in attributes  # ... with the address scrubbed


def _body(event: Any) -> bytes:
    from scheduling_core.domain.events import to_json

    return to_json(event).encode()


def test_answers_the_event_type_does_not_ask_for_are_not_stored(app: Any, lead: tuple[str, str]) -> None:
    host, lead_id = lead
    asking = new_event_type(app, [host], requiredFields=["answers.caseNumber"])
    body = _booking_body(asking, lead_id, answers={"caseNumber": "C-1", "notes": "my diagnosis is ..."})
    booking = app.post("/bookings", json_body=body).json()
    assert booking["answers"] == {"caseNumber": "C-1"}
    assert app.get(f"/bookings/{booking['id']}").json()["answers"] == {"caseNumber": "C-1"}
    (event,) = _outbox_events(booking["id"])
    assert event.data["booking"]["answers"] == {"caseNumber": "C-1"}

    silent = new_event_type(app, [host])
    other = app.post(
        "/bookings", json_body=_booking_body(silent, lead_id, start=AT_10, answers={"caseNumber": "C-2"})
    )
    assert other.status == 201 and other.json()["answers"] == {}


def test_booking_event_outside_any_request_has_no_traceparent() -> None:
    event = booking_event(
        booking={"id": "bk_1", "version": 1},
        event_type="booking.created",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        traceparent=current_traceparent(),
    )
    assert event.traceparent is None


# --- GET /health ----------------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_settings(clock: Any, **changes: Any) -> None:
    import dataclasses
    import os

    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    install_services(build_services(dataclasses.replace(Settings.from_env(os.environ), **changes), clock))


def test_health_reports_upstreams_and_storage(app: Any) -> None:
    r = app.get("/health", key=None)
    assert r.status == 200
    assert r.json() == {
        "status": "ok",
        "checks": {"storage": "ok", "graph": "ok", "dataverse": "ok", "outlookMailboxes": "ok"},
        "degradedHosts": {},
    }


def test_an_unreachable_upstream_degrades_health_but_answers_200(app: Any, clock: Any) -> None:
    _with_settings(clock, dataverse_url=f"http://127.0.0.1:{_closed_port()}/api/data/v9.2")
    r = app.get("/health", key=None)
    assert r.status == 200
    assert r.json() == {
        "status": "degraded",
        "checks": {"storage": "ok", "graph": "ok", "dataverse": "unreachable", "outlookMailboxes": "ok"},
        "degradedHosts": {},
    }


def test_storage_down_is_503_and_answers_quickly(app: Any, clock: Any) -> None:
    import time

    from bootstrap.settings import azurite_connection_string

    _with_settings(clock, tables_connection_string=azurite_connection_string(port=_closed_port()))
    started = time.monotonic()
    r = app.get("/health", key=None)
    assert time.monotonic() - started < 5  # one try, no SDK retry ladder
    assert r.status == 503
    assert r.json()["status"] == "unavailable" and r.json()["checks"]["storage"] == "unavailable"


def test_health_probes_are_cached_so_probes_cannot_hammer_upstreams(
    app: Any, dataverse: DataverseSim
) -> None:
    for _ in range(5):
        assert app.get("/health", key=None).status == 200
    probes = [r for r in dataverse.requests() if r["path"].rstrip("/").endswith("/api/data/v9.2")]
    assert len(probes) == 1
