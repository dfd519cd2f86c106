"""`GET /routing/fairness`: the stored bookings a rule set routed in a range, and the report on them.

Which rule set routed a booking is read from the booking (`routing.ruleSet`, written since routed
bookings carry it) or else from its stored routing decision, each decision read once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from scheduling_core.domain.bookings import Booking, BookingReader
from scheduling_core.domain.fairness_report import HostFairness, fairness_report
from scheduling_core.domain.routing.rules import RuleSet
from scheduling_core.domain.values import Host
from scheduling_core.errors import NotFound

PAGE = 500


class RuleSets(Protocol):
    def rule_set(self, rule_set_id: str) -> RuleSet: ...
    def get(self, decision_id: str) -> dict[str, Any]: ...


class Hosts(Protocol):
    def get_hosts(self, host_ids: Sequence[str]) -> list[Host]: ...


class FairnessReports:
    def __init__(self, *, bookings: BookingReader, routing: RuleSets, hosts: Hosts) -> None:
        self._bookings = bookings
        self._routing = routing
        self._hosts = hosts

    def report(self, rule_set_id: str, start: datetime, end: datetime) -> list[HostFairness]:
        rule_set = self._routing.rule_set(rule_set_id)  # NotFound for an unknown rule set
        decisions: dict[str, str | None] = {}  # decision id -> its rule set, each decision read once
        routed = [b for b in self._starting_in(start, end) if self._rule_set_of(b, decisions) == rule_set_id]
        ids = sorted({b.primary_host for b in routed} | {h for r in rule_set.rules for h in r.pool})
        weights = {h.id: h.weight for h in self._known_hosts(ids)}
        return fairness_report(rule_set, routed, weights)

    def _starting_in(self, start: datetime, end: datetime) -> Iterator[Booking]:
        offset: int | None = 0
        while offset is not None:
            page, offset = self._bookings.list_bookings(
                record_id=None, host_id=None, start=start, end=end, status=None, limit=PAGE, offset=offset
            )
            yield from (b for b in page if start <= b.start < end)

    def _rule_set_of(self, booking: Booking, decisions: dict[str, str | None]) -> str | None:
        named = booking.routing.rule_set
        if named:
            return named
        decision_id = booking.routing.decision_id
        if not decision_id:
            return None
        if decision_id not in decisions:
            decisions[decision_id] = self._decision_rule_set(decision_id)
        return decisions[decision_id]

    def _decision_rule_set(self, decision_id: str) -> str | None:
        try:
            document = self._routing.get(decision_id)
        except NotFound:
            return None
        decision = document.get("decision") or {}
        rule_set = decision.get("ruleSet")
        return str(rule_set) if rule_set else None

    def _known_hosts(self, ids: Sequence[str]) -> list[Host]:
        if not ids:
            return []
        try:
            return self._hosts.get_hosts(list(ids))
        except NotFound:  # a host deleted since: read the others one by one
            found = []
            for host_id in ids:
                try:
                    found.extend(self._hosts.get_hosts([host_id]))
                except NotFound:
                    continue
            return found
