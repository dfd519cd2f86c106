"""Start Azurite's table service from node_modules (npm `azurite`), and know when it is ready.

Readiness is read from Azurite's own "successfully started" line, not guessed
with a timer. `--inMemoryPersistence` and `--location` are mutually exclusive.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bootstrap.settings import azurite_connection_string

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "node_modules" / ".bin" / "azurite-table"


@dataclass
class Azurite:
    process: subprocess.Popen[str]
    port: int

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            # Azurite saves its on-disk database and closes only on SIGINT (or an IPC "shutdown").
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_azurite(port: int = 0, location: Path | None = None) -> Azurite:
    if not BINARY.exists():
        raise RuntimeError(f"{BINARY} is missing: run `npm ci` (the Makefile does).")
    port = port or free_port()
    args = [
        str(BINARY),
        "--tableHost",
        "127.0.0.1",
        "--tablePort",
        str(port),
        "--skipApiVersionCheck",
        "--disableProductStyleUrl",
        "--loose",
        "--disableTelemetry",
    ]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "successfully started" in line:
            break
    else:
        process.wait()
        raise RuntimeError("Azurite exited before it started:\n" + "".join(seen[-20:]))
    # Keep draining its output so a full pipe never blocks it.
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    return Azurite(process=process, port=port)
