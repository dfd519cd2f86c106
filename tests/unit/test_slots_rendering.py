"""`GET /slots` renders the same bytes as the pydantic renderer it replaced (issue 17, item 3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from http_api.availability import render_slots
from http_api.schemas import RoutingOut, SlotOut, SlotsResponse
from scheduling_core.domain.timezones import UTC as ZONEINFO_UTC
from scheduling_core.domain.values import EventType, Slot
from scheduling_core.services.slots import HostSelection, SlotAnswer


def previous_render(answer: SlotAnswer, zone: ZoneInfo) -> bytes:
    """The renderer before issue 17, verbatim: one pydantic model per slot, then model_dump_json."""
    body = SlotsResponse(
        eventType=answer.event_type.slug,
        timeZone=zone.key,
        durationMinutes=answer.event_type.duration_minutes,
        routing=RoutingOut(
            decisionId=answer.selection.decision_id,
            ruleSet=answer.selection.rule_set,
            rule=answer.selection.rule,
            strategy=answer.selection.strategy,
            hostIds=list(answer.selection.host_ids),
            reason=answer.selection.reason,
        ),
        slots=[
            SlotOut(
                start=slot.start.astimezone(zone).isoformat(),
                end=slot.end.astimezone(zone).isoformat(),
                hostIds=list(slot.host_ids),
            )
            for slot in answer.slots
        ],
    )
    return body.model_dump_json(by_alias=True).encode()


def rich_answer() -> SlotAnswer:
    """Slots across Berlin's and New York's spring-forward, in both UTC tzinfos, one with microseconds."""
    event_type = EventType(slug="discovery-call", title="Discovery call", duration_minutes=30)
    hosts = ("0b6c-\u03b1", 'quote"host', "back\\slash", "plain")
    slots = []
    start = datetime(2027, 3, 13, 22, tzinfo=UTC)
    for index in range(400):
        begins = start + timedelta(minutes=15 * index)
        if index % 2:
            begins = begins.astimezone(ZONEINFO_UTC)
        slots.append(
            Slot(start=begins, end=begins + timedelta(minutes=30), host_ids=hosts[: 1 + index % len(hosts)])
        )
    odd = datetime(2027, 3, 28, 0, 59, 59, 999_999, tzinfo=UTC)
    slots.append(Slot(start=odd, end=odd + timedelta(minutes=30), host_ids=("plain",)))
    selection = HostSelection(
        host_ids=hosts,
        strategy="roundRobin",
        reason="Lead owner\u2019s team — «Gebiet Süd» </script>\n\t\u2028",
        decision_id="rd_01",
        rule_set="default",
        rule=None,
    )
    return SlotAnswer(event_type=event_type, selection=selection, slots=tuple(slots))


@pytest.mark.parametrize(
    "zone_name",
    ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC", "Etc/GMT+12"],
)
def test_slots_body_is_byte_for_byte_the_previous_renderers(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    answer = rich_answer()
    assert render_slots(answer, zone) == previous_render(answer, zone)
    assert render_slots(answer, zone) == previous_render(answer, zone)  # again, from the memo


def test_slots_body_without_slots_or_routing_details_matches_too() -> None:
    answer = SlotAnswer(
        event_type=EventType(slug="x", title="X", duration_minutes=15),
        selection=HostSelection(host_ids=(), strategy="explicit", reason="hostId given in the request"),
        slots=(),
    )
    zone = ZoneInfo("Europe/Berlin")
    assert render_slots(answer, zone) == previous_render(answer, zone)
    assert json.loads(render_slots(answer, zone)) == {
        "eventType": "x",
        "timeZone": "Europe/Berlin",
        "durationMinutes": 15,
        "routing": {
            "decisionId": None,
            "ruleSet": None,
            "rule": None,
            "strategy": "explicit",
            "hostIds": [],
            "reason": "hostId given in the request",
        },
        "slots": [],
    }
