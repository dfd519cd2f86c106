"""The booking page's key-less surface through the real functions: the page, its assets, slots, holds,
bookings and the .ics file; what it refuses (host choice, foreign context, other event types)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from .scenario import AT_9, MONDAY, new_event_type
from .scenario import new_host as _host

INVITEE = {"name": "Jo Doe", "email": "jo@fabrikam.com"}


def _event_type(app: Any, host_ids: list[str], **fields: Any) -> str:
    """An event type the booking page offers (`public: true`; event types are private by default)."""
    return new_event_type(app, host_ids, public=True, **fields)


LEAD = "1ead0000-0000-4000-8000-0000000000aa"


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return _host(app, graph_sim)


def _page_config(body: bytes) -> dict[str, Any]:
    match = re.search(rb'<script type="application/json" id="booking-config">(.*?)</script>', body, re.S)
    assert match, body[:500]
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def _hold(app: Any, slug: str, start: str = AT_9, **context: str) -> Any:
    return app.post(
        f"/book/{slug}/holds",
        json_body={"start": start, "timeZone": "America/Chicago", "context": context},
        key=None,
    )


def _book(app: Any, slug: str, hold: dict[str, Any] | None, **extra: Any) -> Any:
    headers = extra.pop("headers", {})
    body = {
        "start": hold["start"] if hold else AT_9,
        "timeZone": "America/Chicago",
        "holdId": hold["id"] if hold else None,
        "invitee": INVITEE,
        **extra,
    }
    return app.post(f"/book/{slug}/bookings", json_body=body, key=None, headers=headers)


def test_the_page_is_served_without_a_key_with_a_strict_policy_and_escaped_title(app: Any, host: str) -> None:
    slug = _event_type(app, [host], title="Intro </script><b>call</b>", requiredFields=["answers.caseNumber"])
    page = app.get(f"/book/{slug}", key=None)
    assert page.status == 200
    assert page.content_type.startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'self' https://*.dynamics.com" in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert "Cross-Origin-Resource-Policy" not in page.headers  # other origins (Dynamics) embed the page
    assert b"<b>call</b>" not in page.body and b"&lt;b&gt;call&lt;/b&gt;" in page.body
    config = _page_config(page.body)
    assert config["title"] == "Intro </script><b>call</b>"
    assert config["api"] == f"/api/book/{slug}"
    assert config["fields"] == [{"name": "answers.caseNumber", "label": "Case number"}]
    assert re.search(rb'src="/api/book/assets/booking\.js\?v=[0-9a-f]{16}"', page.body)
    assert b"http://" not in page.body and b"https://" not in page.body  # nothing from another origin


def _with_setting(name: str, value: str, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set an app setting and rebuild the services on the same fixed clock."""
    import os

    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    monkeypatch.setenv(name, value)
    install_services(build_services(Settings.from_env(os.environ), clock))


