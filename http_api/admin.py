"""`/admin/hosts/{hostId}` and `/admin/event-types/{slug}`: configuration, stored in Table storage."""

from __future__ import annotations

import azure.functions as func

from http_api.auth import Access
from http_api.endpoint import Operation, endpoint, json_response, read_json, route_param
from http_api.schemas import EventTypeList, EventTypeOut, HostList, HostOut, Problem
from scheduling_core.composition import services
from scheduling_core.documents import HOST_ID_PATTERN, SLUG_PATTERN, EventTypeDoc, HostDoc
from scheduling_core.domain import EventType, Host

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


@endpoint(
    bp,
    route="admin/hosts/{hostId}",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="GET",
            operation_id="GetHost",
            summary="Get a host",
            tag="admin",
            responses={200: HostOut, **_ERRORS},
        ),
        Operation(
            method="PUT",
            operation_id="PutHost",
            summary="Create or replace a host",
            tag="admin",
            request=HostDoc,
            responses={200: HostOut, 201: HostOut, 400: Problem, 413: Problem, **_ERRORS},
        ),
        Operation(
            method="DELETE",
            operation_id="DeleteHost",
            summary="Delete a host",
            tag="admin",
            responses={204: None, **_ERRORS},
        ),
    ),
)
def admin_host(req: func.HttpRequest) -> func.HttpResponse:
    host_id = route_param(req, "hostId", HOST_ID_PATTERN)
    config = services().config
    if req.method == "PUT":
        host = read_json(req, HostDoc).to_domain(host_id)
        created = config.put_host(host)
        return json_response(_host_out(host), 201 if created else 200)
    if req.method == "DELETE":
        config.delete_host(host_id)
        return func.HttpResponse(status_code=204)
    return json_response(_host_out(config.get_host(host_id)))


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
    operations=(
        Operation(
            method="GET",
            operation_id="GetEventType",
            summary="Get an event type",
            tag="admin",
            responses={200: EventTypeOut, **_ERRORS},
        ),
        Operation(
            method="PUT",
            operation_id="PutEventType",
            summary="Create or replace an event type",
            tag="admin",
            request=EventTypeDoc,
            responses={200: EventTypeOut, 201: EventTypeOut, 400: Problem, 413: Problem, **_ERRORS},
        ),
        Operation(
            method="DELETE",
            operation_id="DeleteEventType",
            summary="Delete an event type",
            tag="admin",
            responses={204: None, **_ERRORS},
        ),
    ),
)
def admin_event_type(req: func.HttpRequest) -> func.HttpResponse:
    slug = route_param(req, "slug", SLUG_PATTERN)
    config = services().config
    if req.method == "PUT":
        event_type = read_json(req, EventTypeDoc).to_domain(slug)
        created = config.put_event_type(event_type)
        return json_response(_event_type_out(event_type), 201 if created else 200)
    if req.method == "DELETE":
        config.delete_event_type(slug)
        return func.HttpResponse(status_code=204)
    return json_response(_event_type_out(config.get_event_type(slug)))
