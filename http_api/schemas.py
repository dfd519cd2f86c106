"""Response bodies of the HTTP contract (api.md) as pydantic models; `/openapi.json` is built from them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from scheduling_core.documents.config import EventTypeDoc, HostDoc


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 7807 problem details with a stable machine-readable `code`."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldProblem] | None = None


class HostOut(HostDoc):
    id: str


class HostList(BaseModel):
    items: list[HostOut]


class EventTypeOut(EventTypeDoc):
    slug: str


class EventTypeList(BaseModel):
    items: list[EventTypeOut]


class RoutingOut(BaseModel):
    """Why these hosts were asked (routing rule sets add `decisionId`, `ruleSet` and `rule`)."""

    decisionId: str | None = None
    ruleSet: str | None = None
    rule: str | None = None
    strategy: str
    hostIds: list[str]
    reason: str


class SlotOut(BaseModel):
    start: str = Field(description="ISO 8601 with the offset of the requested timeZone")
    end: str
    hostIds: list[str]


class SlotsResponse(BaseModel):
    eventType: str
    timeZone: str
    durationMinutes: int
    routing: RoutingOut
    slots: list[SlotOut]


class ExplainReasonOut(BaseModel):
    code: Literal[
        "outside-working-hours",
        "date-override",
        "busy",
        "buffer",
        "booked",
        "held",
        "minimum-notice",
        "booking-window",
        "daily-cap",
        "event-type-cap",
        "not-aligned",
        "host-inactive",
    ]
    detail: str = Field(description="Human-readable; an Outlook item is told by its status and times only")
    from_: str | None = Field(default=None, alias="from", description="Start of what blocks, if timed")
    to: str | None = Field(default=None, description="End of what blocks, or the earliest bookable start")


class ExplainResponse(BaseModel):
    start: str
    hostId: str
    bookable: bool
    reasons: list[ExplainReasonOut] = Field(description="Empty exactly when bookable")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str]
    #: Hosts whose Outlook mailbox Graph cannot serve (mailbox faults), with the reason.
    degradedHosts: dict[str, str] = {}


class InviteeOut(BaseModel):
    name: str
    email: str
    phone: str | None = None


class MatchOut(BaseModel):
    """How the invitee email was matched to a Dynamics record (routing.md, "Matching people ...")."""

    by: Literal["contactEmail", "leadEmail", "accountDomain", "none"]
    recordType: str | None = None
    recordId: str | None = None
    contactId: str | None = Field(default=None, description="contactEmail: the contact that matched")
    others: list[str] = Field(default_factory=list, description="other candidates, in rank order")
    created: bool = Field(default=False, description="the record is a lead created by createLead")
    note: str = ""


class OverrideOut(BaseModel):
    reason: str
    allow: list[str]


class ReassignmentOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    reason: str
    at: str


class BookingRoutingOut(BaseModel):
    decisionId: str | None = None
    ruleSet: str | None = Field(default=None, exclude_if=lambda v: v is None)
    rule: str | None = None
    strategy: str
    reason: str
    override: OverrideOut | None = Field(
        default=None, description="A manager's override: the rules it lifted", exclude_if=lambda v: v is None
    )
    reassigned: ReassignmentOut | None = Field(
        default=None, description="The last reassignment to another host", exclude_if=lambda v: v is None
    )
    match: MatchOut | None = Field(
        default=None,
        description="How the invitee email was matched (rule set matching)",
        exclude_if=lambda v: v is None,
    )


class OutlookSync(BaseModel):
    eventId: str | None = None
    joinUrl: str | None = None
    syncStatus: str
    drift: dict[str, object] | None = None
    error: str | None = Field(
        default=None,
        description="Why the last sync failed (only when failed)",
        exclude_if=lambda v: v is None,
    )


class DynamicsSync(BaseModel):
    appointmentId: str
    syncStatus: str
    error: str | None = Field(
        default=None,
        description="Why the last sync failed (only when failed)",
        exclude_if=lambda v: v is None,
    )


class Cancellation(BaseModel):
    reason: str | None = None
    source: str
    by: str | None = Field(default=None, description="Who cancelled: invitee (manage link), api, ...")
    at: str


class Attendance(BaseModel):
    status: Literal["noShow"]
    party: Literal["invitee", "host"]
    at: str
    note: str | None = Field(default=None, exclude_if=lambda v: v is None)


class BookingOut(BaseModel):
    id: str
    status: str
    version: int
    eventType: str
    start: str
    end: str
    timeZone: str
    hostIds: list[str]
    invitee: InviteeOut
    context: dict[str, object]
    answers: dict[str, object]
    metadata: dict[str, object]
    routing: BookingRoutingOut
    outlook: OutlookSync
    dynamics: DynamicsSync
    createdAt: str
    updatedAt: str
    cancellation: Cancellation | None = None
    manageUrl: str | None = Field(
        default=None,
        description="The invitee's link to reschedule or cancel (no key; the token is the credential)",
    )
    attendance: Attendance | None = Field(default=None, exclude_if=lambda v: v is None)


class BookingList(BaseModel):
    items: list[BookingOut]
    continuationToken: str | None = None


class HoldOut(BaseModel):
    id: str
    hostIds: list[str]
    start: str
    end: str
    expiresAt: str


class RoutingDecisionOut(BaseModel):
    """A stored routing decision: what was decided, every rule tried and why, and the replayable inputs."""

    id: str
    at: str
    recordId: str | None = None
    decision: dict[str, object]
    inputs: dict[str, object]
    override: OverrideOut | None = Field(
        default=None, description="A manager's override on the booking", exclude_if=lambda v: v is None
    )
    match: MatchOut | None = Field(
        default=None,
        description="How the invitee email was matched (rule set matching)",
        exclude_if=lambda v: v is None,
    )


class RoutingDecisionList(BaseModel):
    items: list[RoutingDecisionOut]
