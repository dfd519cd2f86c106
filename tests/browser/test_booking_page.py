"""The booking page in headless Chromium against the app over real HTTP (see conftest.py).

The host works 09:00-11:00 UTC on weekdays; "now" is Tuesday 2026-11-24 12:00Z, so the first free
day is Wednesday 25 November: 10:00, 10:30, 11:00, 11:30 in Berlin, 04:00-05:30 in New York.
Every wait is a Playwright expectation (auto-retrying, bounded), never a sleep.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.integration.scenario import BEARER

WEDNESDAY = "Wed 25 Nov"
DASH = "\u2013"  # between start and end times, as the page writes them


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return _host(app, graph_sim, "Ana Ruiz")


def _host(app: Any, graph_sim: Any, name: str) -> str:
    host_id = str(uuid.uuid4())
    email = f"{host_id[:8]}@contoso.com"
    r = httpx.post(
        f"{graph_sim.v1}/users",
        headers=BEARER,
        json={
            "id": host_id,
            "displayName": name,
            "mail": email,
            "userPrincipalName": email,
            "accountEnabled": True,
        },
    )
    assert r.status_code == 201, r.text
    doc = {
        "email": email,
        "displayName": name,
        "timeZone": "UTC",
        "workingHours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "11:00"}],
    }
    assert app.put(f"/admin/hosts/{host_id}", json_body=doc).status == 201
    return host_id


def _event_type(app: Any, hosts: list[str], **fields: Any) -> str:
    slug = "intro-" + uuid.uuid4().hex[:8]
    body = {
        "title": "Discovery call",
        "durationMinutes": 30,
        "bookingWindowDays": 30,
        "hostIds": hosts,
        "public": True,  # on the booking page (event types are private by default)
        **fields,
    }
    r = app.put(f"/admin/event-types/{slug}", json_body=body)
    assert r.status == 201, r.body
    return slug


def _only_booking(app: Any, host: str) -> dict[str, Any]:
    items = app.get("/bookings", params={"hostId": host}).json()["items"]
    assert len(items) == 1, items
    booking: dict[str, Any] = items[0]
    return booking


def _pick_wednesday(page: Page) -> None:
    page.get_by_role("button", name=WEDNESDAY).click()
    expect(page.get_by_role("heading", name="Times on Wednesday, 25 November 2026")).to_be_visible()


def _slot(page: Page, time: str) -> Any:
    return page.locator("#slots").get_by_role("button", name=re.compile(f"^{time} to "))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _fill_details(page: Page, name: str = "Jo Doe", email: str = "jo@fabrikam.com") -> None:
    expect(page.get_by_role("heading", name="Your details")).to_be_focused()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)


def _expect_no_overflow(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_visitor_books_a_slot_end_to_end(
    app: Any, site: Any, host: str, open_page: Any, output_dir: Path
) -> None:
    slug = _event_type(app, [host], location={"kind": "teams"})
    page = open_page(site.page_url(slug))
    expect(page.get_by_role("heading", level=1)).to_have_text("Discovery call")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    expect(page.get_by_role("status")).to_contain_text("free times")
    _pick_wednesday(page)
    expect(page.locator("#slots button")).to_have_text(["10:00", "10:30", "11:00", "11:30"])
    _slot(page, "10:30").click()
    expect(page.locator("#held-summary")).to_contain_text(f"Wednesday, 25 November 2026, 10:30 {DASH} 11:00")
    _fill_details(page)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/bookings")) as booked:
        page.get_by_role("button", name="Confirm booking").click()
    # Every booking POST of the page carries an Idempotency-Key (a retry can never book twice).
    assert re.fullmatch(r"[0-9a-f-]{32,36}", booked.value.headers["idempotency-key"])

    expect(page.get_by_role("heading", name="You're booked")).to_be_focused()
    expect(page.locator("#done-when")).to_have_text(
        f"Wednesday, 25 November 2026, 10:30 {DASH} 11:00 (Europe/Berlin)"
    )
    expect(page.locator("#done-where")).to_have_text("Microsoft Teams meeting")
    # The local stack's Outlook sync has written the Teams link back before the booking is answered.
    join = page.get_by_role("link", name="Join the Teams meeting")
    expect(join).to_be_visible()
    expect(join).to_have_attribute("href", re.compile(r"^https://teams\.microsoft\.com/"))
    expect(page.locator("#join-later")).to_be_hidden()
    expect(page.get_by_role("status")).to_contain_text("Booking confirmed")
    page.screenshot(path=str(output_dir / "confirmation-desktop.png"), full_page=True)

    booking = _only_booking(app, host)
    assert _instant(booking["start"]) == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert booking["timeZone"] == "Europe/Berlin"
    assert booking["invitee"]["email"] == "jo@fabrikam.com" and booking["metadata"] == {
        "channel": "booking-page"
    }
    expect(page.locator("#done-id")).to_have_text(booking["id"])
    with page.expect_download() as download:
        page.get_by_role("link", name="Add to calendar (.ics)").click()
    ics = Path(download.value.path()).read_text()
    assert "DTSTART:20261125T093000Z" in ics and f"UID:{booking['id']}@booking-page" in ics
    assert page.js_errors == []


def test_a_slot_another_client_just_took_gets_a_clear_409_and_the_nearest_alternatives(
    app: Any, site: Any, host: str, open_page: Any
) -> None:
    slug = _event_type(app, [host])
    page = open_page(site.page_url(slug))
    _pick_wednesday(page)
    expect(_slot(page, "10:30")).to_be_visible()
    other = {"name": "Someone Else", "email": "else@contoso.com"}
    taken = app.post(
        "/bookings", json_body={"eventType": slug, "start": "2026-11-25T09:30:00Z", "invitee": other}
    )
    assert taken.status == 201, taken.body

    _slot(page, "10:30").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Wed 25 Nov at 10:30 was just taken by someone else")
    expect(alert).to_contain_text("nearest ones are listed below")
    alternatives = page.locator("#alternative-slots button")
    expect(alternatives).to_have_text([f"{WEDNESDAY}, 10:00", f"{WEDNESDAY}, 11:00", f"{WEDNESDAY}, 11:30"])
    expect(alternatives.first).to_be_focused()
    expect(page.locator("#slots button")).to_have_text(["10:00", "11:00", "11:30"])  # refreshed

    alternatives.nth(1).click()
    _fill_details(page)
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("#done-when")).to_contain_text(f"11:00 {DASH} 11:30")
    assert page.js_errors == []


def test_switching_the_time_zone_changes_the_displayed_times(
    app: Any, site: Any, host: str, open_page: Any
) -> None:
    slug = _event_type(app, [host])
    page = open_page(site.page_url(slug))
    expect(page.locator("#tz-hint")).to_contain_text("Detected from your device")
    _pick_wednesday(page)
    expect(page.locator("#slots button")).to_have_text(["10:00", "10:30", "11:00", "11:30"])

    page.get_by_label("Time zone").select_option("America/New_York")
    expect(page.locator("#slots button")).to_have_text(["04:00", "04:30", "05:00", "05:30"])
    expect(page.locator("#tz-hint")).not_to_contain_text("Detected")
    page.get_by_label("Time zone").select_option("Asia/Tokyo")  # 18:00 in Tokyo: still Wednesday
    expect(page.locator("#slots button")).to_have_text(["18:00", "18:30", "19:00", "19:30"])

    _slot(page, "18:00").click()
    _fill_details(page)
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("#done-when")).to_have_text(
        f"Wednesday, 25 November 2026, 18:00 {DASH} 18:30 (Asia/Tokyo)"
    )
    booking = _only_booking(app, host)
    assert _instant(booking["start"]) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert booking["timeZone"] == "Asia/Tokyo"


def test_dynamics_context_prefills_the_form_and_reaches_the_booking_and_routing(
    app: Any, site: Any, graph_sim: Any, dataverse: Any, open_page: Any
) -> None:
    hosts = [_host(app, graph_sim, "Ana Ruiz"), _host(app, graph_sim, "Ben Carter")]
    rules = {
        "rules": [
            {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
            {"name": "fallback", "strategy": "roundRobin", "pool": [hosts[0]]},
        ]
    }
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    assert app.put(f"/admin/routing/{rule_set}", json_body=rules).status == 201
    slug = _event_type(app, [], routingRuleSet=rule_set)
    owner = dataverse.create_user(aad_object_id=hosts[1])
    lead = dataverse.create("leads", {"lastname": "Doe", "ownerid@odata.bind": f"/systemusers({owner})"})

    page = open_page(
        site.page_url(
            slug, recordType="lead", recordId=lead, name="Jo Doe", email="jo@fabrikam.com", company="Fabrikam"
        )
    )
    _pick_wednesday(page)
    _slot(page, "10:00").click()
    expect(page.get_by_label("Name")).to_have_value("Jo Doe")
    expect(page.get_by_label("Email")).to_have_value("jo@fabrikam.com")
    expect(page.get_by_label("Company (optional)")).to_have_value("Fabrikam")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()

    booking = _only_booking(app, hosts[1])  # the lead's owner, as routing decided from the context
    assert booking["context"] == {"recordType": "lead", "recordId": lead, "company": "Fabrikam"}
    assert booking["invitee"]["name"] == "Jo Doe"
    assert app.get("/bookings", params={"recordId": lead}).json()["items"][0]["id"] == booking["id"]


def _tab_to(page: Page, target: Any, limit: int = 80) -> None:
    """Press Tab until `target` has focus (bounded): proves it is reachable by keyboard alone."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} never received focus by Tab")


