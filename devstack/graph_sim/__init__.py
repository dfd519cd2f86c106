"""A local Microsoft Graph v1.0 for Outlook calendars: same paths, same payloads, injectable faults.

Graph's surface (`/v1.0`, bearer token required):
    POST/GET   /users, GET /users/{id|upn}
    POST/GET   /users/{id}/events            GET/PATCH/DELETE /users/{id}/events/{eventId}
    POST       /users/{id}/events/{eventId}/cancel
    GET        /users/{id}/calendarView?startDateTime=...&endDateTime=...
    POST       /users/{id}/calendar/getSchedule
Test surface (`/_sim`, no token): POST/GET/DELETE /_sim/faults, GET/DELETE /_sim/requests, POST /_sim/reset.

Run it with `python -m devstack.graph_sim --port 7081 [--state-file PATH]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devstack.graph_sim.app import create_app

__all__ = ["create_app", "main"]


def main(argv: list[str] | None = None) -> None:
    from devstack.serving import serve_forever

    parser = argparse.ArgumentParser(
        prog="python -m devstack.graph_sim", description="A local Microsoft Graph v1.0 for Outlook calendars."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7081)
    parser.add_argument(
        "--state-file", type=Path, default=None, help="keep users and calendars in this JSON file"
    )
    args = parser.parse_args(argv)
    serve_forever(create_app(args.state_file), host=args.host, port=args.port)
