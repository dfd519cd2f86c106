"""`/admin/webhooks/{webhookId}` (subscriptions) and `/admin/webhooks/{webhookId}/deliveries` (the log).

The secret is accepted on PUT and never returned: responses carry id, url, events and times only.
See docs/webhooks.md for what subscribers receive and how to verify it.
"""

from __future__ import annotations

from typing import Annotated

import azure.functions as func
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

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
from http_api.problems import invalid_request
from http_api.schemas import Problem
from scheduling_core.documents.config import SLUG_PATTERN
from scheduling_core.domain.webhooks import (
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    MIN_SECRET_LENGTH,
    DeliveryAttempt,
    WebhookSubscription,
    event_filter_problem,
    secret_problem,
    url_problem,
)

bp = func.Blueprint()


def _checked(problem: str | None, value: str) -> str:
    if problem is not None:
        raise ValueError(problem)
    return value


EventFilter = Annotated[str, AfterValidator(lambda v: _checked(event_filter_problem(v), v))]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="https URL of a public host that receives the events (http to localhost only in local "
        "development)",
    )
    events: list[EventFilter] = Field(
        min_length=1,
        max_length=10,
        description="Event types to receive: booking.created, booking.rescheduled, booking.cancelled, "
        "booking.reassigned, or booking.* for all",
    )
    secret: SecretStr = Field(
        description="Key of the HMAC-SHA256 signature (X-Signature-256); stored, never returned",
        json_schema_extra={"minLength": MIN_SECRET_LENGTH, "maxLength": MAX_SECRET_LENGTH},
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # The shape only; whether a loopback http receiver is allowed depends on the environment and is
        # decided by the service (WebhookService.put), which refuses with the same 422 on `url`.
        return _checked(url_problem(value, local_development=True), value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        _checked(secret_problem(value.get_secret_value()), "")
        return value


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    createdAt: str
    updatedAt: str


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookDeliveryOut(BaseModel):
    """One attempt to deliver one event (no body, no secret)."""

    eventId: str = Field(description="The CloudEvent id, also sent as Webhook-Id")
    eventType: str
    attempt: int = Field(description="1 for the first attempt")
    outcome: str = Field(description="delivered, retrying or gave-up")
    statusCode: int | None = Field(default=None, description="The receiver's HTTP status, if it answered")
    error: str | None = None
    attemptedAt: str
    durationMs: int
    nextAttemptAt: str | None = Field(default=None, description="When the next attempt is due (retrying)")


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryOut] = Field(description="Newest attempt first")


class DeliveriesQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    eventId: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=100, ge=1, le=500)


def _out(subscription: WebhookSubscription) -> WebhookOut:
    return WebhookOut(
        id=subscription.id,
        url=subscription.url,
        events=list(subscription.events),
        createdAt=subscription.created_at.isoformat(),
        updatedAt=subscription.updated_at.isoformat(),
    )


def _delivery_out(attempt: DeliveryAttempt) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        eventId=attempt.event_id,
        eventType=attempt.event_type,
        attempt=attempt.attempt,
        outcome=attempt.outcome.value,
        statusCode=attempt.status_code,
        error=attempt.error,
        attemptedAt=attempt.attempted_at.isoformat(),
        durationMs=attempt.duration_ms,
        nextAttemptAt=None if attempt.next_attempt_at is None else attempt.next_attempt_at.isoformat(),
    )


@endpoint(
    bp,
    route="admin/webhooks",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="GET",
            operation_id="ListWebhooks",
            summary="List webhook subscriptions",
            tag="admin",
            responses={200: WebhookList, 401: Problem, 403: Problem},
        ),
    ),
)
def admin_list_webhooks(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(WebhookList(items=[_out(s) for s in services().webhooks.list_subscriptions()]))


@endpoint(
    bp,
    route="admin/webhooks/{webhookId}",
    access=Access.ADMIN,
    operations=document_operations(
        name="Webhook", label="a webhook subscription", request=WebhookIn, out=WebhookOut
    ),
)
def admin_webhook(req: func.HttpRequest) -> func.HttpResponse:
    webhook_id = route_param(req, "webhookId", SLUG_PATTERN)
    webhooks = services().webhooks

    def put() -> tuple[WebhookOut, bool]:
        body = read_json(req, WebhookIn)
        stored, created = webhooks.put(
            webhook_id, url=body.url, events=body.events, secret=body.secret.get_secret_value()
        )
        return _out(stored), created

    return document_methods(
        req,
        get=lambda: _out(webhooks.get(webhook_id)),
        put=put,
        delete=lambda: webhooks.delete(webhook_id),
    )


@endpoint(
    bp,
    route="admin/webhooks/{webhookId}/deliveries",
    access=Access.ADMIN,
    operations=(
        Operation(
            method="GET",
            operation_id="ListWebhookDeliveries",
            summary="Delivery log of a webhook subscription, newest attempt first",
            tag="admin",
            query=(
                QueryParam(name="eventId", description="Only the attempts of this event (CloudEvent id)"),
                QueryParam(
                    name="limit",
                    description="At most this many attempts (1-500, default 100)",
                    schema={"type": "integer", "minimum": 1, "maximum": 500},
                ),
            ),
            responses={200: WebhookDeliveryList, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
        ),
    ),
)
def admin_webhook_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    webhook_id = route_param(req, "webhookId", SLUG_PATTERN, kind="webhook")
    try:
        query = DeliveriesQuery.model_validate(dict(req.params))
    except ValidationError as exc:
        raise invalid_request(exc) from None
    attempts = services().webhooks.deliveries(webhook_id, event_id=query.eventId, limit=query.limit)
    return json_response(WebhookDeliveryList(items=[_delivery_out(a) for a in attempts]))
