"""`GET /slots`: bookable times of an event type, rendered in the caller's time zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from pydantic_core import to_json

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, QueryParam, endpoint, query_values
from http_api.problems import invalid_request
from http_api.schemas import ExplainResponse, Problem, SlotsResponse
from scheduling_core.documents.config import HOST_ID_PATTERN, SLUG_PATTERN
from scheduling_core.domain.questions import answers_from_query
from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.domain.values import Slot
from scheduling_core.services.router import ContextIn
from scheduling_core.services.slots import Explanation, SlotAnswer, resolve_window

bp = func.Blueprint()


class SlotsQuery(BaseModel):
    eventType: str = Field(pattern=SLUG_PATTERN)
    start: str = Field(min_length=10, max_length=40)
    end: str = Field(min_length=10, max_length=40)
    timeZone: str = Field(default="UTC", max_length=64)
    hostId: list[Annotated[str, Field(pattern=HOST_ID_PATTERN)]] = Field(default_factory=list, max_length=100)


_QUERY = (
    QueryParam(
        name="eventType",
        description="Event type slug; answers to its questions go as answers.<id>=<value> parameters",
        required=True,
    ),
    QueryParam(
        name="start", description="First local date (YYYY-MM-DD, inclusive) or an instant", required=True
    ),
    QueryParam(
        name="end", description="Last local date (inclusive) or an instant (exclusive)", required=True
    ),
    QueryParam(name="timeZone", description="IANA or Windows zone for dates and rendering (default UTC)"),
    QueryParam(name="hostId", description="Hosts to ask instead of the event type's", repeatable=True),
    QueryParam(
        name="recordType", description="Routing context: lead, opportunity, account, contact, incident"
    ),
    QueryParam(name="recordId", description="Routing context: the Dynamics record id"),
    QueryParam(name="ownerId", description="Routing context: the record owner (host or systemuser id)"),
    QueryParam(name="territory", description="Routing context: territory name"),
    QueryParam(name="country", description="Routing context: ISO country code"),
    QueryParam(name="postalCode", description="Routing context: postal code"),
    QueryParam(name="skills", description="Routing context: required skills, e.g. german:3,field-service"),
    QueryParam(
        name="email",
        description="Routing context: the invitee's email, matched to a Dynamics record when the rule set "
        "has `matching` and no recordId is given",
    ),
)
_CONTEXT = ("recordType", "recordId", "ownerId", "territory", "country", "postalCode", "skills", "email")


@endpoint(
    bp,
    route="slots",
    access=Access.API,
    operations=(
        Operation(
            method="GET",
            operation_id="GetSlots",
            summary="Bookable slots of an event type",
            tag="slots",
            query=_QUERY,
            responses={
                200: SlotsResponse,
                401: Problem,
                403: Problem,
                404: Problem,
                422: Problem,
                503: Problem,
            },
        ),
    ),
)
def get_slots(req: func.HttpRequest) -> func.HttpResponse:
    raw = {name: req.params.get(name) for name in ("eventType", "start", "end", "timeZone")}
    try:
        query = SlotsQuery.model_validate(
            {k: v for k, v in raw.items() if v is not None} | {"hostId": query_values(req, "hostId")}
        )
    except ValidationError as exc:
        raise invalid_request(exc) from None
    zone = resolve_time_zone(query.timeZone)
    window = resolve_window(query.start, query.end, zone)
    context = replace(
        ContextIn.from_mapping({k: req.params[k][:100] for k in _CONTEXT if req.params.get(k)}),
        answers={k: v[:2000] for k, v in answers_from_query(req.params).items() if v},
    )
    answer = services().slots.find_slots(
        event_type_slug=query.eventType, window=window, host_ids=query.hostId, context=context
    )
    return func.HttpResponse(render_slots(answer, zone), status_code=200, mimetype="application/json")


def render_slots(answer: SlotAnswer, zone: ZoneInfo) -> bytes:
    """The 200 body, byte for byte what `SlotsResponse.model_dump_json()` gives (api.md's shape).

    A month of a pool is ~10^3 slots: a pydantic model, two `astimezone` and two `isoformat` per
    slot cost more than computing them. pydantic-core writes the JSON in Rust; field order and nulls
    follow `SlotsResponse`. A warm request gets the very `Slot` objects the last one got (the
    engine keeps a pool's answer), so each slot's JSON is kept per slot and zone and the body is
    the head, those pieces joined by commas, and the closing brackets.
    """
    selection = answer.selection
    head = to_json(
        {
            "eventType": answer.event_type.slug,
            "timeZone": zone.key,
            "durationMinutes": answer.event_type.duration_minutes,
            "routing": {
                "decisionId": selection.decision_id,
                "ruleSet": selection.rule_set,
                "rule": selection.rule,
                "strategy": selection.strategy,
                "hostIds": selection.host_ids,
                "reason": selection.reason,
            },
            "slots": [],
        }
    )
    assert head.endswith(b"[]}")  # "slots" is the last member
    return b"".join((head[:-2], b",".join([_slot_json(slot, zone) for slot in answer.slots]), b"]}"))


def _slot_json(slot: Slot, zone: ZoneInfo) -> bytes:
    key = (id(slot), zone)
    kept = _slot_bodies.get(key)
    if kept is not None and kept[0] is slot:  # the entry pins its slot, so a live id names it
        return kept[1]
    body = to_json(
        {"start": _local_iso(slot.start, zone), "end": _local_iso(slot.end, zone), "hostIds": slot.host_ids}
    )
    global _slot_bytes
    if len(_slot_bodies) >= _SLOT_BODIES_SIZE or _slot_bytes + len(body) > _SLOT_BODIES_BYTES:
        _slot_bodies.clear()  # a few pools' months; starting over costs one request's rendering
        _slot_bytes = 0
    _slot_bodies[key] = (slot, body)
    _slot_bytes += len(body)
    return body


_SLOT_BODIES_SIZE = 1 << 16
_SLOT_BODIES_BYTES = 64 << 20  # a 500-host pool's slot lists up to ~20 KB each
_slot_bodies: dict[tuple[int, ZoneInfo], tuple[Slot, bytes]] = {}
_slot_bytes = 0


@lru_cache(maxsize=1 << 16)  # pure; the engine hands out the same instants request after request
def _local_iso(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).isoformat()


class ExplainQuery(BaseModel):
    eventType: str = Field(pattern=SLUG_PATTERN)
    hostId: str = Field(pattern=HOST_ID_PATTERN)
    start: AwareDatetime
    timeZone: str = Field(default="UTC", max_length=64)


@endpoint(
    bp,
    route="slots/explain",
    access=Access.API,
    operations=(
        Operation(
            method="GET",
            operation_id="ExplainSlot",
            summary="Why one start is or is not bookable with one host",
            tag="slots",
            query=(
                QueryParam(name="eventType", description="Event type slug", required=True),
                QueryParam(name="hostId", description="The host to explain", required=True),
                QueryParam(
                    name="start", description="The start, an ISO 8601 instant with offset", required=True
                ),
                QueryParam(name="timeZone", description="IANA or Windows zone for rendering (default UTC)"),
            ),
            responses={
                200: ExplainResponse,
                401: Problem,
                403: Problem,
                404: Problem,
                422: Problem,
                503: Problem,
            },
        ),
    ),
)
def explain_slot(req: func.HttpRequest) -> func.HttpResponse:
    raw = {name: req.params.get(name) for name in ("eventType", "hostId", "start", "timeZone")}
    try:
        query = ExplainQuery.model_validate(
            {k: v.replace(" ", "+") if k == "start" else v for k, v in raw.items() if v is not None}
        )
    except ValidationError as exc:
        raise invalid_request(exc) from None
    zone = resolve_time_zone(query.timeZone)
    answer = services().slots.explain(
        event_type_slug=query.eventType, host_id=query.hostId, start=query.start
    )
    return func.HttpResponse(render_explanation(answer, zone), status_code=200, mimetype="application/json")


def render_explanation(answer: Explanation, zone: ZoneInfo) -> bytes:
    """The 200 body (`ExplainResponse`); `from`/`to` only where a reason has them."""
    reasons = []
    for reason in answer.reasons:
        item: dict[str, str] = {"code": reason.code.value, "detail": reason.detail}
        if reason.start is not None:
            item["from"] = _local_iso(reason.start, zone)
        if reason.end is not None:
            item["to"] = _local_iso(reason.end, zone)
        reasons.append(item)
    body = {
        "start": _local_iso(answer.start, zone),
        "hostId": answer.host_id,
        "bookable": answer.bookable,
        "reasons": reasons,
    }
    return to_json(body)
