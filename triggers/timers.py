"""Timer triggers: the outbox relay (the slow path behind the after-commit publish) and hold clean-up.

Neither is needed for correctness of a single request: an expired hold stops blocking at its expiry
without clean-up, and the after-commit publish usually sends events at once. The relay guarantees that an
event whose publish failed (or whose process died after commit) is still published.
"""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap.composition import services
from scheduling_core.runtime.telemetry import span

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="*/30 * * * * *", run_on_startup=False, use_monitor=True)
def relay_outbox(timer: func.TimerRequest) -> None:
    with span("relay_outbox"):  # each publish continues its own event's trace (outbox.py)
        report = services().relay.relay()
        log.info("outbox relay: %s", report, extra={"event": "outbox.relayed"})


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=True)
def expire_holds(timer: func.TimerRequest) -> None:
    with span("expire_holds"):
        removed = services().bookings.expire_holds()
        log.info("expired holds removed: %d", removed, extra={"event": "holds.expired"})
