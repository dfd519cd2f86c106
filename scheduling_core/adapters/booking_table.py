"""Bookings, holds, their claims on hosts' time and the outbox in Azure Table storage.

Layout (architecture.md, Storage; docs/decisions.md "Long meetings and one round trip for commitments").
Table `hostslots`, one partition per host:
    b|{bookingId}            the booking (full document on the primary host; a reference row on other hosts)
    d|{YYYY-MM-DD}           the host's claims touching that UTC day: every booking, hold and pending claim
                             (meeting, buffers, owner, expiry), compact JSON (`encode_day` below)
    h|{holdId}               a hold
    o|{bookingId}|{version}  an outbox event (CloudEvents JSON) and whether it was published
Table `bookingindex`: `id|{bookingId}` and `hold|{holdId}` → hosts; `rec|{recordId}` / bookingId → host;
`appt|{activityid}` → bookingId (the booking's Dynamics appointment, for the Dynamics webhook).

Invariants:
- A booking's row, its day-row entries and its outbox event change in ONE entity-group transaction in the
  host's partition, and every touched day row is written under If-Match on the ETag it was read with (or
  created, if absent): two overlapping claims share a day row, so at most one of two racing commits succeeds
  and the loser re-reads and sees the winner. At most 3 day rows per claim, 6 for a reschedule, so a
  transaction stays far below the 100-operation limit whatever the meeting's length.
- A claim owned by an expired hold no longer blocks and is dropped by the next write of its day row; a
  collective booking's pending claim past its expiry is dropped only if its booking never committed.
- Availability reads every pool host's day rows over the range in ONE cross-partition range query; it is
  never trusted by a commit, which re-reads the rows it writes.
- The id index row is written before the booking's transaction: a crash leaves at worst an index row that
  points at nothing (read as 404), never a booking that cannot be found.
- Collective bookings claim the other hosts first (sorted by id) as `pending` with a short expiry, then
  commit the primary host's transaction, then confirm the others.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from scheduling_core.adapters.tables import Tables, key_text, storage_errors
from scheduling_core.domain.bookings import (
    Booking,
    BookingStatus,
    ClaimKind,
    DayEntry,
    DiscountedBooking,
    FairnessDiscount,
    Hold,
    StoredBooking,
    appointment_id,
    booking_from_snapshot,
    booking_snapshot,
    claim_days,
)
from scheduling_core.domain.events import from_json, to_json
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import Commitment
from scheduling_core.errors import NotFound, RowChanged, SlotUnavailable, StaleBooking
from scheduling_core.ports import Clock, CloudEvent, PendingEvent

log = logging.getLogger(__name__)

PENDING_LOCK_LIFETIME = timedelta(minutes=2)
_ATTEMPTS = 3
#: Attempts at one claim commit: each failed attempt means another writer changed one of the day rows,
#: so a busy host-day with N simultaneous writers needs about N rounds; past this the caller gets a 409.
_COMMIT_ATTEMPTS = 20
#: How old an availability read's day rows may be to serve as a commit's first guess.
_SNAPSHOT_SECONDS = 5.0
#: Status of a `movedTo` pointer row whose move finished (index repointed); `moved` until then.
MOVED_SETTLED = "moved-settled"
#: `movedTo` pointers followed from where the id index points (a booking reassigned again before the
#: index was repointed adds one hop; more means a broken chain).
_MAX_HOPS = 4
Op = tuple[Any, ...]


#: Day rows are keyed by their UTC date: `d|2026-12-07` (domain/bookings.py says what a day row holds).
DAY_ROW_PREFIX = "d|"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_key(day: date) -> str:
    return DAY_ROW_PREFIX + day.isoformat()


def _epoch_minutes(at: datetime) -> int:
    return int((at - _EPOCH).total_seconds()) // 60


def encode_day(entries: list[DayEntry]) -> tuple[str, str]:
    """A day row's two string properties: the entries, and the event types they name (by index).

    Compact on purpose (worst case in docs/decisions.md): a property holds at most 64 KiB (32 K UTF-16
    characters); 288 entries take about 21 K characters, 288 distinct 64-character slugs about 19 K.
    """
    types: dict[str, int] = {}
    rows = [
        [
            e.owner,
            e.kind.value,
            _epoch_minutes(e.start),
            _epoch_minutes(e.end) - _epoch_minutes(e.start),
            int(e.buffer_before.total_seconds()) // 60,
            int(e.buffer_after.total_seconds()) // 60,
            types.setdefault(e.event_type, len(types)),
            0 if e.expires_at is None else int((e.expires_at - _EPOCH).total_seconds()),
        ]
        for e in sorted(entries, key=lambda e: (e.start, e.owner))
    ]
    separators = (",", ":")
    return json.dumps(rows, separators=separators), json.dumps(list(types), separators=separators)


def decode_day(entries: str, types: str) -> list[DayEntry]:
    names: list[str] = json.loads(types)
    return [
        DayEntry(
            owner=owner,
            kind=ClaimKind(kind),
            event_type=names[type_index],
            start=_EPOCH + timedelta(minutes=start),
            end=_EPOCH + timedelta(minutes=start + length),
            buffer_before=timedelta(minutes=before),
            buffer_after=timedelta(minutes=after),
            expires_at=_EPOCH + timedelta(seconds=expires) if expires else None,
        )
        for owner, kind, start, length, before, after, type_index, expires in json.loads(entries)
    ]


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


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


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Day rows an availability read saw (absent rows included: every day of `days` not in `rows`)."""

    at: float
    days: Mapping[str, tuple[date, date]]
    rows: Mapping[tuple[str, date], Any]


