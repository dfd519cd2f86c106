"""Booking-page limits in Azure Table storage, shared by every instance (docs/booking-page.md, Limits).

Table `{prefix}pagelimits`. Two kinds of partition, both keyed by the SHA-256 of a caller-derived name
(client addresses and emails may hold characters Table keys forbid, and should not sit in clear):

- a **counter** (`count`): one row, RowKey "", `window` (e.g. the minute) and `count`. Incremented by an
  ETag-conditional update (or an insert for the first request), so concurrent instances never lose a
  count; a new window resets it.
- a **seat pool** (`claim` / `release`): RowKey = seat number `00000` … `capacity-1`, each seat with the
  `holder` (a hold id) and `expiresAt`. A claim reads the partition once, then takes the lowest free or
  expired seat with an insert or an ETag-conditional update: of several claimers of one seat exactly one
  wins, the others read again. At most `capacity` unexpired seats exist, whatever the number of instances.

Invariant: no read-then-write without an ETag or insert condition; a lost race is retried a few times and
then treated as "full" (fail closed: an attacker racing us gets a 429, not extra seats).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, storage_errors

_ATTEMPTS = 6


def _partition(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _seat(index: int) -> str:
    return f"{index:05d}"


class TablePageLimits:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("pagelimits")

    def count(self, name: str, window: str, delta: int = 1) -> int:
        """Add `delta` to counter `name` in `window` (a new window starts at 0); the count after it."""
        pk = _partition(name)
        for _ in range(_ATTEMPTS):
            with storage_errors():
                try:
                    entity = self._table.get_entity(partition_key=pk, row_key="")
                except ResourceNotFoundError:
                    value = max(0, delta)
                    try:
                        self._table.create_entity(
                            {"PartitionKey": pk, "RowKey": "", "window": window, "count": value}
                        )
                        return value
                    except ResourceExistsError:
                        continue
                current = int(entity.get("count", 0)) if entity.get("window") == window else 0
                value = max(0, current + delta)
                try:
                    self._table.update_entity(
                        {"PartitionKey": pk, "RowKey": "", "window": window, "count": value},
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return value
                except ResourceModifiedError:
                    continue
        return 1 << 30  # the row kept changing under us: count as over any limit (fail closed)

    def claim(
        self, pool: str, capacity: int, holder: str, expires_at: datetime, now: datetime
    ) -> datetime | None:
        """Take a seat of `pool` for `holder` until `expires_at`: `None` when taken, else when the
        earliest unexpired seat frees up (the pool is full)."""
        pk = _partition(pool)
        for _ in range(_ATTEMPTS):
            seats = self._seats(pk)
            live = {row: e for row, e in seats.items() if _expires(e) > now}
            if len(live) >= capacity:
                return min((_expires(e) for e in live.values()), default=now)
            free = next((i for i in range(capacity) if _seat(i) not in live), None)
            if free is None:  # every low seat is live while higher, stale numbers exist: full
                return min((_expires(e) for e in live.values()), default=now)
            row = _seat(free)
            entity = {"PartitionKey": pk, "RowKey": row, "holder": holder, "expiresAt": expires_at}
            with storage_errors():
                try:
                    stale = seats.get(row)
                    if stale is None:
                        self._table.create_entity(entity)
                    else:
                        self._table.update_entity(
                            entity,
                            mode=UpdateMode.REPLACE,
                            etag=stale.metadata["etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    return None
                except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                    continue
        return now  # lost every race: full for now

    def release(self, pool: str, holder: str) -> None:
        """Free the seats `holder` has in `pool` (a released or booked hold); absent seats are fine."""
        pk = _partition(pool)
        for row, entity in self._seats(pk).items():
            if entity.get("holder") != holder:
                continue
            with storage_errors(), suppress(ResourceNotFoundError, ResourceModifiedError):
                self._table.delete_entity(
                    partition_key=pk,
                    row_key=row,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )

    def live(self, pool: str, now: datetime) -> int:
        """Unexpired seats of `pool`."""
        return sum(1 for e in self._seats(_partition(pool)).values() if _expires(e) > now)

    def _seats(self, pk: str) -> dict[str, Any]:
        with storage_errors():
            rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": pk})
            return {str(e["RowKey"]): e for e in rows}


def _expires(entity: Mapping[str, Any]) -> datetime:
    value = entity["expiresAt"]
    assert isinstance(value, datetime)
    return value
