"""OpenAPI 3.1 of every registered route, built from the same pydantic models the handlers use."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from http_api.auth import Access
from http_api.endpoint import ROUTES, RouteDoc

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Invalid JSON",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    422: "Validation failed",
    503: "Unavailable",
}


def _models(routes: list[RouteDoc]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for route in routes:
        for op in route.operations:
            for model in [op.request, *op.responses.values()]:
                if model is not None:
                    found[model.__name__] = model
    return [found[name] for name in sorted(found)]


def model_schemas(
    routes: list[RouteDoc], ref_template: str
) -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    """JSON Schema of every model the routes use (requests in validation mode, responses in
    serialization mode): `(refs by (model, mode), schemas by name)`. The Swagger 2.0 connector
    (connector/generate.py) is built from this too, so both documents describe the same models."""
    models = _models(routes)
    refs, schema = models_json_schema(
        [(m, "validation" if _is_request(m, routes) else "serialization") for m in models],
        ref_template=ref_template,
    )
    return {
        (m, mode): ref for (m, mode), ref in refs.items() if isinstance(m, type) and issubclass(m, BaseModel)
    }, dict(schema.get("$defs", {}))


def build_openapi(routes: list[RouteDoc] | None = None) -> dict[str, Any]:
    routes = ROUTES if routes is None else routes
    refs, schemas = model_schemas(routes, "#/components/schemas/{model}")
    paths: dict[str, Any] = {}
    for route in sorted(routes, key=lambda r: r.route):
        path = "/" + route.route
        item = paths.setdefault(path, {})
        for name in re.findall(r"{(\w+)}", route.route):
            item.setdefault("parameters", []).append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
        for op in route.operations:
            operation: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": op.summary,
                "tags": [op.tag],
            }
            params = [
                {
                    "name": q.name,
                    "in": "query",
                    "required": q.required,
                    "description": q.description,
                    "schema": {"type": "array", "items": q.schema} if q.repeatable else q.schema,
                    **({"explode": True} if q.repeatable else {}),
                }
                for q in op.query
            ] + [
                {
                    "name": h.name,
                    "in": "header",
                    "required": h.required,
                    "description": h.description,
                    "schema": h.schema,
                }
                for h in op.headers
            ]
            if params:
                operation["parameters"] = params
            if op.request is not None:
                mode = "validation"
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(op.request, mode)]}},
                }
            responses: dict[str, Any] = {}
            for status, model in sorted(op.responses.items()):
                entry: dict[str, Any] = {"description": STATUS_TEXT.get(status, str(status))}
                if model is not None:
                    media = "application/problem+json" if model.__name__ == "Problem" else op.content_type
                    key = (model, "validation" if _is_request(model, routes) else "serialization")
                    entry["content"] = {media: {"schema": refs[key]}}
                responses[str(status)] = entry
            operation["responses"] = responses
            if route.access is not Access.PUBLIC:
                operation["security"] = [{"functionKey": []}]
            item[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dynamics scheduling API",
            "version": "1.0.0",
            "description": "Availability, routing and bookings for Dynamics 365 teams.",
        },
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
        },
    }


def _is_request(model: type[BaseModel], routes: list[RouteDoc]) -> bool:
    return any(op.request is model for route in routes for op in route.operations)
