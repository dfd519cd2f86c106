"""What the `GET /slots` benchmarks share: the stack, the timing loop and the printed figures.

The stack is the test stack over real HTTP: Azurite, the Graph simulator in a child process (Graph's
work is not ours in production; in this process its CPU would be charged to cold requests under one
GIL) and the local Functions host in this process. Timings take turns within one process (cold
`/slots`, warm `/slots`, `GET /health`), so the warm-to-health ratio compares figures taken under the
same load: on a machine shared with other work it is the figure that carries over.
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.azurite import start_azurite
from devstack.serving import serve_in_thread

BEARER = {"Authorization": "Bearer bench"}
ADMIN = {"x-functions-key": "bench-admin"}
API = {"x-functions-key": "bench-api"}
WARM_TARGET_MS = 50.0
COLD_TARGET_MS = 1000.0


@dataclass(frozen=True)
class Stack:
    api: str  # the local host's /api base URL
    graph: str  # the Graph simulator's /v1.0 base URL
    invalidate_busy_cache: Callable[[], None]


class GraphProcess:
    """The Graph simulator in a child process on a free port (`python -m devstack.graph_sim`)."""

    def __init__(self, state_file: Path | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        state = ["--state-file", str(state_file)] if state_file is not None else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.graph_sim", "--port", str(port), *state]
        )
        deadline = time.monotonic() + 60
        while True:  # ready when it answers; poll with a deadline
            try:
                httpx.get(f"{self.url}/v1.0/users", headers=BEARER, timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the Graph simulator did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


@contextmanager
def running_stack(graph_state: Path | None = None) -> Iterator[Stack]:
    """Azurite + Graph simulator (optionally from a state file) + local host, torn down after."""
    azurite = start_azurite()
    graph = GraphProcess(graph_state)
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
    from bootstrap.composition import services
    from devstack import localhost

    host = serve_in_thread(localhost.create_app(localhost.build_router()))
    try:
        yield Stack(
            api=f"{host.url}/api",
            graph=f"{graph.url}/v1.0",
            invalidate_busy_cache=lambda: services().busy_times.invalidate_all(),
        )
    finally:
        host.stop()
        graph.stop()
        azurite.stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    """This process's peak resident set (Linux reports KiB); the whole stack but Azurite runs here."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure_slots(stack: Stack, params: dict[str, str], runs: int, label: str) -> bool:
    """Time cold and warm `GET /slots` and `GET /health`, interleaved; print them; True if on target."""
    cold: list[float] = []
    warm: list[float] = []
    health: list[float] = []
    size = slots = 0
    with httpx.Client(base_url=stack.api, headers=API, timeout=120) as client:
        client.get("/health").raise_for_status()
        for _ in range(runs):
            stack.invalidate_busy_cache()
            t0 = time.perf_counter()
            response = client.get("/slots", params=params)
            cold.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            size, slots = len(response.content), len(response.json()["slots"])
            t0 = time.perf_counter()
            client.get("/slots", params=params).raise_for_status()
            warm.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            client.get("/health").raise_for_status()
            health.append((time.perf_counter() - t0) * 1000)
    cold_ms, warm_ms, health_ms = (statistics.median(v) for v in (cold, warm, health))
    print(f"GET /slots: {label}, {slots} slots, {size / 1e6:.2f} MB answer")
    print(
        f"  cold (free/busy fetched from Graph): median {cold_ms:.0f} ms, p95 {percentile(cold, 0.95):.0f} ms"
    )
    print(
        f"  warm (free/busy cache):              median {warm_ms:.1f} ms, p95 {percentile(warm, 0.95):.1f} ms"
    )
    print(f"  GET /health, same runs:              median {health_ms:.1f} ms")
    print(f"  warm /slots : /health = {warm_ms / health_ms:.1f}, cold/warm = {cold_ms / warm_ms:.1f}")
    met = warm_ms <= WARM_TARGET_MS and cold_ms <= COLD_TARGET_MS
    print(
        f"  targets warm <= {WARM_TARGET_MS:.0f} ms, cold <= {COLD_TARGET_MS:.0f} ms: "
        f"{'met' if met else 'MISSED'} ({runs} runs)"
    )
    print(f"  peak memory (this process: local host and bench; Graph runs apart): {peak_rss_mb():.0f} MB")
    return met
