"""Shared fixtures: Azurite (real, in memory) for the session, the Graph simulator, and the app.

`app` invokes the real decorated functions of `function_app.app` through the same
router the local host uses, with real `func.HttpRequest` objects.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

pytest_plugins = ["tests.fixtures.graph", "tests.fixtures.dataverse", "tests.fixtures.telemetry"]

ADMIN_KEY = "test-admin-key"
API_KEY = "test-api-key"


@pytest.fixture(scope="session")
def azurite() -> Iterator[Any]:
    from devstack.azurite import start_azurite

    server = start_azurite()
    yield server
    server.stop()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", self.headers.get("content-type", ""))


class AppClient:
    """Calls the registered functions as the Functions host would, keys included."""

    def __init__(self, router: Any) -> None:
        self._router = router

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "auto",
    ) -> Response:
        url = "http://localhost:7071/api" + path + (("?" + urlencode(params, doseq=True)) if params else "")
        all_headers = dict(headers or {})
        if key == "auto":
            key = ADMIN_KEY if path.startswith("/admin") else API_KEY
        if key:
            all_headers.setdefault("x-functions-key", key)
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        result = self._router.handle(method, url, all_headers, body or b"")
        response_headers = dict(result.headers)
        if result.mimetype and not any(k.lower() == "content-type" for k in response_headers):
            response_headers["Content-Type"] = result.mimetype  # as the Functions host renders it
        return Response(result.status_code, response_headers, result.get_body())

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def clock() -> Any:
    from scheduling_core.adapters.clock import FixedClock

    return FixedClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))


@pytest.fixture
def app_env(
    azurite: Any, graph_sim: Any, dataverse_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "TABLES_CONNECTION_STRING": azurite.connection_string,
        "TABLE_PREFIX": "t" + uuid.uuid4().hex[:10],
        "GRAPH_BASE_URL": graph_sim.v1,
        "GRAPH_STATIC_TOKEN": "test-token",
        "API_KEY": API_KEY,
        "ADMIN_API_KEY": ADMIN_KEY,
        "GRAPH_TIMEOUT_SECONDS": "5",
        "DATAVERSE_URL": dataverse_sim.api,
        "DATAVERSE_STATIC_TOKEN": "test-token",
        "MANAGE_LINK_KEY": "test-manage-link-key-0123456789abcdef",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def app(app_env: dict[str, str], clock: Any) -> Iterator[AppClient]:
    import function_app
    from bootstrap.composition import build_services, install_services, reset_services
    from bootstrap.settings import Settings
    from devstack.function_host import FunctionRouter

    install_services(build_services(Settings.from_env(os.environ), clock))
    yield AppClient(FunctionRouter(function_app.app))
    reset_services()


@pytest.fixture
def reconfigure(app: AppClient, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change app settings mid-test: the settings are read once, so the services are built again."""
    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    def apply(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        install_services(build_services(Settings.from_env(os.environ), clock))

    return apply
