"""The whole local stack as `make run` starts it, driven over real HTTP.

Starts `python -m devstack.stack` on free ports with a temporary state folder,
waits for its "Local stack is up" line, then exercises it as a user would and
runs the shared contract smoke test's in-scope checks against it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.azurite import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "test_contract.py"
KEYS = {"x-functions-key": "dev-api-key"}
#: The Graph simulator: any bearer token; times in UTC.
GRAPH_HEADERS = {"Authorization": "Bearer e2e", "Prefer": 'outlook.timezone="UTC"'}


@dataclass
class Stack:
    api: str
    graph: str
    dataverse: str
    process: subprocess.Popen[str]
    output: list[str]


def _start(state: Path) -> Stack:
    ports = [free_port() for _ in range(4)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.stack",
            "--host-port",
            str(ports[0]),
            "--azurite-port",
            str(ports[1]),
            "--graph-port",
            str(ports[2]),
            "--dataverse-port",
            str(ports[3]),
            "--state-dir",
            str(state),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if "Ctrl-C stops" in line:
            break
    else:
        raise AssertionError("stack did not start:\n" + "".join(output))
    return Stack(
        f"http://127.0.0.1:{ports[0]}/api",
        f"http://127.0.0.1:{ports[2]}/v1.0",
        f"http://127.0.0.1:{ports[3]}/api/data/v9.2",
        process,
        output,
    )


def _stop(stack: Stack) -> str:
    stack.process.send_signal(signal.SIGINT)
    rest, _ = stack.process.communicate(timeout=30)
    return rest


def _booking_events(stack: Stack, host: str, booking_id: str) -> list[dict[str, Any]]:
    """The events of `host`'s calendar that carry `booking_id` in our extended property (times in UTC)."""
    from scheduling_core.domain.outlook import BOOKING_PROPERTY_EXPAND, BOOKING_PROPERTY_ID

    listed = httpx.get(
        f"{stack.graph}/users/{host}/events",
        headers=GRAPH_HEADERS,
        params={
            "$expand": BOOKING_PROPERTY_EXPAND,
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{BOOKING_PROPERTY_ID}'"
            f" and ep/value eq '{booking_id}')",
        },
        timeout=10,
    )
    assert listed.status_code == 200, listed.text
    return list(listed.json()["value"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = _start(tmp_path_factory.mktemp("stack"))
    yield running
    _stop(running)


def test_the_stack_serves_health_and_openapi(stack: Stack) -> None:
    health = httpx.get(f"{stack.api}/health", timeout=10)
    assert health.status_code == 200 and health.json()["checks"]["storage"] == "ok"
    assert health.json()["checks"]["graph"] == "ok"
    assert "/slots" in httpx.get(f"{stack.api}/openapi.json", timeout=10).json()["paths"]


def test_the_demo_tenant_has_slots(stack: Stack) -> None:
    start = date.today() + timedelta(days=7)
    r = httpx.get(
        f"{stack.api}/slots",
        headers=KEYS,
        timeout=30,
        params={
            "eventType": "team-intro",
            "start": str(start),
            "end": str(start + timedelta(days=6)),
            "timeZone": "Europe/Berlin",
        },
    )
    assert r.status_code == 200, r.text
    slots = r.json()["slots"]
    assert slots and len({h for s in slots for h in s["hostIds"]}) == 3


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="shared/conformance is not beside this checkout")
def test_shared_contract_checks_in_scope_pass(stack: Stack) -> None:
    env = {
        **os.environ,
        "CONTRACT_API": stack.api,
        "CONTRACT_GRAPH": stack.graph,
        "CONTRACT_DATAVERSE": stack.dataverse,
    }
    in_scope = (
        "test_health or test_slots_shape_and_busy_time or test_problem_details"
        " or test_booking_shape_location_and_replay or test_dataverse_simulator_speaks_web_api"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(CONFORMANCE.parent),
            str(CONFORMANCE),
            "-k",
            in_scope,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_a_restarted_stack_keeps_its_data_and_does_not_reseed_twice(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _start(state)
    try:
        host = "e2e-" + os.urandom(4).hex()
        r = httpx.put(
            f"{first.api}/admin/hosts/{host}",
            headers={"x-functions-key": "dev-admin-key"},
            timeout=10,
            json={"email": "e2e@contoso.com", "displayName": "E2E", "timeZone": "UTC"},
        )
        assert r.status_code == 201, r.text
        events_before = httpx.get(
            f"{first.graph}/users/ana@contoso.com/events",
            params={"$top": "999"},
            headers={"Authorization": "Bearer x"},
            timeout=10,
        ).json()["value"]
    finally:
        _stop(first)
    second = _start(state)
    try:
        assert (
            httpx.get(
                f"{second.api}/admin/hosts/{host}", headers={"x-functions-key": "dev-admin-key"}, timeout=10
            ).status_code
            == 200
        )
        events_after = httpx.get(
            f"{second.graph}/users/ana@contoso.com/events",
            params={"$top": "999"},
            headers={"Authorization": "Bearer x"},
            timeout=10,
        ).json()["value"]
        assert len(events_after) == len(events_before) > 0
    finally:
        _stop(second)


def test_the_demo_tenant_routes_a_lead_to_its_owner_from_dataverse(stack: Stack) -> None:
    from devstack.seed import HOSTS, LEAD_OF_ANA

    start = date.today() + timedelta(days=7)
    r = httpx.get(
        f"{stack.api}/slots",
        headers=KEYS,
        timeout=30,
        params={
            "eventType": "routed-intro",
            "start": str(start),
            "end": str(start + timedelta(days=4)),
            "recordType": "lead",
            "recordId": LEAD_OF_ANA,
        },
    )
    assert r.status_code == 200, r.text
    routing = r.json()["routing"]
    assert (routing["rule"], routing["hostIds"]) == ("lead owner", [HOSTS[0][0]])
    decision = httpx.get(f"{stack.api}/routing/decisions/{routing['decisionId']}", headers=KEYS, timeout=10)
    assert decision.status_code == 200 and decision.json()["recordId"] == LEAD_OF_ANA


def test_the_demo_tenant_routes_an_email_to_the_owner_of_the_contacts_account(stack: Stack) -> None:
    from devstack.seed import HOSTS, NORTHWIND

    start = date.today() + timedelta(days=7)
    for email in ("nina@northwind.example", "someone.new@NORTHWIND.example"):
        r = httpx.get(
            f"{stack.api}/slots",
            headers=KEYS,
            timeout=30,
            params={
                "eventType": "matched-intro",
                "start": str(start),
                "end": str(start + timedelta(days=4)),
                "email": email,
            },
        )
        assert r.status_code == 200, r.text
        routing = r.json()["routing"]
        assert (routing["rule"], routing["hostIds"]) == ("account owner", [HOSTS[1][0]])
        decision = httpx.get(
            f"{stack.api}/routing/decisions/{routing['decisionId']}", headers=KEYS, timeout=10
        )
        assert decision.json()["match"]["recordId"] == NORTHWIND


def test_a_booking_over_http_keeps_one_outlook_event_through_reschedules_and_cancel(stack: Stack) -> None:
    from devstack.seed import HOSTS

    host = HOSTS[0][0]
    start = date.today() + timedelta(days=14)
    r = httpx.get(
        f"{stack.api}/slots",
        headers=KEYS,
        timeout=30,
        params={"eventType": "discovery-call", "start": str(start), "end": str(start + timedelta(days=6))},
    )
    assert r.status_code == 200, r.text
    free = [s["start"] for s in r.json()["slots"] if host in s["hostIds"]]
    assert len(free) >= 4
    body = {
        "eventType": "discovery-call",
        "start": free[0],
        "hostId": host,
        "timeZone": "UTC",
        "invitee": {"name": "Eve Example", "email": "eve@fabrikam.example", "phone": None},
    }
    created = httpx.post(f"{stack.api}/bookings", headers=KEYS, json=body, timeout=30)
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]

    def events() -> list[dict[str, Any]]:
        return [
            e
            for e in _booking_events(stack, host, booking_id)
            if any(p["value"] == booking_id for p in e.get("singleValueExtendedProperties", []))
        ]

    first = events()
    assert len(first) == 1
    assert [a["emailAddress"]["address"] for a in first[0]["attendees"]] == ["eve@fabrikam.example"]
    assert first[0]["onlineMeeting"]["joinUrl"]
    for new_start in free[1:4]:
        moved = httpx.post(
            f"{stack.api}/bookings/{booking_id}/reschedule",
            headers=KEYS,
            json={"start": new_start},
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
    now = events()
    assert [e["id"] for e in now] == [first[0]["id"]]
    assert now[0]["start"]["dateTime"][:16] == free[3][:16]
    cancelled = httpx.post(f"{stack.api}/bookings/{booking_id}/cancel", headers=KEYS, json={}, timeout=30)
    assert cancelled.status_code == 200
    assert events() == []  # cancelled by its organizer: gone from the calendar
    outlook = httpx.get(f"{stack.api}/bookings/{booking_id}", headers=KEYS, timeout=10).json()["outlook"]
    assert outlook["syncStatus"] == "synced" and outlook["eventId"] == first[0]["id"]


def test_an_invitee_follows_the_manage_url_to_reschedule_and_cancel_with_a_reason(stack: Stack) -> None:
    """book -> follow manageUrl -> reschedule (one event at the new time, one appointment) -> cancel with a
    reason (cancelled by the invitee; appointment canceled with the reason; the cancellation's comment)."""
    from devstack.seed import HOSTS
    from scheduling_core.domain.bookings import appointment_id

    host = HOSTS[0][0]
    dataverse = {"Authorization": "Bearer e2e"}
    start = date.today() + timedelta(days=21)
    r = httpx.get(
        f"{stack.api}/slots",
        headers=KEYS,
        timeout=30,
        params={"eventType": "discovery-call", "start": str(start), "end": str(start + timedelta(days=6))},
    )
    assert r.status_code == 200, r.text
    free = [s["start"] for s in r.json()["slots"]]
    invitee = {"name": "Ivy Invitee", "email": "ivy@fabrikam.example", "phone": None}
    body = {"eventType": "discovery-call", "start": free[0], "timeZone": "UTC", "invitee": invitee}
    created = httpx.post(f"{stack.api}/bookings", headers=KEYS, json=body, timeout=30)
    assert created.status_code == 201, created.text
    booking_id, manage_url = created.json()["id"], created.json()["manageUrl"]
    assert manage_url.startswith(f"{stack.api}/manage/")  # PUBLIC_BASE_URL is the stack's own address

    def events() -> list[dict[str, Any]]:
        return _booking_events(stack, host, booking_id)

    def appointment() -> dict[str, Any]:
        got = httpx.get(f"{stack.dataverse}/appointments({appointment_id(booking_id)})", headers=dataverse)
        assert got.status_code == 200, got.text
        return dict(got.json())

    page = httpx.get(manage_url, timeout=10)  # no key: the token is the credential
    assert page.status_code == 200 and "Sales discovery call" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    [first] = events()
    assert manage_url in first["body"]["content"]  # the invitation Exchange sends carries the link
    offered = httpx.get(
        f"{manage_url}/slots", params={"start": str(start), "end": str(start + timedelta(days=6))}, timeout=30
    )
    assert offered.status_code == 200, offered.text
    new_start = offered.json()["slots"][2]["start"]
    moved = httpx.post(f"{manage_url}/reschedule", json={"start": new_start, "reason": "Travel"}, timeout=30)
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == booking_id
    [now] = events()
    assert now["id"] == first["id"] and now["start"]["dateTime"][:16] == new_start[:16]
    assert appointment()["scheduledstart"][:16] == new_start[:16]
    assert "Rescheduled by invitee: Travel" in appointment()["description"]

    cancelled = httpx.post(f"{manage_url}/cancel", json={"reason": "Plans changed"}, timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    stored = httpx.get(f"{stack.api}/bookings/{booking_id}", headers=KEYS, timeout=10).json()
    assert (stored["version"], stored["cancellation"]["by"]) == (3, "invitee")
    assert stored["cancellation"]["reason"] == "Plans changed"
    assert events() == []
    sent = httpx.get(
        f"{stack.graph}/users/{host}/mailFolders/sentitems/messages", headers=GRAPH_HEADERS, timeout=10
    )
    comments = [
        m["body"]["content"]
        for m in sent.json()["value"]
        if [r["emailAddress"]["address"] for r in m["toRecipients"]] == [invitee["email"]]
    ]
    assert comments == ["Plans changed"]
    final = appointment()
    assert final["statecode"] == 2 and "Cancelled by invitee: Plans changed" in final["description"]
    refused = httpx.post(f"{manage_url}/reschedule", json={"start": free[1]}, timeout=30)
    assert (refused.status_code, refused.json()["code"]) == (409, "booking-not-modifiable")


def test_an_invitee_rerouted_to_a_colleague_leaves_one_outlook_event_and_one_appointment(
    stack: Stack,
) -> None:
    """`selfService.reschedule: "reroute"`: the invitee's host is busy at the new time, a colleague is
    free; the move hands the booking over: one event, on the colleague's calendar only, and one
    appointment, now organized and owned by the colleague (docs/decisions.md, issue 14)."""
    import time
    import uuid
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from devstack.seed import HOSTS, SYSTEMUSERS
    from scheduling_core.domain.bookings import appointment_id

    ana, chloe = HOSTS[0][0], HOSTS[2][0]  # Berlin and Paris: the same working hours
    admin = {"x-functions-key": "dev-admin-key"}
    slug = "reroute-" + uuid.uuid4().hex[:8]
    made = httpx.put(
        f"{stack.api}/admin/event-types/{slug}",
        headers=admin,
        json={
            "title": "Rerouted call",
            "durationMinutes": 30,
            "assignment": "roundRobin",
            "hostIds": [ana, chloe],
            "bookingWindowDays": 60,
            "selfService": {"reschedule": "reroute"},
        },
        timeout=10,
    )
    assert made.status_code in (200, 201), made.text
    berlin = ZoneInfo("Europe/Berlin")
    day = date.today() + timedelta(days=35)  # past the seeded calendars and the other tests' bookings
    while day.weekday() >= 5:
        day += timedelta(days=1)
    # Ana is busy 13:00-14:00 Berlin time that day; Chloé is free.
    busy = httpx.post(
        f"{stack.graph}/users/{ana}/events",
        headers=GRAPH_HEADERS,
        json={
            "subject": "Dentist",
            "showAs": "busy",
            "start": {"dateTime": f"{day}T13:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": f"{day}T14:00:00", "timeZone": "W. Europe Standard Time"},
        },
        timeout=10,
    )
    assert busy.status_code == 201, busy.text
    body = {
        "eventType": slug,
        "start": datetime(day.year, day.month, day.day, 9, tzinfo=berlin).isoformat(),
        "hostId": ana,
        "timeZone": "Europe/Berlin",
        "invitee": {"name": "Rey Reroute", "email": "rey@fabrikam.example", "phone": None},
    }
    created = httpx.post(f"{stack.api}/bookings", headers=KEYS, json=body, timeout=30)
    assert created.status_code == 201, created.text
    booking_id, manage_url = created.json()["id"], created.json()["manageUrl"]

    def events(host: str) -> list[dict[str, Any]]:
        return _booking_events(stack, host, booking_id)

    assert len(events(ana)) == 1 and events(chloe) == []
    offered = httpx.get(f"{manage_url}/slots", params={"start": str(day), "end": str(day)}, timeout=30)
    assert offered.status_code == 200, offered.text
    at_13 = datetime(day.year, day.month, day.day, 13, tzinfo=berlin)
    new_start, utc = at_13.isoformat(), at_13.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M")
    assert new_start in [s["start"] for s in offered.json()["slots"]]  # only Chloé can take it
    moved = httpx.post(f"{manage_url}/reschedule", json={"start": new_start}, timeout=30)
    assert moved.status_code == 200, moved.text
    stored = httpx.get(f"{stack.api}/bookings/{booking_id}", headers=KEYS, timeout=10).json()
    assert (stored["id"], stored["version"], stored["hostIds"]) == (booking_id, 2, [chloe])
    dataverse = {"Authorization": "Bearer e2e"}

    def appointments() -> list[dict[str, Any]]:
        """Every appointment that names this booking (one expected: the same id, never a second)."""
        listed = httpx.get(
            f"{stack.dataverse}/appointments",
            headers=dataverse,
            params={"$select": "activityid,description,scheduledstart,_ownerid_value"},
            timeout=10,
        )
        assert listed.status_code == 200, listed.text
        return [a for a in listed.json()["value"] if booking_id in (a.get("description") or "")]

    def settled() -> bool:
        found = appointments()
        return (
            events(ana) == []
            and len(events(chloe)) == 1
            and len(found) == 1
            and found[0]["_ownerid_value"] == SYSTEMUSERS[chloe]
        )

    deadline = time.monotonic() + 30  # the syncs run off the topic: poll until they have
    while not settled() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert events(ana) == []
    [event] = events(chloe)
    assert event["start"]["dateTime"].startswith(utc)
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["rey@fabrikam.example"]
    [appointment] = appointments()
    assert appointment["activityid"] == appointment_id(booking_id)
    assert appointment["_ownerid_value"] == SYSTEMUSERS[chloe]
    assert appointment["scheduledstart"].startswith(utc)
