"""Fairness with attendance (routing.md): an invitee's no-show or cancel counts `noShowWeight` of one."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from scheduling_core.documents.routing_decisions import (
    decision_from_json,
    decision_to_json,
    inputs_from_json,
    inputs_to_json,
)
from scheduling_core.documents.rule_sets import RuleSetDoc
from scheduling_core.domain.routing.engine import route
from scheduling_core.domain.routing.fairness import order_by_fairness
from scheduling_core.domain.routing.inputs import HostProfile, HostStats, RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import Fairness, Rule, RuleSet, Strategy

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOSTS = {h: HostProfile(id=h, weight=100) for h in ("a", "b")}


def test_balanced_counts_an_invitee_no_show_or_cancel_as_half_a_booking_by_default() -> None:
    # a: 2 whole bookings (2); b: 1 whole + 3 discounted (1 + 1.5 = 2.5) -> a is ahead.
    stats = {
        "a": HostStats(bookings_last_30_days=2),
        "b": HostStats(bookings_last_30_days=1, discounted_last_30_days=3),
    }
    assert order_by_fairness(("a", "b"), Fairness.BALANCED, HOSTS, stats) == ("a", "b")
    # Counted whole (weight 1), b has 4 against a's 2; counted as nothing (weight 0), b has 1.
    assert order_by_fairness(("a", "b"), Fairness.BALANCED, HOSTS, stats, Fraction(1)) == ("a", "b")
    assert order_by_fairness(("a", "b"), Fairness.BALANCED, HOSTS, stats, Fraction(0)) == ("b", "a")


def test_balanced_with_one_discounted_booking_ties_at_half_and_breaks_by_id() -> None:
    # a: 1 whole; b: 2 discounted = 1 at weight 0.5 -> tie, host id decides; at 0.75 b counts 1.5.
    stats = {"a": HostStats(bookings_last_30_days=1), "b": HostStats(discounted_last_30_days=2)}
    assert order_by_fairness(("b", "a"), Fairness.BALANCED, HOSTS, stats) == ("a", "b")
    assert order_by_fairness(("b", "a"), Fairness.BALANCED, HOSTS, stats, Fraction(3, 4)) == ("a", "b")
    assert order_by_fairness(("a", "b"), Fairness.BALANCED, HOSTS, stats, Fraction(1, 4)) == ("b", "a")


def test_weighted_rotation_discounts_assignments_that_ended_in_a_no_show() -> None:
    # Both were assigned 4; two of b's ended in an invitee no-show: b counts 3, a counts 4 -> b first.
    stats = {
        "a": HostStats(assignments=4),
        "b": HostStats(assignments=4, discounted_assignments=2),
    }
    assert order_by_fairness(("a", "b"), Fairness.WEIGHTED, HOSTS, stats) == ("b", "a")
    assert order_by_fairness(("a", "b"), Fairness.WEIGHTED, HOSTS, stats, Fraction(1)) == ("a", "b")


def test_a_rules_no_show_weight_decides_route_and_survives_the_stored_json() -> None:
    rule = Rule(
        name="rr",
        strategy=Strategy.ROUND_ROBIN,
        pool=("a", "b"),
        fairness=Fairness.BALANCED,
        no_show_weight=Fraction(1),
    )
    stats = {
        "a": HostStats(bookings_last_30_days=2),
        "b": HostStats(discounted_last_30_days=3),
    }
    inputs = RoutingInputs(
        rule_set=RuleSet(id="rs", rules=(rule,)), context=RoutingContext(), hosts=HOSTS, stats=stats, now=NOW
    )
    decision = route(inputs)
    assert decision.host_ids == ("a", "b")  # b's three count whole: 3 against a's 2
    assert decision.no_show_weight == Fraction(1)
    assert decision_from_json(decision_to_json(decision)) == decision
    replayed = inputs_from_json(inputs_to_json(inputs))
    assert replayed.stats == stats and replayed.rule_set.rules[0].no_show_weight == Fraction(1)
    assert route(replayed) == decision
    default_rule = Rule(name="rr", strategy=Strategy.ROUND_ROBIN, pool=("a", "b"), fairness=Fairness.BALANCED)
    with_default = route(
        RoutingInputs(
            rule_set=RuleSet(id="rs", rules=(default_rule,)),
            context=RoutingContext(),
            hosts=HOSTS,
            stats=stats,
            now=NOW,
        )
    )
    assert with_default.host_ids == ("b", "a")  # b's three count half: 1.5 against a's 2


def test_the_rule_document_takes_no_show_weight_between_0_and_1_defaulting_to_half() -> None:
    doc = {"rules": [{"name": "rr", "strategy": "roundRobin", "pool": ["a"], "fairness": "weighted"}]}
    assert RuleSetDoc.model_validate(doc).to_domain("rs").rules[0].no_show_weight == Fraction(1, 2)
    doc["rules"][0]["noShowWeight"] = 0.3
    assert RuleSetDoc.model_validate(doc).to_domain("rs").rules[0].no_show_weight == Fraction(3, 10)
    doc["rules"][0]["noShowWeight"] = 1.5
    with pytest.raises(ValueError, match="noShowWeight"):
        RuleSetDoc.model_validate(doc)
