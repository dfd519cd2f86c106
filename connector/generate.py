"""The Power Automate custom connector (`connector/*.json`), generated from the registered routes.

`python -m connector.generate` (or `make connector`) writes `apiDefinition.swagger.json` (Swagger 2.0,
which Power Platform custom connectors require) and `apiProperties.json`; `--check` only compares and
fails when the checked-in files differ from what the routes produce now.

Invariants:
- The connector holds exactly the keyed, non-admin operations (`Access.API`) of `http_api.endpoint.ROUTES`,
  with the operation ids, parameters and request/response models `/openapi.json` documents; admin
  routes and unkeyed ones (health, callbacks, the booking page) never appear.
- Definitions are the JSON Schema `/openapi.json` carries (`http_api.openapi.model_schemas`), converted
  faithfully: `$defs` -> `definitions`; a nullable union (`anyOf: [X, {"type": "null"}]`) -> X with
  `x-nullable: true` (a `$ref` is wrapped in `allOf`, since Swagger 2.0 ignores a `$ref`'s siblings);
  `const` -> a one-member `enum`; `examples` -> `example`; numeric `exclusiveMinimum`/`exclusiveMaximum` ->
  `minimum`/`maximum` plus the boolean flag. Anything else Swagger 2.0 cannot say (a real union, a type
  list, `propertyNames`, ...) raises `ConversionError`: the build fails instead of dropping a rule.
- Every operation carries `summary` and `description`, every parameter, definition and plain property
  an `x-ms-summary` label (a `$ref` property shows its definition's); an API operation without a
  connector description fails the build.
- The output is deterministic (sorted paths, fixed key order), so the files are compared byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from http_api.auth import Access
from http_api.endpoint import Operation, QueryParam, RouteDoc

HERE: Final = Path(__file__).resolve().parent
DEFINITION_FILE: Final = HERE / "apiDefinition.swagger.json"
PROPERTIES_FILE: Final = HERE / "apiProperties.json"

#: Placeholder host: the `dynamichosturl` policy (apiProperties.json) sends each call to the host the
#: connection names instead; edit it to a real host only for tools that ignore policies.
PLACEHOLDER_HOST: Final = "your-function-app.azurewebsites.net"
BASE_PATH: Final = "/api"  # host.json's routePrefix
SECURITY: Final = "api_key"  # Power Platform names an API-key connection parameter `api_key`
REF_TEMPLATE: Final = "#/definitions/{model}"


class ConversionError(ValueError):
    """A schema construct Swagger 2.0 cannot express, or an API operation the connector does not describe."""


@dataclass(frozen=True, slots=True)
class ConnectorOperation:
    summary: str  # the action's name in Power Automate (sentence case, no final period)
    description: str
    visibility: str = "important"


#: Every keyed, non-admin operation, as Power Automate shows it. A new API operation must be added here.
OPERATIONS: Final[dict[str, ConnectorOperation]] = {
    "GetSlots": ConnectorOperation(
        "Get available slots",
        "Bookable start times of an event type between two dates, for the hosts the event type or its "
        "routing rules choose (optionally routed by a Dynamics record's context).",
    ),
    "ExplainSlot": ConnectorOperation(
        "Explain a start time",
        "Why one start time is or is not bookable with one host: every reason (outside working hours, "
        "a busy Outlook item by its status and times, buffers, bookings, holds, notice, window, caps).",
    ),
    "CreateBooking": ConnectorOperation(
        "Create a booking",
        "Books a slot: writes the meeting into the host's Outlook calendar and a Dynamics appointment. "
        "Send an Idempotency-Key (for example the flow run name plus the record id) so retries never "
        "book twice.",
    ),
    "GetBooking": ConnectorOperation(
        "Get a booking",
        "The current state of a booking, including its Outlook and Dynamics sync status.",
    ),
    "RescheduleBooking": ConnectorOperation(
        "Reschedule a booking",
        "Moves a booking to a new start; the same Outlook event and Dynamics appointment are updated. "
        "With If-Match the move is refused when the booking changed since it was read.",
    ),
    "CancelBooking": ConnectorOperation(
        "Cancel a booking",
        "Cancels a booking and its Outlook event and Dynamics appointment; cancelling twice is harmless.",
    ),
    "GetRoutingFairness": ConnectorOperation(
        "Get routing fairness",
        "Per host of a routing rule set over a time range: bookings, cancels, no-shows, weight, and the "
        "expected and actual share of the bookings, counted from the stored bookings.",
        "advanced",
    ),
    "MarkNoShow": ConnectorOperation(
        "Mark a no-show",
        "Records that the invitee or the host did not attend, once the meeting has started; the "
        "appointment is completed with a no-show note and round-robin fairness counts it as part of one.",
    ),
    "ListBookings": ConnectorOperation(
        "List bookings",
        "Bookings of a Dynamics record or a host, optionally within a time range or of one status.",
        "advanced",
    ),
    "CreateHold": ConnectorOperation(
        "Hold a slot",
        "Keeps a slot from others for a few minutes while the invitee's details are collected.",
        "advanced",
    ),
    "DeleteHold": ConnectorOperation(
        "Release a hold", "Gives a held slot back before the hold expires.", "advanced"
    ),
    "ListRoutingDecisions": ConnectorOperation(
        "List routing decisions",
        "Every routing decision taken for a Dynamics record, newest first.",
        "advanced",
    ),
    "GetRoutingDecision": ConnectorOperation(
        "Get a routing decision",
        "Why a meeting went to whom: every rule tried, the candidates and the host chosen.",
        "advanced",
    ),
}

#: Path parameters: (label, description).
PATH_PARAMETERS: Final[dict[str, tuple[str, str]]] = {
    "bookingId": ("Booking ID", "The booking's id (bk_...), as Create a booking returns it."),
    "holdId": ("Hold ID", "The hold's id (hd_...), as Hold a slot returns it."),
    "decisionId": ("Routing decision ID", "The decision's id (rd_...), as Get available slots returns it."),
}

#: Labels that the camelCase rule below would get wrong.
LABELS: Final[dict[str, str]] = {
    "Idempotency-Key": "Idempotency key",
    "If-Match": "Expected version (If-Match)",
    "specversion": "Spec version",
}
#: Request fields most flows leave alone.
ADVANCED_FIELDS: Final = frozenset({"holdId", "hostId", "answers", "metadata"})
#: Parameters most flows leave alone.
ADVANCED_PARAMETERS: Final = frozenset(
    {"If-Match", "continuationToken", "ownerId", "territory", "country", "postalCode", "skills", "hostId"}
)

_SCHEMA_KEYWORDS: Final = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "default",
        "multipleOf",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "enum",
        "readOnly",
        "example",
    }
)
_ACRONYMS: Final = {"id": "ID", "ids": "IDs", "url": "URL", "utm": "UTM"}


def label(name: str) -> str:
    """`hostIds` -> `Host IDs`, `timeZone` -> `Time zone`: the label Power Automate shows."""
    if name in LABELS:
        return LABELS[name]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.replace("_", " ").replace("-", " ")).split()
    words = [_ACRONYMS.get(w.lower(), w.lower()) for w in words]
    if words and words[0] == words[0].lower():
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


# --- JSON Schema (draft 2020-12, as pydantic writes it) -> Swagger 2.0 schema ------------------------


def to_swagger_schema(node: dict[str, Any], where: str) -> dict[str, Any]:
    """One schema converted (see the module docstring); `where` names it in errors."""
    node = dict(node)
    out: dict[str, Any] = {}
    union = node.pop("anyOf", None) or node.pop("oneOf", None)
    if union is not None:
        members = [m for m in union if m != {"type": "null"}]
        if len(members) != 1:
            raise ConversionError(f"{where}: a union of {len(members)} schemas has no Swagger 2.0 form")
        out.update(_wrap_ref(to_swagger_schema(members[0], where)))
        if len(members) < len(union):
            out["x-nullable"] = True
            if node.get("default", 0) is None:
                del node["default"]
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = value
        elif key == "type":
            if isinstance(value, list):
                kinds = [k for k in value if k != "null"]
                if len(kinds) != 1:
                    raise ConversionError(f"{where}: type list {value} has no Swagger 2.0 form")
                out["type"] = kinds[0]
                if len(kinds) < len(value):
                    out["x-nullable"] = True
            elif value == "null":
                raise ConversionError(f"{where}: a schema that is only null has no Swagger 2.0 form")
            else:
                out["type"] = value
        elif key == "properties":
            out["properties"] = {prop: _property(sub, f"{where}.{prop}", prop) for prop, sub in value.items()}
        elif key == "items":
            if not isinstance(value, dict):
                raise ConversionError(f"{where}: tuple-style items have no Swagger 2.0 form")
            out["items"] = _wrap_ref(to_swagger_schema(value, f"{where}[]"))
        elif key == "additionalProperties":
            out[key] = value if isinstance(value, bool) else to_swagger_schema(value, f"{where}{{}}")
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples":
            out["example"] = value[0] if isinstance(value, list) else value
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "default" and value is None:
            raise ConversionError(f"{where}: default null on a schema that is not nullable")
        elif key in _SCHEMA_KEYWORDS:
            out[key] = value
        else:
            raise ConversionError(f"{where}: '{key}' has no Swagger 2.0 form")
    return out


def _wrap_ref(schema: dict[str, Any]) -> dict[str, Any]:
    """Swagger 2.0 ignores a `$ref`'s siblings; `allOf` keeps them."""
    if "$ref" in schema and len(schema) > 1:
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return {"allOf": [{"$ref": schema["$ref"]}], **rest}
    return schema


