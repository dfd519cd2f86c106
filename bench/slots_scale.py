"""Scale run of `GET /slots`: 2,000 hosts configured, a 500-host round robin over 14 days.

    PYTHONPATH=. .venv/bin/python bench/slots_scale.py [--hosts 2000] [--pool 500] [--days 14] [--runs 7]

The same stack and figures as `bench/slots_endpoint.py` (cold and warm medians, the ratio of warm
`/slots` to `GET /health` timed in the same runs, the targets) plus peak memory. The pool's 500
mailboxes hold 10 Outlook items per working day each (50,000 items for 14 days); they are written
into the Graph simulator's own state file (its persistence format, `devstack/graph_sim/state.py`)
rather than POSTed one by one, which would take longer than the run. Every host is configured
through the admin API over HTTP. The targets are those of the 50-host month, which this run's
10x larger pool is not bound by: they are printed for comparison.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.endpoint_kit import ADMIN, measure_slots, running_stack

ZONES = ["Europe/Berlin", "America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata"]
SHOW_AS = ["busy", "busy", "tentative", "oof", "free"]


def graph_state(ids: list[str], pool: int, days: int, start: datetime) -> dict[str, Any]:
    """The simulator's state file: every host a user, the pool's mailboxes with a calendar."""
    rng = random.Random(11)
    users = [
        {
            "id": host_id,
            "displayName": f"Rep {index}",
            "mail": f"rep{index}@contoso.com",
            "userPrincipalName": f"rep{index}@contoso.com",
            "accountEnabled": True,
            "provisional": False,
        }
        for index, host_id in enumerate(ids)
    ]
    calendars: dict[str, list[dict[str, Any]]] = {}
    for host_id in ids[:pool]:
        events = []
        for offset in range(days):
            day = (start + timedelta(days=offset)).date()
            if day.weekday() >= 5:
                continue
            for _ in range(10):
                begin = datetime(day.year, day.month, day.day, 6, tzinfo=UTC) + timedelta(
                    minutes=15 * rng.randrange(0, 48)
                )
                end = begin + timedelta(minutes=rng.choice([15, 30, 60, 90]))
                events.append(
                    {
                        "props": {
                            "id": str(uuid.UUID(int=rng.getrandbits(128))),
                            "subject": "busy",
                            "showAs": rng.choice(SHOW_AS),
                        },
                        "start": begin.isoformat(),
                        "end": end.isoformat(),
                    }
                )
        calendars[host_id] = events
    return {"version": 1, "users": users, "calendars": calendars}


def configure(api: str, ids: list[str], pool: int) -> str:
    """Every host through the admin API (8 requests in flight), then the pool's event type."""

    def put_host(index: int) -> None:
        client.put(
            f"/admin/hosts/{ids[index]}",
            json={
                "email": f"rep{index}@contoso.com",
                "displayName": f"Rep {index}",
                "timeZone": ZONES[index % len(ZONES)],
                "workingHours": [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
                ],
            },
        ).raise_for_status()

    with httpx.Client(base_url=api, headers=ADMIN, timeout=60) as client:
        with ThreadPoolExecutor(8) as workers:
            list(workers.map(put_host, range(len(ids))))
        client.put(
            "/admin/event-types/bench-scale",
            json={
                "title": "Round robin at scale",
                "durationMinutes": 30,
                "slotIntervalMinutes": 15,
                "assignment": "roundRobin",
                "hostIds": ids[:pool],
                "bookingWindowDays": None,
            },
        ).raise_for_status()
    return "bench-scale"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--pool", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(5)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(args.hosts)]
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="slots-scale-") as folder:
        state_file = Path(folder) / "graph.json"
        state = graph_state(ids, args.pool, args.days, start)
        state_file.write_text(json.dumps(state), encoding="utf-8")
        items = sum(len(events) for events in state["calendars"].values())
        del state
        with running_stack(state_file) as stack:
            began = time.perf_counter()
            slug = configure(stack.api, ids, args.pool)
            print(
                f"configured {args.hosts} hosts in {time.perf_counter() - began:.1f} s; "
                f"{items} Outlook items in the pool's {args.pool} mailboxes"
            )
            params = {
                "eventType": slug,
                "start": start.date().isoformat(),
                "end": (start + timedelta(days=args.days - 1)).date().isoformat(),
                "timeZone": "Europe/Berlin",
            }
            label = (
                f"{args.pool}-host pool (round robin) of {args.hosts} hosts, {args.days} days, "
                "15-min grid, 30-min meetings"
            )
            measure_slots(stack, params, args.runs, label)


if __name__ == "__main__":
    main()
