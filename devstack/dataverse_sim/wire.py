"""Dataverse's wire conventions as the simulator speaks them: errors, headers, preferences, values.

- Every response carries `OData-Version: 4.0`; JSON bodies are
  `application/json; odata.metadata=minimal`.
- Errors are `{"error": {"code": "0x...", "message": "..."}}` with Dataverse's
  codes for the cases the simulator reproduces (`DataverseFault` constructors below).
- `Prefer` is a comma-separated list: `return=representation`,
  `odata.maxpagesize=N`, `odata.include-annotations="*"` (or a list of annotation
  names, `Microsoft.Dynamics.CRM.*` patterns allowed).
- Date and time values are written back as UTC `YYYY-MM-DDTHH:MM:SSZ`, as Dataverse returns them.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from devstack.simkit import SimFault

ODATA_HEADERS = {"OData-Version": "4.0"}
JSON_MEDIA_TYPE = "application/json; odata.metadata=minimal"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Dataverse error codes the simulator answers with.
OBJECT_DOES_NOT_EXIST = "0x80040217"
DUPLICATE_RECORD = "0x80040237"
INVALID_ARGUMENT = "0x80040203"
CONCURRENCY_VERSION_MISMATCH = "0x80060882"
RESOURCE_NOT_FOUND_FOR_SEGMENT = "0x8006088a"
PAYLOAD_ERROR = "0x80048d19"
INVALID_STATE_STATUS = "0x80048408"
VALUE_OUT_OF_RANGE = "0x80044331"
#: StringLengthTooLong (-2147204303) in Microsoft's web-service-error-codes list.
STRING_LENGTH_TOO_LONG = "0x80044331"
MESSAGE_NOT_SUPPORTED = "0x80040800"
QUERY_NOT_SUPPORTED = "0x80060888"
THROTTLED_REQUESTS = "0x80072322"
UNEXPECTED = "0x80040216"


class DataverseFault(SimFault):
    """An error answer the simulator gives, in Dataverse's shape (`error_response`)."""

    @classmethod
    def bad_request(cls, message: str, code: str = "0x0") -> DataverseFault:
        return cls(400, code, message)

    @classmethod
    def not_found(cls, logical_name: str, record_id: str) -> DataverseFault:
        return cls(
            404, OBJECT_DOES_NOT_EXIST, f"Entity '{logical_name}' With Id = {record_id} Does Not Exist"
        )

    @classmethod
    def duplicate(cls) -> DataverseFault:
        return cls(412, DUPLICATE_RECORD, "A record with matching key values already exists.")

    @classmethod
    def unknown_property(cls, name: str, type_name: str) -> DataverseFault:
        return cls(400, "0x0", f"Could not find a property named '{name}' on type '{type_name}'.")

    @classmethod
    def invalid_property(cls, name: str, type_name: str, reason: str = "") -> DataverseFault:
        return cls(
            400,
            "0x0",
            "An error occurred while validating input parameters: Microsoft.Crm.CrmException: "
            f"Invalid property '{name}' was found in entity '{type_name}'.{f' {reason}' if reason else ''}",
        )

    @classmethod
    def undeclared_navigation(cls, name: str, set_name: str) -> DataverseFault:
        return cls(
            400,
            PAYLOAD_ERROR,
            f"Error identified in Payload provided by the user for Entity :'{set_name}'  ---->  "
            f"InnerException : Microsoft.OData.ODataException: An undeclared property '{name}' which only "
            "has property annotations in the payload but no property value was found in the payload. "
            "In OData, only declared navigation properties and declared named streams can be represented "
            "as properties without values.",
        )

    @classmethod
    def segment_not_found(cls, segment: str) -> DataverseFault:
        return cls(404, RESOURCE_NOT_FOUND_FOR_SEGMENT, f"Resource not found for the segment '{segment}'.")

    @classmethod
    def not_modelled(cls, what: str) -> DataverseFault:
        return cls(501, "0x0", f"The Dataverse simulator does not model {what}.")


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return json_response({"error": {"code": code, "message": message}}, status, headers=headers)


def json_response(payload: Any, status: int = 200, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        payload, status_code=status, headers={**ODATA_HEADERS, **(headers or {})}, media_type=JSON_MEDIA_TYPE
    )


def empty_response(status: int = 204, *, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers={**ODATA_HEADERS, **(headers or {})})


def json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise DataverseFault.bad_request("The request body is empty; a JSON object was expected.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataverseFault.bad_request(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise DataverseFault.bad_request("The request body must be a JSON object.")
    return value


@dataclass(frozen=True, slots=True)
class Preferences:
    return_representation: bool = False
    max_page_size: int | None = None
    annotations: tuple[str, ...] = ()
    applied: tuple[str, ...] = field(default=())

    def wants_annotation(self, name: str) -> bool:
        for pattern in self.annotations:
            if pattern in ("*", name) or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
                return True
        return False


def parse_prefer(header: str | None) -> Preferences:
    representation = False
    page_size: int | None = None
    annotations: tuple[str, ...] = ()
    applied: list[str] = []
    for raw in _split_preferences(header or ""):
        name, _, value = raw.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if name == "return" and value.lower() == "representation":
            representation = True
            applied.append("return=representation")
        elif name == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
            page_size = int(value)
            applied.append(f"odata.maxpagesize={page_size}")
        elif name == "odata.include-annotations" and value:
            annotations = tuple(part.strip() for part in value.split(",") if part.strip())
            applied.append(f'odata.include-annotations="{value}"')
    return Preferences(
        return_representation=representation,
        max_page_size=page_size,
        annotations=annotations,
        applied=tuple(applied),
    )


def _split_preferences(header: str) -> list[str]:
    """Split on commas outside double quotes (annotation lists are quoted and may hold commas)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def normalize_guid(value: Any) -> str | None:
    if isinstance(value, str) and GUID.match(value.strip()):
        return value.strip().lower()
    return None


def normalize_datetime(value: str) -> str | None:
    """`value` as Dataverse stores it: a UTC instant `...Z` or a date `YYYY-MM-DD`; None if unreadable."""
    text = value.strip()
    if _DATE.match(text):
        return text
    if not _DATETIME.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())
