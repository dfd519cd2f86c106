"""`sync-dataverse`: booking events from the `dataverse` subscription of `booking-events` into Dynamics.

Sessions are on (session id = booking id), so Service Bus hands one booking's events to one
invocation at a time, in order. The handler parses the CloudEvent and calls one service,
`DataverseSync.apply`; returning completes the message, raising abandons it for redelivery
(and, after `maxDeliveryCount` deliveries, dead-letters it). See docs/dataverse-sync.md.

Throttling past the client's budget (429/503 with a long `Retry-After`) does not raise: the service
schedules a copy of the message for after the `Retry-After` and the message completes (`DEFERRED`, see
`sync_runner`); the copy's `throttleCount` comes in as `received.throttle_count`.
"""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap.composition import services
from scheduling_core.services.dataverse_sync import SyncOutcome
from triggers.messages import consuming

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("sync_dataverse")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="booking-events",
    subscription_name="dataverse",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
def sync_dataverse(msg: func.ServiceBusMessage) -> None:
    current = services()
    # MalformedEvent is raised from `consuming`, so the unreadable message dead-letters.
    with consuming(
        msg,
        handler="sync-dataverse",
        max_delivery_count=current.settings.sync_max_delivery_count,
        clock=current.clock,
    ) as received:
        outcome = current.dataverse_sync.apply(
            received.event,
            delivery_count=received.delivery_count,
            throttle_count=received.throttle_count,
        )
        if outcome is SyncOutcome.SYNCED:
            received.applied()
        log.info(
            "sync-dataverse: %s (delivery %s): %s",
            received.event.id,
            received.delivery_count,
            outcome,
            extra={"event": "sync.dataverse", "outcome": str(outcome)},
        )
