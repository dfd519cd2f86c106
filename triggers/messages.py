"""How every `serviceBusTrigger` handler receives a booking event: parsed, traced, counted.

`with consuming(msg, handler="sync-dataverse", max_delivery_count=n) as received:` parses the body
(`received.event`), runs the block in a consumer span that continues the event's trace (the CloudEvents
`traceparent` extension, else the message's `traceparent` / `Diagnostic-Id` application property), binds
the booking and event ids to every log record, and keeps the counters:
- `received.throttle_count` is a scheduled copy's `throttleCount` (0 on an original message);
- `received.applied()` records the sync lag (event time -> now) when the handler changed something;
- a body that is not a booking event (it dead-letters at once) or a failure on the last allowed
  delivery counts one dead letter, and the exception propagates unchanged (the trigger's contract).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from opentelemetry.trace import SpanKind

from scheduling_core.domain.events import from_json
from scheduling_core.errors import MalformedEvent
from scheduling_core.ports import THROTTLE_COUNT_PROPERTY, Clock, CloudEvent
from scheduling_core.runtime import logs, redaction, telemetry


@dataclass(slots=True)
class Received:
    event: CloudEvent
    delivery_count: int
    handler: str
    clock: Clock
    throttle_count: int = 0  # a scheduled copy's `throttleCount`: throttled deliveries before this one

    def applied(self) -> None:
        """The handler applied the event: record how long it took from the event's time to now."""
        lag = max(0.0, (self.clock.now() - self.event.time).total_seconds())
        telemetry.instruments().sync_lag.record(lag, {"handler": self.handler})


def _property(properties: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (properties or {}).items():
        if str(key).lower() == name.lower():
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _throttle_count(properties: Mapping[str, Any] | None) -> int:
    value = _property(properties, THROTTLE_COUNT_PROPERTY)
    try:
        return max(0, int(value)) if value is not None else 0
    except ValueError:
        return 0  # not one of our copies' values: treat as an original message


def _invitee(event: CloudEvent) -> list[Any]:
    booking = event.data.get("booking")
    if not isinstance(booking, Mapping):
        return []
    return [booking.get("invitee"), booking.get("answers")]


@contextmanager
def consuming(
    msg: func.ServiceBusMessage, *, handler: str, max_delivery_count: int, clock: Clock
) -> Iterator[Received]:
    delivery_count = msg.delivery_count or 1
    properties = msg.application_properties
    carried = _property(properties, "traceparent") or _property(properties, "Diagnostic-Id")
    attributes: dict[str, str | int | float | bool] = {
        "messaging.system": "servicebus",
        "messaging.message.id": msg.message_id or "",
        "messaging.handler": handler,
        "messaging.delivery_count": delivery_count,
    }
    try:
        event = from_json(msg.get_body())
    except MalformedEvent:
        with telemetry.span(handler, kind=SpanKind.CONSUMER, traceparent=carried, attributes=attributes):
            telemetry.instruments().dead_letters.add(1, {"handler": handler, "reason": "malformed"})
            raise
    with (
        redaction.scope(),
        telemetry.span(
            handler,
            kind=SpanKind.CONSUMER,
            traceparent=event.traceparent or carried,
            attributes={**attributes, "booking.id": event.session_id, "event.type": event.type},
        ),
        logs.bind(handler=handler, booking_id=event.session_id, event_id=event.id),
    ):
        redaction.add_sensitive(_invitee(event))
        try:
            yield Received(
                event=event,
                delivery_count=delivery_count,
                handler=handler,
                clock=clock,
                throttle_count=_throttle_count(properties),
            )
        except Exception:
            if delivery_count >= max_delivery_count:
                telemetry.instruments().dead_letters.add(
                    1, {"handler": handler, "reason": "max-delivery-count"}
                )
            raise


@contextmanager
def receiving(msg: func.ServiceBusMessage, *, handler: str, max_delivery_count: int) -> Iterator[None]:
    """`consuming` for messages that are not booking events (e.g. `graph-changes` notifications): the
    span continues the sender's `traceparent` property, and a failure on the last delivery counts one
    dead letter."""
    delivery_count = msg.delivery_count or 1
    properties = msg.application_properties
    carried = _property(properties, "traceparent") or _property(properties, "Diagnostic-Id")
    attributes: dict[str, str | int | float | bool] = {
        "messaging.system": "servicebus",
        "messaging.message.id": msg.message_id or "",
        "messaging.handler": handler,
        "messaging.delivery_count": delivery_count,
    }
    with (
        redaction.scope(),
        telemetry.span(handler, kind=SpanKind.CONSUMER, traceparent=carried, attributes=attributes),
        logs.bind(handler=handler),
    ):
        try:
            yield
        except Exception:
            if delivery_count >= max_delivery_count:
                telemetry.instruments().dead_letters.add(
                    1, {"handler": handler, "reason": "max-delivery-count"}
                )
            raise
