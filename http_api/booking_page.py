"""`GET /book/{eventTypeSlug}` (the booking page) and `GET /book/assets/{name}` (its script and styles).

The page is a small dependency-free HTML/CSS/JS bundle shipped in the app package (`booking_page/`);
it calls only the key-less `/book/{slug}/...` endpoints (http_api.booking_page_api). Invariants:
- every response carries a strict Content-Security-Policy: nothing but this origin's own script,
  styles and API; `frame-ancestors` is the configured allow-list (http_api.page_headers);
- nothing under /book is stored by caches (`no-store`, added to every answer by the shell); assets
  are addressed by content hash (`?v=`) so a page never mixes with another deployment's script;
- page URLs come from PUBLIC_BASE_URL (or `/api/book` on this origin), never from the request path;
- no request value is echoed into HTML unescaped; the page's JSON config cannot close its script tag.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

import azure.functions as func

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, QueryParam, endpoint
from http_api.page_headers import client_address, page_root, security_headers
from http_api.schemas import Problem
from scheduling_core.documents.config import SLUG_PATTERN
from scheduling_core.domain.bookings import Booking
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.timezones import iana_name, resolve_time_zone
from scheduling_core.domain.values import EventType, LocationKind
from scheduling_core.errors import FieldError, InvalidRequest, NotFound, UnknownTimeZone
from scheduling_core.services.slots import resolve_window

bp = func.Blueprint()
log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parent.parent / "booking_page"
ASSETS = {
    "booking.js": "text/javascript; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",  # what booking.js and manage.js share
    "booking.css": "text/css; charset=utf-8",
    "manage.js": "text/javascript; charset=utf-8",  # the invitee's manage page (http_api.manage)
}
LOCATION_LABELS = {
    LocationKind.TEAMS: "Microsoft Teams meeting",
    LocationKind.PHONE: "Phone call",
    LocationKind.IN_PERSON: "In person",
    LocationKind.CUSTOM: "Online meeting",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    version: str  # first 16 hex digits of the SHA-256 of the body

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def public_location(event_type: EventType) -> dict[str, Any]:
    """The event type's location as the key-less pages show it (the join link is the booking's)."""
    return {
        "kind": event_type.location.kind.value,
        "label": LOCATION_LABELS[event_type.location.kind],
        "value": event_type.location.value,
    }


def public_join_url(booking: Booking) -> str | None:
    """The Teams link a key-less page may show: only an https link, as the Outlook sync wrote it back."""
    join_url = booking.outlook.join_url
    return join_url if join_url is not None and join_url.startswith("https://") else None


def local_iso(at: datetime, zone: tzinfo) -> str:
    """An instant on the wire of the key-less pages: ISO 8601 in the visitor's zone."""
    return at.astimezone(zone).isoformat()


def visitor_zone(req: func.HttpRequest, fallback: str) -> ZoneInfo:
    """The `timeZone` query parameter of a key-less page's request (else `fallback`); an unknown zone is
    the visitor's 422 naming the field."""
    try:
        return resolve_time_zone(iana_name(req.params.get("timeZone") or fallback))
    except UnknownTimeZone as exc:
        raise InvalidRequest(exc.detail, (FieldError(field="timeZone", message=exc.detail),)) from None


def visitor_window(req: func.HttpRequest, zone: ZoneInfo) -> Interval:
    """The required `start` and `end` query parameters of a key-less page's request (each cut to 40
    characters before parsing) as a window in `zone`."""
    start, end = req.params.get("start"), req.params.get("end")
    if not start or not end:
        given = (("start", start), ("end", end))
        missing = [FieldError(field=name, message="required") for name, value in given if not value]
        raise InvalidRequest("start and end are required.", tuple(missing))
    return resolve_window(start[:40], end[:40], zone)


@cache
def asset(name: str) -> Asset | None:
    content_type = ASSETS.get(name)
    if content_type is None:
        return None
    body = (ASSET_DIR / name).read_bytes()
    return Asset(body, content_type, hashlib.sha256(body).hexdigest()[:16])


@cache
def _template(name: str) -> Template:
    return Template((ASSET_DIR / name).read_text(encoding="utf-8"))


