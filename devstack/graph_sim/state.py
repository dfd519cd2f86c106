"""The simulator's state: a user directory, one calendar per mailbox, queued faults, a request log.

Invariants: every read and write holds `lock`; instants are stored in UTC; with
a state file, every write is followed by an atomic save (temp file +
`os.replace`), so a restarted simulator has everything a client saw written.
Faults and the request log are test scaffolding and are never persisted.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

STATE_VERSION = 1
REQUEST_LOG_SIZE = 2000


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
        self.users: dict[str, User] = {}
        self.calendars: dict[str, dict[str, StoredEvent]] = {}
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        if state_file is not None and state_file.exists():
            self._load(state_file)

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
            self.users.clear()
            self.calendars.clear()
            self.faults.clear()
            self.requests.clear()
            self.save()

    # -- persistence --------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the directory and calendars atomically (no-op without a state file). Call holding `lock`."""
        if self.state_file is None:
            return
        data = {
            "version": STATE_VERSION,
            "users": [{**user.graph_json(), "provisional": user.provisional} for user in self.users.values()],
            "calendars": {
                user_id: [event.to_json() for event in events.values()]
                for user_id, events in self.calendars.items()
            },
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
                f"{state_file}: unsupported Graph simulator state version {data.get('version')!r}"
            )
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
