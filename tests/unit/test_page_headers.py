"""http_api.page_headers: which routes get the page headers (by path prefix, /manage/* included), and who
the booking page's abuse limits count (the X-Forwarded-For entry the platform's front end appended,
never one the client wrote itself)."""

from __future__ import annotations

import azure.functions as func
import pytest

from http_api.page_headers import client_address, is_page_route, protect


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


def test_the_page_headers_apply_by_path_prefix_book_and_manage() -> None:
    assert is_page_route("book/{eventTypeSlug}/holds") and is_page_route("manage/{token}/cancel")
    assert not is_page_route("bookings/{bookingId}") and not is_page_route("booking")


def test_protect_forces_no_store_and_nosniff_and_keeps_a_handler_policy() -> None:
    response = func.HttpResponse(
        "x",
        headers={"Cache-Control": "public, max-age=60", "Content-Security-Policy": "default-src 'none'"},
    )
    protect(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    assert response.headers["Referrer-Policy"] == "no-referrer"
