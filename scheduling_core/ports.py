"""Ports: the small interfaces through which services reach the outside world.

Adapters in `scheduling_core.adapters` implement them against Azure Table
storage and Microsoft Graph; unit tests implement them with plain objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from scheduling_core.domain import BusyItem, Commitment, EventType, Host
from scheduling_core.intervals import Interval


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
