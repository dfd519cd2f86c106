"""Booking throughput against Azurite: sequential and 8-way concurrent POST /bookings.

    PYTHONPATH=. .venv/bin/python bench/bookings.py [--bookings 200] [--threads 8]

The Graph simulator runs in its own process, as Graph does in production: hosted in the app's process, its
request handling would be charged to the app's interpreter lock and CPU.

Each booking runs the whole commit path: slot rules re-checked against Outlook read fresh from the Graph
simulator, this service's bookings and holds read from storage, then one entity-group transaction (booking,
locks, outbox event) and the after-commit publish (in-process). Every booking takes a distinct slot, so the
numbers measure throughput, not conflicts. Prints bookings/s, p50/p95 latency and the CPU each booking
costs this process (app + in-process Graph simulator) and Azurite: on a shared machine the rates move
with the load, the CPU per booking much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.endpoint_kit import GraphProcess
from devstack.azurite import start_azurite

BEARER = {"Authorization": "Bearer bench"}


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    azurite = start_azurite()
    graph = GraphProcess()
    os.environ.update(
        {
            "TABLES_CONNECTION_STRING": azurite.connection_string,
            "TABLE_PREFIX": "benchbk",
            "GRAPH_BASE_URL": f"{graph.url}/v1.0",
            "GRAPH_STATIC_TOKEN": "bench",
        }
    )
    for name in ("API_KEY", "ADMIN_API_KEY"):  # absent = check off; an empty value fails closed
        os.environ.pop(name, None)
    import function_app
    from devstack.function_host import FunctionRouter
    from scheduling_core.adapters.inprocess_bus import LOCAL_NAMESPACE

    router = FunctionRouter(function_app.app)
    # In Azure, Outlook/Dataverse sync runs later off Service Bus; the booking path ends at publish.
    LOCAL_NAMESPACE.listen_topic(lambda event: None)

    def call(method: str, path: str, body: Any) -> Any:
        import json

        response = router.handle(
            method, f"http://bench/api{path}", {"Content-Type": "application/json"}, json.dumps(body).encode()
        )
        return response.status_code, response.get_body()

    try:
        hosts = []
        for index in range(args.threads):
            host_id = str(uuid.uuid4())
            mail = f"bench{index}@contoso.com"
            httpx.post(
                f"{graph.url}/v1.0/users",
                headers=BEARER,
                json={
                    "id": host_id,
                    "displayName": mail,
                    "mail": mail,
                    "userPrincipalName": mail,
                    "accountEnabled": True,
                },
            ).raise_for_status()
            status, body = call(
                "PUT",
                f"/admin/hosts/{host_id}",
                {
                    "email": mail,
                    "displayName": mail,
                    "timeZone": "UTC",
                    "workingHours": [
                        {
                            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "start": "00:00",
                            "end": "24:00",
                        }
                    ],
                },
            )
            assert status == 201, body
            hosts.append(host_id)
        status, body = call(
            "PUT",
            "/admin/event-types/bench",
            {"title": "Bench", "durationMinutes": 15, "hostIds": hosts, "bookingWindowDays": 365},
        )
        assert status == 201, body
        first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)

        def book(host_id: str, slot: int) -> float:
            start = first + timedelta(minutes=15 * slot)
            t0 = time.perf_counter()
            status, body = call(
                "POST",
                "/bookings",
                {
                    "eventType": "bench",
                    "start": start.isoformat(),
                    "hostId": host_id,
                    "invitee": {"name": "Bench", "email": "bench@fabrikam.com"},
                },
            )
            assert status == 201, body
            return (time.perf_counter() - t0) * 1000

        t0 = time.perf_counter()
        sequential = [book(hosts[0], i) for i in range(args.bookings)]
        seq_rate = args.bookings / (time.perf_counter() - t0)

        per_thread = args.bookings // args.threads

        def worker(index: int) -> list[float]:
            return [book(hosts[index], args.bookings + i) for i in range(per_thread)]

        t0 = time.perf_counter()
        cpu0, azurite0 = time.process_time(), process_cpu_seconds(azurite.process.pid)
        with ThreadPoolExecutor(args.threads) as pool:
            concurrent = [ms for batch in pool.map(worker, range(args.threads)) for ms in batch]
        conc_rate = len(concurrent) / (time.perf_counter() - t0)
        app_cpu = (time.process_time() - cpu0) * 1000 / len(concurrent)
        azurite_cpu = (process_cpu_seconds(azurite.process.pid) - azurite0) * 1000 / len(concurrent)

        print(
            f"sequential: {args.bookings} bookings, {seq_rate:.1f} bookings/s, "
            f"p50 {statistics.median(sequential):.0f} ms, p95 {percentile(sequential, 0.95):.0f} ms"
        )
        print(
            f"{args.threads}-way concurrent: {len(concurrent)} bookings, {conc_rate:.1f} bookings/s, "
            f"p50 {statistics.median(concurrent):.0f} ms, p95 {percentile(concurrent, 0.95):.0f} ms"
        )
        print(
            f"CPU per booking (concurrent run): app {app_cpu:.1f} ms, Azurite {azurite_cpu:.1f} ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    finally:
        graph.stop()
        azurite.stop()


if __name__ == "__main__":
    main()
