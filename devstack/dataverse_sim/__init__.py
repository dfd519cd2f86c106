"""A local Dataverse Web API (v9.2) for the Dynamics 365 tables this service reads and writes.

It accepts exactly the entity sets, columns and navigation properties of
`../shared/reference/dataverse-entities.json` (vendored as `dataverse-entities.json`;
an unknown name is Dataverse's 400), answers with Dataverse's status codes, headers
and error codes, and pages, filters and expands as the Web API does. See `app` for
the routes and `records` for the write and read rules.

Web API (`/api/data/v9.2`, bearer token required): `GET/POST /{set}`,
`GET/PATCH/DELETE /{set}({id})`, `GET /{set}({id})/{navigation}`,
`POST/DELETE /{set}({id})/{navigation}/$ref`, `GET /WhoAmI`.
Test surface (`/_sim`, no token): POST/GET/DELETE /_sim/faults, GET/DELETE /_sim/requests, POST /_sim/reset,
POST/GET/DELETE /_sim/webhooks, GET /_sim/webhooks/deliveries, POST /_sim/webhooks/drop (`webhooks`).

As Dataverse: a string longer than its column's `maxLength` is 400 `0x80044331`; `createdby`/`modifiedby`
record the caller (the `MSCRMCallerID` user, else the token's user), so a test acts as a person in
Dynamics by sending a person's systemuserid in `MSCRMCallerID`.

Account teams (the "accountTeam" routing strategy) are modelled with the reference's
tables only: one access team (`teamtype` 1) per account and role, named
`{accountid}+{role}`, whose members are its `teammembership_association`.

Run it with `python -m devstack.dataverse_sim --port 7082 [--state-file PATH]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devstack.dataverse_sim.app import create_app

__all__ = ["create_app", "main"]


def main(argv: list[str] | None = None) -> None:
    from devstack.serving import serve_forever

    parser = argparse.ArgumentParser(
        prog="python -m devstack.dataverse_sim", description="A local Dataverse Web API (v9.2)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7082)
    parser.add_argument("--state-file", type=Path, default=None, help="keep the tables in this JSON file")
    args = parser.parse_args(argv)
    serve_forever(create_app(args.state_file), host=args.host, port=args.port)
