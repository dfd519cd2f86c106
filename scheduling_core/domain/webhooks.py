"""Outgoing webhooks, the pure part: subscriptions, event filters, signatures and the retry schedule.

Invariants:
- A subscription's URL is `https://...` to a public host; no credentials in the URL, no fragment. Its
  host is refused when it names a non-public address (loopback, private, link-local with the cloud
  metadata address 169.254.169.254, carrier-grade NAT, unique-local IPv6, IPv4-mapped/6to4/NAT64/Teredo
  forms of those, multicast, reserved), a local name (`localhost`, `*.local`, `*.internal`), or any
  numeric form other than a dotted quad (`2130706433`, `0x7f.1`, `017700000001`, `127.1`): resolvers
  accept those, so they are refused rather than interpreted. The delivery adapter checks every resolved
  address again and connects to the checked one (DNS rebinding). Only in local development
  (`AZURE_FUNCTIONS_ENVIRONMENT=Development`) may a URL be plain `http://` to a loopback host.
- An event filter is a booking event type (`booking.created`, ...) or `booking.*`; an event matches a
  subscription when any of its filters names the event's type or is the wildcard.
- The signature is `sha256=` + hex HMAC-SHA256, keyed with the subscription's secret (UTF-8), over the
  bytes `f"{timestamp}."` followed by the raw body exactly as sent; `timestamp` is the Unix time in
  whole seconds of the attempt, sent as `X-Signature-Timestamp`. Every attempt is signed afresh, so a
  retry hours later still passes a receiver's 5-minute replay window.
- The retry schedule is fixed: after failed attempt n (1-based) the next waits `RETRY_DELAYS[n-1]`, or
  the receiver's `Retry-After` when that is longer (capped at `MAX_RETRY_AFTER`); after
  `MAX_ATTEMPTS` failed attempts the delivery gives up. Success is any 2xx answer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from scheduling_core.domain.events import BOOKING_EVENT_TYPES

WILDCARD: Final = "booking.*"
CONTENT_TYPE: Final = "application/cloudevents+json"
SIGNATURE_HEADER: Final = "X-Signature-256"
TIMESTAMP_HEADER: Final = "X-Signature-Timestamp"
EVENT_ID_HEADER: Final = "Webhook-Id"  # the CloudEvent id: receivers de-duplicate on it
EVENT_TYPE_HEADER: Final = "Webhook-Event"
SUBSCRIPTION_HEADER: Final = "Webhook-Subscription"
ATTEMPT_HEADER: Final = "Webhook-Attempt"
REPLAY_WINDOW: Final = timedelta(minutes=5)

MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 256
MAX_URL_LENGTH: Final = 2048
LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})

RETRY_DELAYS: Final = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
MAX_ATTEMPTS: Final = len(RETRY_DELAYS) + 1
MAX_RETRY_AFTER: Final = timedelta(hours=6)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSubscription:
    id: str
    url: str
    events: tuple[str, ...]
    secret: str = field(repr=False)  # stored, used to sign; never returned, never logged
    created_at: datetime
    updated_at: datetime


class Outcome(StrEnum):
    DELIVERED = "delivered"  # a 2xx answer: done
    RETRYING = "retrying"  # failed; the next attempt is scheduled
    GAVE_UP = "gave-up"  # failed for the last time (or the subscription or payload is gone)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt:
    """One POST to one subscriber, as the delivery log keeps it (no body, no secret)."""

    subscription_id: str
    event_id: str
    event_type: str
    attempt: int
    outcome: Outcome
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryClaim:
    """The right to make attempt `attempt` of one delivery (held until finished, or its lease ends)."""

    subscription_id: str
    event_id: str
    event_type: str
    attempt: int
    etag: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What one POST got: a status code, or the transport error instead."""

    status_code: int | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    duration_ms: int = 0


# --- validation ---------------------------------------------------------------------------------------


