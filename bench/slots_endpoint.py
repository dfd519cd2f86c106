"""End-to-end benchmark of `GET /slots` over HTTP: local host + Azurite + Graph simulator.

    PYTHONPATH=. .venv/bin/python bench/slots_endpoint.py [--hosts 50] [--days 30] [--runs 15]

A round-robin event type over N hosts, a month of 15-minute slots, 10 Outlook
items per host per working day, seeded through the simulator's Graph API.
Prints the median and p95 of a cold request (free/busy cache emptied first, so
Graph is asked for every host, as Cal.com-style recomputation does on every
request) and of a warm one (served from the free/busy cache), their ratio, the
ratio of warm `/slots` to `GET /health` timed in the same runs, the targets
(warm <= 50 ms, cold <= 1 s) and this process's peak memory.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from bench.endpoint_kit import ADMIN, BEARER, measure_slots, running_stack

ZONES = ["Europe/Berlin", "America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata"]


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

    with running_stack() as stack:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        began = time.perf_counter()
        slug, items = seed(stack.api, stack.graph, args.hosts, args.days, start)
        print(f"seeded {args.hosts} hosts, {items} Outlook items in {time.perf_counter() - began:.1f} s")
        params = {
            "eventType": slug,
            "start": start.date().isoformat(),
            "end": (start + timedelta(days=args.days - 1)).date().isoformat(),
            "timeZone": "Europe/Berlin",
        }
        label = f"{args.hosts} hosts (round robin), {args.days} days, 15-min grid, 30-min meetings"
        measure_slots(stack, params, args.runs, label)


if __name__ == "__main__":
    main()
