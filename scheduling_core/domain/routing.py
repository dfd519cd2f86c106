"""Routing: which host (or pool of hosts) a meeting goes to, as a pure function.

A rule set is an ordered list of rules. Each rule whose `when` holds proposes
candidates from the already-resolved `RoutingContext`; eligibility filters them;
the first rule left with at least one eligible host wins (routing.md).

Invariants kept here:
- `route` reads nothing but its `RoutingInputs` (no clock, no I/O), and the
  result does not depend on the iteration order of any mapping, nor on the order
  of host lists whose order carries no meaning (owner team members, account team,
  pools): candidates are sorted, and every ranking ends in host id order.
- Every host in a decision's `host_ids` is in the directory, active and passed
  the eligibility filters in force; the first one is the preferred host.
- Rules after the winning rule are not tried; every rule tried has a `RuleTrace`
  saying why it matched or not, and each excluded candidate has exactly one reason.
- Nothing here knows JSON: decisions and their inputs are stored by
  `documents.routing_decisions`, rule sets by their admin document `documents.rule_sets`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from scheduling_core.domain.matching import MatchSettings
from scheduling_core.domain.values import Host

__all__ = [
    "DEFAULT_NO_SHOW_WEIGHT",
    "MAX_CANDIDATES",
    "DirectoryHost",
    "Eligibility",
    "Fairness",
    "HostProfile",
    "HostStats",
    "RoutingContext",
    "RoutingDecision",
    "RoutingInputs",
    "Rule",
    "RuleSet",
    "RuleTrace",
    "Strategy",
    "TerritoryMatch",
    "choose_host",
    "counted_bookings",
    "order_by_fairness",
    "parse_skills",
    "pick",
    "route",
    "shortlist",
    "weight_fraction",
]

#: The most candidates one rule considers (api.md: routing pools of 500). Bounds what a decision reads
#: and stores, whatever the tenant's size.
MAX_CANDIDATES = 500


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


# --------------------------------------------------------------------------- rule sets


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


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class HostProfile:
    """What routing reads of a host; the form a replayed decision's directory takes."""

    id: str
    active: bool = True
    skills: Mapping[str, int] = field(default_factory=dict)
    territories: tuple[str, ...] = ()
    weight: int = 100
    max_meetings_per_day: int | None = None

    @classmethod
    def of(cls, host: Host | HostProfile) -> HostProfile:
        return cls(
            id=host.id,
            active=host.active,
            skills=dict(host.skills),
            territories=tuple(host.territories),
            weight=host.weight,
            max_meetings_per_day=host.max_meetings_per_day,
        )


#: A host of the directory: the full configuration value, or its routing profile (replays).
DirectoryHost = Host | HostProfile


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingContext:
    """Everything about the record, resolved before routing (Dataverse lookups happen outside)."""

    record_type: str | None = None
    record_id: str | None = None
    #: The record owner as host ids (a team owner: its members); empty if unknown.
    owner_host_ids: tuple[str, ...] = ()
    #: Why the owner is missing or partial, e.g. "owner systemuser X has no bookable host".
    owner_note: str | None = None
    #: Account team members as host ids, per role (the roles of the rule set's accountTeam rules).
    account_team: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    territory: str | None = None
    country: str | None = None
    postal_code: str | None = None
    #: Extra skill requirements (`parse_skills("german:3,field-service")`).
    skills: Mapping[str, int] = field(default_factory=dict)
    #: Per territory/skills rule name: the hosts the directory offered it (`shortlist`), at most
    #: `MAX_CANDIDATES`, so the rule neither scans nor stores the tenant's whole directory. A rule without
    #: an entry proposes from `RoutingInputs.hosts` (decisions stored before shortlists existed).
    shortlists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Per rule name: how many hosts of the directory matched before the shortlist was cut.
    shortlist_totals: Mapping[str, int] = field(default_factory=dict)
    #: The invitee's answers to the event type's questions (question id -> value as text).
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStats:
    """Booking statistics of one host, computed before routing. A host without stats has the defaults."""

    last_booked_at: datetime | None = None
    #: Bookings of the last 30 days that count whole (`balanced`): not an invitee's no-show or cancel.
    bookings_last_30_days: int = 0
    #: Bookings of the last 30 days that count `no_show_weight` each: an invitee's no-show or cancel.
    discounted_last_30_days: int = 0
    #: Assignments so far in this rule's rotation (`weighted` fairness), discounted ones included.
    assignments: int = 0
    #: Of `assignments`, those that ended in an invitee's no-show or cancel.
    discounted_assignments: int = 0
    bookings_on_requested_day: int = 0
    out_of_office_whole_range: bool = False
    available_within_days: bool = True

    def __post_init__(self) -> None:
        if self.last_booked_at is not None and self.last_booked_at.utcoffset() is None:
            raise ValueError("last_booked_at must be an aware datetime")


