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

import base64
import json
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
                        "PartitionKey": f"rec|{key_text(record_id)}",
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
                "PartitionKey eq @p", parameters={"p": f"rec|{key_text(record_id)}"}, results_per_page=limit
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
    """The document, its repeated strings interned, as compressed JSON cut into properties `z0`, `z1`, ...
    grouped into rows."""
    body = zlib.compress(json.dumps(_interned(document), separators=(",", ":")).encode(), 9)
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
    packed = json.loads(zlib.decompress(body))
    strings = [_unpack_guid(text) for text in packed["strings"]]
    result: dict[str, Any] = _expand(packed["doc"], strings)
    return result


# A decision names each host of a pool up to six times (rule pool, candidates, eligible, hostIds, inputs'
# hosts and stats). Host ids are Entra object ids, 36 characters that barely compress, and far enough
# apart that zlib's 32 KB window misses the repeats: stored once and referred to by number, a pool of
# 500 takes about half the space (docs/decisions.md). `~` starts a reference (`~17`); a real string that
# starts with `~` is stored with one more.
_REF = "~"
_MIN_INTERNED = 8


def _interned(document: Mapping[str, Any]) -> dict[str, Any]:
    seen: Counter[str] = Counter()
    _count_strings(document, seen)
    strings = sorted(text for text, n in seen.items() if n > 1 and len(text) >= _MIN_INTERNED)
    index = {text: n for n, text in enumerate(strings)}

    def pack(value: Any) -> Any:
        if isinstance(value, str):
            if value in index:
                return f"{_REF}{index[value]}"
            return _REF + value if value.startswith(_REF) else value
        if isinstance(value, list):
            return [pack(item) for item in value]
        if isinstance(value, dict):
            return {pack(key): pack(item) for key, item in value.items()}
        return value

    return {"strings": [_pack_guid(text) for text in strings], "doc": pack(document)}


# Interned Entra object ids (lower-case GUIDs) are kept as the base64 of their 16 bytes: 22 characters of
# 6 bits each instead of 36 of 4, a quarter off a pool's id table after compression. `!` marks one.
_GUID = "!"


def _pack_guid(text: str) -> str:
    if text.startswith(_GUID):
        return _GUID + text
    try:
        value = uuid.UUID(text)
    except ValueError:
        return text
    if str(value) != text:
        return text  # not the canonical form: kept as is so it comes back unchanged
    return _GUID + base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def _unpack_guid(text: str) -> str:
    if not text.startswith(_GUID):
        return text
    rest = text[1:]
    if rest.startswith(_GUID):
        return rest
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(rest + "==")))


def _count_strings(value: Any, seen: Counter[str]) -> None:
    if isinstance(value, str):
        seen[value] += 1
    elif isinstance(value, list):
        for item in value:
            _count_strings(item, seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            seen[key] += 1
            _count_strings(item, seen)


def _expand(value: Any, strings: list[str]) -> Any:
    if isinstance(value, str):
        if not value.startswith(_REF):
            return value
        rest = value[1:]
        return rest if rest.startswith(_REF) else strings[int(rest)]
    if isinstance(value, list):
        return [_expand(item, strings) for item in value]
    if isinstance(value, dict):
        return {_expand(key, strings): _expand(item, strings) for key, item in value.items()}
    return value


def _row(rule: str) -> str:
    return "".join(c if c.isalnum() or c in "-_ ." else f"%{ord(c):02x}" for c in rule)
