"""Shared-key checks for the local host and any host without platform function keys.

In Azure the Functions runtime checks function keys before our code runs; these
settings are then unset and the check is off. Locally, `API_KEY` guards every
keyed endpoint and `ADMIN_API_KEY` guards `/admin/*`. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
from enum import StrEnum

import azure.functions as func

from http_api.problems import HttpProblem


class Access(StrEnum):
    PUBLIC = "public"  # health, openapi, booking page, callbacks (validated otherwise)
    API = "api"
    ADMIN = "admin"


def presented_key(req: func.HttpRequest) -> str | None:
    return req.headers.get("x-functions-key") or req.params.get("code")


def check_access(req: func.HttpRequest, access: Access, api_key: str | None, admin_key: str | None) -> None:
    """The admin key opens keyed endpoints too (as the host key does in Azure): a manager's override on
    `POST /bookings` is made with it (api.md, Team operations)."""
    expected = {Access.PUBLIC: None, Access.API: api_key, Access.ADMIN: admin_key}[access]
    if not expected:
        return
    given = presented_key(req)
    if given is None:
        raise HttpProblem(401, "unauthorized", "Unauthorized", "A key is required (x-functions-key header).")
    if hmac.compare_digest(given.encode(), expected.encode()):
        return
    if access is Access.API and admin_key and hmac.compare_digest(given.encode(), admin_key.encode()):
        return
    raise HttpProblem(403, "forbidden", "Forbidden", "The key is not valid for this endpoint.")


def require_admin(req: func.HttpRequest, admin_key: str | None, what: str) -> None:
    """403 `forbidden` unless the admin key was presented (an unset admin key disables the check)."""
    if not admin_key:
        return
    given = presented_key(req) or ""
    if not hmac.compare_digest(given.encode(), admin_key.encode()):
        raise HttpProblem(403, "forbidden", "Forbidden", f"{what} needs the admin key.")
