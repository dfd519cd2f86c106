"""`POST /dynamics/webhook`: a Dynamics service endpoint (contract Webhook, auth HttpHeader) posts here.

The shared secret (`DYNAMICS_WEBHOOK_SECRET`) comes in a header (`DYNAMICS_WEBHOOK_HEADER`, default
`x-scheduling-webhook-key`), compared in constant time; without a configured secret every call is
refused. Dynamics retries a failed post only on 502/503/504 and only once, so nothing is processed here:
a readable context is stored on the `dynamics-changes` queue and answered 202 at once; the queue
trigger (`triggers.dynamics_changes`) applies it with Service Bus's retries. Only when the queue cannot
take it is the answer 503, the one failure Dynamics tries again (docs/dynamics-webhook.md).
"""

from __future__ import annotations

import hmac
import logging

import azure.functions as func
from pydantic import BaseModel

from bootstrap.composition import services
from http_api.auth import Access
from http_api.endpoint import MAX_BODY_BYTES, Operation, QueryParam, endpoint, json_response, read_body_json
from http_api.schemas import Problem
from scheduling_core.errors import TransientError, Unauthorized, UpstreamUnavailable
from scheduling_core.runtime.redaction import add_sensitive
from scheduling_core.services.dynamics_webhook import ExecutionContext, queued_change

bp = func.Blueprint()
log = logging.getLogger(__name__)

SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"
#: Dynamics posts bodies up to 256 KB before it strips parameters and images.
MAX_WEBHOOK_BYTES = max(MAX_BODY_BYTES, 512 * 1024)


class WebhookAccepted(BaseModel):
    operationId: str | None = None
    outcome: str


def _check_secret(req: func.HttpRequest) -> None:
    settings = services().settings
    expected = settings.dynamics_webhook_secret
    given = req.headers.get(settings.dynamics_webhook_header)
    add_sensitive([given])  # never in a log line or span of this request, even when it is wrong
    if not expected or given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("The webhook secret header is missing or not valid.")


@endpoint(
    bp,
    route="dynamics/webhook",
    access=Access.PUBLIC,
    operations=(
        Operation(
            method="POST",
            operation_id="PostDynamicsWebhook",
            summary="Dynamics service-endpoint webhook (RemoteExecutionContext)",
            tag="callbacks",
            responses={202: WebhookAccepted, 400: Problem, 401: Problem, 413: Problem, 503: Problem},
            headers=(
                QueryParam(name="x-scheduling-webhook-key", description="The shared secret", required=True),
            ),
        ),
    ),
)
def dynamics_webhook(req: func.HttpRequest) -> func.HttpResponse:
    _check_secret(req)
    payload = read_body_json(req, MAX_WEBHOOK_BYTES)
    size_exceeded = (req.headers.get(SIZE_EXCEEDED_HEADER) or "").lower() not in ("", "false")
    context = ExecutionContext.parse(payload)  # refuse what no retry could read (400), before storing it
    try:
        services().dynamics_changes.send([queued_change(payload, size_exceeded=size_exceeded)])
    except TransientError as exc:
        # Not stored: 503 is one of the three answers Dynamics tries once more (use-webhooks).
        log.warning("dynamics webhook %s: the queue did not take it: %s", context.operation_id, exc)
        raise UpstreamUnavailable("Service Bus", "The change could not be stored.") from None
    log.info("dynamics webhook %s: queued", context.operation_id)
    return json_response(WebhookAccepted(operationId=context.operation_id, outcome="queued"), 202)
