"""Local Service Bus dispatch: run the app's own `serviceBusTrigger` functions for a published event.

Where no Service Bus namespace is configured, `InProcessPublisher(deliver_to_functions(...))` stands in
for the topic. Each subscribed function is called with the same `azure.functions.ServiceBusMessage`
the Functions worker would build (body, `message_id`, `session_id`, `delivery_count`, content type,
subject, application properties), derived from `to_service_bus_message`, the one mapping the Azure
publisher uses too. It models the topic's delivery rules per subscription (per function), as Service
Bus applies them (sources: docs/real-services.md, "Service Bus: ..."):
- publishing returns once the message is accepted, whatever the handlers do with it (the broker does
  not report consumer failures to the sender);
- a handler that returns completes the message; a handler that raises abandons it, and an abandoned
  message is available again AT ONCE: it is redelivered immediately, `delivery_count` one higher;
- after `max_delivery_count` deliveries the message is dead-lettered for that subscription
  (`MaxDeliveryCountExceeded`, kept in `dead_letters`) and no longer blocks its session;
- the same message id is not delivered to a subscription twice (duplicate detection): republishing a
  message skips every subscription that has it already;
- a scheduled copy (`deliver_copy`, called by `InProcessPublisher` at the copy's enqueue time) goes only
  to the subscription it names, like the `retrySubscription` SQL filter in Azure.

The functions come pre-indexed (`app.get_functions()` may run only once per app, and the worker or the
local host owns that call), so this module never indexes an app itself.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from azure.functions import servicebus
from azure.servicebus import ServiceBusMessage

from scheduling_core.adapters.service_bus import (
    copy_target,
    to_scheduled_message,
    to_service_bus_message,
    trace_properties,
)
from scheduling_core.ports import CloudEvent, ScheduledCopy

TRIGGER_TYPE = "serviceBusTrigger"
DEFAULT_MAX_DELIVERY_COUNT = 10  # the Service Bus default for a subscription
_REMEMBERED_MESSAGES = 10_000  # per-(function, message) state kept, like a duplicate-detection window

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    function: str
    subscription: str
    message_id: str
    session_id: str
    reason: str
    description: str


@dataclass(frozen=True, slots=True)
class _Subscriber:
    function: str
    subscription: str
    arg_name: str
    many: bool
    call: Callable[..., Any]


@dataclass(slots=True)
class _Delivery:
    """One message's state in one subscription."""

    sequence_number: int
    enqueued_time_utc: datetime
    attempts: int = 0
    settled: bool = False  # completed or dead-lettered: never delivered again


