"""Routing decisions and round-robin state in Azure Table storage.

Table `routingdecisions`: partition `rd|{decisionId}` → the decision, its replayable inputs and when it was
made; `rec|{recordId}` / `{inverted time}|{decisionId}` → newest first per Dynamics record.

A decision is stored as compressed JSON in binary properties `z0`, `z1`, ... of at most 60,000 bytes
(Azure: 64 KiB per property, 1 MiB per entity, 255 properties; Azurite enforces the first two), 15 per
row: row `""` holds the first 15 and `parts`, the number of rows; rows `p001`, ... the rest. A stored
decision holds only the hosts its rules considered (at most 500 per rule), so its size follows the rule
set, never the tenant; a pool of 500 compresses to a few KB and one row (docs/decisions.md).
Table `routingstate`: partition = rule set, row = rule name → per-host assignments and last booking time,
updated only with ETag-conditional writes so concurrent bookings never lose an update.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, storage_errors
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
        rows = _encode(document)
        with storage_errors():
            # Continuation rows first, the head (which says how many there are) last: a reader never sees
            # a head whose parts are missing.
            for index, parts in enumerate(rows[1:], start=1):
                self._decisions.upsert_entity(
                    {"PartitionKey": f"rd|{decision_id}", "RowKey": f"p{index:03d}"} | parts
                )
            self._decisions.upsert_entity(
                {"PartitionKey": f"rd|{decision_id}", "RowKey": "", "at": at, "parts": len(rows)} | rows[0]
            )
            if record_id:
                inverted = _MAX_TIME - int(at.timestamp() * 1000)
                # The record's list carries the document when it fits one row, else a reference to it.
                body: dict[str, Any] = rows[0] if len(rows) == 1 else {"ref": decision_id}
                self._decisions.upsert_entity(
                    {
                        "PartitionKey": f"rec|{record_id}",
                        "RowKey": f"{inverted:013d}|{decision_id}",
                        "at": at,
                    }
                    | body
                )

    def get_decision(self, decision_id: str) -> dict[str, Any]:
        with storage_errors():
            rows = list(
                self._decisions.query_entities("PartitionKey eq @p", parameters={"p": f"rd|{decision_id}"})
            )
        head = next((row for row in rows if row["RowKey"] == ""), None)
        if head is None:
            raise NotFound("routing decision", decision_id)
        more = sorted((row for row in rows if row["RowKey"]), key=lambda row: str(row["RowKey"]))
        return _decode([head, *more])

    def decisions_for_record(self, record_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with storage_errors():
            pages = self._decisions.query_entities(
                "PartitionKey eq @p", parameters={"p": f"rec|{record_id}"}, results_per_page=limit
            ).by_page()
            rows = list(next(pages, []))
        return [self.get_decision(str(row["ref"])) if "ref" in row else _decode([row]) for row in rows]

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


_PART_BYTES = 60_000  # under Azure's 64 KiB per binary property
_PARTS_PER_ROW = 15  # 900,000 bytes, under Azure's 1 MiB per entity


def _encode(document: Mapping[str, Any]) -> list[dict[str, bytes]]:
    """The document as compressed JSON cut into properties `z0`, `z1`, ... grouped into rows."""
    body = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)
    parts = [body[i : i + _PART_BYTES] for i in range(0, len(body), _PART_BYTES)]
    return [
        {f"z{n}": part for n, part in enumerate(parts[i : i + _PARTS_PER_ROW])}
        for i in range(0, len(parts), _PARTS_PER_ROW)
    ]


def _decode(rows: list[Any]) -> dict[str, Any]:
    """Inverse of `_encode` over the rows in order; a row with a `doc` string predates compression."""
    if "doc" in rows[0]:
        legacy: dict[str, Any] = json.loads(rows[0]["doc"])
        return legacy
    body = b"".join(bytes(row[f"z{n}"]) for row in rows for n in range(_PARTS_PER_ROW) if f"z{n}" in row)
    result: dict[str, Any] = json.loads(zlib.decompress(body))
    return result


def _row(rule: str) -> str:
    return "".join(c if c.isalnum() or c in "-_ ." else f"%{ord(c):02x}" for c in rule)


def _bump(hosts: dict[str, Any], host_id: str, at: datetime) -> None:
    entry = hosts.setdefault(host_id, {"assignments": 0, "lastBookedAt": None})
    entry["assignments"] = int(entry.get("assignments", 0)) + 1
    entry["lastBookedAt"] = at.isoformat()
