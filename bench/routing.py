"""Routing + pooled slots for a 100-host pool over 14 days (the pure computation a routed `/slots` runs).

    PYTHONPATH=. .venv/bin/python bench/routing.py [--hosts 100] [--days 14] [--runs 15]

A rule set that falls through owner (no owner known) and territory (no territory matches) to skills
(every host is a candidate, ranked by surplus) and on to a round-robin pool of every host; the decision's
pool is then fed to `pooled_slots` (any-of). Data comes from `bench/slots.py`'s generator (10 Outlook items
per host per working day, bookings and holds, several zones). Prints the median ms of `route`, of
`pooled_slots` and of both, and how many slots and hosts came out.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from slots import build

from scheduling_core.domain.availability import PoolMode, pooled_slots
from scheduling_core.domain.routing.engine import route
from scheduling_core.domain.routing.inputs import HostStats, RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import (
    Eligibility,
    Fairness,
    Rule,
    RuleSet,
    Strategy,
    TerritoryMatch,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    calendars, event_type, window, now = build(args.hosts, args.days)
    rng = random.Random(7)
    hosts = {}
    for calendar in calendars:
        host = calendar.host
        hosts[host.id] = type(host)(
            **{
                **{f: getattr(host, f) for f in host.__dataclass_fields__},
                "skills": {"german": rng.randint(1, 5), "field-service": rng.randint(0, 5)},
                "territories": (rng.choice(["DACH", "FR", "US-East"]),),
                "weight": rng.choice([50, 100, 200]),
            }
        )
    calendars = [type(c)(host=hosts[c.host.id], busy=c.busy, commitments=c.commitments) for c in calendars]
    rule_set = RuleSet(
        id="bench",
        rules=(
            Rule(name="lead owner", strategy=Strategy.OWNER, when_record_types=frozenset({"lead"})),
            Rule(
                name="territory",
                strategy=Strategy.TERRITORY,
                territories={"Nordics": TerritoryMatch(countries=frozenset({"SE", "NO"}))},
            ),
            Rule(name="skills", strategy=Strategy.SKILLS, require={"german": 6}),
            Rule(
                name="pool",
                strategy=Strategy.ROUND_ROBIN,
                pool=tuple(sorted(hosts)),
                fairness=Fairness.BALANCED,
            ),
        ),
        eligibility=Eligibility(),
    )
    stats = {
        h: HostStats(bookings_last_30_days=rng.randint(0, 40), assignments=rng.randint(0, 40)) for h in hosts
    }
    inputs = RoutingInputs(
        rule_set=rule_set,
        context=RoutingContext(
            record_type="lead", record_id="lead-1", country="SE", postal_code=None, territory=None
        ),
        hosts=hosts,
        stats=stats,
        now=now,
    )
    by_id = {c.host.id: c for c in calendars}
    route_ms, slots_ms = [], []
    decision = route(inputs)
    slots = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        decision = route(inputs)
        t1 = time.perf_counter()
        slots = pooled_slots([by_id[h] for h in decision.host_ids], event_type, window, now, PoolMode.ANY_OF)
        t2 = time.perf_counter()
        route_ms.append((t1 - t0) * 1000)
        slots_ms.append((t2 - t1) * 1000)
    total = [a + b for a, b in zip(route_ms, slots_ms, strict=True)]
    print(
        f"routing: {len(hosts)} hosts, rule '{decision.rule}' ({decision.strategy}), pool of "
        f"{len(decision.host_ids)}; {args.days} days, 15-min grid, 30-min meetings"
    )
    print(f"slots: {len(slots)}, host-slots: {sum(len(s.host_ids) for s in slots)}")
    print(
        f"route(): median {statistics.median(route_ms):.1f} ms; pooled_slots(): median "
        f"{statistics.median(slots_ms):.1f} ms; both: median {statistics.median(total):.1f} ms "
        f"over {args.runs} runs"
    )


if __name__ == "__main__":
    main()
