"""Manage-link tokens and the self-service policy (pure): unguessable, bound to one booking, every
altered spelling refused, changes closed when the policy says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduling_core.domain.manage_links import Action, ManageLinks, allowed
from scheduling_core.domain.values import SelfService
from scheduling_core.errors import WeakKey

KEY = b"k" * 32
BOOKING = "bk_0123456789abcdef01234567"
START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_a_token_names_its_booking_and_no_other_spelling_of_it_does() -> None:
    links = ManageLinks(key=KEY, base_url="https://sched.contoso.com/api")
    token = links.token(BOOKING)
    assert token is not None and len(token) == 38
    assert links.booking_id(token) == BOOKING
    assert links.url(BOOKING) == f"https://sched.contoso.com/api/manage/{token}"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    altered = {token[:i] + c + token[i + 1 :] for i in range(len(token)) for c in alphabet} - {token}
    assert all(links.booking_id(other) is None for other in altered)  # every single-character change


def test_another_key_or_another_booking_never_verifies() -> None:
    mine, theirs = ManageLinks(key=KEY, base_url="x"), ManageLinks(key=b"o" * 32, base_url="x")
    token = mine.token(BOOKING)
    assert token is not None and theirs.booking_id(token) is None
    assert mine.token("bk_" + "f" * 24) != token
    assert mine.token("not-a-booking") is None
    for junk in ("", "A" * 38, "A" * 39, "!" * 38, token + "A"):
        assert mine.booking_id(junk) is None


def test_a_short_key_is_refused() -> None:
    with pytest.raises(WeakKey):
        ManageLinks(key=b"short", base_url="x")


@pytest.mark.parametrize(
    ("policy", "action", "now", "expected"),
    [
        (SelfService(), Action.CANCEL, START - timedelta(minutes=1), True),
        (SelfService(), Action.RESCHEDULE, START, False),  # started
        (SelfService(cutoff_minutes=60), Action.CANCEL, START - timedelta(minutes=61), True),
        (SelfService(cutoff_minutes=60), Action.CANCEL, START - timedelta(minutes=60), False),
        (SelfService(allow_cancel=False), Action.CANCEL, START - timedelta(days=1), False),
        (SelfService(allow_cancel=False), Action.RESCHEDULE, START - timedelta(days=1), True),
        (SelfService(allow_reschedule=False), Action.RESCHEDULE, START - timedelta(days=1), False),
    ],
)
def test_the_policy_decides_from_action_cutoff_and_start(
    policy: SelfService, action: Action, now: datetime, expected: bool
) -> None:
    assert allowed(action, policy=policy, start=START, cancelled=False, now=now).allowed is expected


def test_a_cancelled_booking_allows_nothing() -> None:
    verdict = allowed(
        Action.CANCEL, policy=SelfService(), start=START, cancelled=True, now=START - timedelta(1)
    )
    assert not verdict.allowed and verdict.why == "the booking is cancelled"


def test_the_event_type_document_carries_self_service_with_api_md_defaults_and_validates_it() -> None:
    from pydantic import ValidationError

    from scheduling_core.documents.config import EventTypeDoc

    doc = EventTypeDoc.model_validate({"title": "Call", "durationMinutes": 30})
    assert doc.model_dump()["selfService"] == {
        "allowCancel": True,
        "allowReschedule": True,
        "cutoffMinutes": 0,
        "reschedule": "sameHost",
        "requireReason": False,
    }
    custom = {"cutoffMinutes": 120, "reschedule": "reroute", "requireReason": True, "allowCancel": False}
    event_type = EventTypeDoc.model_validate({"title": "C", "durationMinutes": 30, "selfService": custom})
    assert EventTypeDoc.from_domain(event_type.to_domain("c")).model_dump()["selfService"] == {
        **custom,
        "allowReschedule": True,
    }
    for bad in ({"reschedule": "anyone"}, {"cutoffMinutes": -1}, {"allowCancel": "maybe"}, {"extra": 1}):
        with pytest.raises(ValidationError):
            EventTypeDoc.model_validate({"title": "C", "durationMinutes": 30, "selfService": bad})
