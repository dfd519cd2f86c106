"""What the local simulators (Graph, Dataverse) share: faults, the request log, `/_sim`, state files.

A simulator subclasses `SimState` (its data, how it is saved and restored) and
`SimApi` (how it authenticates, dispatches and renders errors in its upstream's
shape); this module gives both the test-only `/_sim` surface:

    GET, POST, DELETE   /_sim/faults     list / queue / clear faults (POST answers 201 with the fault)
    GET, DELETE         /_sim/requests   the request log (`?pathContains=&method=`) / clear it
    POST                /_sim/reset      forget all data, faults and logged requests (204)

Invariants:
- Every read and write of a simulator's state holds its `lock` (re-entrant).
- Every request to the simulated API is logged before anything else happens, with its
  answer's status filled in once known; credentials are never logged (the
  `Authorization` header is kept as its scheme plus `<redacted>`). The log keeps the
  newest `REQUEST_LOG_SIZE` requests.
- A queued fault applies to the next `count` API requests whose method matches and
  whose path contains `pathContains` (both case-insensitively), first queued first; it
  delays the request, fails it (before authentication), or both. With `probability` p < 1
  each matching request is hit with chance p (drawn independently per fault, so a later
  fault may hit a request an earlier one spared), and only hits count; `count: null`
  means no limit (until the faults are cleared): `{"status": 429, "retryAfter": 1,
  "probability": 0.1, "count": null}` throttles about a tenth of all requests.
- Faults and the request log are test scaffolding: never persisted, and `/_sim` needs no
  token. Errors of `/_sim` come in the simulator's own error shape.
- With a state file, every write is followed by an atomic save (temp file in the same
  directory, fsync, `os.replace`): a restarted simulator has everything a client saw
  written, and a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import random
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

REQUEST_LOG_SIZE = 2000
#: The methods the simulated APIs' routes accept (each simulator answers the ones it does not support).
ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


class SimFault(Exception):
    """An error answer a simulator gives; each simulator renders it in its upstream's shape."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    """A queued failure: the next `count` requests matching path and method get it."""

    status: int | None
    count: int | None = 1  # None: every matching request, until cleared
    probability: float = 1.0
    retry_after: float | None = None
    path_contains: str | None = None
    method: str | None = None
    delay_seconds: float | None = None
    code: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains.lower() in path.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "retryAfter": self.retry_after,
            "count": self.count,
            "probability": self.probability,
            "pathContains": self.path_contains,
            "method": self.method,
            "delaySeconds": self.delay_seconds,
            "code": self.code,
        }

    def error(
        self,
        known: Mapping[int, tuple[str, str]],
        *,
        server_error: tuple[str, str],
        client_error: tuple[str, str],
    ) -> SimFault:
        """The error this fault answers with: `code` (else the status's code) and message from `known`,
        else `server_error` (5xx) or `client_error`; `Retry-After` when the fault has one."""
        assert self.status is not None
        default_code, message = known.get(self.status, server_error if self.status >= 500 else client_error)
        headers = {}
        if self.retry_after is not None:
            seconds = self.retry_after
            headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        return SimFault(self.status, self.code or default_code, message, headers=headers)


