"""Long meetings (up to 1440 minutes, buffers up to 480) keep the atomic no-double-booking guarantee:
bookings, holds, reschedules and collective bookings through the real functions on Azurite."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .scenario import MONDAY
from .scenario import book as _book
from .scenario import claims as _claims
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host
from .scenario import partition_rows as _partition_rows
from .scenario import race as _race

TUESDAY = "2026-12-08"
WEDNESDAY = "2026-12-09"


def _visit_type(app: Any, hosts: list[str], **fields: Any) -> str:
    """8-hour visits with an hour's buffer either side, bookable on the hour."""
    return _event_type(
        app,
        hosts,
        durationMinutes=480,
        slotIntervalMinutes=60,
        bufferBeforeMinutes=60,
        bufferAfterMinutes=60,
        **fields,
    )


def test_fifty_clients_racing_for_overlapping_eight_hour_visits_with_buffers_make_exactly_one(
    app: Any, graph_sim: Any
) -> None:
    host = _host(app, graph_sim, hours=("07:00", "19:00"))
    slug = _visit_type(app, [host])
    # Every start from 07:00 to 11:00 overlaps every other once the hour of buffer is counted.
    starts = [f"{MONDAY}T{7 + i % 5:02d}:00:00-06:00" for i in range(50)]
    results = _race(
        50, lambda i: _book(app, slug, starts[i], invitee={"name": f"P{i}", "email": f"p{i}@x.com"})
    )
    statuses = Counter(r.status for r in results)
    assert statuses == {201: 1, 409: 49}, statuses
    assert {r.json()["code"] for r in results if r.status == 409} == {"slot-unavailable"}
    winner = next(r.json() for r in results if r.status == 201)
    assert [c.owner for c in _claims(app, host)] == [winner["id"]]
    assert len(_partition_rows(app, host, "b|")) == 1 and len(_partition_rows(app, host, "o|")) == 1


def test_a_day_long_meeting_with_longest_buffers_blocks_three_utc_days(app: Any, graph_sim: Any) -> None:
    host = _host(app, graph_sim, zone="UTC", hours=("00:00", "24:00"))
    long_type = _event_type(
        app, [host], durationMinutes=1440, bufferBeforeMinutes=480, bufferAfterMinutes=480
    )
    short_type = _event_type(app, [host])
    booked = _book(app, long_type, f"{TUESDAY}T00:00:00Z", timeZone="UTC")
    assert booked.status == 201, booked.body
    # Monday 16:00 (buffer before) to Wednesday 08:00 (buffer after): three day rows, one claim.
    assert [r["RowKey"] for r in _partition_rows(app, host, "d|")] == [
        f"d|{MONDAY}",
        f"d|{TUESDAY}",
        f"d|{WEDNESDAY}",
    ]
    assert [c.owner for c in _claims(app, host)] == [booked.json()["id"]]
    for start, status in [
        (f"{MONDAY}T15:30:00Z", 201),  # ends 16:00, where the buffer begins
        (f"{MONDAY}T16:00:00Z", 409),  # in the buffer before
        (f"{TUESDAY}T12:00:00Z", 409),  # in the meeting
        (f"{WEDNESDAY}T07:30:00Z", 409),  # in the buffer after
        (f"{WEDNESDAY}T08:00:00Z", 201),  # where the buffer ends
    ]:
        assert _book(app, short_type, start, timeZone="UTC").status == status, start
    slots = app.get(
        "/slots", params={"eventType": short_type, "start": WEDNESDAY, "end": WEDNESDAY, "timeZone": "UTC"}
    ).json()["slots"]
    assert slots[0]["start"] == f"{WEDNESDAY}T08:30:00+00:00"  # 08:00 is booked, before it the buffer


def test_a_hold_on_a_long_meeting_blocks_until_it_expires_then_is_taken_over(
    app: Any, graph_sim: Any, clock: Any
) -> None:
    host = _host(app, graph_sim, hours=("07:00", "19:00"))
    slug = _visit_type(app, [host])
    hold = app.post("/holds", json_body={"eventType": slug, "start": f"{MONDAY}T08:00:00-06:00"})
    assert hold.status == 201, hold.body
    assert _book(app, slug, f"{MONDAY}T10:00:00-06:00").status == 409
    clock.set(clock.now() + timedelta(minutes=6))
    taker = _book(app, slug, f"{MONDAY}T10:00:00-06:00")
    assert taker.status == 201, taker.body
    assert [c.owner for c in _claims(app, host)] == [taker.json()["id"]]  # the expired hold is gone


def test_rescheduling_a_long_meeting_and_booking_its_new_time_cannot_both_win(
    app: Any, graph_sim: Any
) -> None:
    host = _host(app, graph_sim, hours=("07:00", "19:00"))
    slug = _visit_type(app, [host])
    moving = _book(app, slug, f"{MONDAY}T08:00:00-06:00").json()
    target = f"{TUESDAY}T09:00:00-06:00"

    def act(i: int) -> Any:
        if i == 0:
            return app.post(f"/bookings/{moving['id']}/reschedule", json_body={"start": target})
        return _book(
            app, slug, f"{TUESDAY}T{8 + i % 3:02d}:00:00-06:00", invitee={"name": "P", "email": "p@x.com"}
        )

    results = _race(10, act)
    assert sum(r.status in (200, 201) for r in results) == 1, [r.status for r in results]
    assert all(r.status == 409 for r in results if r.status not in (200, 201))
    owners = [c.owner for c in _claims(app, host)]
    assert len(owners) == len(set(owners))
    tuesday = [c for c in _claims(app, host) if c.start.date() == date(2026, 12, 8)]
    assert len(tuesday) == 1
    if results[0].status == 200:  # the move won: Monday is free again
        assert [c.owner for c in _claims(app, host)] == [moving["id"]]
        assert _book(app, slug, f"{MONDAY}T08:00:00-06:00").status == 201
    else:  # a booking won: the long meeting stays where it was
        assert moving["id"] in owners and len(owners) == 2


def test_a_long_collective_booking_takes_every_hosts_time_or_none(app: Any, graph_sim: Any) -> None:
    first = _host(app, graph_sim, hours=("07:00", "19:00"))
    second = _host(app, graph_sim, hours=("07:00", "19:00"))
    collective = _visit_type(app, [first, second], assignment="collective")
    short = _event_type(app, [second])
    assert _book(app, short, f"{MONDAY}T16:30:00-06:00").status == 201  # inside 08:00's buffer after
    assert _book(app, collective, f"{MONDAY}T08:00:00-06:00").status == 409
    assert _claims(app, first) == []  # nothing left behind on the free host
    booked = _book(app, collective, f"{TUESDAY}T08:00:00-06:00")
    assert booked.status == 201, booked.body
    ids = {booked.json()["id"]}
    assert {c.owner for c in _claims(app, first)} == ids
    assert {c.owner for c in _claims(app, second) if c.start.date() == date(2026, 12, 8)} == ids
    claim = next(c for c in _claims(app, first))
    assert (claim.start, claim.end) == (
        datetime(2026, 12, 8, 14, tzinfo=UTC),
        datetime(2026, 12, 8, 22, tzinfo=UTC),
    )
    assert _book(app, short, f"{TUESDAY}T16:30:00-06:00").status == 409
