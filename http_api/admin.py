"""`/admin/hosts/{hostId}` and `/admin/event-types/{slug}`: configuration, stored in Table storage."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import azure.functions as func
from pydantic import Field

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import (
    Operation,
    QueryParam,
    document_methods,
    document_operations,
    endpoint,
    json_response,
    read_json,
    route_param,
)
from http_api.schemas import EventTypeList, EventTypeOut, HostList, HostOut, Problem
from http_api.team import ReassignOut, reassign_out, reassign_page
from scheduling_core.documents.config import HOST_ID_PATTERN, SLUG_PATTERN, EventTypeDoc, HostDoc
from scheduling_core.domain.values import EventType, Host
from scheduling_core.errors import InvalidRequest

bp = func.Blueprint()

_ERRORS: dict[int, type[Problem] | None] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}


def _host_out(host: Host) -> HostOut:
    return HostOut(id=host.id, **HostDoc.from_domain(host).model_dump())


def _event_type_out(event_type: EventType) -> EventTypeOut:
    return EventTypeOut(slug=event_type.slug, **EventTypeDoc.from_domain(event_type).model_dump())


@endpoint(
    bp,
    route="admin/hosts",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="GET",
            operation_id="ListHosts",
            summary="List hosts",
            tag="admin",
            responses={200: HostList, 401: Problem, 403: Problem},
        ),
    ),
)
def admin_list_hosts(req: func.HttpRequest) -> func.HttpResponse:
    hosts = services().config.list_hosts()
    return json_response(HostList(items=[_host_out(h) for h in hosts]))


REASSIGN_PARAM = QueryParam(
    name="reassignFutureBookings",
    description=(
        "With active false: move the host's future bookings as POST /admin/hosts/{hostId}/reassign does "
        "(routing picks the new hosts); the answer's `reassignment` lists them"
    ),
    schema={"type": "boolean"},
)
#: Deactivating with `reassignFutureBookings` moves bookings from now up to here (api.md Limits' end).
FUTURE_END = datetime(2100, 12, 31, tzinfo=UTC)


def _host_operations() -> tuple[Operation, ...]:
    get, put, delete = document_operations(name="Host", label="a host", request=HostDoc, out=HostOut)
    put = replace(put, query=(REASSIGN_PARAM,), responses={**put.responses, 200: HostPutOut, 201: HostPutOut})
    return get, put, delete


class HostPutOut(HostOut):
    reassignment: ReassignOut | None = Field(
        default=None,
        description="Only with reassignFutureBookings=true: the first page of the move",
        exclude_if=lambda v: v is None,
    )


def _reassign_requested(req: func.HttpRequest) -> bool:
    value = (req.params.get("reassignFutureBookings") or "false").lower()
    if value not in ("true", "false"):
        raise InvalidRequest("reassignFutureBookings must be true or false.")
    return value == "true"


@endpoint(bp, route="admin/hosts/{hostId}", access=Access.ADMIN, operations=_host_operations())
def admin_host(req: func.HttpRequest) -> func.HttpResponse:
    host_id = route_param(req, "hostId", HOST_ID_PATTERN)
    config = services().config

    def put() -> tuple[HostOut, bool]:
        host = read_json(req, HostDoc).to_domain(host_id)
        move = _reassign_requested(req)
        if move and host.active:
            raise InvalidRequest("reassignFutureBookings needs active: false.")
        created = config.put_host(host)  # saved first: routing no longer offers the host
        out = HostPutOut(id=host.id, **HostDoc.from_domain(host).model_dump())
        if move:
            start = services().clock.now()
            page = reassign_page(host.id, start, FUTURE_END, None, "host deactivated")
            out.reassignment = reassign_out(page)
        return out, created

    return document_methods(
        req,
        get=lambda: _host_out(config.get_host(host_id)),
        put=put,
        delete=lambda: config.delete_host(host_id),
    )


@endpoint(
    bp,
    route="admin/event-types",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="GET",
            operation_id="ListEventTypes",
            summary="List event types",
            tag="admin",
            responses={200: EventTypeList, 401: Problem, 403: Problem},
        ),
    ),
)
def admin_list_event_types(req: func.HttpRequest) -> func.HttpResponse:
    items = services().config.list_event_types()
    return json_response(EventTypeList(items=[_event_type_out(e) for e in items]))


@endpoint(
    bp,
    route="admin/event-types/{slug}",
    access=Access.ADMIN,
    operations=document_operations(
        name="EventType", label="an event type", request=EventTypeDoc, out=EventTypeOut
    ),
)
def admin_event_type(req: func.HttpRequest) -> func.HttpResponse:
    slug = route_param(req, "slug", SLUG_PATTERN)
    config = services().config

    def put() -> tuple[EventTypeOut, bool]:
        event_type = read_json(req, EventTypeDoc).to_domain(slug)
        return _event_type_out(event_type), config.put_event_type(event_type)

    return document_methods(
        req,
        get=lambda: _event_type_out(config.get_event_type(slug)),
        put=put,
        delete=lambda: config.delete_event_type(slug),
    )
