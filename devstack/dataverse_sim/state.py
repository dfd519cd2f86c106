"""The simulator's state: table rows and team memberships (queued faults and the request log: `simkit`).

Invariants: every read and write holds `lock`; a row is a dict of column name to
value, a lookup column holding `{"id", "entity", "nav"}` (the row it points at and
the navigation property that set it); `version` only grows, so every write gets a
fresh `versionnumber` (the row's ETag). With a state file, every write is followed
by an atomic save (temp file + `os.replace`), so a restarted simulator has
everything a client saw written (`simkit.SimState.save`). Faults and the request
log are test scaffolding and are never persisted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack import simkit

STATE_VERSION = 1

Row = dict[str, Any]


class SimState(simkit.SimState):
    kind = "Dataverse simulator"
    state_version = STATE_VERSION

    def __init__(self, state_file: Path | None = None) -> None:
        self.tables: dict[str, dict[str, Row]] = {}
        #: teammembership rows as (teamid, systemuserid), in the order they were made.
        self.memberships: dict[tuple[str, str], None] = {}
        self.version = 1000
        super().__init__(state_file)

    def table(self, logical_name: str) -> dict[str, Row]:
        return self.tables.setdefault(logical_name, {})

    def next_version(self) -> int:
        self.version += 1
        return self.version

    # -- persistence --------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.tables.clear()
        self.memberships.clear()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "rowVersion": self.version,
            "tables": self.tables,
            "teammembership": [list(pair) for pair in self.memberships],
        }

    def _restore(self, data: dict[str, Any]) -> None:
        self.version = int(data.get("rowVersion", self.version))
        self.tables = {name: dict(rows) for name, rows in data.get("tables", {}).items()}
        self.memberships = {(team, user): None for team, user in data.get("teammembership", [])}
