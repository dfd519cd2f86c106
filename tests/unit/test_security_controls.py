"""Security controls of the HTTP shell: keys checked exactly, strict CORS, documented size limits.

(Constant-time secret comparisons: a scan of the source, tests/codebase/test_secret_comparisons.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from bootstrap.composition import reset_services
from bootstrap.settings import Settings
from http_api import cors
from http_api.auth import Access, KeySetting, check_access
from http_api.endpoint import MAX_BODY_BYTES, ROUTES, Operation, endpoint, json_response, read_json
from scheduling_core.errors import Forbidden, PayloadTooLarge, Unauthorized


def _request(
    method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url="http://localhost/api/x",
        headers=headers or {},
        params={},
        route_params={},
        body=body,
    )


KEYS = (KeySetting("api-key-1"), KeySetting("admin-key-1"))


def test_keys_are_required_checked_exactly_and_separately_for_admin() -> None:
    with pytest.raises(Unauthorized):
        check_access(_request(), Access.API, *KEYS)
    for wrong in ("api-key-2", "api-key-", "api-key-11", "admin-key-"):
        with pytest.raises(Forbidden):
            check_access(_request(headers={"x-functions-key": wrong}), Access.API, *KEYS)
    check_access(_request(headers={"x-functions-key": "api-key-1"}), Access.API, *KEYS)
    # The admin key opens keyed endpoints too (a manager's override on POST /bookings is made with it).
    check_access(_request(headers={"x-functions-key": "admin-key-1"}), Access.API, *KEYS)
    with pytest.raises(Forbidden):
        check_access(_request(headers={"x-functions-key": "api-key-1"}), Access.ADMIN, *KEYS)
    check_access(_request(), Access.PUBLIC, *KEYS)


# --- CORS ------------------------------------------------------------------------------------------------

ORIGIN = "https://contoso.crm4.dynamics.com"


@pytest.fixture
def book_route(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A `book/*` route declared like the booking page's, removed from the OpenAPI registry afterwards."""
    monkeypatch.setenv(cors.SETTING, f" {ORIGIN}/ , https://portal.fabrikam.com, *")
    reset_services()  # the settings are read once: read them again with this origin list
    bp = func.Blueprint()

    @endpoint(
        bp,
        route="book/cors-probe",
        access=Access.PUBLIC,
        operations=(Operation(method="POST", operation_id="CorsProbe", summary="x", tag="t", responses={}),),
    )
    def probe(req: func.HttpRequest) -> func.HttpResponse:
        return json_response({"ok": True}, 201)

    try:
        yield probe
    finally:
        ROUTES[:] = [r for r in ROUTES if r.route != "book/cors-probe"]
        monkeypatch.undo()
        reset_services()


def _call(handler: Any, method: str, headers: dict[str, str]) -> func.HttpResponse:
    response: func.HttpResponse = handler.build().get_user_function()(_request(method, headers))
    return response


def test_a_listed_origin_gets_a_preflight_grant_for_the_route_methods(book_route: Any) -> None:
    response = _call(
        book_route,
        "OPTIONS",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.headers["Vary"] == "Origin"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        {"Origin": "null", "Access-Control-Request-Method": "POST"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
        {"Access-Control-Request-Method": "POST"},
    ],
)
def test_unlisted_origins_and_methods_get_no_grant(book_route: Any, headers: dict[str, str]) -> None:
    response = _call(book_route, "OPTIONS", headers)
    assert response.status_code == 204
    assert not any(k.lower().startswith("access-control-") for k in dict(response.headers))


def test_actual_responses_name_only_a_listed_origin_never_a_wildcard(book_route: Any) -> None:
    allowed = _call(book_route, "POST", {"Origin": "https://portal.fabrikam.com"})
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.fabrikam.com"
    assert "X-Correlation-Id" in allowed.headers["Access-Control-Expose-Headers"]
    other = _call(book_route, "POST", {"Origin": "https://evil.example"})
    assert other.status_code == 201 and "Access-Control-Allow-Origin" not in other.headers


def test_the_wildcard_is_never_an_allowed_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cors.SETTING, "*, https://a.example/, not-an-origin")
    assert Settings.from_env().cors_allowed_origins == frozenset({"https://a.example"})


def test_the_preflight_is_documented_and_keyed_apis_answer_no_cors(book_route: Any) -> None:
    import function_app  # noqa: F401  (registers every route)

    (doc,) = [r for r in ROUTES if r.route == "book/cors-probe"]
    assert [op.method for op in doc.operations] == ["POST", "OPTIONS"]
    keyed = [r for r in ROUTES if r.route in ("bookings", "slots", "holds")]
    assert keyed and all(op.method != "OPTIONS" for r in keyed for op in r.operations)


# --- size limits -----------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_parsing() -> None:
    from pydantic import BaseModel

    class Anything(BaseModel):
        pass

    with pytest.raises(PayloadTooLarge):
        read_json(_request("POST", body=b" " * (MAX_BODY_BYTES + 1)), Anything)


def test_every_operation_that_reads_a_body_documents_413() -> None:
    import function_app  # noqa: F401  (registers every route)

    readers = [
        (r.route, op.method)
        for r in ROUTES
        for op in r.operations
        if op.request is not None or 413 in op.responses
    ]
    assert ("bookings/{bookingId}/reschedule", "POST") in readers
    for route in ROUTES:
        for op in route.operations:
            if op.request is not None:
                assert 413 in op.responses, (route.route, op.method)
