"""The invitee's manage page (`/manage/{token}`) in headless Chromium against the app over real HTTP.

Same world as test_booking_page.py: the host works 09:00-11:00 UTC on weekdays, "now" is Tuesday
2026-11-24 12:00Z, the browser's clock is pinned to it. The invitee reschedules and then cancels with the
keyboard alone on a 360 px screen; every wait is a Playwright expectation, never a sleep.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_booking_page import DASH, WEDNESDAY, _event_type, _expect_no_overflow, _tab_to
from tests.browser.test_booking_page import host as host


def _book(app: Any, slug: str, start: str) -> dict[str, Any]:
    body = {
        "eventType": slug,
        "start": start,
        "timeZone": "Europe/Berlin",
        "invitee": {"name": "Kim Keyboard", "email": "kim@fabrikam.com"},
    }
    r = app.post("/bookings", json_body=body)
    assert r.status == 201, r.body
    booking: dict[str, Any] = r.json()
    return booking


def _manage_url(site: Any, booking: dict[str, Any]) -> str:
    """The booking's manageUrl, on the address this test serves the app at."""
    token = booking["manageUrl"].rsplit("/", 1)[1]
    return f"{site.url}/manage/{token}"


def _slot(page: Page, time: str) -> Any:
    return page.locator("#slots").get_by_role("button", name=re.compile(f"^{time} to "))


def test_an_invitee_reschedules_and_cancels_with_the_keyboard_alone_on_a_360_px_screen(
    app: Any, site: Any, host: str, open_page: Any, output_dir: Path
) -> None:
    slug = _event_type(app, [host], selfService={"requireReason": True})
    booking = _book(app, slug, "2026-11-25T09:00:00Z")  # 10:00 in Berlin
    page = open_page(_manage_url(site, booking), width=360, height=740)
    expect(page.locator("#b-when")).to_contain_text(f"10:00 {DASH} 10:30 (Europe/Berlin)")
    expect(page.locator("#b-status")).to_have_text("Confirmed")
    _expect_no_overflow(page, 360)
    page.screenshot(path=str(output_dir / "booking-360.png"), full_page=True)

    reschedule = page.get_by_role("button", name="Reschedule")
    _tab_to(page, reschedule)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pick a new time")).to_be_focused()
    wednesday = page.get_by_role("button", name=WEDNESDAY)
    _tab_to(page, wednesday)
    page.keyboard.press("Enter")
    expect(wednesday).to_have_attribute("aria-pressed", "true")
    expect(_slot(page, "10:00")).to_have_count(0)  # its own time is not offered
    _tab_to(page, _slot(page, "11:30"))
    page.keyboard.press("Space")
    reason = page.locator("#move-reason")
    expect(reason).to_be_focused()
    expect(page.locator("#move-summary")).to_contain_text(f"11:30 {DASH} 12:00")
    _expect_no_overflow(page, 360)
    page.screenshot(path=str(output_dir / "reschedule-360.png"), full_page=True)
    page.keyboard.press("Enter")  # no reason given: the policy requires one
    expect(page.locator("#move-reason-error")).to_have_text("Please give a reason.")
    expect(reason).to_be_focused()
    page.keyboard.type("Clash with another call")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Booking details")).to_be_focused()
    expect(page.locator("#b-when")).to_contain_text(f"11:30 {DASH} 12:00")
    expect(page.locator("#status")).to_contain_text("moved")
    moved = app.get(f"/bookings/{booking['id']}").json()
    assert (moved["version"], moved["start"]) == (2, "2026-11-25T11:30:00+01:00")
    assert moved["metadata"]["lastRescheduleReason"] == "Clash with another call"

    cancel = page.get_by_role("button", name="Cancel booking")
    _tab_to(page, cancel)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Cancel this booking?")).to_be_focused()
    _tab_to(page, page.locator("#cancel-reason"))
    page.keyboard.type("Found the answer myself")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Booking details")).to_be_focused()
    expect(page.locator("#b-status")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Reschedule")).to_be_hidden()
    _expect_no_overflow(page, 360)
    page.screenshot(path=str(output_dir / "cancelled-360.png"), full_page=True)
    cancelled = app.get(f"/bookings/{booking['id']}").json()
    assert cancelled["cancellation"]["by"] == "invitee"
    assert cancelled["cancellation"]["reason"] == "Found the answer myself"
    assert page.js_errors == []


def test_switching_the_time_zone_shows_the_booking_and_free_times_in_that_zone(
    app: Any, site: Any, host: str, open_page: Any
) -> None:
    slug = _event_type(app, [host])
    booking = _book(app, slug, "2026-11-25T09:00:00Z")
    page = open_page(_manage_url(site, booking), time_zone="Europe/Berlin")
    expect(page.locator("#b-when")).to_contain_text("10:00")
    page.get_by_label("Time zone").select_option("America/New_York")
    expect(page.locator("#b-when")).to_contain_text(f"04:00 {DASH} 04:30 (America/New York)")
    page.get_by_role("button", name="Reschedule").click()
    page.get_by_role("button", name=WEDNESDAY).click()
    expect(_slot(page, "04:30")).to_be_visible()
    assert page.js_errors == []


def test_an_altered_link_shows_the_not_found_page(app: Any, site: Any, host: str, open_page: Any) -> None:
    booking = _book(app, _event_type(app, [host]), "2026-11-25T09:00:00Z")
    url = _manage_url(site, booking)
    page = open_page(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.locator("#b-when").count() == 0
