"""Bookings as Outlook events, and Outlook events judged against bookings (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduling_core.domain.outlook import (
    BOOKING_PROPERTY_ID,
    BookingTimes,
    MeetingSource,
    ObservedEvent,
    OutlookEvent,
    Verdict,
    cancel_comment,
    drift_record,
    judge,
    new_event,
    observed,
)
from scheduling_core.domain.values import EventType, Location, LocationKind, OutlookEditPolicy
from scheduling_core.errors import UnreadableEvent
from scheduling_core.services.outlook_subscriptions import client_state_matches, hash_client_state

START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)


def _meeting(**changes: Any) -> MeetingSource:
    values: dict[str, Any] = {
        "booking_id": "bk_1",
        "version": 1,
        "cancelled": False,
        "event_type": "intro",
        "start": START,
        "end": END,
        "host_ids": ("h1", "h2"),
        "host_emails": {"h1": "ana@contoso.example", "h2": "ben@contoso.example"},
        "invitee_name": "Iris Invitee",
        "invitee_email": "iris@fabrikam.example",
    }
    values.update(changes)
    return MeetingSource(**values)


def _event_type(kind: LocationKind = LocationKind.TEAMS, value: str | None = None) -> EventType:
    return EventType(
        slug="intro", title="Intro call", duration_minutes=30, location=Location(kind=kind, value=value)
    )


def test_a_new_event_carries_the_booking_id_twice_and_times_in_utc() -> None:
    body = new_event(_meeting(), _event_type())
    assert body["transactionId"] == "bk_1"
    assert body["singleValueExtendedProperties"] == [{"id": BOOKING_PROPERTY_ID, "value": "bk_1"}]
    assert body["start"] == {"dateTime": "2026-12-07T15:00:00.0000000", "timeZone": "UTC"}
    assert body["end"] == {"dateTime": "2026-12-07T15:30:00.0000000", "timeZone": "UTC"}
    assert body["subject"] == "Intro call with Iris Invitee"


def test_a_teams_event_asks_graph_for_a_teams_meeting_and_co_hosts_and_invitee_attend() -> None:
    body = new_event(_meeting(), _event_type())
    assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    addresses = [a["emailAddress"]["address"] for a in body["attendees"]]
    assert addresses == ["ben@contoso.example", "iris@fabrikam.example"]
    assert all(a["type"] == "required" for a in body["attendees"])


def test_an_in_person_event_gets_its_location_and_no_online_meeting() -> None:
    body = new_event(_meeting(), _event_type(LocationKind.IN_PERSON, "HQ, Room 4"))
    assert "isOnlineMeeting" not in body
    assert body["location"] == {"displayName": "HQ, Room 4"}


def test_an_outlook_event_is_observed_with_its_times_and_booking() -> None:
    event = OutlookEvent(id="AAMk1", start=START, end=END, booking_id="bk_9", join_url="https://t.example/j")
    assert observed(event) == ObservedEvent(
        id="AAMk1",
        start=START,
        end=END,
        cancelled=False,
        booking_id="bk_9",
        transaction_id=None,
        join_url="https://t.example/j",
    )


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (OutlookEvent(id="AAMk1", end=END), "missing dateTime"),
        (OutlookEvent(id="AAMk1", unreadable="Graph named an unknown time zone 'Mars'"), "unknown time zone"),
    ],
)
def test_an_event_without_readable_times_is_unreadable_not_guessed(event: OutlookEvent, reason: str) -> None:
    with pytest.raises(UnreadableEvent, match=reason):
        observed(event)


def _observed(start: datetime, end: datetime, cancelled: bool = False) -> ObservedEvent:
    return ObservedEvent(
        id="e1",
        start=start,
        end=end,
        cancelled=cancelled,
        booking_id="bk_1",
        transaction_id=None,
        join_url=None,
    )


def _booking(**changes: Any) -> BookingTimes:
    values: dict[str, Any] = {"booking_id": "bk_1", "cancelled": False, "start": START, "end": END}
    values.update(changes)
    return BookingTimes(**values)


POLICIES = st.sampled_from(list(OutlookEditPolicy))
OFFSETS = st.integers(min_value=-48 * 12, max_value=48 * 12).map(lambda n: timedelta(minutes=5 * n))


@given(policy=POLICIES)
def test_an_event_at_the_bookings_time_is_in_sync_whatever_the_policy(policy: OutlookEditPolicy) -> None:
    assert judge(_observed(START, END), _booking(), policy).verdict is Verdict.IN_SYNC


@given(policy=POLICIES, cancelled=st.booleans())
def test_a_deleted_or_cancelled_event_cancels_a_confirmed_booking(
    policy: OutlookEditPolicy, cancelled: bool
) -> None:
    event = _observed(START, END, cancelled=True) if cancelled else None
    assert judge(event, _booking(), policy).verdict is Verdict.CANCEL


@given(policy=POLICIES, offset=OFFSETS)
def test_nothing_is_done_to_a_cancelled_booking(policy: OutlookEditPolicy, offset: timedelta) -> None:
    assert (
        judge(_observed(START + offset, END + offset), _booking(cancelled=True), policy).verdict
        is Verdict.IGNORE
    )


@given(policy=POLICIES, offset=OFFSETS.filter(lambda d: d != timedelta(0)))
def test_our_own_last_write_awaiting_a_newer_version_is_not_drift(
    policy: OutlookEditPolicy, offset: timedelta
) -> None:
    written = _booking(start=START + offset, end=END + offset, written_start=START, written_end=END)
    assert judge(_observed(START, END), written, policy).verdict is Verdict.SYNC_PENDING


@pytest.mark.parametrize(
    ("policy", "verdict"),
    [
        (OutlookEditPolicy.FLAG, Verdict.FLAG),
        (OutlookEditPolicy.ACCEPT, Verdict.ACCEPT),
        (OutlookEditPolicy.REVERT, Verdict.REVERT),
    ],
)
def test_a_hand_move_follows_the_event_types_policy(policy: OutlookEditPolicy, verdict: Verdict) -> None:
    moved = _observed(START + timedelta(hours=2), END + timedelta(hours=2))
    judgement = judge(moved, _booking(written_start=START, written_end=END), policy)
    assert judgement.verdict is verdict and "moved in Outlook" in judgement.reason


def test_accept_cannot_take_a_changed_duration_so_it_flags() -> None:
    longer = _observed(START + timedelta(hours=2), END + timedelta(hours=3))
    assert judge(longer, _booking(), OutlookEditPolicy.ACCEPT).verdict is Verdict.FLAG


def test_the_same_drift_is_flagged_once() -> None:
    moved = _observed(START + timedelta(hours=2), END + timedelta(hours=2))
    drift = drift_record(moved, _booking(), START)
    assert judge(moved, _booking(drift=drift), OutlookEditPolicy.FLAG).verdict is Verdict.ALREADY_FLAGGED


def test_client_state_is_checked_against_its_hash_only() -> None:
    stored = hash_client_state("s3cret-state")
    assert client_state_matches("s3cret-state", stored)
    assert not client_state_matches("s3cret-statf", stored)
    assert not client_state_matches(None, stored)
    assert not client_state_matches("s3cret-state", "")


def test_the_cancellation_comment_is_the_reason_as_one_inert_line() -> None:
    reason = "Sorry\r\nBcc: everyone <script>alert(1)</script>" + "x" * 2000
    comment = cancel_comment(_meeting(cancelled=True, cancel_reason=reason))
    assert comment.startswith("Sorry Bcc: everyone alert(1) xxx")
    assert len(comment) == 1000 and comment.endswith("…")
    assert cancel_comment(_meeting(cancelled=True)) == "This meeting was cancelled."
