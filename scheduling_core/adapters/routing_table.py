"""Routing decisions and round-robin state in Azure Table storage.

Table `routingdecisions`: partition `rd|{decisionId}` → the decision, its replayable inputs and when it was
made; `rec|{recordId}` / `{inverted time}|{decisionId}` → newest first per Dynamics record.

A decision is stored as compressed JSON in binary properties `z0`, `z1`, ... of at most 60,000 bytes
(Azure: 64 KiB per property, 1 MiB per entity, 255 properties; Azurite enforces the first two), 15 per
row: row `""` holds the first 15 and `parts`, the number of rows; rows `p001`, ... the rest. A stored
decision holds only the hosts its rules considered (at most 500 per rule), so its size follows the rule
set, never the tenant; a pool of 500 compresses to a few KB and one row (docs/decisions.md).
Table `routingstate`: partition = rule set, row `{rule}|{hostId}` → that host's assignments and last booking
time, updated only with ETag-conditional writes so concurrent bookings never lose an update. One row per
host (not one per rule holding every host) keeps each row tiny and lets a decision read only its
candidates' rows; a rule set's rotation once kept in a single row (before issue 13) restarts from zero.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rotation")

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

    def rotation(
        self, rule_set: str, rule: str, host_ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Per-host `{"assignments": n, "lastBookedAt": iso|None}` of one rule's rotation.

        With `host_ids`, only their rows (point reads, in parallel); without, every host of the rule
        (audits and tests).
        """
        prefix = f"{_row(rule)}|"
        if host_ids is None:
            with storage_errors():
                rows = list(
                    self._state.query_entities(
                        "PartitionKey eq @p and RowKey gt @lo and RowKey lt @hi",
                        parameters={"p": rule_set, "lo": prefix, "hi": prefix[:-1] + "}"},
                    )
                )
        else:
            found = self._pool.map(lambda h: self._state_row(rule_set, prefix + h), sorted(set(host_ids)))
            rows = [row for row in found if row is not None]
        return {
            str(row["RowKey"])[len(prefix) :]: {
                "assignments": int(row["assignments"]),
                "lastBookedAt": row.get("lastBookedAt"),
            }
            for row in rows
        }

    def _state_row(self, rule_set: str, row_key: str) -> Any:
        try:
            with storage_errors():
                return self._state.get_entity(rule_set, row_key)
        except ResourceNotFoundError:
            return None

    def record_assignment(self, rule_set: str, rule: str, host_id: str, at: datetime) -> None:
        """Count one assignment to `host_id`: an optimistic read-modify-write of its row, retried on ETag
        conflicts (two bookings for the same host race only with each other)."""
        table = self._state
        key = f"{_row(rule)}|{host_id}"
        for _ in range(_STATE_ATTEMPTS):
            try:
                with storage_errors():
                    try:
                        entity = table.get_entity(rule_set, key)
                    except ResourceNotFoundError:
                        table.create_entity(_state_entity(rule_set, key, 1, at))
                        return
                    table.update_entity(
                        _state_entity(rule_set, key, int(entity["assignments"]) + 1, at),
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return
            except (ResourceModifiedError, ResourceExistsError):
                continue
        raise UpstreamUnavailable("storage", "round-robin state is too contended; try again")


def _state_entity(rule_set: str, key: str, assignments: int, at: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": rule_set,
        "RowKey": key,
        "assignments": assignments,
        "lastBookedAt": at.isoformat(),
    }


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
