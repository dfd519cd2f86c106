"""The proof suites' stack: the local host as its own process, on Azurite and the two simulators.

- Azurite is the session's (in memory, `tests/conftest.py`); each suite uses its own table prefix, so
  suites never see each other's rows. It stays up while the host is killed and restarted, so a restart
  finds exactly the data the killed host committed.
- The Graph and Dataverse simulators run in this process (fresh per suite, `/_sim` for faults).
- The host is `python -m devstack.localhost` on a fixed free port (a restart binds the same one).
  It prints a ready line once its socket accepts, so starting it waits for that line, not for a timer.
  It runs no timers by itself: the suites run the outbox relay through `POST /admin/functions/{name}`
  (answered once the function returned), so every relay pass is an explicit, finished step.

Everything the suites assert is read from where it really lives: bookings, locks and the outbox from
Azurite, appointments from the Dataverse simulator, dead letters from the host's local topic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from azure.data.tables import TableServiceClient

from devstack.azurite import free_port

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "proof-api-key"
ADMIN_KEY = "proof-admin-key"
SIM_TOKEN = "proof-token"
READY = "Local host is up"
#: Booking sections the sync handlers write back, and the local-topic function that owns each.
#: A section is only required to settle when its function is subscribed (sync-outlook plugs in here).
SYNC_SECTIONS = {"dynamics": "sync_dataverse", "outlook": "sync_outlook"}


@dataclass
class HostProcess:
    """`python -m devstack.localhost` with its output kept (the last lines, for failure messages)."""

    process: subprocess.Popen[str]
    output: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def tail(self) -> str:
        return "".join(self.output)


class ProofStack:
    def __init__(
        self,
        *,
        azurite: Any,
        graph: Any,
        dataverse: Any,
        settings: dict[str, str] | None = None,
        notifications: bool = False,
    ):
        self.azurite = azurite
        self.graph = graph
        self.dataverse = dataverse
        self.port = free_port()
        self.prefix = "p" + uuid.uuid4().hex[:10]
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TABLES_CONNECTION_STRING": azurite.connection_string,
            "TABLE_PREFIX": self.prefix,
            "GRAPH_BASE_URL": graph.v1,
            "GRAPH_STATIC_TOKEN": SIM_TOKEN,
            "DATAVERSE_URL": dataverse.api,
            "DATAVERSE_STATIC_TOKEN": SIM_TOKEN,
            "API_KEY": API_KEY,
            "ADMIN_API_KEY": ADMIN_KEY,
            "MANAGE_LINK_KEY": "proof-manage-link-key-0123456789abcdef",
            **(settings or {}),
        }
        if notifications:
            # Graph change notifications reach the host (subscriptions made by
            # `maintain_graph_subscriptions`; the simulator posts to this URL).
            self.env["PUBLIC_BASE_URL"] = self.api
        self.host: HostProcess | None = None
        self.http = httpx.Client(timeout=60)
        self.tables = TableServiceClient.from_connection_string(azurite.connection_string)

    # -- the host process ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    def start_host(self) -> None:
        assert self.host is None or self.host.process.poll() is not None, "the host is already running"
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.localhost", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        host = HostProcess(process)
        assert process.stdout is not None
        for line in process.stdout:
            host.output.append(line)
            if READY in line:
                break
        else:
            process.wait()
            raise AssertionError("the local host did not start:\n" + host.tail())
        # Keep reading its log so a full pipe never blocks it.
        threading.Thread(target=lambda: host.output.extend(process.stdout or []), daemon=True).start()
        self.host = host

    def kill_host(self) -> None:
        """A crash: SIGKILL, no chance to finish anything in flight."""
        assert self.host is not None
        self.host.process.send_signal(signal.SIGKILL)
        self.host.process.wait(timeout=30)

    def stop_host(self) -> None:
        if self.host is not None and self.host.process.poll() is None:
            self.host.process.send_signal(signal.SIGTERM)
            try:
                self.host.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.host.process.kill()
                self.host.process.wait()

    def close(self) -> None:
        self.stop_host()
        self.http.close()

    # -- driving it ----------------------------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(
            method, f"{self.api}{path}", headers={"x-functions-key": ADMIN_KEY}, **kwargs
        )

    def run_timer(self, name: str) -> None:
        response = self.http.post(
            f"{self.url}/admin/functions/{name}", headers={"x-functions-key": ADMIN_KEY}, timeout=600
        )
        assert response.status_code == 202, response.text

    def bus(self) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/_host/bus", headers={"x-functions-key": ADMIN_KEY})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wait_for_scheduled_copies(self, *, timeout: float) -> None:
        """Poll the host's bus until every scheduled copy (a throttled message put back for after its
        Retry-After) has been delivered and settled."""
        deadline = time.monotonic() + timeout
        while (left := self.bus()["scheduled"]) and time.monotonic() < deadline:
            time.sleep(0.5)  # polling a condition with a deadline
        assert not left, f"{left} scheduled copies still unsettled after {timeout:g} s"

    def wait_for_change_queues(self, *, timeout: float) -> None:
        """Poll the host until its change queues (`graph-changes`, `dynamics-changes`) are idle: every
        notification handed to it has been handled by the reconciler."""
        deadline = time.monotonic() + timeout
        while (busy := {q: n for q, n in self.bus()["queues"].items() if n}) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling a condition with a deadline
        assert not busy, f"change queues still busy after {timeout:g} s: {busy}"

    def health(self) -> dict[str, Any]:
        response = self.http.get(f"{self.api}/health")
        assert response.status_code in (200, 503), response.text
        result: dict[str, Any] = response.json()
        return result

    # -- storage -------------------------------------------------------------------------------------------

    def rows(self, table: str, query: str | None = None) -> list[dict[str, Any]]:
        client = self.tables.get_table_client(self.prefix + table)
        entities = client.query_entities(query) if query else client.list_entities()
        return [dict(e) for e in entities]

    def pending_outbox(self) -> list[dict[str, Any]]:
        return self.rows("hostslots", "RowKey ge 'o|' and RowKey lt 'o}' and sent eq false")

    def drain_outbox(self, *, max_passes: int) -> int:
        """Run the relay timer until no outbox event is pending; returns the passes it took."""
        for passes in range(1, max_passes + 1):
            self.run_timer("relay_outbox")
            if not self.pending_outbox():
                return passes
        pending = self.pending_outbox()
        log = self.host.tail()[-3000:] if self.host is not None else ""
        raise AssertionError(
            f"{len(pending)} outbox events still pending after {max_passes} relay passes"
            f" ({[r['RowKey'] for r in pending[:5]]}); the host's log ends:\n{log}"
        )