_NO_STATS = HostStats()


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingInputs:
    rule_set: RuleSet
    context: RoutingContext
    hosts: Mapping[str, DirectoryHost]
    stats: Mapping[str, HostStats] = field(default_factory=dict)
    now: datetime

    def __post_init__(self) -> None:
        if self.now.utcoffset() is None:
            raise ValueError("now must be an aware datetime")


# --------------------------------------------------------------------------- decisions


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


# --------------------------------------------------------------------------- skills text

_SKILL_LEVEL = re.compile(r"^[0-9]{1,3}$")
MAX_SKILL_NAME = 64
MAX_SKILL_LEVEL = 100


def parse_skills(text: str) -> dict[str, int]:
    """`"german:3,field-service"` -> `{"german": 3, "field-service": 1}`; a repeated skill keeps its maximum.

    Raises `ValueError` for an empty item, a name longer than 64 characters, or a
    level that is not a whole number from 1 to 100.
    """
    skills: dict[str, int] = {}
    if not text.strip():
        return skills
    for item in text.split(","):
        name, colon, level_text = item.partition(":")
        name = name.strip()
        if not name:
            raise ValueError(f"skill '{item.strip()}' has no name")
        if len(name) > MAX_SKILL_NAME:
            raise ValueError(f"skill name '{name[:20]}...' is longer than {MAX_SKILL_NAME} characters")
        level = 1
        if colon:
            level_text = level_text.strip()
            if not _SKILL_LEVEL.match(level_text) or not 1 <= int(level_text) <= MAX_SKILL_LEVEL:
                raise ValueError(
                    f"skill '{name}' needs a level from 1 to {MAX_SKILL_LEVEL}, not '{level_text}'"
                )
            level = int(level_text)
        skills[name] = max(skills.get(name, 0), level)
    return skills


# --------------------------------------------------------------------------- fairness


def weight_fraction(value: float | Fraction | str) -> Fraction:
    """A `noShowWeight` as an exact fraction (`0.3` is 3/10, not the binary float nearest to it)."""
    if isinstance(value, Fraction):
        return value
    return Fraction(str(value)).limit_denominator(10_000)


def _stats(stats: Mapping[str, HostStats], host_id: str) -> HostStats:
    return stats.get(host_id, _NO_STATS)


def _weight(hosts: Mapping[str, DirectoryHost], host_id: str) -> int:
    host = hosts.get(host_id)
    return host.weight if host is not None else 0


def counted_bookings(whole: int, discounted: int, no_show_weight: Fraction) -> Fraction:
    """How many bookings fairness charges: whole ones, plus `no_show_weight` of each discounted one."""
    return whole + no_show_weight * discounted


def _fairness_key(
    fairness: Fairness,
    hosts: Mapping[str, DirectoryHost],
    stats: Mapping[str, HostStats],
    host_id: str,
    no_show_weight: Fraction = DEFAULT_NO_SHOW_WEIGHT,
) -> tuple[Any, ...]:
    st = _stats(stats, host_id)
    if fairness is Fairness.LEAST_RECENTLY_BOOKED:
        last = st.last_booked_at
        return (last is not None, last.astimezone(UTC) if last is not None else None, host_id)
    weight = _weight(hosts, host_id)
    if weight <= 0:  # weight 0: only when nobody else is left
        return (True, Fraction(0), host_id)
    if fairness is Fairness.BALANCED:
        counted = counted_bookings(st.bookings_last_30_days, st.discounted_last_30_days, no_show_weight)
        return (False, counted / weight, host_id)
    whole = max(st.assignments - st.discounted_assignments, 0)
    counted = counted_bookings(whole, st.discounted_assignments, no_show_weight)
    return (False, (counted + 1) / weight, host_id)