def _property(node: dict[str, Any], where: str, name: str) -> dict[str, Any]:
    converted = to_swagger_schema(node, where)
    if set(converted) == {"$ref"}:
        return converted  # a bare reference: the definition carries the label
    converted.pop("title", None)  # pydantic's generated title ("Eventtype"); the label replaces it
    return _wrap_ref({"x-ms-summary": label(name), **converted})


# --- the document ------------------------------------------------------------------------------------


def connector_routes(routes: Iterable[RouteDoc]) -> list[RouteDoc]:
    return sorted((r for r in routes if r.access is Access.API), key=lambda r: r.route)


def build_definition(routes: list[RouteDoc]) -> dict[str, Any]:
    """The Swagger 2.0 document of the connector from every registered route (`ROUTES`)."""
    from http_api.openapi import STATUS_TEXT, model_schemas

    refs, schemas = model_schemas(routes, REF_TEMPLATE)
    selected = connector_routes(routes)
    described = {op.operation_id for r in selected for op in r.operations}
    missing = sorted(described - OPERATIONS.keys())
    if missing:
        raise ConversionError(f"API operations without a connector description in OPERATIONS: {missing}")

    def ref(model: Any) -> dict[str, Any]:
        mode = (
            "validation"
            if any(op.request is model for r in routes for op in r.operations)
            else ("serialization")
        )
        return dict(refs[(model, mode)])

    paths: dict[str, Any] = {}
    body_refs: list[str] = []
    for route in selected:
        item = paths.setdefault("/" + route.route, {})
        path_params = [_path_parameter(name) for name in re.findall(r"{(\w+)}", route.route)]
        for op in sorted(route.operations, key=lambda o: o.method):
            meta = OPERATIONS[op.operation_id]
            operation: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": meta.summary,
                "description": meta.description,
                "tags": [op.tag],
                "x-ms-visibility": meta.visibility,
            }
            parameters = list(path_params)
            parameters += [_query_parameter(q) for q in op.query]
            parameters += [_header_parameter(op, h) for h in op.headers]
            if op.request is not None:
                body_ref = ref(op.request)
                body_refs.append(body_ref["$ref"])
                parameters.append(
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "x-ms-summary": "Request",
                        "description": f"The {label(op.request.__name__)[:-3].lower() or 'request'} body.",
                        "schema": body_ref,
                    }
                )
            if parameters:
                operation["parameters"] = parameters
            operation["produces"] = sorted({op.content_type, "application/problem+json"})
            if op.request is not None:
                operation["consumes"] = ["application/json"]
            responses: dict[str, Any] = {}
            for status, model in sorted(op.responses.items()):
                entry: dict[str, Any] = {"description": STATUS_TEXT.get(status, str(status))}
                if model is not None:
                    entry["schema"] = ref(model)
                responses[str(status)] = entry
            operation["responses"] = responses
            item[op.method.lower()] = operation

    definitions = {name: _definition(name, schemas[name]) for name in sorted(_reachable(paths, schemas))}
    for name in sorted(_reachable({"refs": [{"$ref": r} for r in body_refs]}, schemas)):
        _mark_request_fields(definitions[name])
    return {
        "swagger": "2.0",
        "info": {
            "title": "Dynamics Scheduling",
            "description": (
                "Availability, routing and bookings for Dynamics 365 teams: find slots from Outlook "
                "free/busy, book, reschedule and cancel meetings that land in Outlook and Dynamics."
            ),
            "version": "1.0.0",
            "contact": {"name": "Dynamics scheduling"},
        },
        "host": PLACEHOLDER_HOST,
        "basePath": BASE_PATH,
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            SECURITY: {
                "type": "apiKey",
                "in": "header",
                "name": "x-functions-key",
                "description": "An Azure Functions key (function or host key) of the app.",
            }
        },
        "security": [{SECURITY: []}],
        "tags": [{"name": t} for t in sorted({op.tag for r in selected for op in r.operations})],
    }


