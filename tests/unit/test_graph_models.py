"""Graph wire models: parsing sample payloads, and the models' fit to Graph's v1.0 schema (no I/O)."""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
import typing_extensions
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from scheduling_core.adapters import graph_models as gm
from scheduling_core.adapters.graph import free_busy_of
from scheduling_core.domain.values import BusyItem, ShowAs
from tests.fixtures.graph import GraphSchema

SCHEDULE_RESPONSE: dict[str, Any] = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
    "value": [
        {
            "scheduleId": "rep@contoso.com",
            "availabilityView": "0220100",
            "scheduleItems": [
                {
                    "isPrivate": False,
                    "status": "busy",
                    "subject": "Pipeline review",
                    "location": "Room 4",
                    "start": {"dateTime": "2026-12-01T09:00:00.0000000", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-12-01T10:00:00.0000000", "timeZone": "UTC"},
                },
                {
                    "status": "Tentative",  # Graph's own examples capitalise
                    "start": {"dateTime": "2026-12-01T06:00:00.0000000", "timeZone": "Pacific Standard Time"},
                    "end": {"dateTime": "2026-12-01T06:30:00.5000000", "timeZone": "tzone://Microsoft/Utc"},
                },
                {
                    "status": "somethingNew",
                    "start": {"dateTime": "2026-12-01T15:00:00Z", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-12-01T16:00:00+01:00", "timeZone": "UTC"},
                    "futureProperty": {"ignored": True},
                },
            ],
            "workingHours": {
                "daysOfWeek": ["monday", "friday"],
                "startTime": "08:00:00.0000000",
                "endTime": "17:00:00.0000000",
                "timeZone": {
                    "@odata.type": "#microsoft.graph.customTimeZone",
                    "name": "Customized Time Zone",
                    "bias": 480,
                },
            },
        },
        {
            "scheduleId": "nobody@contoso.com",
            "error": {"message": "Unable to resolve e-mail address.", "responseCode": "5009"},
        },
    ],
}


def _microseconds(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def test_a_get_schedule_answer_is_validated_from_its_bytes_into_utc_bounds() -> None:
    answer = gm.GET_SCHEDULE_ANSWER.validate_json(json.dumps(SCHEDULE_RESPONSE).encode())
    found, missing = answer["value"]

    assert found == {  # only what we read is kept: `futureProperty`, `subject` & co. are ignored
        "scheduleId": "rep@contoso.com",
        "scheduleItems": [
            {
                "status": "busy",
                "start": {"dateTime": "2026-12-01T09:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-01T10:00:00.0000000", "timeZone": "UTC"},
            },
            {
                "status": "Tentative",
                "start": {"dateTime": "2026-12-01T06:00:00.0000000", "timeZone": "Pacific Standard Time"},
                "end": {"dateTime": "2026-12-01T06:30:00.5000000", "timeZone": "tzone://Microsoft/Utc"},
            },
            {
                "status": "somethingNew",
                "start": {"dateTime": "2026-12-01T15:00:00Z", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-01T16:00:00+01:00", "timeZone": "UTC"},
            },
        ],
    }
    busy, tentative, novel = found["scheduleItems"] or []
    assert [gm.show_as_of(item.get("status", "")) for item in (busy, tentative, novel)] == [
        ShowAs.BUSY,
        ShowAs.TENTATIVE,  # Graph's own examples capitalise
        ShowAs.UNKNOWN,  # an evolvable enum's new member blocks, to be safe
    ]
    stamps = [
        gm.graph_datetime_microseconds(stamp["dateTime"], stamp.get("timeZone"))
        for item in (busy, tentative, novel)
        for stamp in (item["start"], item["end"])
    ]
    assert stamps == [
        _microseconds(datetime(2026, 12, 1, 9, tzinfo=UTC)),
        _microseconds(datetime(2026, 12, 1, 10, tzinfo=UTC)),
        _microseconds(datetime(2026, 12, 1, 14, tzinfo=UTC)),  # PST is UTC-8
        _microseconds(datetime(2026, 12, 1, 6, 30, 0, 500000, tzinfo=UTC)),
        _microseconds(datetime(2026, 12, 1, 15, tzinfo=UTC)),
        _microseconds(datetime(2026, 12, 1, 15, tzinfo=UTC)),  # the explicit offset wins
    ]
    # The tentative item ends before it starts and the new one is empty: neither blocks anything.
    assert gm.schedule_item_bounds([busy, tentative, novel]) == [(stamps[0], stamps[1], ShowAs.BUSY)]

    assert missing == {
        "scheduleId": "nobody@contoso.com",
        "error": {"message": "Unable to resolve e-mail address.", "responseCode": "5009"},
    }
    assert missing.get("error") is not None
    assert gm.describe_free_busy_error(missing["error"] or {}) == "5009: Unable to resolve e-mail address."
    assert gm.describe_free_busy_error({}) == "Graph could not read this schedule"


def test_a_schedule_item_without_a_status_counts_as_unknown() -> None:
    item: gm.ScheduleItemWire = {
        "start": {"dateTime": "2026-12-01T09:00:00.0000000"},
        "end": {"dateTime": "2026-12-01T09:30:00.0000000"},
    }
    assert gm.schedule_item_bounds([item]) == [
        (
            _microseconds(datetime(2026, 12, 1, 9, tzinfo=UTC)),
            _microseconds(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
            ShowAs.UNKNOWN,
        )
    ]


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        (b"", "json_invalid"),
        (b"<html>busy</html>", "json_invalid"),
        (b'{"value": [{"scheduleItems": [{"start": {"dateTime": "2026-12-01T09:00:00"}}]}]}', "missing"),
        (b'{"value": [{"scheduleItems": [{"start": {}, "end": {}}]}]}', "missing"),
        (
            b'{"value": [{"scheduleItems": [{"status": 3, "start": {"dateTime": "x"}, '
            b'"end": {"dateTime": "y"}}]}]}',
            "string_type",
        ),
        (b'{"value": {"scheduleId": "a"}}', "list_type"),
    ],
)
def test_an_unreadable_get_schedule_answer_is_refused(body: bytes, fault: str) -> None:
    with pytest.raises(ValidationError) as refused:
        gm.GET_SCHEDULE_ANSWER.validate_json(body)
    assert refused.value.errors()[0]["type"] == fault


def test_a_get_schedule_request_is_written_with_graphs_names() -> None:
    request = gm.GetScheduleRequest(
        schedules=["a@contoso.com"],
        start_time=gm.DateTimeTimeZone.utc(datetime(2026, 12, 1, 8, 0, 0, 250000, tzinfo=UTC)),
        end_time=gm.DateTimeTimeZone.utc(datetime(2026, 12, 2, tzinfo=UTC)),
        availability_view_interval=15,
    )
    assert request.to_wire() == {
        "schedules": ["a@contoso.com"],
        "startTime": {"dateTime": "2026-12-01T08:00:00.2500000", "timeZone": "UTC"},
        "endTime": {"dateTime": "2026-12-02T00:00:00.0000000", "timeZone": "UTC"},
        "availabilityViewInterval": 15,
    }
    with pytest.raises(ValueError, match=r"availability_?view_?interval|availabilityViewInterval"):
        gm.GetScheduleRequest.model_validate({**request.to_wire(), "availabilityViewInterval": 2})


def test_unreadable_times_and_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="not a Graph dateTime"):
        gm.parse_graph_datetime("1 December 2026", "UTC")
    with pytest.raises(ValueError, match="time zone"):
        gm.parse_graph_datetime("2026-12-01T09:00:00", "Middle Earth Standard Time")
    with pytest.raises(ValueError, match="aware"):
        gm.DateTimeTimeZone.utc(datetime(2026, 12, 1))


def test_an_event_and_a_page_of_events_parse() -> None:
    page = gm.EventPage.model_validate(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/calendarView",
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/users/x/calendarView?$skip=10",
            "value": [
                {
                    "@odata.etag": 'W/"abc"',
                    "id": "AAMkAG1",
                    "subject": "Demo",
                    "showAs": "oof",
                    "isCancelled": False,
                    "type": "singleInstance",
                    "start": {
                        "dateTime": "2026-12-01T09:00:00.0000000",
                        "timeZone": "W. Europe Standard Time",
                    },
                    "end": {"dateTime": "2026-12-01T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
                    "attendees": [
                        {
                            "type": "required",
                            "status": {"response": "accepted", "time": "2026-11-30T10:00:00Z"},
                            "emailAddress": {"name": "Lead", "address": "lead@fabrikam.com"},
                        }
                    ],
                    "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/x"},
                    "onlineMeetingProvider": "teamsForBusiness",
                    "recurrence": None,
                }
            ],
        }
    )
    assert page.next_link == "https://graph.microsoft.com/v1.0/users/x/calendarView?$skip=10"
    (event,) = page.value
    assert event.show_as is ShowAs.OOF
    assert event.start is not None
    assert event.start.to_utc() == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert event.attendees is not None
    assert event.attendees[0].status is not None
    assert event.attendees[0].status.response == "accepted"
    assert event.online_meeting is not None
    assert event.online_meeting.join_url is not None