def order_by_fairness(
    host_ids: Iterable[str],
    fairness: Fairness,
    hosts: Mapping[str, DirectoryHost],
    stats: Mapping[str, HostStats],
    no_show_weight: Fraction = DEFAULT_NO_SHOW_WEIGHT,
) -> tuple[str, ...]:
    """The distinct `host_ids`, best first, by `fairness`; ties (and the input order) end in host id order.

    - leastRecentlyBooked: never booked first, then the oldest `last_booked_at`.
    - balanced: fewest `bookings_last_30_days / weight`.
    - weighted: smallest `(assignments + 1) / weight`, a deterministic weighted rotation
      (with `assignments` counted up after each pick, host shares follow the weights).
    Under balanced and weighted an invitee's no-show or cancel counts `no_show_weight` of a booking.
    A host of weight 0 (or missing from `hosts`) comes last under balanced and weighted.
    """
    fairness = Fairness(fairness)
    return tuple(
        sorted(set(host_ids), key=lambda h: _fairness_key(fairness, hosts, stats, h, no_show_weight))
    )


def _rank(
    host_ids: Iterable[str],
    fairness: Fairness,
    hosts: Mapping[str, DirectoryHost],
    stats: Mapping[str, HostStats],
    surplus: Mapping[str, int],
    no_show_weight: Fraction = DEFAULT_NO_SHOW_WEIGHT,
) -> tuple[str, ...]:
    ordered = order_by_fairness(host_ids, fairness, hosts, stats, no_show_weight)
    if not surplus:
        return ordered
    return tuple(sorted(ordered, key=lambda h: -surplus.get(h, 0)))  # stable: fairness breaks ties


def pick(
    decision_pool: Sequence[str],
    free_host_ids: Collection[str],
    fairness: Fairness,
    hosts: Mapping[str, DirectoryHost],
    stats: Mapping[str, HostStats],
    *,
    surplus: Mapping[str, int] | None = None,
    no_show_weight: Fraction = DEFAULT_NO_SHOW_WEIGHT,
) -> str | None:
    """At booking time: the best host of the pool that is free at the chosen slot, or None.

    Ranked as `route` ranks (skills `surplus` first if given, then `fairness` with
    the stats of now, then host id); hosts missing from `hosts` or inactive are skipped.
    """
    free = set(free_host_ids)
    options = [h for h in set(decision_pool) if h in free and _bookable(hosts.get(h))]
    ranked = _rank(options, Fairness(fairness), hosts, stats, surplus or {}, no_show_weight)
    return ranked[0] if ranked else None


def choose_host(
    decision: RoutingDecision,
    free_host_ids: Collection[str],
    hosts: Mapping[str, DirectoryHost],
    stats: Mapping[str, HostStats],
) -> str | None:
    """`pick` with the decision's own pool, fairness and surplus."""
    if decision.rule is None or not decision.host_ids:
        return None
    fairness = Fairness(decision.fairness or Fairness.LEAST_RECENTLY_BOOKED)
    return pick(
        decision.host_ids,
        free_host_ids,
        fairness,
        hosts,
        stats,
        surplus=decision.surplus,
        no_show_weight=decision.no_show_weight,
    )


def _bookable(host: DirectoryHost | None) -> bool:
    return host is not None and host.active


# --------------------------------------------------------------------------- engine


@dataclass(frozen=True, slots=True, kw_only=True)
class _Proposal:
    """A strategy's candidates (sorted), the ones it rules out itself, and why."""

    candidates: tuple[str, ...]
    reason: str
    unqualified: Mapping[str, str] = field(default_factory=dict)
    surplus: Mapping[str, int] = field(default_factory=dict)


def _sorted_ids(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(ids)))


def _when_holds(rule: Rule, context: RoutingContext) -> tuple[bool, str]:
    """Every condition of `when` must hold; within one, any of its values will do."""
    holds, why = _record_type_holds(rule, context)
    if not holds:
        return holds, why
    notes = [why] if why else []
    for question in sorted(rule.when_answers):
        wanted = sorted(rule.when_answers[question])
        answer = context.answers.get(question)
        if answer is None or not answer.strip():
            return False, f"answer {question} not given; rule applies to {' or '.join(wanted)}"
        # Answers match like record types: trimmed, case-insensitive (a select's option or free text).
        if answer.strip().casefold() not in {w.casefold() for w in wanted}:
            return False, f"answer {question} is {answer}, not {' or '.join(wanted)}"
        notes.append(f"answer {question} is {answer}")
    return True, "; ".join(notes)


