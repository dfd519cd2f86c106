"""Routing decisions and their replayable inputs as stored (Table `routingdecisions`) and audited
(`GET /routing/decisions/{id}` returns the stored document as is).

The rule set inside the inputs is written and read by its one codec, the admin document
(`rule_sets.rule_set_to_json` / `rule_set_from_json`); this module owns only the shapes that are not a
rule set: the resolved context, the hosts' routing profiles, their statistics and the decision.

Invariants:
- `inputs_from_json(inputs_to_json(x))` routes exactly like `x`, so a stored decision can be replayed;
  `decision_from_json(decision_to_json(d)) == d`.
- Both forms are canonical (sorted keys where the order carries no meaning) and unchanged since decisions
  were first stored: what Table storage holds reads back equal (tests/unit/test_routing_stored_forms.py).
- Reading validates the rule set (`RuleSetDoc`) and raises `ValueError` (pydantic's `ValidationError` is
  one) or `KeyError` for anything else malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scheduling_core.documents.rule_sets import rule_set_from_json, rule_set_to_json
from scheduling_core.domain.routing.decisions import RoutingDecision, RuleTrace
from scheduling_core.domain.routing.inputs import (
    DirectoryHost,
    HostProfile,
    HostStats,
    RoutingContext,
    RoutingInputs,
)
from scheduling_core.domain.routing.rules import DEFAULT_NO_SHOW_WEIGHT, weight_fraction

__all__ = ["decision_from_json", "decision_to_json", "inputs_from_json", "inputs_to_json"]


def _instant_to_json(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _instant_from_json(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise ValueError(f"'{text}' has no UTC offset")
    return value.astimezone(UTC)


def _sorted_map(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: mapping[key] for key in sorted(mapping)}


def _context_to_json(context: RoutingContext) -> dict[str, Any]:
    return {
        "recordType": context.record_type,
        "recordId": context.record_id,
        "ownerHostIds": list(context.owner_host_ids),
        "ownerNote": context.owner_note,
        "accountTeam": {role: list(context.account_team[role]) for role in sorted(context.account_team)},
        "territory": context.territory,
        "country": context.country,
        "postalCode": context.postal_code,
        "skills": _sorted_map(context.skills),
        "shortlists": {rule: list(context.shortlists[rule]) for rule in sorted(context.shortlists)},
        "shortlistTotals": _sorted_map(context.shortlist_totals),
        "answers": _sorted_map(context.answers),
    }


def _context_from_json(doc: Mapping[str, Any]) -> RoutingContext:
    return RoutingContext(
        record_type=doc.get("recordType"),
        record_id=doc.get("recordId"),
        owner_host_ids=tuple(doc.get("ownerHostIds") or ()),
        owner_note=doc.get("ownerNote"),
        account_team={str(role): tuple(ids) for role, ids in (doc.get("accountTeam") or {}).items()},
        territory=doc.get("territory"),
        country=doc.get("country"),
        postal_code=doc.get("postalCode"),
        skills={str(skill): int(level) for skill, level in (doc.get("skills") or {}).items()},
        shortlists={str(rule): tuple(ids) for rule, ids in (doc.get("shortlists") or {}).items()},
        shortlist_totals={str(rule): int(n) for rule, n in (doc.get("shortlistTotals") or {}).items()},
        answers={str(q): str(a) for q, a in (doc.get("answers") or {}).items()},
    )


def _host_to_json(host: DirectoryHost) -> dict[str, Any]:
    """Only what differs from a default profile: most hosts of a pool of 500 store as `{}`."""
    doc: dict[str, Any] = {}
    if not host.active:
        doc["active"] = False
    if host.skills:
        doc["skills"] = _sorted_map(host.skills)
    if host.territories:
        doc["territories"] = list(host.territories)
    if host.weight != 100:
        doc["weight"] = host.weight
    if host.max_meetings_per_day is not None:
        doc["maxMeetingsPerDay"] = host.max_meetings_per_day
    return doc


def _host_from_json(host_id: str, doc: Mapping[str, Any]) -> HostProfile:
    cap = doc.get("maxMeetingsPerDay")
    return HostProfile(
        id=host_id,
        active=bool(doc.get("active", True)),
        skills={str(skill): int(level) for skill, level in (doc.get("skills") or {}).items()},
        territories=tuple(str(t) for t in doc.get("territories") or ()),
        weight=int(doc.get("weight", 100)),
        max_meetings_per_day=None if cap is None else int(cap),
    )


def _stats_to_json(st: HostStats) -> dict[str, Any]:
    """Only the figures that differ from `HostStats()` (which `_stats_from_json` fills back in)."""
    doc: dict[str, Any] = {}
    if st.last_booked_at is not None:
        doc["lastBookedAt"] = _instant_to_json(st.last_booked_at)
    figures = {
        "bookingsLast30Days": st.bookings_last_30_days,
        "discountedLast30Days": st.discounted_last_30_days,
        "assignments": st.assignments,
        "discountedAssignments": st.discounted_assignments,
        "bookingsOnRequestedDay": st.bookings_on_requested_day,
    }
    doc |= {name: value for name, value in figures.items() if value}
    if st.out_of_office_whole_range:
        doc["outOfOfficeWholeRange"] = True
    if not st.available_within_days:
        doc["availableWithinDays"] = False
    return doc


def _stats_from_json(doc: Mapping[str, Any]) -> HostStats:
    return HostStats(
        last_booked_at=_instant_from_json(doc.get("lastBookedAt")),
        bookings_last_30_days=int(doc.get("bookingsLast30Days", 0)),
        discounted_last_30_days=int(doc.get("discountedLast30Days", 0)),
        assignments=int(doc.get("assignments", 0)),
        discounted_assignments=int(doc.get("discountedAssignments", 0)),
        bookings_on_requested_day=int(doc.get("bookingsOnRequestedDay", 0)),
        out_of_office_whole_range=bool(doc.get("outOfOfficeWholeRange", False)),
        available_within_days=bool(doc.get("availableWithinDays", True)),
    )


def inputs_to_json(inputs: RoutingInputs) -> dict[str, Any]:
    """All that `route` reads, as canonical JSON; hosts are kept as their routing profile."""
    return {
        "ruleSetId": inputs.rule_set.id,
        "ruleSet": rule_set_to_json(inputs.rule_set),
        "context": _context_to_json(inputs.context),
        "hosts": {host_id: _host_to_json(inputs.hosts[host_id]) for host_id in sorted(inputs.hosts)},
        # A host with default figures is left out: `route` reads missing stats as `HostStats()`.
        "stats": {
            host_id: _stats_to_json(inputs.stats[host_id])
            for host_id in sorted(inputs.stats)
            if inputs.stats[host_id] != HostStats()
        },
        "now": _instant_to_json(inputs.now),
    }


def inputs_from_json(doc: Mapping[str, Any]) -> RoutingInputs:
    """Inverse of `inputs_to_json`; the directory comes back as `HostProfile`s. Raises ValueError/KeyError."""
    now = _instant_from_json(doc["now"])
    if now is None:
        raise ValueError("now is missing")
    return RoutingInputs(
        rule_set=rule_set_from_json(str(doc["ruleSetId"]), doc["ruleSet"]),
        context=_context_from_json(doc.get("context") or {}),
        hosts={str(host_id): _host_from_json(str(host_id), host) for host_id, host in doc["hosts"].items()},
        stats={str(host_id): _stats_from_json(st) for host_id, st in (doc.get("stats") or {}).items()},
        now=now,
    )


def _trace_to_json(trace: RuleTrace) -> dict[str, Any]:
    return {
        "rule": trace.rule,
        "strategy": trace.strategy,
        "applied": trace.applied,
        "candidates": list(trace.candidates),
        "eligible": list(trace.eligible),
        "excluded": _sorted_map(trace.excluded),
        "reason": trace.reason,
    }


def decision_to_json(decision: RoutingDecision) -> dict[str, Any]:
    """The decision as stored and audited (`GET /routing/decisions/{id}`); keys and maps in a fixed order."""
    return {
        "ruleSet": decision.rule_set,
        "rule": decision.rule,
        "strategy": decision.strategy,
        "fairness": decision.fairness,
        **(
            {"noShowWeight": float(decision.no_show_weight)}
            if decision.no_show_weight != DEFAULT_NO_SHOW_WEIGHT
            else {}
        ),
        "hostIds": list(decision.host_ids),
        "surplus": _sorted_map(decision.surplus),
        "reason": decision.reason,
        "trace": [_trace_to_json(trace) for trace in decision.trace],
        "answers": _sorted_map(decision.answers),
    }


def decision_from_json(doc: Mapping[str, Any]) -> RoutingDecision:
    """Inverse of `decision_to_json` (e.g. to `choose_host` at booking time from a stored decision)."""
    return RoutingDecision(
        rule_set=str(doc["ruleSet"]),
        rule=doc.get("rule"),
        strategy=doc.get("strategy"),
        fairness=doc.get("fairness"),
        no_show_weight=weight_fraction(doc.get("noShowWeight", DEFAULT_NO_SHOW_WEIGHT)),
        host_ids=tuple(doc.get("hostIds") or ()),
        surplus={str(h): int(s) for h, s in (doc.get("surplus") or {}).items()},
        reason=str(doc.get("reason", "")),
        answers={str(q): None if a is None else str(a) for q, a in (doc.get("answers") or {}).items()},
        trace=tuple(
            RuleTrace(
                rule=str(t["rule"]),
                strategy=str(t["strategy"]),
                applied=bool(t["applied"]),
                candidates=tuple(t.get("candidates") or ()),
                eligible=tuple(t.get("eligible") or ()),
                excluded={str(h): str(r) for h, r in (t.get("excluded") or {}).items()},
                reason=str(t.get("reason", "")),
            )
            for t in doc.get("trace") or ()
        ),
    )