@dataclass(slots=True)
class _State:
    deliveries: OrderedDict[tuple[str, str], _Delivery] = field(default_factory=OrderedDict)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class LocalTopic:
    """Delivers events to the trigger functions subscribed to one topic; call it with a `CloudEvent`."""

    def __init__(
        self,
        subscribers: Sequence[_Subscriber],
        *,
        topic: str,
        max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT,
    ) -> None:
        if max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        self.topic = topic
        self._subscribers = tuple(subscribers)
        self._max_delivery_count = max_delivery_count
        self._lock = threading.Lock()
        self._state = _State()
        self._sequence = itertools.count(1)

    @property
    def functions(self) -> tuple[str, ...]:
        """Names of the subscribed functions, in delivery order."""
        return tuple(s.function for s in self._subscribers)

    @property
    def dead_letters(self) -> tuple[DeadLetter, ...]:
        with self._lock:
            return tuple(self._state.dead_letters)

    def __call__(self, event: CloudEvent) -> None:
        """Deliver `event` to each subscription that does not have it yet; never raises for a handler."""
        self._send(event, to_service_bus_message(event))

    def deliver_copy(self, copy: ScheduledCopy) -> None:
        """Deliver a scheduled copy (now due) to the one subscription it is for."""
        self._send(copy.event, to_scheduled_message(copy, datetime.now(UTC)))

    def _send(self, event: CloudEvent, sent: ServiceBusMessage) -> None:
        # Each subscription's SQL filter (infra/modules/servicebus.bicep): `retrySubscription IS NULL
        # OR retrySubscription = '<its name>'`.
        target = copy_target(sent.application_properties)
        for subscriber in self._subscribers:
            if target is None or target == subscriber.subscription:
                self._deliver(subscriber, event, sent)

    def _deliver(self, subscriber: _Subscriber, event: CloudEvent, sent: ServiceBusMessage) -> None:
        """Deliver until the handler completes the message or it dead-letters: an abandoned message is
        redelivered at once, as Service Bus does."""
        message_id = str(sent.message_id)
        while True:
            delivery = self._claim(subscriber, message_id)
            if delivery is None:
                return
            message = trigger_message(
                event,
                delivery_count=delivery.attempts,
                enqueued_time_utc=delivery.enqueued_time_utc,
                sequence_number=delivery.sequence_number,
                sent=sent,
            )
            argument: Any = [message] if subscriber.many else message
            try:
                result = subscriber.call(**{subscriber.arg_name: argument})
                if inspect.isawaitable(result):
                    asyncio.run(_wait(result))
            except Exception as exc:
                log.warning(
                    "%s failed on message %s (delivery %d): %s: %s",
                    subscriber.function,
                    message_id,
                    delivery.attempts,
                    type(exc).__name__,
                    exc,
                )
                self._abandon(subscriber, event, message_id, delivery, exc)
                continue
            with self._lock:
                delivery.settled = True
            return

    def _claim(self, subscriber: _Subscriber, message_id: str) -> _Delivery | None:
        """The delivery to attempt now, counted; `None` if this subscription already settled the message."""
        key = (subscriber.function, message_id)
        with self._lock:
            deliveries = self._state.deliveries
            delivery = deliveries.get(key)
            if delivery is None:
                delivery = _Delivery(
                    sequence_number=next(self._sequence), enqueued_time_utc=datetime.now(UTC)
                )
                deliveries[key] = delivery
                while len(deliveries) > _REMEMBERED_MESSAGES:
                    deliveries.popitem(last=False)
            if delivery.settled:
                return None
            delivery.attempts += 1
            return delivery

    def _abandon(
        self,
        subscriber: _Subscriber,
        event: CloudEvent,
        message_id: str,
        delivery: _Delivery,
        exc: Exception,
    ) -> None:
        with self._lock:
            if delivery.attempts < self._max_delivery_count:
                return
            delivery.settled = True
            self._state.dead_letters.append(
                DeadLetter(
                    function=subscriber.function,
                    subscription=subscriber.subscription,
                    message_id=message_id,
                    session_id=event.session_id,
                    reason="MaxDeliveryCountExceeded",
                    description=f"{type(exc).__name__}: {exc}",
                )
            )
        log.error(
            "message %s dead-lettered for %s after %d deliveries",
            message_id,
            subscriber.function,
            delivery.attempts,
        )


def deliver_to_functions(
    functions: Sequence[Any], topic: str, *, max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT
) -> LocalTopic:
    """A delivery callable for `InProcessPublisher` over the indexed functions triggered by `topic`.

    `functions` is what `FunctionApp.get_functions()` returned (index the app once and share the list).
    A function may take only its trigger argument (any other parameter needs a default), since the
    local bus has no other bindings to supply.
    """
    subscribers = []
    for fn in functions:
        trigger = fn.get_trigger()
        if getattr(trigger, "type", None) != TRIGGER_TYPE or getattr(trigger, "topic_name", None) != topic:
            continue
        subscribers.append(_subscriber(fn, str(getattr(trigger, "subscription_name", "") or "")))
    return LocalTopic(subscribers, topic=topic, max_delivery_count=max_delivery_count)


def _subscriber(fn: Any, subscription: str) -> _Subscriber:
    trigger = fn.get_trigger()
    call = fn.get_user_function()
    _check_parameters(fn.get_function_name(), call, trigger.name)
    cardinality = getattr(trigger, "cardinality", None)
    return _Subscriber(
        function=fn.get_function_name(),
        subscription=subscription,
        arg_name=trigger.name,
        many=str(getattr(cardinality, "value", cardinality)).lower() == "many",
        call=call,
    )


def _check_parameters(name: str, call: Callable[..., Any], arg_name: str) -> None:
    for parameter in inspect.signature(call).parameters.values():
        if parameter.name == arg_name or parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        raise ValueError(
            f"function {name!r} needs {parameter.name!r}, which the local Service Bus cannot supply; "
            f"only its trigger argument {arg_name!r} is passed"
        )


def trigger_message(
    event: CloudEvent,
    *,
    delivery_count: int = 1,
    enqueued_time_utc: datetime | None = None,
    sequence_number: int | None = None,
    sent: ServiceBusMessage | None = None,
) -> servicebus.ServiceBusMessage:
    """The message as the Functions worker hands it to a `serviceBusTrigger` function (tests build theirs
    with it too, so a redelivery is the same message with a higher `delivery_count`). `sent` is the
    message as sent, when it is not the event's own (a scheduled copy)."""
    sent = sent if sent is not None else to_service_bus_message(event)
    body = b"".join(cast(Iterable[bytes], sent.body))
    properties = {str(k): v for k, v in (sent.application_properties or {}).items()}
    return servicebus.ServiceBusMessage(
        body=body,
        application_properties=properties,
        user_properties=dict(properties),
        content_type=sent.content_type,
        correlation_id=sent.correlation_id,
        delivery_count=delivery_count,
        enqueued_time_utc=enqueued_time_utc or datetime.now(UTC),
        label=sent.subject,
        message_id=str(sent.message_id or event.id),
        sequence_number=sequence_number,
        session_id=sent.session_id,
        subject=sent.subject,
    )


