"""Trace context, redaction, structured logs and the health probe cache, without I/O."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from opentelemetry import trace

from scheduling_core.runtime import logs, telemetry
from scheduling_core.runtime.logs import JsonFormatter, bind, enrich
from scheduling_core.runtime.redaction import redact, scope, sensitive
from scheduling_core.services.health import CachedProbe, HealthService
from tests.fixtures.telemetry import Recorded

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


# --- trace context -------------------------------------------------------------------------------------


def test_traceparent_round_trips_and_malformed_ones_are_none() -> None:
    context = telemetry.parse_traceparent(PARENT)
    assert context is not None and telemetry.format_traceparent(context) == PARENT
    for bad in (None, "", "garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", f"00-{TRACE}-{'0' * 16}-01"):
        assert telemetry.parse_traceparent(bad) is None


def test_without_an_sdk_a_span_keeps_the_parent_trace_and_mints_its_own_span_id() -> None:
    assert telemetry.current_traceparent() is None
    with telemetry.span("work", traceparent=PARENT) as outer:
        assert telemetry.current_trace_id() == TRACE
        own = telemetry.current_traceparent()
        assert own is not None and own.startswith(f"00-{TRACE}-") and own != PARENT
        assert not outer.is_recording()
        with telemetry.span("inner"):
            inner = telemetry.current_traceparent()
            assert inner is not None and inner.split("-")[1] == TRACE and inner != own
    assert telemetry.current_traceparent() is None


def test_without_a_parent_a_new_trace_starts_each_time() -> None:
    with telemetry.span("a"):
        first = telemetry.current_trace_id()
    with telemetry.span("b"):
        second = telemetry.current_trace_id()
    assert first and second and first != second


def test_with_an_sdk_spans_are_recorded_as_children_of_the_incoming_trace(otel: Recorded) -> None:
    with telemetry.span("outer", traceparent=PARENT), telemetry.span("inner"):
        pass
    inner, outer = otel.spans()
    assert {f"{s.context.trace_id:032x}" for s in (inner, outer)} == {TRACE}
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    assert outer.parent is not None and f"{outer.parent.span_id:016x}" == "00f067aa0ba902b7"


def test_exceptions_propagate_and_are_recorded_on_the_span(otel: Recorded) -> None:
    with pytest.raises(ValueError, match="boom"), telemetry.span("failing"):
        raise ValueError("boom")
    (span,) = otel.spans("failing")
    assert span.status.status_code is trace.StatusCode.ERROR
    assert any(e.name == "exception" for e in span.events)


def test_instruments_follow_the_provider_in_use(otel: Recorded) -> None:
    telemetry.instruments().bookings.add(2, {"change": "created"})
    assert otel.total("scheduling.bookings", change="created") == 2


# --- redaction -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("invitee jo.doe+x@fabrikam.com booked", "jo.doe+x@fabrikam.com"),
        ("$filter=emailaddress1%20eq%20'jo%40fabrikam.com'", "jo%40fabrikam.com"),
        ("call +49 30 1234567 now", "+49 30 1234567"),
        ("call (425) 555-0100 now", "(425) 555-0100"),
    ],
)
def test_addresses_and_phone_numbers_are_redacted(text: str, hidden: str) -> None:
    assert hidden not in redact(text)


@pytest.mark.parametrize(
    "text",
    ["2026-12-01T09:00:00-06:00", "bk_0123456789abcdef01234567:3", "ab825125-41a0-5eee-8f6b-3531782f1c95"],
)
def test_times_ids_and_guids_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_values_are_redacted_only_inside_their_scope() -> None:
    with sensitive([{"name": "Zelda Marsh", "phone": None}, ["CASE-1"], "ab"]):
        assert redact("Zelda Marsh filed CASE-1 ab") == "[redacted] filed [redacted] ab"
    assert redact("Zelda Marsh") == "Zelda Marsh"


def test_values_added_in_one_scope_do_not_leak_to_another_thread_or_scope() -> None:
    from scheduling_core.runtime.redaction import add_sensitive

    seen: list[str] = []
    with scope():
        add_sensitive(["Secret Person"])

        def other() -> None:
            seen.append(redact("Secret Person"))

        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        assert redact("Secret Person") == "[redacted]"
    assert seen == ["Secret Person"]
    assert redact("Secret Person") == "Secret Person"


# --- structured logs -----------------------------------------------------------------------------------


def _record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_records_get_trace_and_bound_ids_and_a_redacted_message() -> None:
    with telemetry.span("x", traceparent=PARENT), bind(booking_id="bk_1", host_id="h1"):
        record = enrich(_record("mail %s for %s", "jo@fabrikam.com", "bk_1"))
    assert record.__dict__["trace_id"] == TRACE
    assert record.__dict__["booking.id"] == "bk_1" and record.__dict__["host.id"] == "h1"
    assert record.getMessage() == "mail [email] for bk_1"


def test_binding_never_collides_with_extra_fields(caplog: pytest.LogCaptureFixture) -> None:
    logs.install()
    caplog.set_level(logging.INFO)
    with bind(booking_id="bk_1"):
        logging.getLogger("t").info("x", extra={"event": "e", "booking_id": "given"})
    (record,) = caplog.records
    assert record.__dict__["booking.id"] == "bk_1" and record.__dict__["booking_id"] == "given"


def test_only_ids_can_be_bound() -> None:
    with pytest.raises(TypeError), bind(email="jo@fabrikam.com"):
        pass


def test_json_lines_name_the_event_trace_and_ids_and_redact_tracebacks() -> None:
    try:
        raise ValueError("bad jo@fabrikam.com")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    with telemetry.span("x", traceparent=PARENT), bind(booking_id="bk_1"):
        record = enrich(logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, exc_info))
    record.__dict__["event"] = "sync.failed"
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "sync.failed" and line["traceId"] == TRACE and line["bookingId"] == "bk_1"
    assert "jo@fabrikam.com" not in json.dumps(line) and "ValueError" in line["exception"]


# --- health probes -------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_probe_answer_is_reused_until_it_is_stale() -> None:
    calls: list[int] = []
    clock = _Clock()
    probe = CachedProbe(lambda: calls.append(1) or "ok", ttl_seconds=10, monotonic=clock)
    assert [probe(), probe()] == ["ok", "ok"] and len(calls) == 1
    clock.now = 10.5
    assert probe() == "ok" and len(calls) == 2


def test_callers_do_not_queue_behind_a_slow_probe() -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        assert release.wait(5)
        return "ok"

    probe = CachedProbe(slow, ttl_seconds=0)
    worker = threading.Thread(target=probe)
    worker.start()
    assert started.wait(5)
    assert probe() == "unknown"  # nothing known yet, and nobody waits
    release.set()
    worker.join(5)
    assert not worker.is_alive() and probe() == "ok"  # the next caller probes again (ttl 0)


def test_a_probe_that_raises_reports_unreachable() -> None:
    def broken() -> str:
        raise OSError("no route")

    assert CachedProbe(broken)() == "unreachable"


def _health(storage_ok: bool, **probes: str) -> Any:
    def ping() -> None:
        if not storage_ok:
            raise RuntimeError("storage is down")

    return HealthService(ping_storage=ping, probes={k: (lambda v=v: v) for k, v in probes.items()}).check()


def test_health_is_ok_degraded_or_unavailable_by_storage_and_upstreams() -> None:
    ok = _health(True, graph="ok", dataverse="ok")
    assert (ok.healthy, ok.status) == (True, "ok")
    degraded = _health(True, graph="ok", dataverse="unreachable")
    assert (degraded.healthy, degraded.status, degraded.checks["dataverse"]) == (
        True,
        "degraded",
        "unreachable",
    )
    down = _health(False, graph="ok", dataverse="ok")
    assert (down.healthy, down.status, down.checks["storage"]) == (False, "unavailable", "unavailable")


# --- queue messages --------------------------------------------------------------------------------------


def test_a_queued_message_carries_the_sender_trace_to_its_handler() -> None:
    from devstack.local_bus import LocalQueue, _Subscriber
    from triggers.messages import receiving

    seen: list[str | None] = []

    def handler(msg: Any) -> None:
        with receiving(msg, handler="q", max_delivery_count=10):
            seen.append(telemetry.current_trace_id())

    queue = LocalQueue(
        _Subscriber(function="q", subscription="q", arg_name="msg", many=False, call=handler), queue="q"
    )
    with telemetry.span("callback", traceparent=PARENT):
        queue.send([{"value": 1}])
    assert queue.drain(10)
    assert seen == [TRACE]


def test_the_last_failed_delivery_of_a_queued_message_counts_a_dead_letter(otel: Recorded) -> None:
    from devstack.local_bus import LocalQueue, _Subscriber
    from triggers.messages import receiving

    def handler(msg: Any) -> None:
        with receiving(msg, handler="q", max_delivery_count=3):
            raise RuntimeError("downstream is down")

    queue = LocalQueue(
        _Subscriber(function="q", subscription="q", arg_name="msg", many=False, call=handler),
        queue="q",
        max_delivery_count=3,
    )
    queue.send([{"value": 1}])
    assert queue.drain(10)
    assert len(queue.dead_letters) == 1
    assert otel.total("scheduling.sync.dead_letters", handler="q", reason="max-delivery-count") == 1