def test_unknown_reserved_and_unoffered_event_types_get_a_not_found_page(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = _event_type(app, [host])
    for path in ("/book/no-such-type", "/book/assets", "/book/Bad%20Slug"):
        r = app.get(path, key=None)
        assert r.status == 404 and r.content_type.startswith("text/html"), path
    _with_setting("BOOKING_PAGE_EVENT_TYPES", "some-other-type", clock, monkeypatch)
    assert app.get(f"/book/{slug}", key=None).status == 404
    r = app.get(f"/book/{slug}/slots", params={"start": MONDAY, "end": MONDAY}, key=None)
    assert r.status == 404 and r.json()["code"] == "not-found"
    assert _hold(app, slug).status == 404


def test_assets_are_typed_hashed_never_stored_and_revalidated(app: Any) -> None:
    from http_api.booking_page import asset

    js = asset("booking.js")
    assert js is not None
    pinned = app.get("/book/assets/booking.js", params={"v": js.version}, key=None)
    assert pinned.status == 200 and pinned.body == js.body
    assert pinned.content_type.startswith("text/javascript")
    assert pinned.headers["Cache-Control"] == "no-store"  # like every /book/* answer (issue 13)
    assert pinned.headers["X-Content-Type-Options"] == "nosniff"
    assert pinned.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    unpinned = app.get("/book/assets/booking.css", params={"v": "old"}, key=None)
    assert unpinned.content_type.startswith("text/css") and unpinned.headers["Cache-Control"] == "no-store"
    again = app.get("/book/assets/booking.css", headers={"If-None-Match": unpinned.headers["ETag"]}, key=None)
    assert again.status == 304 and again.body == b""
    assert app.get("/book/assets/page.html", key=None).status == 404
    assert app.get("/book/assets/..%2Fhttp_api%2Fauth.py", key=None).status == 404


def test_frame_ancestors_come_from_the_setting_and_junk_is_dropped(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from http_api.page_headers import frame_ancestors

    assert frame_ancestors("'self' https://*.crm4.dynamics.com") == "'self' https://*.crm4.dynamics.com"
    assert frame_ancestors("https://a.example; script-src * 'unsafe-inline'") == "'self'"
    assert frame_ancestors("'none'") == "'none'"
    _with_setting("BOOKING_PAGE_FRAME_ANCESTORS", "https://contoso.crm.dynamics.com", clock, monkeypatch)
    csp = app.get(f"/book/{_event_type(app, [host])}", key=None).headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors https://contoso.crm.dynamics.com")


def test_page_slots_show_times_but_no_hosts_or_routing(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    r = app.get(
        f"/book/{slug}/slots",
        params={"start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"},
        key=None,
    )
    assert r.status == 200, r.body
    body = r.json()
    assert set(body) == {"eventType", "timeZone", "durationMinutes", "slots"}
    assert [s["start"][11:16] for s in body["slots"]][:2] == ["08:00", "08:30"]
    assert all(set(s) == {"start", "end"} for s in body["slots"])
    assert host not in r.body.decode()


def test_hold_then_book_keeps_the_dynamics_context_and_marks_the_channel(app: Any, host: str) -> None:
    slug = _event_type(app, [host], requiredFields=["answers.caseNumber"])
    hold = _hold(app, slug, recordType="lead", recordId=LEAD)
    assert hold.status == 201, hold.body
    assert set(hold.json()) == {"id", "start", "end", "expiresAt"}
    context = {"recordType": "lead", "recordId": LEAD, "company": "Fabrikam"}
    missing = _book(app, slug, hold.json(), context=context)
    assert missing.status == 422
    assert missing.json()["errors"] == [
        {"field": "answers.caseNumber", "message": "required by this event type"}
    ]
    made = _book(app, slug, hold.json(), context=context, answers={"caseNumber": "CAS-1"})
    assert made.status == 201, made.body
    page_view = made.json()
    assert page_view["calendarUrl"] == f"/api/book/{slug}/bookings/{page_view['id']}/calendar.ics"
    assert "hostIds" not in page_view and "routing" not in page_view
    stored = app.get(f"/bookings/{page_view['id']}").json()
    assert stored["context"] == context and stored["answers"] == {"caseNumber": "CAS-1"}
    assert stored["metadata"] == {"channel": "booking-page"} and stored["hostIds"] == [host]
    again = app.get(f"/book/{slug}/bookings/{page_view['id']}", key=None)
    assert again.status == 200 and again.json()["start"] == page_view["start"] == AT_9


def test_the_same_idempotency_key_replays_the_first_booking(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    hold = _hold(app, slug).json()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = _book(app, slug, hold, headers=key)
    second = _book(app, slug, hold, headers=key)
    assert first.status == second.status == 201
    assert second.json()["id"] == first.json()["id"] and second.headers.get("Idempotent-Replayed") == "true"


def test_a_taken_slot_is_409_and_an_expired_hold_has_its_own_code(app: Any, host: str, clock: Any) -> None:
    slug = _event_type(app, [host])
    hold = _hold(app, slug).json()
    taken = _hold(app, slug)
    assert taken.status == 409 and taken.json()["code"] == "slot-unavailable"
    clock.set(clock.now() + timedelta(minutes=6))
    late = _book(app, slug, hold)
    assert late.status == 409 and late.json()["code"] == "hold-expired"


def test_visitors_cannot_choose_hosts_or_pass_other_context(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    r = app.post(f"/book/{slug}/holds", json_body={"start": AT_9, "hostId": host}, key=None)
    assert r.status == 422 and r.json()["errors"][0]["field"] == "hostId"
    r = _hold(app, slug, ownerId=host)
    assert r.status == 422 and r.json()["errors"][0]["field"] == "context.ownerId"
    r = _hold(app, slug, recordType="lead", recordId="not-a-guid")
    assert r.status == 422 and r.json()["errors"][0]["field"] == "context.recordId"
    r = app.get(f"/book/{slug}/slots", params={"start": MONDAY, "end": MONDAY, "hostId": host}, key=None)
    assert r.status == 422 and r.json()["errors"][0]["field"] == "hostId"
    r = app.get(f"/book/{slug}/slots", params={"start": MONDAY}, key=None)
    assert r.status == 422 and r.json()["errors"][0]["field"] == "end"
    r = app.get(
        f"/book/{slug}/slots", params={"start": MONDAY, "end": MONDAY, "timeZone": "Mars/Base"}, key=None
    )
    assert r.status == 422 and r.json()["errors"][0]["field"] == "timeZone"


def test_a_booking_is_only_visible_under_its_own_event_type(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    other = _event_type(app, [host])
    made = _book(app, slug, _hold(app, slug).json()).json()
    assert app.get(f"/book/{other}/bookings/{made['id']}", key=None).status == 404
    assert app.get(f"/book/{slug}/bookings/bk_{'0' * 24}", key=None).status == 404
    assert app.get(f"/book/{slug}/bookings/nonsense", key=None).status == 404


def test_the_calendar_file_describes_the_booking_in_utc(app: Any, host: str) -> None:
    slug = _event_type(app, [host], title="Discovery, with notes; really")
    made = _book(app, slug, _hold(app, slug).json()).json()
    r = app.get(made["calendarUrl"].removeprefix("/api"), key=None)
    assert r.status == 200 and r.content_type.startswith("text/calendar")
    assert r.headers["Content-Disposition"] == f'attachment; filename="{slug}.ics"'
    text = r.body.decode()
    assert "DTSTART:20261207T150000Z\r\n" in text and "DTEND:20261207T153000Z\r\n" in text
    assert "SUMMARY:Discovery\\, with notes\\; really\r\n" in text
    assert f"UID:{made['id']}@booking-page\r\n" in text and "STATUS:CONFIRMED\r\n" in text


def test_a_routed_event_type_holds_with_the_host_routing_picks(
    app: Any, graph_sim: Any, dataverse: Any
) -> None:
    hosts = sorted(_host(app, graph_sim) for _ in range(2))
    rule_set = "rs-" + uuid.uuid4().hex[:8]
    rules = {
        "rules": [
            {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
            {"name": "fallback", "strategy": "roundRobin", "pool": [hosts[0]]},
        ]
    }
    assert app.put(f"/admin/routing/{rule_set}", json_body=rules).status == 201
    slug = "routed-" + uuid.uuid4().hex[:8]
    body = {"title": "Routed", "durationMinutes": 30, "routingRuleSet": rule_set, "public": True}
    assert app.put(f"/admin/event-types/{slug}", json_body=body).status == 201
    owner = dataverse.create_user(aad_object_id=hosts[1])
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({owner})"})
    hold = _hold(app, slug, recordType="lead", recordId=lead)
    assert hold.status == 201, hold.body
    made = _book(app, slug, hold.json(), context={"recordType": "lead", "recordId": lead})
    assert made.status == 201, made.body
    assert app.get(f"/bookings/{made.json()['id']}").json()["hostIds"] == [hosts[1]]