def test_a_graph_error_body_parses() -> None:
    body = {"error": {"code": "TooManyRequests", "message": "Slow down", "innerError": {"request-id": "r"}}}
    error = gm.GraphError.model_validate(body).error
    assert error is not None
    assert (error.code, error.message) == ("TooManyRequests", "Slow down")


# -- the models fit Graph's schema ------------------------------------------------------------------

SCHEMA_TYPES: dict[type[BaseModel], str] = {
    gm.DateTimeTimeZone: "graph.dateTimeTimeZone",
    gm.EmailAddress: "graph.emailAddress",
    gm.Recipient: "graph.recipient",
    gm.ResponseStatus: "graph.responseStatus",
    gm.Attendee: "graph.attendee",
    gm.ItemBody: "graph.itemBody",
    gm.Location: "graph.location",
    gm.OnlineMeetingInfo: "graph.onlineMeetingInfo",
    gm.Event: "graph.event",
    gm.SingleValueExtendedProperty: "graph.singleValueLegacyExtendedProperty",
}


def _literal_members(annotation: Any) -> set[str] | None:
    """The string members of a Literal (or of ShowAs) inside an annotation, if any."""
    if annotation is ShowAs:
        return {member.value for member in ShowAs}
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return {str(arg) for arg in typing.get_args(annotation)}
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            members = _literal_members(arg)
            if members is not None:
                return members
    return None


