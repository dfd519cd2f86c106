"""Azure Table storage adapters (Azurite locally).

Configuration lives in one table, `{prefix}config`: PartitionKey is the kind of
document (`host`, `eventtype`, `ruleset`), RowKey its id, and `doc` the JSON
document exactly as the admin API validated it. Storage faults surface as
`UpstreamUnavailable("storage")`, never as a raw SDK exception.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from bootstrap.settings import Settings
from scheduling_core.documents.config import HOST_ID_PATTERN, EventTypeDoc, HostDoc
from scheduling_core.domain.values import EventType, Host
from scheduling_core.errors import NotFound, UpstreamUnavailable

T = TypeVar("T")
_HOST_ID = re.compile(HOST_ID_PATTERN)


def _transport() -> RequestsTransport:
    """The HTTP transport of every table client. Requests looks at .netrc and the proxy variables on
    every call (about a millisecond of CPU each, the largest Python cost of a booking's eight storage
    calls); with no proxy variable set that lookup can only find nothing, so it is skipped."""
    proxied = any(name.lower() in _PROXY_VARIABLES for name in os.environ)
    return RequestsTransport(use_env_settings=proxied)


_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


def table_service_from_settings(settings: Settings) -> TableServiceClient:
    if settings.tables_connection_string:
        return TableServiceClient.from_connection_string(
            settings.tables_connection_string, transport=_transport()
        )
    from azure.identity import DefaultAzureCredential

    assert settings.tables_endpoint is not None
    return TableServiceClient(
        endpoint=settings.tables_endpoint, credential=DefaultAzureCredential(), transport=_transport()
    )


#: Characters Azure Table storage refuses in PartitionKey/RowKey, and `%` (our escape character).
_KEY_UNSAFE = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f]")


def key_text(value: str) -> str:
    """`value` made safe inside a PartitionKey/RowKey: `/ \\ # ?`, control characters and `%` become `%XX`.

    Caller-given ids (a Dynamics record id in a booking's context) reach keys; unencoded, one of these
    characters makes the write fail AFTER a booking committed. Injective (the escape is escaped too) and the
    identity on GUIDs and ordinary ids, so rows written before this encoding keep their keys.
    """
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


@contextmanager
def storage_errors() -> Iterator[None]:
    """Translate transport and server faults into the service's error tree."""
    try:
        yield
    except (ResourceNotFoundError, ResourceExistsError):
        raise
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise UpstreamUnavailable("storage", "Table storage did not answer.") from exc
    except HttpResponseError as exc:
        if exc.status_code is not None and exc.status_code < 500 and exc.status_code != 429:
            raise
        raise UpstreamUnavailable("storage", f"Table storage failed ({exc.status_code}).") from exc
    except AzureError as exc:
        raise UpstreamUnavailable("storage", "Table storage failed.") from exc


class Tables:
    """Table clients by logical name, created in storage on first use."""

    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self._service = service
        self._prefix = prefix
        self._ready: dict[str, TableClient] = {}
        self._lock = threading.Lock()

    def table(self, name: str) -> TableClient:
        client = self._ready.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._ready.get(name)
            if client is None:
                full = f"{self._prefix}{name}"
                with storage_errors():
                    client = self._service.create_table_if_not_exists(full)
                self._ready[name] = client
        return client

    def ping(self) -> None:
        """Cheap round trip to storage (health check): one try, a short timeout, so a probe never hangs."""
        with storage_errors():
            pages = self._service.list_tables(
                results_per_page=1, retry_total=0, connection_timeout=3, read_timeout=3
            ).by_page()
            next(iter(pages), None)


class TableConfigRepository:
    """Hosts, event types and (later) routing rule sets as JSON documents."""

    HOST = "host"
    EVENT_TYPE = "eventtype"

    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        # Point reads of a pool's hosts go out in parallel (a pool of 500 in a tenant of 5,000).
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hostreads")

    @property
    def _table(self) -> TableClient:
        return self._tables.table("config")

    def _get(self, kind: str, key: str, label: str, parse: Callable[[Any], T]) -> T:
        try:
            with storage_errors():
                entity = self._table.get_entity(partition_key=kind, row_key=key)
        except ResourceNotFoundError:
            raise NotFound(label, key) from None
        return parse(json.loads(entity["doc"]))

    def _list(self, kind: str) -> list[tuple[str, Any]]:
        with storage_errors():
            entities = list(self._table.query_entities("PartitionKey eq @kind", parameters={"kind": kind}))
        return [(e["RowKey"], json.loads(e["doc"])) for e in entities]

    def _put(self, kind: str, key: str, doc: str) -> bool:
        entity = {"PartitionKey": kind, "RowKey": key, "doc": doc}
        with storage_errors():
            try:
                self._table.create_entity(entity)
                return True
            except ResourceExistsError:
                self._table.update_entity(entity, mode=UpdateMode.REPLACE)
                return False

    def _delete(self, kind: str, key: str, label: str) -> None:
        with storage_errors():
            try:
                self._table.get_entity(partition_key=kind, row_key=key, select=["RowKey"])
            except ResourceNotFoundError:
                raise NotFound(label, key) from None
            self._table.delete_entity(partition_key=kind, row_key=key)

    def get_host(self, host_id: str) -> Host:
        return self._get(self.HOST, host_id, "host", lambda d: HostDoc.model_validate(d).to_domain(host_id))

    def list_hosts(self) -> list[Host]:
        return [HostDoc.model_validate(d).to_domain(k) for k, d in self._list(self.HOST)]

    def get_hosts(self, host_ids: Sequence[str]) -> list[Host]:
        """The hosts in the order asked, reading only their rows; NotFound names the first one absent."""
        found = {h.id: h for h in self.find_hosts(host_ids)}
        for host_id in host_ids:
            if host_id not in found:
                raise NotFound("host", host_id)
        return [found[h] for h in host_ids]

    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]:
        """The hosts among `host_ids` that exist, reading only their rows (never the whole directory).

        Point reads, in parallel: the cheapest Table storage lookup; an `or` of row keys would make the
        service scan the whole partition ("Design for querying", docs/decisions.md).
        """
        # An id no host could have (e.g. an `ownerId` with `/` or `#`, which Table keys refuse) is absent
        # without asking storage, so it can never turn into a storage error.
        wanted = sorted({h for h in host_ids if _HOST_ID.match(h)})
        found = self._pool.map(self._find_host, wanted)
        return [host for host in found if host is not None]

    def _find_host(self, host_id: str) -> Host | None:
        try:
            return self.get_host(host_id)
        except NotFound:
            return None

    def put_host(self, host: Host) -> bool:
        return self._put(self.HOST, host.id, HostDoc.from_domain(host).model_dump_json())

    def delete_host(self, host_id: str) -> None:
        self._delete(self.HOST, host_id, "host")

    def get_event_type(self, slug: str) -> EventType:
        return self._get(
            self.EVENT_TYPE, slug, "event type", lambda d: EventTypeDoc.model_validate(d).to_domain(slug)
        )

    def list_event_types(self) -> list[EventType]:
        return [EventTypeDoc.model_validate(d).to_domain(k) for k, d in self._list(self.EVENT_TYPE)]

    def put_event_type(self, event_type: EventType) -> bool:
        return self._put(
            self.EVENT_TYPE, event_type.slug, EventTypeDoc.from_domain(event_type).model_dump_json()
        )

    def delete_event_type(self, slug: str) -> None:
        self._delete(self.EVENT_TYPE, slug, "event type")

    RULE_SET = "ruleset"

    def get_rule_set_doc(self, rule_set_id: str) -> Any:
        return self._get(self.RULE_SET, rule_set_id, "routing rule set", lambda d: d)

    def list_rule_set_docs(self) -> list[tuple[str, Any]]:
        return self._list(self.RULE_SET)

    def put_rule_set_doc(self, rule_set_id: str, doc: str) -> bool:
        return self._put(self.RULE_SET, rule_set_id, doc)

    def delete_rule_set(self, rule_set_id: str) -> None:
        self._delete(self.RULE_SET, rule_set_id, "routing rule set")

    def has_rule_set(self, rule_set_id: str) -> bool:
        with storage_errors():
            try:
                self._table.get_entity(partition_key="ruleset", row_key=rule_set_id, select=["RowKey"])
                return True
            except ResourceNotFoundError:
                return False
