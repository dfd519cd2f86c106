"""Strict CORS for the routes the booking page calls from a browser.

Invariants:
- Only origins listed in `CORS_ALLOWED_ORIGINS` (comma-separated, exact `scheme://host[:port]`, no
  paths, no wildcards) ever receive `Access-Control-Allow-Origin`, and it always echoes that one
  origin with `Vary: Origin`, never `*`. An unlisted or missing origin gets no CORS header at all, so
  the browser refuses the response; the request itself is answered as for any other client.
- Credentials are never allowed (`Access-Control-Allow-Credentials` is not sent): the booking page
  needs no cookies and no function key, and an allowed origin is echoed, not wildcarded, anyway.
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) on a CORS route is answered 204 here,
  without running the handler or any key check; methods outside the route's own are not allowed.
- Routes opt in (`endpoint(..., cors=True)`); by default only `book/*` routes do. Keyed APIs
  (`/bookings`, `/slots`, `/admin/*`) are server-to-server and never answer CORS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import azure.functions as func

from bootstrap.composition import services

SETTING: Final = "CORS_ALLOWED_ORIGINS"
ALLOWED_HEADERS: Final = "Content-Type, Idempotency-Key, If-Match, traceparent"
EXPOSED_HEADERS: Final = "Location, ETag, Idempotent-Replayed, X-Correlation-Id, traceresponse"
MAX_AGE_SECONDS: Final = "600"


def allowed_origins() -> frozenset[str]:
    """`CORS_ALLOWED_ORIGINS` as the settings read it (bootstrap/settings.py)."""
    return services().settings.cors_allowed_origins


def request_origin(req: func.HttpRequest) -> str | None:
    origin = req.headers.get("origin")
    return origin.strip().rstrip("/").lower() if origin else None


def is_preflight(req: func.HttpRequest) -> bool:
    return str(req.method).upper() == "OPTIONS"


def preflight_response(req: func.HttpRequest, methods: Iterable[str]) -> func.HttpResponse:
    """204 with the CORS grant for a listed origin asking for one of `methods`, else 204 without it."""
    response = func.HttpResponse(status_code=204)
    origin = request_origin(req)
    wanted = (req.headers.get("access-control-request-method") or "").strip().upper()
    allowed = sorted({m.upper() for m in methods} - {"OPTIONS"})
    response.headers["Vary"] = "Origin"
    if origin is None or origin not in allowed_origins() or wanted not in allowed:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = ", ".join(allowed)
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = MAX_AGE_SECONDS
    return response


def add_cors_headers(req: func.HttpRequest, response: func.HttpResponse) -> None:
    """Grant a listed origin read access to an actual (non-preflight) response."""
    response.headers["Vary"] = "Origin"
    origin = request_origin(req)
    if origin is None or origin not in allowed_origins():
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
