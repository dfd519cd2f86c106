"""What this service remembers about Outlook, in Azure Table storage.

Table `outlooklinks`:
- PartitionKey `booking`, RowKey = booking id: the mailbox and event id of the booking's Outlook event,
  `createAttemptedAt` (a create was sent; after a crash the event may exist without our knowing its id),
  and `writtenVersion`/`writtenStart`/`writtenEnd`: the booking version and times our last successful
  write put in Outlook (the reconciler tells our own pending writes from the host's edits by them).
- PartitionKey `event`, RowKey = SHA-256 of the event id (Graph ids may hold characters a RowKey
  cannot): the booking and mailbox, so a deleted event (which Graph can no longer show) maps back.

Table `graphsubs`:
- PartitionKey `host`, RowKey = host id: the host's subscription (`subscriptionId`, `clientStateHash`,
  `expiresAt`, `status` active|failed, `error`).
- PartitionKey `sub`, RowKey = subscription id: the host and `clientStateHash`, for notifications.
- PartitionKey `delta`, RowKey = host id: the host's `calendarView/delta` link.
- PartitionKey `mailboxfault`, RowKey = host id: the host's mailbox cannot be served by Graph (`reason`,
  `since`); written when a sync or reconcile meets the fault, deleted once the mailbox answers again.
  `/health` lists them (one partition query).

Every read-modify-write of a subscription row is ETag-conditional (`SubscriptionChanged` when another
writer won), so a renewal timer and a lifecycle notification never overwrite each other blindly.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from scheduling_core.adapters.tables import Tables, storage_errors
from scheduling_core.errors import SubscriptionChanged
from scheduling_core.ports import OutlookLink, SubscriptionRecord


def event_key(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()


class TableOutlookLinks:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("outlooklinks")

    def get(self, booking_id: str) -> OutlookLink | None:
        row = _read(self._table, "booking", booking_id)
        if row is None:
            return None
        return OutlookLink(
            booking_id=booking_id,
            mailbox=str(row.get("mailbox") or ""),
            event_id=row.get("eventId") or None,
            create_attempted_at=row.get("createAttemptedAt"),
            written_version=int(row.get("writtenVersion") or 0),
            written_start=row.get("writtenStart"),
            written_end=row.get("writtenEnd"),
            placement=int(row.get("placement") or 0),
        )

    def put(self, link: OutlookLink) -> None:
        entity: dict[str, Any] = {
            "PartitionKey": "booking",
            "RowKey": link.booking_id,
            "mailbox": link.mailbox,
            "eventId": link.event_id or "",
            "writtenVersion": link.written_version,
            "placement": link.placement,
        }
        for name, value in (
            ("createAttemptedAt", link.create_attempted_at),
            ("writtenStart", link.written_start),
            ("writtenEnd", link.written_end),
        ):
            if value is not None:
                entity[name] = value
        with storage_errors():
            if link.event_id:
                # The reverse row first: a link row never names an event the index cannot map back.
                self._table.upsert_entity(
                    {
                        "PartitionKey": "event",
                        "RowKey": event_key(link.event_id),
                        "bookingId": link.booking_id,
                        "mailbox": link.mailbox,
                        "eventId": link.event_id,
                    },
                    mode=UpdateMode.REPLACE,
                )
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def booking_for_event(self, event_id: str) -> str | None:
        row = _read(self._table, "event", event_key(event_id))
        return None if row is None else str(row["bookingId"])


class TableSubscriptions:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("graphsubs")

    def get(self, host_id: str) -> SubscriptionRecord | None:
        row = _read(self._table, "host", host_id)
        return None if row is None else _record(row)

    def all(self) -> list[SubscriptionRecord]:
        with storage_errors():
            rows = list(self._table.query_entities("PartitionKey eq 'host'"))
        return [_record(row) for row in rows]

    def subscription_index(self) -> dict[str, tuple[str, str]]:
        """Every subscription we made: id -> (host id, client-state hash), in one partition query."""
        with storage_errors():
            rows = list(
                self._table.query_entities(
                    "PartitionKey eq 'sub'", select=["RowKey", "hostId", "clientStateHash"]
                )
            )
        return {str(row["RowKey"]): (str(row["hostId"]), str(row["clientStateHash"])) for row in rows}

    def by_subscription(self, subscription_id: str) -> tuple[str, str] | None:
        """(host id, client-state hash) of a subscription we made, or None."""
        row = _read(self._table, "sub", subscription_id)
        return None if row is None else (str(row["hostId"]), str(row["clientStateHash"]))

    def save(self, record: SubscriptionRecord, *, expected_etag: str | None, create: bool) -> None:
        """Write the host's row: create-only when `create`, else only over `expected_etag`."""
        entity: dict[str, Any] = {
            "PartitionKey": "host",
            "RowKey": record.host_id,
            "subscriptionId": record.subscription_id,
            "clientStateHash": record.client_state_hash,
            "status": record.status,
            "error": record.error or "",
        }
        if record.expires_at is not None:
            entity["expiresAt"] = record.expires_at
        try:
            with storage_errors():
                if record.subscription_id:
                    self._table.upsert_entity(
                        {
                            "PartitionKey": "sub",
                            "RowKey": record.subscription_id,
                            "hostId": record.host_id,
                            "clientStateHash": record.client_state_hash,
                        },
                        mode=UpdateMode.REPLACE,
                    )
                if create:
                    self._table.create_entity(entity)
                else:
                    self._table.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=expected_etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as exc:
            raise SubscriptionChanged(record.host_id) from exc

    def forget_subscription(self, subscription_id: str) -> None:
        _delete(self._table, "sub", subscription_id)

    def delete(self, host_id: str, expected_etag: str | None) -> None:
        try:
            with storage_errors():
                if expected_etag is None:
                    self._table.delete_entity("host", host_id)
                else:
                    self._table.delete_entity(
                        "host", host_id, etag=expected_etag, match_condition=MatchConditions.IfNotModified
                    )
        except ResourceModifiedError as exc:
            raise SubscriptionChanged(host_id) from exc
        except ResourceNotFoundError:
            pass

    # -- delta links -----------------------------------------------------------------------------------

    def delta_link(self, host_id: str) -> str | None:
        row = _read(self._table, "delta", host_id)
        return None if row is None else (row.get("link") or None)

    def save_delta_link(self, host_id: str, link: str | None) -> None:
        if link is None:
            _delete(self._table, "delta", host_id)
            return
        with storage_errors():
            self._table.upsert_entity(
                {"PartitionKey": "delta", "RowKey": host_id, "link": link}, mode=UpdateMode.REPLACE
            )


