"""Webhook subscriptions, delivery state, the delivery log and event payloads, in Table storage.

Tables:
    `webhooks`         PK `sub`, RK subscription id: url, events (JSON list), secretSealed (the secret
                       encrypted, secret_box.py; rows written before hold a clear `secret`, read and then
                       rewritten sealed), createdAt, updatedAt
    `webhookstate`     PK subscription id, RK event id: eventType, status (pending | delivered | gave-up),
                       attempts, nextAttemptAt (when a pending delivery is due, or its lease ends)
    `webhooklog`       PK subscription id, RK `{inverted ms}|{event id}|{attempt}` (newest first): one row
                       per attempt, without body or secret
    `webhookpayloads`  PK event id, RK `body`: the raw CloudEvent bytes for retries (binary chunks)

Invariants:
- A (subscription, event) delivery is created once (`begin` is an insert): a redelivered message finds
  the row and leaves that subscriber alone, whatever its state.
- Taking a due delivery is an ETag-conditional update that moves `nextAttemptAt` to the lease's end, so of
  several retry passes exactly one attempts it; a pass that died mid-attempt is retried after the lease.
- The secret is read only to sign; `get_subscription` returns it inside the domain value, and nothing
  here logs it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.secret_box import SecretBox
from scheduling_core.adapters.tables import Tables, storage_errors
from scheduling_core.domain.webhooks import DeliveryAttempt, DeliveryClaim, Outcome, WebhookSubscription
from scheduling_core.errors import NotFound

log = logging.getLogger(__name__)

_SUB: Final = "sub"
PENDING: Final = "pending"
CHUNK_BYTES: Final = 60_000  # a binary property holds at most 64 KiB
_MAX_MS: Final = 10**13
_UNCHANGED: Final = MatchConditions.IfNotModified


class TableWebhookStore:
    def __init__(self, tables: Tables, box: SecretBox) -> None:
        self._tables = tables
        self._box = box

    def _table(self, name: str) -> TableClient:
        return self._tables.table(name)

    # --- subscriptions -------------------------------------------------------------------------------

    def put_subscription(self, subscription: WebhookSubscription) -> bool:
        """Create or replace; True if created. `createdAt` of a replaced one is kept."""
        table = self._table("webhooks")
        entity = _subscription_entity(subscription, self._box)
        with storage_errors():
            try:
                table.create_entity(entity)
                return True
            except ResourceExistsError:
                current = table.get_entity(_SUB, subscription.id)
                entity["createdAt"] = current.get("createdAt", subscription.created_at)
                table.update_entity(entity, mode=UpdateMode.REPLACE)
                return False

    def get_subscription(self, subscription_id: str) -> WebhookSubscription:
        try:
            with storage_errors():
                entity = self._table("webhooks").get_entity(_SUB, subscription_id)
        except ResourceNotFoundError:
            raise NotFound("webhook", subscription_id) from None
        return self._read(entity)

    def _read(self, entity: Any) -> WebhookSubscription:
        """The subscription of a row; a row from before encryption (clear `secret`) is rewritten sealed."""
        if "secretSealed" in entity:
            return _subscription(entity, self._box.open(str(entity["secretSealed"])))
        subscription = _subscription(entity, str(entity["secret"]))
        if self._box.available:
            try:
                with storage_errors():
                    self._table("webhooks").update_entity(
                        _subscription_entity(subscription, self._box),
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=_UNCHANGED,
                    )
            except Exception:  # migration is best effort: the next read tries again
                log.warning("webhook %s: clear secret not yet rewritten sealed", subscription.id)
        return subscription

    def list_subscriptions(self) -> list[WebhookSubscription]:
        with storage_errors():
            rows = list(self._table("webhooks").query_entities("PartitionKey eq @p", parameters={"p": _SUB}))
        return sorted((self._read(r) for r in rows), key=lambda s: s.id)

    def delete_subscription(self, subscription_id: str) -> None:
        self.get_subscription(subscription_id)
        with storage_errors():
            self._table("webhooks").delete_entity(_SUB, subscription_id)

    # --- payloads ------------------------------------------------------------------------------------

    def save_payload(self, event_id: str, body: bytes, now: datetime) -> None:
        chunks = [body[i : i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)] or [b""]
        entity: dict[str, Any] = {"PartitionKey": event_id, "RowKey": "body", "savedAt": now}
        entity["chunks"] = len(chunks)
        entity.update({f"body{i}": chunk for i, chunk in enumerate(chunks)})
        with storage_errors():
            self._table("webhookpayloads").upsert_entity(entity, mode=UpdateMode.REPLACE)

    def payload(self, event_id: str) -> bytes | None:
        try:
            with storage_errors():
                entity = self._table("webhookpayloads").get_entity(event_id, "body")
        except ResourceNotFoundError:
            return None
        return b"".join(bytes(entity.get(f"body{i}", b"")) for i in range(int(entity["chunks"])))

    def purge(self, older_than: datetime, limit: int = 100) -> int:
        """Forget payloads saved, and finished deliveries last written, before `older_than` (at most `limit`
        rows of each). A finished delivery's row only guards against redelivered messages, which come
        within minutes; pending ones are kept whatever their age."""
        removed = 0
        with storage_errors():
            payloads = self._table("webhookpayloads")
            rows = payloads.query_entities(
                "savedAt lt @cutoff", parameters={"cutoff": older_than}, select=["PartitionKey", "RowKey"]
            )
            for _, row in zip(range(limit), rows, strict=False):
                payloads.delete_entity(row["PartitionKey"], row["RowKey"])
                removed += 1
            states = self._table("webhookstate")
            rows = states.query_entities(
                "Timestamp lt @cutoff and status ne @pending",
                parameters={"cutoff": older_than, "pending": PENDING},
                select=["PartitionKey", "RowKey"],
            )
            for _, row in zip(range(limit), rows, strict=False):
                states.delete_entity(row["PartitionKey"], row["RowKey"])
                removed += 1
        return removed

    # --- delivery state --------------------------------------------------------------------------------

    def begin(
        self, subscription_id: str, event_id: str, event_type: str, *, lease_until: datetime
    ) -> DeliveryClaim | None:
        """Claim attempt 1 of a new delivery; None if this subscriber already has this event."""
        entity = {
            "PartitionKey": subscription_id,
            "RowKey": event_id,
            "eventType": event_type,
            "status": PENDING,
            "attempts": 1,
            "nextAttemptAt": lease_until,
        }
        try:
            with storage_errors():
                metadata = self._table("webhookstate").create_entity(entity)
        except ResourceExistsError:
            return None
        return DeliveryClaim(
            subscription_id=subscription_id,
            event_id=event_id,
            event_type=event_type,
            attempt=1,
            etag=str(metadata["etag"]),
        )

    def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Pending deliveries whose next attempt (or lease end) is at or before `now`."""
        with storage_errors():
            rows = self._table("webhookstate").query_entities(
                "status eq @s and nextAttemptAt le @now", parameters={"s": PENDING, "now": now}
            )
            return [dict(r, etag=r.metadata["etag"]) for _, r in zip(range(limit), rows, strict=False)]

    def take(self, row: dict[str, Any], *, lease_until: datetime) -> DeliveryClaim | None:
        """Claim the next attempt of a due delivery read by `due`; None if another pass took it."""
        attempt = int(row["attempts"]) + 1
        entity = {
            "PartitionKey": row["PartitionKey"],
            "RowKey": row["RowKey"],
            "eventType": row["eventType"],
            "status": PENDING,
            "attempts": attempt,
            "nextAttemptAt": lease_until,
        }
        try:
            with storage_errors():
                metadata = self._table("webhookstate").update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=row["etag"], match_condition=_UNCHANGED
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        return DeliveryClaim(
            subscription_id=row["PartitionKey"],
            event_id=row["RowKey"],
            event_type=str(row["eventType"]),
            attempt=attempt,
            etag=str(metadata["etag"]),
        )

    def finish(self, claim: DeliveryClaim, result: DeliveryAttempt) -> None:
        """Record the attempt in the log and the delivery's new state (a lost lease only logs)."""
        self._log(result)
        entity: dict[str, Any] = {
            "PartitionKey": claim.subscription_id,
            "RowKey": claim.event_id,
            "eventType": claim.event_type,
            "status": PENDING if result.outcome is Outcome.RETRYING else result.outcome.value,
            "attempts": claim.attempt,
        }
        if result.next_attempt_at is not None:
            entity["nextAttemptAt"] = result.next_attempt_at
        try:
            with storage_errors():
                self._table("webhookstate").update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=claim.etag, match_condition=_UNCHANGED
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            pass  # our lease ran out and another pass took the delivery over; its outcome wins

    def state(self, subscription_id: str, event_id: str) -> dict[str, Any] | None:
        try:
            with storage_errors():
                return dict(self._table("webhookstate").get_entity(subscription_id, event_id))
        except ResourceNotFoundError:
            return None

    # --- the delivery log ----------------------------------------------------------------------------

    def _log(self, attempt: DeliveryAttempt) -> None:
        inverted = _MAX_MS - int(attempt.attempted_at.timestamp() * 1000)
        entity: dict[str, Any] = {
            "PartitionKey": attempt.subscription_id,
            "RowKey": f"{inverted:013d}|{attempt.event_id}|{attempt.attempt:02d}",
            "eventId": attempt.event_id,
            "eventType": attempt.event_type,
            "attempt": attempt.attempt,
            "outcome": attempt.outcome.value,
            "attemptedAt": attempt.attempted_at,
            "durationMs": attempt.duration_ms,
        }
        if attempt.status_code is not None:
            entity["statusCode"] = attempt.status_code
        if attempt.error is not None:
            entity["error"] = attempt.error[:1000]
        if attempt.next_attempt_at is not None:
            entity["nextAttemptAt"] = attempt.next_attempt_at
        with storage_errors():
            self._table("webhooklog").upsert_entity(entity, mode=UpdateMode.REPLACE)

    def attempts(self, subscription_id: str, *, event_id: str | None, limit: int) -> list[DeliveryAttempt]:
        """The newest `limit` attempts of a subscription (of one event when `event_id` is given)."""
        query = "PartitionKey eq @p" + (" and eventId eq @e" if event_id else "")
        parameters = {"p": subscription_id, **({"e": event_id} if event_id else {})}
        with storage_errors():
            rows = self._table("webhooklog").query_entities(query, parameters=parameters)
            picked = [r for _, r in zip(range(limit), rows, strict=False)]
        return [_attempt(subscription_id, r) for r in picked]


