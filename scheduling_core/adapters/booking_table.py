"""Bookings, holds, slot locks and the outbox in Azure Table storage.

Layout (architecture.md, Storage). Table `hostslots`, one partition per host:
    b|{bookingId}            the booking (full document on the primary host; a reference row on other hosts)
    h|{holdId}               a hold
    l|{YYYY-MM-DDTHH:MMZ}    a 5-minute lock: owner id, kind (booking | hold | pending), expiresAt for holds
    o|{bookingId}|{version}  an outbox event (CloudEvents JSON) and whether it was published
Table `bookingindex`: `id|{bookingId}` and `hold|{holdId}` → hosts; `rec|{recordId}` / bookingId → host;
`appt|{activityid}` → bookingId (the booking's Dynamics appointment, for the Dynamics webhook).

Invariants:
- A booking's row, its locks and its outbox event change in ONE entity-group transaction in the host's
  partition, so two claims sharing a bucket can never both commit (the second `create` of a lock fails).
- A lock owned by an expired hold is taken over only by an ETag-conditional update, so a hold converted or
  renewed at the same moment wins or loses cleanly; no cleanup job is needed for expiry to take effect.
- The id index row is written before the booking's transaction: a crash leaves at worst an index row that
  points at nothing (read as 404), never a booking that cannot be found.
- Collective bookings lock the other hosts first (sorted by id) as `pending` locks with a short expiry, then
  commit the primary host's transaction, then confirm the others; a pending lock whose owner never committed
  expires, and one whose owner did commit is confirmed by whoever finds it.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from scheduling_core.adapters.tables import Tables, key_text, storage_errors
from scheduling_core.bookings import (
    Booking,
    Claim,
    Hold,
    StoredBooking,
    appointment_id,
    booking_from_snapshot,
    booking_snapshot,
)
from scheduling_core.clock import Clock
from scheduling_core.domain import Commitment
from scheduling_core.errors import BookingChanged, NotFound, SlotUnavailable
from scheduling_core.events import from_json, to_json
from scheduling_core.intervals import Interval
from scheduling_core.ports import CloudEvent, PendingEvent

log = logging.getLogger(__name__)

PENDING_LOCK_LIFETIME = timedelta(minutes=2)
_ATTEMPTS = 3
Op = tuple[Any, ...]


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _merged(section: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**section, **values}
    return {k: v for k, v in merged.items() if not (k in values and v is None)}


def _etag(entity: Any) -> str:
    return str(entity.metadata["etag"])


def _pending(event: CloudEvent, partition: str, results: Sequence[Mapping[str, Any]]) -> PendingEvent:
    """The outbox row a write just made (its transaction's second operation), for the after-commit publish."""
    return PendingEvent(
        event=event, partition_key=partition, row_key=_outbox_key(event), etag=results[1]["etag"]
    )


def _outbox_key(event: CloudEvent) -> str:
    booking_id, _, version = event.id.rpartition(":")
    return f"o|{booking_id}|{int(version):08d}"


class TableBookingStore:
    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._tables = tables
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hostslots")

    @property
    def _slots(self) -> TableClient:
        return self._tables.table("hostslots")

    @property
    def _index(self) -> TableClient:
        return self._tables.table("bookingindex")

    # ---- rows ------------------------------------------------------------------------------------

    @staticmethod
    def _booking_row(
        booking: Booking, host_id: str, *, primary: bool, status: str | None = None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "PartitionKey": host_id,
            "RowKey": f"b|{booking.id}",
            "start": booking.start,
            "end": booking.end,
            "status": status or booking.status.value,
            "eventType": booking.event_type,
            "bufferBefore": _minutes(booking.buffer_before),
            "bufferAfter": _minutes(booking.buffer_after),
            "version": booking.version,
            "primary": primary,
        }
        if primary:
            row["doc"] = json.dumps(booking_snapshot(booking))
        return row

    @staticmethod
    def _lock_row(
        host_id: str, key: str, owner: str, kind: str, expires_at: datetime | None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"PartitionKey": host_id, "RowKey": key, "owner": owner, "kind": kind}
        if expires_at is not None:
            row["expiresAt"] = expires_at
        return row

    @staticmethod
    def _outbox_row(host_id: str, event: CloudEvent, now: datetime) -> dict[str, Any]:
        return {
            "PartitionKey": host_id,
            "RowKey": _outbox_key(event),
            "event": to_json(event),
            "sent": False,
            "createdAt": now,
        }

    # ---- transactions ----------------------------------------------------------------------------

    def _submit(self, ops: list[Op]) -> list[Mapping[str, Any]]:
        with storage_errors():
            return list(self._slots.submit_transaction(ops))

    def _change_ops(self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime) -> list[Op]:
        """A new version of a stored booking: its row (only over the ETag read) and its event (outbox)."""
        primary = stored.booking.primary_host
        return [
            (
                "update",
                self._booking_row(new, primary, primary=True),
                {
                    "mode": UpdateMode.REPLACE,
                    "etag": stored.etag,
                    "match_condition": MatchConditions.IfNotModified,
                },
            ),
            ("create", self._outbox_row(primary, event, now)),
        ]

    def _submit_change(self, ops: list[Op], booking_id: str) -> list[Mapping[str, Any]]:
        try:
            return self._submit(ops)
        except TableTransactionError as exc:
            raise StaleBooking(f"'{booking_id}' changed meanwhile; read it again.") from exc

    def _lock_rows(self, claim: Claim) -> list[Any]:
        """The lock rows that exist for `claim`'s buckets, read in one range query."""
        keys = claim.lock_keys
        with storage_errors():
            return list(
                self._slots.query_entities(
                    "PartitionKey eq @p and RowKey ge @lo and RowKey le @hi",
                    parameters={"p": claim.host_id, "lo": keys[0], "hi": keys[-1]},
                )
            )

    def _owned_lock_deletes(self, claim: Claim, owner: str) -> list[Op]:
        """Deletes of the locks `owner` holds for `claim`, each ETag-conditional (never someone else's)."""
        return [
            (
                "delete",
                {"PartitionKey": claim.host_id, "RowKey": row["RowKey"]},
                {"etag": _etag(row), "match_condition": MatchConditions.IfNotModified},
            )
            for row in self._lock_rows(claim)
            if row["owner"] == owner
        ]

    def _lock_takeovers(self, claim: Claim, owner: str, now: datetime) -> dict[str, str] | None:
        """Locks of `claim` held by someone else that may be taken over (key → etag); None if any is live."""
        takeovers: dict[str, str] = {}
        for row in self._lock_rows(claim):
            key = row["RowKey"]
            if row["owner"] == owner:
                continue
            if not self._lock_is_dead(claim.host_id, row, now):
                return None
            takeovers[key] = _etag(row)
        return takeovers

    def _lock_is_dead(self, host_id: str, row: Mapping[str, Any], now: datetime) -> bool:
        kind = row.get("kind")
        expires = row.get("expiresAt")
        if kind == "booking" or expires is None or expires > now:
            return False
        if kind == "pending":
            # A collective booking's pending lock: dead only if its booking never committed.
            return self._find_booking_index(row["owner"]) is None or not self._booking_committed(row["owner"])
        return True  # an expired hold

    def _take_locks(
        self,
        claim: Claim,
        owner: str,
        kind: str,
        expires_at: datetime | None,
        extra_ops: list[Op],
        now: datetime,
        own_etags: Mapping[str, str] | None = None,
    ) -> list[Mapping[str, Any]]:
        """Commit `extra_ops` with every lock of `claim`; SlotUnavailable if a live claim holds one."""
        takeovers: dict[str, str] = {}
        for _ in range(_ATTEMPTS):
            ops: list[Op] = list(extra_ops)
            for key in claim.lock_keys:
                row = self._lock_row(claim.host_id, key, owner, kind, expires_at)
                etag = (own_etags or {}).get(key) or takeovers.get(key)
                if etag is not None:
                    ops.append(
                        (
                            "update",
                            row,
                            {
                                "mode": UpdateMode.REPLACE,
                                "etag": etag,
                                "match_condition": MatchConditions.IfNotModified,
                            },
                        )
                    )
                else:
                    ops.append(("create", row))
            try:
                return self._submit(ops)
            except TableTransactionError as exc:
                if exc.status_code not in (409, 412):
                    raise
                if exc.status_code == 412 and exc.index < len(extra_ops):
                    raise StaleBooking(f"'{owner}' changed meanwhile; read it again.") from exc
            found = self._lock_takeovers(claim, owner, now)
            if found is None:
                raise SlotUnavailable("The slot was just taken or held by someone else.")
            takeovers = found
        raise SlotUnavailable("The slot is contended; try again.")

    # ---- bookings --------------------------------------------------------------------------------

    def _find_booking_index(self, booking_id: str) -> dict[str, Any] | None:
        try:
            with storage_errors():
                return dict(self._index.get_entity(f"id|{booking_id}", ""))
        except ResourceNotFoundError:
            return None

    def _booking_committed(self, booking_id: str) -> bool:
        index = self._find_booking_index(booking_id)
        if index is None:
            return False
        try:
            with storage_errors():
                self._slots.get_entity(index["primaryHost"], f"b|{booking_id}", select=["RowKey"])
            return True
        except ResourceNotFoundError:
            return False

    def get_booking(self, booking_id: str) -> StoredBooking:
        index = self._find_booking_index(booking_id)
        if index is None:
            raise NotFound("booking", booking_id)
        try:
            with storage_errors():
                row = self._slots.get_entity(index["primaryHost"], f"b|{booking_id}")
        except ResourceNotFoundError:
            raise NotFound("booking", booking_id) from None
        return StoredBooking(self._parse_booking(row), _etag(row))

    @staticmethod
    def _parse_booking(row: Mapping[str, Any]) -> Booking:
        return booking_from_snapshot(
            json.loads(row["doc"]),
            buffer_before=timedelta(minutes=row["bufferBefore"]),
            buffer_after=timedelta(minutes=row["bufferAfter"]),
        )

    def create_booking(
        self, booking: Booking, event: CloudEvent, now: datetime, *, hold: Hold | None = None
    ) -> PendingEvent:
        """Commit a new booking, its locks and its `booking.created` event, or raise SlotUnavailable."""
        primary = booking.primary_host
        others = [h for h in sorted(booking.host_ids) if h != primary]
        with storage_errors():
            self._index.upsert_entity(
                {
                    "PartitionKey": f"id|{booking.id}",
                    "RowKey": "",
                    "primaryHost": primary,
                    "hostIds": json.dumps(list(booking.host_ids)),
                }
            )
            # Before the commit, like the id row: a failure here refuses the booking truthfully (nothing
            # committed, safe to retry); after it, it would turn a committed booking into an error.
            self._index_record(booking)
            self._index_appointment(booking)
        taken: list[str] = []
        try:
            for host_id in others:
                self._take_locks(
                    booking.claim(host_id),
                    booking.id,
                    "pending",
                    now + PENDING_LOCK_LIFETIME,
                    [
                        (
                            "upsert",
                            self._booking_row(booking, host_id, primary=False, status="pending"),
                            {"mode": UpdateMode.REPLACE},
                        )
                    ],
                    now,
                )
                taken.append(host_id)
            own = self._hold_lock_etags(hold, primary, now) if hold is not None else {}
            extra: list[Op] = [
                ("create", self._booking_row(booking, primary, primary=True)),
                ("create", self._outbox_row(primary, event, now)),
            ]
            if hold is not None:
                extra.append(("delete", {"PartitionKey": primary, "RowKey": f"h|{hold.id}"}))
            results = self._take_locks(booking.claim(primary), booking.id, "booking", None, extra, now, own)
        except Exception:
            for host_id in taken:
                self._release(booking.claim(host_id), booking.id, extra_rows=[f"b|{booking.id}"])
            self._forget_indexes(booking)
            raise
        self._after_commit(booking, others, hold)
        return _pending(event, primary, results)

    def _forget_indexes(self, booking: Booking) -> None:
        """Best effort: the index rows of a booking that did not commit (readers skip any left behind)."""
        partitions = [f"id|{booking.id}", f"appt|{appointment_id(booking.id)}"]
        try:
            with storage_errors():
                for partition in partitions:
                    self._delete_index(partition)
                record_id = booking.context.get("recordId")
                if isinstance(record_id, str) and record_id:
                    self._index.delete_entity(f"rec|{key_text(record_id)}", booking.id)
        except Exception:
            log.warning("index rows of uncommitted booking %s left behind; readers skip them", booking.id)

    def _after_commit(self, booking: Booking, others: Sequence[str], hold: Hold | None) -> None:
        """Tidy-ups after the commit; none may turn a committed booking into an error (issue 13).

        A secondary host's `pending` lock left unconfirmed is confirmed by whoever next finds it (it is
        dead only if its booking never committed); a hold index row left behind points at a deleted hold
        and reads as 404.
        """
        try:
            for host_id in others:
                self._confirm_secondary(booking, host_id)
            if hold is not None:
                self._delete_index(f"hold|{hold.id}")
        except Exception:
            log.warning("post-commit tidy-up of booking %s failed; repaired when found", booking.id)

    def _hold_lock_etags(self, hold: Hold, host_id: str, now: datetime) -> dict[str, str]:
        return {
            row["RowKey"]: _etag(row)
            for row in self._lock_rows(hold.claim(host_id))
            if row["owner"] == hold.id
        }

    def _confirm_secondary(self, booking: Booking, host_id: str) -> None:
        ops: list[Op] = [
            ("upsert", self._booking_row(booking, host_id, primary=False), {"mode": UpdateMode.REPLACE})
        ]
        ops += [
            (
                "upsert",
                self._lock_row(host_id, key, booking.id, "booking", None),
                {"mode": UpdateMode.REPLACE},
            )
            for key in booking.claim(host_id).lock_keys
        ]
        self._submit(ops)

    def _release(self, claim: Claim, owner: str, extra_rows: Sequence[str] = ()) -> None:
        """Delete the locks `owner` holds for `claim` (ETag-conditional: never someone else's)."""
        ops = self._owned_lock_deletes(claim, owner)
        for key in extra_rows:
            ops.append(("delete", {"PartitionKey": claim.host_id, "RowKey": key}))
        for chunk in (ops[i : i + 100] for i in range(0, len(ops), 100)):
            try:
                self._submit(chunk)
            except TableTransactionError:
                log.warning("could not release every lock of %s on %s; expiry will", owner, claim.host_id)

    def _index_record(self, booking: Booking) -> None:
        record_id = booking.context.get("recordId")
        if isinstance(record_id, str) and record_id:
            with storage_errors():
                self._index.upsert_entity(
                    {
                        "PartitionKey": f"rec|{key_text(record_id)}",
                        "RowKey": booking.id,
                        "primaryHost": booking.primary_host,
                    }
                )

    def _index_appointment(self, booking: Booking) -> None:
        with storage_errors():
            self._index.upsert_entity(
                {"PartitionKey": f"appt|{appointment_id(booking.id)}", "RowKey": "", "bookingId": booking.id}
            )

    def booking_for_appointment(self, activity_id: str) -> str | None:
        """The booking whose Dynamics appointment is `activity_id` (None when no booking made it)."""
        try:
            with storage_errors():
                row = self._index.get_entity(f"appt|{activity_id.lower()}", "")
        except ResourceNotFoundError:
            return None
        return str(row["bookingId"])

    def _delete_index(self, partition: str) -> None:
        try:
            with storage_errors():
                self._index.delete_entity(partition, "")
        except ResourceNotFoundError:
            pass

    def reschedule_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent:
        """Move the booking: new locks taken, old ones released, row and event written, in one transaction."""
        old = stored.booking
        primary = old.primary_host
        old_claim, new_claim = old.claim(primary), new.claim(primary)
        keep = set(old_claim.lock_keys) & set(new_claim.lock_keys)
        release: list[Op] = [
            ("delete", {"PartitionKey": primary, "RowKey": key})
            for key in old_claim.lock_keys
            if key not in keep
        ]
        own = {}
        for key in keep:
            with storage_errors():
                own[key] = _etag(self._slots.get_entity(primary, key))
        extra: list[Op] = [*self._change_ops(stored, new, event, now), *release]
        results = self._take_locks(new_claim, new.id, "booking", None, extra, now, own)
        for host_id in (h for h in sorted(old.host_ids) if h != primary):
            self._release(old.claim(host_id), old.id)
            self._take_locks(
                new.claim(host_id),
                new.id,
                "booking",
                None,
                [("upsert", self._booking_row(new, host_id, primary=False), {"mode": UpdateMode.REPLACE})],
                now,
            )
        return _pending(event, primary, results)

    def cancel_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent:
        old = stored.booking
        primary = old.primary_host
        ops = self._change_ops(stored, new, event, now) + self._owned_lock_deletes(old.claim(primary), old.id)
        results = self._submit_change(ops, old.id)
        for host_id in (h for h in sorted(old.host_ids) if h != primary):
            self._release(old.claim(host_id), old.id)
            with storage_errors():
                self._slots.upsert_entity(
                    self._booking_row(new, host_id, primary=False), mode=UpdateMode.REPLACE
                )
        return _pending(event, primary, results)

    def amend_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent:
        """Record a change that moves nothing (e.g. Outlook drift noted): row and event in one transaction."""
        primary = stored.booking.primary_host
        results = self._submit_change(self._change_ops(stored, new, event, now), new.id)
        return _pending(event, primary, results)

    def record_sync(self, booking_id: str, section: str, values: Mapping[str, Any]) -> Booking:
        """Merge `values` into the booking's `outlook` or `dynamics` section (sync status written back);
        a `None` value removes that key (e.g. the `error` of an earlier failed sync).

        Not a change of the booking: no version bump, no event. ETag-conditional and retried, so it never
        overwrites a concurrent reschedule or cancel.
        """
        if section not in ("outlook", "dynamics"):
            raise ValueError(f"unknown sync section {section!r}")
        for _ in range(_ATTEMPTS * 3):
            stored = self.get_booking(booking_id)
            current = stored.booking
            if section == "outlook":
                updated = replace(current, outlook=_merged(current.outlook, values))
            else:
                updated = replace(current, dynamics=_merged(current.dynamics, values))
            primary = current.primary_host
            try:
                with storage_errors():
                    self._slots.update_entity(
                        self._booking_row(updated, primary, primary=True),
                        mode=UpdateMode.REPLACE,
                        etag=stored.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                return updated
            except ResourceModifiedError:
                continue
        raise StaleBooking(f"'{booking_id}' kept changing while its sync status was written.")

    def list_bookings(
        self,
        *,
        record_id: str | None,
        host_id: str | None,
        start: datetime | None,
        end: datetime | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Booking], int | None]:
        """Bookings matching every given filter, ordered by start; the next offset if more remain."""
        filters = ["RowKey ge 'b|'", "RowKey lt 'b}'", "primary eq true"]
        params: dict[str, Any] = {}
        if host_id:
            filters.append("PartitionKey eq @host")
            params["host"] = host_id
        if start:
            filters.append("end gt @start")
            params["start"] = start
        if end:
            filters.append("start lt @end")
            params["end"] = end
        if status:
            filters.append("status eq @status")
            params["status"] = status
        with storage_errors():
            if record_id:
                ids = [
                    e["RowKey"]
                    for e in self._index.query_entities(
                        "PartitionKey eq @p", parameters={"p": f"rec|{key_text(record_id)}"}
                    )
                ]
                rows = [row for row in (self._committed_row(i) for i in ids) if row is not None]
                rows = [r for r in rows if self._matches(r, host_id, start, end, status)]
            else:
                rows = list(self._slots.query_entities(" and ".join(filters), parameters=params))
        bookings = sorted((self._parse_booking(r) for r in rows), key=lambda b: (b.start, b.id))
        page = bookings[offset : offset + limit]
        return page, (offset + limit if offset + limit < len(bookings) else None)

    def _committed_row(self, booking_id: str) -> Mapping[str, Any] | None:
        """The booking's row, or None when its index rows outlived a booking that never committed."""
        index = self._find_booking_index(booking_id)
        if index is None:
            return None
        try:
            return dict(self._slots.get_entity(index["primaryHost"], f"b|{booking_id}"))
        except ResourceNotFoundError:
            return None

    @staticmethod
    def _matches(
        row: Mapping[str, Any],
        host_id: str | None,
        start: datetime | None,
        end: datetime | None,
        status: str | None,
    ) -> bool:
        return (
            (host_id is None or row["PartitionKey"] == host_id)
            and (start is None or row["end"] > start)
            and (end is None or row["start"] < end)
            and (status is None or row["status"] == status)
        )

    # ---- holds -----------------------------------------------------------------------------------

    def create_hold(self, hold: Hold, now: datetime) -> None:
        host_id = hold.host_ids[0]
        with storage_errors():
            self._index.upsert_entity(
                {"PartitionKey": f"hold|{hold.id}", "RowKey": "", "primaryHost": host_id}
            )
        row = {
            "PartitionKey": host_id,
            "RowKey": f"h|{hold.id}",
            "eventType": hold.event_type,
            "start": hold.start,
            "end": hold.end,
            "bufferBefore": _minutes(hold.buffer_before),
            "bufferAfter": _minutes(hold.buffer_after),
            "expiresAt": hold.expires_at,
            "context": json.dumps(dict(hold.context)),
            "hostIds": json.dumps(list(hold.host_ids)),
        }
        try:
            self._take_locks(hold.claim(host_id), hold.id, "hold", hold.expires_at, [("create", row)], now)
        except Exception:
            self._delete_index(f"hold|{hold.id}")
            raise

    def get_hold(self, hold_id: str) -> Hold:
        try:
            with storage_errors():
                index = self._index.get_entity(f"hold|{hold_id}", "")
                row = self._slots.get_entity(index["primaryHost"], f"h|{hold_id}")
        except ResourceNotFoundError:
            raise NotFound("hold", hold_id) from None
        return self._parse_hold(row)

    @staticmethod
    def _parse_hold(row: Mapping[str, Any]) -> Hold:
        return Hold(
            id=row["RowKey"][2:],
            event_type=row["eventType"],
            host_ids=tuple(json.loads(row["hostIds"])),
            start=row["start"],
            end=row["end"],
            buffer_before=timedelta(minutes=row["bufferBefore"]),
            buffer_after=timedelta(minutes=row["bufferAfter"]),
            expires_at=row["expiresAt"],
            context=json.loads(row.get("context") or "{}"),
        )

    def delete_hold(self, hold_id: str) -> None:
        hold = self.get_hold(hold_id)
        self._release(hold.claim(hold.host_ids[0]), hold.id, extra_rows=[f"h|{hold.id}"])
        self._delete_index(f"hold|{hold.id}")

    def expire_holds(self, now: datetime) -> int:
        """Remove holds (and their locks) that expired; expiry already stopped them blocking."""
        with storage_errors():
            rows = list(
                self._slots.query_entities(
                    "RowKey ge 'h|' and RowKey lt 'h}' and expiresAt le @now", parameters={"now": now}
                )
            )
        for row in rows:
            hold = self._parse_hold(row)
            self._release(hold.claim(row["PartitionKey"]), hold.id, extra_rows=[row["RowKey"]])
            self._delete_index(f"hold|{hold.id}")
        return len(rows)

    # ---- commitments (availability) --------------------------------------------------------------

    def commitments(
        self, host_ids: Sequence[str], window: Interval, exclude: frozenset[str] = frozenset()
    ) -> Mapping[str, Sequence[Commitment]]:
        """Confirmed bookings and unexpired holds per host (`exclude`: booking/hold ids to leave out)."""
        now = self._clock.now()
        results = self._pool.map(lambda h: (h, self._host_commitments(h, window, now, exclude)), host_ids)
        return dict(results)

    def _host_commitments(
        self, host_id: str, window: Interval, now: datetime, exclude: frozenset[str]
    ) -> list[Commitment]:
        params = {"host": host_id, "from": window.start, "to": window.end}
        # One range query for both kinds: booking rows (`b|`) and hold rows (`h|`) are the only keys
        # between 'b|' and 'h}' in a host's partition, so a single round trip per host serves slots.
        with storage_errors():
            rows = list(
                self._slots.query_entities(
                    "PartitionKey eq @host and RowKey ge 'b|' and RowKey lt 'h}' "
                    "and end gt @from and start lt @to",
                    parameters=params,
                )
            )
        bookings = [r for r in rows if r["RowKey"].startswith("b|") and r.get("status") == "confirmed"]
        holds = [r for r in rows if r["RowKey"].startswith("h|")]
        found = [
            Commitment(
                start=r["start"],
                end=r["end"],
                event_type=r["eventType"],
                buffer_before=timedelta(minutes=r["bufferBefore"]),
                buffer_after=timedelta(minutes=r["bufferAfter"]),
                counts_toward_caps=True,
            )
            for r in bookings
            if r["RowKey"][2:] not in exclude
        ]
        found += [
            Commitment(
                start=r["start"],
                end=r["end"],
                event_type=r["eventType"],
                buffer_before=timedelta(minutes=r["bufferBefore"]),
                buffer_after=timedelta(minutes=r["bufferAfter"]),
                counts_toward_caps=False,
            )
            for r in holds
            if r["expiresAt"] > now and r["RowKey"][2:] not in exclude
        ]
        return found

    # ---- outbox ----------------------------------------------------------------------------------

    def pending(self, limit: int = 100) -> list[PendingEvent]:
        with storage_errors():
            pages = self._slots.query_entities(
                "RowKey ge 'o|' and RowKey lt 'o}' and sent eq false", results_per_page=limit
            ).by_page()
            rows = list(next(pages, []))
        rows.sort(key=lambda r: (r["createdAt"], r["RowKey"]))
        return [
            PendingEvent(
                event=from_json(r["event"]),
                partition_key=r["PartitionKey"],
                row_key=r["RowKey"],
                etag=_etag(r),
            )
            for r in rows[:limit]
        ]

    def mark_sent(self, pending: PendingEvent, at: datetime) -> None:
        entity = {
            "PartitionKey": pending.partition_key,
            "RowKey": pending.row_key,
            "sent": True,
            "sentAt": at,
        }
        try:
            with storage_errors():
                self._slots.update_entity(
                    entity,
                    mode=UpdateMode.MERGE,
                    etag=pending.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
            log.info("outbox row %s/%s was updated by another relay", pending.partition_key, pending.row_key)

    def outbox_rows(self, booking_id: str) -> list[dict[str, Any]]:
        """Every outbox row of a booking, any state (for tests and reconciliation)."""
        index = self._find_booking_index(booking_id)
        if index is None:
            return []
        with storage_errors():
            return [
                dict(r)
                for r in self._slots.query_entities(
                    "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
                    parameters={
                        "p": index["primaryHost"],
                        "lo": f"o|{booking_id}|",
                        "hi": f"o|{booking_id}}}",
                    },
                )
            ]


class StaleBooking(BookingChanged):
    """The booking row's ETag no longer matched at write time."""


def encode_offset(offset: int | None) -> str | None:
    return None if offset is None else base64.urlsafe_b64encode(str(offset).encode()).decode()


def decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token.encode()).decode()))
    except (ValueError, UnicodeDecodeError):
        return 0
