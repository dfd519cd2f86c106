from __future__ import annotations

import re

import function_app
from devstack.function_host import http_routes
from http_api.openapi import build_openapi


def test_every_registered_route_and_method_is_in_the_openapi_document() -> None:
    doc = build_openapi()
    for route in http_routes(function_app.app):
        path = "/" + route.template
        assert path in doc["paths"], f"{path} missing from /openapi.json"
        for method in route.methods:
            assert method.lower() in doc["paths"][path], f"{method} {path} missing from /openapi.json"


def test_every_schema_reference_resolves() -> None:
    doc = build_openapi()
    text = str(doc)
    for name in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert name in doc["components"]["schemas"], name


def test_operation_ids_are_unique() -> None:
    ids = [
        op["operationId"]
        for item in build_openapi()["paths"].values()
        for key, op in item.items()
        if key != "parameters"
    ]
    assert len(ids) == len(set(ids))


def test_the_manage_link_operations_are_documented_without_a_key() -> None:
    paths = build_openapi()["paths"]
    expected = {
        ("/manage/{token}", "get"): "GetManagePage",
        ("/manage/{token}/booking", "get"): "GetManagedBooking",
        ("/manage/{token}/slots", "get"): "GetManagedBookingSlots",
        ("/manage/{token}/reschedule", "post"): "RescheduleManagedBooking",
        ("/manage/{token}/cancel", "post"): "CancelManagedBooking",
    }
    for (path, method), operation_id in expected.items():
        operation = paths[path][method]
        assert operation["operationId"] == operation_id
        assert not operation.get("security"), f"{method} {path} must not ask for a key"
    assert "409" in paths["/manage/{token}/reschedule"]["post"]["responses"]