class TableMailboxFaults:
    """Hosts whose mailbox Graph cannot serve right now (see the module docstring)."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> TableClient:
        return self._tables.table("graphsubs")

    def mark(self, host_id: str, reason: str, at: datetime) -> None:
        with storage_errors():
            self._table.upsert_entity(
                {"PartitionKey": "mailboxfault", "RowKey": host_id, "reason": reason[:1000], "since": at},
                mode=UpdateMode.REPLACE,
            )

    def clear(self, host_id: str) -> None:
        _delete(self._table, "mailboxfault", host_id)

    def faults(self) -> dict[str, str]:
        """Host id -> reason, for every host with a mailbox fault."""
        with storage_errors():
            rows = list(self._table.query_entities("PartitionKey eq 'mailboxfault'"))
        return {str(row["RowKey"]): str(row.get("reason") or "") for row in rows}


def _record(row: Any) -> SubscriptionRecord:
    return SubscriptionRecord(
        host_id=str(row["RowKey"]),
        subscription_id=str(row.get("subscriptionId") or ""),
        client_state_hash=str(row.get("clientStateHash") or ""),
        expires_at=row.get("expiresAt"),
        status=str(row.get("status") or "failed"),
        error=row.get("error") or None,
        etag=row.metadata["etag"],
    )


def _read(table: TableClient, partition: str, row_key: str) -> Any:
    try:
        with storage_errors():
            return table.get_entity(partition_key=partition, row_key=row_key)
    except ResourceNotFoundError:
        return None


def _delete(table: TableClient, partition: str, row_key: str) -> None:
    try:
        with storage_errors():
            table.delete_entity(partition, row_key)
    except ResourceNotFoundError:
        pass
