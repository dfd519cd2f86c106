"""Traces and metrics through the OpenTelemetry API: one trace per request, carried to every handler.

Invariants:
- Every unit of work (an HTTP request, a publish, a trigger invocation) runs inside `span(...)`, so the
  current trace id is defined wherever this service logs or builds an event. An incoming W3C
  `traceparent` is the parent; without one (or with a malformed one) a new trace starts.
- Without an OpenTelemetry SDK (no `APPLICATIONINSIGHTS_CONNECTION_STRING`), the API's no-op tracer
  records nothing; `span` then only mints ids (a random span id, the parent's trace id or a new one)
  so correlation still works. That is the whole local overhead: no exporter, no processor, no thread.
- `current_traceparent()` is the value stamped into CloudEvents (the Distributed Tracing extension) and
  Service Bus messages; a handler that starts its span from it continues the same trace.
- Metric instruments exist once per meter provider; recording on the API's no-op meter costs a call.
- No invitee data is ever put in a span or metric attribute here: attributes are ids, names of
  operations and outcome codes. Attributes set by instrumentation (URLs with `$filter=emailaddress1 eq
  '...'`) are scrubbed by `RedactingSpanProcessor` before any exporter sees them.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Histogram, MeterProvider
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from scheduling_core.runtime.logs import bind
from scheduling_core.runtime.redaction import redact

log = logging.getLogger(__name__)

INSTRUMENTATION_NAME: Final = "dynamics-scheduling"
#: The Azure SDK logs every request and response at INFO; as exported log records that is noise and cost.
NOISY_LOGGERS: Final = ("azure.core.pipeline.policies.http_logging_policy",)

_propagator = TraceContextTextMapPropagator()
_lock = threading.Lock()
_tracer_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None
_instruments: tuple[object, Instruments] | None = None
_configured = False

__all__ = [
    "Instruments",
    "RedactingSpanProcessor",
    "booking_changed",
    "configure",
    "current_trace_id",
    "current_traceparent",
    "format_traceparent",
    "instruments",
    "parse_traceparent",
    "span",
    "use_providers",
]


# --- providers ---------------------------------------------------------------------------------------


def use_providers(
    *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Send this service's spans and metrics to these providers (tests); `None` means the global ones."""
    global _tracer_provider, _meter_provider, _instruments
    with _lock:
        _tracer_provider = tracer_provider
        _meter_provider = meter_provider
        _instruments = None


def configure(connection_string: str | None) -> bool:
    """Configure Azure Monitor once per process when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set.

    Returns whether telemetry is exported. `azure-monitor-opentelemetry` is imported only then, so a
    local run without the setting loads nothing beyond the OpenTelemetry API.
    """
    global _configured
    if not connection_string:
        return False
    with _lock:
        if _configured:
            return True
        from azure.monitor.opentelemetry import configure_azure_monitor

        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        configure_azure_monitor(
            connection_string=connection_string,
            logger_name="",  # the root logger: every record, already redacted by the record factory
            span_processors=[RedactingSpanProcessor()],
        )
        _configured = True
    log.info("telemetry: exporting to Azure Monitor", extra={"event": "telemetry.configured"})
    return True


def _tracer() -> trace.Tracer:
    return trace.get_tracer(INSTRUMENTATION_NAME, tracer_provider=_tracer_provider)


