"""`/v1.0/subscriptions` as Graph v1.0 checks and renders it, for Outlook event resources.

Sources: subscription resource type, Create/Update/Delete/Get/reauthorize subscription
(learn.microsoft.com/graph/api/resources/subscription and its API pages), "Receive change
notifications through webhooks" and "Reduce missing subscriptions and change notifications".

Rules:
- `resource` is one mailbox's events: `users/{id|upn}/events`, with or without a leading `/`,
  or `users/{id|upn}/calendar/events` (any case); anything else is 400 `InvalidRequest`.
- `changeType` is a comma-separated list of `created`, `updated`, `deleted`.
- `clientState` is at most 128 characters.
- `expirationDateTime` (an `Edm.DateTimeOffset`; without an offset it is read as UTC) may be at
  most 10,080 minutes after the simulator's now (Outlook event subscriptions without resource
  data; over it is 400 `ExtensionError` "Subscription expiration can only be 10080 minutes in
  the future.", Graph's message); a time in the past is 400 `ExtensionError`; a time less than
  45 minutes ahead becomes 45 minutes ahead, as the resource type page says.
- `includeResourceData: true` (rich notifications) is not simulated: 400.
- Deliberate leniency: `notificationUrl` and `lifecycleNotificationUrl` may be `http://` (Graph
  demands https), so local endpoints can subscribe.
- Update (`PATCH`) takes `expirationDateTime` and/or `notificationUrl`; `lifecycleNotificationUrl`
  cannot be added or changed (delete and create again, as the docs say): 400.
- An unknown or expired id is 404 `ResourceNotFound` "The object was not found.".
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from devstack.graph_sim.state import Subscription
from devstack.graph_sim.wire import GraphFault, utc_stamp

MAX_LIFETIME = timedelta(minutes=10080)
MIN_LIFETIME = timedelta(minutes=45)
MAX_CLIENT_STATE = 128
CHANGE_TYPES = ("created", "updated", "deleted")
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
#: The app the simulator's tokens stand for, and its service principal (`creatorId` with app permissions).
APPLICATION_ID = "6f6d6f63-0000-4000-8000-00000000a991"
CREATOR_ID = "6f6d6f63-0000-4000-8000-00000000c4ea"

_RESOURCE = re.compile(r"^/?users/(?P<key>[^/]+)/(?:calendar/)?events/?$", re.IGNORECASE)
_CREATABLE = frozenset(
    {
        "changeType",
        "notificationUrl",
        "lifecycleNotificationUrl",
        "resource",
        "expirationDateTime",
        "clientState",
        "latestSupportedTlsVersion",
        "includeResourceData",
        "encryptionCertificate",
        "encryptionCertificateId",
        "notificationQueryOptions",
        "notificationUrlAppId",
    }
)
_READ_ONLY = frozenset({"id", "applicationId", "creatorId"})


def invalid(message: str, code: str = "InvalidRequest") -> GraphFault:
    return GraphFault(400, code, message)


def not_found() -> GraphFault:
    return GraphFault(404, "ResourceNotFound", "The object was not found.")


@dataclass(frozen=True)
class NewSubscription:
    """A checked create request: everything but the mailbox, which the caller resolves."""

    resource: str
    user_key: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    tls_version: str
    notification_url_app_id: str | None

    def build(self, user_id: str) -> Subscription:
        return Subscription(
            id=str(uuid.uuid4()),
            resource=self.resource,
            user_id=user_id,
            change_types=self.change_types,
            notification_url=self.notification_url,
            expiration=self.expiration,
            client_state=self.client_state,
            lifecycle_url=self.lifecycle_url,
            tls_version=self.tls_version,
            notification_url_app_id=self.notification_url_app_id,
        )


@dataclass(frozen=True)
class Renewal:
    expiration: datetime | None
    notification_url: str | None


def parse_create(body: dict[str, Any], now: datetime) -> NewSubscription:
    names = {name for name in body if not name.startswith("@odata.")}
    if names - _CREATABLE - _READ_ONLY:
        raise invalid(
            "Could not process subscription creation payload. Are all property names spelled and "
            "camelCased properly?"
        )
    for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if body.get(name) in (None, ""):
            raise invalid(f"{name} is a required property for subscription creation.")
    resource = _string(body, "resource")
    match = _RESOURCE.match(resource.strip())
    if match is None:
        raise invalid(
            f"Unsupported resource '{resource}'. The Graph simulator supports 'users/{{id}}/events' "
            "and 'users/{id}/calendar/events'."
        )
    raw_types = _string(body, "changeType")
    change_types = tuple(part.strip() for part in raw_types.split(","))
    if not change_types or any(part not in CHANGE_TYPES for part in change_types):
        raise invalid(
            f"'{raw_types}' is not a valid changeType: use a comma-separated list of "
            "'created', 'updated' and 'deleted'."
        )
    client_state = body.get("clientState")
    if client_state is not None:
        if not isinstance(client_state, str):
            raise invalid("Property 'clientState' must be a string.")
        if len(client_state) > MAX_CLIENT_STATE:
            raise invalid(
                f"The clientState value is {len(client_state)} characters long; the maximum is "
                f"{MAX_CLIENT_STATE}."
            )
    if body.get("includeResourceData"):
        raise invalid(
            "The Graph simulator does not send change notifications with resource data "
            "(includeResourceData must be false)."
        )
    tls_version = body.get("latestSupportedTlsVersion") or "v1_2"
    if tls_version not in TLS_VERSIONS:
        raise invalid(f"'{tls_version}' is not a valid latestSupportedTlsVersion.")
    lifecycle_url = body.get("lifecycleNotificationUrl")
    app_id = body.get("notificationUrlAppId")
    return NewSubscription(
        resource=resource,
        user_key=match["key"],
        change_types=change_types,
        notification_url=_url(body, "notificationUrl"),
        lifecycle_url=None if lifecycle_url is None else _url(body, "lifecycleNotificationUrl"),
        expiration=parse_expiration(body["expirationDateTime"], now),
        client_state=client_state,
        tls_version=tls_version,
        notification_url_app_id=app_id if isinstance(app_id, str) else None,
    )


def parse_update(body: dict[str, Any], now: datetime) -> Renewal:
    names = {name for name in body if not name.startswith("@odata.")}
    if "lifecycleNotificationUrl" in names:
        raise invalid(
            "The lifecycleNotificationUrl of a subscription cannot be updated; delete the subscription "
            "and create a new one with it."
        )
    unknown = names - {"expirationDateTime", "notificationUrl"}
    if unknown:
        raise invalid(f"Property '{sorted(unknown)[0]}' of a subscription cannot be updated.")
    if body.get("expirationDateTime") is None and body.get("notificationUrl") is None:
        raise invalid(
            "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property "
            "and its value."
        )
    expiration = body.get("expirationDateTime")
    return Renewal(
        expiration=None if expiration is None else parse_expiration(expiration, now),
        notification_url=None if body.get("notificationUrl") is None else _url(body, "notificationUrl"),
    )


def parse_expiration(raw: object, now: datetime) -> datetime:
    if not isinstance(raw, str):
        raise invalid("Property 'expirationDateTime' must be a DateTimeOffset string.")
    text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
    match = re.fullmatch(r"(?P<base>[^.+]+?)(?:\.(?P<fraction>\d+))?(?P<offset>[+-]\d{2}:\d{2})?", text)
    if match is None:
        raise invalid(f"Cannot convert the literal '{raw}' to the expected type 'Edm.DateTimeOffset'.")
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        value = datetime.fromisoformat(f"{match['base']}.{fraction}{match['offset'] or '+00:00'}")
    except ValueError:
        raise invalid(
            f"Cannot convert the literal '{raw}' to the expected type 'Edm.DateTimeOffset'."
        ) from None
    value = value.astimezone(UTC)
    if value <= now:
        raise invalid("Subscription expiration must be in the future.", "ExtensionError")
    if value - now > MAX_LIFETIME:
        raise invalid(
            f"Subscription expiration can only be {int(MAX_LIFETIME.total_seconds() // 60)} minutes "
            "in the future.",
            "ExtensionError",
        )
    return max(value, now + MIN_LIFETIME)


def render(subscription: Subscription) -> dict[str, Any]:
    """The subscription as Graph returns it (`graph.subscription`)."""
    return {
        "id": subscription.id,
        "resource": subscription.resource,
        "applicationId": APPLICATION_ID,
        "changeType": ",".join(subscription.change_types),
        "clientState": subscription.client_state,
        "notificationUrl": subscription.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": subscription.lifecycle_url,
        "expirationDateTime": utc_stamp(subscription.expiration),
        "creatorId": CREATOR_ID,
        "includeResourceData": False,
        "latestSupportedTlsVersion": subscription.tls_version,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": subscription.notification_url_app_id,
    }


def validation_failed(reason: str) -> GraphFault:
    if reason == "timed out":
        return GraphFault(400, "ValidationError", "Subscription validation request timed out.")
    return GraphFault(
        400,
        "ValidationError",
        "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
        "validation request.",
    )


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise invalid(f"Property '{name}' must be a string.")
    return value


def _url(body: dict[str, Any], name: str) -> str:
    value = _string(body, name)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise invalid(f"Invalid {name} '{value}': an absolute https URL is required.")
    return value
