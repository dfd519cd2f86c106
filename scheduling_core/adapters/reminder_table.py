"""Which reminders were claimed and what became of them, in Azure Table storage.

Table `reminders`: PartitionKey = the booking id, RowKey = `reminders.reminder_key(start, minutesBefore)`;
`status` is `sending` (claimed, about to be sent), `sent`, `superseded`, `failed` or `unknown` (sent,
but no answer came back).

Invariants:
- A claim is a create-only insert: of any number of timer runs and instances, exactly one creates the
  row, and only that one may send. The row is written before the email is sent (at-most-once).
- A claim is removed only when Graph said it did not take the message (429/503 past the retries), so
  the next run sends it; nothing else ever removes one.
"""

from __future__ import annotations

from datetime import datetime

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, storage_errors


class TableReminderClaims:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("reminders")

    def claim(self, booking_id: str, key: str, status: str, now: datetime) -> bool:
        """Create the reminder's row with `status`; False when it exists (claimed before, by anyone)."""
        row = {"PartitionKey": booking_id, "RowKey": key, "status": status, "claimedAt": now}
        try:
            with storage_errors():
                self._table.create_entity(row)
        except ResourceExistsError:
            return False
        return True

    def settle(
        self, booking_id: str, key: str, status: str, now: datetime, detail: str | None = None
    ) -> None:
        row = {"PartitionKey": booking_id, "RowKey": key, "status": status, "settledAt": now}
        if detail:
            row["detail"] = detail[:1000]
        with storage_errors():
            self._table.upsert_entity(row, mode=UpdateMode.MERGE)

    def release(self, booking_id: str, key: str) -> None:
        try:
            with storage_errors():
                self._table.delete_entity(booking_id, key)
        except ResourceNotFoundError:
            pass

    def status(self, booking_id: str, key: str) -> str | None:
        try:
            with storage_errors():
                return str(self._table.get_entity(booking_id, key)["status"])
        except ResourceNotFoundError:
            return None
