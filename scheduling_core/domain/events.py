"""Booking events as CloudEvents 1.0 JSON (structured mode), the body of every `booking-events` message.

Invariants:
- `to_json` and `from_json` round-trip: `from_json(to_json(e)) == e` for every event `booking_event` builds.
- The JSON carries exactly the CloudEvents attributes `specversion` ("1.0"), `id`, `source`, `type`,
  `time` (RFC 3339, UTC, `Z`), `datacontenttype` ("application/json"), `data`, and the `traceparent`
  extension only when set (`booking_event` sets it to the current trace, so whoever handles the event
  continues the trace of the request that caused it). The session id is not an attribute: it is
  `data.bookingId`, which `from_json` reads back into `CloudEvent.session_id`.
- A booking event's id is `{bookingId}:{version}`, so the same state change always has the same id
  (the Service Bus duplicate-detection key and the handlers' idempotency key agree).
- `from_json` never lets bad input through as a half-built event: it raises `MalformedEvent`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from scheduling_core.errors import MalformedEvent
from scheduling_core.ports import CloudEvent

SPEC_VERSION: Final = "1.0"
DATA_CONTENT_TYPE: Final = "application/json"

BOOKING_CREATED: Final = "booking.created"
BOOKING_RESCHEDULED: Final = "booking.rescheduled"
BOOKING_CANCELLED: Final = "booking.cancelled"
BOOKING_REASSIGNED: Final = "booking.reassigned"
#: The host changed the booked meeting in Outlook and the event type's policy keeps the booking's time.
BOOKING_DRIFT_DETECTED: Final = "booking.drift-detected"
#: Someone did not attend: the booking's `attendance` says who (api.md, Attendance).
BOOKING_NO_SHOW: Final = "booking.no-show"
BOOKING_EVENT_TYPES: Final = frozenset(
    {
        BOOKING_CREATED,
        BOOKING_RESCHEDULED,
        BOOKING_CANCELLED,
        BOOKING_REASSIGNED,
        BOOKING_DRIFT_DETECTED,
        BOOKING_NO_SHOW,
    }
)

__all__ = [
    "BOOKING_CANCELLED",
    "BOOKING_CREATED",
    "BOOKING_DRIFT_DETECTED",
    "BOOKING_EVENT_TYPES",
    "BOOKING_NO_SHOW",
    "BOOKING_REASSIGNED",
    "BOOKING_RESCHEDULED",
    "DATA_CONTENT_TYPE",
    "SPEC_VERSION",
    "MalformedEvent",
    "booking_event",
    "from_json",
    "to_json",
]


def booking_event(
    *, booking: Mapping[str, Any], event_type: str, time: datetime, traceparent: str | None
) -> CloudEvent:
    """The event announcing that `booking` (a full `GET /bookings/{id}` snapshot) reached its current version.

    The snapshot is copied through JSON, so the event neither shares state with the caller nor
    holds anything `to_json` could not write. `traceparent` is the caller's current trace (CloudEvents
    Distributed Tracing extension; `runtime.telemetry.current_traceparent()`), None outside any trace: the
    domain never reads ambient state itself.
    """
    if event_type not in BOOKING_EVENT_TYPES:
        raise MalformedEvent(f"Unknown booking event type {event_type!r}.")
    booking_id = booking.get("id")
    version = booking.get("version")
    if not isinstance(booking_id, str) or not booking_id:
        raise MalformedEvent("A booking snapshot needs a non-empty string 'id'.")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MalformedEvent("A booking snapshot needs a positive integer 'version'.")
    snapshot = json.loads(_dumps(booking))
    return CloudEvent(
        id=f"{booking_id}:{version}",
        source=f"/bookings/{booking_id}",
        type=event_type,
        time=_utc(time),
        data={"bookingId": booking_id, "version": version, "booking": snapshot},
        session_id=booking_id,
        traceparent=traceparent,
    )


def to_json(event: CloudEvent) -> str:
    """The structured-mode JSON of `event` (compact, UTF-8 safe ASCII)."""
    document: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": _rfc3339(_utc(event.time)),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": event.data,
    }
    if event.traceparent is not None:
        document["traceparent"] = event.traceparent
    return _dumps(document)


def from_json(text: str | bytes) -> CloudEvent:
    """Parse and check a structured-mode booking CloudEvent; unknown extension attributes are ignored."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise MalformedEvent(f"The event is not JSON: {exc}.") from exc
    if not isinstance(document, dict):
        raise MalformedEvent("The event must be a JSON object.")
    specversion = document.get("specversion")
    if specversion != SPEC_VERSION:
        raise MalformedEvent(f"Unsupported CloudEvents specversion {specversion!r}; expected '1.0'.")
    event_id = _required_string(document, "id")
    source = _required_string(document, "source")
    event_type = _required_string(document, "type")
    time = _parse_time(_required_string(document, "time"))
    content_type = document.get("datacontenttype", DATA_CONTENT_TYPE)
    if not isinstance(content_type, str) or content_type.split(";")[0].strip().lower() != DATA_CONTENT_TYPE:
        raise MalformedEvent(f"Unsupported datacontenttype {content_type!r}; expected 'application/json'.")
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedEvent("The event's 'data' must be a JSON object.")
    booking_id = data.get("bookingId")
    if not isinstance(booking_id, str) or not booking_id:
        raise MalformedEvent("The event's 'data.bookingId' must be a non-empty string.")
    traceparent = document.get("traceparent")
    if traceparent is not None and not isinstance(traceparent, str):
        raise MalformedEvent("The 'traceparent' extension must be a string.")
    return CloudEvent(
        id=event_id,
        source=source,
        type=event_type,
        time=time,
        data=data,
        session_id=booking_id,
        traceparent=traceparent,
    )


def _required_string(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"The event's '{name}' attribute must be a non-empty string.")
    return value


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedEvent(f"The event's 'time' is not an RFC 3339 timestamp: {text!r}.") from exc
    if parsed.tzinfo is None:
        raise MalformedEvent(f"The event's 'time' has no UTC offset: {text!r}.")
    return parsed.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise MalformedEvent("An event's time must be timezone-aware.")
    return value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_jsonable)
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"The event's data cannot be written as JSON: {exc}.") from exc


def _jsonable(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
