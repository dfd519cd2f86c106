"""Everything `route` reads, resolved before routing: the record's context, the hosts, their stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from scheduling_core.domain.routing.rules import RuleSet
from scheduling_core.domain.values import Host

#: The most candidates one rule considers (api.md: routing pools of 500). Bounds what a decision reads
#: and stores, whatever the tenant's size.
MAX_CANDIDATES = 500


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


#: The figures of a host without stats.
NO_STATS = HostStats()


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
