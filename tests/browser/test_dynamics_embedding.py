"""The Dynamics side (dynamics/webresources) in Chromium: the command reads the form and opens the web
resource, which frames the booking page from another origin, allowed by BOOKING_PAGE_FRAME_ANCESTORS.

"Dynamics" here is a second local origin serving the web resources as /WebResources/...; `Xrm` and the
form are small fakes with the same calls (formContext.data.entity, getAttribute, Xrm.WebApi, navigateTo).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from playwright.sync_api import expect

from .test_booking_page import WEDNESDAY, _event_type, _host, _only_booking, _slot

ROOT = Path(__file__).resolve().parents[2]
FAKE_XRM = """
async ([base, recordId]) => {
  const opened = [];
  const lookups = {
    parentcontactid: [
      { id: "{C0FFEE00-0000-4000-8000-000000000001}", name: "Jo (lookup)", entityType: "contact" }],
    parentaccountid: [
      { id: "{ACC00000-0000-4000-8000-000000000001}", name: "Fabrikam", entityType: "account" }],
  };
  window.Xrm = {
    WebApi: {
      retrieveRecord: async (table, id, options) => {
        opened.push({ retrieve: [table, id, options] });
        return { fullname: "Jo Doe", emailaddress1: "jo@fabrikam.com" };
      },
      retrieveMultipleRecords: async (table, query) => ({
        entities: [{ defaultvalue: "https://unused.example/api/book",
                     environmentvariabledefinition_environmentvariablevalue: [{ value: base + "/" }] }],
      }),
    },
    Navigation: {
      navigateTo: async (page, options) => { opened.push({ page, options }); },
      openAlertDialog: async (alert) => { opened.push({ alert }); },
      openErrorDialog: async (error) => { opened.push({ error }); },
    },
  };
  const form = {
    data: { entity: {
      getEntityName: () => "opportunity",
      getId: () => recordId,
      getPrimaryAttributeValue: () => "Big deal",
    } },
    getAttribute: (name) => (name in lookups ? { getValue: () => lookups[name] } : null),
  };
  const unsaved = { data: { entity: { getId: () => "" } } };
  await Sched.Booking.openFromForm(unsaved, "ignored");
  await Sched.Booking.openFromForm(form, SLUG);
  return opened;
}
"""


SANDBOX = {
    "allow-scripts",
    "allow-same-origin",
    "allow-forms",
    "allow-downloads",
    "allow-popups",
    "allow-popups-to-escape-sandbox",
}


def _web_resources(target: Path, booking_origin: str) -> Path:
    """The web resources as an admin imports them: booking.html names the booking page's origin."""
    shutil.copytree(ROOT / "dynamics" / "webresources", target)
    html = target / "sched_" / "booking" / "booking.html"
    text = html.read_text()
    configured = text.replace(
        '<meta name="sched-booking-page-origin" content="">',
        f'<meta name="sched-booking-page-origin" content="{booking_origin}">',
    )
    assert configured != text
    html.write_text(configured)
    return target


@pytest.fixture
def dynamics_origin(site: Any, tmp_path: Path) -> Iterator[str]:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from devstack.serving import serve_in_thread

    booking_origin = site.url.removesuffix("/api")
    webresources = StaticFiles(directory=_web_resources(tmp_path / "webresources", booking_origin))
    server = serve_in_thread(Starlette(routes=[Mount("/WebResources", webresources)]))
    try:
        yield server.url
    finally:
        server.stop()


