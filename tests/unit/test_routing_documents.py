"""Rule-set documents (`PUT /admin/routing/{ruleSetId}`): the routing.md example, error paths, pool hosts."""

from __future__ import annotations

import copy
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from scheduling_core.documents.rule_sets import (
    FairnessName,
    RuleSetDoc,
    StrategyName,
    rule_set_from_json,
    unknown_pool_hosts,
)
from scheduling_core.domain.routing.rules import Eligibility, Fairness, Rule, Strategy, TerritoryMatch

EXAMPLE: dict[str, Any] = {
    "rules": [
        {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
        {
            "name": "account team",
            "when": {"recordType": ["opportunity", "account"]},
            "strategy": "accountTeam",
            "role": "CSM",
        },
        {
            "name": "territory",
            "strategy": "territory",
            "territories": {"DACH": {"countries": ["DE", "AT", "CH"]}, "US-West": {"postalPrefixes": ["9"]}},
        },
        {"name": "field skills", "strategy": "skills", "require": {"field-service": 3}},
        {
            "name": "fallback",
            "strategy": "roundRobin",
            "pool": ["h1", "h2", "h3"],
            "fairness": "leastRecentlyBooked",
        },
    ],
    "eligibility": {
        "excludeOutOfOffice": True,
        "respectDailyCaps": True,
        "requireAvailabilityWithinDays": 14,
    },
}


def patched(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """EXAMPLE with the value at `path` replaced (`...` as value deletes it)."""
    doc = copy.deepcopy(EXAMPLE)
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def error_paths(payload: Any) -> list[str]:
    with pytest.raises(ValidationError) as err:
        RuleSetDoc.model_validate(payload)
    return [".".join(str(part) for part in e["loc"]) for e in err.value.errors()]


def test_the_routing_md_example_validates_to_the_expected_domain_value() -> None:
    rule_set = RuleSetDoc.model_validate(EXAMPLE).to_domain("default")
    assert rule_set.id == "default"
    assert [r.strategy for r in rule_set.rules] == list(Strategy)
    owner, team, territory, skills, fallback = rule_set.rules
    assert owner == Rule(name="lead owner", strategy=Strategy.OWNER, when_record_types=frozenset({"lead"}))
    assert team.role == "CSM"
    assert team.when_record_types == frozenset({"opportunity", "account"})
    assert territory.when_record_types is None
    assert territory.territories == {
        "DACH": TerritoryMatch(countries=frozenset({"DE", "AT", "CH"})),
        "US-West": TerritoryMatch(postal_prefixes=("9",)),
    }
    assert skills.require == {"field-service": 3}
    assert fallback.pool == ("h1", "h2", "h3")
    assert fallback.fairness is Fairness.LEAST_RECENTLY_BOOKED
    assert rule_set.eligibility == Eligibility(require_availability_within_days=14)


def test_the_example_round_trips_through_the_domain_value() -> None:
    doc = RuleSetDoc.model_validate(EXAMPLE)
    again = RuleSetDoc.from_domain(doc.to_domain("default"))
    assert again.model_dump() == doc.model_dump()
    assert RuleSetDoc.model_validate(again.model_dump(mode="json")).to_domain("default") == doc.to_domain(
        "default"
    )


def test_unordered_lists_are_normalised_once() -> None:
    doc = RuleSetDoc.model_validate(
        patched(("rules", 2, "territories", "DACH", "countries"), ["de", "AT", "ch", "DE"])
    )
    assert doc.rules[2].territories["DACH"].countries == ["AT", "CH", "DE"]
    assert doc.rules[1].when is not None
    assert doc.rules[1].when.recordType == ["account", "opportunity"]
    assert RuleSetDoc.from_domain(doc.to_domain("x")).model_dump() == doc.model_dump()


def test_defaults_fill_eligibility_and_fairness() -> None:
    rule_set = rule_set_from_json("minimal", {"rules": [{"name": "o", "strategy": "owner"}]})
    assert rule_set.eligibility == Eligibility()
    assert rule_set.rules[0].fairness is Fairness.LEAST_RECENTLY_BOOKED


def test_literals_match_the_engine_enums() -> None:
    assert set(get_args(StrategyName)) == {s.value for s in Strategy}
    assert set(get_args(FairnessName)) == {f.value for f in Fairness}


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (patched(("rules", 2, "strategy"), "nearest"), "rules.2.strategy"),
        (patched(("rules", 2, "strategy"), ...), "rules.2.strategy"),
        ({"rules": []}, "rules"),
        ({"eligibility": {}}, "rules"),
        (patched(("rules", 4, "fairness"), "random"), "rules.4.fairness"),
        (patched(("rules", 0, "when"), {"recordTypes": ["lead"]}), "rules.0.when.recordTypes"),
        (patched(("rules", 0, "when"), {"recordType": "lead"}), "rules.0.when.recordType"),
        (patched(("rules", 0, "when"), {"recordType": []}), "rules.0.when.recordType"),
        (patched(("rules", 0, "when"), {"recordType": ["le ad"]}), "rules.0.when.recordType.0"),
        (patched(("rules", 0, "when"), "lead"), "rules.0.when"),
        (patched(("rules", 1, "role"), ...), "rules.1.role"),
        (patched(("rules", 0, "role"), "CSM"), "rules.0.role"),
        (patched(("rules", 4, "pool"), []), "rules.4.pool"),
        (patched(("rules", 4, "pool"), ["h1", "h1"]), "rules.4.pool"),
        (patched(("rules", 4, "pool", 1), "bad/id"), "rules.4.pool.1"),
        (patched(("rules", 0, "pool"), ["h1"]), "rules.0.pool"),
        (patched(("rules", 3, "require", "field-service"), 0), "rules.3.require.field-service"),
        (patched(("rules", 4, "require"), {"x": 1}), "rules.4.require"),
        (patched(("rules", 2, "territories", "DACH"), {}), "rules.2.territories.DACH"),
        (
            patched(("rules", 2, "territories", "DACH", "countries"), ["DEU"]),
            "rules.2.territories.DACH.countries.0",
        ),
        (patched(("rules", 2, "territories", "DACH", "cities"), ["Wien"]), "rules.2.territories.DACH.cities"),
        (patched(("rules", 1, "territories"), {"X": {"countries": ["DE"]}}), "rules.1.territories"),
        (patched(("rules", 3, "name"), "lead owner"), "rules"),
        (patched(("rules", 3, "name"), ""), "rules.3.name"),
        (patched(("rules", 3, "priority"), 1), "rules.3.priority"),
        (
            patched(("eligibility", "requireAvailabilityWithinDays"), 0),
            "eligibility.requireAvailabilityWithinDays",
        ),
        (patched(("eligibility", "excludeOOF"), True), "eligibility.excludeOOF"),
        (patched(("version",), 2), "version"),
    ],
)
def test_invalid_rule_sets_name_the_offending_path(payload: Any, path: str) -> None:
    assert path in error_paths(payload)


def test_an_unknown_strategy_reports_only_that_field() -> None:
    assert error_paths(patched(("rules", 2, "strategy"), "nearest")) == ["rules.2.strategy"]


def test_duplicate_rule_names_say_which_rules_clash() -> None:
    with pytest.raises(ValidationError, match=r"rules\.3\.name repeats 'lead owner' of rules\.0"):
        RuleSetDoc.model_validate(patched(("rules", 3, "name"), "lead owner"))


def test_unknown_pool_hosts_are_listed_with_their_paths() -> None:
    doc = RuleSetDoc.model_validate(
        patched(
            ("rules",), [*EXAMPLE["rules"], {"name": "spare", "strategy": "roundRobin", "pool": ["h9", "h1"]}]
        )
    )
    assert unknown_pool_hosts(doc, {"h1", "h3"}) == [("rules.4.pool.1", "h2"), ("rules.5.pool.0", "h9")]
    assert unknown_pool_hosts(doc, ["h1", "h2", "h3", "h9"]) == []
