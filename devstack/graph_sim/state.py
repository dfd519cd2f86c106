"""The simulator's state: a user directory, one calendar per mailbox, change-notification
subscriptions and the change history delta queries read (faults and the log: `simkit`).

Invariants: every read and write holds `lock`; instants are stored in UTC; with
a state file, every write is followed by an atomic save (`simkit.SimState.save`),
so a restarted simulator has everything a client saw written (subscriptions and
the delta history included). Faults, the request log and the test clock are
test scaffolding and are never persisted.

Change history: `seq` only grows; every event write stamps the event with a fresh
`change_seq`, every removal leaves a `Tombstone` with one. A delta token is a
position in that sequence, so "what changed since the token" is every event and
tombstone of the mailbox with a larger number. Tombstones older than
`TOMBSTONE_LIMIT` per mailbox are forgotten; the mailbox's `horizon` then says
which tokens can no longer be answered (410, as Outlook's cache eviction does).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import simkit

STATE_VERSION = 1
#: Removals remembered per mailbox for delta queries; older ones make older tokens unanswerable.
TOMBSTONE_LIMIT = 5000
#: Positions remembered per event for delta windows (see `StoredEvent.positions`).
POSITION_LIMIT = 20


Position = tuple[int, datetime, datetime]


def position_at(positions: Sequence[Position], seq: int) -> tuple[datetime, datetime] | bool | None:
    """Where an event was at history position `seq`: (start, end); None if it did not exist then;
    True if that part of its history is forgotten (`POSITION_LIMIT`)."""
    before = [(start, end) for at, start, end in positions if at <= seq]
    if before:
        return before[-1]
    return True if len(positions) >= POSITION_LIMIT else None


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
    #: The history position of the event's last write (see the module docstring).
    change_seq: int = 0
    #: Where the event was after each of its last writes: (history position, start, end) in UTC, oldest
    #: first (at most `POSITION_LIMIT`). Delta rounds use it to tell whether an event that is outside a
    #: token's window now was inside it when the previous round ended (only then is it reported removed).
    positions: list[Position] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.props["id"])

    def to_json(self) -> dict[str, Any]:
        return {
            "props": self.props,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "singleValueExtendedProperties": self.extended,
            "changeSeq": self.change_seq,
            "positions": [[at, start.isoformat(), end.isoformat()] for at, start, end in self.positions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredEvent:
        return cls(
            props=dict(data["props"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            extended=list(data.get("singleValueExtendedProperties", [])),
            change_seq=int(data.get("changeSeq", 0)),
            positions=[
                (int(at), datetime.fromisoformat(start), datetime.fromisoformat(end))
                for at, start, end in data.get("positions", [])
            ],
        )


@dataclass(frozen=True)
class Tombstone:
    """An event removed from a mailbox (deleted or cancelled by its organizer), for delta queries."""

    event_id: str
    seq: int
    #: The removed event's `positions` (see `StoredEvent`), to tell whether a token's window held it.
    positions: tuple[Position, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "seq": self.seq,
            "positions": [[at, start.isoformat(), end.isoformat()] for at, start, end in self.positions],
        }


@dataclass
class Subscription:
    """A change-notification subscription on one mailbox's events (`graph.subscription`)."""

    id: str
    resource: str
    user_id: str
    change_types: tuple[str, ...]
    notification_url: str
    expiration: datetime
    client_state: str | None = None
    lifecycle_url: str | None = None
    tls_version: str = "v1_2"
    notification_url_app_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "userId": self.user_id,
            "changeTypes": list(self.change_types),
            "notificationUrl": self.notification_url,
            "expiration": self.expiration.isoformat(),
            "clientState": self.client_state,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "latestSupportedTlsVersion": self.tls_version,
            "notificationUrlAppId": self.notification_url_app_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Subscription:
        return cls(
            id=data["id"],
            resource=data["resource"],
            user_id=data["userId"],
            change_types=tuple(data["changeTypes"]),
            notification_url=data["notificationUrl"],
            expiration=datetime.fromisoformat(data["expiration"]),
            client_state=data.get("clientState"),
            lifecycle_url=data.get("lifecycleNotificationUrl"),
            tls_version=data.get("latestSupportedTlsVersion") or "v1_2",
            notification_url_app_id=data.get("notificationUrlAppId"),
        )


