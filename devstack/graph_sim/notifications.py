"""Change and lifecycle notifications as Microsoft Graph delivers them to a subscriber's endpoints.

Payloads (`graph.changeNotificationCollection`, one item per POST):

- change, for Outlook events without resource data ("Receive change notifications through
  webhooks", learn.microsoft.com/graph/change-notifications-delivery-webhooks):
  `{"value": [{"subscriptionId", "subscriptionExpirationDateTime", "changeType",
  "resource": "Users/{userId}/Events/{eventId}", "resourceData": {"@odata.type":
  "#Microsoft.Graph.Event", "@odata.id": "Users/{userId}/Events/{eventId}", "@odata.etag":
  "W/\\"{changeKey}\\"", "id": "{eventId}"}, "clientState", "tenantId"}]}`;
- lifecycle ("Reduce missing subscriptions and change notifications",
  learn.microsoft.com/graph/change-notifications-lifecycle-events): `{"value":
  [{"subscriptionId", "subscriptionExpirationDateTime", "tenantId", "clientState",
  "lifecycleEvent"}]}`; it names no resource, as the docs say.

Delivery, as Graph does it: a POST with a JSON body; any 2xx within `delivery_timeout` (Graph's
HTTP client gives up after 3 seconds) is delivered; anything else is retried with backoff
(Graph retries for up to 4 hours; the simulator a few times, `retry_delays`, fast) and then
dropped. Every attempt is kept in the delivery log (`GET /_sim/notifications/deliveries`).

Slow endpoints, as Graph throttles them ("Throttling" in learn.microsoft.com/graph/
change-notifications-delivery-webhooks): an answer taking longer than `slow_seconds` (3 s; older
revisions of the page said 10 s) counts as slow. Over the last `window_seconds` (10 minutes), once more
than 10% of an endpoint's answers were slow it is "slow" and new notifications go out `slow_delay` (10 s)
late; once more than 15% were, it is "drop" and new notifications are dropped (logged `dropped`,
reason `endpoint-drop`). The simulator judges an endpoint only after `min_responses` (10) answers in
the window, so one slow answer of one does not drop everything (Graph documents no minimum).

Invariants:
- Posting never happens inside the state lock nor on the request's event loop: a write queues
  its notifications after its lock is released and before its response is sent, on one
  background worker that delivers them in the order they were queued (a retry waits its
  backoff without holding back later notifications).
- `in_flight` counts notifications queued or being delivered (retries included); it rises
  before the write that caused them is answered, so `wait_idle` returning True means every
  notification of every write answered so far has been delivered or given up.
- While paused, change notifications are dropped (logged as `dropped`, never posted), as if
  the endpoint had never received them; lifecycle notifications a test asks for are still sent.
- Validation handshakes (`validate`) are synchronous: the subscription request waits for them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from devstack.graph_sim.state import StoredEvent, Subscription
from devstack.graph_sim.wire import etag, utc_stamp

#: The tenant every notification names (the simulator is one tenant).
TENANT_ID = "6f6d6f63-0000-4000-8000-00000000a11d"
DELIVERY_LOG_SIZE = 2000
DEFAULT_VALIDATION_TIMEOUT = 10.0  # Graph: the endpoint must answer the handshake within 10 s
DEFAULT_DELIVERY_TIMEOUT = 3.0  # Graph: a notification not answered 2xx within 3 s is retried
DEFAULT_RETRY_DELAYS = (0.05, 0.2, 0.5)
SLOW_SECONDS = 3.0
SLOW_DELAY_SECONDS = 10.0
SLOW_WINDOW_SECONDS = 600.0
SLOW_SHARE = 0.10
DROP_SHARE = 0.15
MIN_RESPONSES = 10


def change_notification(subscription: Subscription, change_type: str, event: StoredEvent) -> dict[str, Any]:
    resource = f"Users/{subscription.user_id}/Events/{event.id}"
    return {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": utc_stamp(subscription.expiration),
        "changeType": change_type,
        "resource": resource,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "@odata.etag": etag(str(event.props["changeKey"])),
            "id": event.id,
        },
        "clientState": subscription.client_state,
        "tenantId": TENANT_ID,
    }


def lifecycle_notification(subscription: Subscription, lifecycle_event: str) -> dict[str, Any]:
    return {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": utc_stamp(subscription.expiration),
        "tenantId": TENANT_ID,
        "clientState": subscription.client_state,
        "lifecycleEvent": lifecycle_event,
    }


def validation_token() -> str:
    """An opaque token like Graph's; it has spaces, ':', '<', '&' and '+' so only a client that
    URL-decodes it and echoes it unchanged (not HTML- or URL-escaped) passes the handshake."""
    return (
        "Validation: Testing client application reachability for subscription "
        f"Request-Id: {uuid.uuid4()} <sim> & {uuid.uuid4().hex[:8]}+check"
    )


@dataclass(frozen=True)
class HandshakeResult:
    ok: bool
    reason: str


@dataclass
class Delivery:
    """One notification to one URL, and what became of it."""

    id: str
    kind: str  # "change" or "lifecycle"
    url: str
    subscription_id: str
    body: dict[str, Any]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "pending"  # pending | delivered | failed | dropped

    def to_json(self) -> dict[str, Any]:
        item = self.body["value"][0]
        return {
            "id": self.id,
            "kind": self.kind,
            "url": self.url,
            "subscriptionId": self.subscription_id,
            "changeType": item.get("changeType"),
            "lifecycleEvent": item.get("lifecycleEvent"),
            "resource": item.get("resource"),
            "outcome": self.outcome,
            "status": self.attempts[-1].get("status") if self.attempts else None,
            "attempts": list(self.attempts),
            "body": self.body,
        }


@dataclass
class Settings:
    validation_timeout: float = DEFAULT_VALIDATION_TIMEOUT
    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    slow_seconds: float = SLOW_SECONDS
    slow_delay: float = SLOW_DELAY_SECONDS

    def to_json(self) -> dict[str, Any]:
        return {
            "validationTimeoutSeconds": self.validation_timeout,
            "deliveryTimeoutSeconds": self.delivery_timeout,
            "retryDelaysSeconds": list(self.retry_delays),
            "slowSeconds": self.slow_seconds,
            "slowDelaySeconds": self.slow_delay,
        }


class EndpointHealth:
    """One notification URL's answers over the last `SLOW_WINDOW_SECONDS`: how many were slow."""

    def __init__(self) -> None:
        self.answers: deque[tuple[float, bool]] = deque()

    def record(self, at: float, slow: bool) -> None:
        self.answers.append((at, slow))

    def state(self, now: float) -> tuple[str, int, int]:
        """("normal" | "slow" | "drop", answers, slow answers) in the window ending `now`."""
        while self.answers and self.answers[0][0] < now - SLOW_WINDOW_SECONDS:
            self.answers.popleft()
        total = len(self.answers)
        slow = sum(1 for _, was_slow in self.answers if was_slow)
        if total < MIN_RESPONSES:
            return "normal", total, slow
        share = slow / total
        return ("drop" if share > DROP_SHARE else "slow" if share > SLOW_SHARE else "normal"), total, slow


