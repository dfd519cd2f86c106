"""`apply_dynamics_change` (queue `dynamics-changes`): one Dynamics webhook context per message.

`POST /dynamics/webhook` stores the context here and answers at once (Dynamics retries a post only on
502/503/504, once); this trigger applies it with `DynamicsWebhook.handle_queued`. Raising abandons the
message for redelivery (Dataverse or storage unavailable); after `maxDeliveryCount` it dead-letters. A
context no retry could read is logged and completed. See docs/dynamics-webhook.md.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from bootstrap.composition import services
from scheduling_core.errors import MalformedContext
from triggers.messages import receiving

bp = func.Blueprint()
#: The `dynamics-changes` queue's maxDeliveryCount (infra); the last failed delivery counts a dead letter.
MAX_DELIVERY_COUNT = 10
log = logging.getLogger(__name__)


@bp.function_name("apply_dynamics_change")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="dynamics-changes", connection="ServiceBusConnection"
)
def apply_dynamics_change(msg: func.ServiceBusMessage) -> None:
    # Continues the trace of the webhook request that stored the context.
    with receiving(msg, handler="apply-dynamics-change", max_delivery_count=MAX_DELIVERY_COUNT):
        _apply(msg)


def _apply(msg: func.ServiceBusMessage) -> None:
    try:
        message = json.loads(msg.get_body())
    except ValueError:
        log.error("dynamics-changes: message %s is not JSON; dropped", msg.message_id)
        return  # redelivering cannot help
    if not isinstance(message, dict):
        log.error("dynamics-changes: message %s is not an object; dropped", msg.message_id)
        return
    try:
        outcome = services().dynamics_webhook.handle_queued(message)
    except MalformedContext as exc:
        log.error("dynamics-changes: message %s is not a readable context (%s); dropped", msg.message_id, exc)
        return
    log.info("dynamics-changes %s (delivery %s): %s", msg.message_id, msg.delivery_count, outcome.value)
