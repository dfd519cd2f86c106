"""The simulator's state: a user directory and one calendar per mailbox (faults and the log: `simkit`).

Invariants: every read and write holds `lock`; instants are stored in UTC; with
a state file, every write is followed by an atomic save (`simkit.SimState.save`),
so a restarted simulator has everything a client saw written. Faults and the
request log are test scaffolding and are never persisted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack import simkit

STATE_VERSION = 1


@dataclass
class User:
    """An Entra ID user with a mailbox. `provisional` users were created by first use of a path."""

    id: str
    display_name: str | None = None
    mail: str | None = None
    user_principal_name: str | None = None
    account_enabled: bool = True
    provisional: bool = False

    def graph_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.user_principal_name,
            "accountEnabled": self.account_enabled,
        }


@dataclass
class StoredEvent:
    """An event: its Graph properties except start/end, which are kept as UTC instants."""

    props: dict[str, Any]
    start: datetime
    end: datetime
    extended: list[dict[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.props["id"])

    def to_json(self) -> dict[str, Any]:
        return {
            "props": self.props,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "singleValueExtendedProperties": self.extended,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredEvent:
        return cls(
            props=dict(data["props"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            extended=list(data.get("singleValueExtendedProperties", [])),
        )


class SimState(simkit.SimState):
    kind = "Graph simulator"
    state_version = STATE_VERSION

    def __init__(self, state_file: Path | None = None) -> None:
        self.users: dict[str, User] = {}
        self.calendars: dict[str, dict[str, StoredEvent]] = {}
        super().__init__(state_file)

    # -- directory ---------------------------------------------------------------------------------

    def find_user(self, key: str) -> User | None:
        user = self.users.get(key)
        if user is not None:
            return user
        lowered = key.strip().lower()
        for candidate in self.users.values():
            if candidate.id.lower() == lowered:
                return candidate
        for candidate in self.users.values():
            if lowered in {(candidate.user_principal_name or "").lower(), (candidate.mail or "").lower()}:
                return candidate
        return None

    def user_by_address(self, address: str) -> User | None:
        """The user getSchedule resolves an SMTP address to (by `mail`, then by UPN); never creates one."""
        lowered = address.strip().lower()
        if not lowered:
            return None
        for candidate in self.users.values():
            if (candidate.mail or "").lower() == lowered:
                return candidate
        for candidate in self.users.values():
            if (candidate.user_principal_name or "").lower() == lowered:
                return candidate
        return None

    def mailbox(self, key: str) -> User:
        """The user a path addresses, created (provisionally) on first use like a fresh mailbox."""
        user = self.find_user(key)
        if user is not None:
            return user
        if "@" in key:
            user = User(id=str(uuid.uuid4()), mail=key, user_principal_name=key, provisional=True)
        else:
            user = User(id=key, provisional=True)
        self.users[user.id] = user
        self.calendars.setdefault(user.id, {})
        self.save()
        return user

    def adopt(self, provisional: User, new_id: str) -> None:
        """Re-key a provisional mailbox under the id a later `POST /users` gives it, events included."""
        if provisional.id == new_id:
            return
        del self.users[provisional.id]
        events = self.calendars.pop(provisional.id, {})
        provisional.id = new_id
        self.users[new_id] = provisional
        self.calendars[new_id] = events

    def calendar(self, user: User) -> dict[str, StoredEvent]:
        return self.calendars.setdefault(user.id, {})

    # -- persistence --------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.users.clear()
        self.calendars.clear()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "users": [{**user.graph_json(), "provisional": user.provisional} for user in self.users.values()],
            "calendars": {
                user_id: [event.to_json() for event in events.values()]
                for user_id, events in self.calendars.items()
            },
        }

    def _restore(self, data: dict[str, Any]) -> None:
        for raw in data.get("users", []):
            user = User(
                id=raw["id"],
                display_name=raw.get("displayName"),
                mail=raw.get("mail"),
                user_principal_name=raw.get("userPrincipalName"),
                account_enabled=bool(raw.get("accountEnabled", True)),
                provisional=bool(raw.get("provisional", False)),
            )
            self.users[user.id] = user
        for user_id, events in data.get("calendars", {}).items():
            calendar = self.calendars.setdefault(user_id, {})
            for raw_event in events:
                event = StoredEvent.from_json(raw_event)
                calendar[event.id] = event