def _subscription_entity(subscription: WebhookSubscription, box: SecretBox) -> dict[str, Any]:
    return {
        "PartitionKey": _SUB,
        "RowKey": subscription.id,
        "url": subscription.url,
        "events": json.dumps(list(subscription.events)),
        "secretSealed": box.seal(subscription.secret),
        "createdAt": subscription.created_at,
        "updatedAt": subscription.updated_at,
    }


def _subscription(entity: Any, secret: str) -> WebhookSubscription:
    return WebhookSubscription(
        id=str(entity["RowKey"]),
        url=str(entity["url"]),
        events=tuple(json.loads(entity["events"])),
        secret=secret,
        created_at=_utc(entity["createdAt"]),
        updated_at=_utc(entity["updatedAt"]),
    )


def _attempt(subscription_id: str, row: Any) -> DeliveryAttempt:
    next_at = row.get("nextAttemptAt")
    code = row.get("statusCode")
    return DeliveryAttempt(
        subscription_id=subscription_id,
        event_id=str(row["eventId"]),
        event_type=str(row["eventType"]),
        attempt=int(row["attempt"]),
        outcome=Outcome(row["outcome"]),
        attempted_at=_utc(row["attemptedAt"]),
        status_code=None if code is None else int(code),
        error=row.get("error"),
        duration_ms=int(row.get("durationMs", 0)),
        next_attempt_at=None if next_at is None else _utc(next_at),
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
