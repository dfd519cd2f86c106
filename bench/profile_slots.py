"""Where a warm `GET /slots` spends its time: the endpoint bench's stack and pool, profiled.

    PYTHONPATH=. .venv/bin/python bench/profile_slots.py [--hosts 50] [--days 30] [--runs 30]

Seeds the pool of `bench/slots_endpoint.py`, warms the free/busy cache with one request, then runs
`--runs` warm requests through the app's router in this thread (everything but the HTTP server and
client) under pyinstrument, a wall-clock sampler: waits on Azurite count as time, which is the point.
Prints the time per request of the call tree's heaviest paths (`--cold`: free/busy fetched from the
Graph simulator each time, which runs in this process too). cProfile (`--cprofile`) counts calls
instead, useful for per-call overheads; neither sees into worker threads (their waits show as the
caller's).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from bench.endpoint_kit import API, running_stack
from bench.slots_endpoint import seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cprofile", action="store_true", help="cProfile instead of pyinstrument")
    parser.add_argument("--cold", action="store_true", help="empty the free/busy cache before each request")
    args = parser.parse_args()

    from pyinstrument import Profiler

    from devstack import localhost

    with running_stack() as stack:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        slug, _ = seed(stack.api, stack.graph, args.hosts, args.days, start)
        params = {
            "eventType": slug,
            "start": start.date().isoformat(),
            "end": (start + timedelta(days=args.days - 1)).date().isoformat(),
            "timeZone": "Europe/Berlin",
        }
        router = localhost.build_router()
        url = f"{stack.api}/slots?{urlencode(params)}"

        def call() -> None:
            if args.cold:
                stack.invalidate_busy_cache()
            response = router.handle("GET", url, API)
            assert response.status_code == 200, response.get_body()[:300]

        call()  # cold: fills the free/busy cache and the engine's memos
        call()
        began = time.perf_counter()
        if args.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.runs):
                call()
            profile.disable()
            elapsed = time.perf_counter() - began
            pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
        else:
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(args.runs):
                call()
            profiler.stop()
            elapsed = time.perf_counter() - began
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        kind = "cold" if args.cold else "warm"
        print(f"{args.runs} {kind} requests in process: {elapsed / args.runs * 1000:.1f} ms each (profiled)")


if __name__ == "__main__":
    main()