#: Names that resolve inside the network by convention (RFC 6761, RFC 6762, cloud-internal DNS).
LOCAL_NAME_SUFFIXES: Final = (".localhost", ".local", ".internal", ".home.arpa", ".arpa")
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DOTTED_QUAD = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}$")
#: NAT64 well-known prefix: the last 32 bits are an IPv4 address (RFC 6052).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def inet_aton_value(host: str) -> int | None:
    """The IPv4 address a C resolver reads in `host` (`127.1`, `0x7f.1`, `017700000001`, `2130706433`).

    BSD `inet_aton` rules: one to four parts, each decimal, octal (leading 0) or hex (0x); the last part
    fills the remaining bytes. None when `host` is not such a form.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
    *head, last = values
    room: int = 1 << (8 * (4 - len(head)))  # the bytes the last part fills
    if any(v > 255 for v in head) or last >= room:
        return None
    value = 0
    for v in head:
        value = value * 256 + v
    return value * room + last


def address_problem(address: str, *, local_development: bool = False) -> str | None:
    """Why a webhook may not be sent to `address` (an IP literal), or None when it may (public only)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if local_development and ip.is_loopback:
        return None
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_problem(str(embedded), local_development=local_development)
    if ip.is_multicast or not ip.is_global:
        return "must not point at a loopback, private, link-local or otherwise non-public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def host_problem(host: str, *, local_development: bool = False) -> str | None:
    """Why a URL's host is not an acceptable webhook target by its text alone (registration and delivery).

    A name that resolves to a non-public address is caught at delivery, which resolves and checks.
    """
    name = host.rstrip(".").lower()
    if ":" in name:  # an IPv6 literal (urlsplit has removed the brackets)
        return address_problem(name, local_development=local_development)
    if _NUMERIC_HOST.match(name):
        if _DOTTED_QUAD.match(name):
            return address_problem(name, local_development=local_development)
        if inet_aton_value(name) is not None or name.replace(".", "").isdigit():
            return "must write an IP address as a dotted quad (numeric shorthand forms are refused)"
    if name == "localhost" or name.endswith(LOCAL_NAME_SUFFIXES):
        return None if local_development and name in LOCAL_HOSTS else "must not name a local host"
    return None


def url_problem(url: str, *, local_development: bool = False) -> str | None:
    """Why `url` cannot receive webhooks, or None when it can (see the module docstring)."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "must be an absolute https URL"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an absolute https URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials; the signature authenticates the sender"
    if parts.fragment:
        return "must not have a fragment"
    problem = host_problem(host, local_development=local_development)
    if problem is not None:
        return problem
    if parts.scheme == "http" and not (local_development and host.lower() in LOCAL_HOSTS):
        return "must use https (plain http only to localhost in local development)"
    return None


def event_filter_problem(value: str) -> str | None:
    if value == WILDCARD or value in BOOKING_EVENT_TYPES:
        return None
    allowed = ", ".join(sorted(BOOKING_EVENT_TYPES))
    return f"must be one of {allowed} or {WILDCARD}"


def secret_problem(secret: str) -> str | None:
    if len(secret) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters"
    if len(secret) > MAX_SECRET_LENGTH:
        return f"must be at most {MAX_SECRET_LENGTH} characters"
    return None


# --- matching and signing -------------------------------------------------------------------------------


def matches(filters: Iterable[str], event_type: str) -> bool:
    return any(f in (WILDCARD, event_type) for f in filters) and event_type in BOOKING_EVENT_TYPES


def signed_content(timestamp: int, body: bytes) -> bytes:
    """The bytes the signature covers: `{timestamp}.{raw body}`."""
    return f"{timestamp}.".encode("ascii") + body


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Signature-256` value: `sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`."""
    digest = hmac.new(secret.encode("utf-8"), signed_content(timestamp, body), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, body: bytes, signature: str, timestamp: str, now: datetime, window: timedelta = REPLAY_WINDOW
) -> bool:
    """A receiver's check: the signature matches (constant time) and the timestamp is within `window`."""
    if not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > window.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def delivery_headers(
    subscription: WebhookSubscription, claim: DeliveryClaim, *, at: datetime, body: bytes
) -> Mapping[str, str]:
    """Every header of one attempt (signed at `at`)."""
    timestamp = int(at.timestamp())
    return {
        "Content-Type": CONTENT_TYPE,
        SIGNATURE_HEADER: sign(subscription.secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_ID_HEADER: claim.event_id,
        EVENT_TYPE_HEADER: claim.event_type,
        SUBSCRIPTION_HEADER: subscription.id,
        ATTEMPT_HEADER: str(claim.attempt),
        "User-Agent": "dynamics-scheduling-webhooks/1.0",
    }


# --- retries ------------------------------------------------------------------------------------------


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def next_attempt_at(
    failed_attempt: int, failed_at: datetime, retry_after_seconds: float | None = None
) -> datetime | None:
    """When to try again after failed attempt `failed_attempt` (1-based); None when it was the last."""
    if failed_attempt < 1:
        raise ValueError("attempts are counted from 1")
    if failed_attempt >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[failed_attempt - 1]
    if retry_after_seconds is not None:
        delay = max(delay, min(timedelta(seconds=retry_after_seconds), MAX_RETRY_AFTER))
    return failed_at + delay
