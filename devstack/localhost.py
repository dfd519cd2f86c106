"""A small local Functions host: serves every HTTP route of `function_app.app` on :7071/api.

It builds real `func.HttpRequest` objects and calls the registered functions
(in a worker thread, as the Python worker runs sync functions). On machines with
Azure Functions Core Tools, `func start` serves the same app instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack.function_host import FunctionRouter, load_local_settings, route_prefix

ROOT = Path(__file__).resolve().parent.parent


def create_app(router: FunctionRouter) -> Starlette:
    async def dispatch(request: Request) -> Response:
        body = await request.body()
        result = await run_in_threadpool(
            router.handle, request.method, str(request.url), dict(request.headers), body
        )
        headers = {k: v for k, v in result.headers.items() if k.lower() not in ("content-length",)}
        return Response(
            content=result.get_body(),
            status_code=result.status_code,
            headers=headers,
            media_type=result.mimetype,
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", dispatch, methods=methods)])


def build_router() -> FunctionRouter:
    import function_app

    return FunctionRouter(function_app.app, route_prefix(ROOT / "host.json"))


def log_json_lines() -> None:
    """The app's records as JSON lines on stderr (trace id, booking id, event), at `LOG_LEVEL` (WARNING)."""
    import logging
    import os

    from scheduling_core.logs import JsonFormatter
    from scheduling_core.telemetry import NOISY_LOGGERS

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    level = (os.environ.get("LOG_LEVEL") or "WARNING").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "WARNING", handlers=[handler]
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    from devstack.serving import serve_forever

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7071)
    args = parser.parse_args()
    load_local_settings(ROOT / "local.settings.json")
    load_local_settings(ROOT / "local.settings.sample.json")
    log_json_lines()
    serve_forever(create_app(build_router()), port=args.port)


if __name__ == "__main__":
    main()
