"""Browser fixtures: the app served over real HTTP by the devstack local host, and headless Chromium.

- `site`: the registered functions behind `devstack.localhost` (uvicorn on a free port), on Azurite and
  the Graph and Dataverse simulators, with the `app` fixture's fixed clock (2026-11-24 12:00Z);
  the browser's clock is pinned to the same instant, so "today" agrees on both sides.
- `open_page`: a fresh Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) with a fresh profile per
  call, driven by Playwright; no browser is ever downloaded.
- `output_dir`: test-output/browser/<test name>/ (git-ignored) for screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # the `clock` fixture's instant
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Site:
    url: str  # http://127.0.0.1:PORT/api

    def page_url(self, slug: str, **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.url}/book/{slug}" + (f"?{urlencode(query)}" if query else "")


@pytest.fixture
def site(app: Any) -> Iterator[Site]:
    import function_app
    from devstack.function_host import FunctionRouter
    from devstack.localhost import create_app
    from devstack.serving import serve_in_thread

    server = serve_in_thread(create_app(FunctionRouter(function_app.app)))
    try:
        yield Site(f"{server.url}/api")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium (or set CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = ROOT / "test-output" / "browser" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def open_page(playwright: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`open_page(url, time_zone=..., width=..., height=...)`: a new browser on `url`, clock pinned to NOW."""
    contexts: list[Any] = []

    def open_(url: str, *, time_zone: str = "Europe/Berlin", width: int = 1280, height: int = 900) -> Any:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            timezone_id=time_zone,
            locale="en-GB",
            viewport={"width": width, "height": height},
            accept_downloads=True,
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        page.clock.set_fixed_time(NOW)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Script errors and policy refusals; a 409 or 503 the page handles is not an error.
        page.on("console", lambda msg: errors.append(msg.text) if "Refused" in msg.text else None)
        page.js_errors = errors
        page.goto(url)
        return page

    yield open_
    for context in contexts:
        context.close()
