"""A tenant of 2,000 hosts (api.md "Limits": built for 5,000 hosts and routing pools of 500).

Storage reads are counted where they happen: a response hook on the real Table storage pipeline that
the composition root is built with, so every entity Azurite sends back is seen, whatever code read it.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from azure.core.pipeline import PipelineResponse
from azure.data.tables import TableServiceClient

from .scenario import AT_9, MONDAY

TENANT = 2_000
POOL = 500
DECISION_BUDGET = 16 * 1024  # bytes of the stored decision entity's properties (test budget, issue 13)


@dataclass
class StorageReads:
    """Entities Table storage returned, per table, as (PartitionKey, RowKey)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    entities: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def hook(self, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        request, answer = response.http_request, response.http_response
        if request.method != "GET" or answer.status_code != 200:
            return
        path = unquote(request.url.split("?", 1)[0].rsplit("/", 1)[-1])
        table = path.split("(", 1)[0]
        body = json.loads(answer.text() or "{}")
        rows = body.get("value", [body]) if isinstance(body, dict) else []
        with self.lock:
            for row in rows:
                if "PartitionKey" in row:
                    self.entities[(table, row["PartitionKey"], row["RowKey"])] += 1

    def reset(self) -> None:
        with self.lock:
            self.entities.clear()

    def rows(self, table: str, partition: str) -> set[str]:
        return set(self.counts(table, partition))

    def counts(self, table: str, partition: str) -> dict[str, int]:
        with self.lock:
            return {r: n for (t, p, r), n in self.entities.items() if t == table and p == partition}


@pytest.fixture
def scale_app(app_env: dict[str, str], clock: Any, azurite: Any) -> Iterator[tuple[Any, StorageReads, Any]]:
    import function_app
    from bootstrap.composition import build_services, install_services, reset_services
    from bootstrap.settings import Settings
    from devstack.function_host import FunctionRouter

    from ..conftest import AppClient

    reads = StorageReads()
    table_service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_response_hook=reads.hook
    )
    services = build_services(Settings.from_env(os.environ), clock, table_service=table_service)
    install_services(services)
    yield AppClient(FunctionRouter(function_app.app)), reads, services
    reset_services()


