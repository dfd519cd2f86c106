"""Routing at api.md's scale (5,000 hosts, pools of 500): shortlists bound what a rule considers and keeps."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

from scheduling_core.documents.routing_decisions import decision_to_json, inputs_from_json, inputs_to_json
from scheduling_core.domain.routing.engine import route, shortlist
from scheduling_core.domain.routing.inputs import (
    MAX_CANDIDATES,
    HostProfile,
    HostStats,
    RoutingContext,
    RoutingInputs,
)
from scheduling_core.domain.routing.rules import Rule, RuleSet, Strategy

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TENANT = 5_000
SKILLS = Rule(name="english", strategy=Strategy.SKILLS, require={"english": 3})
TERRITORY = Rule(name="territory", strategy=Strategy.TERRITORY)


def _build_directory() -> dict[str, HostProfile]:
    """5,000 hosts; every one speaks English at 3..7, one in ten is inactive, all cover territory T."""
    return {
        f"h{i:04d}": HostProfile(
            id=f"h{i:04d}", active=i % 10 != 9, skills={"english": 3 + i % 5}, territories=("T",)
        )
        for i in range(TENANT)
    }


DIRECTORY = _build_directory()


def _directory() -> dict[str, HostProfile]:
    return dict(DIRECTORY)


def _routed(rule: Rule, context: RoutingContext) -> tuple[RoutingInputs, dict[str, HostProfile]]:
    """What the service does: shortlist from the whole directory, then route over the shortlisted hosts."""
    directory = _directory()
    ids, total = shortlist(rule, context, directory.values(), NOW)
    context = RoutingContext(
        record_type=context.record_type,
        territory=context.territory,
        shortlists={rule.name: ids},
        shortlist_totals={rule.name: total},
    )
    hosts = {h: directory[h] for h in ids}
    stats = {h: HostStats(last_booked_at=NOW - timedelta(hours=int(h[1:]) % 97)) for h in ids}
    rule_set = RuleSet(id="big", rules=(rule,))
    return RoutingInputs(rule_set=rule_set, context=context, hosts=hosts, stats=stats, now=NOW), directory


def test_a_skills_rule_over_5000_qualified_hosts_considers_the_500_with_most_surplus() -> None:
    ids, total = shortlist(SKILLS, RoutingContext(), _directory().values(), NOW)
    assert total == 4_500  # the inactive tenth never qualifies
    assert len(ids) == MAX_CANDIDATES == 500
    # 900 active hosts have english 7 (surplus 4): the 500 kept are all among them.
    assert {int(h[1:]) % 5 for h in ids} == {4}
    assert list(ids) == sorted(ids)


def test_the_cut_rotates_by_the_hour_so_no_host_is_left_out_for_good() -> None:
    seen: set[str] = set()
    for hour in range(24):
        ids, _ = shortlist(
            TERRITORY, RoutingContext(territory="T"), _directory().values(), NOW + timedelta(hours=hour)
        )
        assert len(ids) == 500
        seen |= set(ids)
    assert len(seen) > 4_000
    again, _ = shortlist(TERRITORY, RoutingContext(territory="T"), _directory().values(), NOW)
    assert again == shortlist(TERRITORY, RoutingContext(territory="T"), _directory().values(), NOW)[0]


def test_a_decision_over_a_5000_host_tenant_stores_its_500_candidates_in_a_few_kilobytes() -> None:
    for rule, context in ((SKILLS, RoutingContext()), (TERRITORY, RoutingContext(territory="T"))):
        inputs, _ = _routed(rule, context)
        decision = route(inputs)
        assert decision.rule == rule.name and len(decision.host_ids) == 500
        document = {"decision": decision_to_json(decision), "inputs": inputs_to_json(inputs)}
        stored = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)
        assert len(stored) < 16 * 1024, len(stored)
        assert "4500 in the directory; the 500 considered are a rotating sample" in decision.reason


def test_a_shortlisted_decision_replays_from_its_stored_inputs_alone() -> None:
    inputs, directory = _routed(TERRITORY, RoutingContext(territory="T"))
    replayed = inputs_from_json(json.loads(json.dumps(inputs_to_json(inputs))))
    assert route(replayed) == route(inputs)
    # Candidates come from the stored shortlist, not from whichever hosts a replay happens to know.
    extra = next(h for h, host in directory.items() if host.active and h not in replayed.hosts)
    more = RoutingInputs(
        rule_set=replayed.rule_set,
        context=replayed.context,
        hosts=dict(replayed.hosts) | {extra: directory[extra]},
        stats=replayed.stats,
        now=NOW,
    )
    assert route(more).trace == route(inputs).trace
