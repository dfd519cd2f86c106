"""`/admin/routing/{ruleSetId}` (rule sets) and `/routing/decisions` (the audit of every routing decision)."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import (
    Operation,
    QueryParam,
    document_methods,
    document_operations,
    endpoint,
    json_response,
    read_json,
    route_param,
)
from http_api.schemas import Problem, RoutingDecisionList, RoutingDecisionOut
from scheduling_core.documents.config import SLUG_PATTERN
from scheduling_core.documents.rule_sets import RuleSetDoc
from scheduling_core.errors import FieldError, InvalidRequest

bp = func.Blueprint()
DECISION_ID = r"^rd_[a-f0-9]{24}$"


class RuleSetOut(RuleSetDoc):
    id: str


class RuleSetList(BaseModel):
    items: list[RuleSetOut]


_ERRORS: dict[int, type[Problem] | None] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}


def _out(rule_set_id: str, doc: RuleSetDoc) -> RuleSetOut:
    return RuleSetOut(id=rule_set_id, **doc.model_dump(by_alias=True))


@endpoint(
    bp,
    route="admin/routing",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="GET",
            operation_id="ListRuleSets",
            summary="List routing rule sets",
            tag="admin",
            responses={200: RuleSetList, 401: Problem, 403: Problem},
        ),
    ),
)
def admin_list_rule_sets(req: func.HttpRequest) -> func.HttpResponse:
    docs = services().rule_sets.list()
    return json_response(RuleSetList(items=[_out(k, d) for k, d in docs]))


@endpoint(
    bp,
    route="admin/routing/{ruleSetId}",
    access=Access.ADMIN,
    operations=document_operations(
        name="RuleSet", label="a routing rule set", request=RuleSetDoc, out=RuleSetOut
    ),
)
def admin_rule_set(req: func.HttpRequest) -> func.HttpResponse:
    rule_set_id = route_param(req, "ruleSetId", SLUG_PATTERN)
    rule_sets = services().rule_sets

    def put() -> tuple[RuleSetOut, bool]:
        doc = read_json(req, RuleSetDoc)
        created = rule_sets.put(rule_set_id, doc)
        return _out(rule_set_id, doc), created

    return document_methods(
        req,
        get=lambda: _out(rule_set_id, rule_sets.get(rule_set_id)),
        put=put,
        delete=lambda: rule_sets.delete(rule_set_id),
    )


@endpoint(
    bp,
    route="routing/decisions",
    access=Access.API,
    operations=(
        Operation(
            method="GET",
            operation_id="ListRoutingDecisions",
            summary="Routing decisions for a record",
            tag="routing",
            query=(QueryParam(name="recordId", description="Dynamics record id", required=True),),
            responses={200: RoutingDecisionList, 401: Problem, 403: Problem, 422: Problem},
        ),
    ),
)
def list_routing_decisions(req: func.HttpRequest) -> func.HttpResponse:
    record_id = (req.params.get("recordId") or "").strip()
    if not record_id or len(record_id) > 100:
        raise InvalidRequest(
            "recordId is required.",
            (FieldError(field="recordId", message="required, at most 100 characters"),),
        )
    items = services().routing.for_record(record_id)
    return json_response(RoutingDecisionList(items=[RoutingDecisionOut.model_validate(i) for i in items]))


@endpoint(
    bp,
    route="routing/decisions/{decisionId}",
    access=Access.API,
    operations=(
        Operation(
            method="GET",
            operation_id="GetRoutingDecision",
            summary="Why a meeting went to whom",
            tag="routing",
            responses={200: RoutingDecisionOut, 401: Problem, 403: Problem, 404: Problem},
        ),
    ),
)
def get_routing_decision(req: func.HttpRequest) -> func.HttpResponse:
    decision_id = route_param(req, "decisionId", DECISION_ID, kind="routing decision")
    return json_response(RoutingDecisionOut.model_validate(services().routing.get(decision_id)))
