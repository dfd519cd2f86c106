"""Internationalised e-mail addresses are redacted like any other (issue 13)."""

from __future__ import annotations

import pytest

from scheduling_core.runtime.redaction import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("invitee zoë@bücher-müller.de booked", "invitee [email] booked"),
        ("user@例え.テスト", "[email]"),
        ("jo@xn--bcher-kva.example", "[email]"),
        (
            "$filter=emailaddress1 eq 'zo%C3%AB%40b%C3%BCcher-m%C3%BCller.example'",
            "$filter=emailaddress1 eq [email]'",
        ),
        ("jo@fabrikam.com", "[email]"),
    ],
)
def test_addresses_with_non_ascii_domains_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_ids_times_and_versions_are_left_alone() -> None:
    text = "bk_0123456789abcdef01234567 at 2026-12-07T09:00:00-06:00 v1.2.3 host 5f1c-aa"
    assert redact(text) == text