def _host_id(index: int) -> str:
    """Host ids are Entra object ids (GUIDs), as in a real tenant: they are most of a decision's bytes."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"rep{index:04d}.contoso.com"))


def _host_doc(index: int) -> dict[str, Any]:
    return {
        "email": f"rep{index:04d}@contoso.com",
        "displayName": f"Rep {index}",
        "timeZone": "America/Chicago",
        "workingHours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "12:00"}],
        "skills": {"english": 3, f"product-{index % 7}": 2},
        "territories": [f"T{index % 40}"],
    }


def _seed_tenant(services: Any, graph_sim: Any, mailboxes: list[int]) -> None:
    """2,000 host documents in batch transactions of 100 (one partition); mailboxes only for `mailboxes`."""
    from scheduling_core.documents.config import HostDoc

    table = services.tables.table("config")
    rows = [
        (
            "upsert",
            {
                "PartitionKey": "host",
                "RowKey": _host_id(i),
                "doc": HostDoc.model_validate(_host_doc(i)).model_dump_json(),
            },
        )
        for i in range(TENANT)
    ]
    with ThreadPoolExecutor(max_workers=4) as workers:
        list(workers.map(table.submit_transaction, [rows[i : i + 100] for i in range(0, TENANT, 100)]))
        list(
            workers.map(lambda i: graph_sim.create_user(f"rep{i:04d}@contoso.com", id=_host_id(i)), mailboxes)
        )


def test_a_two_thousand_host_tenant_routes_slots_and_bookings_reading_only_the_pool(
    scale_app: Any, graph_sim: Any
) -> None:
    app, reads, services = scale_app
    pool = sorted(_host_id(i) for i in range(0, TENANT, TENANT // POOL))
    assert len(pool) == POOL
    _seed_tenant(services, graph_sim, list(range(0, TENANT, TENANT // POOL)))
    rule_set_id = "rs-scale-" + uuid.uuid4().hex[:6]
    r = app.put(
        f"/admin/routing/{rule_set_id}",
        json_body={"rules": [{"name": "everyone", "strategy": "roundRobin", "pool": pool}]},
    )
    assert r.status == 201, r.body
    slug = "scale-" + uuid.uuid4().hex[:6]
    r = app.put(
        f"/admin/event-types/{slug}",
        json_body={"title": "Call", "durationMinutes": 30, "routingRuleSet": rule_set_id},
    )
    assert r.status == 201, r.body

    reads.reset()
    r = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY})
    assert r.status == 200, r.body
    answer = r.json()
    assert answer["routing"]["rule"] == "everyone"
    assert {h for s in answer["slots"] for h in s["hostIds"]} == set(pool)
    # Only the pool's host documents were read, each once, not the tenant's directory.
    assert reads.counts(f"{services.settings.table_prefix}config", "host") == dict.fromkeys(pool, 1)

    decisions = services.tables.table("routingdecisions")
    entity = decisions.get_entity(f"rd|{answer['routing']['decisionId']}", "")
    size = sum(len(v) if isinstance(v, bytes) else len(str(v)) * 2 for k, v in entity.items())
    assert size < DECISION_BUDGET, size
    stored = app.get(f"/routing/decisions/{answer['routing']['decisionId']}").json()
    trace = stored["decision"]["trace"]
    assert [(t["rule"], len(t["candidates"]), len(t["eligible"])) for t in trace] == [
        ("everyone", POOL, POOL)
    ]
    assert sorted(stored["inputs"]["hosts"]) == pool

    reads.reset()
    r = app.post(
        "/bookings",
        json_body={
            "eventType": slug,
            "start": AT_9,
            "timeZone": "America/Chicago",
            "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com"},
        },
    )
    assert r.status == 201, r.body
    booked = r.json()["hostIds"][0]
    assert booked == pool[0]  # nobody booked yet: leastRecentlyBooked ties end in host id order
    counts = reads.counts(f"{services.settings.table_prefix}config", "host")
    # Routing read each pool host once; the booked host is read again by the Outlook and Dataverse sync
    # that the in-process bus runs after the commit, each for its own event.
    assert counts == dict.fromkeys(pool, 1) | {booked: 3}


def test_round_robin_state_of_a_pool_of_500_stays_writable_and_is_read_per_host(azurite: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from scheduling_core.adapters.routing_table import TableRoutingStore
    from scheduling_core.adapters.tables import Tables

    reads = StorageReads()
    service = TableServiceClient.from_connection_string(
        azurite.connection_string, raw_response_hook=reads.hook
    )
    prefix = "t" + uuid.uuid4().hex[:10]
    store = TableRoutingStore(Tables(service, prefix))
    pool = [f"rep{i:04d}" for i in range(POOL)]
    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    for i, host in enumerate(pool):
        store.record_assignment("rs-big", "rotation", host, start + timedelta(seconds=i))
    store.record_assignment("rs-big", "rotation", pool[7], start + timedelta(hours=1))

    reads.reset()
    asked = [pool[7], pool[300], "rep9999"]
    state = store.rotation("rs-big", "rotation", asked)
    assert state == {
        pool[7]: {"assignments": 2, "lastBookedAt": (start + timedelta(hours=1)).isoformat()},
        pool[300]: {"assignments": 1, "lastBookedAt": (start + timedelta(seconds=300)).isoformat()},
    }
    assert {row for (_, _, row) in reads.entities} == {f"rotation|{pool[7]}", f"rotation|{pool[300]}"}
    assert len(store.rotation("rs-big", "rotation")) == POOL


def test_territory_and_skills_rules_scan_a_cached_directory_once_and_store_at_most_500_candidates(
    scale_app: Any, graph_sim: Any
) -> None:
    app, reads, services = scale_app
    _seed_tenant(services, graph_sim, [])
    config = f"{services.settings.table_prefix}config"
    rule_set_id = "rs-scan-" + uuid.uuid4().hex[:6]
    rules = [
        {"name": "territory", "when": {"recordType": ["lead"]}, "strategy": "territory"},
        {"name": "english", "strategy": "skills", "require": {"english": 3}},
    ]
    assert app.put(f"/admin/routing/{rule_set_id}", json_body={"rules": rules}).status == 201
    slug = "scan-" + uuid.uuid4().hex[:6]
    body = {"title": "Call", "durationMinutes": 30, "routingRuleSet": rule_set_id}
    assert app.put(f"/admin/event-types/{slug}", json_body=body).status == 201

    def route(**context: str) -> dict[str, Any]:
        r = app.get("/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, **context})
        assert r.status == 200, r.body
        decision_id = r.json()["routing"]["decisionId"]
        size = sum(
            len(v) if isinstance(v, bytes) else len(str(v)) * 2
            for v in services.tables.table("routingdecisions").get_entity(f"rd|{decision_id}", "").values()
        )
        assert size < DECISION_BUDGET, size
        stored: dict[str, Any] = app.get(f"/routing/decisions/{decision_id}").json()
        return stored

    def members(territory: int) -> set[str]:
        return {_host_id(i) for i in range(territory, TENANT, 40)}

    reads.reset()
    first = route(recordType="lead", territory="T3")
    assert first["decision"]["rule"] == "territory"
    assert set(first["decision"]["trace"][0]["candidates"]) == members(3)
    assert len(reads.rows(config, "host")) == TENANT  # the one scan of this instance's directory copy

    reads.reset()
    second = route(recordType="lead", territory="T4")
    assert set(second["decision"]["trace"][0]["candidates"]) == members(4)
    assert reads.rows(config, "host") == members(4)  # the copy served the scan; only candidates were read

    # A host write on this instance clears the copy at once: the new territory member is a candidate.
    moved = app.get(f"/admin/hosts/{_host_id(1)}").json()
    moved.pop("id")
    assert app.put(f"/admin/hosts/{_host_id(1)}", json_body=moved | {"territories": ["T4"]}).status == 200
    third = route(recordType="lead", territory="T4")
    assert set(third["decision"]["trace"][0]["candidates"]) == members(4) | {_host_id(1)}

    # Everyone speaks English: the skills rule considers 500 of the 2,000, and says so.
    skills = route(recordType="account")
    trace = skills["decision"]["trace"]
    assert [t["rule"] for t in trace] == ["territory", "english"] and not trace[0]["applied"]
    assert len(trace[1]["candidates"]) == 500 == len(skills["inputs"]["hosts"])
    assert "2000 in the directory; the 500 considered are a rotating sample" in trace[1]["reason"]
    assert skills["inputs"]["context"]["shortlistTotals"] == {"english": TENANT}
