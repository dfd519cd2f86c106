"""What `route` decides: the winning rule and its ranked pool, and what every rule tried did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from scheduling_core.domain.routing.rules import DEFAULT_NO_SHOW_WEIGHT


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTrace:
    """What one rule did: whether its `when` held, whom it proposed, whom eligibility removed and why."""

    rule: str
    strategy: str
    applied: bool
    candidates: tuple[str, ...] = ()  # before eligibility, sorted by host id
    eligible: tuple[str, ...] = ()  # after eligibility, in the rule's ranking
    excluded: Mapping[str, str] = field(default_factory=dict)  # host id -> reason
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecision:
    """The outcome of `route`: the winning rule and its ranked pool, or no rule and an empty pool."""

    rule_set: str
    rule: str | None
    strategy: str | None
    #: The pool ranked by the rule (skills surplus, then fairness, then id): first = preferred.
    host_ids: tuple[str, ...]
    reason: str
    trace: tuple[RuleTrace, ...]
    #: The winning rule's fairness, used again at booking time (`choose_host`).
    fairness: str | None = None
    no_show_weight: Fraction = DEFAULT_NO_SHOW_WEIGHT
    #: skills rules only: each pooled host's total surplus rating, ranked before fairness.
    surplus: Mapping[str, int] = field(default_factory=dict)
    #: The answers the `when` of the rules tried tested (question id -> the answer, None if unanswered).
    answers: Mapping[str, str | None] = field(default_factory=dict)