class NotificationPoster:
    """The delivery queue, its background worker, the delivery log and the pause switch."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Delivery, int]] = []  # (due, order, delivery, generation)
        self._order = itertools.count()
        self._generation = 0
        self._worker: threading.Thread | None = None
        self.log: deque[Delivery] = deque(maxlen=DELIVERY_LOG_SIZE)
        self.in_flight = 0
        self.paused = False
        self.settings = Settings()
        self.handshakes: deque[dict[str, Any]] = deque(maxlen=DELIVERY_LOG_SIZE)
        self.endpoints: dict[str, EndpointHealth] = {}

    # -- test controls ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget queued notifications, the log and settings; a post under way finishes unlogged."""
        with self._cond:
            self._generation += 1
            self.in_flight -= len(self._queue)
            self._queue.clear()
            self.log.clear()
            self.handshakes.clear()
            self.endpoints.clear()
            self.paused = False
            self.settings = Settings()
            self._cond.notify_all()

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self.paused = paused

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or being delivered (True), or `timeout` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.in_flight == 0, timeout=timeout)

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {
                "value": [delivery.to_json() for delivery in self.log],
                "handshakes": list(self.handshakes),
                "inFlight": self.in_flight,
                "paused": self.paused,
                "endpoints": {
                    url: dict(zip(("state", "answers", "slow"), health.state(time.monotonic()), strict=True))
                    for url, health in self.endpoints.items()
                },
            }

    def clear_log(self) -> None:
        with self._cond:
            self.log.clear()
            self.handshakes.clear()

    # -- posting ------------------------------------------------------------------------------------

    def post_changes(self, notifications: Sequence[tuple[Subscription, dict[str, Any]]]) -> None:
        """Queue change notifications (dropped while paused). Call outside the state lock."""
        self._enqueue("change", notifications, droppable=True)

    def post_lifecycle(self, subscription: Subscription, item: dict[str, Any]) -> str:
        assert subscription.lifecycle_url is not None
        return self._enqueue("lifecycle", [(subscription, item)], droppable=False)[0]

    def _enqueue(
        self, kind: str, notifications: Sequence[tuple[Subscription, dict[str, Any]]], *, droppable: bool
    ) -> list[str]:
        ids = []
        with self._cond:
            for subscription, item in notifications:
                url = subscription.lifecycle_url if kind == "lifecycle" else subscription.notification_url
                assert url is not None
                delivery = Delivery(
                    id=str(uuid.uuid4()),
                    kind=kind,
                    url=url,
                    subscription_id=subscription.id,
                    body={"value": [item]},
                )
                ids.append(delivery.id)
                self.log.append(delivery)
                if droppable and self.paused:
                    delivery.outcome = "dropped"
                    continue
                now = time.monotonic()
                health = self.endpoints.get(url)
                state = health.state(now)[0] if health is not None else "normal"
                if droppable and state == "drop":
                    delivery.outcome = "dropped"
                    delivery.attempts.append({"at": datetime.now(UTC).isoformat(), "reason": "endpoint-drop"})
                    continue
                due = now + (self.settings.slow_delay if state == "slow" else 0.0)
                self.in_flight += 1
                heapq.heappush(self._queue, (due, next(self._order), delivery, self._generation))
            self._ensure_worker()
            self._cond.notify_all()
        return ids

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="graph-sim-notifications", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        with httpx.Client() as client:
            while True:
                with self._cond:
                    while True:
                        if self._queue and self._queue[0][0] <= time.monotonic():
                            _, _, delivery, generation = heapq.heappop(self._queue)
                            timeout = self.settings.delivery_timeout
                            break
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._cond.wait(timeout=wait)
                started = time.monotonic()
                attempt = self._attempt(client, delivery, timeout)
                elapsed = time.monotonic() - started
                attempt["seconds"] = round(elapsed, 3)
                with self._cond:
                    if generation == self._generation:
                        slow = elapsed > self.settings.slow_seconds or attempt.get("status") is None
                        self.endpoints.setdefault(delivery.url, EndpointHealth()).record(started, slow)
                    if generation != self._generation:  # reset while it was being posted
                        self.in_flight -= 1
                        self._cond.notify_all()
                        continue
                    delivery.attempts.append(attempt)
                    delays = self.settings.retry_delays
                    if attempt.get("delivered"):
                        delivery.outcome = "delivered"
                    elif len(delivery.attempts) <= len(delays):
                        due = time.monotonic() + delays[len(delivery.attempts) - 1]
                        heapq.heappush(self._queue, (due, next(self._order), delivery, generation))
                        continue
                    else:
                        delivery.outcome = "failed"
                    self.in_flight -= 1
                    self._cond.notify_all()

    @staticmethod
    def _attempt(client: httpx.Client, delivery: Delivery, timeout: float) -> dict[str, Any]:
        attempt: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "status": None, "delivered": False}
        try:
            response = client.post(delivery.url, json=delivery.body, timeout=timeout)
            attempt["status"] = response.status_code
            attempt["delivered"] = 200 <= response.status_code < 300
            attempt["body"] = response.text[:500]
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        return attempt

    # -- the validation handshake -------------------------------------------------------------------

    def validate(self, url: str) -> HandshakeResult:
        """POST `{url}?validationToken=...` (query kept) and check the answer as Graph does:
        200, `text/plain`, the body exactly the decoded token, within `validation_timeout`."""
        token = validation_token()
        separator = "&" if "?" in url else "?"
        target = f"{url}{separator}validationToken={quote(token, safe='')}"
        timeout = self.settings.validation_timeout
        try:
            response = httpx.post(
                target,
                content=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=timeout,
            )
        except httpx.TimeoutException:
            result = HandshakeResult(False, "timed out")
        except httpx.HTTPError as exc:
            result = HandshakeResult(False, f"{type(exc).__name__}: {exc}")
        else:
            content_type = response.headers.get("content-type", "")
            if response.status_code != 200:
                result = HandshakeResult(False, f"answered {response.status_code}")
            elif not content_type.lower().startswith("text/plain"):
                result = HandshakeResult(False, f"content type {content_type!r}, not text/plain")
            elif response.text != token:
                result = HandshakeResult(False, f"body {response.text[:200]!r} is not the token {token!r}")
            else:
                result = HandshakeResult(True, "ok")
        with self._cond:
            self.handshakes.append(
                {"at": datetime.now(UTC).isoformat(), "url": url, "ok": result.ok, "reason": result.reason}
            )
        return result
