"""`POST /admin/reconcile?from=&to=`: compare bookings with their Dynamics appointments and repair drift.

`from`/`to` are ISO instants with an offset, or dates (UTC days; `to` as a date is inclusive). The range
must be non-empty and at most 62 days. See docs/reconciliation.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final

import azure.functions as func
from pydantic import BaseModel, Field

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, QueryParam, endpoint, json_response
from http_api.schemas import Problem
from scheduling_core.domain.intervals import Interval
from scheduling_core.errors import FieldError, InvalidRequest
from scheduling_core.services.dataverse_reconcile import ReconcileReport

bp = func.Blueprint()

MAX_RANGE: Final = timedelta(days=62)


class ReconcileItemOut(BaseModel):
    bookingId: str
    appointmentId: str
    action: str = Field(
        description="created, updated, orphan, failed; for a person's change in Dynamics: cancelled, "
        "followed (the booking moved) or flagged (drift recorded)"
    )
    differences: list[str] = Field(description="What differed: missing, scheduledstart, scheduledend, ...")
    error: str | None = None


class ReconcileReportOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    checked: int = Field(description="Bookings overlapping the range")
    inSync: int
    created: int
    updated: int
    followed: int = Field(description="People's changes in Dynamics the bookings followed or flagged")
    orphans: int = Field(description="Appointments of ours whose booking no longer exists (left alone)")
    failed: int
    items: list[ReconcileItemOut] = Field(description="Every booking not in sync, and every orphan")

    model_config = {"populate_by_name": True}


def report_out(report: ReconcileReport) -> ReconcileReportOut:
    return ReconcileReportOut(
        from_=report.window.start,
        to=report.window.end,
        checked=report.checked,
        inSync=report.in_sync,
        created=report.created,
        updated=report.updated,
        followed=report.followed,
        orphans=report.orphans,
        failed=report.failed,
        items=[
            ReconcileItemOut(
                bookingId=item.booking_id,
                appointmentId=item.appointment_id,
                action=item.action.value,
                differences=list(item.differences),
                error=item.error,
            )
            for item in report.items
        ],
    )


def _invalid(name: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, (FieldError(field=name, message=message),))


def _bound(req: func.HttpRequest, name: str, *, end: bool) -> datetime:
    raw = (req.params.get(name) or "").strip()
    if not raw:
        raise _invalid(name, f"'{name}' is required (an ISO instant with offset, or a date).")
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise _invalid(name, f"'{name}' is not a date (YYYY-MM-DD).") from None
        return datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, f"'{name}' is not an ISO instant.") from None
    if instant.tzinfo is None:
        raise _invalid(name, f"'{name}' needs an offset (e.g. Z or +01:00).")
    return instant.astimezone(UTC)


def parse_window(req: func.HttpRequest) -> Interval:
    start = _bound(req, "from", end=False)
    end = _bound(req, "to", end=True)
    if end <= start:
        raise _invalid("to", "'to' must be after 'from'.")
    if end - start > MAX_RANGE:
        raise _invalid("to", f"The range may be at most {MAX_RANGE.days} days.")
    return Interval(start, end)


@endpoint(
    bp,
    route="admin/reconcile",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="POST",
            operation_id="Reconcile",
            summary="Compare bookings with Dynamics appointments in a range and repair drift",
            tag="admin",
            query=(
                QueryParam(
                    name="from", description="Start: ISO instant with offset, or a date", required=True
                ),
                QueryParam(
                    name="to", description="End: ISO instant (exclusive) or a date (inclusive)", required=True
                ),
            ),
            responses={200: ReconcileReportOut, 401: Problem, 403: Problem, 422: Problem, 503: Problem},
        ),
    ),
)
def admin_reconcile(req: func.HttpRequest) -> func.HttpResponse:
    window = parse_window(req)
    return json_response(report_out(services().reconciler().reconcile(window)))
