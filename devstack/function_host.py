"""Route HTTP requests to the functions registered on a `func.FunctionApp`, as the Functions host does.

Used by the local host (`devstack.localhost`) and by tests, so both call the real
decorated functions with real `func.HttpRequest` objects. Routes come from the
functions' own trigger metadata; new functions are served without changes here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

import azure.functions as func

_PARAM = re.compile(r"{(\*?)(\w+)(?::[^}?]+)?(\??)}")


@dataclass(frozen=True)
class HttpRoute:
    name: str
    template: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    call: Callable[[func.HttpRequest], func.HttpResponse]


def _compile(template: str) -> re.Pattern[str]:
    out, last = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[last : m.start()]))
        catch_all, name, optional = m.group(1), m.group(2), m.group(3)
        body = ".*" if catch_all else "[^/]+"
        out.append(f"(?P<{name}>{body}){'?' if optional else ''}")
        last = m.end()
    out.append(re.escape(template[last:]))
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE)


_INDEXED: dict[int, tuple[func.FunctionApp, list[Any]]] = {}


def indexed_functions(app: func.FunctionApp) -> list[Any]:
    """`app.get_functions()`, once: like the worker, an app may be indexed only once."""
    entry = _INDEXED.get(id(app))
    if entry is None or entry[0] is not app:
        entry = (app, app.get_functions())
        _INDEXED[id(app)] = entry
    return entry[1]


def http_routes(app: func.FunctionApp) -> list[HttpRoute]:
    routes = []
    for fn in indexed_functions(app):
        trigger = fn.get_trigger()
        if getattr(trigger, "type", None) != "httpTrigger":
            continue
        template = (trigger.route or fn.get_function_name()).strip("/")
        methods = frozenset(
            str(getattr(m, "value", m)).upper() for m in (trigger.methods or [])
        ) or frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
        routes.append(
            HttpRoute(fn.get_function_name(), template, methods, _compile(template), fn.get_user_function())
        )
    # Literal segments beat parameters, as in ASP.NET routing: fewer parameters first.
    routes.sort(key=lambda r: (r.template.count("{"), -len(r.template)))
    return routes


class FunctionRouter:
    """HTTP routes of `app`, and (like the local run's Service Bus) its topic triggers fed in-process."""

    def __init__(
        self, app: func.FunctionApp, route_prefix: str = "api", topic: str = "booking-events"
    ) -> None:
        from bootstrap.settings import Settings
        from devstack.local_bus import deliver_queue_to_functions, deliver_to_functions
        from scheduling_core.adapters.inprocess_bus import LOCAL_NAMESPACE

        self.app = app
        self.routes = http_routes(app)
        self.prefix = route_prefix.strip("/")
        # maxDeliveryCount = the delivery the sync handlers give up on (SYNC_MAX_DELIVERY_COUNT).
        max_deliveries = Settings.from_env().sync_max_delivery_count
        self.topic = deliver_to_functions(indexed_functions(app), topic, max_delivery_count=max_deliveries)
        self.graph_changes = deliver_queue_to_functions(indexed_functions(app), "graph-changes")
        self.dynamics_changes = deliver_queue_to_functions(indexed_functions(app), "dynamics-changes")
        # Listen on the process's local Service Bus namespace, as the Functions host listens on Azure's.
        LOCAL_NAMESPACE.listen_topic(self.topic)
        LOCAL_NAMESPACE.listen_queue("graph-changes", self.graph_changes)
        LOCAL_NAMESPACE.listen_queue("dynamics-changes", self.dynamics_changes)

    def handle(
        self, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> func.HttpResponse:
        parts = _split(url)
        path = parts.path.strip("/")
        if self.prefix:
            if not (path == self.prefix or path.startswith(self.prefix + "/")):
                return _not_found()
            path = path[len(self.prefix) :].strip("/")
        allowed = False
        for route in self.routes:
            match = route.pattern.match(path)
            if not match:
                continue
            if method.upper() not in route.methods:
                allowed = True
                continue
            params = {k: _unescape(v) for k, v in match.groupdict().items() if v is not None}
            request = func.HttpRequest(
                method=method.upper(),
                url=url,
                headers=dict(headers or {}),
                params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                route_params=params,
                body=body,
            )
            return route.call(request)
        if allowed:
            return func.HttpResponse(status_code=405)
        return _not_found()


#: Characters `urlsplit` deletes anywhere in a URL (WHATWG); a decoded request path may still hold them.
_DELETED_BY_URLSPLIT = {"\t": "%09", "\n": "%0A", "\r": "%0D"}


def _split(url: str) -> SplitResult:
    """`urlsplit`, keeping tabs and line breaks of the path (escaped) instead of dropping them."""
    for char, escaped in _DELETED_BY_URLSPLIT.items():
        url = url.replace(char, escaped)
    return urlsplit(url)


def _unescape(value: str) -> str:
    for char, escaped in _DELETED_BY_URLSPLIT.items():
        value = value.replace(escaped, char)
    return value


def _not_found() -> func.HttpResponse:
    return func.HttpResponse(status_code=404)


def route_prefix(host_json: Path) -> str:
    try:
        config: dict[str, Any] = json.loads(host_json.read_text())
    except (OSError, ValueError):
        return "api"
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api"))


def load_local_settings(path: Path, *, override: bool = False) -> dict[str, str]:
    """Put `Values` of local.settings.json into the environment, as Core Tools does."""
    try:
        values = json.loads(path.read_text()).get("Values", {})
    except (OSError, ValueError):
        return {}
    applied = {}
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


@dataclass(frozen=True)
class TimerFunction:
    name: str
    every_seconds: int
    call: Callable[[Any], None]


def _period(schedule: str) -> int:
    """Seconds between runs of an NCRONTAB schedule of the `*/N` kind (seconds or minutes); else a minute."""
    fields = schedule.split()
    if len(fields) == 6:
        seconds, minutes = fields[0], fields[1]
        if seconds.startswith("*/"):
            return int(seconds[2:])
        if minutes.startswith("*/"):
            return int(minutes[2:]) * 60
    return 60


def timer_functions(app: func.FunctionApp) -> list[TimerFunction]:
    timers = []
    for fn in indexed_functions(app):
        trigger = fn.get_trigger()
        if getattr(trigger, "type", None) == "timerTrigger":
            timers.append(
                TimerFunction(fn.get_function_name(), _period(trigger.schedule), fn.get_user_function())
            )
    return timers


class LocalTimer(func.TimerRequest):
    """What a timer function receives; the local scheduler never runs late."""

    @property
    def past_due(self) -> bool:
        return False


def run_timers(app: func.FunctionApp, stop: Any) -> list[Any]:
    """Fire every timer function of `app` on its period until `stop` (a threading.Event) is set."""
    import logging
    import threading

    def loop(timer: TimerFunction) -> None:
        while not stop.wait(timer.every_seconds):
            try:
                timer.call(LocalTimer())
            except Exception:
                logging.getLogger(__name__).exception("timer %s failed", timer.name)

    threads = [
        threading.Thread(target=loop, args=(t,), name=f"timer:{t.name}", daemon=True)
        for t in timer_functions(app)
    ]
    for thread in threads:
        thread.start()
    return threads
