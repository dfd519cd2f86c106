"""Faults: the load again, while the Graph and Dataverse simulators fail about 20% of requests.

Each simulator gets the same mix (probabilistic `/_sim/faults`): 429 with `Retry-After: 1` (8%),
503 (4%), 500 (3%), and a 2 s stall (5%) against a 1.5 s client timeout per attempt, so a timed-out
write may still land (a retry must not duplicate it). The faults stay on while the relay redelivers,
for as many passes as the subscriptions allow (`SYNC_MAX_DELIVERY_COUNT`, 3 here so the give-up
path is reached within the run), then they are cleared and the relay drains what is left.

Proves: our API answers 503 (problem+json), never another 5xx, when an upstream stays down; no double
booking; no lost booking or event; every booking ends `synced` or `failed` with a reason (and a
dead letter when deliveries ran out), and no booking has two Dynamics appointments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.proof.checks import (
    assert_no_double_booking,
    assert_no_lost_booking,
    assert_no_lost_event,
    assert_sync_settled,
    read_bookings,
)
from tests.proof.conftest import StackFactory
from tests.proof.load import LoadProfile, run_load
from tests.proof.tenant import seed

MAX_DELIVERIES = 3
FAULT_MIX: list[dict[str, Any]] = [
    {"status": 429, "retry_after": 1, "probability": 0.08},
    {"status": 503, "probability": 0.04},
    {"status": 500, "probability": 0.03},
    {"status": None, "delay_seconds": 2.0, "probability": 0.05},
]
PROFILES = [
    pytest.param(
        LoadProfile(clients=20, seconds=5, tolerated=frozenset({503})), id="fast", marks=pytest.mark.proof
    ),
    pytest.param(
        LoadProfile(clients=200, seconds=60, tolerated=frozenset({503})),
        id="soak",
        marks=[pytest.mark.soak, pytest.mark.timeout(1800)],
    ),
]


@pytest.mark.parametrize("profile", PROFILES)
def test_under_upstream_faults_every_booking_ends_synced_or_failed_with_a_reason_and_none_is_duplicated(
    proof_stack: StackFactory, profile: LoadProfile, report: Callable[[str], None]
) -> None:
    stack = proof_stack(
        GRAPH_TIMEOUT_SECONDS="1.5",
        DATAVERSE_TIMEOUT_SECONDS="1.5",
        SYNC_MAX_DELIVERY_COUNT=str(MAX_DELIVERIES),
    )
    slugs = [spec.slug for spec in seed(stack)]
    for sim in (stack.graph, stack.dataverse):
        for fault in FAULT_MIX:
            sim.add_fault(count=None, **fault)

    result = run_load(stack.api, slugs, profile)
    pending_after_load = len(stack.pending_outbox())
    # Redeliveries while the faults last: each pass is one more delivery of every pending event.
    for _ in range(MAX_DELIVERIES):
        if not stack.pending_outbox():
            break
        stack.run_timer("relay_outbox")
    injected = {
        name: sum(1 for r in sim.requests() if (r["status"] or 0) >= 429)
        for name, sim in (("graph", stack.graph), ("dataverse", stack.dataverse))
    }
    for sim in (stack.graph, stack.dataverse):
        sim.clear_faults()
    passes = stack.drain_outbox(max_passes=5)

    stored = read_bookings(stack)
    report(result.summary("faults"))
    assert not result.unexpected, f"{len(result.unexpected)} unexpected answers:\n" + "\n".join(
        result.unexpected[:10]
    )
    assert result.booked, "the load booked nothing"
    checked = assert_no_double_booking(stored)
    assert_no_lost_booking(result, stored)
    events = assert_no_lost_event(stack, stored)
    sync = assert_sync_settled(stack, stored, all_synced=False)
    report(
        f"  storage: {len(stored.docs)} bookings, {checked} confirmed host rows without overlap,"
        f" {events} outbox events all delivered; pending after the load: {pending_after_load},"
        f" relay passes after clearing faults: {passes}\n"
        f"  upstream 429/5xx answers (of the last 2000 requests each simulator logged): {injected}\n"
        + sync.summary()
    )
