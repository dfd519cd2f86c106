"""Bearer tokens for the upstream APIs (Microsoft Graph now, Dataverse later).

Adapters ask a `TokenProvider` for a token on every attempt, never keep one
themselves, so a refreshed token is picked up by the next retry. Invariant of
`AzureCredentialToken`: it never hands out a token that expires within its
refresh margin; it asks the credential again instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from azure.core.credentials import TokenCredential

#: Refresh a cached token this long before it expires.
DEFAULT_REFRESH_MARGIN_SECONDS = 300.0


class TokenProvider(Protocol):
    def token(self) -> str:
        """A bearer token valid for at least the next few minutes."""
        ...


class StaticToken:
    """A fixed token: what the local simulators accept (any non-empty bearer)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a static token must not be empty")
        self._token = token

    def token(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class AzureCredentialToken:
    """Tokens for one scope from any azure-identity `TokenCredential`, cached until near expiry.

    Thread-safe: concurrent callers share one cached token and at most one of
    them asks the credential at a time.
    """

    def __init__(
        self,
        credential: TokenCredential,
        scope: str,
        *,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._margin = refresh_margin_seconds
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[str, float] | None = None  # (token, expires_on epoch seconds)

    @property
    def scope(self) -> str:
        return self._scope

    def token(self) -> str:
        with self._lock:
            cached = self._cached
            if cached is not None and cached[1] - self._margin > self._now():
                return cached[0]
            access = self._credential.get_token(self._scope)
            self._cached = (access.token, float(access.expires_on))
            return access.token

    def invalidate(self) -> None:
        """Forget the cached token (e.g. after the API answered 401 to it)."""
        with self._lock:
            self._cached = None

    def __repr__(self) -> str:
        return f"AzureCredentialToken(credential={type(self._credential).__name__}, scope={self._scope!r})"


def token_provider_from_settings(
    *,
    static_token: str | None,
    tenant_id: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str,
) -> TokenProvider:
    """The provider the settings call for, most explicit first.

    1. `static_token` set: that token (local simulators).
    2. tenant, client id and secret all set: client-credentials flow (`ClientSecretCredential`).
    3. otherwise: `DefaultAzureCredential`, which uses the managed identity in Azure
       (the user-assigned one named by `client_id`, if given) and developer logins locally.
    """
    if static_token:
        return StaticToken(static_token)
    # Imported here so that merely importing this module stays cheap.
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if tenant_id and client_id and client_secret:
        return AzureCredentialToken(ClientSecretCredential(tenant_id, client_id, client_secret), scope)
    if client_id:
        return AzureCredentialToken(DefaultAzureCredential(managed_identity_client_id=client_id), scope)
    return AzureCredentialToken(DefaultAzureCredential(), scope)
