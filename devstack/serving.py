"""Run an ASGI app with uvicorn, in a background thread (tests) or in the foreground (make run).

`serve_in_thread` binds before it returns, so callers never wait on a timer to
learn whether a server is up: the port is known and already accepting.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class RunningServer:
    url: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


#: Idle keep-alive connections are closed by the server only after this long. Clients (httpx: 5 s) close
#: theirs first, so a request is never sent on a connection the server is closing at that moment (the
#: race that loses a POST's answer under load); Azure's front ends keep idle connections for minutes too.
KEEP_ALIVE_SECONDS = 75


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(
        socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )  # IPPROTO_TCP lets asyncio set TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start `app` on `host:port` (0 = any free port) and return once it accepts connections."""
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    started = threading.Event()

    def run() -> None:
        server.run(sockets=[sock])

    thread = threading.Thread(target=run, name=f"uvicorn:{actual_port}", daemon=True)
    thread.start()
    # The socket already listens, so connections queue until uvicorn accepts them;
    # wait only for uvicorn's own startup flag (bounded) so stop() is safe.
    for _ in range(2000):
        if server.started:
            started.set()
            break
        thread.join(timeout=0.005)
    if not started.is_set():
        raise RuntimeError(f"server on port {actual_port} did not start")
    return RunningServer(url=f"http://{host}:{actual_port}", port=actual_port, _server=server, _thread=thread)


def serve_forever(app: Any, *, host: str = "127.0.0.1", port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