def test_a_visitor_books_with_the_keyboard_alone_on_a_360_px_screen(
    app: Any, site: Any, host: str, open_page: Any, output_dir: Path
) -> None:
    slug = _event_type(app, [host], requiredFields=["answers.caseNumber"])
    page = open_page(site.page_url(slug), width=360, height=740)
    wednesday = page.get_by_role("button", name=WEDNESDAY)
    expect(wednesday).to_be_visible()
    _expect_no_overflow(page, 360)

    _tab_to(page, wednesday)
    page.keyboard.press("Enter")
    expect(wednesday).to_have_attribute("aria-pressed", "true")
    _expect_no_overflow(page, 360)
    page.screenshot(path=str(output_dir / "times-360.png"), full_page=True)
    _tab_to(page, _slot(page, "11:00"))
    page.keyboard.press("Space")
    expect(page.get_by_role("heading", name="Your details")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Kim Keyboard")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@fabrikam.com")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Company (optional)")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Case number")).to_be_focused()
    page.keyboard.type("CAS-42")
    page.keyboard.press("Enter")  # submits the form

    expect(page.get_by_role("heading", name="You're booked")).to_be_focused()
    expect(page.locator("#done-when")).to_contain_text(f"11:00 {DASH} 11:30")
    _expect_no_overflow(page, 360)
    page.screenshot(path=str(output_dir / "confirmation-360.png"), full_page=True)
    booking = _only_booking(app, host)
    assert booking["invitee"]["name"] == "Kim Keyboard" and booking["answers"] == {"caseNumber": "CAS-42"}
    assert page.js_errors == []


