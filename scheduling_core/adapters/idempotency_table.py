"""Idempotency keys in Azure Table storage (api.md, Bookings: `Idempotency-Key`).

Table `{prefix}idempotency`, one entity per (scope, key):
    PartitionKey  sha256 hex of "{scope}\\n{key}" (keys are caller-supplied and may hold `/ # ? \\` or
                  control characters, which Table keys forbid; the hash also spreads load over partitions)
    RowKey        ""
    scope, requestHash, state ("in-progress" | "done"), createdAt,
    completedAt, status, headers (JSON object), bodyChunks, body0 … body{n-1}   (once done)

Table string properties hold at most 64 KiB (32K UTF-16 code units), so a response body is split into
chunks of at most 30,000 UTF-16 code units; `bodyChunks` says how many to read back.

Atomicity comes from Table storage itself, never from read-then-write:
- the first claim is an insert, which exactly one caller wins;
- an expired record or a stale in-progress claim is replaced only by an ETag-conditional update, so of
  several callers taking it over at once exactly one wins; the losers read the record again and
  re-evaluate (they then see the winner's fresh claim: IN_PROGRESS, or KEY_REUSED for a different hash).
A takeover writes a fresh claim (`createdAt` = now), so the stale and expiry clocks restart with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, storage_errors
from scheduling_core.ports import IdempotencyClaim, IdempotencyOutcome, StoredResponse

log = logging.getLogger(__name__)

IN_PROGRESS = "in-progress"
DONE = "done"
CHUNK_UTF16_UNITS = 30_000
_ROW_KEY = ""
# Each retry follows a lost race against another writer of the same record; a handful is plenty, and if
# the record keeps changing under us somebody else is actively working on the key.
_ATTEMPTS = 5


def partition_key(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def split_utf16(text: str, limit: int = CHUNK_UTF16_UNITS) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 code units, never splitting a character."""
    chunks: list[str] = []
    start = 0
    units = 0
    for i, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            chunks.append(text[start:i])
            start, units = i, 0
        units += width
    if start < len(text) or not chunks:
        chunks.append(text[start:])
    return chunks


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be timezone-aware")
    return now


def _response(entity: Mapping[str, Any]) -> StoredResponse:
    chunks = int(entity.get("bodyChunks", 0))
    body = "".join(str(entity.get(f"body{i}", "")) for i in range(chunks))
    headers = json.loads(entity.get("headers") or "{}")
    return StoredResponse(status=int(entity["status"]), body=body, headers=dict(headers))


class TableIdempotencyStore:
    """`ports.IdempotencyStore` over Azure Table storage; safe for concurrent use from many threads/hosts."""

    def __init__(
        self,
        tables: Tables,
        *,
        ttl: timedelta = timedelta(hours=24),
        stale_after: timedelta = timedelta(seconds=120),
    ) -> None:
        self._tables = tables
        self._ttl = ttl
        self._stale_after = stale_after

    @property
    def _table(self) -> TableClient:
        return self._tables.table("idempotency")

    def _claim(self, pk: str, scope: str, request_hash: str, now: datetime) -> dict[str, Any]:
        return {
            "PartitionKey": pk,
            "RowKey": _ROW_KEY,
            "scope": scope,
            "requestHash": request_hash,
            "state": IN_PROGRESS,
            "createdAt": now,
        }

    def begin(self, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyClaim:
        now = _aware(now)
        pk = partition_key(scope, key)
        claim = self._claim(pk, scope, request_hash, now)
        table = self._table
        for _ in range(_ATTEMPTS):
            with storage_errors():
                try:
                    table.create_entity(claim)
                    return IdempotencyClaim(outcome=IdempotencyOutcome.PROCEED)
                except ResourceExistsError:
                    pass
                try:
                    existing = table.get_entity(partition_key=pk, row_key=_ROW_KEY)
                except ResourceNotFoundError:
                    continue  # abandoned between our insert and our read: try the insert again
                created: datetime = existing["createdAt"]
                age = now - created
                if age > self._ttl:
                    takeover = True  # expired: the key is fresh again, whatever it was used for
                elif existing.get("requestHash") != request_hash:
                    return IdempotencyClaim(outcome=IdempotencyOutcome.KEY_REUSED)
                elif existing.get("state") == DONE:
                    return IdempotencyClaim(outcome=IdempotencyOutcome.REPLAY, response=_response(existing))
                else:
                    takeover = age > self._stale_after  # the first request died without abandon()
                if not takeover:
                    return IdempotencyClaim(outcome=IdempotencyOutcome.IN_PROGRESS)
                try:
                    table.update_entity(
                        claim,
                        mode=UpdateMode.REPLACE,
                        etag=existing.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    log.info(
                        "idempotency: took over %s claim for scope %s",
                        "expired" if age > self._ttl else "stale",
                        scope,
                    )
                    return IdempotencyClaim(outcome=IdempotencyOutcome.PROCEED)
                except (ResourceModifiedError, ResourceNotFoundError):
                    continue  # another caller changed or removed it first: look again
        return IdempotencyClaim(outcome=IdempotencyOutcome.IN_PROGRESS)

    def complete(self, scope: str, key: str, response: StoredResponse, now: datetime) -> None:
        """Record the response. An unconditional merge is enough: only a caller that got PROCEED calls
        this, and the only other writer that can be active on the record is one that took over a claim it
        thought stale for the *same* request hash, so whichever response lands last is a valid answer to
        that request. Stale chunks of a longer body merged earlier are harmless (`bodyChunks` bounds the
        read). A record that is gone (abandoned meanwhile) is not resurrected: it is logged and left.
        """
        now = _aware(now)
        entity: dict[str, Any] = {
            "PartitionKey": partition_key(scope, key),
            "RowKey": _ROW_KEY,
            "state": DONE,
            "completedAt": now,
            "status": response.status,
            "headers": json.dumps(dict(response.headers), separators=(",", ":")),
        }
        chunks = split_utf16(response.body)
        entity["bodyChunks"] = len(chunks)
        entity.update({f"body{i}": chunk for i, chunk in enumerate(chunks)})
        with storage_errors():
            try:
                self._table.update_entity(entity, mode=UpdateMode.MERGE)
            except ResourceNotFoundError:
                log.warning("idempotency: complete() for scope %s found no claim; response not stored", scope)

    def abandon(self, scope: str, key: str) -> None:
        with storage_errors(), suppress(ResourceNotFoundError):  # already gone: nothing to forget
            self._table.delete_entity(partition_key=partition_key(scope, key), row_key=_ROW_KEY)
