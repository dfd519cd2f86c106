from __future__ import annotations

import pytest
from pydantic import ValidationError

from scheduling_core.documents.config import EventTypeDoc, HostDoc

HOST = {
    "email": "ana@contoso.com",
    "displayName": "Ana Ruiz",
    "timeZone": "Europe/Berlin",
    "workingHours": [{"days": ["mon", "tue"], "start": "09:00", "end": "17:00"}],
    "dateOverrides": [
        {"date": "2026-12-24", "intervals": []},
        {"date": "2026-12-23", "intervals": [{"start": "10:00", "end": "12:00"}]},
    ],
    "skills": {"german": 4},
    "territories": ["DACH"],
    "weight": 100,
    "maxMeetingsPerDay": 8,
    "active": True,
    "dynamicsUserId": None,
}


def test_host_document_round_trips_through_the_domain_value() -> None:
    doc = HostDoc.model_validate(HOST)
    assert HostDoc.from_domain(doc.to_domain("h1")).model_dump() == doc.model_dump()


def test_windows_zone_names_are_stored_as_iana() -> None:
    doc = HostDoc.model_validate(HOST | {"timeZone": "W. Europe Standard Time"})
    assert doc.timeZone == "Europe/Berlin"
    assert (
        HostDoc.model_validate(HOST | {"timeZone": "Pacific Standard Time"}).timeZone == "America/Los_Angeles"
    )


def test_end_of_day_may_be_written_as_24_00() -> None:
    host = HostDoc.model_validate(
        HOST | {"workingHours": [{"days": ["sun"], "start": "18:00", "end": "24:00"}]}
    )
    assert host.to_domain("h").working_hours[0].hours.end_minute == 1440


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"email": "not-an-email"}, "email"),
        ({"workingHours": [{"days": ["mon"], "start": "17:00", "end": "09:00"}]}, "workingHours"),
        ({"workingHours": [{"days": ["mon"], "start": "24:00", "end": "24:00"}]}, "workingHours"),
        ({"workingHours": [{"days": ["mon"], "start": "9:00", "end": "17:00"}]}, "workingHours"),
        ({"workingHours": [{"days": ["funday"], "start": "09:00", "end": "17:00"}]}, "workingHours"),
        ({"weight": -1}, "weight"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_host_documents_name_the_offending_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        HostDoc.model_validate(HOST | patch)
    assert any(str(e["loc"][0]) == field for e in err.value.errors())


def test_overlapping_working_hours_on_one_day_are_rejected() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        HostDoc.model_validate(
            HOST
            | {
                "workingHours": [
                    {"days": ["mon"], "start": "09:00", "end": "12:00"},
                    {"days": ["mon", "tue"], "start": "11:00", "end": "15:00"},
                ]
            }
        )


def test_two_overrides_for_one_date_are_rejected() -> None:
    with pytest.raises(ValidationError, match="two date overrides"):
        HostDoc.model_validate(HOST | {"dateOverrides": [{"date": "2026-12-24", "intervals": []}] * 2})


def test_event_type_defaults_and_round_trip() -> None:
    doc = EventTypeDoc.model_validate({"title": "Call", "durationMinutes": 30})
    domain = doc.to_domain("call")
    assert domain.slot_interval.total_seconds() == 30 * 60  # defaults to the duration
    assert EventTypeDoc.from_domain(domain).model_dump() == doc.model_dump()


@pytest.mark.parametrize(
    "patch",
    [
        {"durationMinutes": -30},
        {"durationMinutes": 0},
        {"bufferBeforeMinutes": -5},
        {"assignment": "random"},
        {"requiredFields": ["nonsense"]},
        {"hostIds": ["a", "a"]},
        {"hostIds": ["bad/id"]},
    ],
)
def test_invalid_event_types_are_rejected(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EventTypeDoc.model_validate({"title": "Call", "durationMinutes": 30} | patch)


@pytest.mark.parametrize(
    "patch",
    [
        {"durationMinutes": 32},
        {"slotIntervalMinutes": 7},
        {"bufferAfterMinutes": 3},
        {"durationMinutes": 1445},
        {"bufferBeforeMinutes": 485},
        {"bufferAfterMinutes": 485},
    ],
)
def test_event_types_stay_on_the_five_minute_grid_and_within_the_length_limits(
    patch: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        EventTypeDoc.model_validate({"title": "Call", "durationMinutes": 30} | patch)


def test_a_day_long_meeting_with_the_longest_buffers_is_a_valid_event_type() -> None:
    doc = EventTypeDoc.model_validate(
        {
            "title": "Site visit",
            "durationMinutes": 1440,
            "bufferBeforeMinutes": 480,
            "bufferAfterMinutes": 480,
        }
    )
    assert (doc.durationMinutes, doc.bufferBeforeMinutes, doc.bufferAfterMinutes) == (1440, 480, 480)


def test_working_hours_stay_on_the_five_minute_grid() -> None:
    with pytest.raises(ValidationError, match="grid"):
        HostDoc.model_validate(HOST | {"workingHours": [{"days": ["mon"], "start": "09:03", "end": "17:00"}]})
