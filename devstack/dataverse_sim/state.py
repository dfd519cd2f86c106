"""The simulator's state: table rows, team memberships, queued faults and a request log.

Invariants: every read and write holds `lock`; a row is a dict of column name to
value, a lookup column holding `{"id", "entity", "nav"}` (the row it points at and
the navigation property that set it); `version` only grows, so every write gets a
fresh `versionnumber` (the row's ETag). With a state file, every write is followed
by an atomic save (temp file + `os.replace`), so a restarted simulator has
everything a client saw written. Faults and the request log are test scaffolding
and are never persisted.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_VERSION = 1
REQUEST_LOG_SIZE = 2000

Row = dict[str, Any]


@dataclass
class Fault:
    """A queued failure: the next `count` requests matching path and method get it."""

    status: int | None
    count: int = 1
    retry_after: float | None = None
    path_contains: str | None = None
    method: str | None = None
    delay_seconds: float | None = None
    code: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains.lower() in path.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "retryAfter": self.retry_after,
            "count": self.count,
            "pathContains": self.path_contains,
            "method": self.method,
            "delaySeconds": self.delay_seconds,
            "code": self.code,
        }


class SimState:
    def __init__(self, state_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.tables: dict[str, dict[str, Row]] = {}
        #: teammembership rows as (teamid, systemuserid), in the order they were made.
        self.memberships: dict[tuple[str, str], None] = {}
        self.version = 1000
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        if state_file is not None and state_file.exists():
            self._load(state_file)

    def table(self, logical_name: str) -> dict[str, Row]:
        return self.tables.setdefault(logical_name, {})

    def next_version(self) -> int:
        self.version += 1
        return self.version

    # -- faults and the request log -----------------------------------------------------------------

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def reset(self) -> None:
        with self.lock:
            self.tables.clear()
            self.memberships.clear()
            self.faults.clear()
            self.requests.clear()
            self.save()

    # -- persistence --------------------------------------------------------------------------------

    def save(self) -> None:
        """Write rows and memberships atomically (no-op without a state file). Call holding `lock`."""
        if self.state_file is None:
            return
        data = {
            "version": STATE_VERSION,
            "rowVersion": self.version,
            "tables": self.tables,
            "teammembership": [list(pair) for pair in self.memberships],
        }
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{self.state_file.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as temp:
                json.dump(data, temp)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.state_file)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def _load(self, state_file: Path) -> None:
        data = json.loads(state_file.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(
                f"{state_file}: unsupported Dataverse simulator state version {data.get('version')!r}"
            )
        self.version = int(data.get("rowVersion", self.version))
        self.tables = {name: dict(rows) for name, rows in data.get("tables", {}).items()}
        self.memberships = {(team, user): None for team, user in data.get("teammembership", [])}
