"""Team operations (api.md, admin key): `POST /admin/hosts/{hostId}/reassign`."""

from __future__ import annotations

from datetime import datetime

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, endpoint, json_response, read_json, route_param
from http_api.schemas import Problem
from scheduling_core.documents.config import HOST_ID_PATTERN
from scheduling_core.services.reassign import DEFAULT_PAGE, MAX_PAGE, ReassignPage, reassign_host

bp = func.Blueprint()


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: AwareDatetime = Field(alias="from", description="Bookings starting at or after this instant")
    to: AwareDatetime = Field(description="... and before this one")
    toHostId: str | None = Field(
        default=None, pattern=HOST_ID_PATTERN, description="Absent: each booking's event type routing picks"
    )
    reason: str = Field(min_length=1, max_length=1000)
    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Bookings handled by this call")
    continuationToken: str | None = Field(
        default=None, max_length=200, description="From the previous answer"
    )

    @model_validator(mode="after")
    def _range(self) -> ReassignIn:
        if self.to <= self.from_:
            raise ValueError("to must be after from")
        return self


class MovedOut(BaseModel):
    bookingId: str
    toHostId: str


class UnplacedOut(BaseModel):
    bookingId: str
    why: str


class ReassignOut(BaseModel):
    moved: list[MovedOut]
    unplaced: list[UnplacedOut]
    continuationToken: str | None = Field(
        default=None, description="More bookings remain: call again with this token (same body otherwise)"
    )


def reassign_out(page: ReassignPage) -> ReassignOut:
    return ReassignOut(
        moved=[MovedOut(bookingId=m.booking_id, toHostId=m.to_host_id) for m in page.moved],
        unplaced=[UnplacedOut(bookingId=u.booking_id, why=u.why) for u in page.unplaced],
        continuationToken=page.continuation_token,
    )


def reassign_page(
    host_id: str,
    start: datetime,
    end: datetime,
    to_host_id: str | None,
    reason: str,
    limit: int = DEFAULT_PAGE,
    token: str | None = None,
) -> ReassignPage:
    wired = services()
    wired.config.get_host(host_id)  # 404 for an unknown host
    if to_host_id is not None:
        wired.config.get_host(to_host_id)
    return reassign_host(
        bookings=wired.bookings,
        store=wired.booking_store,
        host_id=host_id,
        start=start,
        end=end,
        to_host_id=to_host_id,
        reason=reason,
        limit=limit,
        continuation_token=token,
    )


@endpoint(
    bp,
    route="admin/hosts/{hostId}/reassign",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="POST",
            operation_id="ReassignHostBookings",
            summary="Move a host's bookings in a range to another host",
            tag="admin",
            request=ReassignIn,
            responses={
                200: ReassignOut,
                400: Problem,
                401: Problem,
                403: Problem,
                404: Problem,
                422: Problem,
                503: Problem,
            },
        ),
    ),
)
def reassign(req: func.HttpRequest) -> func.HttpResponse:
    host_id = route_param(req, "hostId", HOST_ID_PATTERN, kind="host")
    body = read_json(req, ReassignIn)
    page = reassign_page(
        host_id, body.from_, body.to, body.toHostId, body.reason, body.limit, body.continuationToken
    )
    return json_response(reassign_out(page))
