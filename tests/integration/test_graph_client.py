"""`GraphClient` and `CachedBusyTimes` over real HTTP against the Graph simulator, which injects faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from scheduling_core.adapters.clock import FixedClock
from scheduling_core.adapters.credentials import (
    AzureCredentialToken,
    StaticToken,
    token_provider_from_settings,
)
from scheduling_core.adapters.graph import CachedBusyTimes, GraphClient
from scheduling_core.adapters.graph_models import parse_graph_datetime
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import ShowAs
from scheduling_core.errors import GraphRequestRejected, UpstreamUnavailable
from scheduling_core.ports import Mailbox
from tests.fixtures.graph import SIM_TOKEN, GraphSim

pytestmark = pytest.mark.integration

DAY = datetime(2026, 12, 1, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def mailbox(graph: GraphSim, name: str) -> Mailbox:
    """A host whose Entra id and mail the simulator knows."""
    user = graph.create_user(f"{name}@contoso.com", id=f"id-{name}")
    return Mailbox(host_id=user["id"], email=user["mail"])


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(graph: GraphSim, **overrides: Any) -> GraphClient:
    settings: dict[str, Any] = {"base_url": graph.v1, "tokens": StaticToken(SIM_TOKEN), "random": Random(7)}
    settings.update(overrides)
    return GraphClient(**settings)


def schedule_requests(graph: GraphSim) -> list[dict[str, Any]]:
    return graph.requests(path_contains="/calendar/getSchedule", method="POST")


# -- getSchedule ------------------------------------------------------------------------------------


def test_items_come_back_in_utc_with_their_status(graph: GraphSim, graph_client: GraphClient) -> None:
    ana = mailbox(graph, "ana")
    graph.post_event(
        "ana@contoso.com",
        start="2026-12-01T09:00:00",
        end="2026-12-01T10:00:00",
        time_zone="Central Standard Time",
        show_as="tentative",
    )
    graph.post_event("ana@contoso.com", start=at(18), end=at(19), time_zone="Europe/Berlin", show_as="free")

    result = graph_client.get_schedule([ana], Interval(at(0), at(24)))

    items = result[ana.host_id].items
    assert [(item.start, item.end, item.show_as) for item in items] == [
        (at(15), at(16), ShowAs.TENTATIVE),
        (at(18), at(19), ShowAs.FREE),
    ]
    assert all(item.start.tzinfo is UTC for item in items)
    assert result[ana.host_id].error is None
    (request,) = schedule_requests(graph)
    assert request["headers"]["prefer"] == 'outlook.timezone="UTC"'
    assert request["headers"]["authorization"] == "Bearer <redacted>"
    assert request["path"] == f"/v1.0/users/{ana.host_id}/calendar/getSchedule"


def test_many_mailboxes_are_asked_for_in_chunks_of_twenty(graph: GraphSim) -> None:
    hosts = [mailbox(graph, f"rep{i:02d}") for i in range(45)]
    for i, host in enumerate(hosts):
        graph.post_event(host.email, start=at(8, i), end=at(9, i))

    with client(graph, max_concurrency=3) as graph_client:
        result = graph_client.get_schedule(hosts, Interval(at(0), at(24)))

    assert set(result) == {host.host_id for host in hosts}
    for i, host in enumerate(hosts):
        assert [(item.start, item.end) for item in result[host.host_id].items] == [(at(8, i), at(9, i))]
    sizes = sorted(len(request["json"]["schedules"]) for request in schedule_requests(graph))
    assert sizes == [5, 20, 20]
    assert all(
        request["headers"]["prefer"] == 'outlook.timezone="UTC"' for request in schedule_requests(graph)
    )


def test_a_window_longer_than_graph_allows_is_split_and_merged(
    graph: GraphSim, graph_client: GraphClient
) -> None:
    ana = mailbox(graph, "ana")
    graph.post_event(ana.email, start=at(9), end=at(10))
    boundary = DAY + timedelta(days=61)
    graph.post_event(ana.email, start=boundary - timedelta(hours=1), end=boundary + timedelta(hours=1))
    graph.post_event(
        ana.email, start=at(9, day=DAY + timedelta(days=99)), end=at(10, day=DAY + timedelta(days=99))
    )

    result = graph_client.get_schedule([ana], Interval(DAY, DAY + timedelta(days=100)))

    assert [item.start for item in result[ana.host_id].items] == [
        at(9),
        boundary - timedelta(hours=1),  # reported by both pieces, kept once
        at(9, day=DAY + timedelta(days=99)),
    ]
    windows = []
    for request in schedule_requests(graph):
        body = request["json"]
        start = parse_graph_datetime(body["startTime"]["dateTime"], body["startTime"]["timeZone"])
        end = parse_graph_datetime(body["endTime"]["dateTime"], body["endTime"]["timeZone"])
        windows.append((start, end))
    assert len(windows) == 2
    assert all(end - start < timedelta(days=62) for start, end in windows)
    assert min(start for start, _ in windows) == DAY
    assert max(end for _, end in windows) == DAY + timedelta(days=100)


def test_an_unknown_address_is_a_per_host_error(graph: GraphSim, graph_client: GraphClient) -> None:
    ana = mailbox(graph, "ana")
    ghost = Mailbox(host_id="id-ghost", email="ghost@contoso.com")
    graph.post_event(ana.email, start=at(9), end=at(10))

    result = graph_client.get_schedule([ana, ghost], Interval(at(0), at(24)))

    assert len(result[ana.host_id].items) == 1
    assert result[ana.host_id].error is None
    assert result[ghost.host_id].items == ()
    assert result[ghost.host_id].error is not None
    assert "5009" in result[ghost.host_id].error


def test_throttling_is_waited_out_for_real(graph: GraphSim) -> None:
    ana = mailbox(graph, "ana")
    graph.add_fault(429, retry_after=1, path_contains="getSchedule")

    with client(graph) as graph_client:
        started = time.monotonic()
        result = graph_client.get_schedule([ana], Interval(at(0), at(24)))
        elapsed = time.monotonic() - started

    assert result[ana.host_id].error is None
    assert 0.9 <= elapsed < 4
    assert [request["status"] for request in schedule_requests(graph)] == [429, 200]


def test_unavailability_past_the_retry_budget_raises(graph: GraphSim) -> None:
    ana = mailbox(graph, "ana")
    graph.add_fault(503, count=10, path_contains="getSchedule")
    sleep = RecordedSleep()

    with (
        client(graph, max_retries=3, sleep=sleep) as graph_client,
        pytest.raises(UpstreamUnavailable) as raised,
    ):
        graph_client.get_schedule([ana], Interval(at(0), at(24)))

    assert raised.value.service == "graph"
    assert len(schedule_requests(graph)) == 4
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays, start=1):
        step = 0.5 * 2 ** (attempt - 1)
        assert step / 2 <= delay <= step  # exponential, jittered


def test_a_retry_after_beyond_the_time_budget_gives_up_at_once(graph: GraphSim) -> None:
    ana = mailbox(graph, "ana")
    graph.add_fault(429, retry_after=30, count=5, path_contains="getSchedule")
    sleep = RecordedSleep()

    with (
        client(graph, max_total_seconds=5, sleep=sleep) as graph_client,
        pytest.raises(UpstreamUnavailable) as raised,
    ):
        graph_client.get_schedule([ana], Interval(at(0), at(24)))

    assert raised.value.retry_after_seconds == 30
    assert sleep.delays == []
    assert len(schedule_requests(graph)) == 1


def test_slow_answers_time_out_and_are_retried_then_given_up(graph: GraphSim) -> None:
    ana = mailbox(graph, "ana")
    graph.add_fault(None, delay_seconds=2, count=3, path_contains="getSchedule")
    sleep = RecordedSleep()

    with client(graph, timeout_seconds=0.5, max_retries=2, sleep=sleep) as graph_client:
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as raised:
            graph_client.get_schedule([ana], Interval(at(0), at(24)))
        elapsed = time.monotonic() - started

    assert "Timeout" in raised.value.detail
    assert len(schedule_requests(graph)) == 3
    assert len(sleep.delays) == 2
    assert elapsed < 2.5


def test_a_rejected_request_is_permanent_and_not_retried(graph: GraphSim) -> None:
    ana = mailbox(graph, "ana")
    graph.add_fault(403, count=1, path_contains="getSchedule")  # one: later tests share the simulator
    sleep = RecordedSleep()

    with client(graph, sleep=sleep) as graph_client, pytest.raises(GraphRequestRejected) as raised:
        graph_client.get_schedule([ana], Interval(at(0), at(24)))

    assert raised.value.status_code == 403
    assert raised.value.code == "BadRequest"
    assert len(schedule_requests(graph)) == 1
    assert sleep.delays == []


# -- CachedBusyTimes --------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))


@pytest.fixture
def cache(graph_client: GraphClient, clock: FixedClock) -> Iterator[CachedBusyTimes]:
    return CachedBusyTimes(graph_client, ttl_seconds=60, clock=clock)


def test_the_cache_answers_windows_inside_what_it_fetched(graph: GraphSim, cache: CachedBusyTimes) -> None:
    ana = mailbox(graph, "ana")
    graph.post_event(ana.email, start=at(9), end=at(10))
    graph.post_event(ana.email, start=at(15), end=at(16))

    first = cache.free_busy([ana], Interval(at(8), at(17)))
    assert len(first[ana.host_id].items) == 2
    later_that_day = cache.free_busy([ana], Interval(at(14), at(18)))  # padded to the whole UTC day
    assert [item.start for item in later_that_day[ana.host_id].items] == [at(15)]
    assert len(schedule_requests(graph)) == 1
    (request,) = schedule_requests(graph)
    assert request["json"]["startTime"]["dateTime"].startswith("2026-12-01T00:00:00")
    assert request["json"]["endTime"]["dateTime"].startswith("2026-12-02T00:00:00")

    cache.free_busy([ana], Interval(at(9, day=DAY + timedelta(days=1)), at(10, day=DAY + timedelta(days=1))))
    assert len(schedule_requests(graph)) == 2  # outside the cached window


def test_the_cache_expires_after_its_ttl(graph: GraphSim, cache: CachedBusyTimes, clock: FixedClock) -> None:
    ana = mailbox(graph, "ana")
    window = Interval(at(8), at(17))
    cache.free_busy([ana], window)
    graph.post_event(ana.email, start=at(9), end=at(10))

    clock.set(clock.now() + timedelta(seconds=59))
    assert cache.free_busy([ana], window)[ana.host_id].items == ()
    clock.set(clock.now() + timedelta(seconds=2))
    assert len(cache.free_busy([ana], window)[ana.host_id].items) == 1
    assert len(schedule_requests(graph)) == 2


def test_fresh_and_invalidation_bypass_the_cache(graph: GraphSim, cache: CachedBusyTimes) -> None:
    ana, ben = mailbox(graph, "ana"), mailbox(graph, "ben")
    window = Interval(at(8), at(17))
    cache.free_busy([ana, ben], window)
    graph.post_event(ana.email, start=at(9), end=at(10))

    assert cache.free_busy([ana], window)[ana.host_id].items == ()
    assert len(cache.free_busy([ana], window, fresh=True)[ana.host_id].items) == 1
    assert len(schedule_requests(graph)) == 2

    graph.post_event(ben.email, start=at(11), end=at(12))
    cache.invalidate(ben.host_id)
    both = cache.free_busy([ana, ben], window)
    assert len(both[ben.host_id].items) == 1
    assert len(both[ana.host_id].items) == 1
    (refetch,) = schedule_requests(graph)[2:]
    assert refetch["json"]["schedules"] == [ben.email]  # only the missing host is fetched

    cache.invalidate_all()
    cache.free_busy([ana, ben], window)
    assert len(schedule_requests(graph)) == 4
    assert sorted(schedule_requests(graph)[3]["json"]["schedules"]) == [ana.email, ben.email]


def test_per_host_errors_are_not_cached(graph: GraphSim, cache: CachedBusyTimes) -> None:
    ana = mailbox(graph, "ana")
    ghost = Mailbox(host_id="id-ghost", email="ghost@contoso.com")
    window = Interval(at(8), at(17))
    assert cache.free_busy([ana, ghost], window)[ghost.host_id].error is not None

    graph.create_user("ghost@contoso.com", id="id-ghost")
    again = cache.free_busy([ana, ghost], window)
    assert again[ghost.host_id].error is None
    assert schedule_requests(graph)[1]["json"]["schedules"] == [ghost.email]


# -- token providers --------------------------------------------------------------------------------


class CountingCredential:
    def __init__(self, lifetime_seconds: int) -> None:
        self.calls = 0
        self.lifetime = lifetime_seconds
        self.now = 1_000_000.0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(f"token-{self.calls}-{scopes[0]}", int(self.now) + self.lifetime)


def test_azure_credential_tokens_are_cached_until_near_expiry() -> None:
    credential = CountingCredential(lifetime_seconds=3600)
    tokens = AzureCredentialToken(
        credential, "https://graph.microsoft.com/.default", now=lambda: credential.now
    )
    assert tokens.token() == tokens.token() == "token-1-https://graph.microsoft.com/.default"
    credential.now += 3600 - 301
    assert tokens.token() == "token-1-https://graph.microsoft.com/.default"
    credential.now += 2  # inside the five-minute refresh margin
    assert tokens.token() == "token-2-https://graph.microsoft.com/.default"
    tokens.invalidate()
    assert tokens.token() == "token-3-https://graph.microsoft.com/.default"


def test_settings_pick_the_most_explicit_token_provider() -> None:
    static = token_provider_from_settings(
        static_token="abc", tenant_id="t", client_id="c", client_secret="s", scope="x/.default"
    )
    assert isinstance(static, StaticToken)
    assert static.token() == "abc"
    secret = token_provider_from_settings(
        static_token=None, tenant_id="t", client_id="c", client_secret="s", scope="x/.default"
    )
    assert isinstance(secret, AzureCredentialToken)
    assert "ClientSecretCredential" in repr(secret)
    ambient = token_provider_from_settings(
        static_token=None, tenant_id=None, client_id=None, client_secret=None, scope="x/.default"
    )
    assert isinstance(ambient, AzureCredentialToken)
    assert "DefaultAzureCredential" in repr(ambient)
