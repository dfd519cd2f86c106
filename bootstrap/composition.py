"""The composition root: adapters built from settings and wired into services, once per process.

Function invocations share one `Services` (HTTP connection pools, the free/busy
cache); tests call `reset_services()` after changing the environment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from azure.data.tables import TableServiceClient

from bootstrap.settings import Settings, current_settings, forget_settings
from scheduling_core.adapters.booking_table import TableBookingStore
from scheduling_core.adapters.clock import SystemClock
from scheduling_core.adapters.credentials import token_provider_from_settings
from scheduling_core.adapters.dataverse import DataverseClient, dataverse_client_from_settings
from scheduling_core.adapters.graph import CachedBusyTimes, GraphClient
from scheduling_core.adapters.idempotency_table import TableIdempotencyStore
from scheduling_core.adapters.inprocess_bus import LOCAL_NAMESPACE, InProcessPublisher
from scheduling_core.adapters.outlook_calendar import OutlookCalendars
from scheduling_core.adapters.outlook_tables import TableMailboxFaults, TableOutlookLinks, TableSubscriptions
from scheduling_core.adapters.page_limits_table import TablePageLimits
from scheduling_core.adapters.reminder_table import TableReminderClaims
from scheduling_core.adapters.routing_table import TableRoutingStore
from scheduling_core.adapters.secret_box import SecretBox
from scheduling_core.adapters.service_bus import ServiceBusPublisher
from scheduling_core.adapters.sync_state_table import TableSyncStateStore
from scheduling_core.adapters.tables import TableConfigRepository, Tables, table_service_from_settings
from scheduling_core.adapters.webhook_ledger_table import TableWebhookLedger
from scheduling_core.adapters.webhook_sender import HttpWebhookSender
from scheduling_core.adapters.webhook_table import TableWebhookStore
from scheduling_core.domain.bookings import booking_snapshot
from scheduling_core.domain.events import BOOKING_CREATED, booking_event
from scheduling_core.domain.manage_links import ManageLinks
from scheduling_core.errors import WeakKey
from scheduling_core.ports import (
    BusyTimeSource,
    Clock,
    EventPublisher,
    IdempotencyStore,
    RedeliveryScheduler,
)
from scheduling_core.runtime.telemetry import current_traceparent
from scheduling_core.services.booking_page import BookingPage
from scheduling_core.services.bookings import BookingService
from scheduling_core.services.config import ConfigCache, ConfigService, HostDirectoryCache
from scheduling_core.services.dataverse_reconcile import Reconciler
from scheduling_core.services.dataverse_sync import DataverseSync
from scheduling_core.services.dynamics_webhook import DynamicsWebhook
from scheduling_core.services.fairness_report import FairnessReports
from scheduling_core.services.health import CachedProbe, HealthService, reachable
from scheduling_core.services.manage import ManageService
from scheduling_core.services.outbox import OutboxRelay
from scheduling_core.services.outgoing_webhooks import WebhookService
from scheduling_core.services.outlook_reconcile import OutlookReconciler
from scheduling_core.services.outlook_subscriptions import OutlookSubscriptions
from scheduling_core.services.outlook_sync import OutlookSync
from scheduling_core.services.page_limits import PageLimits
from scheduling_core.services.page_sources import NoOutlook, QuietRecords
from scheduling_core.services.reminders import ReminderService
from scheduling_core.services.router import RecordDirectory, RoutingService
from scheduling_core.services.rule_sets import RuleSetAdmin
from scheduling_core.services.slots import SlotService
from scheduling_core.services.sync_runner import LeasedApply

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    clock: Clock
    tables: Tables
    graph: GraphClient
    busy_times: CachedBusyTimes
    dataverse: DataverseClient
    config: ConfigService
    rule_sets: RuleSetAdmin
    slots: SlotService
    health: HealthService
    booking_store: TableBookingStore
    bookings: BookingService
    idempotency: IdempotencyStore
    publisher: EventPublisher
    relay: OutboxRelay
    config_repository: TableConfigRepository
    routing_store: TableRoutingStore
    routing: RoutingService
    dataverse_sync: DataverseSync
    webhook_ledger: TableWebhookLedger
    dynamics_webhook: DynamicsWebhook
    calendars: OutlookCalendars
    outlook_links: TableOutlookLinks
    subscription_store: TableSubscriptions
    outlook_sync: OutlookSync
    subscriptions: OutlookSubscriptions | None  # None without PUBLIC_BASE_URL: Graph cannot call us
    outlook_reconciler: OutlookReconciler
    graph_changes: ChangeQueue
    dynamics_changes: ChangeQueue  # `dynamics-changes`: webhook contexts, stored before the webhook answers
    webhook_sender: HttpWebhookSender
    webhooks: WebhookService
    manage: ManageService
    page_limits: TablePageLimits
    page_slots: SlotService  # the page's routing: unknown record ids fall through (QuietRecords)
    page_offline_slots: SlotService  # slots without Outlook: booking-page holds never call Graph
    page_bookings: BookingService

    def close(self) -> None:
        self.graph.close()
        self.dataverse.close()
        self.webhook_sender.close()
        for sender in (self.publisher, self.graph_changes, self.dynamics_changes):
            close = getattr(sender, "close", None)
            if close is not None:
                close()

    def booking_page(self) -> BookingPage:
        settings = self.settings
        return BookingPage(
            config=self.config_repository,
            slots=self.page_slots,
            bookings=self.page_bookings,
            offered=settings.booking_page_event_types,
            offline_slots=self.page_offline_slots,
            limits_store=self.page_limits,
            limits=PageLimits(
                max_holds_per_client=settings.booking_page_max_holds_per_client,
                requests_per_minute=settings.booking_page_requests_per_minute,
                max_held_share=settings.booking_page_max_held_share,
                max_bookings_per_email_per_day=settings.booking_page_max_bookings_per_email,
            ),
            clock=self.clock,
            scope=settings.table_prefix,
        )

    def reminders(self) -> ReminderService:
        return ReminderService(
            event_types=self.config_repository,
            bookings=self.booking_store,
            claims=TableReminderClaims(self.tables),
            mailer=self.graph,
            clock=self.clock,
            sender=self.settings.reminder_sender,
            manage_url=self.manage.url,  # None while manage links are off (no MANAGE_LINK_KEY)
        )

    def fairness(self) -> FairnessReports:
        return FairnessReports(
            bookings=self.booking_store, routing=self.routing, hosts=self.config_repository
        )

    def reconciler(self) -> Reconciler:
        return Reconciler(
            dataverse=self.dataverse,
            sync=self.dataverse_sync,
            bookings=self.booking_store,
            config=self.config_repository,
            clock=self.clock,
            changes=self.bookings,
            drift=self.booking_store,
            application_user_id=self.settings.dynamics_application_user_id,
        )


class ChangeQueue(Protocol):
    """A Service Bus queue fed from a callback: `graph-changes` (validated Graph notifications for the
    reconciler) or `dynamics-changes` (Dynamics webhook contexts for `DynamicsWebhook`)."""

    def send(self, bodies: Sequence[Mapping[str, Any]]) -> None: ...


class _LocalQueue:
    """A queue of the local namespace (no Service Bus configured)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def send(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        LOCAL_NAMESPACE.send(self._name, bodies)


def change_queue_from_settings(settings: Settings, queue: str | None = None) -> ChangeQueue:
    """The queue `queue` (default `graph-changes`): Service Bus when configured, else the local one."""
    name = queue or settings.graph_changes_queue
    if settings.service_bus_connection or settings.service_bus_namespace:
        return ServiceBusPublisher(
            queue=name,
            connection_string=settings.service_bus_connection,
            fully_qualified_namespace=settings.service_bus_namespace,
            retry_total=1,
            # Inside Graph's 3-second answer budget; Dynamics waits 60 s but its step should not pile up.
            send_timeout_seconds=2,
        )
    local = {
        settings.graph_changes_queue: "graph-changes",
        settings.dynamics_changes_queue: "dynamics-changes",
    }
    return _LocalQueue(local.get(name, name))


def redelivery_scheduler(publisher: EventPublisher) -> RedeliveryScheduler | None:
    """The publisher, when it can also schedule copies (Service Bus, the local bus); else None."""
    return publisher if callable(getattr(publisher, "schedule", None)) else None  # type: ignore[return-value]


def records_from_settings(settings: Settings) -> RecordDirectory:
    """Dynamics records for routing (owner, account team, address), read through the Dataverse Web API."""
    return dataverse_client_from_settings(settings)


def publisher_from_settings(settings: Settings) -> EventPublisher:
    if settings.service_bus_connection or settings.service_bus_namespace:
        return ServiceBusPublisher(
            topic=settings.booking_topic,
            connection_string=settings.service_bus_connection,
            fully_qualified_namespace=settings.service_bus_namespace,
            # publish_now runs inside the HTTP request: fail fast, the outbox relay retries later.
            retry_total=1,
            send_timeout_seconds=5,
        )
    return InProcessPublisher(LOCAL_NAMESPACE.deliver, deliver_copy=LOCAL_NAMESPACE.deliver_copy)


def manage_links_from_settings(settings: Settings) -> ManageLinks | None:
    """The manage-link signer, or None without MANAGE_LINK_KEY (no links are made or accepted)."""
    if settings.manage_link_key is None:
        return None
    try:
        return ManageLinks(key=settings.manage_link_key.encode(), base_url=settings.manage_base_url)
    except WeakKey as exc:  # links off (fail closed), the rest of the service still serves
        log.error("manage links are off: %s", exc)
        return None


def build_services(
    settings: Settings,
    clock: Clock | None = None,
    publisher: EventPublisher | None = None,
    *,
    table_service: TableServiceClient | None = None,
) -> Services:
    """The services over real adapters; `table_service` lets a test watch every storage request."""
    clock = clock or SystemClock()
    publisher = publisher or publisher_from_settings(settings)
    tables = Tables(table_service or table_service_from_settings(settings), settings.table_prefix)
    repository = TableConfigRepository(tables)
    graph = GraphClient(
        base_url=settings.graph_base_url,
        tokens=token_provider_from_settings(
            static_token=settings.graph_static_token,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=GRAPH_SCOPE,
        ),
        timeout_seconds=settings.graph_timeout_seconds,
    )
    busy_times = CachedBusyTimes(graph, ttl_seconds=settings.busy_cache_ttl_seconds, clock=clock)
    booking_store = TableBookingStore(tables, clock)
    relay = OutboxRelay(store=booking_store, publisher=publisher, clock=clock)
    routing_store = TableRoutingStore(tables)
    dataverse = dataverse_client_from_settings(settings)
    # One directory copy per instance, cleared by this instance's own host writes (ConfigService below).
    host_directory = HostDirectoryCache(repository, clock)
    # `GET /slots`'s copy of event types and hosts (30 s, cleared by own writes); bookings read storage.
    config_cache = ConfigCache(repository, clock)

    def routing_over(records: RecordDirectory, busy: BusyTimeSource) -> RoutingService:
        """Routing over the shared stores; the API and the key-less page differ in records and Outlook."""
        return RoutingService(
            rule_sets=repository,
            hosts=host_directory,
            store=routing_store,
            records=records,
            busy=busy,
            bookings=booking_store,
            clock=clock,
        )

    routing = routing_over(dataverse, busy_times)
    links = manage_links_from_settings(settings)
    manage_url = links.url if links is not None else None

    def bookings_routed_by(routing: RoutingService) -> BookingService:
        return BookingService(
            config=repository,
            store=booking_store,
            busy=busy_times,
            clock=clock,
            after_commit=relay,
            routing=routing,
            manage_url=manage_url,
        )

    bookings = bookings_routed_by(routing)
    slots = SlotService(
        config=config_cache, busy=busy_times, clock=clock, commitments=booking_store, routing=routing
    )
    webhook_ledger = TableWebhookLedger(tables)
    sync_state = TableSyncStateStore(tables)

    def leased(target: str) -> LeasedApply:
        """How a sync handler applies snapshots to `target`: version order, lease, failed on last delivery."""
        return LeasedApply(
            target=target,
            state=sync_state,
            clock=clock,
            max_delivery_count=settings.sync_max_delivery_count,
            scheduler=redelivery_scheduler(publisher),
            lease_duration=timedelta(seconds=settings.sync_lease_seconds),
        )

    calendars = OutlookCalendars(graph)
    mailbox_faults = TableMailboxFaults(tables)
    outlook_links = TableOutlookLinks(tables)
    outlook_sync = OutlookSync(
        calendars=calendars,
        links=outlook_links,
        runner=leased("outlook"),
        bookings=booking_store,
        config=repository,
        clock=clock,
        cache=busy_times,
        faults=mailbox_faults,
        manage_url=manage_url,
    )
    subscription_store = TableSubscriptions(tables)
    subscriptions = None
    if settings.graph_notification_url and settings.graph_lifecycle_url:
        subscriptions = OutlookSubscriptions(
            api=calendars,
            store=subscription_store,
            hosts=repository,
            clock=clock,
            notification_url=settings.graph_notification_url,
            lifecycle_url=settings.graph_lifecycle_url,
        )
    webhook_sender = HttpWebhookSender(
        timeout_seconds=settings.webhook_timeout_seconds, local_development=settings.local_development
    )
    webhook_store = TableWebhookStore(
        tables, SecretBox(settings.webhook_secret_keys, local_development=settings.local_development)
    )

    # The key-less page's routing: an unknown record id falls through like an ownerless one (QuietRecords).
    page_routing = routing_over(QuietRecords(dataverse), busy_times)
    page_routing_offline = routing_over(QuietRecords(dataverse), NoOutlook())
    return Services(
        settings=settings,
        clock=clock,
        tables=tables,
        graph=graph,
        busy_times=busy_times,
        dataverse=dataverse,
        config=ConfigService(
            repository=repository,
            rule_sets=repository,
            host_watcher=subscriptions,
            directory=host_directory,
            cache=config_cache,
        ),
        rule_sets=RuleSetAdmin(repository),
        slots=slots,
        health=HealthService(
            ping_storage=tables.ping,
            probes={
                "graph": CachedProbe(lambda: reachable(settings.graph_base_url)),
                "dataverse": CachedProbe(lambda: reachable(settings.dataverse_url)),
            },
            mailbox_faults=mailbox_faults.faults,
        ),
        booking_store=booking_store,
        bookings=bookings,
        idempotency=TableIdempotencyStore(tables),
        publisher=publisher,
        relay=relay,
        config_repository=repository,
        routing_store=routing_store,
        routing=routing,
        dataverse_sync=DataverseSync(
            dataverse=dataverse, bookings=booking_store, config=repository, runner=leased("dataverse")
        ),
        webhook_ledger=webhook_ledger,
        dynamics_webhook=DynamicsWebhook(
            bookings=booking_store,
            changes=bookings,
            ledger=webhook_ledger,
            dataverse=dataverse,
            clock=clock,
            application_user_id=settings.dynamics_application_user_id,
            post_image_name=settings.dynamics_post_image_name,
            event_types=repository,
        ),
        calendars=calendars,
        outlook_links=outlook_links,
        subscription_store=subscription_store,
        outlook_sync=outlook_sync,
        subscriptions=subscriptions,
        outlook_reconciler=OutlookReconciler(
            calendars=calendars,
            links=outlook_links,
            bookings=booking_store,
            changes=bookings,
            event_types=repository,
            cache=busy_times,
            delta_links=subscription_store,
            lifecycle=subscriptions,
            clock=clock,
            faults=mailbox_faults,
            retry_sync=lambda booking: outlook_sync.apply(
                booking_event(
                    booking=booking_snapshot(booking),
                    event_type=BOOKING_CREATED,
                    time=clock.now(),
                    traceparent=current_traceparent(),
                )
            ),
        ),
        graph_changes=change_queue_from_settings(settings),
        dynamics_changes=change_queue_from_settings(settings, settings.dynamics_changes_queue),
        webhook_sender=webhook_sender,
        webhooks=WebhookService(
            store=webhook_store,
            sender=webhook_sender,
            clock=clock,
            local_development=settings.local_development,
        ),
        manage=ManageService(
            links=links,
            bookings=bookings,
            store=booking_store,
            config=repository,
            slots=slots,
            busy=busy_times,
            clock=clock,
        ),
        page_limits=TablePageLimits(tables),
        page_slots=SlotService(
            config=repository, busy=busy_times, clock=clock, commitments=booking_store, routing=page_routing
        ),
        page_offline_slots=SlotService(
            config=repository,
            busy=NoOutlook(),
            clock=clock,
            commitments=booking_store,
            routing=page_routing_offline,
        ),
        page_bookings=bookings_routed_by(page_routing),
    )


_lock = threading.Lock()
_current: Services | None = None


def services() -> Services:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = build_services(current_settings())
    return _current


def install_services(value: Services | None) -> None:
    """Replace the services (tests inject a clock this way); `None` rebuilds from the environment."""
    global _current
    with _lock:
        if _current is not None and _current is not value:
            _current.close()
        _current = value


def reset_services() -> None:
    """Rebuild everything, the settings too, from the environment on next use."""
    forget_settings()
    install_services(None)
