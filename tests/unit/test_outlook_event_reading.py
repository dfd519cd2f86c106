"""Graph's event JSON read once at the adapter edge into `OutlookEvent` (pure parsing, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduling_core.adapters.outlook_calendar import read_delta_page, read_event
from scheduling_core.domain.outlook import BOOKING_PROPERTY_ID, OutlookEvent

START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
UTC_START = {"dateTime": "2026-12-07T15:00:00.0000000", "timeZone": "UTC"}
UTC_END = {"dateTime": "2026-12-07T15:30:00.0000000", "timeZone": "UTC"}


@pytest.mark.parametrize(
    "start",
    [
        UTC_START,
        {"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "Central Standard Time"},
        {"dateTime": "2026-12-07T09:00:00", "timeZone": "America/Chicago"},
        {"dateTime": "2026-12-07T15:00:00.0000000", "timeZone": "tzone://Microsoft/Utc"},
    ],
)
def test_graph_times_are_read_in_the_zone_graph_names(start: dict[str, str]) -> None:
    event = read_event({"id": "AAMk1", "start": start, "end": UTC_END})
    assert event == OutlookEvent(id="AAMk1", start=START, end=END)


def test_an_event_maps_back_through_the_extended_property_and_keeps_its_teams_link() -> None:
    event = read_event(
        {
            "id": "AAMk1",
            "start": UTC_START,
            "end": UTC_END,
            "isCancelled": True,
            "transactionId": "bk_9~4",
            "isOnlineMeeting": True,
            "singleValueExtendedProperties": [{"id": BOOKING_PROPERTY_ID.lower(), "value": "bk_9"}],
            "onlineMeeting": {"joinUrl": "https://teams.example/join"},
            "attendees": [{"type": "required", "emailAddress": {"address": "iris@fabrikam.example"}}],
            "futureProperty": {"ignored": True},
        }
    )
    assert event == OutlookEvent(
        id="AAMk1",
        start=START,
        end=END,
        cancelled=True,
        booking_id="bk_9",
        transaction_id="bk_9~4",
        online_meeting=True,
        join_url="https://teams.example/join",
    )


def test_an_unknown_zone_leaves_the_times_unread_not_guessed() -> None:
    event = read_event(
        {
            "id": "AAMk1",
            "start": {"dateTime": "2026-12-07T09:00:00", "timeZone": "Mars Standard Time"},
            "end": UTC_END,
            "transactionId": "bk_9",
        }
    )
    assert event is not None
    assert (event.start, event.end, event.transaction_id) == (None, None, "bk_9")
    assert event.unreadable == "Graph named an unknown time zone 'Mars Standard Time'"


def test_a_delta_page_reads_every_item_it_can_and_drops_only_those_naming_no_event() -> None:
    items: list[Any] = [
        # a removal carries only its id and the annotation
        {"@odata.type": "#microsoft.graph.event", "id": "gone", "@removed": {"reason": "deleted"}},
        # an occurrence of a series: Graph's delta sends only id, type, start and end
        {
            "id": "occurrence",
            "type": "occurrence",
            "seriesMasterId": "master",
            "start": UTC_START,
            "end": UTC_END,
        },
        # an event without times
        {"id": "no-times", "transactionId": "bk_1"},
        # a property of the wrong shape: kept, by id, as unreadable
        {"id": "odd", "attendees": "everyone", "transactionId": "bk_2"},
        {"transactionId": "bk_3"},  # no id: names no event
        "not an event",
    ]
    page = read_delta_page(
        {
            "value": items,
            "@odata.deltaLink": "https://graph.microsoft.com/v1.0/users/h/calendarView/delta?$deltatoken=t",
        }
    )
    gone, occurrence, no_times, odd = page.events
    assert gone == OutlookEvent(id="gone", removed=True)
    assert occurrence == OutlookEvent(id="occurrence", start=START, end=END)
    assert no_times == OutlookEvent(id="no-times", transaction_id="bk_1")
    assert (odd.id, odd.removed, odd.transaction_id) == ("odd", False, None)
    assert odd.unreadable is not None and odd.unreadable.startswith("attendees:")
    assert (page.next_link, page.delta_link) == (
        None,
        "https://graph.microsoft.com/v1.0/users/h/calendarView/delta?$deltatoken=t",
    )
