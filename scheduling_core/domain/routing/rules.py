"""Routing rule sets: ordered rules, each with a strategy and the fields of that strategy (routing.md).

Their one JSON form is the admin document, `documents.rule_sets.RuleSetDoc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from scheduling_core.domain.matching import MatchSettings


class Strategy(StrEnum):
    OWNER = "owner"
    ACCOUNT_TEAM = "accountTeam"
    TERRITORY = "territory"
    SKILLS = "skills"
    ROUND_ROBIN = "roundRobin"


class Fairness(StrEnum):
    LEAST_RECENTLY_BOOKED = "leastRecentlyBooked"
    BALANCED = "balanced"
    WEIGHTED = "weighted"


#: How much of a booking an invitee's no-show or cancel counts for `balanced` and `weighted` (routing.md).
DEFAULT_NO_SHOW_WEIGHT = Fraction(1, 2)


@dataclass(frozen=True, slots=True, kw_only=True)
class TerritoryMatch:
    """How a territory is recognised from a country (ISO 3166 alpha-2) and/or a postal code prefix.

    Both given: both must match. Only one given: that one must match.
    """

    countries: frozenset[str] = frozenset()
    postal_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One rule of a rule set; only the fields of its `strategy` are used."""

    name: str
    strategy: Strategy
    when_record_types: frozenset[str] | None = None  # None: always applies
    #: `when: {"answers.<id>": [values]}`: question id -> the values that satisfy it (any of them).
    #: Every key must hold, and so must `when_record_types` when set (routing.md, "Conditions on answers").
    when_answers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    role: str | None = None  # accountTeam
    territories: Mapping[str, TerritoryMatch] = field(default_factory=dict)  # territory
    require: Mapping[str, int] = field(default_factory=dict)  # skills: skill -> minimum rating
    pool: tuple[str, ...] = ()  # roundRobin
    fairness: Fairness = Fairness.LEAST_RECENTLY_BOOKED
    no_show_weight: Fraction = DEFAULT_NO_SHOW_WEIGHT


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility:
    exclude_out_of_office: bool = True
    respect_daily_caps: bool = True
    require_availability_within_days: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    id: str
    rules: tuple[Rule, ...]
    eligibility: Eligibility = field(default_factory=Eligibility)
    #: Look an invitee email up in Dataverse when no record is given (None: never).
    matching: MatchSettings | None = None


def weight_fraction(value: float | Fraction | str) -> Fraction:
    """A `noShowWeight` as an exact fraction (`0.3` is 3/10, not the binary float nearest to it)."""
    if isinstance(value, Fraction):
        return value
    return Fraction(str(value)).limit_denominator(10_000)
