"""One POST of a signed CloudEvent to a subscriber's URL, over httpx, to a checked public address.

Invariants:
- One call is one attempt: no retry loop here (the delivery schedule retries, and logs each attempt).
  Redirects are not followed (a 3xx is a failed attempt), the response body is never read, and the
  attempt is bounded by `timeout_seconds` (connect, read and write alike).
- Before connecting, the URL is checked again (`url_problem`: rules may be stricter than when it was
  registered), its host is resolved (`resolver`, the seam tests replace: no test traffic leaves
  loopback) and EVERY address is checked (`address_problem`); then the connection goes to the checked
  address itself, with the original `Host` header and TLS server name (SNI, certificate check), so a
  second DNS answer (rebinding) cannot send the request inside.
- Nothing raises for the receiver's sake: an answer, a timeout, a refused target or a network failure all
  come back as a `SendResult`; the error text names the exception type and status only, never headers or
  bodies.
- `Retry-After` on the answer is read with the same parser as the Graph and Dataverse clients.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from scheduling_core.adapters.http_retry import parse_retry_after
from scheduling_core.domain.webhooks import SendResult, address_problem, url_problem

Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> Sequence[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpWebhookSender:
    def __init__(
        self,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver = system_resolver,
        local_development: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = httpx.Client(timeout=timeout_seconds, follow_redirects=False, transport=transport)
        self._resolve = resolver
        self._local = local_development
        self._monotonic = monotonic

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        started = self._monotonic()
        target = self._checked_target(url)
        if isinstance(target, SendResult):
            return target
        pinned_url, host_header, server_name = target
        extensions = {"sni_hostname": server_name} if server_name else {}
        try:
            request = self._http.build_request(
                "POST",
                pinned_url,
                content=body,
                headers={**headers, "Host": host_header},
                extensions=extensions,
            )
            response = self._http.send(request, stream=True)
            try:
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            finally:
                response.close()
        except httpx.HTTPError as exc:
            return SendResult(error=f"{type(exc).__name__}: {exc}"[:300], duration_ms=self._elapsed(started))
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return SendResult(
            status_code=status,
            error=error,
            retry_after_seconds=retry_after if error else None,
            duration_ms=self._elapsed(started),
        )

    def _checked_target(self, url: str) -> tuple[str, str, str | None] | SendResult:
        """(URL with the checked address, Host header, TLS server name), or why nothing is sent."""
        problem = url_problem(url, local_development=self._local)
        if problem is not None:
            return SendResult(error=f"refused: the URL {problem}")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self._resolve(host, port)
        except OSError as exc:
            return SendResult(error=f"refused: the host did not resolve ({type(exc).__name__})")
        if not addresses:
            return SendResult(error="refused: the host did not resolve")
        for address in addresses:
            if address_problem(address, local_development=self._local) is not None:
                return SendResult(error="refused: the host resolves to a non-public address")
        address = addresses[0]
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path, parts.query, ""))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        return pinned, host_header, host if parts.scheme == "https" else None

    def close(self) -> None:
        self._http.close()

    def _elapsed(self, started: float) -> int:
        return int((self._monotonic() - started) * 1000)
