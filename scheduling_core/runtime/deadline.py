"""The request deadline (api.md "Limits": every request finishes or answers 503 within 30 s).

The HTTP shell answers 503 `upstream-unavailable` when a handler has not returned by the deadline
(`http_api/endpoint.py`), while the handler's thread cannot be stopped from outside. So the work itself
checks the same deadline, carried in a `ContextVar`, at its commit points: past the deadline nothing is
committed, and a caller told "503, try again" never finds that the first attempt booked after all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from scheduling_core.errors import UpstreamUnavailable

#: Under the 30 s of the contract, leaving room for the host to write the answer.
DEFAULT_REQUEST_SECONDS: Final = 25.0

_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


@contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    """Within the block, `ensure_time_left` fails once `seconds` have passed (monotonic clock)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def ensure_time_left(what: str) -> None:
    """Raise UpstreamUnavailable (503) instead of starting `what` after the request's deadline."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise UpstreamUnavailable(
            "the request deadline", f"Gave up before {what}: the request ran out of time.", 5
        )
