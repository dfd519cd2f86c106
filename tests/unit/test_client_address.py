"""Who the booking page's abuse limits count (http_api.page_headers.client_address): the X-Forwarded-For
entry the platform's front end appended, never one the client wrote itself."""

from __future__ import annotations

import azure.functions as func
import pytest

from http_api.page_headers import client_address


def _request(forwarded: str | None) -> func.HttpRequest:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return func.HttpRequest(method="GET", url="http://localhost/api/book/x", headers=headers, body=b"")


@pytest.mark.parametrize(
    ("forwarded", "hops", "client"),
    [
        ("198.51.100.7:51234", 1, "198.51.100.7"),  # App Service: ip:port
        ("10.0.0.1, 6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),  # entries the client sent are ignored
        ("6.6.6.6, 203.0.113.9, 147.243.0.1", 2, "203.0.113.9"),  # behind Front Door: one hop further
        ("203.0.113.9", 2, "203.0.113.9"),  # fewer entries than hops: the farthest one
        ("[2001:db8:1:2:3:4:5:6]:443", 1, "2001:db8:1:2::/64"),  # IPv6 counted by its /64
        ("2001:db8:1:2::9", 1, "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", 1, "198.51.100.7"),
        ("not-an-address", 1, "unparsed:not-an-address"),
        (None, 1, "unknown"),
        ("", 1, "unknown"),
    ],
)
def test_the_client_is_the_entry_the_trusted_front_end_appended(
    forwarded: str | None, hops: int, client: str
) -> None:
    assert client_address(_request(forwarded), hops) == client
