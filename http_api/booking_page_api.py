"""The key-less API the booking page calls: `/book/{slug}/slots|holds|bookings` (docs/booking-page.md).

api.md lets `/book/*` go without a key, and a page in a visitor's browser cannot keep one secret, so
the page gets its own narrow surface instead of the keyed API:
- one event type per URL, and only event types marked `public` (and in `BOOKING_PAGE_EVENT_TYPES`
  when that allow-list is set);
- every request counts against its client's rate, holds against the client's and the event type's
  limits (services.booking_page); no absolute URL is built from the request;
- no host choice (`hostId` is not accepted), no routing internals or host ids in any answer;
- a context of `recordType`, `recordId` (a GUID), `company` and the context fields the event type
  requires, nothing else; answers and invitee as `POST /bookings` takes them;
- bookings are stamped `metadata.channel = "booking-page"` and idempotent per `Idempotency-Key`
  (scope separate from `POST /bookings`);
- a booking is readable (and downloadable as .ics) only through its own event type's URL, by its
  unguessable id.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bootstrap.composition import services
from http_api.auth import Access
from http_api.booking_page import local_iso, public_join_url, public_location, visitor_window, visitor_zone
from http_api.bookings import ID_PATTERN, InviteeIn
from http_api.endpoint import Operation, QueryParam, endpoint, json_response, read_json, route_param
from http_api.idempotency import derived_id, run_idempotently
from http_api.page_headers import client_address, page_root, security_headers
from http_api.schemas import Problem
from scheduling_core.documents.config import SLUG_PATTERN
from scheduling_core.documents.fields import zone_name
from scheduling_core.domain.bookings import Booking, Invitee
from scheduling_core.domain.calendar_file import CalendarEntry, calendar_file
from scheduling_core.domain.questions import answers_from_query
from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.domain.values import EventType
from scheduling_core.errors import FieldError, HoldExpired, InvalidRequest, PageHoldExpired
from scheduling_core.services.booking_page import CHANNEL, BookingPage
from scheduling_core.services.bookings import BookingRequest

bp = func.Blueprint()

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Context keys any page may send; an event type's required `context.*` fields add to them.
PAGE_CONTEXT = ("recordType", "recordId", "company")
ContextValue = Annotated[str, Field(max_length=256)]
AnswerValue = Annotated[str, Field(max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageHoldInvitee(Strict):
    """The visitor's email, when the event type's routing matches emails (routing.md, "Matching")."""

    email: str = Field(max_length=320)


class PageHoldIn(Strict):
    start: AwareDatetime
    timeZone: str = Field(default="UTC", max_length=64)
    context: dict[str, ContextValue] = Field(default_factory=dict, max_length=20)
    invitee: PageHoldInvitee | None = None
    answers: dict[str, AnswerValue] = Field(default_factory=dict, max_length=50)

    _tz = field_validator("timeZone")(zone_name)


class PageBookingIn(Strict):
    start: AwareDatetime
    timeZone: str = Field(default="UTC", max_length=64)
    holdId: str | None = Field(default=None, pattern=ID_PATTERN)
    invitee: InviteeIn
    context: dict[str, ContextValue] = Field(default_factory=dict, max_length=20)
    answers: dict[str, AnswerValue] = Field(default_factory=dict, max_length=50)

    _tz = field_validator("timeZone")(zone_name)


class PageSlot(BaseModel):
    start: str
    end: str


class PageSlots(BaseModel):
    eventType: str
    timeZone: str
    durationMinutes: int
    slots: list[PageSlot]


class PageHold(BaseModel):
    id: str
    start: str
    end: str
    expiresAt: str


class PageInvitee(BaseModel):
    name: str
    email: str


class PageLocation(BaseModel):
    kind: str
    label: str
    value: str | None = None


class PageBooking(BaseModel):
    """What the visitor sees of their booking: no hosts, routing or sync internals."""

    id: str
    status: str
    eventType: str
    title: str
    start: str
    end: str
    timeZone: str
    invitee: PageInvitee
    location: PageLocation
    joinUrl: str | None = None
    calendarUrl: str
    manageUrl: str | None = None  # the invitee's link to reschedule or cancel


def _slug(req: func.HttpRequest) -> str:
    return route_param(req, "eventTypeSlug", SLUG_PATTERN, kind="event type")


def _page(req: func.HttpRequest) -> tuple[BookingPage, str]:
    """The page service and the calling client, counted against its request rate (429 past it).

    Counted before anything else is looked at, so a lookup of an unknown slug or record costs the same."""
    page = services().booking_page()
    client = client_address(req, services().settings.forwarded_for_hops)
    page.admit(client)
    return page, client


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return json_response(payload, status, {**security_headers(), **(headers or {})})


def page_context(event_type: EventType, values: dict[str, str], prefix: str = "context") -> dict[str, str]:
    """The visitor's context, limited to what the page may pass; `recordId` must be a Dynamics GUID."""
    allowed = set(PAGE_CONTEXT) | {
        name.partition(".")[2] for name in event_type.required_fields if name.startswith("context.")
    }
    errors = [
        FieldError(field=f"{prefix}.{key}" if prefix else key, message="not accepted on the booking page")
        for key in values
        if key not in allowed
    ]
    record_id = values.get("recordId")
    if record_id and not GUID.match(record_id):
        field = f"{prefix}.recordId" if prefix else "recordId"
        errors.append(FieldError(field=field, message="must be a Dynamics record id (GUID)"))
    if errors:
        raise InvalidRequest("The booking page does not accept this context.", tuple(errors))
    return {k: v for k, v in values.items() if v}


