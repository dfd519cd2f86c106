"""One POST of a signed CloudEvent to a subscriber's URL, over httpx.

Invariants:
- One call is one attempt: no retry loop here (the delivery schedule retries, and logs each attempt).
  Redirects are not followed (a 3xx is a failed attempt), the response body is never read, and the
  attempt is bounded by `timeout_seconds` (connect, read and write alike).
- Nothing raises for the receiver's sake: an answer, a timeout or a network failure all come back as a
  `SendResult`; the error text names the exception type and status only, never headers or bodies.
- `Retry-After` on the answer is read with the same parser as the Graph and Dataverse clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from scheduling_core.adapters.http_retry import parse_retry_after
from scheduling_core.webhooks import SendResult


class HttpWebhookSender:
    def __init__(
        self,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = httpx.Client(timeout=timeout_seconds, follow_redirects=False, transport=transport)
        self._monotonic = monotonic

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        started = self._monotonic()
        try:
            with self._http.stream("POST", url, content=body, headers=dict(headers)) as response:
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except httpx.HTTPError as exc:
            return SendResult(error=f"{type(exc).__name__}: {exc}"[:300], duration_ms=self._elapsed(started))
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return SendResult(
            status_code=status,
            error=error,
            retry_after_seconds=retry_after if error else None,
            duration_ms=self._elapsed(started),
        )

    def close(self) -> None:
        self._http.close()

    def _elapsed(self, started: float) -> int:
        return int((self._monotonic() - started) * 1000)