def _record_type_holds(rule: Rule, context: RoutingContext) -> tuple[bool, str]:
    if rule.when_record_types is None:
        return True, ""
    wanted = sorted(rule.when_record_types)
    if context.record_type is None:
        return False, f"record type unknown; rule applies to {', '.join(wanted)}"
    if context.record_type.casefold() in {t.casefold() for t in wanted}:
        return True, f"record type {context.record_type}"
    return False, f"record type {context.record_type} is not {' or '.join(wanted)}"


def _propose_owner(context: RoutingContext) -> _Proposal:
    owners = _sorted_ids(context.owner_host_ids)
    note = f" ({context.owner_note})" if context.owner_note else ""
    if not owners:
        return _Proposal(candidates=(), reason=context.owner_note or "record has no owner we know")
    if len(owners) == 1:
        return _Proposal(candidates=owners, reason=f"record owner {owners[0]}{note}")
    return _Proposal(candidates=owners, reason=f"record owned by a team of {len(owners)} hosts{note}")


def _propose_account_team(rule: Rule, context: RoutingContext) -> _Proposal:
    if rule.role is None:
        return _Proposal(candidates=(), reason="rule names no account team role")
    members = _sorted_ids(context.account_team.get(rule.role, ()))
    if not members:
        return _Proposal(candidates=(), reason=f"no account team member with role {rule.role}")
    return _Proposal(
        candidates=members, reason=f"{len(members)} account team member(s) with role {rule.role}"
    )


def _postal(text: str) -> str:
    return "".join(text.split()).upper()


def _resolve_territory(rule: Rule, context: RoutingContext) -> tuple[str | None, str]:
    """The territory and how it was found: from the context, else the rule's best-matching entry.

    An entry matches when each of its constraints matches; among matches, one that
    constrains the country beats one that does not, then the longest postal prefix
    wins, then the territory name in alphabetical order.
    """
    if context.territory and context.territory.strip():
        return context.territory.strip(), f"territory {context.territory.strip()} from the context"
    country = context.country.strip().upper() if context.country and context.country.strip() else None
    postal = _postal(context.postal_code) if context.postal_code else ""
    best: tuple[tuple[bool, int], str, str] | None = None
    for name in sorted(rule.territories):
        match = rule.territories[name]
        if not match.countries and not match.postal_prefixes:
            continue
        how: list[str] = []
        if match.countries:
            if country is None or country not in {c.upper() for c in match.countries}:
                continue
            how.append(f"country {country}")
        prefix = ""
        if match.postal_prefixes:
            hits = [_postal(p) for p in match.postal_prefixes if postal and postal.startswith(_postal(p))]
            if not hits:
                continue
            prefix = max(hits, key=lambda p: (len(p), p))
            how.append(f"postal code {context.postal_code} (prefix {prefix})")
        score = (bool(match.countries), len(prefix))
        if best is None or score > best[0]:
            best = (score, name, " and ".join(how))
    if best is not None:
        return best[1], f"territory {best[1]} derived from {best[2]}"
    given = [f"country {country}"] if country else []
    if context.postal_code:
        given.append(f"postal code {context.postal_code}")
    if not given:
        return None, "no territory given, and no country or postal code to derive one"
    return None, f"no territory given, and none of the rule's territories matches {' and '.join(given)}"


def _covers(host: DirectoryHost, territory: str) -> bool:
    key = territory.casefold()
    return key in {t.casefold() for t in host.territories}


def _shortlist_note(rule: Rule, context: RoutingContext, kept: int) -> str:
    total = context.shortlist_totals.get(rule.name, kept)
    return f" ({total} in the directory; the {kept} considered are a rotating sample)" if total > kept else ""


def _propose_territory(rule: Rule, inputs: RoutingInputs) -> _Proposal:
    territory, how = _resolve_territory(rule, inputs.context)
    if territory is None:
        return _Proposal(candidates=(), reason=how)
    listed = inputs.context.shortlists.get(rule.name)
    if listed is not None:
        members = _sorted_ids(listed)
    else:
        members = _sorted_ids(host.id for host in inputs.hosts.values() if _covers(host, territory))
    if not members:
        return _Proposal(candidates=(), reason=f"{how}; no host covers it")
    note = _shortlist_note(rule, inputs.context, len(members))
    return _Proposal(candidates=members, reason=f"{how}; {len(members)} host(s) cover it{note}")


