"""`sync-outlook`: booking events from the `outlook` subscription of `booking-events` into Outlook.

Sessions are on (session id = booking id), so one booking's events reach one invocation at a time,
in order. The handler parses the CloudEvent and calls one service, `OutlookSync.apply`; returning
completes the message, raising abandons it for redelivery (Service Bus triggers have no retry policy
of their own: retries are redeliveries up to the subscription's `maxDeliveryCount`, then the message
dead-letters and the booking's `outlook.syncStatus` already says `failed`). See docs/outlook-sync.md.
"""

from __future__ import annotations

import logging

import azure.functions as func

from scheduling_core.composition import services
from scheduling_core.events import from_json

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("sync_outlook")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="booking-events",
    subscription_name="outlook",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
def sync_outlook(msg: func.ServiceBusMessage) -> None:
    event = from_json(msg.get_body())  # MalformedEvent: raised, so the unreadable message dead-letters
    outcome = services().outlook_sync.apply(event, delivery_count=msg.delivery_count or 1)
    log.info("sync-outlook: %s (delivery %s): %s", event.id, msg.delivery_count, outcome)
