"""`GET /health` and `GET /openapi.json`."""

from __future__ import annotations

import azure.functions as func

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, endpoint, json_response
from http_api.openapi import build_openapi
from http_api.schemas import HealthResponse

bp = func.Blueprint()


@endpoint(
    bp,
    route="health",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetHealth",
            summary="Storage check (503 when down) and Graph/Dataverse reachability (degraded)",
            tag="operations",
            responses={200: HealthResponse, 503: HealthResponse},
        ),
    ),
)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = services().health.check()
    body = HealthResponse(status=report.status, checks=report.checks, degradedHosts=report.degraded_hosts)
    return json_response(body, 200 if report.healthy else 503)


@endpoint(
    bp,
    route="openapi.json",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="GET",
            operation_id="GetOpenApi",
            summary="This API's OpenAPI 3.1 document",
            tag="operations",
            responses={200: None},
        ),
    ),
)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(build_openapi())
