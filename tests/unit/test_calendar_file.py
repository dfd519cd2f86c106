"""The booking page's .ics file (scheduling_core.domain.calendar_file) and its small settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bootstrap.settings import DEFAULT_FRAME_ANCESTORS, Settings
from scheduling_core.domain.calendar_file import CalendarEntry, calendar_file, escape_text, fold

START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def _entry(**fields: object) -> CalendarEntry:
    values: dict[str, object] = {
        "uid": "bk_1@booking-page",
        "sequence": 0,
        "start": START,
        "end": START + timedelta(minutes=30),
        "stamp": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        "summary": "Call",
    }
    values.update(fields)
    return CalendarEntry(**values)  # type: ignore[arg-type]


def test_times_are_written_in_utc_and_lines_end_in_crlf() -> None:
    text = calendar_file(_entry())
    assert "DTSTART:20261201T080000Z\r\n" in text and "DTEND:20261201T083000Z\r\n" in text
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")


def test_text_is_escaped_and_a_cancelled_booking_says_so() -> None:
    text = calendar_file(_entry(summary="a,b;c\\d\ne", cancelled=True, url="https://x.test/j\r\nX:1"))
    assert "SUMMARY:a\\,b\\;c\\\\d\\ne\r\n" in text
    assert "STATUS:CANCELLED\r\n" in text
    assert "URL:https://x.test/jX:1\r\n" in text  # no line break can smuggle in a property


@given(st.text(min_size=0, max_size=400))
def test_folded_lines_fit_75_octets_and_unfold_to_the_original(value: str) -> None:
    line = "DESCRIPTION:" + escape_text(value)
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


def test_booking_page_settings_default_to_dynamics_frames_and_every_event_type() -> None:
    settings = Settings.from_env({})
    assert settings.booking_page_frame_ancestors == DEFAULT_FRAME_ANCESTORS
    assert settings.booking_page_event_types is None
    assert Settings.from_env({"BOOKING_PAGE_EVENT_TYPES": "*"}).booking_page_event_types is None
    listed = Settings.from_env({"BOOKING_PAGE_EVENT_TYPES": " intro, demo ,"}).booking_page_event_types
    assert listed == ("intro", "demo")