def _definition(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    converted = to_swagger_schema(schema, name)
    return {"x-ms-summary": label(re.sub(r"(In|Out)$", "", name)), **converted}


def _mark_request_fields(definition: dict[str, Any]) -> None:
    required = set(definition.get("required", []))
    for name, prop in definition.get("properties", {}).items():
        if "$ref" in prop:
            continue  # a sibling of `$ref` would be ignored; the nested definition is shown whole
        if name in ADVANCED_FIELDS:
            prop["x-ms-visibility"] = "advanced"
        elif name in required:
            prop["x-ms-visibility"] = "important"


def _reachable(start: Any, schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and target.startswith("#/definitions/"):
                name = target.rsplit("/", 1)[1]
                if name not in seen:
                    seen.add(name)
                    stack.append(schemas[name])
            stack.extend(v for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            stack.extend(node)
    return seen


def _path_parameter(name: str) -> dict[str, Any]:
    if name not in PATH_PARAMETERS:
        raise ConversionError(f"path parameter '{name}' has no label in PATH_PARAMETERS")
    summary, description = PATH_PARAMETERS[name]
    return {
        "name": name,
        "in": "path",
        "required": True,
        "type": "string",
        "x-ms-summary": summary,
        "description": description,
        "x-ms-url-encoding": "single",
    }


def _visibility(param: QueryParam) -> str:
    if param.required:
        return "important"
    return "advanced" if param.name in ADVANCED_PARAMETERS else "none"


def _query_parameter(param: QueryParam) -> dict[str, Any]:
    schema = to_swagger_schema(param.schema, f"query {param.name}")
    typed: dict[str, Any] = (
        {"type": "array", "items": schema, "collectionFormat": "multi"} if param.repeatable else schema
    )
    return {
        "name": param.name,
        "in": "query",
        "required": param.required,
        **typed,
        "x-ms-summary": label(param.name),
        "description": param.description,
        "x-ms-visibility": _visibility(param),
    }


def _header_parameter(op: Operation, param: QueryParam) -> dict[str, Any]:
    schema = to_swagger_schema(param.schema, f"{op.operation_id} header {param.name}")
    return {
        "name": param.name,
        "in": "header",
        "required": param.required,
        **schema,
        "x-ms-summary": label(param.name),
        "description": param.description,
        "x-ms-visibility": "important" if param.name == "Idempotency-Key" else _visibility(param),
    }


def build_properties() -> dict[str, Any]:
    """`apiProperties.json`: the function key and the app's host as connection parameters."""
    return {
        "properties": {
            "connectionParameters": {
                "functionAppHost": {
                    "type": "string",
                    "uiDefinition": {
                        "displayName": "Function app host",
                        "description": "Host name of the scheduling function app, without https://",
                        "tooltip": "For example contoso-scheduling.azurewebsites.net",
                        "constraints": {"tabIndex": 1, "required": "true"},
                    },
                },
                SECURITY: {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "A function key of the scheduling function app",
                        "tooltip": "Azure portal: the function app, App keys (sent as x-functions-key)",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                },
            },
            "iconBrandColor": "#0f6cbd",
            "capabilities": [],
            "policyTemplateInstances": [
                {
                    "templateId": "dynamichosturl",
                    "title": "Call the connection's function app",
                    "parameters": {
                        "x-ms-apimTemplateParameter.urlTemplate": (
                            "https://@connectionParameters('functionAppHost')"
                        )
                    },
                }
            ],
            "publisher": "Dynamics scheduling",
            "stackOwner": "Dynamics scheduling",
        }
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated_files(routes: list[RouteDoc] | None = None) -> dict[Path, str]:
    """What the connector files must contain for the routes registered now (`function_app`)."""
    if routes is None:
        import function_app  # noqa: F401 - registers every blueprint, filling ROUTES
        from http_api.endpoint import ROUTES

        routes = ROUTES
    return {
        DEFINITION_FILE: render(build_definition(routes)),
        PROPERTIES_FILE: render(build_properties()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the checked-in files are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run `make connector`", file=sys.stderr)
        return 1
    print(("stale: " if args.check else "written: ") + ", ".join(stale) if stale else "up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