def test_validation_errors_are_shown_beside_their_fields(
    app: Any, site: Any, host: str, open_page: Any
) -> None:
    slug = _event_type(app, [host], requiredFields=["invitee.phone"])
    page = open_page(site.page_url(slug))
    _pick_wednesday(page)
    _slot(page, "10:00").click()
    page.get_by_role("button", name="Confirm booking").click()  # nothing filled in
    expect(page.locator("#f-name-error")).to_have_text("Enter your name.")
    expect(page.get_by_label("Name")).to_be_focused()
    expect(page.get_by_label("Phone")).to_have_attribute("aria-invalid", "true")

    _fill_details_without_focus_check(page, "Jo Doe", "jo@fabrikam")  # the server refuses this address
    page.get_by_label("Phone").fill("+49 30 1234567")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("#f-email-error")).to_have_text("must be an email address")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_be_focused()
    expect(page.locator("#f-name-error")).to_be_hidden()

    page.get_by_label("Email").fill("jo@fabrikam.com")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()
    assert _only_booking(app, host)["invitee"]["phone"] == "+49 30 1234567"


def _fill_details_without_focus_check(page: Page, name: str, email: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)


def test_an_expired_hold_is_explained_and_the_time_offered_again(
    app: Any, site: Any, host: str, open_page: Any, clock: Any
) -> None:
    from datetime import timedelta

    slug = _event_type(app, [host])
    page = open_page(site.page_url(slug))
    _pick_wednesday(page)
    _slot(page, "10:00").click()
    _fill_details(page)
    clock.set(clock.now() + timedelta(minutes=6))  # the server's five-minute hold runs out
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_role("alert")).to_contain_text("Your hold on Wed 25 Nov at 10:00 expired")
    alternatives = page.locator("#alternative-slots button")
    expect(alternatives.first).to_have_text(f"{WEDNESDAY}, 10:00")  # free again: nobody else took it
    alternatives.first.click()
    page.get_by_role("button", name="Confirm booking").click()  # details were kept
    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()


