"""The fairness report of a rule set (api.md, Team operations): who got how much, against their weight.

Pure: it counts the bookings it is given (those routed by the rule set and starting in the range, read
from storage by `services.fairness_report`); nothing here keeps a count of its own that could drift.

Counting, per host (the booking's primary host, the one routing picked):
- `bookings`: every booking routed to the host, whatever became of it; `cancelled` and `noShows` (either
  party) are among them.
- `actualShare`: the host's share of the counted bookings, counted as routing's `balanced` and
  `weighted` fairness count them (routing.md): a booking that happened or is still to come counts 1, an
  invitee's no-show or cancel counts the rule's `noShowWeight`, any other cancel counts 0.
- `expectedShare`: the host's weight over the weights of every host in the report (the rule set's
  round-robin pools and whoever got a booking), what weighted fairness aims at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from scheduling_core.domain.bookings import Booking, BookingStatus
from scheduling_core.domain.routing.rules import DEFAULT_NO_SHOW_WEIGHT, RuleSet

SHARE_DIGITS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFairness:
    host_id: str
    weight: int
    bookings: int
    cancelled: int
    no_shows: int
    expected_share: float
    actual_share: float


def counted(booking: Booking, no_show_weight: Fraction) -> Fraction:
    """How much of a booking fairness charges its host for (see the module docstring)."""
    if booking.fairness_discount is not None:
        return no_show_weight
    return Fraction(0) if booking.status is BookingStatus.CANCELLED else Fraction(1)


def _share(part: Fraction, whole: Fraction) -> float:
    return round(float(part / whole), SHARE_DIGITS) if whole else 0.0


def fairness_report(
    rule_set: RuleSet, bookings: Iterable[Booking], weights: Mapping[str, int]
) -> list[HostFairness]:
    """Per host, sorted by host id, the counts and shares of `bookings` (already routed by `rule_set`).

    `weights`: the hosts' current weights; a host no longer in the directory weighs 0.
    """
    rule_weights = {rule.name: rule.no_show_weight for rule in rule_set.rules}
    hosts = {host_id for rule in rule_set.rules for host_id in rule.pool}
    tallies: dict[str, list[Booking]] = {}
    for booking in bookings:
        tallies.setdefault(booking.primary_host, []).append(booking)
    hosts |= tallies.keys()
    charged = {
        host_id: sum(
            (
                counted(b, rule_weights.get(str(b.routing.rule), DEFAULT_NO_SHOW_WEIGHT))
                for b in tallies.get(host_id, ())
            ),
            Fraction(0),
        )
        for host_id in hosts
    }
    total_charged = sum(charged.values(), Fraction(0))
    total_weight = Fraction(sum(max(weights.get(h, 0), 0) for h in hosts))
    report = []
    for host_id in sorted(hosts):
        mine: Sequence[Booking] = tallies.get(host_id, ())
        weight = max(weights.get(host_id, 0), 0)
        report.append(
            HostFairness(
                host_id=host_id,
                weight=weight,
                bookings=len(mine),
                cancelled=sum(1 for b in mine if b.status is BookingStatus.CANCELLED),
                no_shows=sum(1 for b in mine if b.no_show),
                expected_share=_share(Fraction(weight), total_weight),
                actual_share=_share(charged[host_id], total_charged),
            )
        )
    return report
