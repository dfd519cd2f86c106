"""Graph change-notification subscriptions: one per active host on `users/{id}/events`.

Invariants:
- Each subscription has its own random `clientState` (64 URL-safe characters, inside Graph's 128);
  only its SHA-256 is stored, and notifications are checked against that hash in constant time
  (`hmac.compare_digest`), so neither storage nor timing reveals a usable value.
- Lifetimes are requested at `LIFETIME` (4,200 minutes), inside every documented Outlook limit
  (older docs: 4,230; newer: 10,080), and renewed once less than `RENEW_WITHIN` (12 hours) is left,
  i.e. at about half-life when the maintenance timer runs every few hours.
- `lifecycleNotificationUrl` can only be set at creation, so it is always sent then.
- A subscription Graph no longer has (404 on renew, `subscriptionRemoved`) is created anew; a failed
  create is recorded as `failed` and retried by the next maintenance run. A host that is deleted or
  deactivated loses its subscription.
- Validating notifications costs a bounded number of storage reads whatever the body holds: an item
  whose `subscriptionId` is not a GUID (Graph's subscription ids are) is rejected before any lookup, and
  ids are looked up in `SubscriptionIndex`, a per-process copy of the `sub` rows read in one partition
  query and kept `INDEX_TTL`; an id it lacks makes it re-read at most once per `INDEX_MIN_REFRESH`, plus at
  most `MAX_POINT_READS` single-row reads per request for ids created elsewhere since. So a batch of
  1,000 items costs at most a few reads, never one per item or per made-up id (Graph counts a
  notification answered after about 3 s as slow, and throttles, then drops, a slow endpoint's
  notifications).
- Every write of a host's subscription row is ETag-conditional; a writer that loses the race leaves
  the winner's subscription alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from scheduling_core.domain.values import Host
from scheduling_core.errors import SchedulingError, SubscriptionChanged
from scheduling_core.ports import Clock, SubscriptionRecord

log = logging.getLogger(__name__)

#: Graph's subscription ids are GUIDs; anything else is not one of ours and is never looked up.
SUBSCRIPTION_ID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
INDEX_TTL: Final = 60.0
INDEX_MIN_REFRESH: Final = 2.0
MAX_POINT_READS: Final = 2
LIFETIME: Final = timedelta(minutes=4200)
RENEW_WITHIN: Final = timedelta(hours=12)
CLIENT_STATE_BYTES: Final = 48  # 64 URL-safe characters


def hash_client_state(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def client_state_matches(presented: str | None, stored_hash: str) -> bool:
    if not presented or not stored_hash:
        return False
    return hmac.compare_digest(hash_client_state(presented), stored_hash)


def events_resource(host_id: str) -> str:
    return f"users/{host_id}/events"


class SubscriptionApi(Protocol):
    def create_subscription(
        self,
        *,
        resource: str,
        notification_url: str,
        lifecycle_url: str,
        expiration: datetime,
        client_state: str,
    ) -> dict[str, Any]: ...
    def renew_subscription(self, subscription_id: str, expiration: datetime) -> dict[str, Any] | None: ...
    def delete_subscription(self, subscription_id: str) -> None: ...


class SubscriptionStore(Protocol):
    def get(self, host_id: str) -> SubscriptionRecord | None: ...
    def all(self) -> list[SubscriptionRecord]: ...
    def by_subscription(self, subscription_id: str) -> tuple[str, str] | None: ...
    def subscription_index(self) -> dict[str, tuple[str, str]]: ...
    def save(self, record: SubscriptionRecord, *, expected_etag: str | None, create: bool) -> None: ...
    def forget_subscription(self, subscription_id: str) -> None: ...
    def delete(self, host_id: str, expected_etag: str | None) -> None: ...
    def save_delta_link(self, host_id: str, link: str | None) -> None: ...


class HostList(Protocol):
    def list_hosts(self) -> list[Host]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedItem:
    """A notification item whose `clientState` matched its subscription's."""

    host_id: str
    subscription_id: str
    item: Mapping[str, Any]


@dataclass(slots=True)
class Verification:
    valid: list[VerifiedItem] = field(default_factory=list)
    rejected: int = 0


