"""Daily reconciliation of bookings with their Dynamics appointments (see docs/reconciliation.md).

Runs at 02:30 UTC over the past day and the next 30 days: the bookings a person may still look at or
act on. Older drift is repaired on demand with `POST /admin/reconcile`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

import azure.functions as func

from bootstrap.composition import services
from scheduling_core.domain.intervals import Interval
from scheduling_core.runtime.telemetry import span

bp = func.Blueprint()
log = logging.getLogger(__name__)

PAST: Final = timedelta(days=1)
AHEAD: Final = timedelta(days=30)


@bp.timer_trigger(arg_name="timer", schedule="0 30 2 * * *", run_on_startup=False, use_monitor=True)
def reconcile_dataverse(timer: func.TimerRequest) -> None:
    with span("reconcile_dataverse"):  # the events it writes carry this trace
        _reconcile()


def _reconcile() -> None:
    current = services()
    now = current.clock.now()
    report = current.reconciler().reconcile(Interval(now - PAST, now + AHEAD))
    for item in report.items:
        log.warning(
            "reconcile: booking %s %s (%s)%s",
            item.booking_id,
            item.action.value,
            ", ".join(item.differences),
            f": {item.error}" if item.error else "",
        )
