"""`GET /routing/fairness` (api.md, Team operations): a rule set's fairness over a range."""

from __future__ import annotations

from datetime import timedelta

import azure.functions as func
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, QueryParam, endpoint, json_response
from http_api.problems import invalid_request
from http_api.schemas import Problem
from scheduling_core.documents.config import SLUG_PATTERN
from scheduling_core.documents.fields import zone_name
from scheduling_core.domain.timezones import resolve_time_zone

bp = func.Blueprint()
#: A report reads every booking of the range; a year bounds that read.
MAX_RANGE = timedelta(days=366)


class FairnessQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ruleSet: str = Field(pattern=SLUG_PATTERN)
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    timeZone: str = Field(default="UTC", max_length=64)

    _zone = field_validator("timeZone")(zone_name)

    @model_validator(mode="after")
    def _range(self) -> FairnessQuery:
        if self.to <= self.from_:
            raise ValueError("'to' must be after 'from'")
        if self.to - self.from_ > MAX_RANGE:
            raise ValueError("the range may be at most 366 days")
        return self


class HostFairnessOut(BaseModel):
    hostId: str
    weight: int
    bookings: int
    cancelled: int
    noShows: int
    expectedShare: float = Field(description="weight / the weights of every host in the report")
    actualShare: float = Field(description="counted bookings / all counted bookings (routing.md)")


class FairnessOut(BaseModel):
    ruleSet: str
    from_: str = Field(alias="from")
    to: str
    hosts: list[HostFairnessOut]

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


@endpoint(
    bp,
    route="routing/fairness",
    access=Access.API,
    operations=(
        Operation(
            method="GET",
            operation_id="GetRoutingFairness",
            summary="How fairly a rule set shared its bookings",
            tag="routing",
            query=(
                QueryParam(name="ruleSet", description="Routing rule set id", required=True),
                QueryParam(
                    name="from", description="Bookings starting at or after this instant", required=True
                ),
                QueryParam(name="to", description="Bookings starting before this instant", required=True),
                QueryParam(name="timeZone", description="Zone of from and to in the answer (default UTC)"),
            ),
            responses={200: FairnessOut, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
        ),
    ),
)
def routing_fairness(req: func.HttpRequest) -> func.HttpResponse:
    try:
        query = FairnessQuery.model_validate(dict(req.params))
    except ValidationError as exc:
        raise invalid_request(exc) from None
    hosts = services().fairness().report(query.ruleSet, query.from_, query.to)
    zone = resolve_time_zone(query.timeZone)
    out = FairnessOut(
        ruleSet=query.ruleSet,
        from_=query.from_.astimezone(zone).isoformat(),
        to=query.to.astimezone(zone).isoformat(),
        hosts=[
            HostFairnessOut(
                hostId=h.host_id,
                weight=h.weight,
                bookings=h.bookings,
                cancelled=h.cancelled,
                noShows=h.no_shows,
                expectedShare=h.expected_share,
                actualShare=h.actual_share,
            )
            for h in hosts
        ],
    )
    return json_response(out)
