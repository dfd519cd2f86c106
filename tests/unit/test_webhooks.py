"""Outgoing webhooks, the pure part: signatures, event filters, URL rules and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling_core.domain.webhooks import (
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER,
    RETRY_DELAYS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryClaim,
    WebhookSubscription,
    delivery_headers,
    event_filter_problem,
    matches,
    next_attempt_at,
    secret_problem,
    sign,
    url_problem,
    verify,
)

SECRET = "s3cret-0123456789abcdef"
BODY = b'{"specversion":"1.0","id":"bk_1:1","type":"booking.created","data":{"bookingId":"bk_1"}}'
AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _documented_signature(secret: str, timestamp: str, body: bytes) -> str:
    """docs/webhooks.md: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw_body}")>, written out here."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def test_signature_is_hmac_sha256_of_timestamp_dot_raw_body() -> None:
    timestamp = int(AT.timestamp())
    assert sign(SECRET, timestamp, BODY) == _documented_signature(SECRET, str(timestamp), BODY)


def test_delivery_headers_carry_a_signature_a_receiver_can_recompute() -> None:
    subscription = WebhookSubscription(
        id="crm",
        url="https://example.com/hook",
        events=("booking.*",),
        secret=SECRET,
        created_at=AT,
        updated_at=AT,
    )
    claim = DeliveryClaim(
        subscription_id="crm", event_id="bk_1:1", event_type="booking.created", attempt=2, etag=""
    )
    headers = delivery_headers(subscription, claim, at=AT, body=BODY)
    assert headers[TIMESTAMP_HEADER] == str(int(AT.timestamp()))
    assert headers[SIGNATURE_HEADER] == _documented_signature(SECRET, headers[TIMESTAMP_HEADER], BODY)
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert (headers["Webhook-Id"], headers["Webhook-Attempt"]) == ("bk_1:1", "2")
    assert SECRET not in "".join(headers.values())


def test_a_tampered_body_or_a_wrong_secret_fails_verification() -> None:
    timestamp = str(int(AT.timestamp()))
    signature = _documented_signature(SECRET, timestamp, BODY)
    assert verify(SECRET, BODY, signature, timestamp, AT)
    assert not verify(SECRET, BODY.replace(b"bk_1", b"bk_2"), signature, timestamp, AT)
    assert not verify(SECRET + "x", BODY, signature, timestamp, AT)
    assert not verify(SECRET, BODY, signature, str(int(timestamp) + 1), AT)


def test_a_signature_older_than_five_minutes_is_a_replay() -> None:
    timestamp = str(int(AT.timestamp()))
    signature = _documented_signature(SECRET, timestamp, BODY)
    assert verify(SECRET, BODY, signature, timestamp, AT + timedelta(minutes=5))
    assert not verify(SECRET, BODY, signature, timestamp, AT + timedelta(minutes=5, seconds=1))
    assert not verify(SECRET, BODY, signature, "not-a-number", AT)


def test_filters_match_their_type_or_every_booking_type_with_the_wildcard() -> None:
    assert matches(["booking.*"], "booking.cancelled")
    assert matches(["booking.created", "booking.cancelled"], "booking.cancelled")
    assert not matches(["booking.created"], "booking.rescheduled")
    assert not matches(["booking.*"], "hold.created")


@pytest.mark.parametrize("value", ["booking.created", "booking.reassigned", "booking.*"])
def test_known_event_filters_are_accepted(value: str) -> None:
    assert event_filter_problem(value) is None


@pytest.mark.parametrize("value", ["booking.moved", "*", "booking.", "BOOKING.CREATED", ""])
def test_unknown_event_filters_are_refused(value: str) -> None:
    assert event_filter_problem(value) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.contoso.com/scheduling",
        "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x",
        "http://localhost:8080/hook",
        "http://127.0.0.1:5000/",
        "http://[::1]:9000/x",
    ],
)
def test_https_urls_and_local_http_urls_are_accepted_in_local_development(url: str) -> None:
    assert url_problem(url, local_development=True) is None
    assert (url_problem(url) is None) == url.startswith("https://")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.contoso.com/x",
        "http://127.0.0.2/x",
        "ftp://example.com/x",
        "/relative/path",
        "https://user:pw@example.com/x",
        "https://example.com/x#frag",
        "https://example.com:99999/x",
        "https://" + "a" * 2100 + ".com",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    assert url_problem(url) is not None


def test_secrets_must_be_at_least_sixteen_characters() -> None:
    assert secret_problem("x" * 15) is not None
    assert secret_problem("x" * 16) is None
    assert secret_problem("x" * 257) is not None


def test_schedule_waits_longer_after_each_failure_then_gives_up() -> None:
    waits = [next_attempt_at(n, AT) for n in range(1, MAX_ATTEMPTS)]
    assert [w - AT for w in waits if w] == list(RETRY_DELAYS)
    assert next_attempt_at(MAX_ATTEMPTS, AT) is None
    assert sorted(RETRY_DELAYS) == list(RETRY_DELAYS)


def test_a_longer_retry_after_postpones_the_next_attempt_within_a_cap() -> None:
    assert next_attempt_at(1, AT, retry_after_seconds=120) == AT + timedelta(seconds=120)
    assert next_attempt_at(1, AT, retry_after_seconds=5) == AT + RETRY_DELAYS[0]
    assert next_attempt_at(1, AT, retry_after_seconds=10**9) == AT + MAX_RETRY_AFTER


@given(st.integers(min_value=1, max_value=MAX_ATTEMPTS - 1), st.one_of(st.none(), st.floats(0, 10**7)))
def test_every_retry_is_scheduled_after_the_failure(attempt: int, retry_after: float | None) -> None:
    due = next_attempt_at(attempt, AT, retry_after)
    assert due is not None
    assert AT + RETRY_DELAYS[attempt - 1] <= due <= AT + max(RETRY_DELAYS[attempt - 1], MAX_RETRY_AFTER)
