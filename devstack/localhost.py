"""A small local Functions host: serves every HTTP route of `function_app.app` on :7071/api.

It builds real `func.HttpRequest` objects and calls the registered functions
(in a worker thread, as the Python worker runs sync functions). On machines with
Azure Functions Core Tools, `func start` serves the same app instead.

Besides the app's routes (under the route prefix) it serves two local-only surfaces, guarded by
`ADMIN_API_KEY` in `x-functions-key` when that setting is set:

    POST /admin/functions/{name}   run a timer function now, as the Functions host's admin API
                                   does for non-HTTP functions; unlike the real host (which answers
                                   202 at once) it answers 202 only after the function returned,
                                   so a caller can drive e.g. the outbox relay deterministically
                                   (500 with the error if it raised, 404 for an unknown name)
    GET  /_host/bus                the in-process Service Bus topic: its subscribed functions and
                                   dead-lettered messages (`triggers.local_bus.LocalTopic`),
                                   how many scheduled copies are still to come (`scheduled`) and
                                   how many change-queue messages are unsettled (`queues`)
"""

from __future__ import annotations

import argparse
import hmac
import signal
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bootstrap.settings import current_settings
from devstack.function_host import (
    FunctionRouter,
    LocalTimer,
    load_local_settings,
    route_prefix,
    timer_functions,
)

ROOT = Path(__file__).resolve().parent.parent


def _admin_denied(request: Request) -> Response | None:
    setting = current_settings().admin_api_key  # absent: off; empty or unresolved: closed (http_api/auth.py)
    if setting.off:
        return None
    expected = setting.value or ""
    if not expected:
        return PlainTextResponse("admin key not configured", status_code=403)
    given = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return PlainTextResponse("admin key required", status_code=401 if not given else 403)


def create_app(router: FunctionRouter) -> ASGIApp:
    async def dispatch(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        # As the App Service front end does: append the socket peer to X-Forwarded-For, so the app's
        # client address (rightmost entry) is the peer and never a value the client wrote itself.
        peer = request.client.host if request.client else "unknown"
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {peer}" if forwarded else peer
        result = await run_in_threadpool(router.handle, request.method, str(request.url), headers, body)
        headers = {k: v for k, v in result.headers.items() if k.lower() not in ("content-length",)}
        return Response(
            content=result.get_body(),
            status_code=result.status_code,
            headers=headers,
            media_type=result.mimetype,
        )

    timers = {t.name.lower(): t for t in timer_functions(router.app)}

    async def run_function(request: Request) -> Response:
        denied = _admin_denied(request)
        if denied is not None:
            return denied
        timer = timers.get(request.path_params["name"].lower())
        if timer is None:
            return PlainTextResponse("no such timer function", status_code=404)
        try:
            await run_in_threadpool(timer.call, LocalTimer())
        except Exception as exc:
            return PlainTextResponse(f"{timer.name} failed: {type(exc).__name__}: {exc}", status_code=500)
        return Response(status_code=202)

    async def bus(request: Request) -> Response:
        denied = _admin_denied(request)
        if denied is not None:
            return denied
        topic = router.topic
        from bootstrap.composition import services

        # Throttled messages' copies scheduled on the local bus and not yet settled (InProcessPublisher).
        scheduled = getattr(services().publisher, "unsettled_copies", 0)
        return JSONResponse(
            {
                "topic": topic.topic,
                "functions": list(topic.functions),
                "scheduled": scheduled,
                # Change queues' messages not yet settled, so a caller can wait for the reconcilers.
                "queues": {
                    queue.queue: queue.unsettled for queue in (router.graph_changes, router.dynamics_changes)
                },
                "deadLetters": [
                    {
                        "function": d.function,
                        "subscription": d.subscription,
                        "messageId": d.message_id,
                        "sessionId": d.session_id,
                        "reason": d.reason,
                        "description": d.description,
                    }
                    for d in topic.dead_letters
                ],
            }
        )

    local = Starlette(
        routes=[
            Route("/admin/functions/{name}", run_function, methods=["POST"]),
            Route("/_host/bus", bus, methods=["GET"]),
        ]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Every other path goes to the function routes, whatever characters it holds (a Starlette
        # `{path:path}` route would answer a path with a newline in it with its own text/plain 404).
        path = scope.get("path", "")
        if scope["type"] == "http" and not (path.startswith("/admin/functions/") or path == "/_host/bus"):
            response = await dispatch(Request(scope, receive))
            await response(scope, receive, send)
            return
        await local(scope, receive, send)

    return app


def build_router() -> FunctionRouter:
    import function_app

    return FunctionRouter(function_app.app, route_prefix(ROOT / "host.json"))


def log_json_lines() -> None:
    """The app's records as JSON lines on stderr (trace id, booking id, event), at `LOG_LEVEL` (WARNING)."""
    import logging
    import os

    from scheduling_core.runtime.logs import JsonFormatter
    from scheduling_core.runtime.telemetry import NOISY_LOGGERS

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    level = (os.environ.get("LOG_LEVEL") or "WARNING").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "WARNING", handlers=[handler]
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    from devstack.serving import serve_in_thread

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7071)
    args = parser.parse_args()
    load_local_settings(ROOT / "local.settings.json")
    load_local_settings(ROOT / "local.settings.sample.json")
    log_json_lines()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = serve_in_thread(create_app(build_router()), port=args.port)
    # Bound and accepting before this line is printed: callers wait for it instead of polling.
    print(f"Local host is up: {server.url}/api", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