def _calendar_url(req: func.HttpRequest, slug: str, booking_id: str) -> str:
    """URL of the booking's .ics under the configured page root (PUBLIC_BASE_URL), not the request path."""
    return f"{page_root()}/{slug}/bookings/{booking_id}/calendar.ics"


def _page_booking(req: func.HttpRequest, event_type: EventType, booking: Booking) -> PageBooking:
    zone = resolve_time_zone(booking.time_zone)
    return PageBooking(
        id=booking.id,
        status=booking.status.value,
        eventType=booking.event_type,
        title=event_type.title,
        start=local_iso(booking.start, zone),
        end=local_iso(booking.end, zone),
        timeZone=booking.time_zone,
        invitee=PageInvitee(name=booking.invitee.name, email=booking.invitee.email),
        location=PageLocation(**public_location(event_type)),
        joinUrl=public_join_url(booking),
        calendarUrl=_calendar_url(req, event_type.slug, booking.id),
        manageUrl=services().manage.url(booking.id),
    )


#: Every page operation: 429 when the client is over a limit (rate, holds), 503 when storage fails.
_ERRORS = {404: Problem, 422: Problem, 429: Problem, 503: Problem}


@endpoint(
    bp,
    route="book/{eventTypeSlug}/slots",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetBookingPageSlots",
            summary="Free times of a page's event type (no hosts, no routing details)",
            tag="booking-page",
            query=(
                QueryParam(
                    name="start", description="First local date (YYYY-MM-DD) or instant", required=True
                ),
                QueryParam(name="end", description="Last local date (inclusive) or instant", required=True),
                QueryParam(name="timeZone", description="IANA zone for dates and rendering (default UTC)"),
                QueryParam(name="recordType", description="Dynamics record type (routing context)"),
                QueryParam(
                    name="recordId",
                    description="Dynamics record id, a GUID (routing context); answers go as answers.<id>=",
                ),
                QueryParam(name="email", description="The visitor's email, matched to a Dynamics record"),
            ),
            responses={200: PageSlots, **_ERRORS},
        ),
    ),
)
def page_slots(req: func.HttpRequest) -> func.HttpResponse:
    page, _ = _page(req)
    slug = _slug(req)
    event_type = page.event_type(slug)
    zone = visitor_zone(req, "UTC")
    window = visitor_window(req, zone)
    given = {
        k: v[:256]
        for k, v in req.params.items()
        if k not in ("start", "end", "timeZone", "email") and not k.startswith("answers.") and v
    }
    context = page_context(event_type, given, prefix="")
    answers = {k: v[:2000] for k, v in answers_from_query(req.params).items() if v}
    # The email only routes (it is matched, never stored); the answer is the same shape whether or not
    # Dynamics knows it: slots only, no record, host or routing detail.
    email = (req.params.get("email") or "").strip()[:320]
    _, slots = page.slots(slug, window, context | ({"email": email} if email else {}), answers)
    return _json(
        PageSlots(
            eventType=slug,
            timeZone=zone.key,
            durationMinutes=event_type.duration_minutes,
            slots=[PageSlot(start=local_iso(s.start, zone), end=local_iso(s.end, zone)) for s in slots],
        )
    )


@endpoint(
    bp,
    route="book/{eventTypeSlug}/holds",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="POST",
            operation_id="CreateBookingPageHold",
            summary="Hold a free time for the visitor for a few minutes",
            tag="booking-page",
            request=PageHoldIn,
            responses={201: PageHold, 400: Problem, 409: Problem, 413: Problem, **_ERRORS},
        ),
    ),
)
def page_hold(req: func.HttpRequest) -> func.HttpResponse:
    page, client = _page(req)
    slug = _slug(req)
    body = read_json(req, PageHoldIn)
    context = page_context(page.event_type(slug), body.context)
    routing_context = context | ({"email": body.invitee.email} if body.invitee else {})
    hold = page.hold(slug, body.start, routing_context, client, {k: v for k, v in body.answers.items() if v})
    zone = resolve_time_zone(body.timeZone)
    out = PageHold(
        id=hold.id,
        start=local_iso(hold.start, zone),
        end=local_iso(hold.end, zone),
        expiresAt=local_iso(hold.expires_at, zone),
    )
    return _json(out, 201)


