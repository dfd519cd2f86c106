"""Outlook-side changes: the `graph-changes` queue trigger and the subscription/resync timers.

- `reconcile_outlook_change` (queue `graph-changes`): one validated notification or lifecycle item per
  message, handed to `OutlookReconciler.handle`. Raising abandons the message for redelivery (Graph
  or storage unavailable); after `maxDeliveryCount` it dead-letters.
- `maintain_graph_subscriptions` (hourly): renews subscriptions that expire within 12 hours, creates
  missing or failed ones, removes those of deleted or inactive hosts.
- `resync_outlook` (daily 03:15 UTC): for every active host a fresh full delta round over a new window
  (the stored link's window was fixed when its round began), the safety net behind lost
  notifications. See docs/outlook-sync.md.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from bootstrap.composition import services
from triggers.messages import receiving

bp = func.Blueprint()
#: The `graph-changes` queue's maxDeliveryCount (infra); the last failed delivery counts a dead letter.
MAX_DELIVERY_COUNT = 10
log = logging.getLogger(__name__)


@bp.function_name("reconcile_outlook_change")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name="graph-changes", connection="ServiceBusConnection")
def reconcile_outlook_change(msg: func.ServiceBusMessage) -> None:
    # Continues the trace of the Graph callback request that enqueued the notification.
    with receiving(msg, handler="reconcile-outlook-change", max_delivery_count=MAX_DELIVERY_COUNT):
        _reconcile_outlook_change(msg)


def _reconcile_outlook_change(msg: func.ServiceBusMessage) -> None:
    try:
        message = json.loads(msg.get_body())
    except ValueError:
        log.error("graph-changes: message %s is not JSON; dropped", msg.message_id)
        return  # redelivering cannot help, and there is nothing in it to act on
    if not isinstance(message, dict):
        log.error("graph-changes: message %s is not an object; dropped", msg.message_id)
        return
    outcome = services().outlook_reconciler.handle(message)
    log.info("graph-changes %s (delivery %s): %s", msg.message_id, msg.delivery_count, outcome)


@bp.timer_trigger(arg_name="timer", schedule="0 7 * * * *", run_on_startup=False, use_monitor=True)
def maintain_graph_subscriptions(timer: func.TimerRequest) -> None:
    subscriptions = services().subscriptions
    if subscriptions is None:
        log.info("graph subscriptions: PUBLIC_BASE_URL is not set; nothing to maintain")
        return
    log.info("graph subscriptions: %s", subscriptions.maintain())


@bp.timer_trigger(arg_name="timer", schedule="0 15 3 * * *", run_on_startup=False, use_monitor=True)
def resync_outlook(timer: func.TimerRequest) -> None:
    svc = services()
    for host in svc.config.list_hosts():
        if not host.active:
            continue
        try:
            report = svc.outlook_reconciler.resync(host.id, fresh=True)
            log.info("outlook resync %s: %d changes (full=%s)", host.id, report.changes, report.full)
        except Exception:
            log.exception("outlook resync of %s failed; the next run retries", host.id)
