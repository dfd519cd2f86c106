"""Issue 13 on the booking page: private event types, per-client rate and hold limits, the held share,
holds without Graph, limits shared across instances, per-email limits, and the small controls
(headers on every answer, release under the own event type only, URLs from PUBLIC_BASE_URL,
record-id lookups that reveal nothing)."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from .scenario import AT_9, MONDAY, new_event_type
from .scenario import new_host as _host

INVITEE = {"name": "Jo Doe", "email": "jo@fabrikam.com"}
TUESDAY_8 = "2026-11-24T08:00:00-06:00"  # the first slot after the clock's 2026-11-24 12:00Z


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return _host(app, graph_sim)


def _public(app: Any, host_ids: list[str], **fields: Any) -> str:
    return new_event_type(app, host_ids, public=True, **fields)


def _settings(clock: Any, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Set app settings and rebuild the services on the same clock (a fresh instance, as a scale-out)."""
    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    for name, value in values.items():
        monkeypatch.setenv(name, value)
    install_services(build_services(Settings.from_env(os.environ), clock))


def _from(client: str) -> dict[str, str]:
    """What the platform's front end sends for a caller at `client` (it appends the peer it saw)."""
    return {"X-Forwarded-For": f"203.0.113.77, {client}"}


def _hold(app: Any, slug: str, start: str = AT_9, client: str = "198.51.100.1", **context: str) -> Any:
    return app.post(
        f"/book/{slug}/holds",
        json_body={"start": start, "timeZone": "America/Chicago", "context": context},
        headers=_from(client),
        key=None,
    )


def _slots(app: Any, slug: str, client: str = "198.51.100.1", **params: str) -> Any:
    return app.get(
        f"/book/{slug}/slots",
        params={"start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago", **params},
        headers=_from(client),
        key=None,
    )


def _book(app: Any, slug: str, start: str, email: str, client: str = "198.51.100.1") -> Any:
    body = {"start": start, "timeZone": "America/Chicago", "invitee": {"name": "Jo", "email": email}}
    headers = {**_from(client), "Idempotency-Key": uuid.uuid4().hex}
    return app.post(f"/book/{slug}/bookings", json_body=body, headers=headers, key=None)


def test_event_types_are_private_unless_marked_public(app: Any, host: str) -> None:
    private = new_event_type(app, [host])
    stored = app.get(f"/admin/event-types/{private}").json()
    assert stored["public"] is False
    for response in (
        app.get(f"/book/{private}", key=None),
        _slots(app, private),
        _hold(app, private),
    ):
        assert response.status == 404
    public = _public(app, [host])
    assert app.get(f"/admin/event-types/{public}").json()["public"] is True
    assert app.get(f"/book/{public}", key=None).status == 200
    assert _hold(app, public).status == 201


