"""Graph's wire conventions as the simulator speaks them: errors, times, zones, ids.

- Errors are `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`.
- `dateTimeTimeZone.dateTime` is rendered as local wall time with seven
  fractional digits (`2026-12-01T09:00:00.0000000`), in the zone the caller's
  `Prefer: outlook.timezone` names, else UTC.
- Zone names are Windows or IANA names (and "UTC"); anything else is Graph's
  400 `TimeZoneNotSupportedException`.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import JSONResponse

from devstack.simkit import SimFault
from scheduling_core.domain.timezones import resolve_time_zone
from scheduling_core.errors import UnknownTimeZone

_LOCAL_DATETIME = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d{1,7}))?(?P<offset>Z|[+-]\d{2}:\d{2})?$"
)
_PREFER_TIMEZONE = re.compile(
    r'outlook\.timezone\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^,;\s]+))', re.IGNORECASE
)
_PREFER_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(?P<size>\d+)", re.IGNORECASE)
_TZONE_URI_PREFIX = "tzone://Microsoft/"


class GraphFault(SimFault):
    """An error answer the simulator gives, in Graph's shape (`error_response`)."""


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    client_request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }
    all_headers = {"request-id": request_id, "client-request-id": client_request_id or request_id}
    all_headers.update(headers or {})
    return JSONResponse(body, status_code=status, headers=all_headers)


def bad_request(message: str, code: str = "BadRequest") -> GraphFault:
    return GraphFault(400, code, message)


def zone_or_fault(name: object) -> ZoneInfo:
    """The zone a Graph `timeZone` names; 400 `TimeZoneNotSupportedException` otherwise."""
    text = name if isinstance(name, str) else ""
    if text.startswith(_TZONE_URI_PREFIX):
        text = text[len(_TZONE_URI_PREFIX) :]
    try:
        return resolve_time_zone(text)
    except UnknownTimeZone:
        raise GraphFault(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. "
            f"The following TimeZone value is not supported: '{text}'.",
        ) from None


def parse_date_time_time_zone(value: object, field: str) -> tuple[datetime, str]:
    """A `dateTimeTimeZone` object as (UTC instant, zone name as given)."""
    if not isinstance(value, dict):
        raise bad_request(f"Property '{field}' must be a dateTimeTimeZone object.", "RequestBodyRead")
    unknown = set(value) - {"dateTime", "timeZone", "@odata.type"}
    if unknown:
        name = sorted(unknown)[0]
        raise bad_request(
            f"The property '{name}' does not exist on type 'microsoft.graph.dateTimeTimeZone'. Make sure to "
            "only use property names that are defined by the type or mark the type as open type.",
            "RequestBodyRead",
        )
    zone_name = value.get("timeZone")
    zone = zone_or_fault(zone_name)
    raw = value.get("dateTime")
    match = _LOCAL_DATETIME.match(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        raise bad_request(
            f"Cannot convert the literal '{raw}' to the expected type 'Edm.String' as a dateTime."
        )
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        naive = datetime.fromisoformat(f"{match['base']}.{fraction}")
    except ValueError:
        raise bad_request(f"'{raw}' is not a valid dateTime.") from None
    offset = match["offset"]
    if offset is not None:  # an explicit offset fixes the instant; the zone still names the event's zone
        instant = datetime.fromisoformat(f"{naive.isoformat()}{offset.replace('Z', '+00:00')}")
    else:
        instant = naive.replace(tzinfo=zone)
    return instant.astimezone(UTC), str(zone_name)


def parse_query_instant(raw: str | None, name: str) -> datetime:
    """`startDateTime` / `endDateTime` of calendarView: ISO 8601, offset or Z; no offset means UTC."""
    if raw is None or not raw.strip():
        raise bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        )
    text = raw.strip().replace(" ", "+")  # an unencoded '+' in a query string arrives as a space
    match = _LOCAL_DATETIME.match(text)
    if match is None:
        raise bad_request(f"The value '{raw}' of parameter '{name}' is invalid.", "ErrorInvalidParameter")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = (match["offset"] or "Z").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(f"{match['base']}.{fraction}{offset}").astimezone(UTC)
    except ValueError:
        raise bad_request(
            f"The value '{raw}' of parameter '{name}' is invalid.", "ErrorInvalidParameter"
        ) from None


def preferred_zone(prefer_header: str | None) -> tuple[str, ZoneInfo] | None:
    """The zone of `Prefer: outlook.timezone="..."`, if the header names one."""
    if not prefer_header:
        return None
    match = _PREFER_TIMEZONE.search(prefer_header)
    if match is None:
        return None
    name = match["quoted"] if match["quoted"] is not None else match["bare"]
    return name, zone_or_fault(name)


def preferred_page_size(prefer_header: str | None) -> int | None:
    match = _PREFER_MAXPAGESIZE.search(prefer_header or "")
    return int(match["size"]) if match else None


def render_local(instant: datetime, zone_name: str, zone: ZoneInfo) -> dict[str, str]:
    """An instant as a `dateTimeTimeZone` in `zone` (named as the caller named it)."""
    local = instant.astimezone(zone)
    return {"dateTime": f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond:06d}0", "timeZone": zone_name}


def utc_stamp(instant: datetime) -> str:
    """An `Edm.DateTimeOffset` as Graph writes it: 2026-12-01T09:00:00.1234567Z."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def new_item_id() -> str:
    """An Outlook-style opaque id (URL-safe, no padding)."""
    raw = uuid.uuid4().bytes + uuid.uuid4().bytes
    return "AAMkAG" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_change_key() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def new_ical_uid() -> str:
    return "040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex.upper()


def etag(change_key: str) -> str:
    return f'W/"{change_key}"'


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or Graph's 400."""
    import json

    if not body.strip():
        raise bad_request("Empty Payload. JSON content expected.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Invalid JSON. A JSON object was expected in the request body.") from None
    if not isinstance(value, dict):
        raise bad_request("Invalid JSON. A JSON object was expected in the request body.")
    return value
