"""Graph's callbacks: `POST /graph/notifications` (change notifications) and `POST /graph/lifecycle`.

Both are public (Graph sends no key) and validated per item by `clientState`, compared in constant time
against the hash stored for that subscription. Either answers Graph's validation handshake: with
`?validationToken=...` the token goes back unchanged as `text/plain` and nothing else happens.
Valid items are queued to `graph-changes` and answered 202 at once; items that fail the check are
dropped, counted and logged, never processed.

Latency is a correctness matter here: Graph counts a notification not answered within about 3 s as
slow, throttles an endpoint once more than 10% of its answers in 10 minutes are slow and drops its
notifications beyond 15% ("Throttling", learn.microsoft.com/graph/change-notifications-delivery-webhooks).
So a request holds at most `MAX_NOTIFICATION_ITEMS` items and `MAX_NOTIFICATION_BYTES` bytes, and
validating it costs a bounded number of storage reads (`OutlookSubscriptions.verify`), never one per item.
The handshake echo is `text/plain` with `X-Content-Type-Options: nosniff`: the token is attacker-chosen
text reflected verbatim, so no browser may sniff it into HTML.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import Operation, QueryParam, endpoint, json_response, read_json
from http_api.schemas import Problem
from scheduling_core.services.outlook_reconcile import graph_change_message

bp = func.Blueprint()
log = logging.getLogger(__name__)

#: Graph batches notifications; a burst of hundreds of items is far above the 64 KB API limit.
MAX_NOTIFICATION_BYTES = 2 * 1024 * 1024
#: Items one request may carry (more is a 422 before any storage read).
MAX_NOTIFICATION_ITEMS = 1000


class NotificationItem(BaseModel):
    """One `changeNotification` (Graph v1.0); unknown properties are kept, not refused."""

    model_config = ConfigDict(extra="allow")

    subscriptionId: str | None = None
    clientState: str | None = None
    changeType: str | None = None
    lifecycleEvent: str | None = None
    resource: str | None = None
    resourceData: dict[str, Any] | None = None


class NotificationCollection(BaseModel):
    """A `changeNotificationCollection` as Graph posts it."""

    value: list[NotificationItem] = Field(max_length=MAX_NOTIFICATION_ITEMS)


class NotificationsAccepted(BaseModel):
    accepted: int
    rejected: int


_HANDSHAKE = QueryParam(
    name="validationToken", description="Graph's validation handshake: echoed back as text/plain"
)


def _handshake(req: func.HttpRequest) -> func.HttpResponse | None:
    token = req.params.get("validationToken")
    if token is None:
        return None
    return func.HttpResponse(
        token, status_code=200, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


def _accept(req: func.HttpRequest, kind: str) -> func.HttpResponse:
    handshake = _handshake(req)
    if handshake is not None:
        return handshake
    collection = read_json(req, NotificationCollection, MAX_NOTIFICATION_BYTES)
    svc = services()
    items = [item.model_dump(exclude_none=True) for item in collection.value]
    if svc.subscriptions is None:
        log.warning("graph %s: %d items, but subscriptions are not managed here; dropped", kind, len(items))
        return json_response(NotificationsAccepted(accepted=0, rejected=len(items)), 202)
    verification = svc.subscriptions.verify(items)
    if verification.rejected:
        log.warning(
            "graph %s: %d items failed the clientState check and were dropped", kind, verification.rejected
        )
    messages = [graph_change_message(v.host_id, v.subscription_id, v.item) for v in verification.valid]
    if messages:
        svc.graph_changes.send(messages)
    return json_response(NotificationsAccepted(accepted=len(messages), rejected=verification.rejected), 202)


def _operation(operation_id: str, summary: str) -> Operation:
    return Operation(
        method="POST",
        operation_id=operation_id,
        summary=summary,
        tag="callbacks",
        request=NotificationCollection,
        responses={200: None, 202: NotificationsAccepted, 400: Problem, 413: Problem, 422: Problem},
        query=(_HANDSHAKE,),
    )


@endpoint(
    bp,
    route="graph/notifications",
    access=Access.PUBLIC,
    operations=(_operation("PostGraphNotifications", "Graph change notifications (clientState-checked)"),),
)
def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    return _accept(req, "notifications")


@endpoint(
    bp,
    route="graph/lifecycle",
    access=Access.PUBLIC,
    operations=(
        _operation(
            "PostGraphLifecycle",
            "Graph lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed)",
        ),
    ),
)
def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    return _accept(req, "lifecycle")
