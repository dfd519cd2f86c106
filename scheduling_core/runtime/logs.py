"""Structured, correlated, redacted log records.

Invariants:
- Once `install()` ran (at start-up), every `LogRecord` of the process carries `trace_id` and `span_id`
  (of the current span; `None` outside one) and the fields bound with `bind(...)` under dotted names
  (`booking.id`, `host.id`, `event.id`, `messaging.handler`), whichever handler later receives it:
  the Functions worker's, Azure Monitor's, the local host's console, or pytest's `caplog`.
- The message and any traceback of every record are redacted (`scheduling_core.redaction.redact`)
  before any handler sees them: e-mail addresses, phone numbers and the current invocation's invitee
  values never reach a log sink through the message text.
- Bound fields use dotted names no caller passes as `extra`, so binding never collides with `extra`
  (which `logging` refuses to overwrite). Callers name the event with `extra={"event": "..."}`.
- `bind` only accepts ids (`BOUND_FIELDS`): there is no way to bind an invitee's data.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

from opentelemetry import trace

from scheduling_core.runtime.redaction import redact

#: bind() keyword -> record attribute (OpenTelemetry-style attribute names).
BOUND_FIELDS: Final[Mapping[str, str]] = {
    "booking_id": "booking.id",
    "host_id": "host.id",
    "event_id": "event.id",
    "handler": "messaging.handler",
    "operation": "http.operation",
}
#: Record attributes the JSON formatter writes, and their names in the output.
JSON_FIELDS: Final[Mapping[str, str]] = {
    "event": "event",
    "trace_id": "traceId",
    "span_id": "spanId",
    "booking.id": "bookingId",
    "host.id": "hostId",
    "event.id": "eventId",
    "messaging.handler": "handler",
    "http.operation": "operation",
    "status": "status",
    "outcome": "outcome",
}

_bound: ContextVar[Mapping[str, str] | None] = ContextVar("log_fields", default=None)
_install_lock = threading.Lock()
_installed = False


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Within the block, every record carries these ids (unknown names are a programming error)."""
    unknown = set(fields) - set(BOUND_FIELDS)
    if unknown:
        raise TypeError(f"cannot bind {sorted(unknown)}; only {sorted(BOUND_FIELDS)}")
    merged = dict(_bound.get() or {})
    merged.update({BOUND_FIELDS[k]: v for k, v in fields.items() if v})
    token = _bound.set(merged)
    try:
        yield
    finally:
        _bound.reset(token)


def bound_fields() -> Mapping[str, str]:
    return dict(_bound.get() or {})


def enrich(record: logging.LogRecord) -> logging.LogRecord:
    """Add trace ids and bound fields to `record` and redact its text (what the record factory does)."""
    context = trace.get_current_span().get_span_context()
    record.trace_id = f"{context.trace_id:032x}" if context.is_valid else None
    record.span_id = f"{context.span_id:016x}" if context.is_valid else None
    for name, value in (_bound.get() or {}).items():
        record.__dict__[name] = value
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: leave it for the handler to report as logging does
        return record
    cleaned = redact(message)
    if cleaned != message or record.args:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record


def install() -> None:
    """Make every record of this process correlated and redacted (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return enrich(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, event, trace and the bound ids."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for attribute, key in JSON_FIELDS.items():
            value = record.__dict__.get(attribute)
            if value is not None:
                document[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = redact(record.exc_text)
        return json.dumps(document, default=str)
