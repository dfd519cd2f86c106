"""Restart: the local host is killed (SIGKILL) in the middle of the load and started again on the same
Azurite data; clients retry what went unanswered with the same `Idempotency-Key`.

Proves: no booking lost (every 201 answered before the kill is readable after it), the outbox relay
resumes (events the dead host committed but never published are delivered by the relay timer, run
through the restarted host's admin endpoint), idempotent retries after the restart replay the original
booking, and a request in flight at the kill never yields two bookings. Plus the load's invariants:
no double booking, every event delivered, one appointment per booking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from tests.proof.checks import (
    assert_no_double_booking,
    assert_no_lost_booking,
    assert_no_lost_event,
    assert_sync_settled,
    read_bookings,
)
from tests.proof.conftest import StackFactory
from tests.proof.load import LoadProfile, LoadResult, run_load
from tests.proof.stack import API_KEY
from tests.proof.tenant import seed

PROFILES = [
    pytest.param(
        LoadProfile(clients=20, seconds=8, retry_unanswered_for=30), 12, id="fast", marks=pytest.mark.proof
    ),
    pytest.param(
        LoadProfile(clients=200, seconds=60, retry_unanswered_for=60),
        150,
        id="soak",
        marks=[pytest.mark.soak, pytest.mark.timeout(1800)],
    ),
]


@pytest.mark.parametrize(("profile", "kill_after"), PROFILES)
def test_a_host_killed_mid_load_loses_no_booking_and_its_outbox_and_idempotency_resume_after_restart(
    proof_stack: StackFactory, profile: LoadProfile, kill_after: int, report: Callable[[str], None]
) -> None:
    # A delivery the kill interrupted leaves its sync lease behind; it lasts the function timeout (5 min
    # in Azure). This host runs nothing that long, so the lease is 10 s and expires within the run.
    stack = proof_stack(SYNC_LEASE_SECONDS="10")
    slugs = [spec.slug for spec in seed(stack)]
    enough = threading.Event()
    outcome: dict[str, LoadResult] = {}

    def note(result: LoadResult) -> None:
        if len(result.booked) >= kill_after:
            enough.set()

    load = threading.Thread(target=lambda: outcome.update(result=run_load(stack.api, slugs, profile, note)))
    load.start()
    try:
        assert enough.wait(timeout=120), "the load did not book enough before the kill"
        killed_at = time.monotonic()
        stack.kill_host()
        pending_at_kill = {row["RowKey"] for row in stack.pending_outbox()}
        stack.start_host()
        restarted_at = time.monotonic()
        down_for = restarted_at - killed_at
    finally:
        load.join(timeout=600)
    result = outcome["result"]
    answered_before = {b.id for b in result.booked.values() if b.answered_at < killed_at}

    # The relay timer, run on the restarted host, delivers what the dead host left pending.
    passes = stack.drain_outbox(max_passes=5)
    stored = read_bookings(stack)
    report(result.summary("restart"))
    assert not result.unexpected, f"{len(result.unexpected)} unexpected answers:\n" + "\n".join(
        result.unexpected[:10]
    )
    assert answered_before and result.unanswered > 0, "the kill did not land in the middle of the load"

    with httpx.Client(base_url=stack.api, headers={"x-functions-key": API_KEY}, timeout=60) as http:
        unreadable = [b for b in answered_before if http.get(f"/bookings/{b}").status_code != 200]
        assert not unreadable, f"bookings answered before the kill are gone: {unreadable[:5]}"
        replays = 0
        for booking_id in sorted(answered_before):
            booked = result.booked[booking_id]
            again = http.post("/bookings", json=booked.body, headers={"Idempotency-Key": booked.key})
            assert again.status_code == 201, again.text
            assert again.headers.get("Idempotent-Replayed") == "true"
            assert again.json()["id"] == booking_id
            replays += 1
        # Requests in flight at the kill: a retry replays their booking, or says the claim is still
        # in progress (the dead host never finished it); it never books a second time.
        in_doubt = {"replayed": 0, "in progress": 0, "booked now": 0, "slot taken": 0}
        for key, body in result.in_doubt.items():
            again = http.post("/bookings", json=body, headers={"Idempotency-Key": key})
            if again.status_code == 201:
                in_doubt[
                    "replayed" if again.headers.get("Idempotent-Replayed") == "true" else "booked now"
                ] += 1
            else:
                code = again.json()["code"]
                assert (again.status_code, code) in (
                    (409, "idempotency-in-progress"),
                    (409, "slot-unavailable"),
                )
                in_doubt["in progress" if code == "idempotency-in-progress" else "slot taken"] += 1
    stored = read_bookings(stack)
    committed_unanswered = sum(
        1 for d in stored.docs.values() if d["metadata"]["proofKey"] in result.in_doubt
    )
    checked = assert_no_double_booking(stored)
    assert_no_lost_booking(result, stored, answered_before=answered_before | set(result.booked))
    events = assert_no_lost_event(stack, stored)
    sync = assert_sync_settled(stack, stored, all_synced=True)
    report(
        f"  killed after {len(answered_before)} bookings; down (kill to ready) for {down_for:.1f} s;"
        f" outbox events pending at the kill: {len(pending_at_kill)},"
        f" relay passes to drain after restart: {passes}\n"
        f"  idempotent retries after restart: {replays} replayed the original booking;"
        f" requests in flight at the kill: {in_doubt}, of which {committed_unanswered} had committed\n"
        f"  storage: {len(stored.docs)} bookings, {checked} confirmed host rows without overlap,"
        f" {events} outbox events all delivered\n" + sync.summary()
    )
