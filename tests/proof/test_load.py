"""Load: concurrent clients list slots and book (single, collective, round robin; some fighting over
the same instants) against Azurite through the local host over HTTP.

Proves: zero double bookings (every host's confirmed bookings, read from storage, never overlap),
zero lost bookings (every 201 stored, one booking per request key), zero lost outbox events (every
booking version's event delivered to the sync subscriptions and applied: one Dynamics appointment
each). Prints p50/p95/p99 latencies per operation.
"""

from __future__ import annotations

from collections.abc import Callable

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

PROFILES = [
    pytest.param(LoadProfile(clients=20, seconds=5), id="fast", marks=pytest.mark.proof),
    pytest.param(
        LoadProfile(clients=200, seconds=60), id="soak", marks=[pytest.mark.soak, pytest.mark.timeout(900)]
    ),
]


@pytest.mark.parametrize("profile", PROFILES)
def test_concurrent_clients_never_double_book_and_lose_no_booking_or_event(
    proof_stack: StackFactory, profile: LoadProfile, report: Callable[[str], None]
) -> None:
    stack = proof_stack()
    slugs = [spec.slug for spec in seed(stack)]

    result = run_load(stack.api, slugs, profile)
    passes = stack.drain_outbox(max_passes=5)

    stored = read_bookings(stack)
    report(result.summary("load"))
    assert not result.unexpected, f"{len(result.unexpected)} unexpected answers:\n" + "\n".join(
        result.unexpected[:10]
    )
    assert result.booked, "the load booked nothing"
    assert result.statuses[("book", 409)] > 0, "no booking collided: the load did not contend"
    checked = assert_no_double_booking(stored)
    assert_no_lost_booking(result, stored)
    events = assert_no_lost_event(stack, stored)
    sync = assert_sync_settled(stack, stored, all_synced=True)
    report(
        f"  storage: {len(stored.docs)} bookings, {checked} confirmed host rows without overlap,"
        f" {events} outbox events all delivered (relay passes to drain: {passes})\n" + sync.summary()
    )
