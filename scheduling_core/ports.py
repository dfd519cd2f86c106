"""Ports: the small interfaces through which services reach the outside world.

Adapters in `scheduling_core.adapters` implement them against Azure Table
storage and Microsoft Graph; unit tests implement them with plain objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import BusyItem, Commitment, EventType, Host

if TYPE_CHECKING:  # the domain's Outlook module reaches ports through booking sections: no import cycle
    from scheduling_core.domain.outlook import OutlookEvent


class Clock(Protocol):
    """The wall clock as a port: the core never reads it itself (tests use `adapters.clock.FixedClock`)."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Mailbox:
    """Who to ask Outlook about: the host id we key results by and the SMTP address Graph resolves."""

    host_id: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFreeBusy:
    """A host's Outlook items in a window, or the per-schedule error Graph gave instead."""

    items: tuple[BusyItem, ...] = ()
    error: str | None = None


class BusyTimeSource(Protocol):
    def free_busy(
        self, mailboxes: Sequence[Mailbox], window: Interval, *, fresh: bool = False
    ) -> Mapping[str, HostFreeBusy]:
        """Free/busy of every mailbox over `window`, keyed by host id.

        `fresh=True` bypasses any cache (used to re-check at commit time).
        Raises `UpstreamUnavailable` when the source cannot answer in time.
        """
        ...


class ConfigRepository(Protocol):
    """Hosts and event types as the admin API stores them."""

    def get_host(self, host_id: str) -> Host: ...  # NotFound if absent
    def list_hosts(self) -> list[Host]: ...
    def get_hosts(self, host_ids: Sequence[str]) -> list[Host]: ...  # in order; NotFound for the first absent
    def put_host(self, host: Host) -> bool: ...  # True if created, False if replaced
    def delete_host(self, host_id: str) -> None: ...  # NotFound if absent

    def get_event_type(self, slug: str) -> EventType: ...
    def list_event_types(self) -> list[EventType]: ...
    def put_event_type(self, event_type: EventType) -> bool: ...
    def delete_event_type(self, slug: str) -> None: ...


class CommitmentSource(Protocol):
    def commitments(self, host_ids: Sequence[str], window: Interval) -> Mapping[str, Sequence[Commitment]]:
        """Confirmed bookings and unexpired holds of each host that touch `window`."""
        ...


# --- events and the outbox (issue 3) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudEvent:
    """A CloudEvents 1.0 structured event (architecture.md); `id` is also the Service Bus messageId."""

    id: str
    source: str
    type: str
    time: datetime
    data: Mapping[str, Any]
    session_id: str  # the booking id: one booking's events are handled in order
    traceparent: str | None = None


class EventPublisher(Protocol):
    def publish(self, event: CloudEvent) -> None:
        """Return once the broker (or local dispatch) accepted `event`; raise `TransientError` otherwise.

        Publishing the same event twice is harmless: its id is the broker's duplicate-detection key.
        """
        ...


#: Application property a scheduled copy carries: how often throttling has put this message back already.
THROTTLE_COUNT_PROPERTY: Final = "throttleCount"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledCopy:
    """A copy of a booking event for one subscription, to become visible `delay` from now.

    A handler that was throttled past its time budget completes its message and schedules this copy
    instead of abandoning it (which Service Bus would redeliver at once). `message_id` is new (so
    duplicate detection keeps it) and deterministic (so scheduling it twice keeps one); the session
    id stays the event's. `throttle_count` says how many throttled deliveries came before it.
    """

    event: CloudEvent
    subscription: str
    message_id: str
    delay: timedelta  # the broker's clock decides the enqueue time (now + delay), not the app's `Clock`
    throttle_count: int


class RedeliveryScheduler(Protocol):
    def schedule(self, copy: ScheduledCopy) -> None:
        """Return once the broker accepted `copy` for later delivery; raise `TransientError` otherwise."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingEvent:
    """An outbox row not yet confirmed as published, with what `mark_sent` needs to update it safely."""

    event: CloudEvent
    partition_key: str
    row_key: str
    etag: str


class OutboxStore(Protocol):
    def pending(self, limit: int = 100) -> list[PendingEvent]:
        """Outbox rows not yet marked sent, oldest first."""
        ...

    def mark_sent(self, pending: PendingEvent, at: datetime) -> None:
        """Mark the row sent (ETag-conditional; a row already marked by another relay is fine)."""
        ...


# --- idempotency (issue 3) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResponse:
    status: int
    body: str
    headers: Mapping[str, str]


class IdempotencyOutcome(StrEnum):
    PROCEED = "proceed"  # first time: do the work, then complete() or abandon()
    REPLAY = "replay"  # done before with the same request: answer `response` again
    IN_PROGRESS = "in-progress"  # the first request is still running
    KEY_REUSED = "key-reused"  # the key was used with a different request


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyClaim:
    outcome: IdempotencyOutcome
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    def begin(self, scope: str, key: str, request_hash: str, now: datetime) -> IdempotencyClaim: ...

    def complete(self, scope: str, key: str, response: StoredResponse, now: datetime) -> None: ...

    def abandon(self, scope: str, key: str) -> None:
        """Forget an in-progress claim (the work failed transiently; a retry may try again)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRecord:
    host_id: str
    subscription_id: str
    client_state_hash: str
    expires_at: datetime | None
    status: str  # active | failed
    error: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutlookLink:
    booking_id: str
    mailbox: str
    event_id: str | None = None
    create_attempted_at: datetime | None = None
    written_version: int = 0
    written_start: datetime | None = None
    written_end: datetime | None = None
    #: The booking version whose move put the booking in `mailbox` (0: its first mailbox); names the
    #: create's `transactionId` (`scheduling_core.domain.outlook.transaction_id`).
    placement: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaPage:
    """One page of a host's `calendarView/delta`: its events read (`OutlookEvent`), and where to go on."""

    events: tuple[OutlookEvent, ...]
    next_link: str | None
    delta_link: str | None


class LeaseOutcome(StrEnum):
    TAKEN = "taken"  # apply the version, then `finish` or `release`
    ALREADY_APPLIED = "already-applied"  # the target has this version or a newer one: acknowledge
    BUSY = "busy"  # another delivery holds an unexpired lease: try again shortly


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseResult:
    outcome: LeaseOutcome
    applied_version: int