class SubscriptionIndex:
    """Our subscriptions by id (host id, client-state hash), cached per process (see the module docstring).

    Thread-safe; one reader at a time refreshes, so a burst of requests causes one read, not one each."""

    def __init__(self, store: SubscriptionStore, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, str]] = {}
        self._loaded_at: float | None = None
        self._absent: dict[str, float] = {}  # ids a point read found missing, and when

    def lookup(self, ids: Iterable[str]) -> dict[str, tuple[str, str] | None]:
        wanted = {i for i in ids if SUBSCRIPTION_ID.fullmatch(i)}
        if not wanted:
            return {}  # nothing that could be ours: no storage read at all
        with self._lock:
            now = self._monotonic()
            if self._loaded_at is None or now - self._loaded_at > INDEX_TTL:
                self._reload(now)
            missing = sorted(i for i in wanted if i not in self._entries)
            if missing and self._loaded_at is not None and now - self._loaded_at > INDEX_MIN_REFRESH:
                self._reload(now)
                missing = [i for i in missing if i not in self._entries]
            reads = 0
            for subscription_id in missing:
                seen_absent = self._absent.get(subscription_id)
                if seen_absent is not None and now - seen_absent <= INDEX_TTL:
                    continue
                if reads >= MAX_POINT_READS:
                    break
                reads += 1
                found = self._store.by_subscription(subscription_id)
                if found is None:
                    self._absent[subscription_id] = now
                else:
                    self._entries[subscription_id] = found
            return {i: self._entries.get(i) for i in wanted}

    def remember(self, subscription_id: str, host_id: str, client_state_hash: str) -> None:
        with self._lock:
            self._entries[subscription_id] = (host_id, client_state_hash)
            self._absent.pop(subscription_id, None)

    def forget(self, subscription_id: str) -> None:
        with self._lock:
            self._entries.pop(subscription_id, None)

    def _reload(self, now: float) -> None:
        self._entries = self._store.subscription_index()
        self._loaded_at = now
        self._absent = {i: at for i, at in self._absent.items() if now - at <= INDEX_TTL}


@dataclass(slots=True)
class MaintenanceReport:
    created: int = 0
    renewed: int = 0
    kept: int = 0
    removed: int = 0
    failed: int = 0


