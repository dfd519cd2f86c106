"""`make run`: Azurite, the Graph and Dataverse simulators and the local Functions host, with a demo tenant.

Ports (architecture.md): host :7071, Azurite tables :10002, Graph simulator :7081, Dataverse simulator :7082.
State lives under `.devstack/` (git-ignored), so a restart loses nothing;
`make clean` removes it. Ctrl-C stops everything this started.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from bootstrap.settings import azurite_connection_string
from devstack.azurite import start_azurite
from devstack.function_host import load_local_settings
from devstack.serving import serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".devstack"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host-port", type=int, default=7071)
    parser.add_argument("--azurite-port", type=int, default=10002)
    parser.add_argument("--graph-port", type=int, default=7081)
    parser.add_argument("--dataverse-port", type=int, default=7082)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--state-dir", type=Path, default=STATE)
    args = parser.parse_args()

    state: Path = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    load_local_settings(ROOT / "local.settings.json")
    load_local_settings(ROOT / "local.settings.sample.json")
    # The stack's own ports win over whatever the settings files say.
    os.environ["TABLES_CONNECTION_STRING"] = azurite_connection_string(args.azurite_port)
    os.environ["GRAPH_BASE_URL"] = f"http://127.0.0.1:{args.graph_port}/v1.0"
    os.environ["DATAVERSE_URL"] = f"http://127.0.0.1:{args.dataverse_port}/api/data/v9.2"
    # Graph subscriptions call the local host back (the simulator posts real change notifications).
    os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{args.host_port}/api"

    from devstack import dataverse_sim, graph_sim, localhost

    localhost.log_json_lines()
    azurite = start_azurite(args.azurite_port, location=state / "azurite")
    servers = []
    try:
        graph = serve_in_thread(graph_sim.create_app(state / "graph.json"), port=args.graph_port)
        servers.append(graph)
        dataverse = serve_in_thread(
            dataverse_sim.create_app(state / "dataverse.json"), port=args.dataverse_port
        )
        servers.append(dataverse)
        router = localhost.build_router()
        host = serve_in_thread(localhost.create_app(router), port=args.host_port)
        servers.append(host)
        import function_app
        from devstack.function_host import run_timers

        stop = threading.Event()
        run_timers(function_app.app, stop)
        if not args.no_seed:
            from devstack.seed import seed_demo_tenant

            print(
                seed_demo_tenant(
                    api=f"{host.url}/api",
                    graph=f"{graph.url}/v1.0",
                    dataverse=f"{dataverse.url}/api/data/v9.2",
                )
            )
        print(
            "\nLocal stack is up:\n"
            f"  Functions host   {host.url}/api   (try {host.url}/api/health)\n"
            f"  Azurite tables   http://127.0.0.1:{azurite.port}/devstoreaccount1\n"
            f"  Graph simulator  {graph.url}/v1.0\n"
            f"  Dataverse sim    {dataverse.url}/api/data/v9.2\n"
            "Keys: x-functions-key from local.settings(.sample).json (API_KEY, ADMIN_API_KEY). Ctrl-C stops.",
            flush=True,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    finally:
        for server in reversed(servers):
            server.stop()
        azurite.stop()
        print("stopped.")


if __name__ == "__main__":
    main()
