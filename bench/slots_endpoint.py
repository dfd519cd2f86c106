"""End-to-end benchmark of `GET /slots` over HTTP: local host + Azurite + Graph simulator.

    PYTHONPATH=. .venv/bin/python bench/slots_endpoint.py [--hosts 50] [--days 30] [--runs 15]

A round-robin event type over N hosts, a month of 15-minute slots, 10 Outlook
items per host per working day, seeded through the simulator's Graph API.
Prints the median and p95 of a cold request (free/busy cache emptied first, so
Graph is asked for every host, as Cal.com-style recomputation does on every
request) and of a warm one (served from the free/busy cache), and their ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from devstack.azurite import start_azurite
from devstack.graph_sim import create_app as create_graph_sim
from devstack.serving import serve_in_thread

BEARER = {"Authorization": "Bearer bench"}
ADMIN = {"x-functions-key": "bench-admin"}
API = {"x-functions-key": "bench-api"}
ZONES = ["Europe/Berlin", "America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def seed(api: str, graph: str, hosts: int, days: int, start: datetime) -> tuple[str, int]:
    rng = random.Random(7)
    ids = []
    with httpx.Client(timeout=30) as client:
        for index in range(hosts):
            host_id = str(uuid.UUID(int=rng.getrandbits(128)))
            mail = f"rep{index}@contoso.com"
            client.post(
                f"{graph}/users",
                headers=BEARER,
                json={
                    "id": host_id,
                    "displayName": f"Rep {index}",
                    "mail": mail,
                    "userPrincipalName": mail,
                    "accountEnabled": True,
                },
            ).raise_for_status()
            items = 0
            for offset in range(days):
                day = (start + timedelta(days=offset)).date()
                if day.weekday() >= 5:
                    continue
                for _ in range(10):
                    begin = datetime(day.year, day.month, day.day, 6, tzinfo=UTC) + timedelta(
                        minutes=15 * rng.randrange(0, 48)
                    )
                    client.post(
                        f"{graph}/users/{host_id}/events",
                        headers=BEARER,
                        json={
                            "subject": "busy",
                            "showAs": rng.choice(["busy", "busy", "tentative", "oof", "free"]),
                            "start": {"dateTime": begin.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                            "end": {
                                "dateTime": (
                                    begin + timedelta(minutes=rng.choice([15, 30, 60, 90]))
                                ).strftime("%Y-%m-%dT%H:%M:%S"),
                                "timeZone": "UTC",
                            },
                        },
                    ).raise_for_status()
                    items += 1
            client.put(
                f"{api}/admin/hosts/{host_id}",
                headers=ADMIN,
                json={
                    "email": mail,
                    "displayName": f"Rep {index}",
                    "timeZone": ZONES[index % len(ZONES)],
                    "workingHours": [
                        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
                    ],
                },
            ).raise_for_status()
            ids.append(host_id)
        client.put(
            f"{api}/admin/event-types/bench-rr",
            headers=ADMIN,
            json={
                "title": "Round robin",
                "durationMinutes": 30,
                "slotIntervalMinutes": 15,
                "assignment": "roundRobin",
                "hostIds": ids,
                "bookingWindowDays": None,
            },
        ).raise_for_status()
    return "bench-rr", items * hosts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    azurite = start_azurite()
    graph = serve_in_thread(create_graph_sim())
    os.environ.update(
        {
            "TABLES_CONNECTION_STRING": azurite.connection_string,
            "TABLE_PREFIX": "bench",
            "GRAPH_BASE_URL": f"{graph.url}/v1.0",
            "GRAPH_STATIC_TOKEN": "bench",
            "API_KEY": API["x-functions-key"],
            "ADMIN_API_KEY": ADMIN["x-functions-key"],
            "BUSY_CACHE_TTL_SECONDS": "600",
        }
    )
    from devstack import localhost
    from scheduling_core.composition import services

    host = serve_in_thread(localhost.create_app(localhost.build_router()))
    try:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        began = time.perf_counter()
        slug, items = seed(f"{host.url}/api", f"{graph.url}/v1.0", args.hosts, args.days, start)
        print(f"seeded {args.hosts} hosts, {items} Outlook items in {time.perf_counter() - began:.1f} s")
        params = {
            "eventType": slug,
            "start": start.date().isoformat(),
            "end": (start + timedelta(days=args.days - 1)).date().isoformat(),
            "timeZone": "Europe/Berlin",
        }
        cold: list[float] = []
        warm: list[float] = []
        slots = 0
        with httpx.Client(base_url=f"{host.url}/api", headers=API, timeout=60) as client:
            for _ in range(args.runs):
                services().busy_times.invalidate_all()
                t0 = time.perf_counter()
                response = client.get("/slots", params=params)
                cold.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                slots = len(response.json()["slots"])
                t0 = time.perf_counter()
                client.get("/slots", params=params).raise_for_status()
                warm.append((time.perf_counter() - t0) * 1000)
        print(
            f"GET /slots: {args.hosts} hosts (round robin), {args.days} days, 15-min grid, 30-min meetings, "
            f"{slots} slots"
        )
        print(
            f"  cold (free/busy fetched from Graph): median {statistics.median(cold):.0f} ms, "
            f"p95 {percentile(cold, 0.95):.0f} ms"
        )
        print(
            f"  warm (free/busy cache):              median {statistics.median(warm):.0f} ms, "
            f"p95 {percentile(warm, 0.95):.0f} ms"
        )
        print(f"  cold/warm ratio: {statistics.median(cold) / statistics.median(warm):.1f}x")
    finally:
        host.stop()
        graph.stop()
        azurite.stop()


if __name__ == "__main__":
    main()
