"""TableIdempotencyStore against a real Azurite: outcomes, expiry, takeover and races."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from azure.data.tables import TableServiceClient

from scheduling_core.adapters.idempotency_table import TableIdempotencyStore, partition_key, split_utf16
from scheduling_core.adapters.tables import Tables
from scheduling_core.ports import IdempotencyOutcome, StoredResponse

pytestmark = pytest.mark.integration

T = TypeVar("T")
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SCOPE = "bookings"
HASH_A = "a" * 64
HASH_B = "b" * 64
RESPONSE = StoredResponse(
    status=201,
    body='{"id": "bk_1", "status": "confirmed"}',
    headers={"Location": "/api/bookings/bk_1", "Content-Type": "application/json"},
)


@pytest.fixture
def tables(azurite: Any) -> Tables:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return Tables(service, prefix="t" + uuid.uuid4().hex[:10])


@pytest.fixture
def store(tables: Tables) -> TableIdempotencyStore:
    return TableIdempotencyStore(tables, ttl=timedelta(hours=24), stale_after=timedelta(seconds=120))


def _key() -> str:
    return f"run-{uuid.uuid4()}"


def _race(n: int, call: Callable[[], T]) -> list[T]:
    """Run `call` on `n` threads released at the same instant; re-raise the first failure."""
    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            result = call()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_first_begin_proceeds_and_a_completed_request_replays_exactly(store: TableIdempotencyStore) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, key, RESPONSE, T0 + timedelta(seconds=1))

    replay = store.begin(SCOPE, key, HASH_A, T0 + timedelta(minutes=5))
    assert replay.outcome is IdempotencyOutcome.REPLAY
    assert replay.response == RESPONSE
    assert replay.response is not None and dict(replay.response.headers) == dict(RESPONSE.headers)
    # replaying does not consume anything
    assert store.begin(SCOPE, key, HASH_A, T0 + timedelta(hours=23)).response == RESPONSE


def test_a_different_request_with_the_same_key_is_key_reused_in_progress_and_after_completion(
    store: TableIdempotencyStore,
) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    assert store.begin(SCOPE, key, HASH_B, T0 + timedelta(seconds=1)).outcome is IdempotencyOutcome.KEY_REUSED
    # even once the first claim is stale, a different request does not take it over
    assert (
        store.begin(SCOPE, key, HASH_B, T0 + timedelta(minutes=10)).outcome is IdempotencyOutcome.KEY_REUSED
    )
    store.complete(SCOPE, key, RESPONSE, T0 + timedelta(seconds=2))
    claim = store.begin(SCOPE, key, HASH_B, T0 + timedelta(seconds=3))
    assert claim.outcome is IdempotencyOutcome.KEY_REUSED and claim.response is None


def test_the_same_request_while_the_first_runs_is_in_progress(store: TableIdempotencyStore) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.IN_PROGRESS
    assert (
        store.begin(SCOPE, key, HASH_A, T0 + timedelta(seconds=120)).outcome is IdempotencyOutcome.IN_PROGRESS
    )


def test_a_stale_in_progress_claim_is_taken_over_once(store: TableIdempotencyStore) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    later = T0 + timedelta(seconds=121)
    assert store.begin(SCOPE, key, HASH_A, later).outcome is IdempotencyOutcome.PROCEED
    # the takeover is a fresh claim: its clock starts again
    assert (
        store.begin(SCOPE, key, HASH_A, later + timedelta(seconds=60)).outcome
        is IdempotencyOutcome.IN_PROGRESS
    )
    store.complete(SCOPE, key, RESPONSE, later + timedelta(seconds=61))
    assert store.begin(SCOPE, key, HASH_A, later + timedelta(minutes=5)).outcome is IdempotencyOutcome.REPLAY


def test_an_expired_record_is_fresh_again_for_any_request(store: TableIdempotencyStore) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, key, RESPONSE, T0 + timedelta(seconds=1))
    assert store.begin(SCOPE, key, HASH_A, T0 + timedelta(hours=24)).outcome is IdempotencyOutcome.REPLAY

    expired = T0 + timedelta(hours=24, seconds=1)
    assert store.begin(SCOPE, key, HASH_A, expired).outcome is IdempotencyOutcome.PROCEED
    # the old response is gone with the old record
    assert store.begin(SCOPE, key, HASH_A, expired).outcome is IdempotencyOutcome.IN_PROGRESS
    other = _key()
    assert store.begin(SCOPE, other, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, other, RESPONSE, T0)
    assert store.begin(SCOPE, other, HASH_B, expired).outcome is IdempotencyOutcome.PROCEED
    assert store.begin(SCOPE, other, HASH_A, expired).outcome is IdempotencyOutcome.KEY_REUSED


def test_abandon_lets_the_next_begin_proceed_and_is_quiet_when_nothing_is_there(
    store: TableIdempotencyStore,
) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.abandon(SCOPE, key)
    assert store.begin(SCOPE, key, HASH_A, T0 + timedelta(seconds=1)).outcome is IdempotencyOutcome.PROCEED
    store.abandon(SCOPE, key)
    store.abandon(SCOPE, key)
    store.abandon(SCOPE, _key())


def test_complete_after_abandon_does_not_resurrect_the_record(store: TableIdempotencyStore) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.abandon(SCOPE, key)
    store.complete(SCOPE, key, RESPONSE, T0)
    assert store.begin(SCOPE, key, HASH_B, T0).outcome is IdempotencyOutcome.PROCEED


def test_scopes_are_independent(store: TableIdempotencyStore) -> None:
    key = _key()
    assert store.begin("bookings", key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    assert store.begin("holds", key, HASH_B, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete("bookings", key, RESPONSE, T0)
    assert store.begin("holds", key, HASH_B, T0).outcome is IdempotencyOutcome.IN_PROGRESS
    assert store.begin("bookings", key, HASH_A, T0).response == RESPONSE
    # the separator keeps the scope/key boundary: moving characters across it changes the partition
    assert partition_key("ab", "c") != partition_key("a", "bc")


@pytest.mark.parametrize(
    "key",
    ["flow/run#1?x=y", "a\\b", "café ☕ 予約 🗓️", "tab\there", "'quoted' \"double\"", "x" * 255, " "],
)
def test_keys_table_storage_forbids_work(store: TableIdempotencyStore, key: str) -> None:
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.IN_PROGRESS
    store.complete(SCOPE, key, RESPONSE, T0)
    assert store.begin(SCOPE, key, HASH_A, T0).response == RESPONSE
    store.abandon(SCOPE, key)
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED


def test_twenty_simultaneous_first_requests_yield_exactly_one_proceed(store: TableIdempotencyStore) -> None:
    key = _key()
    store.begin("warm-up", _key(), HASH_A, T0)  # create the table before the race
    outcomes = Counter(c.outcome for c in _race(20, lambda: store.begin(SCOPE, key, HASH_A, T0)))
    assert outcomes == {IdempotencyOutcome.PROCEED: 1, IdempotencyOutcome.IN_PROGRESS: 19}


def test_twenty_simultaneous_first_requests_on_a_cold_table_yield_exactly_one_proceed(
    store: TableIdempotencyStore,
) -> None:
    key = _key()
    outcomes = Counter(c.outcome for c in _race(20, lambda: store.begin(SCOPE, key, HASH_A, T0)))
    assert outcomes == {IdempotencyOutcome.PROCEED: 1, IdempotencyOutcome.IN_PROGRESS: 19}


def test_ten_simultaneous_takeovers_of_a_stale_claim_yield_exactly_one_proceed(
    store: TableIdempotencyStore,
) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    stale = T0 + timedelta(minutes=5)
    outcomes = Counter(c.outcome for c in _race(10, lambda: store.begin(SCOPE, key, HASH_A, stale)))
    assert outcomes == {IdempotencyOutcome.PROCEED: 1, IdempotencyOutcome.IN_PROGRESS: 9}


def test_ten_simultaneous_reuses_of_an_expired_key_yield_exactly_one_proceed(
    store: TableIdempotencyStore,
) -> None:
    key = _key()
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, key, RESPONSE, T0)
    expired = T0 + timedelta(days=2)
    outcomes = Counter(c.outcome for c in _race(10, lambda: store.begin(SCOPE, key, HASH_B, expired)))
    assert outcomes == {IdempotencyOutcome.PROCEED: 1, IdempotencyOutcome.IN_PROGRESS: 9}


def test_a_60000_character_body_round_trips(store: TableIdempotencyStore) -> None:
    key = _key()
    body = "".join(chr(ord("a") + i % 26) for i in range(60_000))
    response = StoredResponse(status=200, body=body, headers={"Content-Type": "text/plain"})
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, key, response, T0)
    assert store.begin(SCOPE, key, HASH_A, T0).response == response


def test_a_body_of_astral_characters_round_trips(store: TableIdempotencyStore) -> None:
    """Characters outside the BMP take two UTF-16 units each: chunks are sized in units, not characters."""
    key = _key()
    body = "🗓️é" * 10_000 + "end"
    response = StoredResponse(status=201, body=body, headers={})
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, key, response, T0)
    assert store.begin(SCOPE, key, HASH_A, T0).response == response


def test_an_empty_body_round_trips(store: TableIdempotencyStore) -> None:
    key = _key()
    response = StoredResponse(status=204, body="", headers={})
    assert store.begin(SCOPE, key, HASH_A, T0).outcome is IdempotencyOutcome.PROCEED
    store.complete(SCOPE, key, response, T0)
    assert store.begin(SCOPE, key, HASH_A, T0).response == response


def test_split_utf16_respects_the_unit_limit_and_never_splits_a_character() -> None:
    text = "ab🗓cd🗓🗓e"
    for limit in (2, 3, 4, 5):
        chunks = split_utf16(text, limit)
        assert "".join(chunks) == text
        assert all(len(c.encode("utf-16-le")) // 2 <= limit for c in chunks)
    assert split_utf16("") == [""]
    assert [len(c) for c in split_utf16("x" * 60_000)] == [30_000, 30_000]


def test_naive_now_is_refused(store: TableIdempotencyStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.begin(SCOPE, _key(), HASH_A, datetime(2026, 11, 24, 12, 0))
