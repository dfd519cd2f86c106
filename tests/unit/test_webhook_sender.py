"""The webhook sender checks every resolved address and connects to the checked one (issue 13).

The resolver and the transport are the sender adapter's own seams: nothing here leaves the process.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from scheduling_core.adapters.webhook_sender import HttpWebhookSender

HEADERS = {"Content-Type": "application/cloudevents+json"}


class Resolver:
    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise OSError("no such host")
        return self.answers[host]


class Transport(httpx.BaseTransport):
    def __init__(self, status: int = 204, headers: dict[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._status = status
        self._headers = headers or {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self._status, headers=self._headers)


def _sender(answers: dict[str, Sequence[str]], transport: Transport, **kw: bool) -> HttpWebhookSender:
    return HttpWebhookSender(transport=transport, resolver=Resolver(answers), **kw)


def test_the_request_goes_to_the_checked_address_with_the_original_host_and_server_name() -> None:
    transport = Transport()
    sender = _sender({"hooks.contoso.com": ["93.184.216.34", "2606:2800:220:1::1"]}, transport)
    result = sender.post("https://hooks.contoso.com:8443/in?x=1", b"{}", HEADERS)
    assert (result.status_code, result.error) == (204, None)
    (request,) = transport.requests
    assert str(request.url) == "https://93.184.216.34:8443/in?x=1"
    assert request.headers["Host"] == "hooks.contoso.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.contoso.com"


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["93.184.216.34", "127.0.0.1"],  # every address is checked, not only the first
        ["::1"],
        ["fd00::5"],
        ["::ffff:10.0.0.5"],
    ],
)
def test_a_name_that_resolves_inside_is_refused_without_a_connection(addresses: list[str]) -> None:
    transport = Transport()
    result = _sender({"rebind.contoso.com": addresses}, transport).post(
        "https://rebind.contoso.com/x", b"{}", HEADERS
    )
    assert result.status_code is None
    assert result.error == "refused: the host resolves to a non-public address"
    assert transport.requests == []


@pytest.mark.parametrize("url", ["https://127.1/x", "https://169.254.169.254/", "http://hooks.contoso.com/"])
def test_a_url_registered_under_older_rules_is_refused_at_delivery(url: str) -> None:
    transport = Transport()
    resolver = Resolver({"hooks.contoso.com": ["93.184.216.34"]})
    result = HttpWebhookSender(transport=transport, resolver=resolver).post(url, b"{}", HEADERS)
    assert result.error is not None and result.error.startswith("refused: the URL")
    assert transport.requests == [] and resolver.asked == []


def test_redirects_are_not_followed() -> None:
    transport = Transport(302, {"Location": "http://169.254.169.254/latest/meta-data/"})
    result = _sender({"hooks.contoso.com": ["93.184.216.34"]}, transport).post(
        "https://hooks.contoso.com/x", b"{}", HEADERS
    )
    assert (result.status_code, result.error) == (302, "HTTP 302")
    assert len(transport.requests) == 1


def test_a_host_that_does_not_resolve_is_a_failed_attempt() -> None:
    transport = Transport()
    result = _sender({}, transport).post("https://nowhere.contoso.com/x", b"{}", HEADERS)
    assert result.error == "refused: the host did not resolve (OSError)"
    assert transport.requests == []


def test_loopback_receivers_are_reached_over_http_only_in_local_development() -> None:
    transport = Transport()
    local = _sender({"localhost": ["127.0.0.1"]}, transport, local_development=True)
    assert local.post("http://localhost:7000/h", b"{}", HEADERS).status_code == 204
    assert str(transport.requests[0].url) == "http://127.0.0.1:7000/h"
    assert "sni_hostname" not in transport.requests[0].extensions
    production = _sender({"localhost": ["127.0.0.1"]}, transport)
    assert production.post("http://localhost:7000/h", b"{}", HEADERS).error is not None
    assert len(transport.requests) == 1
