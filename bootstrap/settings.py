"""Application settings, read once from the environment (app settings in Azure, local.settings.json locally).

Every setting has an embedded default that works against the local stack
(Azurite on :10002, the Graph simulator on :7081), so `make run` needs no
configuration; in Azure the same names carry the real endpoints.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from scheduling_core.runtime.deadline import DEFAULT_REQUEST_SECONDS

AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_connection_string(port: int = 10002, host: str = "127.0.0.1") -> str:
    """Azurite's well-known development account, on any port (UseDevelopmentStorage=true assumes 10002)."""
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_ACCOUNT_KEY};TableEndpoint=http://{host}:{port}/devstoreaccount1;"
    )


#: Who may show the booking page in a frame: this app and Dynamics 365 (every *.dynamics.com host,
#: which covers org.crm.dynamics.com, org.crm4.dynamics.com, ...). docs/booking-page.md.
DEFAULT_FRAME_ANCESTORS = "'self' https://*.dynamics.com"


def _slug_list(value: str | None) -> tuple[str, ...] | None:
    """`BOOKING_PAGE_EVENT_TYPES`: comma-separated slugs; unset, empty or `*` means every public one."""
    if value is None or value.strip() in ("", "*"):
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class KeySetting:
    """One key setting as configured: `off` (absent), `broken` (present but unusable), or a key."""

    value: str | None
    broken: bool = False

    @property
    def off(self) -> bool:
        return self.value is None and not self.broken


KEY_OFF = KeySetting(None)


def key_setting(raw: str | None) -> KeySetting:
    """An API key setting: absent is off; empty or an unresolved Key Vault reference is broken (closed)."""
    if raw is None:
        return KEY_OFF
    value = raw.strip()
    if not value or value.startswith("@Microsoft.KeyVault("):
        return KeySetting(None, broken=True)
    return KeySetting(value)


def _origins(raw: str | None) -> frozenset[str]:
    """`CORS_ALLOWED_ORIGINS`: comma-separated exact origins; `*` and anything without a scheme ignored."""
    origins = set()
    for item in (raw or "").split(","):
        origin = item.strip().rstrip("/")
        if origin and origin != "*" and "://" in origin:
            origins.add(origin.lower())
    return frozenset(origins)


