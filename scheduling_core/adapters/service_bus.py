"""Publish booking events to the Service Bus topic `booking-events` (azure-servicebus).

Invariants:
- One event is one message: body = the CloudEvents structured JSON, `message_id` = the event id (so
  Service Bus duplicate detection drops a republished event), `session_id` = the booking id (so one
  booking's events reach each subscription in order). `to_service_bus_message` is the only mapping;
  the local in-process bus builds its trigger messages from it too.
- `publish` returns only after Service Bus accepted the message; every SDK or credential failure
  surfaces as `UpstreamUnavailable("service-bus")`, never as a raw SDK exception.
- A throttled handler's `ScheduledCopy` is the event's message with a new message id, scheduled with
  `ServiceBusSender.schedule_messages` (`scheduled_enqueue_time_utc`); its `retrySubscription` application
  property names the one subscription it is for (each subscription's SQL filter, infra/modules/
  servicebus.bicep, admits messages without it or naming it) and `throttleCount` counts the throttled
  deliveries before it.
- One client and one sender per publisher, created on first use and reused. The SDK does not promise
  thread safety, so sends are serialised under a lock; after a failed send both are discarded and the
  next publish connects afresh.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender, parse_connection_string
from azure.servicebus.exceptions import MessageSizeExceededError

from scheduling_core.domain.events import to_json
from scheduling_core.errors import UpstreamUnavailable
from scheduling_core.ports import THROTTLE_COUNT_PROPERTY, CloudEvent, ScheduledCopy
from scheduling_core.runtime.telemetry import current_traceparent

#: The CloudEvents AMQP binding's content type for structured mode.
CONTENT_TYPE: Final = "application/cloudevents+json"

#: Copies of CloudEvents attributes as application properties (the binding's `cloudEvents_` prefix),
#: so subscription SQL filters and Service Bus Explorer can see them without parsing the body.
TYPE_PROPERTY: Final = "cloudEvents_type"
SOURCE_PROPERTY: Final = "cloudEvents_source"
ID_PROPERTY: Final = "cloudEvents_id"
#: W3C trace context as the Service Bus SDK and the Functions host carry it (application properties);
#: with Azure SDK tracing on, the SDK overwrites both with its own message span of the same trace.
TRACEPARENT_PROPERTY: Final = "traceparent"
DIAGNOSTIC_ID_PROPERTY: Final = "Diagnostic-Id"

#: On a scheduled copy: the only subscription that should receive it (the subscriptions' SQL filters).
RETRY_SUBSCRIPTION_PROPERTY: Final = "retrySubscription"
#: On a scheduled copy: how many throttled deliveries of the event came before it.

SERVICE: Final = "service-bus"


def trace_properties(traceparent: str | None = None) -> dict[str, str]:
    """The `traceparent` / `Diagnostic-Id` application properties (default: of the current trace)."""
    value = traceparent if traceparent is not None else current_traceparent()
    return {TRACEPARENT_PROPERTY: value, DIAGNOSTIC_ID_PROPERTY: value} if value else {}


def to_service_bus_message(event: CloudEvent) -> ServiceBusMessage:
    """The Service Bus message that carries `event`: structured-mode body plus routing metadata.

    `subject` is the event type; application properties `cloudEvents_type`, `cloudEvents_source` and
    `cloudEvents_id` repeat those attributes (the body stays the source of truth); an event with a
    `traceparent` also carries it as `traceparent` and `Diagnostic-Id`.
    """
    properties: dict[str | bytes, Any] = {
        TYPE_PROPERTY: event.type,
        SOURCE_PROPERTY: event.source,
        ID_PROPERTY: event.id,
    }
    if event.traceparent:
        properties.update(trace_properties(event.traceparent))
    return ServiceBusMessage(
        to_json(event).encode("utf-8"),
        message_id=event.id,
        session_id=event.session_id,
        content_type=CONTENT_TYPE,
        subject=event.type,
        application_properties=properties,
    )


def to_scheduled_message(copy: ScheduledCopy, enqueue_at: datetime) -> ServiceBusMessage:
    """The message that carries `copy`: the event's own message with the copy's id, target
    subscription, throttle count and scheduled enqueue time."""
    message = to_service_bus_message(copy.event)
    message.message_id = copy.message_id
    message.application_properties = {
        **(message.application_properties or {}),
        RETRY_SUBSCRIPTION_PROPERTY: copy.subscription,
        THROTTLE_COUNT_PROPERTY: copy.throttle_count,
    }
    message.scheduled_enqueue_time_utc = enqueue_at
    return message


def copy_target(properties: Mapping[str | bytes, Any] | None) -> str | None:
    """The subscription a message is reserved for (`retrySubscription`), None for an ordinary event."""
    for key, value in (properties or {}).items():
        name = key.decode() if isinstance(key, bytes) else key
        if name == RETRY_SUBSCRIPTION_PROPERTY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


class ServiceBusPublisher:
    """An `EventPublisher` for a Service Bus topic, by connection string or by Entra ID (managed identity).

    With no `connection_string`, `fully_qualified_namespace` (e.g. `sb-x.servicebus.windows.net`) is
    required and `credential` defaults to `DefaultAzureCredential()` (the managed identity in Azure).
    `retry_total` and `send_timeout_seconds` bound how long a publish may block (the SDK's own retries,
    exponential from 0.8 s); the after-commit publish runs inside a request, so keep them small there.
    """

    def __init__(
        self,
        *,
        topic: str = "",
        queue: str = "",
        connection_string: str | None = None,
        fully_qualified_namespace: str | None = None,
        credential: Any = None,
        retry_total: int = 3,
        send_timeout_seconds: float | None = None,
    ) -> None:
        if bool(topic) == bool(queue):
            raise ValueError("exactly one of a Service Bus topic or queue name is required")
        if not connection_string and not fully_qualified_namespace:
            raise ValueError("either a connection string or a fully qualified namespace is required")
        if connection_string:
            # A malformed connection string fails here, at start-up, not as an outage on every publish.
            parse_connection_string(connection_string)
        self._topic = topic
        self._queue = queue
        self._connection_string = connection_string
        self._namespace = fully_qualified_namespace
        self._credential = credential
        self._retry_total = retry_total
        self._send_timeout = send_timeout_seconds
        self._lock = threading.Lock()
        self._client: ServiceBusClient | None = None
        self._sender: ServiceBusSender | None = None
        self._closed = False

    @property
    def topic(self) -> str:
        return self._topic

    def publish(self, event: CloudEvent) -> None:
        self._send([to_service_bus_message(event)], f"event {event.id}")

    def schedule(self, copy: ScheduledCopy) -> None:
        """Schedule `copy` on the topic for now + `copy.delay` (needs Data Sender on the topic)."""
        enqueue_at = datetime.now(UTC) + copy.delay
        message = to_scheduled_message(copy, enqueue_at)
        with self._lock:
            if self._closed:
                raise UpstreamUnavailable(SERVICE, "The Service Bus publisher is closed.")
            try:
                self._connected_sender().schedule_messages(message, enqueue_at, timeout=self._send_timeout)
            except AzureError as exc:
                self._discard()
                raise UpstreamUnavailable(
                    SERVICE,
                    f"Service Bus did not schedule {copy.message_id}: {type(exc).__name__}: {str(exc)[:200]}",
                ) from exc

    def send(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Send JSON messages (e.g. `graph-changes` items), batched; each gets a fresh message id."""
        traced: dict[str | bytes, Any] = dict(trace_properties().items())  # the request that enqueued them
        messages = [
            ServiceBusMessage(
                json.dumps(body, separators=(",", ":")).encode("utf-8"),
                message_id=uuid.uuid4().hex,
                content_type="application/json",
                application_properties=traced,
            )
            for body in bodies
        ]
        if messages:
            self._send(messages, f"{len(messages)} messages")

    def _send(self, messages: list[ServiceBusMessage], what: str) -> None:
        with self._lock:
            if self._closed:
                raise UpstreamUnavailable(SERVICE, "The Service Bus publisher is closed.")
            try:
                sender = self._connected_sender()
                if len(messages) == 1:
                    sender.send_messages(messages[0], timeout=self._send_timeout)
                    return
                batch = sender.create_message_batch()
                for message in messages:
                    try:
                        batch.add_message(message)
                    except MessageSizeExceededError:
                        sender.send_messages(batch, timeout=self._send_timeout)
                        batch = sender.create_message_batch()
                        batch.add_message(message)
                sender.send_messages(batch, timeout=self._send_timeout)
            except AzureError as exc:
                self._discard()
                reason = str(exc)[:200]
                raise UpstreamUnavailable(
                    SERVICE, f"Service Bus did not accept {what}: {type(exc).__name__}: {reason}"
                ) from exc

    def close(self) -> None:
        """Close the sender and client; later publishes fail with `UpstreamUnavailable`."""
        with self._lock:
            self._closed = True
            self._discard()

    def _connected_sender(self) -> ServiceBusSender:
        if self._sender is None:
            client = self._client or self._new_client()
            self._client = client
            self._sender = (
                client.get_queue_sender(queue_name=self._queue)
                if self._queue
                else client.get_topic_sender(topic_name=self._topic)
            )
        return self._sender

    def _new_client(self) -> ServiceBusClient:
        if self._connection_string:
            return ServiceBusClient.from_connection_string(
                self._connection_string, retry_total=self._retry_total
            )
        credential = self._credential
        if credential is None:
            # Imported here so that merely importing this module stays cheap.
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
            self._credential = credential
        assert self._namespace is not None
        return ServiceBusClient(
            fully_qualified_namespace=self._namespace, credential=credential, retry_total=self._retry_total
        )

    def _discard(self) -> None:
        """Close and forget the sender and client, ignoring errors from closing a broken link."""
        sender, client = self._sender, self._client
        self._sender = self._client = None
        for closable in (sender, client):
            if closable is None:
                continue
            with contextlib.suppress(Exception):  # a broken link may fail to close; nothing to do about it
                closable.close()

    def __repr__(self) -> str:
        mode = "connection-string" if self._connection_string else f"namespace={self._namespace}"
        entity = f"queue={self._queue!r}" if self._queue else f"topic={self._topic!r}"
        return f"ServiceBusPublisher({entity}, {mode})"