@endpoint(
    bp,
    route="book/{eventTypeSlug}/holds/{holdId}",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="DELETE",
            operation_id="DeleteBookingPageHold",
            summary="Release the visitor's hold (they chose another time)",
            tag="booking-page",
            responses={204: None, 404: Problem, 429: Problem, 503: Problem},
        ),
    ),
)
def page_release_hold(req: func.HttpRequest) -> func.HttpResponse:
    page, client = _page(req)
    slug = _slug(req)
    page.release_hold(slug, route_param(req, "holdId", ID_PATTERN, kind="hold"), client)
    return func.HttpResponse(status_code=204, headers=security_headers())


@endpoint(
    bp,
    route="book/{eventTypeSlug}/bookings",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="POST",
            operation_id="CreateBookingPageBooking",
            summary="Book the held time for the visitor",
            tag="booking-page",
            request=PageBookingIn,
            headers=(QueryParam(name="Idempotency-Key", description="Replays the first response for 24 h"),),
            responses={201: PageBooking, 400: Problem, 409: Problem, 413: Problem, **_ERRORS},
        ),
    ),
)
def page_book(req: func.HttpRequest) -> func.HttpResponse:
    page, client = _page(req)
    slug = _slug(req)
    return run_idempotently(req, _create_scope(slug), lambda: _create(req, slug, page, client))


def _create_scope(slug: str) -> str:
    return f"POST /book/{slug}/bookings"


def _create(req: func.HttpRequest, slug: str, page: BookingPage, client: str) -> func.HttpResponse:
    body = read_json(req, PageBookingIn)
    event_type = page.event_type(slug)
    context = page_context(event_type, body.context)
    request = BookingRequest(
        booking_id=derived_id(req, _create_scope(slug), "bk_"),
        event_type=slug,
        start=body.start,
        time_zone=body.timeZone,
        hold_id=body.holdId,
        invitee=Invitee(name=body.invitee.name, email=body.invitee.email, phone=body.invitee.phone),
        context=context,
        answers={k: v for k, v in body.answers.items() if v},
        metadata=dict(CHANNEL),
    )
    try:
        booking = page.book(request, client)
    except HoldExpired as exc:
        raise PageHoldExpired(exc.detail) from None
    out = _page_booking(req, event_type, booking)
    return _json(out, 201, {"Location": out.calendarUrl.rsplit("/", 1)[0]})


@endpoint(
    bp,
    route="book/{eventTypeSlug}/bookings/{bookingId}",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetBookingPageBooking",
            summary="The visitor's booking (Teams link once Outlook has it)",
            tag="booking-page",
            responses={200: PageBooking, 404: Problem, 429: Problem, 503: Problem},
        ),
    ),
)
def page_booking(req: func.HttpRequest) -> func.HttpResponse:
    page, _ = _page(req)
    slug = _slug(req)
    booking_id = route_param(req, "bookingId", ID_PATTERN, kind="booking")
    event_type, booking = page.booking(slug, booking_id)
    return _json(_page_booking(req, event_type, booking))


@endpoint(
    bp,
    route="book/{eventTypeSlug}/bookings/{bookingId}/calendar.ics",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetBookingPageCalendarFile",
            summary="The visitor's booking as an iCalendar file (add to calendar)",
            tag="booking-page",
            content_type="text/calendar",
            responses={200: None, 404: Problem, 429: Problem, 503: Problem},
        ),
    ),
)
def page_calendar_file(req: func.HttpRequest) -> func.HttpResponse:
    page, _ = _page(req)
    slug = _slug(req)
    booking_id = route_param(req, "bookingId", ID_PATTERN, kind="booking")
    event_type, booking = page.booking(slug, booking_id)
    out = _page_booking(req, event_type, booking)
    location = out.joinUrl or " ".join(p for p in (out.location.label, out.location.value or "") if p)
    text = calendar_file(
        CalendarEntry(
            uid=f"{booking.id}@booking-page",
            sequence=booking.version - 1,
            start=booking.start,
            end=booking.end,
            stamp=booking.updated_at,
            summary=event_type.title,
            description=f"Booked for {booking.invitee.name}. Reference {booking.id}.",
            location=location,
            url=out.joinUrl,
            cancelled=booking.status.value == "cancelled",
        )
    )
    headers = {
        **security_headers(),
        "Content-Disposition": f'attachment; filename="{slug}.ics"',
    }
    return func.HttpResponse(
        text, status_code=200, mimetype="text/calendar", charset="utf-8", headers=headers
    )