def _deadline(raw: str | None) -> float:
    try:
        value = float(raw or DEFAULT_REQUEST_SECONDS)
    except ValueError:
        return DEFAULT_REQUEST_SECONDS
    return value if 0 < value <= DEFAULT_REQUEST_SECONDS else DEFAULT_REQUEST_SECONDS


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    tables_connection_string: str | None
    tables_endpoint: str | None
    table_prefix: str
    graph_base_url: str
    graph_static_token: str | None
    tenant_id: str | None
    client_id: str | None
    client_secret: str | None
    busy_cache_ttl_seconds: float
    graph_timeout_seconds: float
    api_key: KeySetting = field(repr=False)
    admin_api_key: KeySetting = field(repr=False)
    dataverse_url: str
    dataverse_static_token: str | None
    service_bus_connection: str | None
    service_bus_namespace: str | None
    booking_topic: str
    sync_max_delivery_count: int = 10
    dataverse_timeout_seconds: float = 10.0
    sync_lease_seconds: float = 300.0
    dynamics_webhook_secret: str | None = None
    dynamics_webhook_header: str = "x-scheduling-webhook-key"
    dynamics_application_user_id: str | None = None
    dynamics_post_image_name: str = "PostImage"
    public_base_url: str | None = None
    graph_changes_queue: str = "graph-changes"
    dynamics_changes_queue: str = "dynamics-changes"
    #: The mailbox reminder emails are sent from (Graph `sendMail`, Mail.Send application permission).
    reminder_sender: str = "scheduling@contoso.com"

    @property
    def graph_notification_url(self) -> str | None:
        return f"{self.public_base_url}/graph/notifications" if self.public_base_url else None

    webhook_timeout_seconds: float = 10.0

    @property
    def graph_lifecycle_url(self) -> str | None:
        return f"{self.public_base_url}/graph/lifecycle" if self.public_base_url else None

    booking_page_frame_ancestors: str = DEFAULT_FRAME_ANCESTORS
    booking_page_event_types: tuple[str, ...] | None = None
    # Booking-page abuse limits (api.md; docs/booking-page.md).
    booking_page_max_holds_per_client: int = 2
    booking_page_requests_per_minute: int = 120
    booking_page_max_held_share: float = 0.2
    booking_page_max_bookings_per_email: int = 3
    #: Which X-Forwarded-For entry, counted from the right, is the client (entries further left are
    #: whatever the client sent). 1 = the one the App Service front end appends.
    forwarded_for_hops: int = 1
    #: `AZURE_FUNCTIONS_ENVIRONMENT=Development` (Core Tools and devstack set it; Azure runs Production):
    #: only then may outgoing webhooks go to plain-http loopback receivers (domain/webhooks.py).
    local_development: bool = False
    #: `WEBHOOK_SECRET_KEY`: Fernet keys (comma-separated, newest first) that encrypt webhook secrets at
    #: rest; in Azure a Key Vault reference, so the key never sits in Table storage with the rows.
    webhook_secret_keys: tuple[str, ...] = ()
    #: Signs invitees' manage links (docs/decisions.md, "Self-service manage links"); unset: no links.
    manage_link_key: str | None = field(default=None, repr=False)
    #: `CORS_ALLOWED_ORIGINS` (http_api/cors.py): the only origins a browser may call the page API from.
    cors_allowed_origins: frozenset[str] = frozenset()
    #: `REQUEST_DEADLINE_SECONDS` (default 25): each request answers 503 past it (http_api/endpoint.py).
    request_deadline_seconds: float = DEFAULT_REQUEST_SECONDS
    #: `APPLICATIONINSIGHTS_CONNECTION_STRING`: Azure Monitor export when set (runtime/telemetry.py).
    applicationinsights_connection_string: str | None = None

    @property
    def manage_base_url(self) -> str:
        """Where manage links point: PUBLIC_BASE_URL, or the local host's default address."""
        return self.public_base_url or "http://localhost:7071/api"

    @property
    def dataverse_scope(self) -> str:
        """`https://{org}.crm.dynamics.com/.default` for the environment the Web API URL names."""
        origin = self.dataverse_url.split("/api/data", 1)[0]
        return f"{origin}/.default"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        values = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = values.get(name)
            return value if value else None

        endpoint = get("TABLES_ENDPOINT")
        connection = get("TABLES_CONNECTION_STRING")
        if connection is None and endpoint is None:
            connection = azurite_connection_string()
        return cls(
            tables_connection_string=connection,
            tables_endpoint=endpoint,
            table_prefix=get("TABLE_PREFIX") or "sched",
            graph_base_url=(get("GRAPH_BASE_URL") or "http://127.0.0.1:7081/v1.0").rstrip("/"),
            graph_static_token=get("GRAPH_STATIC_TOKEN"),
            tenant_id=get("AZURE_TENANT_ID"),
            client_id=get("AZURE_CLIENT_ID"),
            client_secret=get("AZURE_CLIENT_SECRET"),
            busy_cache_ttl_seconds=float(get("BUSY_CACHE_TTL_SECONDS") or 60),
            graph_timeout_seconds=float(get("GRAPH_TIMEOUT_SECONDS") or 10),
            # Not `get`: an empty value is a broken key (closed), not an absent one (off).
            api_key=key_setting(values.get("API_KEY")),
            admin_api_key=key_setting(values.get("ADMIN_API_KEY")),
            cors_allowed_origins=_origins(get("CORS_ALLOWED_ORIGINS")),
            request_deadline_seconds=_deadline(get("REQUEST_DEADLINE_SECONDS")),
            applicationinsights_connection_string=get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
            dataverse_url=(get("DATAVERSE_URL") or "http://127.0.0.1:7082/api/data/v9.2").rstrip("/"),
            dataverse_static_token=get("DATAVERSE_STATIC_TOKEN"),
            dataverse_timeout_seconds=float(get("DATAVERSE_TIMEOUT_SECONDS") or 10),
            # The same names the Service Bus trigger bindings use (connection="ServiceBusConnection").
            service_bus_connection=get("ServiceBusConnection"),
            service_bus_namespace=get("ServiceBusConnection__fullyQualifiedNamespace"),
            booking_topic=get("BOOKING_TOPIC") or "booking-events",
            # The subscriptions' maxDeliveryCount (infra): the sync marks a booking failed on the last one.
            sync_max_delivery_count=int(get("SYNC_MAX_DELIVERY_COUNT") or 10),
            # How long one delivery may hold a booking's sync lease: the functionTimeout (host.json).
            sync_lease_seconds=float(get("SYNC_LEASE_SECONDS") or 300),
            # POST /dynamics/webhook: the shared secret the service endpoint sends, in this header.
            dynamics_webhook_secret=get("DYNAMICS_WEBHOOK_SECRET"),
            dynamics_webhook_header=(get("DYNAMICS_WEBHOOK_HEADER") or "x-scheduling-webhook-key").lower(),
            # The systemuserid of our application user: Dynamics events it initiated are our own writes.
            dynamics_application_user_id=get("DYNAMICS_APPLICATION_USER_ID"),
            # The name (entity alias) of the post image registered on the webhook step; an asynchronous
            # step also carries `AsynchronousStepPrimaryName`, so the image is taken by this name.
            dynamics_post_image_name=get("DYNAMICS_POST_IMAGE_NAME") or "PostImage",
            # Where Graph reaches this app (`https://{app}.azurewebsites.net/api`); unset, no Graph
            # subscriptions are made (change notifications off; the daily delta resync still runs).
            public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            graph_changes_queue=get("GRAPH_CHANGES_QUEUE") or "graph-changes",
            # Dynamics webhook contexts, stored before POST /dynamics/webhook answers.
            dynamics_changes_queue=get("DYNAMICS_CHANGES_QUEUE") or "dynamics-changes",
            reminder_sender=get("REMINDER_SENDER") or "scheduling@contoso.com",
            # Outgoing webhooks: one POST to a subscriber may take this long (docs/webhooks.md).
            webhook_timeout_seconds=float(get("WEBHOOK_TIMEOUT_SECONDS") or 10),
            # The public booking page (/book/*): CSP frame-ancestors and the event types it may offer.
            booking_page_frame_ancestors=get("BOOKING_PAGE_FRAME_ANCESTORS") or DEFAULT_FRAME_ANCESTORS,
            booking_page_event_types=_slug_list(get("BOOKING_PAGE_EVENT_TYPES")),
            booking_page_max_holds_per_client=int(get("BOOKING_PAGE_MAX_HOLDS_PER_CLIENT") or 2),
            booking_page_requests_per_minute=int(get("BOOKING_PAGE_REQUESTS_PER_MINUTE") or 120),
            booking_page_max_held_share=float(get("BOOKING_PAGE_MAX_HELD_SHARE") or 0.2),
            booking_page_max_bookings_per_email=int(get("BOOKING_PAGE_MAX_BOOKINGS_PER_EMAIL") or 3),
            forwarded_for_hops=max(1, int(get("FORWARDED_FOR_HOPS") or 1)),
            local_development=(get("AZURE_FUNCTIONS_ENVIRONMENT") or "").lower() == "development",
            webhook_secret_keys=tuple(
                k.strip() for k in (get("WEBHOOK_SECRET_KEY") or "").split(",") if k.strip()
            ),
            manage_link_key=get("MANAGE_LINK_KEY"),
        )


_lock = threading.Lock()
_current: Settings | None = None


def current_settings() -> Settings:
    """The process's settings, read from the environment once (the composition root and telemetry)."""
    global _current
    with _lock:
        if _current is None:
            _current = Settings.from_env()
        return _current


def forget_settings() -> None:
    """Read the environment again on next use (tests that change it; `reset_services` calls this)."""
    global _current
    with _lock:
        _current = None
