"""Holds and bookings through the real functions on Azurite; Outlook re-checked on the Graph simulator."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from scheduling_core.errors import BookingNotModifiable

from .scenario import AT_9, BEARER, MONDAY
from .scenario import book as _book
from .scenario import claims as _claims
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host
from .scenario import partition_rows as _partition_rows
from .scenario import race as _race
from .scenario import slot_starts as _slot_starts


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return _host(app, graph_sim)


def test_a_booking_has_the_contract_shape_and_location(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    r = _book(app, slug, AT_9)
    assert r.status == 201, r.body
    b = r.json()
    assert r.headers["Location"] == f"/api/bookings/{b['id']}"
    assert (b["status"], b["version"], b["hostIds"], b["eventType"]) == ("confirmed", 1, [host], slug)
    assert (
        b["start"] == AT_9 and b["end"] == f"{MONDAY}T09:30:00-06:00" and b["timeZone"] == "America/Chicago"
    )
    assert b["outlook"] == {"eventId": None, "joinUrl": None, "syncStatus": "pending", "drift": None}
    assert b["dynamics"]["syncStatus"] == "pending" and uuid.UUID(b["dynamics"]["appointmentId"])
    assert b["routing"]["strategy"] == "fixed"
    got = app.get(f"/bookings/{b['id']}").json()
    # The local topic delivers the event to sync-dataverse and sync-outlook before the GET; they write
    # their status back, and Outlook's event id and Teams link.
    assert got == {
        **b,
        "dynamics": {**b["dynamics"], "syncStatus": got["dynamics"]["syncStatus"]},
        "outlook": got["outlook"],
    }
    assert got["outlook"]["syncStatus"] == "synced" and got["outlook"]["eventId"]


def test_fifty_concurrent_bookings_of_one_slot_make_exactly_one(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    results = _race(50, lambda i: _book(app, slug, AT_9, invitee={"name": f"P{i}", "email": f"p{i}@x.com"}))
    statuses = Counter(r.status for r in results)
    assert statuses == {201: 1, 409: 49}, statuses
    assert {r.json()["code"] for r in results if r.status == 409} == {"slot-unavailable"}
    assert len(_partition_rows(app, host, "b|")) == 1
    assert len(_partition_rows(app, host, "o|")) == 1


def test_overlapping_but_different_starts_cannot_both_win(app: Any, host: str) -> None:
    slug = _event_type(app, [host], slotIntervalMinutes=15)
    starts = [AT_9, f"{MONDAY}T09:15:00-06:00"]
    results = _race(
        20, lambda i: _book(app, slug, starts[i % 2], invitee={"name": "P", "email": f"p{i}@x.com"})
    )
    assert Counter(r.status for r in results) == {201: 1, 409: 19}
    assert len(_partition_rows(app, host, "b|")) == 1


def test_overlapping_buffers_cannot_both_win(app: Any, host: str) -> None:
    slug = _event_type(app, [host], slotIntervalMinutes=15, bufferAfterMinutes=15)
    starts = [AT_9, f"{MONDAY}T09:30:00-06:00"]  # 09:00-09:30 + 15 min after touches 09:30
    results = _race(
        20, lambda i: _book(app, slug, starts[i % 2], invitee={"name": "P", "email": f"p{i}@x.com"})
    )
    assert Counter(r.status for r in results) == {201: 1, 409: 19}


def test_bookings_and_their_buffers_leave_slots_at_once(app: Any, host: str) -> None:
    slug = _event_type(app, [host], slotIntervalMinutes=30, bufferAfterMinutes=15)
    assert _slot_starts(app, slug) == ["08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    assert _book(app, slug, AT_9).status == 201  # blocks 09:00-09:45; 08:30's buffer would reach 09:15
    assert _slot_starts(app, slug) == ["08:00", "10:00", "10:30", "11:00", "11:30"]


def test_hold_hides_the_slot_then_converts_to_a_booking(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    hold = app.post("/holds", json_body={"eventType": slug, "start": AT_9})
    assert hold.status == 201, hold.body
    assert "09:00" not in _slot_starts(app, slug)
    assert _book(app, slug, AT_9).status == 409
    booked = _book(app, slug, AT_9, holdId=hold.json()["id"])
    assert booked.status == 201, booked.body
    assert _partition_rows(app, host, "h|") == []
    assert [c.owner for c in _claims(app, host)] == [booked.json()["id"]]


def test_an_expired_hold_stops_blocking_without_any_cleanup(app: Any, host: str, clock: Any) -> None:
    slug = _event_type(app, [host])
    hold = app.post("/holds", json_body={"eventType": slug, "start": AT_9}).json()
    clock.set(clock.now() + timedelta(minutes=6))
    assert "09:00" in _slot_starts(app, slug)
    other = _book(app, slug, AT_9)
    assert other.status == 201, other.body
    late = _book(app, slug, AT_9, holdId=hold["id"])
    # The hold ran out and someone else took the time: the slot is gone (HoldExpired is a SlotUnavailable).
    assert (late.status, late.json()["code"]) == (409, "slot-unavailable"), late.body


def test_the_timer_removes_expired_holds_and_their_claims(app: Any, host: str, clock: Any) -> None:
    from bootstrap.composition import services

    slug = _event_type(app, [host])
    app.post("/holds", json_body={"eventType": slug, "start": AT_9})
    assert services().bookings.expire_holds() == 0
    clock.set(clock.now() + timedelta(minutes=6))
    assert services().bookings.expire_holds() == 1
    assert _partition_rows(app, host, "h|") == [] and _partition_rows(app, host, "d|") == []


def test_deleting_a_hold_frees_the_slot(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    hold = app.post("/holds", json_body={"eventType": slug, "start": AT_9}).json()
    assert app.delete(f"/holds/{hold['id']}").status == 204
    assert "09:00" in _slot_starts(app, slug)
    assert app.delete(f"/holds/{hold['id']}").status == 404


def test_twenty_concurrent_requests_with_one_key_make_one_booking(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    key = str(uuid.uuid4())
    results = _race(20, lambda i: _book(app, slug, AT_9, headers={"Idempotency-Key": key}))
    created = [r for r in results if r.status == 201]
    others = [r for r in results if r.status != 201]
    assert created and all(r.status == 409 and r.json()["code"] == "idempotency-in-progress" for r in others)
    assert len({r.json()["id"] for r in created}) == 1
    assert len(_partition_rows(app, host, "b|")) == 1
    replay = _book(app, slug, AT_9, headers={"Idempotency-Key": key})
    assert replay.status == 201 and replay.body == created[0].body
    assert replay.headers["Idempotent-Replayed"] == "true"
    changed = _book(app, slug, AT_9, headers={"Idempotency-Key": key}, metadata={"utmSource": "other"})
    assert changed.status == 422 and changed.json()["code"] == "idempotency-key-reused"


def test_a_retry_after_a_crash_between_commit_and_answer_returns_the_booking_made(
    app: Any, host: str, clock: Any
) -> None:
    from datetime import timedelta

    from azure.data.tables import UpdateMode

    from bootstrap.composition import services
    from scheduling_core.adapters.idempotency_table import partition_key

    slug = _event_type(app, [host])
    key = str(uuid.uuid4())
    first = _book(app, slug, AT_9, headers={"Idempotency-Key": key})
    assert first.status == 201
    # What a process that died after the commit, before answering, leaves: the claim still in progress.
    table = services().tables.table("idempotency")
    row = table.get_entity(partition_key=partition_key("POST /bookings", key), row_key="")
    claim = {k: row[k] for k in ("PartitionKey", "RowKey", "scope", "requestHash")}
    table.upsert_entity({**claim, "state": "in-progress", "createdAt": clock.now()}, mode=UpdateMode.REPLACE)
    assert (
        _book(app, slug, AT_9, headers={"Idempotency-Key": key}).json()["code"] == "idempotency-in-progress"
    )
    clock.set(clock.now() + timedelta(seconds=121))  # the claim is stale: the retry runs again
    retry = _book(app, slug, AT_9, headers={"Idempotency-Key": key})
    assert retry.status == 201, retry.body
    assert retry.json()["id"] == first.json()["id"]
    assert len(_partition_rows(app, host, "b|")) == 1


def test_reschedule_moves_the_booking_and_frees_the_old_slot(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    b = _book(app, slug, AT_9).json()
    r = app.post(
        f"/bookings/{b['id']}/reschedule",
        json_body={"start": f"{MONDAY}T10:00:00-06:00"},
        headers={"If-Match": '"1"'},
    )
    assert r.status == 200, r.body
    moved = r.json()
    assert (moved["id"], moved["version"], moved["start"]) == (b["id"], 2, f"{MONDAY}T10:00:00-06:00")
    starts = _slot_starts(app, slug)
    assert "09:00" in starts and "10:00" not in starts
    assert _book(app, slug, f"{MONDAY}T10:00:00-06:00").status == 409
    assert _book(app, slug, AT_9).status == 201
    stale = app.post(
        f"/bookings/{b['id']}/reschedule",
        json_body={"start": f"{MONDAY}T11:00:00-06:00"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status == 409 and stale.json()["code"] == "booking-not-modifiable"
    assert len(_partition_rows(app, host, "o|")) == 3  # created, rescheduled, created


def test_a_concurrent_booking_of_the_new_slot_and_the_reschedule_cannot_both_win(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    b = _book(app, slug, AT_9).json()
    target = f"{MONDAY}T10:00:00-06:00"

    def act(i: int) -> Any:
        if i == 0:
            return app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": target})
        return _book(app, slug, target, invitee={"name": "P", "email": f"p{i}@x.com"})

    results = _race(10, act)
    assert sum(r.status in (200, 201) for r in results) == 1
    assert all(r.status == 409 for r in results if r.status not in (200, 201))
    at_target = [c for c in _claims(app, host) if c.start.isoformat() == f"{MONDAY}T16:00:00+00:00"]
    assert len(at_target) == 1  # 10:00-10:30 CST, one owner


def test_cancel_frees_the_slot_and_is_idempotent(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    b = _book(app, slug, AT_9).json()
    first = app.post(f"/bookings/{b['id']}/cancel", json_body={"reason": "customer asked"})
    assert first.status == 200 and first.json()["status"] == "cancelled" and first.json()["version"] == 2
    again = app.post(f"/bookings/{b['id']}/cancel")
    assert again.status == 200 and again.json()["version"] == 2
    assert len(_partition_rows(app, host, "o|")) == 2
    assert "09:00" in _slot_starts(app, slug)
    r = app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": f"{MONDAY}T10:00:00-06:00"})
    assert r.status == 409 and r.json()["code"] == "booking-not-modifiable"


def test_a_meeting_added_in_outlook_after_listing_slots_makes_booking_fail(
    app: Any, graph_sim: Any, host: str
) -> None:
    slug = _event_type(app, [host])
    assert "09:00" in _slot_starts(app, slug)  # free/busy now cached
    httpx.post(
        f"{graph_sim.v1}/users/{host}/events",
        headers=BEARER,
        json={
            "subject": "added by hand",
            "showAs": "busy",
            "start": {"dateTime": f"{MONDAY}T09:00:00", "timeZone": "Central Standard Time"},
            "end": {"dateTime": f"{MONDAY}T09:30:00", "timeZone": "Central Standard Time"},
        },
    ).raise_for_status()
    r = _book(app, slug, AT_9)
    assert r.status == 409 and r.json()["code"] == "slot-unavailable"
    assert _partition_rows(app, host, "b|") == []


def test_lists_by_record_and_host(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    a = _book(app, slug, AT_9, record_id="lead-A").json()
    b = _book(app, slug, f"{MONDAY}T10:00:00-06:00", record_id="lead-B").json()
    by_record = app.get("/bookings", params={"recordId": "lead-A"}).json()
    assert [x["id"] for x in by_record["items"]] == [a["id"]] and by_record["continuationToken"] is None
    by_host = app.get("/bookings", params={"hostId": host}).json()
    assert [x["id"] for x in by_host["items"]] == [a["id"], b["id"]]
    app.post(f"/bookings/{a['id']}/cancel")
    confirmed = app.get("/bookings", params={"hostId": host, "status": "confirmed"}).json()
    assert [x["id"] for x in confirmed["items"]] == [b["id"]]


def test_collective_bookings_take_every_hosts_time_or_none(app: Any, graph_sim: Any, host: str) -> None:
    other = _host(app, graph_sim)
    collective = _event_type(app, [host, other], assignment="collective")
    single = _event_type(app, [other])
    assert _book(app, single, f"{MONDAY}T10:00:00-06:00").status == 201
    assert _book(app, collective, f"{MONDAY}T10:00:00-06:00").status == 409
    assert _partition_rows(app, host, "d|") == []  # nothing left behind on the free host
    b = _book(app, collective, AT_9)
    assert b.status == 201, b.body
    assert sorted(b.json()["hostIds"]) == sorted([host, other])
    assert "09:00" not in _slot_starts(app, single)
    app.post(f"/bookings/{b.json()['id']}/cancel")
    assert "09:00" in _slot_starts(app, single)


def test_daily_caps_are_enforced_at_booking_time(app: Any, host: str) -> None:
    slug = _event_type(app, [host], maxBookingsPerHostPerDay=1)
    assert _book(app, slug, AT_9).status == 201
    r = _book(app, slug, f"{MONDAY}T10:00:00-06:00")
    assert r.status == 409
    assert _slot_starts(app, slug) == []


@pytest.mark.parametrize(
    ("patch", "status", "code"),
    [
        ({"start": "2026-11-01T09:00:00-06:00"}, 409, "slot-unavailable"),  # past
        ({"start": f"{MONDAY}T09:10:00-06:00"}, 409, "slot-unavailable"),  # off the grid
        ({"start": f"{MONDAY}T09:00:00"}, 422, "validation-failed"),  # no offset
        ({"holdId": "hd_" + "0" * 24}, 404, "not-found"),
        ({"invitee": {"name": "X", "email": "not-an-email"}}, 422, "validation-failed"),
        ({"eventType": "no-such-type"}, 404, "not-found"),
        ({"timeZone": "Nowhere/Land"}, 422, "validation-failed"),
        ({"surprise": True}, 422, "validation-failed"),
    ],
)
def test_bad_booking_input_gets_a_problem_and_writes_nothing(
    app: Any, host: str, patch: dict[str, Any], status: int, code: str
) -> None:
    slug = _event_type(app, [host])
    body = {
        "eventType": slug,
        "start": AT_9,
        "timeZone": "America/Chicago",
        "invitee": {"name": "Jo", "email": "jo@fabrikam.com"},
    } | patch
    r = app.post("/bookings", json_body=body)
    assert r.status == status, r.body
    assert r.content_type.startswith("application/problem+json") and r.json()["code"] == code
    assert _partition_rows(app, host, "b|") == [] and _partition_rows(app, host, "d|") == []


def test_required_fields_are_enforced(app: Any, host: str) -> None:
    slug = _event_type(app, [host], requiredFields=["answers.caseNumber", "invitee.phone"])
    r = _book(app, slug, AT_9)
    assert r.status == 422
    assert {e["field"] for e in r.json()["errors"]} == {"answers.caseNumber", "invitee.phone"}
    ok = _book(
        app,
        slug,
        AT_9,
        answers={"caseNumber": "CAS-1"},
        invitee={"name": "Jo", "email": "jo@x.com", "phone": "+1 555"},
    )
    assert ok.status == 201, ok.body


def test_holds_for_another_slot_or_expired_are_refused(app: Any, host: str, clock: Any) -> None:
    slug = _event_type(app, [host])
    hold = app.post("/holds", json_body={"eventType": slug, "start": AT_9}).json()
    wrong = _book(app, slug, f"{MONDAY}T10:00:00-06:00", holdId=hold["id"])
    assert wrong.status == 422 and wrong.json()["errors"][0]["field"] == "holdId"
    clock.set(clock.now() + timedelta(minutes=6))
    expired = _book(app, slug, AT_9, holdId=hold["id"])
    assert expired.status == 409 and "expired" in expired.json()["detail"]


def test_oversized_and_malformed_bodies_are_refused(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    big = _book(app, slug, AT_9, metadata={"blob": "x" * 70_000})
    assert big.status == 413 and big.json()["code"] == "payload-too-large"
    oops = app.post("/bookings", body=b"{oops", headers={"Content-Type": "application/json"})
    assert oops.json()["code"] == "invalid-json"
    assert app.get("/bookings/bk_nope").status == 404
    assert _partition_rows(app, host, "b|") == []


def test_sync_status_is_written_back_without_a_new_version_or_event(app: Any, host: str) -> None:
    from bootstrap.composition import services

    slug = _event_type(app, [host])
    b = _book(app, slug, AT_9).json()
    services().booking_store.record_sync(b["id"], "dynamics", {"syncStatus": "synced"})
    got = app.get(f"/bookings/{b['id']}").json()
    assert got["dynamics"] == {"appointmentId": b["dynamics"]["appointmentId"], "syncStatus": "synced"}
    assert got["version"] == 1 and len(_partition_rows(app, host, "o|")) == 1


class SyncLandsMidway:
    """The real store, except that a sync status is written back just before the first reschedule/cancel
    write, as an asynchronous sync can in Azure (so the booking row's ETag changes under the service)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.landed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _land(self, booking_id: str) -> None:
        if not self.landed:
            self.landed += 1
            self._store.record_sync(booking_id, "outlook", {"syncStatus": "synced"})

    def reschedule_booking(self, stored: Any, new: Any, event: Any, now: Any) -> Any:
        self._land(stored.booking.id)
        return self._store.reschedule_booking(stored, new, event, now)

    def cancel_booking(self, stored: Any, new: Any, event: Any, now: Any) -> Any:
        self._land(stored.booking.id)
        return self._store.cancel_booking(stored, new, event, now)


@pytest.mark.parametrize("change", ["reschedule", "cancel"])
def test_a_sync_write_between_read_and_write_is_retried_unless_the_caller_pinned_a_version(
    app: Any, host: str, change: str
) -> None:
    from bootstrap.composition import services
    from scheduling_core.services.bookings import BookingService

    s = services()
    slug = _event_type(app, [host])
    booking_id = _book(app, slug, AT_9).json()["id"]

    def service() -> tuple[BookingService, SyncLandsMidway]:
        store = SyncLandsMidway(s.booking_store)
        return BookingService(
            config=s.config_repository, store=store, busy=s.busy_times, clock=s.clock
        ), store

    def act(bookings: BookingService, if_match: int | None) -> Any:
        if change == "reschedule":
            return bookings.reschedule(
                booking_id, datetime.fromisoformat(f"{MONDAY}T10:00:00-06:00"), if_match=if_match
            )
        return bookings.cancel(booking_id, if_match=if_match)

    pinned, store = service()
    with pytest.raises(BookingNotModifiable):
        act(pinned, 1)
    assert store.landed == 1
    unpinned, store = service()
    assert act(unpinned, None).version == 2 and store.landed == 1
