"""The routing engine: strategies, fall-through, eligibility, replay and determinism (routing.md)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling_core.documents.routing_decisions import (
    decision_from_json,
    decision_to_json,
    inputs_from_json,
    inputs_to_json,
)
from scheduling_core.documents.rule_sets import RuleSetDoc
from scheduling_core.domain.routing.decisions import RoutingDecision
from scheduling_core.domain.routing.engine import route
from scheduling_core.domain.routing.fairness import choose_host
from scheduling_core.domain.routing.inputs import HostProfile, HostStats, RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import (
    Eligibility,
    Fairness,
    Rule,
    RuleSet,
    Strategy,
    TerritoryMatch,
)
from scheduling_core.domain.routing.skills import parse_skills
from scheduling_core.domain.values import Host, LocalTimeRange, WorkingHoursRule

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NINE_TO_FIVE = (
    WorkingHoursRule(
        days=frozenset({"mon", "tue", "wed", "thu", "fri"}),
        hours=LocalTimeRange(start_minute=9 * 60, end_minute=17 * 60),
    ),
)


def host(host_id: str, **kw: Any) -> Host:
    base = Host(
        id=host_id,
        email=f"{host_id}@contoso.com",
        display_name=host_id.upper(),
        time_zone="Europe/Berlin",
        working_hours=NINE_TO_FIVE,
    )
    return replace(base, **kw)


def directory(*hosts: Host) -> dict[str, Host]:
    return {h.id: h for h in hosts}


def rules(*rules: Rule, eligibility: Eligibility | None = None) -> RuleSet:
    return RuleSet(id="default", rules=rules, eligibility=eligibility or Eligibility())


def inputs(
    rule_set: RuleSet,
    hosts: Mapping[str, Host],
    context: RoutingContext | None = None,
    stats: Mapping[str, HostStats] | None = None,
) -> RoutingInputs:
    return RoutingInputs(
        rule_set=rule_set, context=context or RoutingContext(), hosts=hosts, stats=stats or {}, now=NOW
    )


OWNER = Rule(name="lead owner", strategy=Strategy.OWNER, when_record_types=frozenset({"lead"}))
TEAM = Rule(
    name="account team",
    strategy=Strategy.ACCOUNT_TEAM,
    when_record_types=frozenset({"opportunity", "account"}),
    role="CSM",
)
TERRITORY = Rule(
    name="territory",
    strategy=Strategy.TERRITORY,
    territories={
        "DACH": TerritoryMatch(countries=frozenset({"DE", "AT", "CH"})),
        "US-West": TerritoryMatch(postal_prefixes=("9",)),
    },
)
SKILLS = Rule(name="field skills", strategy=Strategy.SKILLS, require={"field-service": 3})
FALLBACK = Rule(name="fallback", strategy=Strategy.ROUND_ROBIN, pool=("h1", "h2", "h3"))
EXAMPLE = rules(OWNER, TEAM, TERRITORY, SKILLS, FALLBACK)

HOSTS = directory(
    host("h1"),
    host("h2"),
    host("h3"),
    host("ana", territories=("DACH",), skills={"german": 5, "field-service": 3}),
    host("ben", territories=("DACH", "US-West"), skills={"field-service": 5}),
    host("cy", territories=("US-West",), skills={"german": 3, "field-service": 4}),
    host("dee", skills={"field-service": 2}),
)


# ---------------------------------------------------------------------------------- strategies


def test_lead_owner_wins_for_a_lead() -> None:
    decision = route(inputs(EXAMPLE, HOSTS, RoutingContext(record_type="lead", owner_host_ids=("cy",))))
    assert (decision.rule, decision.strategy, decision.host_ids) == ("lead owner", "owner", ("cy",))
    assert decision.rule_set == "default"
    assert "cy" in decision.reason
    assert [t.rule for t in decision.trace] == ["lead owner"]


def test_when_condition_skips_rules_for_other_record_types() -> None:
    context = RoutingContext(
        record_type="opportunity", owner_host_ids=("cy",), account_team={"CSM": ("ben", "ana")}
    )
    decision = route(inputs(EXAMPLE, HOSTS, context))
    assert decision.rule == "account team"
    assert set(decision.host_ids) == {"ana", "ben"}
    owner_trace = decision.trace[0]
    assert not owner_trace.applied
    assert owner_trace.candidates == ()
    assert "opportunity" in owner_trace.reason
    assert decision.trace[1].applied


def test_record_type_matching_ignores_case() -> None:
    decision = route(inputs(EXAMPLE, HOSTS, RoutingContext(record_type="Lead", owner_host_ids=("cy",))))
    assert decision.rule == "lead owner"


def test_rule_with_when_does_not_apply_to_an_unknown_record_type() -> None:
    decision = route(inputs(rules(OWNER, FALLBACK), HOSTS, RoutingContext(owner_host_ids=("cy",))))
    assert decision.rule == "fallback"
    assert not decision.trace[0].applied
    assert "record type unknown" in decision.trace[0].reason


def test_account_team_uses_the_members_of_the_rule_role_only() -> None:
    context = RoutingContext(record_type="account", account_team={"CSM": ("ana",), "AE": ("ben",)})
    assert route(inputs(EXAMPLE, HOSTS, context)).host_ids == ("ana",)
    other_role = RoutingContext(record_type="account", account_team={"AE": ("ben",)})
    decision = route(inputs(rules(TEAM), HOSTS, other_role))
    assert decision.rule is None
    assert "no account team member with role CSM" in decision.trace[0].reason


def test_team_owner_yields_a_pool_ordered_by_fairness() -> None:
    stats = {
        "h1": HostStats(last_booked_at=NOW - timedelta(days=1)),
        "h2": HostStats(last_booked_at=NOW - timedelta(days=3)),
    }
    context = RoutingContext(record_type="lead", owner_host_ids=("h1", "h2", "h3"), owner_note="team T")
    decision = route(inputs(EXAMPLE, HOSTS, context, stats))
    assert decision.rule == "lead owner"
    assert decision.host_ids == ("h3", "h2", "h1")  # never booked, then oldest booking first
    assert decision.fairness == "leastRecentlyBooked"
    assert "team of 3" in decision.trace[0].reason
    assert "team T" in decision.trace[0].reason


def test_owner_without_a_bookable_host_falls_through_with_the_reason_in_the_trace() -> None:
    note = "owner systemuser 5a1 has no bookable host"
    context = RoutingContext(record_type="lead", owner_note=note, country="DE")
    decision = route(inputs(EXAMPLE, HOSTS, context))
    assert decision.rule == "territory"
    owner = decision.trace[0]
    assert owner.applied
    assert owner.candidates == ()
    assert owner.reason.endswith(note)


def test_owner_id_missing_from_the_directory_is_excluded_as_not_bookable() -> None:
    context = RoutingContext(record_type="lead", owner_host_ids=("aad-guid-unknown",), country="DE")
    decision = route(inputs(EXAMPLE, HOSTS, context))
    assert decision.rule == "territory"
    owner = decision.trace[0]
    assert owner.candidates == ("aad-guid-unknown",)
    assert owner.eligible == ()
    assert owner.excluded == {"aad-guid-unknown": "not a bookable host"}
    assert "none of 1 candidate(s) is eligible" in owner.reason


def test_owner_rule_without_an_owner_reports_it() -> None:
    decision = route(inputs(rules(OWNER, FALLBACK), HOSTS, RoutingContext(record_type="lead")))
    assert decision.trace[0].reason.endswith("record has no owner we know")


def test_territory_from_the_context_wins_over_country() -> None:
    context = RoutingContext(territory="us-west", country="DE")
    decision = route(inputs(rules(TERRITORY), HOSTS, context))
    assert set(decision.host_ids) == {"ben", "cy"}
    assert "from the context" in decision.reason


def test_territory_derived_from_country_is_case_insensitive() -> None:
    decision = route(inputs(rules(TERRITORY), HOSTS, RoutingContext(country="at")))
    assert set(decision.host_ids) == {"ana", "ben"}
    assert "territory DACH derived from country AT" in decision.reason


def test_territory_derived_from_postal_prefix() -> None:
    decision = route(inputs(rules(TERRITORY), HOSTS, RoutingContext(country="US", postal_code="94105")))
    assert set(decision.host_ids) == {"ben", "cy"}
    assert "prefix 9" in decision.trace[0].reason


def test_a_country_match_beats_a_mere_postal_prefix_match() -> None:
    # 90402 is Nuremberg: DACH by country, and it also starts with US-West's "9".
    decision = route(inputs(rules(TERRITORY), HOSTS, RoutingContext(country="DE", postal_code="90402")))
    assert set(decision.host_ids) == {"ana", "ben"}


def test_longest_postal_prefix_wins_and_both_constraints_must_hold() -> None:
    rule = Rule(
        name="uk",
        strategy=Strategy.TERRITORY,
        territories={
            "London": TerritoryMatch(countries=frozenset({"GB"}), postal_prefixes=("E", "SW")),
            "SW1": TerritoryMatch(countries=frozenset({"GB"}), postal_prefixes=("SW1",)),
        },
    )
    hosts = directory(host("lon", territories=("London",)), host("sw", territories=("SW1",)))
    decision = route(inputs(rules(rule), hosts, RoutingContext(country="GB", postal_code="sw1a 1aa")))
    assert decision.host_ids == ("sw",)
    decision = route(inputs(rules(rule), hosts, RoutingContext(country="GB", postal_code="E1 6AN")))
    assert decision.host_ids == ("lon",)
    decision = route(inputs(rules(rule), hosts, RoutingContext(country="IE", postal_code="E1 6AN")))
    assert decision.rule is None
    assert "none of the rule's territories matches" in decision.trace[0].reason


def test_territory_rule_without_anything_to_go_on_does_not_match() -> None:
    decision = route(inputs(rules(TERRITORY), HOSTS))
    assert decision.rule is None
    assert "no country or postal code" in decision.trace[0].reason


def test_skills_rank_by_total_surplus() -> None:
    decision = route(inputs(rules(SKILLS), HOSTS))
    # ben 5-3=2, cy 4-3=1, ana 3-3=0; dee has 2 < 3
    assert decision.host_ids == ("ben", "cy", "ana")
    assert decision.surplus == {"ben": 2, "cy": 1, "ana": 0}
    trace = decision.trace[0]
    assert trace.excluded["dee"] == "lacks skill field-service (has 2, needs 3)"
    assert trace.excluded["h1"] == "lacks skill field-service (has none, needs 3)"


def test_context_skills_add_requirements_and_raise_minimums() -> None:
    context = RoutingContext(skills=parse_skills("german:3,field-service:4"))
    decision = route(inputs(rules(SKILLS), HOSTS, context))
    # field-service needs max(3, 4) = 4 and german 3: only cy (surplus 0) qualifies.
    assert decision.host_ids == ("cy",)
    assert decision.trace[0].excluded["ana"] == "lacks skill field-service (has 3, needs 4)"
    assert decision.trace[0].excluded["ben"] == "lacks skill german (has none, needs 3)"


def test_skills_ties_fall_to_fairness_then_host_id() -> None:
    hosts = directory(*(host(h, skills={"x": 2}) for h in ("s3", "s1", "s2")))
    rule = Rule(name="x", strategy=Strategy.SKILLS, require={"x": 1})
    stats = {"s1": HostStats(last_booked_at=NOW)}
    assert route(inputs(rules(rule), hosts, stats=stats)).host_ids == ("s2", "s3", "s1")


def test_skills_rule_without_requirements_does_not_match() -> None:
    decision = route(inputs(rules(replace(SKILLS, require={}), FALLBACK), HOSTS))
    assert decision.rule == "fallback"
    assert "no skill required" in decision.trace[0].reason


def test_round_robin_pool_and_full_fall_through_order() -> None:
    decision = route(inputs(EXAMPLE, HOSTS, RoutingContext(record_type="case")))
    assert decision.rule == "field skills"  # lead owner and account team skipped, no territory
    assert [t.rule for t in decision.trace] == ["lead owner", "account team", "territory", "field skills"]
    no_skills = {h: replace(x, skills={}) for h, x in HOSTS.items()}
    decision = route(inputs(EXAMPLE, no_skills, RoutingContext(record_type="case")))
    assert decision.rule == "fallback"
    assert decision.host_ids == ("h1", "h2", "h3")
    assert len(decision.trace) == 5


def test_no_rule_matching_gives_an_empty_decision_with_every_reason() -> None:
    hosts = directory(host("h1", active=False))
    decision = route(inputs(rules(OWNER, FALLBACK), hosts, RoutingContext(record_type="lead")))
    assert (decision.rule, decision.strategy, decision.host_ids) == (None, None, ())
    assert decision.reason.startswith("no rule left an eligible host")
    assert "'lead owner'" in decision.reason
    assert "'fallback'" in decision.reason
    assert decision.trace[1].excluded == {
        "h1": "inactive",
        "h2": "not a bookable host",
        "h3": "not a bookable host",
    }
    assert choose_host(decision, {"h1"}, hosts, {}) is None


# ---------------------------------------------------------------------------------- eligibility

POOL = Rule(name="pool", strategy=Strategy.ROUND_ROBIN, pool=("a", "b", "c", "d", "e"))
POOL_HOSTS = directory(
    host("a", active=False),
    host("b"),
    host("c", max_meetings_per_day=2),
    host("d"),
    host("e"),
)
POOL_STATS = {
    "b": HostStats(out_of_office_whole_range=True),
    "c": HostStats(bookings_on_requested_day=2),
    "d": HostStats(available_within_days=False),
}


def test_eligibility_excludes_each_host_with_its_reason() -> None:
    eligibility = Eligibility(require_availability_within_days=14)
    decision = route(inputs(rules(POOL, eligibility=eligibility), POOL_HOSTS, stats=POOL_STATS))
    assert decision.host_ids == ("e",)
    assert decision.trace[0].candidates == ("a", "b", "c", "d", "e")
    assert decision.trace[0].excluded == {
        "a": "inactive",
        "b": "out of office for the whole range",
        "c": "at daily cap",
        "d": "no availability within 14 days",
    }


def test_eligibility_flags_turn_the_filters_off() -> None:
    eligibility = Eligibility(
        exclude_out_of_office=False, respect_daily_caps=False, require_availability_within_days=None
    )
    decision = route(inputs(rules(POOL, eligibility=eligibility), POOL_HOSTS, stats=POOL_STATS))
    assert set(decision.host_ids) == {"b", "c", "d", "e"}
    assert decision.trace[0].excluded == {"a": "inactive"}  # inactive is never bookable


def test_below_the_daily_cap_is_eligible() -> None:
    stats = {"c": HostStats(bookings_on_requested_day=1)}
    decision = route(inputs(rules(replace(POOL, pool=("c",))), POOL_HOSTS, stats=stats))
    assert decision.host_ids == ("c",)


def test_a_rule_whose_candidates_are_all_excluded_falls_through() -> None:
    owner = replace(OWNER, when_record_types=None)
    context = RoutingContext(owner_host_ids=("b",))
    decision = route(inputs(rules(owner, POOL), POOL_HOSTS, context, POOL_STATS))
    assert decision.rule == "pool"
    assert decision.trace[0].excluded == {"b": "out of office for the whole range"}


# ---------------------------------------------------------------------------------- parse_skills


def test_parse_skills() -> None:
    assert parse_skills("german:3,field-service") == {"german": 3, "field-service": 1}
    assert parse_skills(" german : 3 , german:2 ") == {"german": 3}
    assert parse_skills("") == {}


@pytest.mark.parametrize(
    "text", ["german:", ":3", "a,,b", "german:x", "german:0", "german:101", "x:-1", "a:²"]
)
def test_parse_skills_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError, match="skill"):
        parse_skills(text)


# ---------------------------------------------------------------------------------- replay

FULL_STATS = {
    "ana": HostStats(last_booked_at=NOW - timedelta(hours=5), bookings_last_30_days=4, assignments=2),
    "ben": HostStats(bookings_on_requested_day=1, out_of_office_whole_range=False),
    "h2": HostStats(available_within_days=False, last_booked_at=datetime(2026, 11, 1, 8, tzinfo=UTC)),
}


@pytest.mark.parametrize(
    "context",
    [
        RoutingContext(record_type="lead", record_id="r1", owner_host_ids=("h1", "h2"), owner_note="team"),
        RoutingContext(record_type="account", account_team={"CSM": ("ben", "ana"), "AE": ()}),
        RoutingContext(country="US", postal_code="94105"),
        RoutingContext(record_type="case", skills={"german": 3}),
        RoutingContext(record_type="case", territory="nowhere"),
    ],
)
def test_inputs_json_round_trip_replays_the_same_decision(context: RoutingContext) -> None:
    original = inputs(
        replace(EXAMPLE, eligibility=Eligibility(require_availability_within_days=7)),
        HOSTS,
        context,
        FULL_STATS,
    )
    stored = json.loads(json.dumps(inputs_to_json(original)))
    replayed = inputs_from_json(stored)
    assert route(replayed) == route(original)
    assert inputs_to_json(replayed) == stored
    assert replayed.hosts["ana"] == HostProfile.of(HOSTS["ana"])
    assert replayed.stats == FULL_STATS
    assert replayed.context == context
    assert replayed.rule_set == original.rule_set
    assert replayed.now == NOW


def test_the_stored_rule_set_is_a_valid_admin_document() -> None:
    stored = inputs_to_json(inputs(EXAMPLE, HOSTS))
    assert RuleSetDoc.model_validate(stored["ruleSet"]).to_domain("default") == EXAMPLE


def test_decision_json_is_stable_and_round_trips() -> None:
    context = RoutingContext(record_type="case", skills={"german": 1})
    decision = route(inputs(EXAMPLE, HOSTS, context, FULL_STATS))
    as_json = decision_to_json(decision)
    assert json.dumps(as_json) == json.dumps(
        decision_to_json(route(inputs(EXAMPLE, HOSTS, context, FULL_STATS)))
    )
    assert list(as_json) == [
        "ruleSet",
        "rule",
        "strategy",
        "fairness",
        "hostIds",
        "surplus",
        "reason",
        "trace",
        "answers",  # the answers the rules' `when` tested (issue 15)
    ]
    assert as_json["rule"] == "field skills"
    assert as_json["hostIds"] == ["ana", "cy"]
    assert as_json["surplus"] == {"ana": 4, "cy": 3}
    assert list(as_json["trace"][-1]["excluded"]) == sorted(as_json["trace"][-1]["excluded"])
    assert decision_from_json(json.loads(json.dumps(as_json))) == decision


def test_choose_host_uses_the_stored_decision_surplus_before_fairness() -> None:
    decision = route(inputs(rules(SKILLS), HOSTS))
    stored = decision_from_json(decision_to_json(decision))
    assert choose_host(stored, {"ana", "cy", "ben"}, HOSTS, {}) == "ben"
    assert choose_host(stored, {"ana", "cy"}, HOSTS, {"cy": HostStats(last_booked_at=NOW)}) == "cy"
    assert choose_host(stored, {"ana"}, HOSTS, {}) == "ana"
    assert choose_host(stored, {"dee"}, HOSTS, {}) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        HostStats(last_booked_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        RoutingInputs(rule_set=EXAMPLE, context=RoutingContext(), hosts={}, now=datetime(2026, 1, 1))


# ---------------------------------------------------------------------------------- determinism


V = TypeVar("V")


def _shuffled(mapping: Mapping[str, V], rng: random.Random) -> dict[str, V]:
    keys = list(mapping)
    rng.shuffle(keys)
    return {k: mapping[k] for k in keys}


_IDS = ("h1", "h2", "h3", "h4", "h5", "h6")
_SKILL_NAMES = ("german", "field-service", "sap")
_instants = st.one_of(st.none(), st.integers(min_value=0, max_value=5).map(lambda d: NOW - timedelta(days=d)))
_stats = st.builds(
    HostStats,
    last_booked_at=_instants,
    bookings_last_30_days=st.integers(0, 4),
    assignments=st.integers(0, 4),
    bookings_on_requested_day=st.integers(0, 3),
    out_of_office_whole_range=st.booleans(),
    available_within_days=st.booleans(),
)
_hosts = st.lists(
    st.builds(
        lambda i, active, skills, territories, weight, cap: host(
            i,
            active=active,
            skills=skills,
            territories=territories,
            weight=weight,
            max_meetings_per_day=cap,
        ),
        st.sampled_from(_IDS),
        st.booleans(),
        st.dictionaries(st.sampled_from(_SKILL_NAMES), st.integers(0, 5), max_size=3),
        st.lists(st.sampled_from(("DACH", "US-West", "UK")), unique=True, max_size=2).map(tuple),
        st.sampled_from((0, 50, 100, 200)),
        st.sampled_from((None, 1, 2)),
    ),
    unique_by=lambda h: h.id,
    max_size=6,
)
_rules = st.lists(
    st.one_of(
        st.builds(
            lambda f: Rule(name="owner", strategy=Strategy.OWNER, fairness=f), st.sampled_from(Fairness)
        ),
        st.builds(
            lambda f: Rule(name="team", strategy=Strategy.ACCOUNT_TEAM, role="CSM", fairness=f),
            st.sampled_from(Fairness),
        ),
        st.builds(lambda f: replace(TERRITORY, fairness=f), st.sampled_from(Fairness)),
        st.builds(
            lambda req, f: Rule(name="skills", strategy=Strategy.SKILLS, require=req, fairness=f),
            st.dictionaries(st.sampled_from(_SKILL_NAMES), st.integers(1, 4), max_size=2),
            st.sampled_from(Fairness),
        ),
        st.builds(
            lambda pool, f: Rule(name="rr", strategy=Strategy.ROUND_ROBIN, pool=tuple(pool), fairness=f),
            st.lists(st.sampled_from((*_IDS, "ghost")), unique=True, min_size=1),
            st.sampled_from(Fairness),
        ),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda r: r.name,
)
_contexts = st.builds(
    RoutingContext,
    record_type=st.sampled_from((None, "lead", "account")),
    owner_host_ids=st.lists(st.sampled_from((*_IDS, "ghost")), unique=True, max_size=3).map(tuple),
    account_team=st.dictionaries(
        st.sampled_from(("CSM", "AE")), st.lists(st.sampled_from(_IDS), unique=True).map(tuple), max_size=2
    ),
    territory=st.sampled_from((None, "DACH", "uk")),
    country=st.sampled_from((None, "DE", "US", "ch")),
    postal_code=st.sampled_from((None, "94105", "10115")),
    skills=st.dictionaries(st.sampled_from(_SKILL_NAMES), st.integers(1, 3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    hosts=_hosts,
    rule_list=_rules,
    context=_contexts,
    stats=st.dictionaries(st.sampled_from(_IDS), _stats),
    eligibility=st.builds(
        Eligibility,
        exclude_out_of_office=st.booleans(),
        respect_daily_caps=st.booleans(),
        require_availability_within_days=st.sampled_from((None, 7)),
    ),
    seed=st.integers(0, 2**32),
)
def test_decisions_do_not_depend_on_the_order_of_anything_unordered(
    hosts: list[Host],
    rule_list: list[Rule],
    context: RoutingContext,
    stats: dict[str, HostStats],
    eligibility: Eligibility,
    seed: int,
) -> None:
    rng = random.Random(seed)
    base = inputs(rules(*rule_list, eligibility=eligibility), directory(*hosts), context, stats)
    decision = route(base)

    def shuffle_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(rng.sample(ids, len(ids)))

    shuffled = RoutingInputs(
        rule_set=replace(
            base.rule_set,
            rules=tuple(
                replace(r, pool=shuffle_ids(r.pool), territories=_shuffled(r.territories, rng))
                for r in base.rule_set.rules
            ),
        ),
        context=replace(
            context,
            owner_host_ids=shuffle_ids(context.owner_host_ids),
            account_team={
                role: shuffle_ids(ids) for role, ids in _shuffled(context.account_team, rng).items()
            },
            skills=_shuffled(context.skills, rng),
        ),
        hosts=_shuffled(base.hosts, rng),
        stats=_shuffled(stats, rng),
        now=NOW,
    )
    assert route(shuffled) == decision
    assert json.dumps(decision_to_json(route(shuffled))) == json.dumps(decision_to_json(decision))
    assert route(inputs_from_json(json.loads(json.dumps(inputs_to_json(shuffled))))) == decision
    _check_invariants(decision, base)


def _check_invariants(decision: RoutingDecision, given_inputs: RoutingInputs) -> None:
    if decision.rule is None:
        assert decision.host_ids == ()
        assert all(not t.eligible for t in decision.trace)
        assert len(decision.trace) == len(given_inputs.rule_set.rules)
        return
    assert decision.trace[-1].rule == decision.rule
    assert decision.trace[-1].eligible == decision.host_ids
    for host_id in decision.host_ids:
        assert given_inputs.hosts[host_id].active
    for trace in decision.trace:
        assert set(trace.eligible) | set(trace.excluded) == set(trace.candidates)
        assert not set(trace.eligible) & set(trace.excluded)
        assert list(trace.candidates) == sorted(trace.candidates)