class TableBookingStore:
    def __init__(self, tables: Tables, clock: Clock) -> None:
        self._tables = tables
        self._clock = clock
        # Per thread (one request at a time): the day rows this thread's last availability read saw.
        self._seen: ContextVar[_Snapshot | None] = ContextVar(f"seen-{id(self)}", default=None)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bookingindex")

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
        discount = booking.fairness_discount
        if discount is not None:
            # Queried by routing's fairness stats (`fairness_discounts`) without reading every booking.
            row["discount"] = discount.value
            row["ruleSet"] = booking.routing.rule_set or ""
        return row

    @staticmethod
    def _day_row(host_id: str, day: date, entries: list[DayEntry]) -> dict[str, Any]:
        claims, types = encode_day(entries)
        return {"PartitionKey": host_id, "RowKey": day_key(day), "claims": claims, "types": types}

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

    def _day_rows(self, host_id: str, days: Sequence[date], *, first: bool = False) -> dict[date, Any]:
        """The existing day rows of `days` (at most 6) in one query; absent days are missing.

        On a commit's first attempt, the rows this thread's availability check read a moment ago serve
        instead (one round trip less per booking). Safe because they are only a guess: every write is
        conditional on their ETags (or on absence), so a stale guess fails the transaction and the next
        attempt reads afresh.
        """
        if first:
            seen = self._seen.get()
            if seen is not None and time.monotonic() - seen.at < _SNAPSHOT_SECONDS:
                known = seen.days.get(host_id)
                if known is not None and known[0] <= days[0] and days[-1] <= known[1]:
                    return {d: row for (h, d), row in seen.rows.items() if h == host_id and d in days}
        keys = " or ".join(f"RowKey eq @d{n}" for n in range(len(days)))
        params: dict[str, Any] = {"p": host_id} | {f"d{n}": day_key(d) for n, d in enumerate(days)}
        with storage_errors():
            rows = self._slots.query_entities(f"PartitionKey eq @p and ( {keys} )", parameters=params)
            return {date.fromisoformat(r["RowKey"][len(DAY_ROW_PREFIX) :]): r for r in rows}

    def _blocks(self, entry: DayEntry, now: datetime, host_id: str) -> bool:
        """Whether another owner's entry still holds its time (an expired pending claim: only if its
        booking committed with this host — the primary transaction, or a reassignment's move, may have
        succeeded before the confirm)."""
        if entry.kind is ClaimKind.BOOKING or not entry.expired(now):
            return True
        return entry.kind is ClaimKind.PENDING and self._committed_on(entry.owner, host_id)

    def _commit(
        self,
        host_id: str,
        *,
        add: DayEntry | None,
        drop: Sequence[DayEntry] = (),
        extra_ops: Sequence[Op] = (),
        now: datetime,
        stale: Callable[[], Exception],
        check: bool = True,
    ) -> list[Mapping[str, Any]]:
        """Write `extra_ops` with `add` claimed and the entries of `drop`'s owners removed, atomically.

        Every day row touched is read, edited and written back under its ETag in the same transaction as
        `extra_ops`; a concurrent write of any of them fails the transaction, and the loop re-reads. An
        overlap with a live claim of someone else raises SlotUnavailable (unless `check` is off: a
        collective booking confirming a claim it already holds). A failure of an extra op raises `stale()`.
        """
        owners = {e.owner for e in drop} | ({add.owner} if add is not None else set())
        add_days = set(claim_days(add.interval)) if add is not None else set()
        days = sorted(add_days.union(*(claim_days(e.interval) for e in drop)))
        for attempt in range(_COMMIT_ATTEMPTS):
            # A guessed absent row is checked only where we write it: so guess only when every
            # touched day gets the new claim (never for a release, whose write could be a no-op).
            rows = self._day_rows(host_id, days, first=attempt == 0 and add_days.issuperset(days))
            ops: list[Op] = list(extra_ops)
            for day in days:
                row = rows.get(day)
                current = decode_day(row["claims"], row["types"]) if row is not None else []
                kept = [e for e in current if e.owner not in owners and not self._droppable(e, now)]
                if add is not None and day in add_days and check:
                    if any(e.overlaps(add.interval) and self._blocks(e, now, host_id) for e in kept):
                        raise SlotUnavailable("The slot was just taken or held by someone else.")
                    kept = [e for e in kept if not e.overlaps(add.interval)]  # dead claims taken over
                if add is not None and day in add_days:
                    kept.append(add)
                op = self._day_op(host_id, day, row, kept)
                if op is not None:
                    ops.append(op)
            try:
                return self._submit(ops)
            except TableTransactionError as exc:
                if exc.status_code not in (404, 409, 412):
                    raise
                if exc.index is not None and exc.index < len(extra_ops):
                    raise stale() from exc
            # Another claim wrote one of our day rows first: re-read (after a short random pause, so
            # writers that keep colliding on one busy row spread out) and decide again.
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not security
        raise SlotUnavailable("The slot is contended; try again.")

    @staticmethod
    def _droppable(entry: DayEntry, now: datetime) -> bool:
        """Expired holds stop blocking at once; their entries are tidied by whoever writes the row next."""
        return entry.kind is ClaimKind.HOLD and entry.expired(now)

    def _day_op(self, host_id: str, day: date, row: Any, entries: list[DayEntry]) -> Op | None:
        if row is None:
            return ("create", self._day_row(host_id, day, entries)) if entries else None
        condition = {"etag": _etag(row), "match_condition": MatchConditions.IfNotModified}
        if not entries:
            return ("delete", {"PartitionKey": host_id, "RowKey": day_key(day)}, condition)
        return ("update", self._day_row(host_id, day, entries), {"mode": UpdateMode.REPLACE, **condition})

    def _release(self, host_id: str, owned: DayEntry, extra_rows: Sequence[str] = ()) -> None:
        """Remove `owned`'s claim (and `extra_rows`); best effort: what is left behind expires or is
        released again by the `expire_holds` timer."""
        extra: list[Op] = [("delete", {"PartitionKey": host_id, "RowKey": key}) for key in extra_rows]
        try:
            self._commit(
                host_id, add=None, drop=[owned], extra_ops=extra, now=self._clock.now(), stale=_row_changed
            )
        except (RowChanged, SlotUnavailable, TableTransactionError):
            if extra:  # the extra rows may be gone already (a concurrent release): release the claim alone
                try:
                    self._commit(host_id, add=None, drop=[owned], now=self._clock.now(), stale=_row_changed)
                    return
                except (RowChanged, SlotUnavailable, TableTransactionError):
                    pass
            log.warning("could not release the claim of %s on %s; expiry will", owned.owner, host_id)

    # ---- bookings --------------------------------------------------------------------------------

    def _find_booking_index(self, booking_id: str) -> dict[str, Any] | None:
        try:
            with storage_errors():
                return dict(self._index.get_entity(f"id|{booking_id}", ""))
        except ResourceNotFoundError:
            return None

    def _committed_on(self, booking_id: str, host_id: str) -> bool:
        """Whether `booking_id` is a confirmed booking that `host_id` hosts (its claim there is real)."""
        try:
            booking = self.get_booking(booking_id).booking
        except NotFound:
            return False
        return booking.status is BookingStatus.CONFIRMED and host_id in booking.host_ids

    def _booking_entity(self, booking_id: str) -> Any:
        """The booking's row: where the id index points, following a reassignment's `movedTo` pointer
        (the index is repointed last, so a reader between the move and the repoint still finds it)."""
        index = self._find_booking_index(booking_id)
        if index is None:
            raise NotFound("booking", booking_id)
        host_id = str(index["primaryHost"])
        for _ in range(_MAX_HOPS):
            try:
                with storage_errors():
                    row = self._slots.get_entity(host_id, f"b|{booking_id}")
            except ResourceNotFoundError:
                raise NotFound("booking", booking_id) from None
            if not row.get("movedTo"):
                return row
            host_id = str(row["movedTo"])
        raise NotFound("booking", booking_id)

    def get_booking(self, booking_id: str) -> StoredBooking:
        row = self._booking_entity(booking_id)
        if "doc" not in row:
            raise NotFound("booking", booking_id)
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
        """Commit a new booking, its claims and its `booking.created` event, or raise SlotUnavailable.

        Index rows (id, appointment, record) are written before the transaction, so a failure there
        refuses the booking truthfully (nothing committed, safe to retry); after the commit nothing may
        turn the booking into an error (issue 13): tidy-ups that fail are repaired when found.
        """
        primary = booking.primary_host
        others = [h for h in sorted(booking.host_ids) if h != primary]
        id_row = {
            "PartitionKey": f"id|{booking.id}",
            "RowKey": "",
            "primaryHost": primary,
            "hostIds": json.dumps(list(booking.host_ids)),
        }
        # The index rows side by side (one round trip of latency): a crash leaves at worst rows that
        # point at nothing, which readers take as "no such booking".
        appointment = self._pool.submit(contextvars.copy_context().run, self._index_appointment, booking)
        record = self._pool.submit(contextvars.copy_context().run, self._index_record, booking)
        with storage_errors():
            self._index.upsert_entity(id_row)
        appointment.result()
        record.result()
        taken: list[str] = []
        pending = booking.claim(primary).entry(booking.id, ClaimKind.PENDING, now + PENDING_LOCK_LIFETIME)
        try:
            for host_id in others:
                secondary_row = self._booking_row(booking, host_id, primary=False, status="pending")
                self._commit(
                    host_id,
                    add=pending,
                    extra_ops=[("upsert", secondary_row, {"mode": UpdateMode.REPLACE})],
                    now=now,
                    stale=_row_changed,
                )
                taken.append(host_id)
            extra: list[Op] = [
                ("create", self._booking_row(booking, primary, primary=True)),
                ("create", self._outbox_row(primary, event, now)),
            ]
            drop: list[DayEntry] = []
            if hold is not None:
                extra.append(("delete", {"PartitionKey": primary, "RowKey": f"h|{hold.id}"}))
                drop.append(hold.claim(primary).entry(hold.id, ClaimKind.HOLD))
            results = self._commit(
                primary,
                add=booking.claim(primary).entry(booking.id, ClaimKind.BOOKING),
                drop=drop,
                extra_ops=extra,
                now=now,
                stale=lambda: SlotUnavailable("The hold was released or converted meanwhile."),
            )
        except Exception:
            for host_id in taken:
                self._release(host_id, pending, extra_rows=[f"b|{booking.id}"])
            self._forget_indexes(booking)
            raise
        self._after_commit(booking, others, hold)
        return _pending(event, primary, results)

    def _forget_indexes(self, booking: Booking) -> None:
        """Best effort: the index rows of a booking that did not commit (readers skip any left behind)."""
        try:
            with storage_errors():
                self._delete_index(f"appt|{appointment_id(booking.id)}")
                self._delete_index(f"id|{booking.id}")
                record_id = booking.context.get("recordId")
                if isinstance(record_id, str) and record_id:
                    self._index.delete_entity(f"rec|{key_text(record_id)}", booking.id)
        except Exception:
            log.warning("index rows of uncommitted booking %s left behind; readers skip them", booking.id)

    def _after_commit(self, booking: Booking, others: Sequence[str], hold: Hold | None) -> None:
        """Tidy-ups after the commit; none may turn a committed booking into an error (issue 13).

        A secondary host's pending claim left unconfirmed is confirmed by whoever next finds it (it is
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

    def _confirm_secondary(self, booking: Booking, host_id: str) -> None:
        """Turn the pending claim into a booking's; unchecked: the time is this booking's already."""
        row = self._booking_row(booking, host_id, primary=False)
        self._commit(
            host_id,
            add=booking.claim(host_id).entry(booking.id, ClaimKind.BOOKING),
            extra_ops=[("upsert", row, {"mode": UpdateMode.REPLACE})],
            now=self._clock.now(),
            stale=_row_changed,
            check=False,
        )

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
        """Move the booking: new claim taken, old one released, row and event written, in one transaction."""
        old = stored.booking
        primary = old.primary_host
        results = self._commit(
            primary,
            add=new.claim(primary).entry(new.id, ClaimKind.BOOKING),
            drop=[old.claim(primary).entry(old.id, ClaimKind.BOOKING)],
            extra_ops=self._change_ops(stored, new, event, now),
            now=now,
            stale=lambda: StaleBooking(f"'{old.id}' changed meanwhile; read it again."),
        )
        for host_id in (h for h in sorted(old.host_ids) if h != primary):
            row = self._booking_row(new, host_id, primary=False)
            self._commit(
                host_id,
                add=new.claim(host_id).entry(new.id, ClaimKind.BOOKING),
                drop=[old.claim(host_id).entry(old.id, ClaimKind.BOOKING)],
                extra_ops=[("upsert", row, {"mode": UpdateMode.REPLACE})],
                now=now,
                stale=_row_changed,
            )
        return _pending(event, primary, results)

    def cancel_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime
    ) -> PendingEvent:
        old = stored.booking
        primary = old.primary_host
        results = self._commit(
            primary,
            add=None,
            drop=[old.claim(primary).entry(old.id, ClaimKind.BOOKING)],
            extra_ops=self._change_ops(stored, new, event, now),
            now=now,
            stale=lambda: StaleBooking(f"'{old.id}' changed meanwhile; read it again."),
        )
        for host_id in (h for h in sorted(old.host_ids) if h != primary):
            self._release(host_id, old.claim(host_id).entry(old.id, ClaimKind.BOOKING))
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

    def reassign_booking(
        self, stored: StoredBooking, new: Booking, event: CloudEvent, now: datetime, *, from_host: str
    ) -> PendingEvent:
        """Move the booking from `from_host` to the host that replaces it in `new.host_ids`.

        Safe order, as collective bookings: the new host's time is claimed first (SlotUnavailable if it
        is taken: nothing changed), then the booking's own transaction (row over its ETag, old claim
        released, `booking.reassigned` in the outbox) commits the move; on a stale row the new claim is
        released and StaleBooking raised. Moving the first host moves the booking's row to the new
        host's partition: the old row becomes a `movedTo` pointer in that same transaction, the new row
        is confirmed next, and the id index is repointed last (`roll_forward` finishes a move a crash
        interrupted; readers follow the pointer meanwhile).
        """
        old = stored.booking
        (to_host,) = set(new.host_ids) - set(old.host_ids)
        primary = old.primary_host
        stale = lambda: StaleBooking(f"'{old.id}' changed meanwhile; read it again.")  # noqa: E731
        if from_host != primary:  # a co-host of a collective booking: the row stays where it is
            # As a collective booking is made: the new co-host's time is taken as a `pending` claim that
            # expires unless the booking commits with that host (a crash before the commit leaves nothing
            # that blocks for good), the booking's own transaction commits the move, the old co-host's
            # claim and reference row go, and the pending claim is confirmed (repaired when found if not).
            pending = new.claim(to_host).entry(new.id, ClaimKind.PENDING, now + PENDING_LOCK_LIFETIME)
            ref = self._booking_row(new, to_host, primary=False, status="pending")
            self._commit(
                to_host,
                add=pending,
                extra_ops=[("upsert", ref, {"mode": UpdateMode.REPLACE})],
                now=now,
                stale=_row_changed,
            )
            try:
                results = self._submit_change(self._change_ops(stored, new, event, now), new.id)
            except Exception:
                self._release(to_host, pending, extra_rows=[f"b|{new.id}"])
                raise
            self._release(
                from_host, old.claim(from_host).entry(old.id, ClaimKind.BOOKING), extra_rows=[f"b|{old.id}"]
            )
            self._after_commit(new, [to_host], None)
            self._repoint(new)
            return _pending(event, primary, results)
        pending = new.claim(to_host).entry(new.id, ClaimKind.PENDING, now + PENDING_LOCK_LIFETIME)
        moved = self._booking_row(new, to_host, primary=False, status="pending")
        moved["doc"] = json.dumps(booking_snapshot(new))
        taken = self._commit(
            to_host,
            add=pending,
            extra_ops=[("upsert", moved, {"mode": UpdateMode.REPLACE})],
            now=now,
            stale=_row_changed,
        )
        pointer = {
            **self._booking_row(new, from_host, primary=False, status="moved"),
            "movedTo": to_host,
        }
        try:
            results = self._commit(
                from_host,
                add=None,
                drop=[old.claim(from_host).entry(old.id, ClaimKind.BOOKING)],
                extra_ops=[
                    (
                        "update",
                        pointer,
                        {
                            "mode": UpdateMode.REPLACE,
                            "etag": stored.etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    ),
                    ("create", self._outbox_row(from_host, event, now)),
                ],
                now=now,
                stale=stale,
            )
        except Exception:
            self._release(to_host, pending, extra_rows=[f"b|{new.id}"])
            raise
        self._confirm_move(new, to_host, str(taken[0]["etag"]))
        self._settle_pointer(from_host, new.id)
        return _pending(event, from_host, results)

    def _settle_pointer(self, host_id: str, booking_id: str) -> None:
        """Mark a `movedTo` pointer whose move is finished, so `roll_forward` no longer looks at it (the
        pointer itself stays: a reader holding the old index entry still finds the booking through it)."""
        entity = {"PartitionKey": host_id, "RowKey": f"b|{booking_id}", "status": MOVED_SETTLED}
        try:
            with storage_errors():
                self._slots.update_entity(entity, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            pass

    def _confirm_move(self, new: Booking, to_host: str, etag: str) -> None:
        """The moved booking's row becomes the primary one, its claim a booking's, the index points at it."""
        row = self._booking_row(new, to_host, primary=True)
        condition = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        claim = new.claim(to_host).entry(new.id, ClaimKind.BOOKING)
        try:
            self._commit(
                to_host,
                add=claim,
                extra_ops=[("update", row, {"mode": UpdateMode.REPLACE, **condition})],
                now=self._clock.now(),
                stale=_row_changed,
                check=False,
            )
        except RowChanged:
            # A change that followed the pointer wrote the row first (as the primary row): confirm the
            # claim of the booking as it is now, if it is still this host's and confirmed.
            current = self.get_booking(new.id).booking
            if current.status is BookingStatus.CONFIRMED and current.primary_host == to_host:
                claim = current.claim(to_host).entry(current.id, ClaimKind.BOOKING)
                self._commit(to_host, add=claim, now=self._clock.now(), stale=_row_changed, check=False)
        self._repoint(new)

    def _repoint(self, booking: Booking) -> None:
        with storage_errors():
            self._index.upsert_entity(
                {
                    "PartitionKey": f"id|{booking.id}",
                    "RowKey": "",
                    "primaryHost": booking.primary_host,
                    "hostIds": json.dumps(list(booking.host_ids)),
                }
            )
        self._index_record(booking)

    def roll_forward(self, host_id: str) -> int:
        """Finish moves away from `host_id` that a crash interrupted after they committed (a `movedTo`
        pointer whose index still points here); returns how many were finished."""
        with storage_errors():
            rows = list(
                self._slots.query_entities(
                    "PartitionKey eq @p and RowKey ge 'b|' and RowKey lt 'b}' and status eq 'moved'",
                    parameters={"p": host_id},
                )
            )
        finished = 0
        for row in rows:
            booking_id = str(row["RowKey"])[2:]
            index = self._find_booking_index(booking_id)
            try:
                stored = self.get_booking(booking_id)
            except NotFound:
                continue
            if index is not None and index["primaryHost"] == host_id:
                booking = stored.booking
                if booking.status is BookingStatus.CONFIRMED:
                    self._confirm_move(booking, booking.primary_host, stored.etag)
                else:
                    self._repoint(booking)
                finished += 1
            self._settle_pointer(host_id, booking_id)
        return finished

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
                updated = replace(current, outlook=current.outlook.merged(values))
            else:
                updated = replace(current, dynamics=current.dynamics.merged(values))
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
        """Bookings matching every given filter, ordered by start; the next offset if more remain.

        `host_id` means every booking the host takes part in, as first host or as a collective
        booking's co-host (issue 16: a reassignment or a deactivation must find the co-host's seats too).
        """
        with storage_errors():
            if record_id:
                ids = [
                    e["RowKey"]
                    for e in self._index.query_entities(
                        "PartitionKey eq @p", parameters={"p": f"rec|{key_text(record_id)}"}
                    )
                ]
                rows = [row for row in (self._committed_row(i) for i in ids) if row is not None]
            elif host_id:
                rows = self._host_rows(host_id, start, end)
            else:
                query, params = _booking_filter(start, end, status)
                rows = list(self._slots.query_entities(query, parameters=params))
        found = {b.id: b for b in (self._parse_booking(r) for r in rows)}
        bookings = sorted(
            (b for b in found.values() if _booking_matches(b, host_id, start, end, status)),
            key=lambda b: (b.start, b.id),
        )
        page = bookings[offset : offset + limit]
        return page, (offset + limit if offset + limit < len(bookings) else None)

    def _host_rows(
        self, host_id: str, start: datetime | None, end: datetime | None
    ) -> list[Mapping[str, Any]]:
        """The rows of every booking in the host's partition: its own (primary) rows as they are, and the
        booking behind each co-host reference row. Not filtered by status here: a co-host's reference row
        may still say `pending` for a booking that committed (its confirm is repaired when found); a
        `movedTo` pointer is a booking that left this host (its new row is read where it lives now)."""
        query, params = _booking_filter(start, end, None)
        query = query.replace("primary eq true", "PartitionKey eq @host")
        rows = list(self._slots.query_entities(query, parameters={**params, "host": host_id}))
        found: list[Mapping[str, Any]] = []
        for row in rows:
            if row.get("primary") and "doc" in row:
                found.append(row)
            elif not row.get("movedTo"):
                booking_row = self._committed_row(str(row["RowKey"])[2:])
                if booking_row is not None:
                    found.append(booking_row)
        return found

    def _committed_row(self, booking_id: str) -> Mapping[str, Any] | None:
        """The booking's row, or None when its index rows outlived a booking that never committed."""
        try:
            row = self._booking_entity(booking_id)  # a reassigned booking: through its `movedTo` pointer
        except NotFound:
            return None
        return dict(row) if "doc" in row else None

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
            self._commit(
                host_id,
                add=hold.claim(host_id).entry(hold.id, ClaimKind.HOLD, hold.expires_at),
                extra_ops=[("create", row)],
                now=now,
                stale=_row_changed,
            )
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
        host_id = hold.host_ids[0]
        self._release(
            host_id, hold.claim(host_id).entry(hold.id, ClaimKind.HOLD), extra_rows=[f"h|{hold.id}"]
        )
        self._delete_index(f"hold|{hold.id}")

    def expire_holds(self, now: datetime) -> int:
        """Remove holds (and their claims) that expired; expiry already stopped them blocking."""
        with storage_errors():
            rows = list(
                self._slots.query_entities(
                    "RowKey ge 'h|' and RowKey lt 'h}' and expiresAt le @now", parameters={"now": now}
                )
            )
        for row in rows:
            hold = self._parse_hold(row)
            host_id = row["PartitionKey"]
            self._release(
                host_id, hold.claim(host_id).entry(hold.id, ClaimKind.HOLD), extra_rows=[row["RowKey"]]
            )
            self._delete_index(f"hold|{hold.id}")
        return len(rows)

    # ---- commitments (availability) --------------------------------------------------------------

    def commitments(
        self, host_ids: Sequence[str], window: Interval, exclude: frozenset[str] = frozenset()
    ) -> Mapping[str, Sequence[Commitment]]:
        """Confirmed bookings, unexpired holds and pending collective claims per host (`exclude`:
        booking/hold ids to leave out), read for the whole pool in one cross-partition range query.

        Read straight from the rows every commit writes, so a commit is visible to any instance's next
        read (no staleness); bounding the partitions by the pool's smallest and largest id keeps a small
        pool's scan narrow. A claim spanning days sits in each day's row: it is reported once.
        """
        wanted = set(host_ids)
        found: dict[str, list[Commitment]] = {h: [] for h in host_ids}
        if not wanted:
            return found
        now = self._clock.now()
        days = claim_days(window)
        params = {
            "plo": min(wanted),
            "phi": max(wanted),
            "lo": day_key(days[0]),
            "hi": day_key(days[-1]),
        }
        with storage_errors():
            rows = list(
                self._slots.query_entities(
                    "PartitionKey ge @plo and PartitionKey le @phi and RowKey ge @lo and RowKey le @hi",
                    parameters=params,
                )
            )
        self._seen.set(
            _Snapshot(
                at=time.monotonic(),
                days=dict.fromkeys(wanted, (days[0], days[-1])),
                rows={
                    (r["PartitionKey"], date.fromisoformat(r["RowKey"][len(DAY_ROW_PREFIX) :])): r
                    for r in rows
                    if r["PartitionKey"] in wanted
                },
            )
        )
        seen: set[tuple[str, str]] = set()
        for row in rows:
            host_id = row["PartitionKey"]
            if host_id not in wanted:
                continue
            for entry in decode_day(row["claims"], row["types"]):
                if (host_id, entry.owner) in seen or entry.owner in exclude or entry.expired(now):
                    continue
                seen.add((host_id, entry.owner))
                if entry.overlaps(window):
                    found[host_id].append(entry.to_commitment())
        return found

    def fairness_discounts(self, host_ids: Sequence[str]) -> list[DiscountedBooking]:
        """The pool's bookings that fairness counts as `noShowWeight` of one (an invitee's no-show or
        cancel), in one cross-partition query over the booking rows, which carry `discount` for it.

        Read from the bookings themselves, not from a counter kept beside them, so it cannot drift.
        """
        wanted = set(host_ids)
        if not wanted:
            return []
        with storage_errors():
            rows = self._slots.query_entities(
                "PartitionKey ge @plo and PartitionKey le @phi and RowKey ge 'b|' and RowKey lt 'b}' "
                "and primary eq true and (discount eq 'noShow' or discount eq 'inviteeCancel')",
                parameters={"plo": min(wanted), "phi": max(wanted)},
                select=["PartitionKey", "start", "discount", "ruleSet"],
            )
            return [
                DiscountedBooking(
                    host_id=r["PartitionKey"],
                    discount=FairnessDiscount(r["discount"]),
                    start=r["start"],
                    rule_set=r.get("ruleSet") or None,
                )
                for r in rows
                if r["PartitionKey"] in wanted
            ]

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
        # A reassigned booking's events sit in the partitions of the hosts it had: ask them all.
        with storage_errors():
            return [
                dict(r)
                for r in self._slots.query_entities(
                    "RowKey ge @lo and RowKey lt @hi",
                    parameters={"lo": f"o|{booking_id}|", "hi": f"o|{booking_id}}}"},
                )
            ]


def _booking_filter(
    start: datetime | None, end: datetime | None, status: str | None
) -> tuple[str, dict[str, Any]]:
    """The booking-row query (primary rows only) with the time and status filters storage can apply."""
    filters = ["RowKey ge 'b|'", "RowKey lt 'b}'", "primary eq true"]
    params: dict[str, Any] = {}
    if start:
        filters.append("end gt @start")
        params["start"] = start
    if end:
        filters.append("start lt @end")
        params["end"] = end
    if status:
        filters.append("status eq @status")
        params["status"] = status
    return " and ".join(filters), params


def _booking_matches(
    booking: Booking, host_id: str | None, start: datetime | None, end: datetime | None, status: str | None
) -> bool:
    """Every filter checked on the booking itself (a reference row's copy of times or status may lag)."""
    return (
        (host_id is None or host_id in booking.host_ids)
        and (start is None or booking.end > start)
        and (end is None or booking.start < end)
        and (status is None or booking.status.value == status)
    )


def _row_changed() -> RowChanged:
    return RowChanged("a row written beside the claim changed or vanished meanwhile")
