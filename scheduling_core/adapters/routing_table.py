"""Routing decisions and round-robin state in Azure Table storage.

Table `routingdecisions`: `rd|{decisionId}` → the decision, its replayable inputs and when it was made;
`rec|{recordId}` / `{inverted time}|{decisionId}` → newest first per Dynamics record.
Table `routingstate`: partition = rule set, row = rule name → per-host assignments and last booking time,
updated only with ETag-conditional writes so concurrent bookings never lose an update.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, key_text, storage_errors
from scheduling_core.errors import NotFound, UpstreamUnavailable

_MAX_TIME = 10**13  # milliseconds; inverted timestamps sort newest first
_STATE_ATTEMPTS = 10


class TableRoutingStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _decisions(self) -> TableClient:
        return self._tables.table("routingdecisions")

    @property
    def _state(self) -> TableClient:
        return self._tables.table("routingstate")

    def save_decision(
        self, decision_id: str, record_id: str | None, at: datetime, document: dict[str, Any]
    ) -> None:
        body = json.dumps(document)
        with storage_errors():
            self._decisions.upsert_entity(
                {"PartitionKey": f"rd|{decision_id}", "RowKey": "", "doc": body, "at": at}
            )
            if record_id:
                inverted = _MAX_TIME - int(at.timestamp() * 1000)
                self._decisions.upsert_entity(
                    {
                        "PartitionKey": f"rec|{key_text(record_id)}",
                        "RowKey": f"{inverted:013d}|{decision_id}",
                        "doc": body,
                        "at": at,
                    }
                )

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        try:
            with storage_errors():
                entity = self._decisions.get_entity(f"rd|{decision_id}", "")
        except ResourceNotFoundError:
            raise NotFound("routing decision", decision_id) from None
        result: dict[str, Any] = json.loads(entity["doc"])
        return result

    def decisions_for_record(self, record_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with storage_errors():
            pages = self._decisions.query_entities(
                "PartitionKey eq @p", parameters={"p": f"rec|{key_text(record_id)}"}, results_per_page=limit
            ).by_page()
            return [json.loads(e["doc"]) for e in next(pages, [])]

    def rotation(self, rule_set: str, rule: str) -> dict[str, dict[str, Any]]:
        """Per-host `{"assignments": n, "lastBookedAt": iso|None}` of one rule's rotation."""
        try:
            with storage_errors():
                entity = self._state.get_entity(rule_set, _row(rule))
        except ResourceNotFoundError:
            return {}
        result: dict[str, dict[str, Any]] = json.loads(entity["hosts"])
        return result

    def record_assignment(self, rule_set: str, rule: str, host_id: str, at: datetime) -> None:
        """Count one assignment to `host_id`: an optimistic read-modify-write retried on ETag conflicts."""
        self._update_state(rule_set, rule, lambda hosts: _bump(hosts, host_id, at))

    def _update_state(self, rule_set: str, rule: str, change: Callable[[dict[str, Any]], None]) -> None:
        table = self._state
        for _ in range(_STATE_ATTEMPTS):
            try:
                with storage_errors():
                    try:
                        entity = table.get_entity(rule_set, _row(rule))
                    except ResourceNotFoundError:
                        hosts: dict[str, Any] = {}
                        change(hosts)
                        table.create_entity(
                            {"PartitionKey": rule_set, "RowKey": _row(rule), "hosts": json.dumps(hosts)}
                        )
                        return
                    hosts = json.loads(entity["hosts"])
                    change(hosts)
                    table.update_entity(
                        {"PartitionKey": rule_set, "RowKey": _row(rule), "hosts": json.dumps(hosts)},
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return
            except (ResourceModifiedError, ResourceExistsError):
                continue
        raise UpstreamUnavailable("storage", "round-robin state is too contended; try again")


def _row(rule: str) -> str:
    return "".join(c if c.isalnum() or c in "-_ ." else f"%{ord(c):02x}" for c in rule)


def _bump(hosts: dict[str, Any], host_id: str, at: datetime) -> None:
    entry = hosts.setdefault(host_id, {"assignments": 0, "lastBookedAt": None})
    entry["assignments"] = int(entry.get("assignments", 0)) + 1
    entry["lastBookedAt"] = at.isoformat()
