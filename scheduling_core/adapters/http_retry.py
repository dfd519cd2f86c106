"""Bounded, jittered retries of one HTTP request: the loop the Graph and Dataverse clients share.

Invariants:
- Only throttling and unavailability are retried: the statuses in `RETRYABLE_STATUSES`
  (429, 502, 503, 504) and transport failures (timeouts, network and protocol errors).
- At most `max_retries` retries (`max_retries + 1` attempts), and never past the deadline:
  `max_total_seconds` from the start of the call, or the one the caller passes (several
  calls may share one). An attempt's timeout is the smaller of `timeout_seconds` and the
  time left.
- The wait before a retry is the server's `Retry-After` when it sends a readable one
  (delta-seconds or an HTTP date; `hh:mm:ss` too with `retry_after_timespans`), else
  exponential backoff with jitter: half of min(8 s, 0.5 s * 2^(attempt-1)) fixed, half
  random. A wait that would end at or past the deadline is not taken.
- Every attempt asks the `TokenProvider` for a token (so a refreshed one is picked up)
  and sends it as `Authorization: Bearer ...`, over any header the caller gave. With
  `refresh_on_401`, the first 401 of a call makes a provider that has `invalidate()`
  forget its token, and the request is sent again without counting as an attempt.
- A request sent with `repeatable=False` (not idempotent: e.g. Graph `sendMail`) is retried only after
  an answer that says it was not carried out (429, 503); a transport failure or a gateway's 502/504
  leaves its outcome unknown and raises `OutcomeUnknown` at once, never sending it a second time.
- Giving up raises `UpstreamUnavailable(service, ...)`, with a whole-second
  `retry_after_seconds` hint when the wait is known; `Throttled` (a subclass) when the server's
  own `Retry-After` is what would run past the deadline. Any other answer (below 400, or an
  error status that is not retried) is returned as it is: mapping a refusal to an error
  is the client's business.
- Waiting, the clock and the jitter are injectable (`sleep`, `monotonic`, `random`), so
  tests run without real time passing. Thread-safe: one instance serves a whole client.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from random import Random
from typing import Any

import httpx

from scheduling_core.adapters.credentials import TokenProvider
from scheduling_core.errors import OutcomeUnknown, Throttled, UpstreamUnavailable

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
#: Gateway answers: the service behind may have carried the request out before the gateway gave up.
AMBIGUOUS_STATUSES = frozenset({502, 504})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


class RetryingSender:
    """Sends requests on one `httpx.Client` with the retry rules of the module docstring."""

    def __init__(
        self,
        http: httpx.Client,
        tokens: TokenProvider,
        *,
        service: str,
        display_name: str,
        error_code: Callable[[httpx.Response], str | None],
        timeout_seconds: float,
        max_retries: int,
        max_total_seconds: float,
        random: Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_on_401: bool = False,
        retry_after_timespans: bool = False,
    ) -> None:
        """`service` names the upstream in `UpstreamUnavailable`, `display_name` in its messages;
        `error_code` reads the upstream's error code from an answer, for those messages."""
        self._http = http
        self._tokens = tokens
        self._service = service
        self._name = display_name
        self._error_code = error_code
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._max_total = max_total_seconds
        self._random = random or Random()  # noqa: S311 - jitter, not cryptography
        self._random_lock = threading.Lock()
        self._sleep = sleep
        self._monotonic = monotonic
        self._refresh_on_401 = refresh_on_401
        self._retry_after_timespans = retry_after_timespans

    def deadline(self) -> float:
        """A deadline `max_total_seconds` from now, for calls that share one budget."""
        return self._monotonic() + self._max_total

    def send(
        self,
        method: str,
        url: str,
        *,
        label: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
        repeatable: bool = True,
    ) -> httpx.Response:
        """Send with retries; the first answer that is not retried (see the module docstring).

        `label` names the request in error messages (e.g. `GET /users/x/events`).
        """
        if deadline is None:
            deadline = self.deadline()
        request_headers = dict(headers or {})
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise UpstreamUnavailable(
                    self._service, f"{self._name} did not answer {label} within {self._max_total:g} s"
                )
            request_headers["Authorization"] = f"Bearer {self._tokens.token()}"
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=request_headers,
                    timeout=min(self._timeout, remaining),
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = f"{type(exc).__name__} on {label}"
                if not repeatable:
                    raise OutcomeUnknown(self._service, f"{self._name}: {failure}; it may have run") from exc
            else:
                status = response.status_code
                if status < 400:
                    return response
                invalidate = getattr(self._tokens, "invalidate", None)
                if status == 401 and self._refresh_on_401 and not refreshed and callable(invalidate):
                    invalidate()  # e.g. AzureCredentialToken: the next token() asks the credential again
                    refreshed = True
                    attempt -= 1
                    continue
                if status not in RETRYABLE_STATUSES:
                    return response
                if not repeatable and status in AMBIGUOUS_STATUSES:
                    raise OutcomeUnknown(
                        self._service, f"{self._name}: HTTP {status} on {label}; it may have run"
                    )
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), timespans=self._retry_after_timespans
                )
                code = self._error_code(response)
                failure = f"HTTP {status}{f' {code}' if code else ''} on {label}"
            if attempt > self._max_retries:
                raise UpstreamUnavailable(
                    self._service,
                    f"{self._name} still unavailable after {attempt} attempts ({failure})",
                    retry_after_seconds=whole_seconds(retry_after),
                )
            delay = retry_after if retry_after is not None else self.backoff(attempt)
            if self._monotonic() + delay >= deadline:
                # Asked (Retry-After) to wait past the budget: throttling the caller may wait out later.
                error = Throttled if retry_after is not None else UpstreamUnavailable
                raise error(
                    self._service,
                    f"{self._name} asked to wait {delay:.1f} s, past our {self._max_total:g} s budget "
                    f"({failure})",
                    retry_after_seconds=whole_seconds(delay),
                )
            self._sleep(delay)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the step fixed, half random."""
        step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
        with self._random_lock:
            return step / 2 + self._random.uniform(0, step / 2)


def parse_retry_after(header: str | None, *, timespans: bool = False) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date (and `hh:mm:ss` with `timespans`).

    None when absent or unreadable; a date in the past is 0.
    """
    if not header:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    if timespans:
        pieces = header.split(":")
        if len(pieces) == 3 and all(piece.replace(".", "", 1).isdigit() for piece in pieces):
            hours, minutes, seconds = (float(piece) for piece in pieces)
            return hours * 3600 + minutes * 60 + seconds
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def whole_seconds(seconds: float | None) -> int | None:
    """A wait as whole seconds for a `Retry-After` hint: rounded up, at least 1."""
    return None if seconds is None else max(1, math.ceil(seconds))
