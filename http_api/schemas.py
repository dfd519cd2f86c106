"""Response bodies of the HTTP contract (api.md) as pydantic models; `/openapi.json` is built from them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from scheduling_core.documents import EventTypeDoc, HostDoc


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


class HealthResponse(BaseModel):
    status: str
    checks: dict[str, str]
