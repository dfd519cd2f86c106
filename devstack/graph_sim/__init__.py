"""A local Microsoft Graph v1.0 for Outlook calendars: same paths, same payloads, injectable faults.

Graph's surface (`/v1.0`, bearer token required; `/users/{id}/calendar/...` = `/users/{id}/...`):
    POST/GET   /users, GET /users/{id|upn}
    POST/GET   /users/{id}/events            GET/PATCH/DELETE /users/{id}/events/{eventId}
               (GET /events?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '..' and ep/value eq '..'))
    POST       /users/{id}/events/{eventId}/cancel
    GET        /users/{id}/calendarView?startDateTime=...&endDateTime=...
    GET        /users/{id}/calendarView/delta?startDateTime=...&endDateTime=...  (then its links)
    POST       /users/{id}/calendar/getSchedule
    POST/GET   /subscriptions                GET/PATCH/DELETE /subscriptions/{id}
    POST       /subscriptions/{id}/reauthorize
Event writes send change notifications to live subscriptions (`notifications`); creating,
renewing or reauthorizing a subscription first performs Graph's validation handshake.
Test surface (`/_sim`, no token):
    POST/GET/DELETE /_sim/faults, GET/DELETE /_sim/requests, POST /_sim/reset
    GET/POST   /_sim/clock                       {"now": "<ISO instant>" | null}
    GET/DELETE /_sim/notifications/deliveries    the delivery log, handshakes, inFlight, paused
    POST       /_sim/notifications/flush?timeout=10   wait until nothing is in flight (504 if not)
    POST       /_sim/notifications/pause | resume     drop change notifications / send them again
    GET/POST   /_sim/notifications/config        validation/delivery timeouts, retry delays
    POST       /_sim/subscriptions/{id}/lifecycle {"lifecycleEvent": "reauthorizationRequired"
                                                  | "subscriptionRemoved" | "missed"}
    POST       /_sim/delta/expire                every delta/skip token answers 410 from now on
See docs/graph-simulator.md.

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