def test_an_unavailable_service_is_explained_and_can_be_retried(
    app: Any, site: Any, host: str, graph_sim: Any, open_page: Any
) -> None:
    slug = _event_type(app, [host])
    # Outlook asks us to come back later than our retry budget allows: the API answers 503 at once.
    graph_sim.add_fault(503, count=1, retry_after=120, path_contains="getSchedule")
    page = open_page(site.page_url(slug))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The booking service is unavailable right now")
    alert.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("button", name=WEDNESDAY)).to_be_visible()
    expect(alert).to_be_hidden()


def test_an_event_type_that_matches_by_email_asks_for_it_first_and_offers_the_accounts_rep(
    app: Any, site: Any, graph_sim: Any, dataverse: Any, open_page: Any
) -> None:
    hosts = [_host(app, graph_sim, "Ana Ruiz"), _host(app, graph_sim, "Ben Carter")]
    rules = {
        "rules": [
            {"name": "account owner", "when": {"recordType": ["account"]}, "strategy": "owner"},
            {"name": "fallback", "strategy": "roundRobin", "pool": [hosts[0]]},
        ],
        "matching": {"byContactEmail": True, "byLeadEmail": True, "byAccountDomain": True},
    }
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    assert app.put(f"/admin/routing/{rule_set}", json_body=rules).status == 201
    slug = _event_type(app, [], routingRuleSet=rule_set)
    owner = dataverse.create_user(aad_object_id=hosts[1])
    account = dataverse.create(
        "accounts",
        {
            "name": "Northwind",
            "websiteurl": "www.northwind.example",
            "ownerid@odata.bind": f"/systemusers({owner})",
        },
    )
    # Ben is busy at 10:00 on Wednesday: the page shows his times, not Ana's.
    r = httpx.post(
        f"{graph_sim.v1}/users/{hosts[1]}/events",
        headers=BEARER,
        json={
            "subject": "Busy",
            "showAs": "busy",
            "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-25T09:30:00", "timeZone": "UTC"},
        },
    )
    assert r.status_code == 201, r.text

    page = open_page(site.page_url(slug))
    expect(page.get_by_role("heading", name="Who is booking?")).to_be_focused()
    expect(page.get_by_role("heading", name="Pick a time")).to_be_hidden()
    page.get_by_label("Business e-mail").fill("not-an-address")
    page.get_by_role("button", name="Show free times").click()
    expect(page.locator("#f-first-email-error")).to_have_text("Enter your business e-mail address.")
    page.get_by_label("Business e-mail").fill("kim@Northwind.example")
    page.get_by_role("button", name="Show free times").click()
    expect(page.get_by_role("heading", name="Pick a time")).to_be_visible()
    _pick_wednesday(page)
    expect(_slot(page, "10:30")).to_be_visible()
    expect(_slot(page, "10:00")).to_have_count(0)  # Ben's busy half hour (Ana is free then)
    _slot(page, "10:30").click()
    expect(page.get_by_label("Email", exact=True)).to_have_value("kim@Northwind.example")
    page.get_by_label("Name", exact=True).fill("Kim Lee")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_role("heading", name="You're booked")).to_be_visible()

    booking = _only_booking(app, hosts[1])
    assert booking["context"] == {"recordType": "account", "recordId": account}
