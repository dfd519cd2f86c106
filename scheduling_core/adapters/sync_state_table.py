"""Per-booking sync progress of each downstream system, in Azure Table storage.

Table `syncstate`: PartitionKey = the target (`dataverse`), RowKey = the booking id; `version` is the
last booking version applied there, `leaseOwner`/`leaseUntil` name the delivery applying one now.

Invariants:
- `version` never decreases, and it is written only after the target holds that version.
- Every write is ETag-conditional (or create-only), so two deliveries never both believe they hold
  the lease, and a late writer never rolls `version` back.
- A lease ends when its owner finishes or releases it, or at `leaseUntil` (an owner that crashed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, storage_errors
from scheduling_core.errors import UpstreamUnavailable
from scheduling_core.ports import LeaseOutcome, LeaseResult

_ATTEMPTS = 20


class TableSyncStateStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("syncstate")

    def applied_version(self, target: str, booking_id: str) -> int:
        """The last version applied to `target` (0 when none)."""
        row = self._read(target, booking_id)
        return 0 if row is None else int(row.get("version", 0))

    def take_lease(
        self, target: str, booking_id: str, version: int, *, owner: str, now: datetime, duration: timedelta
    ) -> LeaseResult:
        """Claim the right to apply `version`, unless it (or newer) is applied or someone else is applying."""
        for _ in range(_ATTEMPTS):
            row = self._read(target, booking_id)
            applied = 0 if row is None else int(row.get("version", 0))
            if applied >= version:
                return LeaseResult(outcome=LeaseOutcome.ALREADY_APPLIED, applied_version=applied)
            if row is not None and _leased_by_other(row, owner, now):
                return LeaseResult(outcome=LeaseOutcome.BUSY, applied_version=applied)
            entity = _entity(target, booking_id, applied, owner=owner, until=now + duration)
            try:
                with storage_errors():
                    if row is None:
                        self._table.create_entity(entity)
                    else:
                        self._replace(entity, row)
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another delivery wrote meanwhile: look again
            return LeaseResult(outcome=LeaseOutcome.TAKEN, applied_version=applied)
        raise UpstreamUnavailable("storage", f"The sync state of '{booking_id}' kept changing.")

    def finish(self, target: str, booking_id: str, version: int, *, owner: str) -> None:
        """Record `version` as applied and end the lease (never lowering a newer recorded version)."""
        self._end(target, booking_id, owner, version)

    def release(self, target: str, booking_id: str, *, owner: str) -> None:
        """End the lease without recording anything (the apply failed)."""
        self._end(target, booking_id, owner, None)

    def _end(self, target: str, booking_id: str, owner: str, version: int | None) -> None:
        for _ in range(_ATTEMPTS):
            row = self._read(target, booking_id)
            if row is None:
                return  # never taken, or deleted by an operator: nothing to end
            applied = int(row.get("version", 0))
            mine = row.get("leaseOwner") == owner
            new_version = applied if version is None else max(applied, version)
            if not mine and new_version == applied:
                return  # someone else's lease now, and nothing to record
            if mine:
                entity = _entity(target, booking_id, new_version, owner=None, until=None)
            else:  # our lease expired and was taken over: record the version, keep their lease
                entity = _entity(
                    target, booking_id, new_version, owner=row.get("leaseOwner"), until=row.get("leaseUntil")
                )
            try:
                with storage_errors():
                    self._replace(entity, row)
            except ResourceModifiedError:
                continue
            return
        raise UpstreamUnavailable("storage", f"The sync state of '{booking_id}' kept changing.")

    def _read(self, target: str, booking_id: str) -> Any:
        try:
            with storage_errors():
                return self._table.get_entity(partition_key=target, row_key=booking_id)
        except ResourceNotFoundError:
            return None

    def _replace(self, entity: dict[str, Any], current: Any) -> None:
        self._table.update_entity(
            entity,
            mode=UpdateMode.REPLACE,
            etag=current.metadata["etag"],
            match_condition=MatchConditions.IfNotModified,
        )


def _leased_by_other(row: Any, owner: str, now: datetime) -> bool:
    holder = row.get("leaseOwner") or ""
    until = row.get("leaseUntil")
    return bool(holder) and holder != owner and until is not None and until > now


def _entity(
    target: str, booking_id: str, version: int, *, owner: str | None, until: datetime | None
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": target,
        "RowKey": booking_id,
        "version": version,
        "leaseOwner": owner or "",
    }
    if until is not None:
        entity["leaseUntil"] = until
    return entity