class OutlookSubscriptions:
    def __init__(
        self,
        *,
        api: SubscriptionApi,
        store: SubscriptionStore,
        hosts: HostList,
        clock: Clock,
        notification_url: str,
        lifecycle_url: str,
    ) -> None:
        self._api = api
        self._store = store
        self._hosts = hosts
        self._clock = clock
        self._notification_url = notification_url
        self._lifecycle_url = lifecycle_url
        self.index = SubscriptionIndex(store)

    # -- notifications -------------------------------------------------------------------------------

    def verify(self, items: Iterable[Mapping[str, Any]]) -> Verification:
        """Split notification items into those from our subscriptions (clientState checked) and the rest."""
        result = Verification()
        listed = list(items)
        known = self.index.lookup(str(item.get("subscriptionId") or "") for item in listed)
        for item in listed:
            subscription_id = str(item.get("subscriptionId") or "")
            entry = known.get(subscription_id)
            client_state = item.get("clientState")
            if entry is None or not client_state_matches(
                client_state if isinstance(client_state, str) else None, entry[1]
            ):
                result.rejected += 1
                continue
            result.valid.append(VerifiedItem(host_id=entry[0], subscription_id=subscription_id, item=item))
        return result

    # -- one host --------------------------------------------------------------------------------------

    def ensure(self, host_id: str) -> str:
        """Make sure the host has a live subscription; what was done (`kept|renewed|created|failed`)."""
        record = self._store.get(host_id)
        now = self._clock.now()
        try:
            if record is not None and record.status == "active" and record.subscription_id:
                if record.expires_at is not None and record.expires_at - now > RENEW_WITHIN:
                    return "kept"
                renewed = self._api.renew_subscription(record.subscription_id, now + LIFETIME)
                if renewed is not None:
                    self._save(
                        record, expires_at=_expiry(renewed, now + LIFETIME), status="active", error=None
                    )
                    return "renewed"
                log.warning(
                    "subscription %s of %s is gone; creating another", record.subscription_id, host_id
                )
            return self._create(host_id, record)
        except SubscriptionChanged:
            return "kept"  # someone else wrote the row meanwhile: theirs stands
        except SchedulingError as exc:
            log.error("subscription for host %s failed: %s", host_id, exc)
            self._mark_failed(host_id, str(exc))
            return "failed"

    def renew(self, host_id: str) -> str:
        """Renew now whatever the expiry (`reauthorizationRequired`)."""
        record = self._store.get(host_id)
        if record is None or not record.subscription_id:
            return self.ensure(host_id)
        try:
            renewed = self._api.renew_subscription(record.subscription_id, self._clock.now() + LIFETIME)
            if renewed is None:
                return self._create(host_id, record)
            self._save(
                record, expires_at=_expiry(renewed, self._clock.now() + LIFETIME), status="active", error=None
            )
            return "renewed"
        except SubscriptionChanged:
            return "kept"
        except SchedulingError as exc:
            self._mark_failed(host_id, str(exc))
            return "failed"

    def recreate(self, host_id: str) -> str:
        """Graph removed the subscription (`subscriptionRemoved`): make a new one."""
        try:
            return self._create(host_id, self._store.get(host_id))
        except SubscriptionChanged:
            return "kept"
        except SchedulingError as exc:
            self._mark_failed(host_id, str(exc))
            return "failed"

    def remove(self, host_id: str) -> None:
        record = self._store.get(host_id)
        if record is None:
            return
        if record.subscription_id:
            self._api.delete_subscription(record.subscription_id)
            self._store.forget_subscription(record.subscription_id)
            self.index.forget(record.subscription_id)
        self._store.delete(host_id, None)
        self._store.save_delta_link(host_id, None)

    # -- every host ------------------------------------------------------------------------------------

    def maintain(self) -> MaintenanceReport:
        """Renew what expires soon, create what is missing or failed, remove what no host needs."""
        report = MaintenanceReport()
        wanted = {host.id for host in self._hosts.list_hosts() if host.active}
        for host_id in sorted(wanted):
            outcome = self.ensure(host_id)
            setattr(report, outcome, getattr(report, outcome) + 1)
        for record in self._store.all():
            if record.host_id not in wanted:
                try:
                    self.remove(record.host_id)
                    report.removed += 1
                except SchedulingError as exc:
                    log.error("could not remove the subscription of %s: %s", record.host_id, exc)
        return report

    def host_saved(self, host: Host) -> None:
        if host.active:
            self.ensure(host.id)
        else:
            self.remove(host.id)

    def host_removed(self, host_id: str) -> None:
        self.remove(host_id)

    # -- steps -----------------------------------------------------------------------------------------

    def _create(self, host_id: str, previous: SubscriptionRecord | None) -> str:
        client_state = secrets.token_urlsafe(CLIENT_STATE_BYTES)
        now = self._clock.now()
        created = self._api.create_subscription(
            resource=events_resource(host_id),
            notification_url=self._notification_url,
            lifecycle_url=self._lifecycle_url,
            expiration=now + LIFETIME,
            client_state=client_state,
        )
        record = SubscriptionRecord(
            host_id=host_id,
            subscription_id=str(created["id"]),
            client_state_hash=hash_client_state(client_state),
            expires_at=_expiry(created, now + LIFETIME),
            status="active",
        )
        try:
            self._store.save(
                record,
                expected_etag=previous.etag if previous is not None else None,
                create=previous is None,
            )
        except SubscriptionChanged:
            self._api.delete_subscription(record.subscription_id)  # lost the race: ours is surplus
            self._store.forget_subscription(record.subscription_id)
            raise
        self.index.remember(record.subscription_id, host_id, record.client_state_hash)
        if (
            previous is not None
            and previous.subscription_id
            and previous.subscription_id != record.subscription_id
        ):
            self._store.forget_subscription(previous.subscription_id)
            self.index.forget(previous.subscription_id)
            try:
                self._api.delete_subscription(previous.subscription_id)
            except SchedulingError as exc:
                log.warning("old subscription %s not deleted: %s", previous.subscription_id, exc)
        return "created"

    def _save(
        self, record: SubscriptionRecord, *, expires_at: datetime | None, status: str, error: str | None
    ) -> None:
        self._store.save(
            SubscriptionRecord(
                host_id=record.host_id,
                subscription_id=record.subscription_id,
                client_state_hash=record.client_state_hash,
                expires_at=expires_at,
                status=status,
                error=error,
            ),
            expected_etag=record.etag,
            create=False,
        )

    def _mark_failed(self, host_id: str, error: str) -> None:
        record = self._store.get(host_id)
        failed = SubscriptionRecord(
            host_id=host_id,
            subscription_id=record.subscription_id if record is not None else "",
            client_state_hash=record.client_state_hash if record is not None else "",
            expires_at=record.expires_at if record is not None else None,
            status="failed",
            error=error[:1000],
        )
        with contextlib.suppress(SubscriptionChanged):
            self._store.save(
                failed, expected_etag=record.etag if record is not None else None, create=record is None
            )


def _expiry(subscription: Mapping[str, Any], fallback: datetime) -> datetime:
    raw = subscription.get("expirationDateTime")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            pass
    return fallback