def _frame_ancestors(value: str, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    monkeypatch.setenv("BOOKING_PAGE_FRAME_ANCESTORS", value)
    install_services(build_services(Settings.from_env(os.environ), clock))


def test_the_command_opens_the_booking_page_for_the_record_and_it_books_inside_the_frame(
    app: Any,
    site: Any,
    graph_sim: Any,
    open_page: Any,
    dynamics_origin: str,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = _host(app, graph_sim, "Ana Ruiz")
    slug = _event_type(app, [host])
    _frame_ancestors(f"'self' https://*.dynamics.com {dynamics_origin}", clock, monkeypatch)
    record = str(uuid.uuid4())
    web_resource = f"{dynamics_origin}/WebResources/sched_/booking/booking.html"

    page = open_page(web_resource)  # opened without the command: it says so instead of framing anything
    expect(page.get_by_role("alert")).to_have_text(
        "Open this page with the Schedule meeting command on a record."
    )
    page.add_script_tag(url=f"{dynamics_origin}/WebResources/sched_/booking/command.js")
    opened = page.evaluate(
        FAKE_XRM.replace("SLUG", f'"{slug}"'), [f"{site.url}/book", "{" + record.upper() + "}"]
    )

    assert opened[0] == {"alert": {"text": "Save the record before scheduling a meeting."}}
    assert opened[1]["retrieve"][:2] == ["contact", "c0ffee00-0000-4000-8000-000000000001"]
    dialog = opened[2]
    assert (
        dialog["options"]["target"] == 2
        and dialog["page"]["webresourceName"] == "sched_/booking/booking.html"
    )
    expected = f"{site.url}/book/{slug}?" + urlencode(
        {
            "recordType": "opportunity",
            "recordId": record,
            "name": "Jo Doe",
            "email": "jo@fabrikam.com",
            "company": "Fabrikam",
        },
        quote_via=quote,
    )
    assert dialog["page"]["data"] == "url=" + quote(expected, safe="")

    page.goto(f"{web_resource}?data={quote(dialog['page']['data'], safe='')}")
    frame = page.frame_locator("#booking")
    frame.get_by_role("button", name=WEDNESDAY).click()
    _slot(frame, "10:00").click()
    expect(frame.get_by_label("Name")).to_have_value("Jo Doe")
    frame.get_by_role("button", name="Confirm booking").click()
    expect(frame.get_by_role("heading", name="You're booked")).to_be_visible()
    booking = _only_booking(app, host)
    assert booking["context"] == {"recordType": "opportunity", "recordId": record, "company": "Fabrikam"}
    assert page.js_errors == []


def test_an_origin_outside_the_allow_list_cannot_frame_the_page(
    app: Any, site: Any, graph_sim: Any, open_page: Any, dynamics_origin: str
) -> None:
    slug = _event_type(app, [_host(app, graph_sim, "Ana Ruiz")])
    data = quote("url=" + quote(f"{site.url}/book/{slug}", safe=""), safe="")
    page = open_page(f"{dynamics_origin}/WebResources/sched_/booking/booking.html")
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
        page.goto(f"{dynamics_origin}/WebResources/sched_/booking/booking.html?data={data}")
    assert "The request has been blocked" in refused.value.text
    assert "frame-ancestors 'self' https://*.dynamics.com" in refused.value.text


def test_the_web_resource_frames_nothing_but_a_booking_page(open_page: Any, dynamics_origin: str) -> None:
    data = quote("url=" + quote("https://evil.example/login", safe=""), safe="")
    page = open_page(f"{dynamics_origin}/WebResources/sched_/booking/booking.html?data={data}")
    expect(page.get_by_role("alert")).to_have_text(
        "This is not a booking page address: https://evil.example/login"
    )
    expect(page.locator("#booking")).to_be_hidden()
    assert page.locator("#booking").get_attribute("src") is None


def test_the_web_resource_frames_only_the_configured_booking_page_origin(
    app: Any, site: Any, graph_sim: Any, open_page: Any, dynamics_origin: str
) -> None:
    slug = _event_type(app, [_host(app, graph_sim, "Ana Ruiz")])
    for elsewhere in (f"https://evil.example/api/book/{slug}", f"http://localhost:1/api/book/{slug}"):
        data = quote("url=" + quote(elsewhere, safe=""), safe="")
        page = open_page(f"{dynamics_origin}/WebResources/sched_/booking/booking.html?data={data}")
        expect(page.get_by_role("alert")).to_have_text(f"This is not a booking page address: {elsewhere}")
        assert page.locator("#booking").get_attribute("src") is None
    data = quote("url=" + quote(f"{site.url}/book/{slug}", safe=""), safe="")
    page = open_page(f"{dynamics_origin}/WebResources/sched_/booking/booking.html?data={data}")
    frame = page.locator("#booking")
    expect(frame).to_be_visible()
    assert set((frame.get_attribute("sandbox") or "").split()) == SANDBOX
    assert frame.get_attribute("allow") == "" and frame.get_attribute("referrerpolicy") == "no-referrer"


def test_an_unconfigured_web_resource_frames_nothing(open_page: Any, tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from devstack.serving import serve_in_thread

    webresources = StaticFiles(directory=ROOT / "dynamics" / "webresources")  # as shipped: no origin set
    server = serve_in_thread(Starlette(routes=[Mount("/WebResources", webresources)]))
    try:
        data = quote(
            "url=" + quote("https://contoso-sched.azurewebsites.net/api/book/intro", safe=""), safe=""
        )
        page = open_page(f"{server.url}/WebResources/sched_/booking/booking.html?data={data}")
        expect(page.get_by_role("alert")).to_have_text(
            "The booking page address is not configured for this environment."
        )
        assert page.locator("#booking").get_attribute("src") is None
    finally:
        server.stop()