def parse_fault(body: dict[str, Any], bad_request: Callable[[str], SimFault]) -> Fault:
    """A fault from the body of `POST /_sim/faults`; `bad_request(message)` is raised for a bad one."""
    known = {"status", "retryAfter", "count", "probability", "pathContains", "method", "delaySeconds", "code"}
    unknown = set(body) - known
    if unknown:
        raise bad_request(f"Unknown fault properties: {sorted(unknown)}.")
    status = body.get("status")
    count = body.get("count", 1)
    retry_after = body.get("retryAfter")
    delay = body.get("delaySeconds")
    probability = body.get("probability", 1)
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise bad_request("'status' must be an HTTP error status (400-599) or null.")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise bad_request("'count' must be a positive integer or null (no limit).")
    if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 < probability <= 1:
        raise bad_request("'probability' must be a number above 0 and at most 1.")
    for name, value in (("retryAfter", retry_after), ("delaySeconds", delay)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise bad_request(f"'{name}' must be a non-negative number or null.")
    for name in ("pathContains", "method", "code"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            raise bad_request(f"'{name}' must be a string or null.")
    if status is None and not delay:
        raise bad_request("A fault needs a 'status', a 'delaySeconds', or both.")
    return Fault(
        status=status,
        count=count,
        probability=float(probability),
        retry_after=None if retry_after is None else float(retry_after),
        path_contains=body.get("pathContains"),
        method=body.get("method"),
        delay_seconds=None if delay is None else float(delay),
        code=body.get("code"),
    )


class SimState(ABC):
    """A simulator's state: its own data (a subclass's) plus queued faults and the request log.

    A subclass sets up its own fields, then calls `super().__init__`, which loads the
    state file if there is one; it implements `_clear`, `_snapshot` and `_restore`.
    """

    #: Names the simulator in errors about its state file ("Graph simulator").
    kind: ClassVar[str]
    #: The state file format this simulator reads and writes.
    state_version: ClassVar[int] = 1

    def __init__(self, state_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.faults: list[Fault] = []
        self.random = random.Random()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        if state_file is not None and state_file.exists():
            self._load(state_file)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path):
                    continue
                if fault.probability < 1 and self.random.random() >= fault.probability:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def reset(self) -> None:
        with self.lock:
            self._clear()
            self.faults.clear()
            self.requests.clear()
            self.save()

    def save(self) -> None:
        """Write the data atomically (no-op without a state file). Call holding `lock`."""
        if self.state_file is None:
            return
        write_json_atomically(self.state_file, {"version": self.state_version, **self._snapshot()})

    def _load(self, state_file: Path) -> None:
        data = json.loads(state_file.read_text(encoding="utf-8"))
        if data.get("version") != self.state_version:
            raise ValueError(f"{state_file}: unsupported {self.kind} state version {data.get('version')!r}")
        self._restore(data)

    @abstractmethod
    def _clear(self) -> None:
        """Forget all data (not faults or the request log)."""
        ...

    @abstractmethod
    def _snapshot(self) -> dict[str, Any]:
        """The data as JSON (without "version"), for the state file."""
        ...

    @abstractmethod
    def _restore(self, data: dict[str, Any]) -> None:
        """Take the data back from a state file `_snapshot` wrote."""
        ...


def write_json_atomically(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON: written to a temp file beside it, synced, then renamed over it."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp:
            json.dump(data, temp)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class SimApi(ABC):
    """The `/_sim` handlers and the path every simulated API request takes (`serve`).

    A subclass gives `logged_headers` and implements `bad_request`, `injected_error`,
    `render_error`, `authenticate` and `dispatch` in its upstream's terms.
    """

    #: Request headers the log keeps (lowercase), besides the redacted `authorization`.
    logged_headers: ClassVar[tuple[str, ...]]

    def __init__(self, state: SimState) -> None:
        self.state = state

    def app(self, routes: list[BaseRoute]) -> Starlette:
        """The simulator as an ASGI app: `/_sim` first, then `routes`; `app.state.sim` is the state."""
        app = Starlette(
            routes=[
                Route("/_sim/faults", self.faults, methods=["GET", "POST", "DELETE"]),
                Route("/_sim/requests", self.request_log, methods=["GET", "DELETE"]),
                Route("/_sim/reset", self.reset, methods=["POST"]),
                *routes,
            ]
        )
        app.state.sim = self.state
        return app

    # -- /_sim --------------------------------------------------------------------------------------

    async def faults(self, request: Request) -> Response:
        if request.method == "GET":
            with self.state.lock:
                return JSONResponse({"value": [fault.to_json() for fault in self.state.faults]})
        if request.method == "DELETE":
            with self.state.lock:
                self.state.faults.clear()
            return Response(status_code=204)
        try:
            fault = parse_fault(self.json_object(await request.body()), self.bad_request)
        except SimFault as exc:
            return self.render_error(exc, None)
        with self.state.lock:
            self.state.faults.append(fault)
        return JSONResponse(fault.to_json(), status_code=201)

    async def request_log(self, request: Request) -> Response:
        if request.method == "DELETE":
            with self.state.lock:
                self.state.requests.clear()
            return Response(status_code=204)
        path_contains = (request.query_params.get("pathContains") or "").lower()
        method = (request.query_params.get("method") or "").upper()
        with self.state.lock:
            entries = [
                dict(entry)
                for entry in self.state.requests
                if path_contains in entry["path"].lower() and (not method or entry["method"] == method)
            ]
        return JSONResponse({"value": entries})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return Response(status_code=204)

    # -- the simulated API --------------------------------------------------------------------------

    async def serve(self, request: Request) -> Response:
        """Log the request, apply a queued fault, else authenticate and dispatch; errors rendered."""
        body = await request.body()
        entry = self._log(request, body)
        fault = self.state.take_fault(request.method, request.url.path)
        response: Response | None = None
        if fault is not None:
            if fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            if fault.status is not None:
                response = self.render_error(self.injected_error(fault), request)
        if response is None:
            try:
                self.authenticate(request)
                answer = self.dispatch(request, body)
                response = await answer if inspect.isawaitable(answer) else answer
            except SimFault as exc:
                response = self.render_error(exc, request)
        entry["status"] = response.status_code
        return response

    def _log(self, request: Request, body: bytes) -> dict[str, Any]:
        headers: dict[str, str | None] = {name: request.headers.get(name) for name in self.logged_headers}
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            authorization = f"{scheme} <redacted>" if credentials.strip() else scheme
        headers["authorization"] = authorization
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(),
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": headers,
            "json": parsed,
            "status": None,
        }
        with self.state.lock:
            self.state.requests.append(entry)
        return entry

    # -- what a simulator provides ------------------------------------------------------------------

    @abstractmethod
    def json_object(self, body: bytes) -> dict[str, Any]:
        """The request body as a JSON object, or the simulator's 400."""
        ...

    @abstractmethod
    def bad_request(self, message: str) -> SimFault:
        """The simulator's 400 for a malformed request."""
        ...

    @abstractmethod
    def injected_error(self, fault: Fault) -> SimFault:
        """The error a queued fault (with a status) answers with (see `Fault.error`)."""
        ...

    @abstractmethod
    def render_error(self, exc: SimFault, request: Request | None) -> Response:
        """`exc` in the upstream's error shape; `request` is None for `/_sim` errors."""
        ...

    @abstractmethod
    def authenticate(self, request: Request) -> None:
        """Raise the upstream's 401 unless the request carries an acceptable token."""
        ...

    @abstractmethod
    def dispatch(self, request: Request, body: bytes) -> Response | Awaitable[Response]:
        """Answer an authenticated request (raising `SimFault` for an error answer).

        A handler that must wait on something outside the simulator (e.g. an HTTP call to a
        client's endpoint) returns an awaitable instead, so it never blocks the event loop."""
        ...
