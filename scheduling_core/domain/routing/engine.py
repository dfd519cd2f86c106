"""The routing engine: `route` tries the rules in order; `shortlist` cuts the directory for a rule."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scheduling_core.domain.routing.decisions import RoutingDecision, RuleTrace
from scheduling_core.domain.routing.fairness import rank
from scheduling_core.domain.routing.inputs import (
    MAX_CANDIDATES,
    NO_STATS,
    DirectoryHost,
    RoutingContext,
    RoutingInputs,
)
from scheduling_core.domain.routing.rules import Rule, Strategy


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
    st = inputs.stats.get(host_id, NO_STATS)
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
    ranked = rank(eligible, rule.fairness, inputs.hosts, inputs.stats, surplus, rule.no_show_weight)
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
