"""`GET /slots/explain` over HTTP: each reason a host and a start can be set up to give, against the
Graph simulator (Outlook items) and Azurite (bookings, holds, configuration)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .scenario import BEARER, MONDAY, book, new_event_type, new_host

AT_9 = f"{MONDAY}T09:00:00-06:00"  # the app fixture's clock reads 2026-11-24 12:00Z


def _explain(app: Any, slug: str, host_id: str, start: str, **extra: str) -> dict[str, Any]:
    r = app.get(
        "/slots/explain",
        params={"eventType": slug, "hostId": host_id, "start": start, "timeZone": "America/Chicago", **extra},
    )
    assert r.status == 200, r.body
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def chicago(app: Any, graph_sim: Any) -> tuple[str, str]:
    host_id = new_host(app, graph_sim)  # America/Chicago, 08:00-12:00 on weekdays
    return host_id, new_event_type(app, [host_id], durationMinutes=30, bufferAfterMinutes=15)


def test_a_free_start_is_bookable_with_no_reasons(app: Any, chicago: tuple[str, str]) -> None:
    host_id, slug = chicago
    assert _explain(app, slug, host_id, AT_9) == {
        "start": AT_9,
        "hostId": host_id,
        "bookable": True,
        "reasons": [],
    }
    slots = app.get("/slots", params={"eventType": slug, "start": AT_9, "end": f"{MONDAY}T09:01:00-06:00"})
    assert [s["start"] for s in slots.json()["slots"]] == ["2026-12-07T15:00:00+00:00"]


def test_an_outlook_item_is_told_by_status_and_times_never_by_subject(
    app: Any, graph_sim: Any, chicago: tuple[str, str]
) -> None:
    host_id, slug = chicago
    r = httpx.post(
        f"{graph_sim.v1}/users/{host_id}/events",
        headers=BEARER,
        json={
            "subject": "Salary review with HR",
            "showAs": "tentative",
            "start": {"dateTime": f"{MONDAY}T09:00:00", "timeZone": "Central Standard Time"},
            "end": {"dateTime": f"{MONDAY}T09:30:00", "timeZone": "Central Standard Time"},
        },
    )
    assert r.status_code == 201, r.text
    body = _explain(app, slug, host_id, AT_9)
    assert body["bookable"] is False
    assert body["reasons"] == [
        {
            "code": "busy",
            "detail": "an Outlook item shown as tentative",
            "from": AT_9,
            "to": f"{MONDAY}T09:30:00-06:00",
        }
    ]
    assert "Salary" not in str(body)
    # 08:30-09:00 is free, but its 15 minutes of buffer after run into the item.
    assert [r["code"] for r in _explain(app, slug, host_id, f"{MONDAY}T08:30:00-06:00")["reasons"]] == [
        "buffer"
    ]


def test_hours_notice_window_and_alignment_reasons(app: Any, graph_sim: Any) -> None:
    host_id = new_host(app, graph_sim)
    slug = new_event_type(app, [host_id], minimumNoticeMinutes=7 * 24 * 60, bookingWindowDays=20)

    def codes(start: str) -> list[str]:
        return [r["code"] for r in _explain(app, slug, host_id, start)["reasons"]]

    assert codes(f"{MONDAY}T13:00:00-06:00") == ["outside-working-hours"]
    assert codes(f"{MONDAY}T09:10:00-06:00") == ["not-aligned"]
    assert codes("2026-11-26T09:00:00-06:00") == ["minimum-notice"]  # Thursday, two days from now
    assert codes("2026-12-16T09:00:00-06:00") == ["booking-window"]  # 22 days from now
    notice = _explain(app, slug, host_id, "2026-11-26T09:00:00-06:00")["reasons"][0]
    assert notice["to"] == "2026-12-01T06:00:00-06:00"  # the earliest start minimum notice allows


def test_a_date_override_is_named(app: Any, graph_sim: Any) -> None:
    host_id = new_host(app, graph_sim)
    host = app.get(f"/admin/hosts/{host_id}").json()
    host.pop("id", None)
    r = app.put(
        f"/admin/hosts/{host_id}", json_body={**host, "dateOverrides": [{"date": MONDAY, "intervals": []}]}
    )
    assert r.status == 200, r.body
    slug = new_event_type(app, [host_id])
    assert [r["code"] for r in _explain(app, slug, host_id, AT_9)["reasons"]] == ["date-override"]


def test_bookings_holds_and_caps_are_named(app: Any, graph_sim: Any) -> None:
    host_id = new_host(app, graph_sim)
    slug = new_event_type(app, [host_id], maxBookingsPerHostPerDay=1)
    assert book(app, slug, AT_9).status == 201
    hold = app.post("/holds", json_body={"eventType": slug, "start": "2026-12-08T09:00:00-06:00"})
    assert hold.status == 201, hold.body
    body = _explain(app, slug, host_id, AT_9)
    # The booking's own Outlook event (once synced) is a busy item too: every reason is listed.
    ours = [r for r in body["reasons"] if r["code"] != "busy"]
    assert [(r["code"], r.get("from"), r.get("to")) for r in ours] == [
        ("booked", AT_9, f"{MONDAY}T09:30:00-06:00"),
        ("event-type-cap", None, None),
    ]
    assert [r["code"] for r in _explain(app, slug, host_id, f"{MONDAY}T10:00:00-06:00")["reasons"]] == [
        "event-type-cap"
    ]
    held = _explain(app, slug, host_id, "2026-12-08T09:00:00-06:00")["reasons"]
    assert [r["code"] for r in held] == ["held"]


def test_an_inactive_host_is_named(app: Any, graph_sim: Any) -> None:
    host_id = new_host(app, graph_sim)
    host = app.get(f"/admin/hosts/{host_id}").json()
    host.pop("id", None)
    assert app.put(f"/admin/hosts/{host_id}", json_body={**host, "active": False}).status == 200
    slug = new_event_type(app, [host_id])
    assert [r["code"] for r in _explain(app, slug, host_id, AT_9)["reasons"]] == ["host-inactive"]


def test_bad_queries_are_422_and_unknown_hosts_404(app: Any, chicago: tuple[str, str]) -> None:
    host_id, slug = chicago
    r = app.get(
        "/slots/explain", params={"eventType": slug, "hostId": host_id, "start": f"{MONDAY}T09:00:00"}
    )
    assert r.status == 422 and r.json()["errors"][0]["field"] == "start"
    r = app.get(
        "/slots/explain", params={"eventType": slug, "hostId": host_id, "start": "1999-12-31T09:00:00Z"}
    )
    assert r.status == 422 and r.json()["errors"][0]["field"] == "start"
    r = app.get("/slots/explain", params={"eventType": slug, "hostId": "nobody", "start": AT_9})
    assert r.status == 404 and r.json()["code"] == "not-found"
