"""`Idempotency-Key` for POST /bookings (api.md): the first response is stored for 24 hours and replayed.

Same key and same body (compared as canonical JSON) → the stored response with `Idempotent-Replayed: true`;
same key, different body → 422 `idempotency-key-reused`; the first request still running → 409
`idempotency-in-progress`. A 5xx is not stored, so a retry after a transient failure does the work again.
What the request creates gets an id derived from key and body (`derived_id`), so a retry after a crash
between commit and answer (the claim then goes stale) finds the booking already made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import azure.functions as func

from bootstrap.composition import services
from http_api.problems import problem_response, to_problem
from scheduling_core.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidRequest
from scheduling_core.ports import IdempotencyOutcome, StoredResponse

MAX_KEY_LENGTH = 255


def request_hash(body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # the handler answers 400 for these
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def derived_id(req: func.HttpRequest, scope: str, prefix: str) -> str | None:
    """The id of what an idempotent request creates: the same key and body always name the same thing.

    So a retry after the first attempt committed but never answered (the process died between the two)
    finds what it made instead of making it again; None without an `Idempotency-Key`.
    """
    key = req.headers.get("Idempotency-Key")
    if not key:
        return None
    seed = "\n".join((scope, key, request_hash(req.get_body() or b"")))
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _to_http(stored: StoredResponse, replayed: bool) -> func.HttpResponse:
    headers = dict(stored.headers)
    mimetype = headers.pop("Content-Type", "application/json")
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return func.HttpResponse(stored.body, status_code=stored.status, mimetype=mimetype, headers=headers)


def run_idempotently(
    req: func.HttpRequest, scope: str, handler: Callable[[], func.HttpResponse]
) -> func.HttpResponse:
    key = req.headers.get("Idempotency-Key")
    if key is None:
        return handler()
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
        )
    store = services().idempotency
    clock = services().clock
    claim = store.begin(scope, key, request_hash(req.get_body() or b""), clock.now())
    if claim.outcome is IdempotencyOutcome.REPLAY:
        assert claim.response is not None
        return _to_http(claim.response, replayed=True)
    if claim.outcome is IdempotencyOutcome.KEY_REUSED:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request body.",
        )
    if claim.outcome is IdempotencyOutcome.IN_PROGRESS:
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )
    try:
        response = handler()
    except Exception as exc:
        response = problem_response(to_problem(exc))
    if response.status_code >= 500:
        store.abandon(scope, key)
        return response
    headers = dict(response.headers)
    headers["Content-Type"] = response.mimetype or "application/json"
    body = (response.get_body() or b"").decode()
    store.complete(
        scope, key, StoredResponse(status=response.status_code, body=body, headers=headers), clock.now()
    )
    return response
