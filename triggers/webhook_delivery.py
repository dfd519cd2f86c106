"""`deliver-webhooks`: booking events from the `webhooks` subscription of `booking-events` to subscribers;
`retry_webhooks`: the per-subscriber retry schedule.

The trigger calls `WebhookService.dispatch` with the message body exactly as published (subscribers get
those bytes). Returning completes the message even when a subscriber failed: that subscriber's retries
run on its own schedule (the timer), not by Service Bus redelivery. Raising (storage down, or a body
that is no CloudEvent: `MalformedEvent`, which dead-letters) abandons it; the redelivery skips every
subscriber that already has the event. See docs/webhooks.md.
"""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap.composition import services
from triggers.messages import consuming

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("deliver_webhooks")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="booking-events",
    subscription_name="webhooks",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
def deliver_webhooks(msg: func.ServiceBusMessage) -> None:
    current = services()
    with consuming(
        msg,
        handler="deliver-webhooks",
        max_delivery_count=current.settings.sync_max_delivery_count,
        clock=current.clock,
    ) as received:
        report = current.webhooks.dispatch(received.event, msg.get_body())
        log.info(
            "deliver-webhooks: %s (delivery %s): %s",
            received.event.id,
            received.delivery_count,
            report,
            extra={"event": "webhooks.dispatched"},
        )


@bp.timer_trigger(arg_name="timer", schedule="*/30 * * * * *", run_on_startup=False, use_monitor=True)
def retry_webhooks(timer: func.TimerRequest) -> None:
    report = services().webhooks.retry_due()
    log.info("webhook retries: %s", report)
