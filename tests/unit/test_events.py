from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from scheduling_core.domain.events import booking_event, from_json, to_json
from scheduling_core.errors import MalformedEvent, PermanentError
from scheduling_core.ports import CloudEvent

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _snapshot(**changes: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "id": "bk_123",
        "status": "confirmed",
        "version": 3,
        "start": "2026-12-07T15:00:00Z",
        "hostIds": ["h1"],
        "invitee": {"name": "Ada", "email": "ada@example.com", "phone": None},
    }
    snapshot.update(changes)
    return snapshot


def _event(**changes: Any) -> CloudEvent:
    return booking_event(
        booking=_snapshot(), event_type="booking.rescheduled", time=AT, **({"traceparent": None} | changes)
    )


def test_booking_event_is_keyed_by_booking_and_version() -> None:
    event = _event()
    assert event.id == "bk_123:3"
    assert event.source == "/bookings/bk_123"
    assert event.type == "booking.rescheduled"
    assert event.session_id == "bk_123"
    assert event.time == AT
    assert event.data == {"bookingId": "bk_123", "version": 3, "booking": _snapshot()}
    assert event.traceparent is None


def test_booking_event_copies_the_snapshot() -> None:
    snapshot = _snapshot()
    event = booking_event(booking=snapshot, event_type="booking.created", time=AT, traceparent=None)
    snapshot["invitee"]["name"] = "changed"
    assert event.data["booking"]["invitee"]["name"] == "Ada"


def test_structured_json_has_exactly_the_cloudevents_attributes() -> None:
    document = json.loads(to_json(_event()))
    assert document == {
        "specversion": "1.0",
        "id": "bk_123:3",
        "source": "/bookings/bk_123",
        "type": "booking.rescheduled",
        "time": "2026-12-01T08:00:00Z",
        "datacontenttype": "application/json",
        "data": {"bookingId": "bk_123", "version": 3, "booking": _snapshot()},
    }
    assert "sessionid" not in to_json(_event()).lower().replace("_", "")


def test_traceparent_is_an_extension_attribute_only_when_set() -> None:
    document = json.loads(to_json(_event(traceparent=TRACE)))
    assert document["traceparent"] == TRACE
    assert from_json(to_json(_event(traceparent=TRACE))).traceparent == TRACE


def test_round_trip_restores_the_session_id_from_data() -> None:
    event = _event(traceparent=TRACE)
    assert from_json(to_json(event)) == event
    assert from_json(to_json(event).encode("utf-8")) == event
    assert from_json(to_json(event)).session_id == "bk_123"


def test_time_is_written_in_utc_with_z() -> None:
    chicago = timezone(timedelta(hours=-6))
    event = booking_event(
        booking=_snapshot(),
        event_type="booking.created",
        time=datetime(2026, 12, 1, 2, 0, 0, 250000, chicago),
        traceparent=None,
    )
    assert json.loads(to_json(event))["time"] == "2026-12-01T08:00:00.250000Z"
    assert from_json(to_json(event)).time == datetime(2026, 12, 1, 8, 0, 0, 250000, UTC)


def test_other_producers_offsets_and_unknown_extensions_are_accepted() -> None:
    document = json.loads(to_json(_event()))
    document["time"] = "2026-12-01T09:00:00+01:00"
    document["comexampleext"] = "x"
    del document["datacontenttype"]  # optional in CloudEvents: JSON data is implied
    event = from_json(json.dumps(document))
    assert event.time == AT
    assert event.time.tzinfo == UTC


@pytest.mark.parametrize(
    "event_type", ["booking.created", "booking.rescheduled", "booking.cancelled", "booking.reassigned"]
)
def test_every_booking_event_type_is_allowed(event_type: str) -> None:
    assert (
        booking_event(booking=_snapshot(), event_type=event_type, time=AT, traceparent=None).type
        == event_type
    )


@pytest.mark.parametrize(
    ("booking", "event_type", "time"),
    [
        (_snapshot(), "booking.deleted", AT),
        (_snapshot(id=""), "booking.created", AT),
        (_snapshot(id=7), "booking.created", AT),
        (_snapshot(version=0), "booking.created", AT),
        (_snapshot(version="3"), "booking.created", AT),
        (_snapshot(version=True), "booking.created", AT),
        ({"version": 1}, "booking.created", AT),
        (_snapshot(), "booking.created", datetime(2026, 12, 1, 8, 0)),
        (_snapshot(extra=object()), "booking.created", AT),
        (_snapshot(extra=float("nan")), "booking.created", AT),
    ],
)
def test_booking_event_rejects_what_breaks_the_contract(
    booking: Any, event_type: str, time: datetime
) -> None:
    with pytest.raises(MalformedEvent):
        booking_event(booking=booking, event_type=event_type, time=time, traceparent=None)


def _valid() -> dict[str, Any]:
    return json.loads(to_json(_event()))


def _without(name: str) -> dict[str, Any]:
    document = _valid()
    del document[name]
    return document


def _with(**changes: Any) -> dict[str, Any]:
    document = _valid()
    document.update(changes)
    return document


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        b"\xff\xfe",
        "[]",
        "null",
        json.dumps(_without("specversion")),
        json.dumps(_with(specversion="0.3")),
        json.dumps(_with(specversion=1.0)),
        json.dumps(_without("id")),
        json.dumps(_with(id="")),
        json.dumps(_with(id=3)),
        json.dumps(_without("source")),
        json.dumps(_without("type")),
        json.dumps(_without("time")),
        json.dumps(_with(time="yesterday")),
        json.dumps(_with(time="2026-12-01T08:00:00")),
        json.dumps(_with(datacontenttype="application/xml")),
        json.dumps(_without("data")),
        json.dumps(_with(data="bk_123")),
        json.dumps(_with(data={"version": 3})),
        json.dumps(_with(data={"bookingId": "", "version": 3})),
        json.dumps(_with(traceparent=5)),
    ],
)
def test_malformed_events_are_rejected_permanently(text: str | bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        from_json(text)
    assert isinstance(caught.value, PermanentError)
    assert caught.value.detail