@pytest.mark.parametrize("model", list(SCHEMA_TYPES), ids=lambda model: model.__name__)
def test_every_model_field_is_a_property_of_its_graph_type(
    model: type[BaseModel], graph_schema: GraphSchema
) -> None:
    type_name = SCHEMA_TYPES[model]
    properties = graph_schema.properties(type_name)
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias.startswith("@"):  # an instance annotation (delta's `@removed`), not a property
            continue
        assert alias in properties, f"{model.__name__}.{name}: '{alias}' is not a property of {type_name}"
        members = _literal_members(info.annotation)
        graph_type = properties[alias].removeprefix("Collection(").removesuffix(")")
        if members is not None:
            assert members == set(graph_schema.enum_members(graph_type)), f"{model.__name__}.{name}"


def test_every_wire_model_is_held_to_the_schema() -> None:
    exempt = {
        gm.GraphModel,
        gm.GetScheduleRequest,
        gm.EventPage,
        gm.EventListing,
        gm.Removed,  # delta's `@removed` annotation: OData's, not a type of the schema
        gm.GraphError,
        gm.GraphErrorDetail,
    }
    models = {
        value
        for value in vars(gm).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == gm.__name__
    }
    assert models - exempt == set(SCHEMA_TYPES)


#: getSchedule's answer is read into typed dicts (keys as on the wire), held to the schema like the models.
WIRE_SCHEMA_TYPES: dict[type, str] = {
    gm.DateTimeTimeZoneWire: "graph.dateTimeTimeZone",
    gm.ScheduleItemWire: "graph.scheduleItem",
    gm.FreeBusyErrorWire: "graph.freeBusyError",
    gm.ScheduleInformationWire: "graph.scheduleInformation",
}


@pytest.mark.parametrize("shape", list(WIRE_SCHEMA_TYPES), ids=lambda shape: shape.__name__)
def test_every_typed_dict_key_is_a_property_of_its_graph_type(shape: type, graph_schema: GraphSchema) -> None:
    type_name = WIRE_SCHEMA_TYPES[shape]
    properties = graph_schema.properties(type_name)
    assert set(shape.__annotations__) <= set(properties), type_name


def test_every_wire_typed_dict_is_held_to_the_schema() -> None:
    shapes = {
        value
        for value in vars(gm).values()
        if typing_extensions.is_typeddict(value) and value.__module__ == gm.__name__
    }
    assert shapes - {gm.GetScheduleAnswer} == set(WIRE_SCHEMA_TYPES)  # the answer is a collection


