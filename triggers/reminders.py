"""`send_reminders` (every 5 minutes; locally also `POST /admin/functions/send_reminders`).

Each due reminder is emailed once (scheduling_core/services/reminders.py); a run that overlaps another
instance's, or repeats after a crash, sends nothing twice.
"""

from __future__ import annotations

import logging

import azure.functions as func

from bootstrap.composition import services
from scheduling_core.adapters.reminder_table import TableReminderClaims
from scheduling_core.runtime.telemetry import span
from scheduling_core.services.reminders import ReminderService

bp = func.Blueprint()
log = logging.getLogger(__name__)


def reminder_service() -> ReminderService:
    s = services()
    return ReminderService(
        event_types=s.config_repository,
        bookings=s.booking_store,
        claims=TableReminderClaims(s.tables),
        mailer=s.graph,
        clock=s.clock,
        sender=s.settings.reminder_sender,
        manage_url=s.manage.url,  # None while manage links are off (no MANAGE_LINK_KEY)
    )


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=True)
def send_reminders(timer: func.TimerRequest) -> None:
    with span("send_reminders"):
        run = reminder_service().send_due()
        log.info("reminders: %s", run, extra={"event": "reminders.sent"})
