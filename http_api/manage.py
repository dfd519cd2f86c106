"""The invitee's manage link (api.md, "Self-service: manage links"): `/manage/{token}` and its JSON.

No key: the token in the path is the credential (scheduling_core.domain.manage_links). Invariants:
- an unknown, altered or malformed token is a 404 `not-found`, the same as a booking that is gone;
- answers show the invitee's own view only (`ManageView`): no context, metadata, routing, hosts or
  sync internals;
- every answer, errors included, carries the booking page's headers (CSP, nosniff, no-referrer,
  no-store): the token is in the URL, so nothing may be cached, sniffed or leaked as a referrer
  (`endpoint` applies `page_headers.protect` to every `/manage/*` route, as to `/book/*`);
- URLs in the page come from PUBLIC_BASE_URL (`page_root`), never from the request path.
"""

from __future__ import annotations

import html
import re

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bootstrap.composition import services
from http_api.auth import Access
from http_api.booking_page import (
    _asset_url,
    _script_json,
    _template,
    local_iso,
    public_join_url,
    public_location,
    visitor_window,
    visitor_zone,
)
from http_api.endpoint import Operation, QueryParam, endpoint, json_response, read_json
from http_api.page_headers import page_root, security_headers
from http_api.schemas import Problem
from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.errors import NotFound
from scheduling_core.services.manage import ManagedBooking

bp = func.Blueprint()

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{38}$"  # noqa: S105 - the shape of a token, not a secret


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ManageRescheduleIn(Strict):
    start: AwareDatetime
    reason: str | None = Field(default=None, max_length=1000)


class ManageCancelIn(Strict):
    reason: str | None = Field(default=None, max_length=1000)


class ManageLocation(BaseModel):
    kind: str
    label: str
    value: str | None = None


class ManageView(BaseModel):
    """The booking as its invitee sees it through the link (api.md)."""

    id: str
    status: str
    eventType: str
    title: str
    start: str
    end: str
    timeZone: str
    location: ManageLocation
    joinUrl: str | None = None
    canCancel: bool
    canReschedule: bool
    cutoffAt: str
    requireReason: bool


class ManageSlot(BaseModel):
    start: str
    end: str


class ManageSlots(BaseModel):
    eventType: str
    timeZone: str
    durationMinutes: int
    slots: list[ManageSlot]


def _token(req: func.HttpRequest) -> str:
    token = str(req.route_params.get("token", ""))
    if not re.match(TOKEN_PATTERN, token):
        raise NotFound("booking", "from this link")
    return token


def view(managed: ManagedBooking) -> ManageView:
    booking, event_type = managed.booking, managed.event_type
    zone = resolve_time_zone(booking.time_zone)
    return ManageView(
        id=booking.id,
        status=booking.status.value,
        eventType=booking.event_type,
        title=event_type.title,
        start=local_iso(booking.start, zone),
        end=local_iso(booking.end, zone),
        timeZone=booking.time_zone,
        location=ManageLocation(**public_location(event_type)),
        joinUrl=public_join_url(booking),
        canCancel=managed.can_cancel,
        canReschedule=managed.can_reschedule,
        cutoffAt=local_iso(managed.cutoff_at, zone),
        requireReason=event_type.self_service.require_reason,
    )


_ERRORS: dict[int, type[BaseModel] | None] = {404: Problem, 503: Problem}
_CHANGE_ERRORS: dict[int, type[BaseModel] | None] = {400: Problem, 409: Problem, 422: Problem, **_ERRORS}


@endpoint(
    bp,
    route="manage/{token}",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetManagePage",
            summary="The invitee's manage page: the booking with Reschedule and Cancel (HTML)",
            tag="manage",
            content_type="text/html",
            responses={200: None, 404: None},
        ),
    ),
)
def manage_page(req: func.HttpRequest) -> func.HttpResponse:
    book = page_root()  # {PUBLIC_BASE_URL}/book, or /api/book on this origin
    root = book.removesuffix("/book")
    values = {"css": html.escape(_asset_url(book, "booking.css"))}
    try:
        token = _token(req)
        managed = services().manage.view(token)
    except NotFound:
        return _html(_template("not-found.html").substitute(values), 404)
    config = {"api": f"{root}/manage/{token}", "title": managed.event_type.title}
    body = _template("manage.html").substitute(
        values,
        common_js=html.escape(_asset_url(book, "common.js")),
        js=html.escape(_asset_url(book, "manage.js")),
        title=html.escape(managed.event_type.title),
        config=_script_json(config),
    )
    return _html(body, 200)


def _html(body: str, status: int) -> func.HttpResponse:
    """The page (framed by Dynamics like the booking page: no Cross-Origin-Resource-Policy)."""
    headers = {**security_headers(framed=True), "Cache-Control": "no-store"}
    return func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8", headers=headers)


@endpoint(
    bp,
    route="manage/{token}/booking",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetManagedBooking",
            summary="The booking behind a manage link and what the link may still do",
            tag="manage",
            responses={200: ManageView, **_ERRORS},
        ),
    ),
)
def managed_booking(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(view(services().manage.view(_token(req))))


@endpoint(
    bp,
    route="manage/{token}/slots",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetManagedBookingSlots",
            summary="Where the booking may move (its own hosts' free times)",
            tag="manage",
            query=(
                QueryParam(
                    name="start", description="First local date (YYYY-MM-DD) or instant", required=True
                ),
                QueryParam(name="end", description="Last local date (inclusive) or instant", required=True),
                QueryParam(name="timeZone", description="IANA zone (default: the booking's)"),
            ),
            responses={200: ManageSlots, 409: Problem, 422: Problem, **_ERRORS},
        ),
    ),
)
def managed_booking_slots(req: func.HttpRequest) -> func.HttpResponse:
    token = _token(req)
    manage = services().manage
    current = manage.view(token)
    zone = visitor_zone(req, current.booking.time_zone)
    window = visitor_window(req, zone)
    managed, slots = manage.slots(token, window)
    return json_response(
        ManageSlots(
            eventType=managed.booking.event_type,
            timeZone=zone.key,
            durationMinutes=managed.event_type.duration_minutes,
            slots=[ManageSlot(start=local_iso(s.start, zone), end=local_iso(s.end, zone)) for s in slots],
        )
    )


@endpoint(
    bp,
    route="manage/{token}/reschedule",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="POST",
            operation_id="RescheduleManagedBooking",
            summary="Move the booking to another free time (same booking, version + 1)",
            tag="manage",
            request=ManageRescheduleIn,
            responses={200: ManageView, **_CHANGE_ERRORS},
        ),
    ),
)
def reschedule_managed(req: func.HttpRequest) -> func.HttpResponse:
    body = read_json(req, ManageRescheduleIn)  # size and shape first, as on every route
    token = _token(req)
    return json_response(view(services().manage.reschedule(token, body.start, body.reason)))


@endpoint(
    bp,
    route="manage/{token}/cancel",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="POST",
            operation_id="CancelManagedBooking",
            summary="Cancel the booking (a second cancel answers the same, with no new event)",
            tag="manage",
            request=ManageCancelIn,
            responses={200: ManageView, **_CHANGE_ERRORS},
        ),
    ),
)
def cancel_managed(req: func.HttpRequest) -> func.HttpResponse:
    body = read_json(req, ManageCancelIn) if (req.get_body() or b"").strip() else ManageCancelIn()
    token = _token(req)
    return json_response(view(services().manage.cancel(token, body.reason)))
