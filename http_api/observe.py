"""What every HTTP invocation gets around its handler: a server span, correlation headers, counters.

Invariants:
- The span continues the caller's W3C `traceparent` when it sends a valid one, else starts a trace;
  the response always names it: `X-Correlation-Id` (the 32-hex trace id) and `traceresponse`
  (`00-{trace}-{span}-{flags}`, W3C Trace Context level 2).
- Sensitive values registered during the invocation (invitee data read from the body, presented
  keys) are forgotten when it ends; the route's `bookingId` is bound to every log record of it.
- A 409 increments `scheduling.http.conflicts` with its problem `code`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import azure.functions as func
from opentelemetry.trace import SpanKind, Status, StatusCode

from scheduling_core.runtime import logs, redaction, telemetry

CORRELATION_HEADER = "X-Correlation-Id"
TRACE_RESPONSE_HEADER = "traceresponse"


def observed(
    req: func.HttpRequest, *, route: str, call: Callable[[], func.HttpResponse]
) -> func.HttpResponse:
    method = req.method.upper()
    attributes: dict[str, str | int | float | bool] = {
        "http.request.method": method,
        "http.route": f"/api/{route}",
    }
    with (
        redaction.scope(),
        telemetry.span(
            f"{method} /api/{route}",
            kind=SpanKind.SERVER,
            traceparent=req.headers.get("traceparent"),
            attributes=attributes,
        ) as span,
        logs.bind(operation=f"{method} {route}", booking_id=req.route_params.get("bookingId")),
    ):
        response = call()
        status = response.status_code
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        if status == 409:
            telemetry.instruments().conflicts.add(1, {"code": _problem_code(response), "route": route})
        context = span.get_span_context()
        response.headers[CORRELATION_HEADER] = f"{context.trace_id:032x}"
        response.headers[TRACE_RESPONSE_HEADER] = telemetry.format_traceparent(context)
        return response


def _problem_code(response: func.HttpResponse) -> str:
    try:
        body = json.loads(response.get_body() or b"{}")
    except ValueError:
        return "unknown"
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else "unknown"
