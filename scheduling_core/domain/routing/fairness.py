"""Fairness: ranking a pool of hosts (routing.md, "Fairness"), and picking from it at booking time.

`route` ranks each rule's eligible hosts with `rank`; at booking time `choose_host` picks the best host of
a stored decision's pool that is free at the chosen slot, ranked the same way with the stats of then.
(The fairness *report* of a rule set is `domain.fairness_report`.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC
from fractions import Fraction
from typing import Any

from scheduling_core.domain.routing.decisions import RoutingDecision
from scheduling_core.domain.routing.inputs import NO_STATS, DirectoryHost, HostStats
from scheduling_core.domain.routing.rules import DEFAULT_NO_SHOW_WEIGHT, Fairness


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
    st = stats.get(host_id, NO_STATS)
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


def rank(
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
    ranked = rank(options, Fairness(fairness), hosts, stats, surplus or {}, no_show_weight)
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