# --- dateTime strings straight to integer microseconds (issue 17, round 2) ---------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    instant=st.datetimes(  # four-digit years, as Graph writes them
        min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
    ),
    seventh=st.integers(0, 9),
)
def test_a_utc_graph_datetime_parses_to_the_microseconds_fromisoformat_gives(
    instant: datetime, seventh: int
) -> None:
    """Graph's usual stamp (seven fractional digits, UTC) turned into integer microseconds without a
    datetime equals what `datetime.fromisoformat` reads (the seventh digit dropped), from the memo too."""
    stamp = f"{instant:%Y-%m-%dT%H:%M:%S}.{instant.microsecond:06d}{seventh}"
    expected = (datetime.fromisoformat(stamp[:26]).replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
    gm.clear_parse_memos()
    for zone in ("UTC", "tzone://Microsoft/Utc", None):
        assert gm.graph_datetime_microseconds(stamp, zone) == expected
        assert gm.graph_datetime_microseconds(stamp, zone) == expected  # a memo hit
    assert gm.graph_datetime_microseconds(stamp, "UTC") == (
        gm.parse_graph_datetime(stamp, "UTC") - _EPOCH
    ) // timedelta(microseconds=1)


@settings(max_examples=200, deadline=None)
@given(
    instant=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    form=st.sampled_from(
        ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%fZ"]
    ),
    zone=st.sampled_from(["UTC", "Pacific Standard Time", "Europe/Berlin", "tzone://Microsoft/Utc"]),
)
def test_any_graph_datetime_parses_to_the_microseconds_of_parse_graph_datetime(
    instant: datetime, form: str, zone: str
) -> None:
    """Other forms and zones take `parse_graph_datetime`: the same instant either way."""
    stamp = instant.strftime(form)
    expected = (gm.parse_graph_datetime(stamp, zone) - _EPOCH) // timedelta(microseconds=1)
    assert gm.graph_datetime_microseconds(stamp, zone) == expected


def test_a_busy_item_keeps_its_bounds_exactly_as_microseconds() -> None:
    berlin = datetime(2027, 3, 28, 3, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    item = BusyItem(start=berlin, end=berlin + timedelta(minutes=30), show_as=ShowAs.TENTATIVE)
    assert item.start_us == 1_806_195_600_123_456
    assert item.start == berlin and item.start.tzinfo is UTC
    assert item.end == datetime(2027, 3, 28, 1, 30, 0, 123456, tzinfo=UTC)
    assert item.blocks
    same = BusyItem.of_microseconds(item.start_us, item.end_us, ShowAs.TENTATIVE)
    assert same == item and hash(same) == hash(item)
    assert not BusyItem.of_microseconds(0, 1, ShowAs.FREE).blocks
    assert not BusyItem(start=berlin, end=berlin, show_as=ShowAs.BUSY, is_cancelled=True).blocks
    with pytest.raises(ValueError, match="timezone-aware"):
        BusyItem(start=datetime(2027, 3, 1), end=datetime(2027, 3, 2), show_as=ShowAs.BUSY)


def test_schedule_items_become_busy_items_sorted_and_de_duplicated() -> None:
    """Two window pieces both listing an item that straddles their boundary give it once; empty and
    reversed items are dropped; items come sorted by (start, end, status)."""

    def info(*items: tuple[str, str, str]) -> gm.ScheduleInformationWire:
        body = {
            "value": [
                {
                    "scheduleItems": [
                        {
                            "status": status,
                            "start": {"dateTime": f"2027-03-01T{a}:00.0000000", "timeZone": "UTC"},
                            "end": {"dateTime": f"2027-03-01T{b}:00.0000000", "timeZone": "UTC"},
                        }
                        for a, b, status in items
                    ]
                }
            ]
        }
        return gm.GET_SCHEDULE_ANSWER.validate_json(json.dumps(body))["value"][0]

    first = info(("10:00", "11:00", "busy"), ("09:00", "10:00", "free"), ("09:00", "10:00", "busy"))
    second = info(("10:00", "11:00", "busy"), ("08:00", "08:00", "busy"), ("12:00", "11:00", "oof"))
    items = free_busy_of([first, second]).items

    def at(hhmm: str) -> datetime:
        return datetime.fromisoformat(f"2027-03-01T{hhmm}+00:00")

    assert items == (
        BusyItem(start=at("09:00"), end=at("10:00"), show_as=ShowAs.BUSY),
        BusyItem(start=at("09:00"), end=at("10:00"), show_as=ShowAs.FREE),
        BusyItem(start=at("10:00"), end=at("11:00"), show_as=ShowAs.BUSY),
    )
    sorted_already = free_busy_of([info(("09:00", "10:00", "busy"), ("09:30", "09:45", "tentative"))])
    assert [item.show_as for item in sorted_already.items] == [ShowAs.BUSY, ShowAs.TENTATIVE]
