"""Outlook events as Graph v1.0 writes and returns them.

A write may name only properties of `microsoft.graph.event` (and of the complex
types inside it) with values of their types and enum members; anything else is
Graph's 400 `RequestBodyRead`. Read-only properties in a write are ignored, as
Graph does. A response names only properties of the schema, so clients built
against the simulator fit Graph. Deliberate leniency: `isCancelled` may be
written, so tests can seed the cancelled copies Outlook keeps for attendees.
Recurring events are refused: the simulator does not expand series.

Extended properties ("Get singleValueLegacyExtendedProperty", learn.microsoft.com/graph/api/
singlevaluelegacyextendedproperty-get): an event list may be filtered with
`$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq '{value}')`
(also `ne`, `contains(ep/value, '...')`, `startswith(ep/value, '...')`), and an event or list
expanded with `$expand=singleValueExtendedProperties($filter=id eq '{id}')`. As Graph documents,
the `Name` part of a property id compares case-sensitively and the rest of the id (type, GUID,
`Name`/`Id` keyword, a numeric `Id`) case-insensitively; values compare case-insensitively. Any
other `$filter` is Graph's 400 `ErrorInvalidUrlQueryFilter`.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from devstack.graph_sim.state import StoredEvent, User
from devstack.graph_sim.wire import (
    GraphFault,
    bad_request,
    etag,
    new_change_key,
    new_ical_uid,
    new_item_id,
    parse_date_time_time_zone,
    render_local,
    utc_stamp,
)

ENUMS: dict[str, tuple[str, ...]] = {
    "attendeeType": ("required", "optional", "resource"),
    "bodyType": ("text", "html"),
    "freeBusyStatus": ("unknown", "free", "tentative", "busy", "oof", "workingElsewhere"),
    "importance": ("low", "normal", "high"),
    "locationType": (
        "default",
        "conferenceRoom",
        "homeAddress",
        "businessAddress",
        "geoCoordinates",
        "streetAddress",
        "hotel",
        "restaurant",
        "localBusiness",
        "postalAddress",
    ),
    "locationUniqueIdType": ("unknown", "locationStore", "directory", "private", "bing"),
    "onlineMeetingProviderType": ("unknown", "skypeForBusiness", "skypeForConsumer", "teamsForBusiness"),
    "responseType": ("none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
}

#: Complex types a write may contain: property -> type ("string", "bool", "int", "number",
#: "enum:<name>", "list:<type>", or another complex type's name).
COMPLEX_TYPES: dict[str, dict[str, str]] = {
    "itemBody": {"content": "string", "contentType": "enum:bodyType"},
    "emailAddress": {"address": "string", "name": "string"},
    "recipient": {"emailAddress": "emailAddress"},
    "responseStatus": {"response": "enum:responseType", "time": "string"},
    "timeSlot": {"start": "dateTimeTimeZone", "end": "dateTimeTimeZone"},
    "dateTimeTimeZone": {"dateTime": "string", "timeZone": "string"},
    "attendee": {
        "emailAddress": "emailAddress",
        "type": "enum:attendeeType",
        "status": "responseStatus",
        "proposedNewTime": "timeSlot",
    },
    "physicalAddress": {
        "city": "string",
        "countryOrRegion": "string",
        "postalCode": "string",
        "state": "string",
        "street": "string",
    },
    "outlookGeoCoordinates": {
        "accuracy": "number",
        "altitude": "number",
        "altitudeAccuracy": "number",
        "latitude": "number",
        "longitude": "number",
    },
    "location": {
        "address": "physicalAddress",
        "coordinates": "outlookGeoCoordinates",
        "displayName": "string",
        "locationEmailAddress": "string",
        "locationType": "enum:locationType",
        "locationUri": "string",
        "uniqueId": "string",
        "uniqueIdType": "enum:locationUniqueIdType",
    },
    "singleValueLegacyExtendedProperty": {"id": "string", "value": "string"},
}

#: Event properties a client may write (start/end are handled apart).
WRITABLE: dict[str, str] = {
    "allowNewTimeProposals": "bool",
    "attendees": "list:attendee",
    "body": "itemBody",
    "categories": "list:string",
    "hideAttendees": "bool",
    "importance": "enum:importance",
    "isAllDay": "bool",
    "isCancelled": "bool",  # read-only in Graph; writable here to seed attendees' cancelled copies
    "isOnlineMeeting": "bool",
    "isReminderOn": "bool",
    "location": "location",
    "locations": "list:location",
    "onlineMeetingProvider": "enum:onlineMeetingProviderType",
    "organizer": "recipient",
    "reminderMinutesBeforeStart": "int",
    "responseRequested": "bool",
    "sensitivity": "enum:sensitivity",
    "showAs": "enum:freeBusyStatus",
    "subject": "string",
    "transactionId": "string",
    "singleValueExtendedProperties": "list:singleValueLegacyExtendedProperty",
}
#: Read-only event properties: accepted in a write and ignored, as Graph does.
READ_ONLY = frozenset(
    {
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "bodyPreview",
        "cancelledOccurrences",
        "hasAttachments",
        "iCalUId",
        "isDraft",
        "isOrganizer",
        "onlineMeeting",
        "onlineMeetingUrl",
        "originalEndTimeZone",
        "originalStart",
        "originalStartTimeZone",
        "responseStatus",
        "seriesMasterId",
        "type",
        "webLink",
    }
)
UNSUPPORTED_NAVIGATION = frozenset(
    {
        "attachments",
        "calendar",
        "exceptionOccurrences",
        "extensions",
        "instances",
        "multiValueExtendedProperties",
    }
)
#: Every property a response may carry, in Graph's usual order.
PROPERTY_ORDER = (
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "isDraft",
    "hideAttendees",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
)
SELECTABLE = frozenset(PROPERTY_ORDER)
NEVER = "0001-01-01T00:00:00Z"


def _no_such_property(name: str, type_name: str) -> GraphFault:
    return bad_request(
        f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
        "RequestBodyRead",
    )


_PRIMITIVES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "bool": bool,
    "int": int,
    "number": (int, float),
}


def _check(value: Any, kind: str, path: str) -> None:
    """Raise Graph's 400 unless `value` is a JSON value of `kind` (None is always allowed)."""
    if value is None:
        return
    if kind.startswith("list:"):
        if not isinstance(value, list):
            raise bad_request(f"A collection was expected for property '{path}'.", "RequestBodyRead")
        for index, element in enumerate(value):
            _check(element, kind[5:], f"{path}[{index}]")
        return
    if kind.startswith("enum:"):
        enum = kind[5:]
        if value not in ENUMS[enum]:
            raise bad_request(
                f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{enum}'.",
                "RequestBodyRead",
            )
        return
    primitive = _PRIMITIVES.get(kind)
    if primitive is not None:
        if not isinstance(value, primitive) or (kind in ("int", "number") and isinstance(value, bool)):
            raise bad_request(
                f"Cannot convert the value of property '{path}' to the expected type.", "RequestBodyRead"
            )
        return
    if not isinstance(value, dict):
        raise bad_request(f"An object was expected for property '{path}'.", "RequestBodyRead")
    properties = COMPLEX_TYPES[kind]
    for name, element in value.items():
        if name.startswith("@odata."):
            continue
        if name not in properties:
            raise _no_such_property(name, kind)
        _check(element, properties[name], f"{path}.{name}")


