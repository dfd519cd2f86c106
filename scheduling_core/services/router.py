"""Routing as a service: gather the inputs (Dataverse, directory, stats, Outlook), decide, store, explain.

Invariants:
- The decision is a pure function of the inputs it stores (`routing.route`): replaying a stored decision's
  inputs gives the same pick. Everything that needs I/O happens here, before `route` is called.
- Every decision is stored before it is used, and carries an id that slots and bookings link to.
- A record that does not exist in Dataverse is a 404, not an empty pool.
- A decision reads, and stores, only the hosts its tried rules propose (at most 500 per rule), by id; the
  whole directory is looked at only through `HostDirectory.all_hosts`, a short-lived per-instance copy,
  for territory and skills shortlists (docs/decisions.md, "Tenant scale").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from scheduling_core.documents.routing_decisions import decision_to_json, inputs_from_json, inputs_to_json
from scheduling_core.documents.rule_sets import RuleSetDoc
from scheduling_core.domain.availability import HostCalendar, host_slot_starts, working_intervals
from scheduling_core.domain.bookings import DiscountedBooking, FairnessDiscount
from scheduling_core.domain.intervals import Interval, merge, subtract
from scheduling_core.domain.matching import (
    AccountRow,
    ContactRow,
    LeadRow,
    Lookup,
    Match,
    MatchedBy,
    domain_matchable,
    email_domain,
    normalize_email,
    split_name,
)
from scheduling_core.domain.matching import match as match_email
from scheduling_core.domain.routing.decisions import RoutingDecision
from scheduling_core.domain.routing.engine import route, shortlist
from scheduling_core.domain.routing.fairness import choose_host
from scheduling_core.domain.routing.inputs import HostStats, RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import Fairness, Rule, RuleSet, Strategy
from scheduling_core.domain.routing.skills import parse_skills
from scheduling_core.domain.values import Commitment, EventType, Host, ShowAs
from scheduling_core.errors import FieldError, InvalidRequest
from scheduling_core.ports import BusyTimeSource, Clock, HostFreeBusy, Mailbox

ROTATION = "rotation"


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    kind: str  # "systemuser" | "team"
    id: str
    aad_object_id: str | None = None
    member_aad_object_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordLocation:
    country: str | None = None
    postal_code: str | None = None


class RecordDirectory(Protocol):
    """What routing needs to know about a Dynamics record (Dataverse adapter)."""

    def record_owner(self, record_type: str, record_id: str) -> Any: ...
    def account_team(self, record_type: str, record_id: str, role: str) -> list[str]: ...
    def record_location(self, record_type: str, record_id: str) -> Any: ...
    def systemuser_aad_id(self, systemuser_id: str) -> str | None: ...
    def contacts_with_email(self, email: str) -> tuple[ContactRow, ...]: ...
    def leads_with_email(self, email: str) -> tuple[LeadRow, ...]: ...
    def accounts_on_domain(self, domain: str) -> tuple[AccountRow, ...]: ...
    def ensure_lead(
        self, *, email: str, first_name: str | None, last_name: str, company: str | None
    ) -> str: ...


class RuleSetStore(Protocol):
    def get_rule_set_doc(self, rule_set_id: str) -> Any: ...


class HostDirectory(Protocol):
    """Hosts by id (fresh rows), and the whole directory through a short-lived cache for scans."""

    def find_hosts(self, host_ids: Iterable[str]) -> list[Host]: ...
    def all_hosts(self) -> tuple[Host, ...]: ...


class RoutingStore(Protocol):
    def save_decision(
        self, decision_id: str, record_id: str | None, at: datetime, document: dict[str, Any]
    ) -> None: ...
    def get_decision(self, decision_id: str) -> dict[str, Any]: ...
    def decisions_for_record(self, record_id: str, limit: int = 100) -> list[dict[str, Any]]: ...
    def rotation(
        self, rule_set: str, rule: str, host_ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]: ...
    def record_assignment(self, rule_set: str, rule: str, host_id: str, at: datetime) -> None: ...


class BookingStats(Protocol):
    def commitments(
        self, host_ids: Sequence[str], window: Interval, exclude: frozenset[str] = frozenset()
    ) -> Mapping[str, Sequence[Commitment]]: ...
    def fairness_discounts(self, host_ids: Sequence[str]) -> list[DiscountedBooking]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextIn:
    """Routing context as callers give it (query string or a booking's `context`)."""

    record_type: str | None = None
    record_id: str | None = None
    owner_id: str | None = None
    territory: str | None = None
    country: str | None = None
    postal_code: str | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    #: The invitee's email, matched to a Dynamics record when no record is given (rule set `matching`).
    email: str | None = None
    #: Answers to the event type's questions (checked by `questions.checked_answers` before routing).
    answers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ContextIn:
        skills_raw = values.get("skills") or {}
        try:
            skills = (
                parse_skills(skills_raw)
                if isinstance(skills_raw, str)
                else {str(k): int(v) for k, v in dict(skills_raw).items()}
            )
        except (TypeError, ValueError):
            raise InvalidRequest(
                "Bad skills.", (FieldError(field="skills", message="use name:level,name"),)
            ) from None

        def text(name: str) -> str | None:
            value = values.get(name)
            return str(value) if value not in (None, "") else None

        return cls(
            record_type=(text("recordType") or "").lower() or None,
            record_id=text("recordId"),
            owner_id=text("ownerId"),
            territory=text("territory"),
            country=text("country"),
            postal_code=text("postalCode"),
            skills=skills,
            email=text("email"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDecision:
    id: str
    decision: RoutingDecision
    inputs: RoutingInputs
    #: The full configuration of the hosts the decision read (so callers need not read them again).
    hosts: Mapping[str, Host] = field(default_factory=dict)
    #: How the invitee email was matched to a record (None: the rule set does not match, or a record
    #: was given).
    match: Match | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "decisionId": self.id,
            "ruleSet": self.decision.rule_set,
            "rule": self.decision.rule,
            "strategy": self.decision.strategy,
            "hostIds": list(self.decision.host_ids),
            "reason": self.decision.reason,
        }
        if self.match is not None:
            summary["match"] = self.match.to_json()
        return summary


class RoutingService:
    def __init__(
        self,
        *,
        rule_sets: RuleSetStore,
        hosts: HostDirectory,
        store: RoutingStore,
        records: RecordDirectory | None,
        busy: BusyTimeSource,
        bookings: BookingStats,
        clock: Clock,
    ) -> None:
        self._rule_sets = rule_sets
        self._hosts = hosts
        self._store = store
        self._records = records
        self._busy = busy
        self._bookings = bookings
        self._clock = clock

    def rule_set(self, rule_set_id: str) -> RuleSet:
        return RuleSetDoc.model_validate(self._rule_sets.get_rule_set_doc(rule_set_id)).to_domain(rule_set_id)

    # ---- deciding --------------------------------------------------------------------------------

    def decide(
        self,
        *,
        rule_set_id: str,
        context: ContextIn,
        window: Interval,
        event_type: EventType,
        booking_start: datetime | None = None,
        override: Mapping[str, Any] | None = None,
    ) -> StoredDecision:
        rule_set = self.rule_set(rule_set_id)
        now = self._clock.now()
        found = self.match(rule_set, context)
        if found is not None and found.record_id is not None:
            context = replace(context, record_type=found.record_type, record_id=found.record_id)
        resolved = self._resolve_context(rule_set, context, now)
        hosts: dict[str, Host] = {}
        stats: dict[str, HostStats] = {}
        # Rule by rule, read only the hosts the rule proposes (and their figures), and stop at the first
        # rule that wins: a decision reads and stores the candidates it considered, never the directory.
        for index, rule in enumerate(rule_set.rules):
            wanted = [h for h in _rule_host_ids(rule, resolved) if h not in hosts]
            if wanted:
                fresh = {h.id: h for h in self._hosts.find_hosts(wanted)}
                stats |= self._stats(rule_set, fresh, window, event_type, booking_start)
                hosts |= fresh
            tried = replace(rule_set, rules=rule_set.rules[: index + 1])
            if route(RoutingInputs(rule_set=tried, context=resolved, hosts=hosts, stats=stats, now=now)).rule:
                break
        # Routing the whole rule set over what was read gives the same pick (rules after the winner are
        # not tried) and is exactly what a replay of the stored inputs computes.
        inputs = RoutingInputs(rule_set=rule_set, context=resolved, hosts=hosts, stats=stats, now=now)
        decision = route(inputs)
        stored = StoredDecision(
            id="rd_" + uuid.uuid4().hex[:24], decision=decision, inputs=inputs, hosts=hosts, match=found
        )
        document: dict[str, Any] = {
            "id": stored.id,
            "at": now.isoformat(),
            "recordId": context.record_id,
            "decision": decision_to_json(decision),
            "inputs": inputs_to_json(inputs),
        }
        if found is not None:
            document["match"] = found.to_json()
        if override is not None:  # a manager's override is part of why the booking went where it did
            document["override"] = dict(override)
        self._store.save_decision(stored.id, context.record_id, now, document)
        return stored

    # ---- matching (routing.md, "Matching people Dynamics already knows") --------------------------

    def match(self, rule_set: RuleSet, context: ContextIn) -> Match | None:
        """The record an invitee email stands for; None when there is nothing to match (no `matching`,
        a record given, no email). Dataverse is asked step by step, and no further than the first hit."""
        settings = rule_set.matching
        if settings is None or context.record_id or not context.email or self._records is None:
            return None
        email = normalize_email(context.email)
        if email_domain(email) is None:  # not an address: nobody to look up, nothing to ask Dataverse
            return Match(by=MatchedBy.NONE, note="not an email address")
        records = self._records
        lookup = Lookup()
        steps: list[tuple[bool, Callable[[], Lookup]]] = [
            (settings.by_contact_email, lambda: replace(lookup, contacts=records.contacts_with_email(email))),
            (settings.by_lead_email, lambda: replace(lookup, leads=records.leads_with_email(email))),
        ]
        domain = domain_matchable(email)
        if domain is not None:
            steps.append(
                (
                    settings.by_account_domain,
                    lambda: replace(lookup, accounts=records.accounts_on_domain(domain)),
                )
            )
        for wanted, read in steps:
            if not wanted:
                continue
            lookup = read()
            found = match_email(settings, email, lookup)
            if found.by is not MatchedBy.NONE:
                return found
        return match_email(settings, email, lookup)

    def asks_email(self, rule_set_id: str) -> bool:
        """Whether the rule set matches invitee emails (the booking page then asks for one first)."""
        settings = self.rule_set(rule_set_id).matching
        return settings is not None and (
            settings.by_contact_email
            or settings.by_lead_email
            or settings.by_account_domain
            or settings.create_lead
        )

    def lead_for(self, rule_set_id: str, *, email: str, name: str, company: str | None) -> Match | None:
        """With `createLead`: the lead a booking that matched nothing lands on (made if need be)."""
        rule_set = self.rule_set(rule_set_id)
        if rule_set.matching is None or not rule_set.matching.create_lead or self._records is None:
            return None
        first, last = split_name(name)
        lead_id = self._records.ensure_lead(email=email, first_name=first, last_name=last, company=company)
        return Match(
            by=MatchedBy.NONE,
            record_type="lead",
            record_id=lead_id,
            created=True,
            note="nothing matched; the booking's lead",
        )

    def replay(self, decision_id: str) -> RoutingDecision:
        document = self._store.get_decision(decision_id)
        return route(inputs_from_json(document["inputs"]))

    def get(self, decision_id: str) -> dict[str, Any]:
        return self._store.get_decision(decision_id)

    def for_record(self, record_id: str) -> list[dict[str, Any]]:
        return self._store.decisions_for_record(record_id)

    def pick_host(self, stored: StoredDecision, free_host_ids: Sequence[str]) -> str | None:
        """At booking time: the best host of the decision's pool among those free at the chosen slot."""
        return choose_host(stored.decision, set(free_host_ids), stored.inputs.hosts, stored.inputs.stats)

    def ordered_pool(self, stored: StoredDecision) -> tuple[str, ...]:
        """The decision's pool, best first (skills surplus, then the rule's fairness, then id).

        `route` already ranked it exactly as `pick_host` would, over the same hosts and figures, so the
        ranking is read off the decision (picking one by one cost O(n²) for a pool of 500).
        """
        return stored.decision.host_ids

    def record_assignment(self, stored: StoredDecision, host_id: str) -> None:
        self._store.record_assignment(stored.decision.rule_set, ROTATION, host_id, self._clock.now())

    # ---- inputs ----------------------------------------------------------------------------------

    def _resolve_context(self, rule_set: RuleSet, context: ContextIn, now: datetime) -> RoutingContext:
        strategies = {
            r.strategy
            for r in rule_set.rules
            if r.when_record_types is None or (context.record_type or "") in r.when_record_types
        }
        has_record = bool(context.record_type and context.record_id)
        owner_ids: tuple[str, ...] = ()
        owner_note: str | None = None
        if Strategy.OWNER in strategies:
            owner_ids, owner_note = self._owner_hosts(context, has_record)
        team: dict[str, tuple[str, ...]] = {}
        if Strategy.ACCOUNT_TEAM in strategies and has_record and self._records is not None:
            assert context.record_type is not None
            assert context.record_id is not None
            for rule in rule_set.rules:
                if rule.strategy is Strategy.ACCOUNT_TEAM and rule.role is not None and rule.role not in team:
                    team[rule.role] = tuple(
                        sorted(self._records.account_team(context.record_type, context.record_id, rule.role))
                    )
        country, postal = context.country, context.postal_code
        if (
            Strategy.TERRITORY in strategies
            and not context.territory
            and not (country or postal)
            and has_record
            and self._records is not None
        ):
            assert context.record_type is not None
            assert context.record_id is not None
            location = self._records.record_location(context.record_type, context.record_id)
            country, postal = location.country, location.postal_code
        resolved = RoutingContext(
            record_type=context.record_type,
            record_id=context.record_id,
            owner_host_ids=owner_ids,
            owner_note=owner_note,
            account_team=team,
            territory=context.territory,
            country=country,
            postal_code=postal,
            skills=dict(context.skills),
            answers=dict(context.answers),
        )
        return self._with_shortlists(rule_set, resolved, now)

    def _with_shortlists(self, rule_set: RuleSet, context: RoutingContext, now: datetime) -> RoutingContext:
        """Territory and skills rules look across the directory (the cached copy), once, before routing."""
        scanning = [
            rule
            for rule in rule_set.rules
            if rule.strategy in (Strategy.TERRITORY, Strategy.SKILLS) and _applies(rule, context.record_type)
        ]
        if not scanning:
            return context
        directory = self._hosts.all_hosts()
        lists: dict[str, tuple[str, ...]] = {}
        totals: dict[str, int] = {}
        for rule in scanning:
            lists[rule.name], totals[rule.name] = shortlist(rule, context, directory, now)
        return replace(context, shortlists=lists, shortlist_totals=totals)

    def _owner_hosts(self, context: ContextIn, has_record: bool) -> tuple[tuple[str, ...], str | None]:
        if context.owner_id:
            if self._hosts.find_hosts([context.owner_id]):
                return (context.owner_id,), None
            wanted = context.owner_id.lower()
            # A Dynamics systemuser id: the one lookup that needs the directory (its cached copy).
            for host in self._hosts.all_hosts():
                if host.dynamics_user_id and host.dynamics_user_id.lower() == wanted:
                    return (host.id,), None
            # Dynamics systemuser ids are GUIDs: anything else is nobody we could ask Dataverse about.
            aad = (
                self._records.systemuser_aad_id(context.owner_id)
                if self._records is not None and _is_guid(context.owner_id)
                else None
            )
            return ((aad,), None) if aad else ((), f"owner {context.owner_id} is not a known user")
        if not has_record or self._records is None:
            return (), "no record given"
        assert context.record_type is not None
        assert context.record_id is not None
        owner = self._records.record_owner(context.record_type, context.record_id)
        if owner is None:
            return (), "the record has no owner"
        if owner.kind == "team":
            return tuple(sorted(owner.member_aad_object_ids)), f"owned by team {owner.id}"
        if owner.aad_object_id:
            return (owner.aad_object_id,), None
        return (), f"owner systemuser {owner.id} has no Entra ID object id"

    def _stats(
        self,
        rule_set: RuleSet,
        hosts: Mapping[str, Host],
        window: Interval,
        event_type: EventType,
        booking_start: datetime | None,
    ) -> dict[str, HostStats]:
        """The figures of `hosts` (only those): rotation state, our bookings, Outlook out-of-office."""
        active = [h for h in hosts.values() if h.active]
        if not active:
            return {}
        rotation = self._store.rotation(rule_set.id, ROTATION, [h.id for h in active])
        now = self._clock.now()
        needs_balance = any(r.fairness is Fairness.BALANCED for r in rule_set.rules)
        needs_discounts = any(r.fairness in (Fairness.BALANCED, Fairness.WEIGHTED) for r in rule_set.rules)
        recent = Interval(now - timedelta(days=30), now)
        elig = rule_set.eligibility
        ahead = Interval(now, now + timedelta(days=elig.require_availability_within_days or 1))
        # Our own bookings are read only over what some input needs: the last 30 days for `balanced`,
        # the slot's day for caps at booking time, the look-ahead for the availability check.
        needed = [recent] if needs_balance else []
        if booking_start is not None and elig.respect_daily_caps:
            needed.append(Interval(booking_start - timedelta(days=1), booking_start + timedelta(days=1)))
        if elig.require_availability_within_days:
            needed.append(ahead)
        commitments: Mapping[str, Sequence[Commitment]] = {}
        if active and needed:
            look = Interval(min(i.start for i in needed), max(i.end for i in needed))
            commitments = self._bookings.commitments([h.id for h in active], look)
        free_busy: Mapping[str, HostFreeBusy] = {}
        if active and (elig.exclude_out_of_office or elig.require_availability_within_days):
            span = Interval(min(window.start, ahead.start), max(window.end, ahead.end))
            free_busy = self._busy.free_busy([Mailbox(host_id=h.id, email=h.email) for h in active], span)
        discounts = _discounts(
            self._bookings.fairness_discounts([h.id for h in active]) if active and needs_discounts else [],
            rule_set.id,
            recent,
        )
        stats: dict[str, HostStats] = {}
        for host in active:
            state = rotation.get(host.id, {})
            # An invitee's no-show is still a confirmed claim: it leaves the whole count for the discounted.
            recent_no_shows, recent_discounted, discounted_assignments = discounts.get(host.id, (0, 0, 0))
            last = state.get("lastBookedAt")
            mine = commitments.get(host.id, ())
            day = _local_day(host, booking_start) if booking_start is not None else None
            answer = free_busy.get(host.id, HostFreeBusy())
            stats[host.id] = HostStats(
                last_booked_at=datetime.fromisoformat(last) if last else None,
                assignments=int(state.get("assignments", 0)),
                bookings_last_30_days=(
                    max(
                        sum(1 for c in mine if c.counts_toward_caps and recent.start <= c.start < now)
                        - recent_no_shows,
                        0,
                    )
                    if needs_balance
                    else 0
                ),
                discounted_last_30_days=recent_discounted if needs_balance else 0,
                discounted_assignments=discounted_assignments,
                bookings_on_requested_day=(
                    sum(
                        1
                        for c in mine
                        if c.counts_toward_caps and day is not None and day.start <= c.start < day.end
                    )
                ),
                out_of_office_whole_range=elig.exclude_out_of_office and _out_of_office(host, answer, window),
                available_within_days=(
                    not elig.require_availability_within_days
                    or answer.error is not None
                    or bool(
                        host_slot_starts(
                            HostCalendar(host=host, busy=answer.items, commitments=tuple(mine)),
                            event_type,
                            ahead,
                            now,
                        )
                    )
                ),
            )
        return stats


def _discounts(
    rows: Sequence[DiscountedBooking], rule_set_id: str, recent: Interval
) -> dict[str, tuple[int, int, int]]:
    """Per host: invitee no-shows and all discounted bookings of the last 30 days (`balanced`), and the
    discounted bookings this rule set assigned (`weighted`: its rotation counted them whole)."""
    counts: dict[str, tuple[int, int, int]] = {}
    for row in rows:
        no_shows, discounted, assigned = counts.get(row.host_id, (0, 0, 0))
        if recent.start <= row.start < recent.end:
            discounted += 1
            no_shows += row.discount is FairnessDiscount.NO_SHOW
        assigned += row.rule_set == rule_set_id
        counts[row.host_id] = (no_shows, discounted, assigned)
    return counts


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text.strip().strip("{}"))
    except ValueError:
        return False
    return True


def _applies(rule: Rule, record_type: str | None) -> bool:
    """The rule's `when` as `routing.route` reads it (record types compared case-insensitively)."""
    if rule.when_record_types is None:
        return True
    return (record_type or "").casefold() in {t.casefold() for t in rule.when_record_types}


def _rule_host_ids(rule: Rule, context: RoutingContext) -> tuple[str, ...]:
    """The host ids a rule may propose, known before routing (none for a rule whose `when` fails)."""
    if not _applies(rule, context.record_type):
        return ()
    match rule.strategy:
        case Strategy.OWNER:
            return context.owner_host_ids
        case Strategy.ACCOUNT_TEAM:
            return context.account_team.get(rule.role or "", ())
        case Strategy.ROUND_ROBIN:
            return rule.pool
        case Strategy.TERRITORY | Strategy.SKILLS:
            return context.shortlists.get(rule.name, ())


def _local_day(host: Host, at: datetime) -> Interval:
    """The host's local calendar day around `at`, in UTC (caps count per local date)."""
    zone = ZoneInfo(host.time_zone)
    local = at.astimezone(zone).date()
    start = datetime.combine(local, time(0), zone).astimezone(UTC)
    end = datetime.combine(local + timedelta(days=1), time(0), zone).astimezone(UTC)
    return Interval(start, end)


def _out_of_office(host: Host, answer: HostFreeBusy, window: Interval) -> bool:
    """True when out-of-office items cover every working minute of the host in `window`."""
    if answer.error is not None:
        return False
    work = merge(working_intervals(host, window))
    oof = merge(
        [Interval(i.start, i.end) for i in answer.items if i.show_as is ShowAs.OOF and not i.is_cancelled]
    )
    if not work or not oof:
        return False
    clipped = [
        Interval(max(w.start, window.start), min(w.end, window.end))
        for w in work
        if max(w.start, window.start) < min(w.end, window.end)
    ]
    return bool(clipped) and not subtract(clipped, oof)
