"""`send_reminders` (every 5 minutes; locally also `POST /admin/functions/send_reminders`).

Each due reminder is emailed once (scheduling_core/services/reminders.py); a run that overlaps another
instance's, or repeats after a crash, sends nothing twice.
"""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap.composition import services
from scheduling_core.runtime.telemetry import span

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=True)
def send_reminders(timer: func.TimerRequest) -> None:
    with span("send_reminders"):
        run = services().reminders().send_due()
        log.info("reminders: %s", run, extra={"event": "reminders.sent"})
