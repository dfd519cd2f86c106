"""Fairness among a pool: weighted rotation, least recently booked, balanced; `pick` at booking time."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduling_core.domain.routing.engine import route
from scheduling_core.domain.routing.fairness import order_by_fairness, pick
from scheduling_core.domain.routing.inputs import HostProfile, HostStats, RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import Fairness, Rule, RuleSet, Strategy

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def profiles(**weights: int) -> dict[str, HostProfile]:
    return {host_id: HostProfile(id=host_id, weight=weight) for host_id, weight in weights.items()}


def test_weighted_rotation_over_300_picks_follows_weights_1_1_2() -> None:
    hosts = profiles(a=100, b=100, c=200)
    stats = {h: HostStats() for h in hosts}
    picks: list[str] = []
    for _ in range(300):
        chosen = pick(("a", "b", "c"), {"a", "b", "c"}, Fairness.WEIGHTED, hosts, stats)
        assert chosen is not None
        picks.append(chosen)
        stats[chosen] = replace(stats[chosen], assignments=stats[chosen].assignments + 1)
    counts = Counter(picks)
    for host_id, share in (("a", 0.25), ("b", 0.25), ("c", 0.50)):
        assert abs(counts[host_id] / 300 - share) <= 0.02
    assert counts == {"a": 75, "b": 75, "c": 150}  # exact: the rotation is deterministic
    assert "".join(picks[:8]) == "cabccabc"  # interleaved, not in runs


def test_weighted_rotation_through_route_with_a_round_robin_rule() -> None:
    rule = Rule(name="rr", strategy=Strategy.ROUND_ROBIN, pool=("c", "b", "a"), fairness=Fairness.WEIGHTED)
    hosts = profiles(a=1, b=1, c=2)
    stats = {h: HostStats() for h in hosts}
    counts: Counter[str] = Counter()
    for _ in range(300):
        decision = route(
            RoutingInputs(
                rule_set=RuleSet(id="rs", rules=(rule,)),
                context=RoutingContext(),
                hosts=hosts,
                stats=stats,
                now=NOW,
            )
        )
        chosen = decision.host_ids[0]
        counts[chosen] += 1
        stats[chosen] = replace(stats[chosen], assignments=stats[chosen].assignments + 1)
    assert counts == {"a": 75, "b": 75, "c": 150}


def test_weight_zero_comes_last_under_weighted_and_balanced() -> None:
    hosts = profiles(a=0, b=100)
    stats = {"a": HostStats(), "b": HostStats(assignments=50, bookings_last_30_days=50)}
    assert order_by_fairness(("a", "b"), Fairness.WEIGHTED, hosts, stats) == ("b", "a")
    assert order_by_fairness(("a", "b"), Fairness.BALANCED, hosts, stats) == ("b", "a")
    assert pick(("a", "b"), {"a"}, Fairness.WEIGHTED, hosts, stats) == "a"  # still used when alone


def test_least_recently_booked_alternates_strictly_when_all_are_free() -> None:
    hosts = profiles(x=100, y=100, z=100)
    stats = {h: HostStats() for h in hosts}
    picks: list[str] = []
    for minute in range(30):
        chosen = pick(("z", "x", "y"), {"x", "y", "z"}, Fairness.LEAST_RECENTLY_BOOKED, hosts, stats)
        assert chosen is not None
        picks.append(chosen)
        stats[chosen] = replace(stats[chosen], last_booked_at=NOW + timedelta(minutes=minute))
    assert picks == ["x", "y", "z"] * 10


def test_least_recently_booked_puts_never_booked_first_then_oldest() -> None:
    hosts = profiles(a=100, b=100, c=100, d=100)
    stats = {
        "a": HostStats(last_booked_at=NOW - timedelta(days=1)),
        "b": HostStats(last_booked_at=NOW - timedelta(days=9)),
        "d": HostStats(last_booked_at=NOW - timedelta(days=1)),
    }
    assert order_by_fairness(("d", "a", "b", "c"), Fairness.LEAST_RECENTLY_BOOKED, hosts, stats) == (
        "c",
        "b",
        "a",
        "d",
    )


def test_least_recently_booked_compares_instants_across_offsets() -> None:
    hosts = profiles(a=100, b=100)
    plus_two = datetime(2026, 11, 24, 15, 0, tzinfo=timezone(timedelta(hours=2)))  # 13:00Z
    stats = {"a": HostStats(last_booked_at=plus_two), "b": HostStats(last_booked_at=NOW)}
    assert order_by_fairness(("a", "b"), Fairness.LEAST_RECENTLY_BOOKED, hosts, stats) == ("b", "a")


def test_balanced_prefers_fewest_bookings_relative_to_weight() -> None:
    hosts = profiles(a=100, b=200, c=100, d=100)
    stats = {
        "a": HostStats(bookings_last_30_days=4),  # 4/100
        "b": HostStats(bookings_last_30_days=6),  # 3/100
        "c": HostStats(bookings_last_30_days=3),  # 3/100, ties with b: id order
        "d": HostStats(bookings_last_30_days=8),
    }
    assert order_by_fairness(("d", "c", "b", "a"), Fairness.BALANCED, hosts, stats) == ("b", "c", "a", "d")


def test_balanced_rotation_keeps_bookings_proportional_to_weight() -> None:
    hosts = profiles(a=100, b=300)
    stats = {h: HostStats() for h in hosts}
    for _ in range(400):
        chosen = pick(("a", "b"), {"a", "b"}, Fairness.BALANCED, hosts, stats)
        assert chosen is not None
        stats[chosen] = replace(stats[chosen], bookings_last_30_days=stats[chosen].bookings_last_30_days + 1)
    assert (stats["a"].bookings_last_30_days, stats["b"].bookings_last_30_days) == (100, 300)


@pytest.mark.parametrize("fairness", list(Fairness))
def test_pick_skips_hosts_that_are_not_free_at_the_slot(fairness: Fairness) -> None:
    hosts = profiles(a=100, b=100, c=100)
    stats = {h: HostStats() for h in hosts}
    assert pick(("a", "b", "c"), {"b", "c"}, fairness, hosts, stats) == "b"
    assert pick(("a", "b", "c"), {"c", "outsider"}, fairness, hosts, stats) == "c"
    assert pick(("a", "b", "c"), set(), fairness, hosts, stats) is None


def test_pick_skips_hosts_that_became_inactive_or_left_the_directory() -> None:
    hosts = {"a": HostProfile(id="a", active=False), "b": HostProfile(id="b")}
    assert pick(("a", "b", "c"), {"a", "b", "c"}, Fairness.LEAST_RECENTLY_BOOKED, hosts, {}) == "b"
    assert pick(("a", "c"), {"a", "c"}, Fairness.LEAST_RECENTLY_BOOKED, hosts, {}) is None


def test_pick_ranks_by_surplus_before_fairness() -> None:
    hosts = profiles(a=100, b=100)
    stats = {"b": HostStats(last_booked_at=NOW)}
    assert pick(("a", "b"), {"a", "b"}, Fairness.LEAST_RECENTLY_BOOKED, hosts, stats) == "a"
    assert (
        pick(("a", "b"), {"a", "b"}, Fairness.LEAST_RECENTLY_BOOKED, hosts, stats, surplus={"a": 0, "b": 2})
        == "b"
    )


def test_order_by_fairness_ignores_input_order_and_duplicates() -> None:
    hosts = profiles(a=100, b=100, c=100)
    for fairness in Fairness:
        assert order_by_fairness(("c", "a", "b", "a"), fairness, hosts, {}) == ("a", "b", "c")