def validate_write(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The writable properties of an event write, checked; start/end parsed into `_start`/`_end`."""
    accepted: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata.") or name in READ_ONLY:
            continue
        if name == "recurrence":
            if value is not None:
                raise bad_request(
                    "The Graph simulator does not expand recurring events.", "ErrorInvalidRequest"
                )
            continue
        if name in UNSUPPORTED_NAVIGATION:
            raise bad_request(
                f"The Graph simulator does not support writing '{name}'.", "ErrorInvalidRequest"
            )
        if name in ("start", "end"):
            if value is None:
                raise bad_request(f"Property '{name}' cannot be null.", "ErrorInvalidRequest")
            accepted[f"_{name}"] = parse_date_time_time_zone(value, name)
            continue
        if name not in WRITABLE:
            raise _no_such_property(name, "event")
        _check(value, WRITABLE[name], name)
        accepted[name] = value
    if creating and ("_start" not in accepted or "_end" not in accepted):
        raise bad_request("An event needs both 'start' and 'end'.", "ErrorInvalidRequest")
    return accepted


def create_event(owner: User, accepted: dict[str, Any], now: datetime) -> StoredEvent:
    (start, start_zone), (end, end_zone) = accepted.pop("_start"), accepted.pop("_end")
    if end < start:
        raise bad_request("The end of an event must not be before its start.", "ErrorInvalidRequest")
    event_id = new_item_id()
    stamp = utc_stamp(now)
    body = accepted.get("body") or {"contentType": "html", "content": ""}
    props: dict[str, Any] = {
        "id": event_id,
        "createdDateTime": stamp,
        "lastModifiedDateTime": stamp,
        "changeKey": new_change_key(),
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": start_zone,
        "originalEndTimeZone": end_zone,
        "iCalUId": new_ical_uid(),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": "",
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": "busy",
        "type": "singleInstance",
        "webLink": (
            "https://outlook.office365.com/owa/"
            f"?itemid={quote(event_id, safe='')}&exvsurl=1&path=/calendar/item"
        ),
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "organizer", "time": NEVER},
        "location": _location({}),
        "locations": [],
        "recurrence": None,
        "attendees": [],
        "organizer": {
            "emailAddress": {
                "name": owner.display_name or owner.mail or owner.id,
                "address": owner.mail or owner.user_principal_name or "",
            }
        },
        "onlineMeeting": None,
    }
    extended = accepted.pop("singleValueExtendedProperties", None) or []
    event = StoredEvent(props=props, start=start, end=end, extended=[])
    _apply(event, {**accepted, "body": body})
    _merge_extended(event, extended)
    return event


def update_event(event: StoredEvent, accepted: dict[str, Any], now: datetime) -> None:
    start, end = event.start, event.end
    if "_start" in accepted:
        start, zone = accepted.pop("_start")
        event.props["originalStartTimeZone"] = zone
    if "_end" in accepted:
        end, zone = accepted.pop("_end")
        event.props["originalEndTimeZone"] = zone
    if end < start:
        raise bad_request("The end of an event must not be before its start.", "ErrorInvalidRequest")
    event.start, event.end = start, end
    _merge_extended(event, accepted.pop("singleValueExtendedProperties", None) or [])
    _apply(event, accepted)
    event.props["lastModifiedDateTime"] = utc_stamp(now)
    event.props["changeKey"] = new_change_key()


def _apply(event: StoredEvent, accepted: dict[str, Any]) -> None:
    props = event.props
    for name, value in accepted.items():
        if name == "location":
            props["location"] = _location(value or {})
        elif name == "locations":
            props["locations"] = [_location(item) for item in value or []]
        elif name == "attendees":
            props["attendees"] = [_attendee(item) for item in value or []]
        elif name == "categories":
            props["categories"] = list(value or [])
        elif name == "body":
            body = {"contentType": "html", "content": "", **(value or {})}
            props["body"] = body
            props["bodyPreview"] = _preview(body)
        else:
            props[name] = value
    if props.get("isOnlineMeeting") and props.get("onlineMeetingProvider") in (None, "unknown"):
        props["onlineMeetingProvider"] = "teamsForBusiness"
    if props.get("isOnlineMeeting") and props.get("onlineMeetingProvider") == "teamsForBusiness":
        if not props.get("onlineMeeting"):
            props["onlineMeeting"] = {"joinUrl": teams_join_url()}
    else:
        props["onlineMeeting"] = None


def _merge_extended(event: StoredEvent, properties: list[dict[str, str]]) -> None:
    for prop in properties:
        prop_id = prop.get("id")
        if not prop_id:
            raise bad_request("An extended property needs an 'id'.", "ErrorInvalidExtendedPropertyValue")
        event.extended = [item for item in event.extended if not same_property_id(item["id"], prop_id)]
        event.extended.append({"id": prop_id, "value": prop.get("value") or ""})


_PROPERTY_ID = re.compile(
    r"^\s*(?P<type>\w+)\s+\{(?P<guid>[0-9A-Fa-f-]{36})\}\s+(?P<kind>Name|Id)\s+(?P<name>.+?)\s*$",
    re.IGNORECASE,
)


def same_property_id(a: str, b: str) -> bool:
    """Whether two extended property ids name the same property, compared as Exchange does."""
    left, right = _PROPERTY_ID.match(a), _PROPERTY_ID.match(b)
    if left is None or right is None:
        return a.strip().lower() == b.strip().lower()
    if (left["type"].lower(), left["guid"].lower(), left["kind"].lower()) != (
        right["type"].lower(),
        right["guid"].lower(),
        right["kind"].lower(),
    ):
        return False
    if left["kind"].lower() == "name":
        return left["name"] == right["name"]
    return left["name"].lower() == right["name"].lower()


@dataclass(frozen=True)
class ExtendedPropertyFilter:
    """`singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and <test of ep/value>)`."""

    property_id: str
    operator: str  # eq | ne | contains | startswith
    value: str

    def matches(self, event: StoredEvent) -> bool:
        for item in event.extended:
            if not same_property_id(item["id"], self.property_id):
                continue
            actual, wanted = (item.get("value") or "").lower(), self.value.lower()
            if self.operator == "eq" and actual == wanted:
                return True
            if self.operator == "ne" and actual != wanted:
                return True
            if self.operator == "contains" and wanted in actual:
                return True
            if self.operator == "startswith" and actual.startswith(wanted):
                return True
        return False


_LITERAL = r"'(?:[^']|'')*'"
_ANY_FILTER = re.compile(
    rf"""^\s*singleValueExtendedProperties\s*/\s*any\s*\(\s*(?P<var>[A-Za-z_]\w*)\s*:\s*
    (?P=var)/id\s+eq\s+(?P<id>{_LITERAL})\s+and\s+
    (?:(?P=var)/value\s+(?P<op>eq|ne)\s+(?P<value>{_LITERAL})
      |(?P<fn>contains|startswith)\s*\(\s*(?P=var)/value\s*,\s*(?P<fnvalue>{_LITERAL})\s*\))
    \s*\)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def parse_filter(raw: str | None) -> ExtendedPropertyFilter | None:
    """The event-list `$filter` the simulator understands, or Graph's 400 for any other."""
    if raw is None or not raw.strip():
        return None
    match = _ANY_FILTER.match(raw)
    if match is None:
        raise bad_request(
            "The query filter contains one or more invalid nodes.", "ErrorInvalidUrlQueryFilter"
        )
    if match["op"] is not None:
        return ExtendedPropertyFilter(_unquote(match["id"]), match["op"].lower(), _unquote(match["value"]))
    return ExtendedPropertyFilter(_unquote(match["id"]), match["fn"].lower(), _unquote(match["fnvalue"]))


def _location(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "displayName": "",
        "locationType": "default",
        "uniqueIdType": "unknown",
        "address": {},
        "coordinates": {},
        **value,
    }


def _attendee(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "required", "status": {"response": "none", "time": NEVER}, **value}


def _preview(body: dict[str, Any]) -> str:
    text = str(body.get("content") or "")
    if body.get("contentType") == "html":
        text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:255]


