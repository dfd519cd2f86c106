"""Holds and bookings (api.md): `/holds`, `/bookings`, `/bookings/{id}/reschedule|cancel`."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bootstrap.composition import services
from http_api.auth import Access, require_admin
from http_api.endpoint import Operation, QueryParam, endpoint, json_response, read_json, route_param
from http_api.idempotency import derived_id, run_idempotently
from http_api.problems import invalid_request
from http_api.schemas import BookingList, BookingOut, HoldOut, Problem
from scheduling_core.documents.config import HOST_ID_PATTERN, SLUG_PATTERN
from scheduling_core.documents.fields import email_address, zone_name
from scheduling_core.domain.booking_sections import AttendanceParty
from scheduling_core.domain.bookings import Booking, Invitee, booking_snapshot
from scheduling_core.domain.override import Override
from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.errors import InvalidRequest
from scheduling_core.services.bookings import BookingRequest

bp = func.Blueprint()


# The continuation token is opaque to callers: the offset of the next page, base64 so nobody builds one.
def encode_offset(offset: int | None) -> str | None:
    return None if offset is None else base64.urlsafe_b64encode(str(offset).encode()).decode()


def decode_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token.encode()).decode()))
    except (ValueError, UnicodeDecodeError):
        return 0


ID_PATTERN = r"^(bk|hd)_[a-f0-9]{24}$"
Bag = Annotated[dict[str, Any], Field(max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InviteeIn(Strict):
    name: str = Field(min_length=1, max_length=256)
    email: str = Field(max_length=320)
    phone: str | None = Field(default=None, max_length=64)

    _email = field_validator("email")(email_address)


OverrideRuleName = Literal["outsideWorkingHours", "outlookBusy", "caps", "minimumNotice", "bookingWindow"]


class OverrideIn(Strict):
    """A manager's override (admin key only): the slot rules to lift. Never lifts our own bookings
    and holds: an overlap with one is still 409 `slot-unavailable`."""

    reason: str = Field(min_length=1, max_length=1000)
    allow: list[OverrideRuleName] = Field(min_length=1, max_length=5)

    def to_domain(self) -> Override:
        return Override.of(self.reason, self.allow)


def _override(req: func.HttpRequest, given: OverrideIn | None) -> Override | None:
    if given is None:
        return None
    require_admin(req, services().settings.admin_api_key, "A manager override")
    return given.to_domain()


class BookingIn(Strict):
    eventType: str = Field(pattern=SLUG_PATTERN)
    start: AwareDatetime
    timeZone: str = Field(default="UTC", max_length=64)
    holdId: str | None = Field(default=None, pattern=ID_PATTERN)
    hostId: str | None = Field(default=None, pattern=HOST_ID_PATTERN)
    invitee: InviteeIn
    context: Bag = Field(default_factory=dict)
    answers: Bag = Field(default_factory=dict)
    metadata: Bag = Field(default_factory=dict)
    override: OverrideIn | None = None

    _tz = field_validator("timeZone")(zone_name)


class HoldIn(Strict):
    eventType: str = Field(pattern=SLUG_PATTERN)
    start: AwareDatetime
    hostId: str | None = Field(default=None, pattern=HOST_ID_PATTERN)
    timeZone: str = Field(default="UTC", max_length=64)
    context: Bag = Field(default_factory=dict)
    answers: Bag = Field(default_factory=dict)

    _tz = field_validator("timeZone")(zone_name)


class RescheduleIn(Strict):
    start: AwareDatetime
    reason: str | None = Field(default=None, max_length=1000)
    override: OverrideIn | None = None


class CancelIn(Strict):
    reason: str | None = Field(default=None, max_length=1000)


class NoShowIn(Strict):
    party: Literal["invitee", "host"]
    note: str | None = Field(default=None, max_length=1000)


def booking_out(booking: Booking) -> BookingOut:
    snapshot = booking_snapshot(booking, resolve_time_zone(booking.time_zone))
    return BookingOut.model_validate({**snapshot, "manageUrl": services().manage.url(booking.id)})


def _with_etag(booking: Booking) -> func.HttpResponse:
    """The booking as JSON with `ETag: "<version>"`, the value If-Match takes back."""
    return json_response(booking_out(booking), headers={"ETag": f'"{booking.version}"'})


def _if_match(req: func.HttpRequest) -> int | None:
    value = req.headers.get("If-Match")
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidRequest('If-Match must be "<version>".')
    return int(text)


def _optional_body(req: func.HttpRequest, model: type[Strict]) -> Any:
    return read_json(req, model) if (req.get_body() or b"").strip() else model()


_COMMON = {401: Problem, 403: Problem, 422: Problem, 503: Problem}


@endpoint(
    bp,
    route="holds",
    access=Access.API,
    operations=(
        Operation(
            method="POST",
            operation_id="CreateHold",
            summary="Hold a slot for a few minutes",
            tag="bookings",
            request=HoldIn,
            responses={201: HoldOut, 400: Problem, 404: Problem, 409: Problem, 413: Problem, **_COMMON},
        ),
    ),
)
def create_hold(req: func.HttpRequest) -> func.HttpResponse:
    body = read_json(req, HoldIn)
    hold = services().bookings.hold(
        event_type_slug=body.eventType,
        start=body.start,
        host_id=body.hostId,
        context=body.context,
        answers=body.answers,
    )
    zone = resolve_time_zone(body.timeZone)
    out = HoldOut(
        id=hold.id,
        hostIds=list(hold.host_ids),
        start=hold.start.astimezone(zone).isoformat(),
        end=hold.end.astimezone(zone).isoformat(),
        expiresAt=hold.expires_at.astimezone(zone).isoformat(),
    )
    return json_response(out, 201)


@endpoint(
    bp,
    route="holds/{holdId}",
    access=Access.API,
    operations=(
        Operation(
            method="DELETE",
            operation_id="DeleteHold",
            summary="Release a hold",
            tag="bookings",
            responses={204: None, 404: Problem, **_COMMON},
        ),
    ),
)
def delete_hold(req: func.HttpRequest) -> func.HttpResponse:
    services().bookings.release_hold(route_param(req, "holdId", ID_PATTERN, kind="hold"))
    return func.HttpResponse(status_code=204)


CREATE_SCOPE = "POST /bookings"


@endpoint(
    bp,
    route="bookings",
    access=Access.API,
    operations=(
        Operation(
            method="POST",
            operation_id="CreateBooking",
            summary="Book a slot",
            tag="bookings",
            request=BookingIn,
            headers=(QueryParam(name="Idempotency-Key", description="Replays the first response for 24 h"),),
            responses={201: BookingOut, 400: Problem, 404: Problem, 409: Problem, 413: Problem, **_COMMON},
        ),
        Operation(
            method="GET",
            operation_id="ListBookings",
            summary="Find bookings",
            tag="bookings",
            query=(
                QueryParam(name="recordId", description="Dynamics record id from the booking's context"),
                QueryParam(name="hostId", description="Host id"),
                QueryParam(name="from", description="Bookings ending after this instant"),
                QueryParam(name="to", description="Bookings starting before this instant"),
                QueryParam(name="status", description="confirmed or cancelled"),
                QueryParam(name="continuationToken", description="From the previous page"),
            ),
            responses={200: BookingList, **_COMMON},
        ),
    ),
)
def bookings(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "GET":
        return _list_bookings(req)
    # Read and bounded before the idempotency claim: a body we refuse (400/415/422) touches no storage.
    body = read_json(req, BookingIn)
    override = _override(req, body.override)  # 403 before anything is claimed or stored
    return run_idempotently(req, CREATE_SCOPE, lambda: _create_booking(req, body, override))


def _create_booking(req: func.HttpRequest, body: BookingIn, override: Override | None) -> func.HttpResponse:
    booking = services().bookings.create(
        BookingRequest(
            booking_id=derived_id(req, CREATE_SCOPE, "bk_"),
            event_type=body.eventType,
            start=body.start,
            time_zone=body.timeZone,
            hold_id=body.holdId,
            host_id=body.hostId,
            invitee=Invitee(name=body.invitee.name, email=body.invitee.email, phone=body.invitee.phone),
            context=body.context,
            answers=body.answers,
            metadata=body.metadata,
            override=override,
        )
    )
    return json_response(booking_out(booking), 201, headers={"Location": f"/api/bookings/{booking.id}"})


class ListQuery(Strict):
    recordId: str | None = Field(default=None, max_length=100)
    hostId: str | None = Field(default=None, pattern=HOST_ID_PATTERN)
    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None
    status: str | None = Field(default=None, pattern="^(confirmed|cancelled)$")
    continuationToken: str | None = Field(default=None, max_length=64)


def _list_bookings(req: func.HttpRequest) -> func.HttpResponse:
    try:
        query = ListQuery.model_validate(dict(req.params))
    except ValidationError as exc:
        raise invalid_request(exc) from None
    start: datetime | None = query.from_
    items, next_offset = services().bookings.list(
        record_id=query.recordId,
        host_id=query.hostId,
        start=start,
        end=query.to,
        status=query.status,
        offset=decode_offset(query.continuationToken),
    )
    return json_response(
        BookingList(items=[booking_out(b) for b in items], continuationToken=encode_offset(next_offset))
    )


@endpoint(
    bp,
    route="bookings/{bookingId}",
    access=Access.API,
    operations=(
        Operation(
            method="GET",
            operation_id="GetBooking",
            summary="A booking with its sync status",
            tag="bookings",
            responses={200: BookingOut, 404: Problem, **_COMMON},
        ),
    ),
)
def get_booking(req: func.HttpRequest) -> func.HttpResponse:
    booking = services().bookings.get(route_param(req, "bookingId", ID_PATTERN, kind="booking"))
    return _with_etag(booking)


@endpoint(
    bp,
    route="bookings/{bookingId}/reschedule",
    access=Access.API,
    operations=(
        Operation(
            method="POST",
            operation_id="RescheduleBooking",
            summary="Move a booking",
            tag="bookings",
            request=RescheduleIn,
            headers=(QueryParam(name="If-Match", description='"<version>" the caller last read'),),
            responses={200: BookingOut, 400: Problem, 404: Problem, 409: Problem, **_COMMON},
        ),
    ),
)
def reschedule_booking(req: func.HttpRequest) -> func.HttpResponse:
    booking_id = route_param(req, "bookingId", ID_PATTERN, kind="booking")
    body = read_json(req, RescheduleIn)
    booking = services().bookings.reschedule(
        booking_id,
        body.start,
        reason=body.reason,
        if_match=_if_match(req),
        override=_override(req, body.override),
    )
    return _with_etag(booking)


@endpoint(
    bp,
    route="bookings/{bookingId}/cancel",
    access=Access.API,
    operations=(
        Operation(
            method="POST",
            operation_id="CancelBooking",
            summary="Cancel a booking",
            tag="bookings",
            request=CancelIn,
            headers=(QueryParam(name="If-Match", description='"<version>" the caller last read'),),
            responses={200: BookingOut, 400: Problem, 404: Problem, 409: Problem, **_COMMON},
        ),
    ),
)
def cancel_booking(req: func.HttpRequest) -> func.HttpResponse:
    booking_id = route_param(req, "bookingId", ID_PATTERN, kind="booking")
    body = _optional_body(req, CancelIn)
    booking = services().bookings.cancel(booking_id, reason=body.reason, if_match=_if_match(req))
    return _with_etag(booking)


@endpoint(
    bp,
    route="bookings/{bookingId}/no-show",
    access=Access.API,
    operations=(
        Operation(
            method="POST",
            operation_id="MarkNoShow",
            summary="Record that the invitee or the host did not attend",
            tag="bookings",
            request=NoShowIn,
            responses={200: BookingOut, 400: Problem, 404: Problem, 409: Problem, **_COMMON},
        ),
    ),
)
def mark_no_show(req: func.HttpRequest) -> func.HttpResponse:
    booking_id = route_param(req, "bookingId", ID_PATTERN, kind="booking")
    body = read_json(req, NoShowIn)
    booking = services().bookings.mark_no_show(booking_id, AttendanceParty(body.party), body.note)
    return _with_etag(booking)