def _requirements(rule: Rule, context: RoutingContext) -> dict[str, int]:
    needs = dict(rule.require)
    for skill, level in context.skills.items():
        needs[skill] = max(needs.get(skill, 0), level)
    return {skill: needs[skill] for skill in sorted(needs)}


def _propose_skills(rule: Rule, inputs: RoutingInputs) -> _Proposal:
    needs = _requirements(rule, inputs.context)
    if not needs:
        return _Proposal(candidates=(), reason="no skill required by the rule or the context")
    wanted = ", ".join(f"{skill}:{level}" for skill, level in needs.items())
    unqualified: dict[str, str] = {}
    surplus: dict[str, int] = {}
    listed = inputs.context.shortlists.get(rule.name)
    candidates = _sorted_ids(inputs.hosts if listed is None else listed)
    for host_id in candidates:
        host = inputs.hosts.get(host_id)
        if host is None:
            continue  # not in the directory any more: `_exclusion` says so
        skills = host.skills
        for skill, level in needs.items():
            has = skills.get(skill)
            if has is None or has < level:
                shown = "none" if has is None else str(has)
                unqualified[host_id] = f"lacks skill {skill} (has {shown}, needs {level})"
                break
        else:
            surplus[host_id] = sum(skills[skill] - level for skill, level in needs.items())
    note = _shortlist_note(rule, inputs.context, len(candidates)) if listed is not None else ""
    return _Proposal(
        candidates=candidates,
        reason=f"needs {wanted}; {len(surplus)} host(s) qualify{note}",
        unqualified=unqualified,
        surplus=surplus,
    )


def _propose_pool(rule: Rule) -> _Proposal:
    pool = _sorted_ids(rule.pool)
    if not pool:
        return _Proposal(candidates=(), reason="the pool is empty")
    return _Proposal(candidates=pool, reason=f"pool of {len(pool)} host(s)")


def _propose(rule: Rule, inputs: RoutingInputs) -> _Proposal:
    match rule.strategy:
        case Strategy.OWNER:
            return _propose_owner(inputs.context)
        case Strategy.ACCOUNT_TEAM:
            return _propose_account_team(rule, inputs.context)
        case Strategy.TERRITORY:
            return _propose_territory(rule, inputs)
        case Strategy.SKILLS:
            return _propose_skills(rule, inputs)
        case Strategy.ROUND_ROBIN:
            return _propose_pool(rule)


def _qualifies(host: DirectoryHost, needs: Mapping[str, int]) -> int | None:
    """The host's total skill surplus over `needs`, or None if it lacks one."""
    surplus = 0
    for skill, level in needs.items():
        has = host.skills.get(skill)
        if has is None or has < level:
            return None
        surplus += has - level
    return surplus


def _rotation_key(now: datetime, host_id: str) -> str:
    """An order that changes every hour, so a cut shortlist does not always leave out the same hosts."""
    return hashlib.sha256(f"{now.astimezone(UTC):%Y-%m-%dT%H}|{host_id}".encode()).hexdigest()


def shortlist(
    rule: Rule, context: RoutingContext, directory: Iterable[DirectoryHost], now: datetime
) -> tuple[tuple[str, ...], int]:
    """The directory's hosts a territory or skills rule would propose, at most `MAX_CANDIDATES`, and how
    many there were; inactive hosts are left out (they could never be picked). ((), 0) for other rules.

    Called by the service over the whole directory before routing, and stored in the context, so the
    rule's candidates do not depend on which hosts a decision stored. Over the cap, skills keep the
    largest surplus first; ties (and territories) follow an hourly rotating order, not host id order, so
    no host is starved for good.
    """
    if rule.strategy is Strategy.TERRITORY:
        territory, _ = _resolve_territory(rule, context)
        if territory is None:
            return (), 0
        matches = [
            (0, _rotation_key(now, h.id), h.id) for h in directory if h.active and _covers(h, territory)
        ]
    elif rule.strategy is Strategy.SKILLS:
        needs = _requirements(rule, context)
        if not needs:
            return (), 0
        matches = []
        for host in directory:
            surplus = _qualifies(host, needs) if host.active else None
            if surplus is not None:
                matches.append((-surplus, _rotation_key(now, host.id), host.id))
    else:
        return (), 0
    matches.sort()
    return tuple(sorted(m[2] for m in matches[:MAX_CANDIDATES])), len(matches)


