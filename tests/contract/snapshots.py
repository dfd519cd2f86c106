"""What the contract snapshots record, and how to write them again (`python -m tests.contract.snapshots`)."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func

import function_app
from devstack.function_host import http_routes, indexed_functions

HERE = Path(__file__).parent
OPENAPI_SNAPSHOT = HERE / "openapi.snapshot.json"
FUNCTIONS_SNAPSHOT = HERE / "functions.snapshot.json"


def served_openapi() -> bytes:
    """The body `GET /openapi.json` answers, through the registered function."""
    route = next(r for r in http_routes(function_app.app) if r.template == "openapi.json")
    request = func.HttpRequest(method="GET", url="/api/openapi.json", headers={}, body=b"")
    body = route.call(request).get_body()
    assert isinstance(body, bytes)
    return body


def function_table() -> str:
    """Every registered function with its bindings (trigger, route, schedule, topic...), sorted."""
    table = {
        fn.get_function_name(): [binding.get_dict_repr() for binding in fn.get_bindings()]
        for fn in indexed_functions(function_app.app)
    }
    return json.dumps(table, indent=1, sort_keys=True, default=str) + "\n"


if __name__ == "__main__":
    OPENAPI_SNAPSHOT.write_bytes(served_openapi())
    FUNCTIONS_SNAPSHOT.write_text(function_table(), encoding="utf-8")
