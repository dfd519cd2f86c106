"""What every key-less browser-facing response carries, by path prefix (`/book/*` now, `/manage/*` next).

`endpoint` calls `protect` on every response of a route under `PAGE_PREFIXES` — successes, problems,
404s of unknown slugs, 429s — so no handler can forget: `X-Content-Type-Options: nosniff`, a
Content-Security-Policy (the handler's own, or the strict default), `Cache-Control: no-store` (these
answers carry a visitor's name, email, booking and hold ids) and `Referrer-Policy: no-referrer`.

Also here: who the client is (`client_address`, for the abuse limits) and where the page lives
(`page_root`, from `PUBLIC_BASE_URL`, never from the request path).
"""

from __future__ import annotations

import ipaddress
import logging
import re

import azure.functions as func

from bootstrap.composition import services

log = logging.getLogger(__name__)

#: First route segments of the key-less pages whose every response `protect` completes.
PAGE_PREFIXES = ("book", "manage")
#: The Functions route prefix (host.json `extensions.http.routePrefix`), for URLs without PUBLIC_BASE_URL.
ROUTE_PREFIX = "/api"
_FRAME_SOURCE = re.compile(r"^('self'|'none'|https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?)$")


def is_page_route(route: str) -> bool:
    return route.split("/", 1)[0] in PAGE_PREFIXES


def frame_ancestors(configured: str) -> str:
    """The CSP `frame-ancestors` sources of `configured`, dropping anything that is not a plain source."""
    sources = []
    for token in configured.split():
        if _FRAME_SOURCE.match(token):
            sources.append(token)
        else:
            log.warning("BOOKING_PAGE_FRAME_ANCESTORS: ignoring %r (not a scheme://host source)", token)
    if "'none'" in sources and len(sources) > 1:
        sources.remove("'none'")
    return " ".join(sources) or "'self'"


def security_headers(*, framed: bool = False) -> dict[str, str]:
    """Headers of every page response; `framed` for the page itself, which other origins may embed."""
    ancestors = frame_ancestors(services().settings.booking_page_frame_ancestors)
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; "
            f"frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    if not framed:  # scripts, styles and JSON are for this origin's page only
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return headers


def protect(response: func.HttpResponse) -> None:
    """Complete `response` with the page headers; `no-store` and `nosniff` always win."""
    try:  # not Cross-Origin-Resource-Policy: the page itself is embedded by other origins
        defaults = security_headers(framed=True)
    except Exception:  # settings unreadable: still never cache or sniff, and frame nothing
        defaults = {
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        }
    for name, value in defaults.items():
        if response.headers.get(name) is None:  # the handler's own (the page's framed CSP) stays
            response.headers[name] = value
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"


def page_root() -> str:
    """`{PUBLIC_BASE_URL}/book` (absolute), or `/api/book` on this origin when it is not configured."""
    base = services().settings.public_base_url
    return f"{base}/book" if base else f"{ROUTE_PREFIX}/book"


def _normalise(entry: str) -> str | None:
    """An address from an X-Forwarded-For entry (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:5678`, `::1`);
    IPv6 clients are keyed by their /64, which one subscriber line usually owns whole."""
    text = entry.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_address(req: func.HttpRequest, hops: int = 1) -> str:
    """Who the abuse limits count: the `hops`-th X-Forwarded-For entry from the right.

    The platform's front end (App Service; locally devstack's host, which appends the socket peer)
    appends the address it saw to X-Forwarded-For, so the rightmost entry is the only one a client cannot
    choose; entries to its left are whatever the client sent. Behind Front Door (which appends the
    client it saw before App Service appends Front Door's), set FORWARDED_FOR_HOPS=2.
    Without the header (a host that adds none) every caller is one client, "unknown".
    """
    entries = [e for e in (req.headers.get("X-Forwarded-For") or "").split(",") if e.strip()]
    if not entries:
        return "unknown"
    entry = entries[-hops] if len(entries) >= hops else entries[0]
    return _normalise(entry) or "unparsed:" + entry.strip()[:64]