def _exclusion(host_id: str, proposal: _Proposal, inputs: RoutingInputs) -> str | None:
    host = inputs.hosts.get(host_id)
    if host is None:
        return "not a bookable host"
    if not host.active:
        return "inactive"
    if host_id in proposal.unqualified:
        return proposal.unqualified[host_id]
    rules = inputs.rule_set.eligibility
    st = _stats(inputs.stats, host_id)
    if rules.exclude_out_of_office and st.out_of_office_whole_range:
        return "out of office for the whole range"
    cap = host.max_meetings_per_day
    if rules.respect_daily_caps and cap is not None and st.bookings_on_requested_day >= cap:
        return "at daily cap"
    days = rules.require_availability_within_days
    if days is not None and not st.available_within_days:
        return f"no availability within {days} days"
    return None


def _try(rule: Rule, inputs: RoutingInputs) -> tuple[RuleTrace, dict[str, int]]:
    """The rule's trace (its `eligible` ranked, best first) and the eligible hosts' skill surplus."""
    applies, why = _when_holds(rule, inputs.context)
    if not applies:
        return RuleTrace(rule=rule.name, strategy=rule.strategy.value, applied=False, reason=why), {}
    proposal = _propose(rule, inputs)
    excluded: dict[str, str] = {}
    eligible: list[str] = []
    for host_id in proposal.candidates:
        reason = _exclusion(host_id, proposal, inputs)
        if reason is None:
            eligible.append(host_id)
        else:
            excluded[host_id] = reason
    surplus = {h: proposal.surplus[h] for h in eligible if h in proposal.surplus}
    ranked = _rank(eligible, rule.fairness, inputs.hosts, inputs.stats, surplus, rule.no_show_weight)
    reason = proposal.reason
    if proposal.candidates and not ranked:
        reason += f"; none of {len(proposal.candidates)} candidate(s) is eligible"
    elif ranked:
        ranking = f"skill surplus then {rule.fairness.value}" if surplus else rule.fairness.value
        reason += f"; {len(ranked)} eligible, ranked by {ranking}"
    if why:
        reason = f"{why}; {reason}"
    trace = RuleTrace(
        rule=rule.name,
        strategy=rule.strategy.value,
        applied=True,
        candidates=proposal.candidates,
        eligible=ranked,
        excluded=excluded,
        reason=reason,
    )
    return trace, surplus


def route(inputs: RoutingInputs) -> RoutingDecision:
    """Try the rules in order; the first whose `when` holds and that leaves an eligible host wins.

    No winner: `rule` and `strategy` are None, `host_ids` is empty and `reason`
    sums up why each rule failed.
    """
    traces: list[RuleTrace] = []
    used: dict[str, str | None] = {}
    for rule in inputs.rule_set.rules:
        trace, surplus = _try(rule, inputs)
        traces.append(trace)
        used |= {q: inputs.context.answers.get(q) for q in rule.when_answers}
        if trace.eligible:
            first, size = trace.eligible[0], len(trace.eligible)
            pool = f" (pool of {size})" if size > 1 else ""
            return RoutingDecision(
                rule_set=inputs.rule_set.id,
                rule=rule.name,
                strategy=rule.strategy.value,
                fairness=rule.fairness.value,
                no_show_weight=rule.no_show_weight,
                host_ids=trace.eligible,
                surplus=surplus,
                reason=f"rule '{rule.name}' ({rule.strategy.value}) chose {first}{pool}: {trace.reason}",
                trace=tuple(traces),
                answers={q: used[q] for q in sorted(used)},
            )
    if not traces:
        reason = f"rule set {inputs.rule_set.id} has no rules"
    else:
        reason = "no rule left an eligible host: " + "; ".join(f"'{t.rule}': {t.reason}" for t in traces)
    return RoutingDecision(
        rule_set=inputs.rule_set.id,
        rule=None,
        strategy=None,
        host_ids=(),
        reason=reason,
        trace=tuple(traces),
        answers={q: used[q] for q in sorted(used)},
    )
