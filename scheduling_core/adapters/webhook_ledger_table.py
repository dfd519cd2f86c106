"""What the Dynamics webhook remembers, in Azure Table storage.

Table `dynamicswebhook`:
    PartitionKey `op`,            RowKey = OperationId          processed operations (create-only: once each)
    PartitionKey `owner|{type}`,  RowKey = {recordId}|{opId}    owner-change audit rows
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient

from scheduling_core.adapters.tables import Tables, storage_errors


class TableWebhookLedger:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("dynamicswebhook")

    def claim(self, operation_id: str, now: datetime) -> bool:
        """True if `operation_id` was not seen before (and is now remembered)."""
        try:
            with storage_errors():
                self._table.create_entity({"PartitionKey": "op", "RowKey": operation_id, "at": now})
            return True
        except ResourceExistsError:
            return False

    def forget(self, operation_id: str) -> None:
        try:
            with storage_errors():
                self._table.delete_entity("op", operation_id)
        except ResourceNotFoundError:
            pass

    def record_owner_change(self, entry: Mapping[str, Any], now: datetime) -> None:
        with storage_errors():
            self._table.upsert_entity(
                {
                    "PartitionKey": f"owner|{entry.get('recordType')}",
                    "RowKey": f"{entry.get('recordId')}|{entry.get('operationId')}",
                    "at": now,
                    "doc": json.dumps(dict(entry)),
                }
            )

    def owner_changes(self, record_type: str) -> list[dict[str, Any]]:
        with storage_errors():
            rows = self._table.query_entities("PartitionKey eq @p", parameters={"p": f"owner|{record_type}"})
            return [json.loads(row["doc"]) for row in rows]
