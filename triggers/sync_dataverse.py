"""`sync-dataverse`: booking events from the `dataverse` subscription of `booking-events` into Dynamics.

Sessions are on (session id = booking id), so Service Bus hands one booking's events to one
invocation at a time, in order. The handler parses the CloudEvent and calls one service,
`DataverseSync.apply`; returning completes the message, raising abandons it for redelivery
(and, after `maxDeliveryCount` deliveries, dead-letters it). See docs/dataverse-sync.md.
"""

from __future__ import annotations

import logging

import azure.functions as func

from scheduling_core.composition import services
from scheduling_core.events import from_json

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
    event = from_json(msg.get_body())  # MalformedEvent: raised, so the unreadable message dead-letters
    outcome = services().dataverse_sync.apply(event, delivery_count=msg.delivery_count or 1)
    log.info("sync-dataverse: %s (delivery %s): %s", event.id, msg.delivery_count, outcome)
