"""`WebhookService` over in-memory ports: fan-out, redelivery after a storage failure, and the schedule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.domain.events import booking_event, to_json
from scheduling_core.domain.webhooks import (
    MAX_ATTEMPTS,
    DeliveryAttempt,
    DeliveryClaim,
    Outcome,
    SendResult,
    WebhookSubscription,
    next_attempt_at,
)
from scheduling_core.errors import InvalidRequest, NotFound, UpstreamUnavailable
from scheduling_core.services.outgoing_webhooks import WebhookService

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECRET = "0123456789abcdef-secret"


class MemoryStore:
    """The `WebhookStore` port in memory; `fail_begin_for` makes `begin` fail like storage once."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, WebhookSubscription] = {}
        self.payloads: dict[str, bytes] = {}
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self.log: list[DeliveryAttempt] = []
        self.fail_begin_for: set[str] = set()

    def put_subscription(self, subscription: WebhookSubscription) -> bool:
        created = subscription.id not in self.subscriptions
        self.subscriptions[subscription.id] = subscription
        return created

    def get_subscription(self, subscription_id: str) -> WebhookSubscription:
        if subscription_id not in self.subscriptions:
            raise NotFound("webhook", subscription_id)
        return self.subscriptions[subscription_id]

    def list_subscriptions(self) -> list[WebhookSubscription]:
        return sorted(self.subscriptions.values(), key=lambda s: s.id)

    def delete_subscription(self, subscription_id: str) -> None:
        self.get_subscription(subscription_id)
        del self.subscriptions[subscription_id]

    def save_payload(self, event_id: str, body: bytes, now: datetime) -> None:
        self.payloads[event_id] = body

    def payload(self, event_id: str) -> bytes | None:
        return self.payloads.get(event_id)

    def purge(self, older_than: datetime, limit: int = 100) -> int:
        return 0

    def begin(
        self, subscription_id: str, event_id: str, event_type: str, *, lease_until: datetime
    ) -> DeliveryClaim | None:
        if subscription_id in self.fail_begin_for:
            self.fail_begin_for.discard(subscription_id)
            raise UpstreamUnavailable("storage", "Table storage did not answer.")
        key = (subscription_id, event_id)
        if key in self.states:
            return None
        self.states[key] = {
            "status": "pending",
            "attempts": 1,
            "next": lease_until,
            "type": event_type,
            "etag": 1,
        }
        return DeliveryClaim(
            subscription_id=subscription_id, event_id=event_id, event_type=event_type, attempt=1, etag="1"
        )

    def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        return [
            {"key": key, **state}
            for key, state in self.states.items()
            if state["status"] == "pending" and state["next"] <= now
        ][:limit]

    def take(self, row: dict[str, Any], *, lease_until: datetime) -> DeliveryClaim | None:
        state = self.states[row["key"]]
        if state["etag"] != row["etag"]:
            return None
        state.update(attempts=state["attempts"] + 1, next=lease_until, etag=state["etag"] + 1)
        subscription_id, event_id = row["key"]
        return DeliveryClaim(
            subscription_id=subscription_id,
            event_id=event_id,
            event_type=state["type"],
            attempt=state["attempts"],
            etag=str(state["etag"]),
        )

    def finish(self, claim: DeliveryClaim, result: DeliveryAttempt) -> None:
        self.log.append(result)
        state = self.states[(claim.subscription_id, claim.event_id)]
        status = "pending" if result.outcome is Outcome.RETRYING else result.outcome.value
        state.update(status=status, next=result.next_attempt_at, etag=state["etag"] + 1)

    def attempts(self, subscription_id: str, *, event_id: str | None, limit: int) -> list[DeliveryAttempt]:
        mine = [a for a in self.log if a.subscription_id == subscription_id]
        return list(reversed(mine))[:limit]


class RecordingSender:
    """The `WebhookSender` port: answers per URL from a script, and records every POST."""

    def __init__(self, answers: Mapping[str, list[int]]) -> None:
        self.answers = {url: list(codes) for url, codes in answers.items()}
        self.sent: list[tuple[str, bytes, Mapping[str, str]]] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        self.sent.append((url, body, headers))
        codes = self.answers.get(url, [])
        code = codes.pop(0) if len(codes) > 1 else (codes[0] if codes else 200)
        return SendResult(status_code=code, error=None if code < 300 else f"HTTP {code}")

    def count(self, url: str) -> int:
        return sum(1 for u, _, _ in self.sent if u == url)


def _event() -> tuple[Any, bytes]:
    event = booking_event(
        booking={"id": "bk_1", "version": 1, "status": "confirmed"},
        event_type="booking.created",
        time=T0,
        traceparent=None,
    )
    return event, to_json(event).encode()


def _service(
    answers: Mapping[str, list[int]],
) -> tuple[WebhookService, MemoryStore, RecordingSender, FixedClock]:
    store, sender, clock = MemoryStore(), RecordingSender(answers), FixedClock(T0)
    service = WebhookService(store=store, sender=sender, clock=clock)
    for name in ("a", "b", "c"):
        service.put(name, url=f"https://{name}.example/hook", events=["booking.*"], secret=SECRET)
    return service, store, sender, clock


def test_a_redelivery_after_a_storage_failure_reaches_only_the_subscribers_left_out() -> None:
    service, store, sender, _ = _service({})
    event, body = _event()
    store.fail_begin_for = {"b"}
    with pytest.raises(UpstreamUnavailable):
        service.dispatch(event, body)  # raised: Service Bus redelivers the message
    assert [sender.count(f"https://{n}.example/hook") for n in "abc"] == [1, 0, 0]

    report = service.dispatch(event, body)  # the redelivery
    assert (report.delivered, report.skipped) == (2, 1)
    assert [sender.count(f"https://{n}.example/hook") for n in "abc"] == [1, 1, 1]
    assert service.dispatch(event, body).skipped == 3  # and once more: nobody gets it twice


def test_a_failing_subscriber_is_retried_on_its_schedule_until_it_gives_up() -> None:
    service, _, sender, clock = _service({"https://b.example/hook": [500]})
    event, body = _event()
    service.dispatch(event, body)
    failed_at = T0
    for attempt in range(1, MAX_ATTEMPTS):
        due = next_attempt_at(attempt, failed_at)
        assert due is not None
        clock.set(due - timedelta(seconds=1))
        early = service.retry_due()
        assert early.retrying + early.gave_up + early.delivered == 0  # not due yet
        clock.set(due)
        service.retry_due()
        failed_at = due
    assert sender.count("https://b.example/hook") == MAX_ATTEMPTS
    assert [sender.count(f"https://{n}.example/hook") for n in "ac"] == [1, 1]
    outcomes = [a.outcome for a in service.deliveries("b")]
    assert outcomes[0] is Outcome.GAVE_UP
    assert outcomes[1:] == [Outcome.RETRYING] * (MAX_ATTEMPTS - 1)
    clock.set(clock.now() + timedelta(days=2))
    assert service.retry_due().gave_up == 0  # nothing left to try
    assert sender.count("https://b.example/hook") == MAX_ATTEMPTS


def test_an_invalid_subscription_names_every_bad_field() -> None:
    service, *_ = _service({})
    with pytest.raises(InvalidRequest) as caught:
        service.put("x", url="http://example.com", events=["booking.nope"], secret="short")
    assert {e.field for e in caught.value.errors} == {"url", "events.0", "secret"}