class SimState(simkit.SimState):
    kind = "Graph simulator"
    state_version = STATE_VERSION

    def __init__(self, state_file: Path | None = None) -> None:
        self.users: dict[str, User] = {}
        self.calendars: dict[str, dict[str, StoredEvent]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.seq = 0
        self.tombstones: dict[str, list[Tombstone]] = {}
        #: Per mailbox: tokens at or below this position can no longer be answered.
        self.horizons: dict[str, int] = {}
        #: Bumped by `POST /_sim/delta/expire`: every token of an older generation is gone.
        self.delta_generation = 1
        #: The test clock (`POST /_sim/clock`): a fixed instant, or None for real time.
        self.fixed_now: datetime | None = None
        #: Mailbox faults by user id (`POST /_sim/mailboxes/{user}/fault`; `mailboxes`). Test scaffolding.
        self.mailbox_faults: dict[str, str] = {}
        #: Per mailbox: the messages it sent (Sent Items), newest last, e.g. an organizer's cancellations.
        self.sent_items: dict[str, list[dict[str, Any]]] = {}
        #: Per mailbox: the `transactionId`s of events removed from its calendar. Graph's cancel and
        #: delete move the event to Deleted Items, where it keeps its transactionId, and Graph documents
        #: no end to the de-duplication: a create repeating one is refused as long as the mailbox lives.
        self.spent_transactions: dict[str, set[str]] = {}
        super().__init__(state_file)

    # -- time and history ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's "now": the test clock's instant if set, else real UTC time."""
        return self.fixed_now if self.fixed_now is not None else datetime.now(UTC)

    def touch(self, event: StoredEvent) -> None:
        """Record a write of `event` in the change history."""
        self.seq += 1
        event.change_seq = self.seq
        event.positions.append((self.seq, event.start, event.end))
        del event.positions[:-POSITION_LIMIT]

    def bury(self, user: User, event: StoredEvent) -> None:
        """Record the removal of `event` from `user`'s calendar in the change history."""
        self.seq += 1
        graves = self.tombstones.setdefault(user.id, [])
        graves.append(Tombstone(event.id, self.seq, tuple(event.positions)))
        if len(graves) > TOMBSTONE_LIMIT:
            dropped = graves[: len(graves) - TOMBSTONE_LIMIT]
            del graves[: len(dropped)]
            self.horizons[user.id] = max(self.horizons.get(user.id, 0), dropped[-1].seq)

    def live_subscriptions(self) -> list[Subscription]:
        """Subscriptions not yet expired; expired ones are forgotten, as Graph deletes them."""
        now = self.now()
        expired = [sub_id for sub_id, sub in self.subscriptions.items() if sub.expiration <= now]
        for sub_id in expired:
            del self.subscriptions[sub_id]
        if expired:
            self.save()
        return list(self.subscriptions.values())

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
        old_id = provisional.id
        del self.users[old_id]
        events = self.calendars.pop(old_id, {})
        provisional.id = new_id
        self.users[new_id] = provisional
        self.calendars[new_id] = events
        if old_id in self.tombstones:
            self.tombstones[new_id] = self.tombstones.pop(old_id)
        if old_id in self.horizons:
            self.horizons[new_id] = self.horizons.pop(old_id)
        for subscription in self.subscriptions.values():
            if subscription.user_id == old_id:
                subscription.user_id = new_id

    def calendar(self, user: User) -> dict[str, StoredEvent]:
        return self.calendars.setdefault(user.id, {})

    # -- persistence --------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.users.clear()
        self.calendars.clear()
        self.subscriptions.clear()
        self.tombstones.clear()
        self.horizons.clear()
        self.seq = 0
        self.delta_generation += 1  # tokens handed out before a reset must not match new data
        self.fixed_now = None
        self.mailbox_faults.clear()
        self.sent_items.clear()
        self.spent_transactions.clear()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "users": [{**user.graph_json(), "provisional": user.provisional} for user in self.users.values()],
            "calendars": {
                user_id: [event.to_json() for event in events.values()]
                for user_id, events in self.calendars.items()
            },
            "subscriptions": [subscription.to_json() for subscription in self.subscriptions.values()],
            "sentItems": self.sent_items,
            "spentTransactions": {user: sorted(ids) for user, ids in self.spent_transactions.items()},
            "history": {
                "seq": self.seq,
                "deltaGeneration": self.delta_generation,
                "tombstones": {
                    user_id: [grave.to_json() for grave in graves]
                    for user_id, graves in self.tombstones.items()
                },
                "horizons": self.horizons,
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
        for raw_subscription in data.get("subscriptions", []):
            subscription = Subscription.from_json(raw_subscription)
            self.subscriptions[subscription.id] = subscription
        self.sent_items = {user_id: list(items) for user_id, items in data.get("sentItems", {}).items()}
        self.spent_transactions = {
            user_id: set(ids) for user_id, ids in data.get("spentTransactions", {}).items()
        }
        history = data.get("history", {})
        self.seq = int(history.get("seq", 0))
        self.delta_generation = int(history.get("deltaGeneration", 1))
        self.tombstones = {
            user_id: [
                Tombstone(
                    raw["id"],
                    int(raw["seq"]),
                    tuple(
                        (int(at), datetime.fromisoformat(start), datetime.fromisoformat(end))
                        for at, start, end in raw.get("positions", [])
                    ),
                )
                for raw in graves
            ]
            for user_id, graves in history.get("tombstones", {}).items()
        }
        self.horizons = {user_id: int(seq) for user_id, seq in history.get("horizons", {}).items()}
