"""The proof tenant: hosts bookable around the clock, and event types that share them.

Six hosts in UTC, working 00:00-24:00 every day, with a Graph mailbox and a Dynamics systemuser each
(the appointment's organizer). Event types overlap on purpose so bookings collide across partitions:
- `solo-{i}` (single host i, 30 min),
- `pair-{i}` (collective: hosts i and i+1, 60 min, 15 min buffer before), sharing hosts with the solos,
- `pool` (round robin over hosts 3-5, 30 min, 10 min buffer after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.proof.stack import ProofStack

HOSTS = [f"0000a11c-0000-4000-8000-{i:012d}" for i in range(6)]
SYSTEMUSERS = [f"5e5e0000-0000-4000-8000-{i:012d}" for i in range(6)]
WINDOW_DAYS = 60


@dataclass(frozen=True)
class EventTypeSpec:
    slug: str
    body: dict[str, Any]


def event_types() -> list[EventTypeSpec]:
    common = {"bookingWindowDays": WINDOW_DAYS, "location": {"kind": "teams", "value": None}}
    specs = [
        EventTypeSpec(
            f"solo-{i}",
            {"title": f"Solo {i}", "durationMinutes": 30, "assignment": "single", "hostIds": [h], **common},
        )
        for i, h in enumerate(HOSTS)
    ]
    specs += [
        EventTypeSpec(
            f"pair-{i}",
            {
                "title": f"Pair {i}",
                "durationMinutes": 60,
                "slotIntervalMinutes": 30,
                "bufferBeforeMinutes": 15,
                "assignment": "collective",
                "hostIds": [HOSTS[i], HOSTS[i + 1]],
                **common,
            },
        )
        for i in range(3)
    ]
    specs.append(
        EventTypeSpec(
            "pool",
            {
                "title": "Pool",
                "durationMinutes": 30,
                "bufferAfterMinutes": 10,
                "assignment": "roundRobin",
                "hostIds": HOSTS[3:],
                **common,
            },
        )
    )
    return specs


def seed(stack: ProofStack) -> list[EventTypeSpec]:
    graph, dataverse = stack.graph, stack.dataverse
    for i, (host_id, user_id) in enumerate(zip(HOSTS, SYSTEMUSERS, strict=True)):
        mail = f"proof{i}@contoso.com"
        graph.create_user(mail, id=host_id, display_name=f"Proof {i}")
        dataverse.create(
            "systemusers",
            {
                "systemuserid": user_id,
                "firstname": "Proof",
                "lastname": str(i),
                "internalemailaddress": mail,
                "azureactivedirectoryobjectid": host_id,
            },
        )
        r = stack.admin(
            "PUT",
            f"/admin/hosts/{host_id}",
            json={
                "email": mail,
                "displayName": f"Proof {i}",
                "timeZone": "UTC",
                "workingHours": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "start": "00:00",
                        "end": "24:00",
                    }
                ],
                "maxMeetingsPerDay": None,
                "active": True,
            },
        )
        assert r.status_code == 201, r.text
    specs = event_types()
    for spec in specs:
        r = stack.admin("PUT", f"/admin/event-types/{spec.slug}", json=spec.body)
        assert r.status_code == 201, r.text
    return specs
