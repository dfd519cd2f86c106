"""Shared-key checks for the local host and any host without platform function keys.

In Azure the Functions runtime checks function keys before our code runs; `API_KEY` is then unset and
that check is off, while `ADMIN_API_KEY` (a Key Vault reference) still guards `/admin/*`. Locally,
`API_KEY` guards every keyed endpoint and `ADMIN_API_KEY` guards `/admin/*`. Comparison is constant-time.

Fail closed (issue 13): only a setting that is ABSENT turns its check off. A setting that is present but
empty or blank, or still an unresolved `@Microsoft.KeyVault(...)` reference, is a misconfiguration, and
every request needing that key is refused (403) instead of being let in.
"""

from __future__ import annotations

import hmac
import logging
from enum import StrEnum

import azure.functions as func

from bootstrap.settings import KEY_OFF as OFF
from bootstrap.settings import KeySetting
from scheduling_core.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)


class Access(StrEnum):
    PUBLIC = "public"  # health, openapi, booking page, callbacks (validated otherwise)
    API = "api"
    ADMIN = "admin"


def presented_key(req: func.HttpRequest) -> str | None:
    key: str | None = req.headers.get("x-functions-key") or req.params.get("code")
    return key


def check_access(req: func.HttpRequest, access: Access, api_key: KeySetting, admin_key: KeySetting) -> None:
    """The admin key opens keyed endpoints too (as the host key does in Azure): a manager's override on
    `POST /bookings` is made with it (api.md, Team operations)."""
    expected = {Access.PUBLIC: OFF, Access.API: api_key, Access.ADMIN: admin_key}[access]
    if expected.off:
        return
    given = presented_key(req)
    if expected.broken or expected.value is None:
        log.error("the %s key setting is empty or unresolved: refusing every %s request", access, access)
        raise Forbidden("This endpoint is closed: no key is configured.")
    if given is None:
        raise Unauthorized("A key is required (x-functions-key header).")
    if hmac.compare_digest(given.encode(), expected.value.encode()):
        return
    admin = admin_key.value
    if access is Access.API and admin is not None and hmac.compare_digest(given.encode(), admin.encode()):
        return
    raise Forbidden("The key is not valid for this endpoint.")


def require_admin(req: func.HttpRequest, admin_key: KeySetting, what: str) -> None:
    """403 `forbidden` unless the admin key was presented (an absent admin key setting turns the check
    off, as for `/admin/*`; a broken one refuses)."""
    if admin_key.off:
        return
    given = presented_key(req) or ""
    if admin_key.value is None or not hmac.compare_digest(given.encode(), admin_key.value.encode()):
        raise Forbidden(f"{what} needs the admin key.")
