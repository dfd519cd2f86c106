"""Webhook secrets encrypted at rest (issue 13: not stored in clear in Table storage).

Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`) with keys from the app setting `WEBHOOK_SECRET_KEY`
(in Azure a Key Vault reference), so whoever reads the table does not read the secrets.

Invariants:
- Several comma-separated keys may be configured, newest first: the first encrypts, any decrypts, so a
  key is rotated by prepending the new one and dropping the old one once every row was rewritten.
- Stored values carry a version prefix (`fernet1:`); a row written before this (a clear `secret`
  property) stays readable and is rewritten encrypted when next read (webhook_table.py).
- Without a key, local development uses a well-known development key (like Azurite's well-known
  account key: the local rows are test data); anywhere else, storing or reading a secret answers 503
  instead of falling back to clear text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from scheduling_core.errors import UpstreamUnavailable

log = logging.getLogger(__name__)

PREFIX: Final = "fernet1:"
#: Local development only (Settings.local_development); never valid in Azure, where the setting is set.
DEVELOPMENT_KEY: Final = "ZGV2ZWxvcG1lbnQtb25seS13ZWJob29rLWtleS0wMDA="
_SERVICE: Final = "webhook secret key"


class SecretBox:
    def __init__(self, keys: Sequence[str], *, local_development: bool = False) -> None:
        chosen = list(keys) or ([DEVELOPMENT_KEY] if local_development else [])
        self._fernet: MultiFernet | None = None
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in chosen]) if chosen else None
        except ValueError:
            log.error("WEBHOOK_SECRET_KEY is not a valid Fernet key; webhook secrets cannot be used")

    def _box(self) -> MultiFernet:
        if self._fernet is None:
            raise UpstreamUnavailable(_SERVICE, "WEBHOOK_SECRET_KEY is not configured.")
        return self._fernet

    def seal(self, secret: str) -> str:
        return PREFIX + self._box().encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise UpstreamUnavailable(_SERVICE, "A stored webhook secret has an unknown format.")
        try:
            return self._box().decrypt(sealed[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise UpstreamUnavailable(_SERVICE, "No configured key opens a stored webhook secret.") from None

    @property
    def available(self) -> bool:
        return self._fernet is not None
