"""Outgoing webhooks: subscriptions (admin API) and the delivery of booking CloudEvents to them.

Invariants:
- Each subscriber whose filters match an event gets its own delivery, created once: a redelivered
  message (Service Bus retries the `webhooks` subscription when storage failed mid-way) skips every
  subscriber that already has one, delivered or scheduled, so a failing subscriber never causes
  duplicates at healthy ones.
- Retries follow the per-subscriber schedule of `domain.webhooks` (`retry_due`, run by a timer),
  not Service Bus redelivery: a failing receiver neither blocks the message nor the booking's session.
- Every attempt posts the raw CloudEvent bytes exactly as the outbox published them, signed at the
  attempt's time, and is logged (event id, type, attempt, status code, error, times; no body, no secret).
- `dispatch` raises only when storage fails (so the message is redelivered); a receiver's failure never
  escapes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from scheduling_core.domain.webhooks import (
    DeliveryAttempt,
    DeliveryClaim,
    Outcome,
    SendResult,
    WebhookSubscription,
    delivery_headers,
    event_filter_problem,
    is_success,
    matches,
    next_attempt_at,
    secret_problem,
    url_problem,
)
from scheduling_core.errors import FieldError, InvalidRequest, NotFound
from scheduling_core.ports import Clock, CloudEvent

log = logging.getLogger(__name__)

#: How long one attempt may hold a delivery before another retry pass may take it over.
LEASE: Final = timedelta(minutes=2)
#: Payloads (for retries: the schedule spans 11 hours, up to 42 with every Retry-After at its cap) and
#: finished deliveries (against redelivered messages) are kept this long, then purged by the retry pass.
RETENTION: Final = timedelta(hours=48)


class WebhookSender(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult: ...


class WebhookStore(Protocol):
    def put_subscription(self, subscription: WebhookSubscription) -> bool: ...
    def get_subscription(self, subscription_id: str) -> WebhookSubscription: ...  # NotFound if absent
    def list_subscriptions(self) -> list[WebhookSubscription]: ...
    def delete_subscription(self, subscription_id: str) -> None: ...  # NotFound if absent

    def save_payload(self, event_id: str, body: bytes, now: datetime) -> None: ...
    def payload(self, event_id: str) -> bytes | None: ...
    def purge(self, older_than: datetime, limit: int = 100) -> int: ...

    def begin(
        self, subscription_id: str, event_id: str, event_type: str, *, lease_until: datetime
    ) -> DeliveryClaim | None: ...
    def due(self, now: datetime, limit: int) -> list[dict[str, Any]]: ...
    def take(self, row: dict[str, Any], *, lease_until: datetime) -> DeliveryClaim | None: ...
    def finish(self, claim: DeliveryClaim, result: DeliveryAttempt) -> None: ...
    def attempts(
        self, subscription_id: str, *, event_id: str | None, limit: int
    ) -> list[DeliveryAttempt]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    gave_up: int = 0
    skipped: int = 0  # already had the event (a redelivery), or taken by another pass

    def __str__(self) -> str:
        counts = (self.delivered, self.retrying, self.gave_up, self.skipped)
        return "delivered={} retrying={} gave_up={} skipped={}".format(*counts)


class WebhookService:
    def __init__(
        self, *, store: WebhookStore, sender: WebhookSender, clock: Clock, local_development: bool = False
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self._local = local_development  # plain-http loopback receivers allowed (webhooks.url_problem)

    # --- subscriptions (admin) -----------------------------------------------------------------------

    def put(
        self, subscription_id: str, *, url: str, events: Sequence[str], secret: str
    ) -> tuple[WebhookSubscription, bool]:
        """Create or replace a subscription; `InvalidRequest` lists every field that breaks a rule."""
        errors = [
            FieldError(field="url", message=p) for p in [url_problem(url, local_development=self._local)] if p
        ]
        errors += [
            FieldError(field=f"events.{i}", message=p)
            for i, e in enumerate(events)
            for p in [event_filter_problem(e)]
            if p
        ]
        if not events:
            errors.append(FieldError(field="events", message="must name at least one event type"))
        errors += [FieldError(field="secret", message=p) for p in [secret_problem(secret)] if p]
        if errors:
            raise InvalidRequest("The webhook subscription is not valid.", tuple(errors))
        now = self._clock.now()
        subscription = WebhookSubscription(
            id=subscription_id,
            url=url,
            events=tuple(dict.fromkeys(events)),
            secret=secret,
            created_at=now,
            updated_at=now,
        )
        created = self._store.put_subscription(subscription)
        return (subscription if created else self._store.get_subscription(subscription_id)), created

    def get(self, subscription_id: str) -> WebhookSubscription:
        return self._store.get_subscription(subscription_id)

    def list_subscriptions(self) -> list[WebhookSubscription]:
        return self._store.list_subscriptions()

    def delete(self, subscription_id: str) -> None:
        self._store.delete_subscription(subscription_id)

    def deliveries(
        self, subscription_id: str, *, event_id: str | None = None, limit: int = 100
    ) -> list[DeliveryAttempt]:
        """The delivery log of a subscription, newest attempt first; `NotFound` for an unknown one."""
        self._store.get_subscription(subscription_id)
        return self._store.attempts(subscription_id, event_id=event_id, limit=limit)

    # --- delivery -------------------------------------------------------------------------------------

    def dispatch(self, event: CloudEvent, body: bytes) -> DeliveryReport:
        """First attempt at every matching subscriber that does not have `event` yet (see the docstring)."""
        subscribers = [s for s in self._store.list_subscriptions() if matches(s.events, event.type)]
        if not subscribers:
            return DeliveryReport()
        self._store.save_payload(event.id, body, self._clock.now())
        outcomes: list[Outcome | None] = []
        for subscriber in subscribers:
            claim = self._store.begin(
                subscriber.id, event.id, event.type, lease_until=self._clock.now() + LEASE
            )
            outcomes.append(None if claim is None else self._attempt(subscriber, claim, body))
        return _report(outcomes)

    def retry_due(self, limit: int = 50) -> DeliveryReport:
        """The next attempt of every delivery whose time has come (the retry timer)."""
        now = self._clock.now()
        outcomes: list[Outcome | None] = []
        for row in self._store.due(now, limit):
            claim = self._store.take(row, lease_until=now + LEASE)
            if claim is None:
                outcomes.append(None)
                continue
            outcomes.append(self._retry(claim))
        self._store.purge(now - RETENTION)
        return _report(outcomes)

    def _retry(self, claim: DeliveryClaim) -> Outcome:
        try:
            subscriber = self._store.get_subscription(claim.subscription_id)
        except NotFound:
            return self._give_up(claim, "the subscription was deleted")
        body = self._store.payload(claim.event_id)
        if body is None:
            return self._give_up(claim, "the event payload is no longer kept")
        return self._attempt(subscriber, claim, body)

    def _attempt(self, subscriber: WebhookSubscription, claim: DeliveryClaim, body: bytes) -> Outcome:
        at = self._clock.now()
        headers = delivery_headers(subscriber, claim, at=at, body=body)
        result = self._sender.post(subscriber.url, body, headers)
        if is_success(result.status_code):
            outcome, next_at = Outcome.DELIVERED, None
        else:
            next_at = next_attempt_at(claim.attempt, self._clock.now(), result.retry_after_seconds)
            outcome = Outcome.RETRYING if next_at is not None else Outcome.GAVE_UP
        self._store.finish(
            claim,
            DeliveryAttempt(
                subscription_id=subscriber.id,
                event_id=claim.event_id,
                event_type=claim.event_type,
                attempt=claim.attempt,
                outcome=outcome,
                attempted_at=at,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
                next_attempt_at=next_at,
            ),
        )
        level = logging.INFO if outcome is Outcome.DELIVERED else logging.WARNING
        log.log(
            level,
            "webhook %s event %s attempt %d: %s (%s)",
            subscriber.id,
            claim.event_id,
            claim.attempt,
            outcome.value,
            result.error or result.status_code,
        )
        return outcome

    def _give_up(self, claim: DeliveryClaim, reason: str) -> Outcome:
        self._store.finish(
            claim,
            DeliveryAttempt(
                subscription_id=claim.subscription_id,
                event_id=claim.event_id,
                event_type=claim.event_type,
                attempt=claim.attempt,
                outcome=Outcome.GAVE_UP,
                attempted_at=self._clock.now(),
                error=reason,
            ),
        )
        return Outcome.GAVE_UP


def _report(outcomes: Sequence[Outcome | None]) -> DeliveryReport:
    return DeliveryReport(
        delivered=outcomes.count(Outcome.DELIVERED),
        retrying=outcomes.count(Outcome.RETRYING),
        gave_up=outcomes.count(Outcome.GAVE_UP),
        skipped=outcomes.count(None),
    )