def render_event(
    event: StoredEvent,
    zone: tuple[str, ZoneInfo] | None,
    *,
    select: frozenset[str] | None = None,
    extended_filter: str | None = None,
    expand_extended: bool = False,
) -> dict[str, Any]:
    """The event as Graph returns it, times in the preferred zone (else UTC)."""
    zone_name, zone_info = zone if zone is not None else ("UTC", ZoneInfo("UTC"))
    full = dict(event.props)
    full["start"] = render_local(event.start, zone_name, zone_info)
    full["end"] = render_local(event.end, zone_name, zone_info)
    rendered: dict[str, Any] = {"@odata.etag": etag(str(event.props["changeKey"]))}
    for name in PROPERTY_ORDER:
        if name in full and (select is None or name in select or name == "id"):
            rendered[name] = full[name]
    if expand_extended:
        rendered["singleValueExtendedProperties"] = [
            dict(item)
            for item in event.extended
            if extended_filter is None or same_property_id(item["id"], extended_filter)
        ]
    return rendered


def parse_select(raw: str | None) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    for name in names:
        if name not in SELECTABLE:
            raise bad_request(f"Could not find a property named '{name}' on type 'microsoft.graph.event'.")
    return names


def parse_expand(raw: str | None) -> tuple[bool, str | None]:
    """`$expand=singleValueExtendedProperties($filter=id eq '...')` as (expand?, id filter)."""
    if raw is None or not raw.strip():
        return False, None
    match = re.fullmatch(
        rf"\s*singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*id\s+eq\s+(?P<id>{_LITERAL})\s*\))?\s*",
        raw,
        re.IGNORECASE,
    )
    if match is None:
        raise bad_request(f"The Graph simulator cannot expand '{raw}'.")
    return True, None if match["id"] is None else _unquote(match["id"])


def overlaps(event: StoredEvent, start: datetime, end: datetime) -> bool:
    return (event.start < end and start < event.end) or (
        event.start == event.end and start <= event.start < end
    )


def now_utc() -> datetime:
    return datetime.now(UTC)


def teams_join_url() -> str:
    """A Teams join URL of the real shape and length (~243 characters, Graph's `call` resource page):
    base64 meeting thread id plus the URL-encoded `context` with tenant and organizer ids."""
    thread = base64.b64encode(str(uuid.uuid4()).encode()).decode().rstrip("=")
    context = f"%7b%22Tid%22%3a%22{uuid.uuid4()}%22%2c%22Oid%22%3a%22{uuid.uuid4()}%22%7d"
    return f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0?context={context}"