def test_a_client_over_its_request_rate_gets_429_rate_limited_and_others_do_not(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = _public(app, [host])
    _settings(clock, monkeypatch, BOOKING_PAGE_REQUESTS_PER_MINUTE="3")
    assert [_slots(app, slug).status for _ in range(3)] == [200, 200, 200]
    refused = _slots(app, slug)
    assert refused.status == 429 and refused.json()["code"] == "rate-limited"
    assert refused.headers["Retry-After"] == "60"  # the clock stands at 12:00:00: the minute is whole
    assert _hold(app, slug).status == 429  # every /book/* request counts, holds too
    assert _slots(app, slug, client="198.51.100.2").status == 200
    clock.set(clock.now() + timedelta(seconds=60))
    assert _slots(app, slug).status == 200


def test_a_client_holds_at_most_two_times_at_once_then_429_too_many_holds(
    app: Any, host: str, clock: Any
) -> None:
    slug = _public(app, [host])
    first = _hold(app, slug, f"{MONDAY}T09:00:00-06:00")
    second = _hold(app, slug, f"{MONDAY}T09:30:00-06:00")
    assert (first.status, second.status) == (201, 201)
    third = _hold(app, slug, f"{MONDAY}T10:00:00-06:00")
    assert third.status == 429 and third.json()["code"] == "too-many-holds"
    assert third.headers["Retry-After"] == "300"  # the first hold expires in 5 minutes
    assert _hold(app, slug, f"{MONDAY}T10:00:00-06:00", client="198.51.100.9").status == 201
    released = app.delete(f"/book/{slug}/holds/{first.json()['id']}", headers=_from("198.51.100.1"), key=None)
    assert released.status == 204
    assert _hold(app, slug, f"{MONDAY}T10:30:00-06:00").status == 201
    clock.set(clock.now() + timedelta(seconds=301))  # every hold expired: the client may hold again
    assert _hold(app, slug, f"{MONDAY}T11:00:00-06:00").status == 201


def test_page_holds_never_cover_more_than_the_share_of_bookable_slots(app: Any, host: str) -> None:
    # Window 2 days from Tue 06:00 Chicago: Tue 08-12 and Wed 08-12, 30-minute slots = 16; 20% = 3.
    slug = _public(app, [host], bookingWindowDays=2)
    starts = [f"2026-11-24T{h:02d}:{m:02d}:00-06:00" for h in (8, 9, 10) for m in (0, 30)]
    answers = [_hold(app, slug, start, client=f"198.51.100.{i + 10}") for i, start in enumerate(starts[:4])]
    assert [a.status for a in answers] == [201, 201, 201, 429]
    assert answers[3].json()["code"] == "too-many-holds"
    assert answers[3].headers["Retry-After"] == "300"


def test_a_page_hold_makes_no_graph_call(app: Any, host: str, graph_sim: Any) -> None:
    slug = _public(app, [host])
    graph_sim.clear_requests()
    assert _hold(app, slug).status == 201
    assert graph_sim.requests() == []


def test_the_limits_hold_across_instances(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = _public(app, [host])
    assert _hold(app, slug, f"{MONDAY}T09:00:00-06:00").status == 201
    _settings(clock, monkeypatch)  # another instance: nothing of the first one's memory
    assert _hold(app, slug, f"{MONDAY}T09:30:00-06:00").status == 201
    _settings(clock, monkeypatch)
    assert _hold(app, slug, f"{MONDAY}T10:00:00-06:00").status == 429


def test_an_invitee_email_books_at_most_its_daily_limit_on_the_page(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = _public(app, [host])
    _settings(clock, monkeypatch, BOOKING_PAGE_MAX_BOOKINGS_PER_EMAIL="1")
    assert _book(app, slug, f"{MONDAY}T09:00:00-06:00", "jo@fabrikam.com").status == 201
    again = _book(app, slug, f"{MONDAY}T09:30:00-06:00", "JO@Fabrikam.com", client="198.51.100.5")
    assert again.status == 429 and again.json()["code"] == "rate-limited"
    assert again.headers["Retry-After"] == str(12 * 3600)  # until the next UTC day
    assert _book(app, slug, f"{MONDAY}T09:30:00-06:00", "max@fabrikam.com").status == 201


def _assert_page_headers(response: Any) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff", response.status
    assert response.headers["Cache-Control"] == "no-store", response.status
    assert "default-src 'none'" in response.headers["Content-Security-Policy"], response.status


def test_every_book_answer_has_nosniff_csp_and_no_store_errors_included(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = _public(app, [host])
    answers = [
        app.get(f"/book/{slug}", key=None),
        app.get("/book/no-such-type", key=None),
        app.get("/book/assets/booking.js", key=None),
        app.get("/book/assets/nothing.js", key=None),
        _slots(app, "no-such-type"),
        _slots(app, slug, start="not-a-date"),
        app.post(f"/book/{slug}/holds", body=b"{", headers={"Content-Type": "application/json"}, key=None),
        app.delete(f"/book/{slug}/holds/hd_{'0' * 24}", key=None),
        app.get(f"/book/{slug}/bookings/bk_{'0' * 24}", key=None),
    ]
    assert [a.status for a in answers] == [200, 404, 200, 404, 404, 422, 400, 404, 404]
    for answer in answers:
        _assert_page_headers(answer)
    _settings(clock, monkeypatch, BOOKING_PAGE_REQUESTS_PER_MINUTE="1")
    assert _slots(app, slug, client="198.51.100.44").status == 200
    limited = _slots(app, slug, client="198.51.100.44")
    assert limited.status == 429
    _assert_page_headers(limited)


def test_a_hold_is_released_only_under_its_own_event_type(app: Any, host: str) -> None:
    slug, other = _public(app, [host]), _public(app, [host])
    hold = _hold(app, slug).json()
    wrong = app.delete(f"/book/{other}/holds/{hold['id']}", headers=_from("198.51.100.1"), key=None)
    assert wrong.status == 404 and wrong.json()["code"] == "not-found"
    assert _hold(app, slug, client="198.51.100.2").status == 409  # still held
    assert app.delete(f"/book/{slug}/holds/{hold['id']}", key=None).status == 204
    assert _hold(app, slug, client="198.51.100.2").status == 201


def _config(body: bytes) -> dict[str, Any]:
    import json

    match = re.search(rb'<script type="application/json" id="booking-config">(.*?)</script>', body, re.S)
    assert match, body[:300]
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def test_page_urls_come_from_public_base_url_never_from_the_request_path(
    app: Any, host: str, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = _public(app, [host])
    page = app.get(f"//book/{slug}", key=None)  # /api//book/...: the old page built "/api//book/..."
    assert page.status == 200
    assert _config(page.body)["api"] == f"/api/book/{slug}"
    assert b'"//api' not in page.body and b'="//api' not in page.body
    _settings(clock, monkeypatch, PUBLIC_BASE_URL="https://sched.contoso.com/api")
    page = app.get(f"//book/{slug}", key=None)
    assert _config(page.body)["api"] == f"https://sched.contoso.com/api/book/{slug}"
    assert re.search(
        rb'src="https://sched\.contoso\.com/api/book/assets/booking\.js\?v=[0-9a-f]{16}"', page.body
    )
    made = _book(app, slug, AT_9, "jo@fabrikam.com")
    assert made.status == 201, made.body
    url = f"https://sched.contoso.com/api/book/{slug}/bookings/{made.json()['id']}/calendar.ics"
    assert made.json()["calendarUrl"] == url


def test_a_slot_lookup_with_a_record_id_reveals_nothing_and_counts_against_the_rate(
    app: Any, graph_sim: Any, dataverse: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
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
    unknown = str(uuid.uuid4())
    without = _slots(app, slug)
    with_unknown = _slots(app, slug, recordType="lead", recordId=unknown)
    assert (without.status, with_unknown.status) == (200, 200), with_unknown.body
    assert with_unknown.body == without.body  # the unknown lead fell through to the fallback rule
    _settings(clock, monkeypatch, BOOKING_PAGE_REQUESTS_PER_MINUTE="3")
    answers = [
        _slots(app, slug, client="198.51.100.3", recordType="lead", recordId=unknown) for _ in range(4)
    ]
    assert [a.status for a in answers] == [200, 200, 200, 429]
