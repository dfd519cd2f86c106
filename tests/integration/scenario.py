"""Scenario helpers shared by the integration tests: a host with a mailbox, an event type, a booking,
the rows a host's partition holds, and a race of N threads started together."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

BEARER = {"Authorization": "Bearer test"}
MONDAY = "2026-12-07"  # the app fixture's clock reads 2026-11-24 12:00Z
AT_9 = f"{MONDAY}T09:00:00-06:00"


def new_host(
    app: Any, graph_sim: Any, zone: str = "America/Chicago", hours: tuple[str, str] = ("08:00", "12:00")
) -> str:
    host_id = str(uuid.uuid4())
    email = f"{host_id[:8]}@contoso.com"
    r = httpx.post(
        f"{graph_sim.v1}/users",
        headers=BEARER,
        json={
            "id": host_id,
            "displayName": "Host",
            "mail": email,
            "userPrincipalName": email,
            "accountEnabled": True,
        },
    )
    assert r.status_code in (200, 201), r.text
    assert (
        app.put(
            f"/admin/hosts/{host_id}",
            json_body={
                "email": email,
                "displayName": "Host",
                "timeZone": zone,
                "workingHours": [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": hours[0], "end": hours[1]}
                ],
            },
        ).status
        == 201
    )
    return host_id


def new_event_type(app: Any, host_ids: list[str], **fields: Any) -> str:
    slug = "et-" + uuid.uuid4().hex[:8]
    r = app.put(
        f"/admin/event-types/{slug}",
        json_body={
            "title": "Call",
            "durationMinutes": 30,
            "hostIds": host_ids,
            "bookingWindowDays": 60,
            **fields,
        },
    )
    assert r.status == 201, r.body
    return slug


def book(app: Any, slug: str, start: str, **extra: Any) -> Any:
    headers = extra.pop("headers", {})
    body = {
        "eventType": slug,
        "start": start,
        "timeZone": "America/Chicago",
        "invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": None},
        "context": {"recordType": "lead", "recordId": extra.pop("record_id")} if "record_id" in extra else {},
        **extra,
    }
    return app.post("/bookings", json_body=body, headers=headers)


def slot_starts(app: Any, slug: str) -> list[str]:
    r = app.get(
        "/slots", params={"eventType": slug, "start": MONDAY, "end": MONDAY, "timeZone": "America/Chicago"}
    )
    assert r.status == 200, r.body
    return [s["start"][11:16] for s in r.json()["slots"]]


def partition_rows(app: Any, host_id: str, prefix: str) -> list[dict[str, Any]]:
    from bootstrap.composition import services

    table = services().tables.table("hostslots")
    return [
        dict(e)
        for e in table.query_entities(
            "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
            parameters={"p": host_id, "lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)},
        )
    ]


def claims(app: Any, host_id: str) -> list[Any]:
    """Every claim in the host's day rows (`d|...`), one per owner: what storage says blocks its time."""
    from scheduling_core.adapters.booking_table import decode_day

    found = {}
    for row in partition_rows(app, host_id, "d|"):
        for entry in decode_day(row["claims"], row["types"]):
            found[entry.owner] = entry
    return sorted(found.values(), key=lambda e: (e.start, e.owner))


def race(n: int, action: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def trigger_message(event: Any, delivery_count: int = 1) -> Any:
    """The message as the Functions worker hands it to a topic trigger (as the local bus builds it)."""
    from devstack.local_bus import trigger_message as build

    return build(event, delivery_count=delivery_count)


def registered_function(name: str) -> Callable[..., Any]:
    """The user function of one registered trigger of the app."""
    import function_app
    from devstack.function_host import indexed_functions

    for fn in indexed_functions(function_app.app):
        if fn.get_function_name() == name:
            call: Callable[..., Any] = fn.get_user_function()
            return call
    raise AssertionError(f"{name} is not registered")


def outbox_events(booking_id: str) -> list[Any]:
    """Every event the booking's outbox holds, oldest first (published or not)."""
    from bootstrap.composition import services
    from scheduling_core.domain.events import from_json

    rows = services().booking_store.outbox_rows(booking_id)
    return sorted((from_json(row["event"]) for row in rows), key=lambda e: e.data["version"])


def local_topic() -> Any:
    """The in-process `booking-events` topic the app fixture's router installed."""
    from scheduling_core.adapters.inprocess_bus import LOCAL_NAMESPACE

    return LOCAL_NAMESPACE.topic