# --- trace context -----------------------------------------------------------------------------------


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The remote span context a W3C `traceparent` names, or `None` if absent or malformed."""
    if not value:
        return None
    context = _propagator.extract({"traceparent": value.strip()})
    parent = trace.get_current_span(context).get_span_context()
    return parent if parent.is_valid else None


def format_traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The `traceparent` of the current span (to stamp on what this unit of work produces), if any."""
    context = trace.get_current_span().get_span_context()
    return format_traceparent(context) if context.is_valid else None


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    traceparent: str | None = None,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Iterator[Span]:
    """Run the block in a span named `name`, child of `traceparent` if given, else of the current span.

    Exceptions are recorded on the span and propagate unchanged.
    """
    remote = parse_traceparent(traceparent)
    parent_context: Context | None = (
        trace.set_span_in_context(NonRecordingSpan(remote)) if remote is not None else None
    )
    parent = remote or trace.get_current_span().get_span_context()
    with _tracer().start_as_current_span(
        name, context=parent_context, kind=kind, attributes=dict(attributes or {})
    ) as started:
        made = started.get_span_context()
        if made.is_valid and made.span_id != parent.span_id:
            yield started  # an SDK made a real span (recorded or sampled out): it is the context
            return
        # The no-op tracer hands back the parent itself (or nothing): mint ids for correlation.
        own = NonRecordingSpan(
            SpanContext(
                trace_id=parent.trace_id if parent.is_valid else _random_trace_id(),
                span_id=_random_span_id(),
                is_remote=False,
                trace_flags=parent.trace_flags if parent.is_valid else TraceFlags(TraceFlags.DEFAULT),
            )
        )
        with trace.use_span(own, end_on_exit=False):
            yield own


def _random_trace_id() -> int:
    return secrets.randbits(128) or 1


def _random_span_id() -> int:
    return secrets.randbits(64) or 1


# --- metrics -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instruments:
    """The service's counters; attributes are low-cardinality codes, never ids or invitee data."""

    slots_served: Counter  # slots returned by GET /slots            {eventType}
    bookings: Counter  # bookings changed                            {change: created|rescheduled|cancelled}
    conflicts: Counter  # 409 answers                                {code, route}
    sync_lag: Histogram  # event time -> applied, seconds            {handler}
    dead_letters: Counter  # messages given up on (dead-lettered)    {handler, reason}


def instruments() -> Instruments:
    global _instruments
    provider: object = _meter_provider if _meter_provider is not None else metrics.get_meter_provider()
    cached = _instruments
    if cached is not None and cached[0] is provider:
        return cached[1]
    with _lock:
        meter = metrics.get_meter(INSTRUMENTATION_NAME, meter_provider=_meter_provider)
        made = Instruments(
            slots_served=meter.create_counter(
                "scheduling.slots.served", unit="{slot}", description="Slots returned by GET /slots"
            ),
            bookings=meter.create_counter(
                "scheduling.bookings",
                unit="{booking}",
                description="Bookings created, rescheduled, cancelled",
            ),
            conflicts=meter.create_counter(
                "scheduling.http.conflicts", unit="{response}", description="409 answers, by problem code"
            ),
            sync_lag=meter.create_histogram(
                "scheduling.sync.lag",
                unit="s",
                description="Time from a booking event to its application by a sync handler",
            ),
            dead_letters=meter.create_counter(
                "scheduling.sync.dead_letters",
                unit="{message}",
                description="Messages a handler gave up on (dead-lettered)",
            ),
        )
        _instruments = (provider, made)
    return made


# --- span redaction ----------------------------------------------------------------------------------


class RedactingSpanProcessor:
    """Scrubs e-mail addresses and phone numbers from string attributes as a span starts.

    Instrumentations set URL and query attributes when they start a span (e.g. a Dataverse lookup of
    the invitee by `emailaddress1`); this processor runs before any exporter sees them.
    """

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        attributes = getattr(span, "attributes", None) or {}
        for key, value in list(attributes.items()):
            if isinstance(value, str):
                cleaned = redact(value)
                if cleaned != value:
                    span.set_attribute(key, cleaned)

    def on_end(self, span: Any) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# --- domain signals ----------------------------------------------------------------------------------


def booking_changed(event_type: str, booking_id: str, host_ids: Sequence[str] = ()) -> None:
    """A booking change was committed (its event is in the outbox): count it and log it, ids only."""
    change = event_type.removeprefix("booking.")
    instruments().bookings.add(1, {"change": change})
    with bind(booking_id=booking_id, host_id=",".join(host_ids)):
        log.info("%s %s", event_type, booking_id, extra={"event": event_type})