def humanize(key: str) -> str:
    """`caseNumber` / `case_number` -> `Case number`."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key).replace("_", " ").replace("-", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def page_config(event_type: EventType, base: str) -> dict[str, Any]:
    """What the page's script needs: the event type's public face and where its API lives."""
    fields = []
    asked = {q.id for q in event_type.questions}
    for name in event_type.required_fields:
        section, _, key = name.partition(".")
        if section == "invitee" and key in ("name", "email"):
            continue
        if section == "answers" and key in asked:
            continue  # asked first, as a question
        fields.append({"name": name, "label": "Phone" if name == "invitee.phone" else humanize(key)})
    return {
        "slug": event_type.slug,
        "title": event_type.title,
        "durationMinutes": event_type.duration_minutes,
        "bookingWindowDays": event_type.booking_window_days,
        "location": public_location(event_type),
        "fields": fields,
        # Asked before slots: the answers may route the visitor to another rep (routing.md).
        "questions": [
            {
                "id": q.id,
                "label": q.label,
                "kind": q.kind.value,
                "options": list(q.options),
                "required": q.required,
            }
            for q in event_type.questions
        ],
        "api": base,
    }


def _asks_email(event_type: EventType) -> bool:
    """The event type's rule set matches invitee emails: the page asks for the email before slots."""
    if event_type.routing_rule_set is None:
        return False
    try:
        return services().routing.asks_email(event_type.routing_rule_set)
    except NotFound:  # a rule set not stored yet routes nobody; the page then shows its problem
        return False


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: `<`, `>` and `&` escaped so nothing can close the tag."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html(body: str, status: int) -> func.HttpResponse:
    headers = security_headers(framed=True)
    return func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8", headers=headers)


def _asset_url(root: str, name: str) -> str:
    found = asset(name)
    assert found is not None
    return f"{root}/assets/{name}?v={found.version}"


@endpoint(
    bp,
    route="book/{eventTypeSlug}",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetBookingPage",
            summary="The public booking page of an event type (HTML)",
            tag="booking-page",
            content_type="text/html",
            query=tuple(
                QueryParam(name=name, description=f"Pre-fills {what}")
                for name, what in (
                    ("name", "the invitee's name"),
                    ("email", "the invitee's email"),
                    ("company", "the company (stored in the booking's context)"),
                    ("recordType", "the Dynamics record type (routing context)"),
                    ("recordId", "the Dynamics record id (routing context)"),
                )
            ),
            responses={200: None, 404: None, 429: Problem, 503: Problem},
        ),
    ),
)
def booking_page(req: func.HttpRequest) -> func.HttpResponse:
    root = page_root()  # from PUBLIC_BASE_URL, never from the request path (`//api/book/...`)
    slug = req.route_params.get("eventTypeSlug", "")
    values = {"css": html.escape(_asset_url(root, "booking.css"))}
    page = services().booking_page()
    page.admit(client_address(req, services().settings.forwarded_for_hops))
    try:
        if not re.match(SLUG_PATTERN, slug):
            raise NotFound("event type", slug[:64])
        event_type = page.event_type(slug)
    except NotFound:
        return _html(_template("not-found.html").substitute(values), 404)
    config = page_config(event_type, f"{root}/{slug}")
    config["asksEmail"] = _asks_email(event_type)
    return _html(
        _template("page.html").substitute(
            values,
            common_js=html.escape(_asset_url(root, "common.js")),
            js=html.escape(_asset_url(root, "booking.js")),
            title=html.escape(event_type.title),
            duration=event_type.duration_minutes,
            location=html.escape(LOCATION_LABELS[event_type.location.kind]),
            config=_script_json(config),
        ),
        200,
    )


@endpoint(
    bp,
    route="book/assets/{name}",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetBookingPageAsset",
            summary="The booking page's script and styles (booking.js, booking.css)",
            tag="booking-page",
            content_type="text/plain",
            query=(QueryParam(name="v", description="Content hash: a match is cached immutably"),),
            responses={200: None, 304: None, 404: None},
        ),
    ),
)
def booking_page_asset(req: func.HttpRequest) -> func.HttpResponse:
    found = asset(req.route_params.get("name", ""))
    headers = security_headers()
    if found is None:
        return func.HttpResponse("Not found", status_code=404, mimetype="text/plain", headers=headers)
    # no-store like every /book/* answer (issue 13): the files are small, and one rule with no
    # exception is easier to keep than a cache policy per route. `?v=` still pins a deployment's files.
    headers["ETag"] = found.etag
    if found.etag in (req.headers.get("If-None-Match") or ""):
        return func.HttpResponse(status_code=304, headers=headers)
    content_type, _, _ = found.content_type.partition(";")
    return func.HttpResponse(
        found.body, status_code=200, mimetype=content_type, charset="utf-8", headers=headers
    )