async def _wait(awaitable: Any) -> None:
    await awaitable


class LocalQueue:
    """The local stand-in for a Service Bus queue (`graph-changes`): its trigger function runs on a
    worker thread, so the sender returns at once, as with a real queue.

    Delivery rules as Service Bus: a handler that returns completes the message; one that raises
    abandons it and it is delivered again at once (`delivery_count` one higher) until `max_delivery_count`,
    then it is dead-lettered (`dead_letters`). `drain()` waits until every sent message is settled,
    so tests wait on the outcome, never on time.
    """

    def __init__(
        self,
        subscriber: _Subscriber | None,
        *,
        queue: str,
        max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT,
    ) -> None:
        self.queue = queue
        self._subscriber = subscriber
        self._max_delivery_count = max_delivery_count
        self._pending: list[tuple[bytes, str, int, dict[str, str]]] = []
        self._busy = 0
        self._cond = threading.Condition()
        self._dead: list[DeadLetter] = []
        self._sequence = itertools.count(1)
        self._worker: threading.Thread | None = None

    @property
    def dead_letters(self) -> tuple[DeadLetter, ...]:
        with self._cond:
            return tuple(self._dead)

    def send(self, bodies: Sequence[Any]) -> None:
        properties = trace_properties()  # as ServiceBusPublisher.send stamps them
        with self._cond:
            for body in bodies:
                self._pending.append((json.dumps(body).encode("utf-8"), uuid.uuid4().hex, 1, properties))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name=f"local-queue:{self.queue}", daemon=True
                )
                self._worker.start()
            self._cond.notify_all()

    @property
    def unsettled(self) -> int:
        """Messages sent and not yet settled (waiting or being handled): 0 when the queue is idle."""
        with self._cond:
            return len(self._pending) + self._busy

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every message sent so far is settled; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._worker = None
                    self._cond.notify_all()
                    return
                body, message_id, attempt, properties = self._pending.pop(0)
                self._busy += 1
            try:
                self._deliver(body, message_id, attempt, properties)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, body: bytes, message_id: str, attempt: int, properties: dict[str, str]) -> None:
        if self._subscriber is None:
            log.warning("no function listens on queue %s; message %s dropped", self.queue, message_id)
            return
        try:
            message = servicebus.ServiceBusMessage(
                body=body,
                application_properties=dict(properties),
                user_properties=dict(properties),
                content_type="application/json",
                delivery_count=attempt,
                enqueued_time_utc=datetime.now(UTC),
                message_id=message_id,
                sequence_number=next(self._sequence),
            )
            argument: Any = [message] if self._subscriber.many else message
            result = self._subscriber.call(**{self._subscriber.arg_name: argument})
            if inspect.isawaitable(result):
                asyncio.run(_wait(result))
        except Exception as exc:
            log.warning(
                "%s failed on message %s (delivery %d): %s",
                self._subscriber.function,
                message_id,
                attempt,
                exc,
            )
            with self._cond:
                if attempt < self._max_delivery_count:
                    # Abandoned: available again at once, ahead of later messages (Service Bus order).
                    self._pending.insert(0, (body, message_id, attempt + 1, properties))
                else:
                    self._dead.append(
                        DeadLetter(
                            function=self._subscriber.function,
                            subscription=self.queue,
                            message_id=message_id,
                            session_id="",
                            reason="MaxDeliveryCountExceeded",
                            description=f"{type(exc).__name__}: {exc}",
                        )
                    )


def deliver_queue_to_functions(
    functions: Sequence[Any], queue: str, *, max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT
) -> LocalQueue:
    """A `LocalQueue` feeding the indexed function triggered by `queue` (the first, if several)."""
    for fn in functions:
        trigger = fn.get_trigger()
        if getattr(trigger, "type", None) != TRIGGER_TYPE or getattr(trigger, "queue_name", None) != queue:
            continue
        return LocalQueue(_subscriber(fn, queue), queue=queue, max_delivery_count=max_delivery_count)
    return LocalQueue(None, queue=queue, max_delivery_count=max_delivery_count)
