"""Outlook free/busy through Microsoft Graph: a retrying client and a short-lived cache.

Invariants:
- Every `getSchedule` call stays inside Graph's documented limits: at most
  `MAX_SCHEDULES_PER_REQUEST` (20) schedules and a window shorter than
  `MAX_SCHEDULE_WINDOW` (62 days) ("Limits and error conditions" in Graph's
  "Get free/busy schedule of Outlook calendar users and resources"). Larger
  asks are split and the pieces merged, so callers never see the limits.
- Every instant leaving this module is UTC: an aware `datetime`, or a `BusyItem`'s integer
  microseconds since 1970 (parsed straight from the `dateTime` strings, no datetime per stamp).
  Responses are requested in UTC (`Prefer: outlook.timezone="UTC"`) and parsed zone-aware anyway.
- A mailbox Graph cannot serve (`is_mailbox_fault`) never fails a getSchedule call for the others: the
  chunk is asked again as another of its mailboxes, and a schedule nobody could read is an error
  (unknown, never free). Only a 403 from every mailbox tried still raises (likely our permissions).
- A request is retried only on throttling or unavailability (429, 502, 503,
  504, connect/read timeouts), at most `max_retries` times and never past
  `max_total_seconds`; `Retry-After` is obeyed (the loop is `http_retry.RetryingSender`).
  Past that budget the caller gets `UpstreamUnavailable`; any other 4xx is
  `GraphRequestRejected` (our bug or configuration, never retried).
- `CachedBusyTimes` never serves items older than its TTL, never caches a
  per-schedule error, and drops whatever an invalidation raced with.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import compress, islice
from operator import attrgetter, lt, ne
from random import Random
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from scheduling_core.adapters.clock import SystemClock
from scheduling_core.adapters.credentials import TokenProvider
from scheduling_core.adapters.graph_models import (
    GET_SCHEDULE_ANSWER,
    DateTimeTimeZone,
    GetScheduleRequest,
    GraphError,
    ScheduleInformationWire,
    describe_free_busy_error,
    schedule_item_bounds,
)
from scheduling_core.adapters.http_retry import RetryingSender
from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.values import BusyItem, busy_items_of_microseconds, epoch_microseconds
from scheduling_core.errors import GraphRequestRejected, UpstreamUnavailable
from scheduling_core.ports import Clock, HostFreeBusy, Mailbox

#: Graph answers at most this many schedules per getSchedule call (documented limit).
MAX_SCHEDULES_PER_REQUEST = 20
#: A getSchedule window must be shorter than this (documented limit).
MAX_SCHEDULE_WINDOW = timedelta(days=62)
#: The longest piece we ask for: comfortably under the limit.
SCHEDULE_WINDOW_PIECE = timedelta(days=61)
#: Width of an availabilityView digit; we read scheduleItems, so this only sizes the payload.
AVAILABILITY_VIEW_INTERVAL_MINUTES = 15

_SERVICE = "graph"


def is_mailbox_fault(exc: GraphRequestRejected) -> bool:
    """Graph refused because it cannot serve the mailbox at all, not because one item is missing: 403
    (e.g. an application access policy) or a 404 other than `ErrorItemNotFound`
    (`MailboxNotEnabledForRESTAPI`: no licence, inactive, soft-deleted or on-premises mailbox)."""
    item_gone = exc.status_code == 404 and (exc.code or "").lower() == "erroritemnotfound"
    return exc.status_code == 403 or (exc.status_code == 404 and not item_gone)


#: Mailboxes of a getSchedule chunk tried as the requester before the chunk is given up as unknown.
MAX_REQUESTERS = 3


class GraphClient:
    """A synchronous Microsoft Graph client for what this service needs, with bounded retries.

    Thread-safe: one instance (one connection pool) serves the whole process.
    """

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenProvider,
        timeout_seconds: float = 10.0,
        max_retries: int = 4,
        max_total_seconds: float = 20.0,
        max_concurrency: int = 4,
        transport: httpx.BaseTransport | None = None,
        random: Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_retries < 0 or max_concurrency < 1 or timeout_seconds <= 0 or max_total_seconds <= 0:
            raise ValueError("retry, concurrency and time budgets must be positive")
        self._max_concurrency = max_concurrency
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            transport=transport,
            timeout=timeout_seconds,
            headers={"Accept": "application/json"},
        )
        self._retrying = RetryingSender(
            self._http,
            tokens,
            service=_SERVICE,
            display_name="Graph",
            error_code=_error_code,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            max_total_seconds=max_total_seconds,
            random=random,
            sleep=sleep,
            monotonic=monotonic,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- free/busy ---------------------------------------------------------------------------------

    def get_schedule(self, mailboxes: Sequence[Mailbox], window: Interval) -> dict[str, HostFreeBusy]:
        """Outlook items of every mailbox over `window`, keyed by host id.

        One `getSchedule` call per chunk of mailboxes and piece of the window,
        run concurrently. A schedule Graph could not read comes back as
        `HostFreeBusy(error=...)`; a call Graph would not answer in time raises
        `UpstreamUnavailable`.
        """
        if not mailboxes:
            return {}
        hosts_by_email: dict[str, list[str]] = {}
        for mailbox in mailboxes:
            hosts_by_email.setdefault(mailbox.email.strip().lower(), []).append(mailbox.host_id)
        emails = list(hosts_by_email)
        requester_by_email = {
            mailbox.email.strip().lower(): mailbox.host_id for mailbox in reversed(mailboxes)
        }
        chunks = [
            emails[i : i + MAX_SCHEDULES_PER_REQUEST]
            for i in range(0, len(emails), MAX_SCHEDULES_PER_REQUEST)
        ]
        pieces = list(_window_pieces(window))
        deadline = self._retrying.deadline()
        tasks = [(chunk, piece) for chunk in chunks for piece in pieces]

        def fetch(task: tuple[list[str], Interval]) -> dict[str, ScheduleInformationWire]:
            chunk, piece = task
            # The call runs as one of the chunk's mailboxes; one Graph cannot serve (a mailbox fault)
            # must not cost the others their free/busy, so the next one asks. Its own schedule comes
            # back as a per-schedule error, or not at all: unknown, never free.
            requesters = list(dict.fromkeys(requester_by_email[email] for email in chunk))[:MAX_REQUESTERS]
            for requester in requesters[:-1]:
                try:
                    return self._get_schedule_chunk(requester, chunk, piece, deadline)
                except GraphRequestRejected as exc:
                    if not is_mailbox_fault(exc):
                        raise
            try:
                return self._get_schedule_chunk(requesters[-1], chunk, piece, deadline)
            except GraphRequestRejected as exc:
                # A 404 names the mailbox (not REST-enabled, inactive, soft-deleted): unknown schedules.
                # A 403 from every mailbox tried is more likely our permissions: surface it.
                if exc.status_code != 404 or not is_mailbox_fault(exc):
                    raise
                return {}

        if len(tasks) == 1:
            answers = [fetch(tasks[0])]
        else:
            with ThreadPoolExecutor(
                max_workers=min(self._max_concurrency, len(tasks)), thread_name_prefix="graph-getSchedule"
            ) as pool:
                # Each call runs in a copy of this context: its span and logs stay in the request's trace.
                futures = [pool.submit(contextvars.copy_context().run, fetch, task) for task in tasks]
                answers = [future.result() for future in futures]

        merged: dict[str, _Merged] = {email: _Merged() for email in emails}
        for answer in answers:
            for email, info in answer.items():
                try:
                    merged[email].add(info)
                except ValueError as exc:
                    raise UpstreamUnavailable(
                        _SERVICE, f"Graph sent an unreadable schedule item: {exc}"
                    ) from exc
        result: dict[str, HostFreeBusy] = {}
        for email, host_ids in hosts_by_email.items():
            free_busy = merged[email].result()
            for host_id in host_ids:
                result[host_id] = free_busy
        return result

    def _get_schedule_chunk(
        self, requester: str, emails: list[str], window: Interval, deadline: float
    ) -> dict[str, ScheduleInformationWire]:
        body = GetScheduleRequest(
            schedules=emails,
            start_time=DateTimeTimeZone.utc(window.start),
            end_time=DateTimeTimeZone.utc(window.end),
            availability_view_interval=AVAILABILITY_VIEW_INTERVAL_MINUTES,
        )
        response = self._send(
            "POST",
            f"/users/{quote(requester, safe='@')}/calendar/getSchedule",
            json=body.to_wire(),
            params=None,
            headers=None,
            deadline=deadline,
        )
        try:
            # From the bytes into typed dicts in one pass (pydantic-core): no Python JSON tree, no models.
            infos = GET_SCHEDULE_ANSWER.validate_json(response.content).get("value", [])
        except ValidationError as exc:
            raise UpstreamUnavailable(
                _SERVICE, f"Graph sent an unreadable getSchedule response: {exc}"
            ) from exc
        wanted = set(emails)
        answers: dict[str, ScheduleInformationWire] = {}
        for position, info in enumerate(infos):
            key = (info.get("scheduleId") or "").strip().lower()
            if key not in wanted and position < len(emails):
                key = emails[position]  # Graph answers in request order
            if key in wanted:
                answers[key] = info
        return answers

    # -- transport ---------------------------------------------------------------------------------

    def send_mail(self, sender: str, request: Mapping[str, Any]) -> None:
        """`POST /users/{sender}/sendMail` (202, no body). Sent at most once: a timeout or gateway error
        raises `OutcomeUnknown` instead of sending again; 429/503 are retried (Graph did not take it)."""
        self._send(
            "POST",
            f"/users/{quote(sender, safe='@')}/sendMail",
            json=dict(request),
            params=None,
            headers=None,
            deadline=None,
            repeatable=False,
        )

    def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Send one Graph request (relative to `base_url`) with retries; the parsed JSON body, or None.

        Sends `Prefer: outlook.timezone="UTC"` unless `headers` names another preference.
        """
        response = self._send(method, path, json=json, params=params, headers=headers, deadline=deadline)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamUnavailable(_SERVICE, f"Graph sent a non-JSON answer to {method} {path}") from exc

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        deadline: float | None,
        repeatable: bool = True,
    ) -> httpx.Response:
        request_headers = {"Prefer": 'outlook.timezone="UTC"', "client-request-id": str(uuid.uuid4())}
        request_headers.update(headers or {})
        label = f"{method} {path}"
        response = self._retrying.send(
            method,
            path.lstrip("/"),
            label=label,
            json=json,
            params=params,
            headers=request_headers,
            deadline=deadline,
            repeatable=repeatable,
        )
        if response.status_code >= 400:
            raise _rejection(response, label)
        return response


class ScheduleSource(Protocol):
    """What `CachedBusyTimes` needs of its upstream (`GraphClient` is one)."""

    def get_schedule(self, mailboxes: Sequence[Mailbox], window: Interval) -> Mapping[str, HostFreeBusy]: ...


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    email: str
    covered: Interval
    items: tuple[BusyItem, ...]  # sorted by start
    fetched_at: datetime
    starts: tuple[int, ...]  # the items' starts (microseconds since 1970), for bisect
    longest: int | None  # no item is longer (microseconds; None: some item is empty): how far before a
    # window an overlapping item can start

    @classmethod
    def of(
        cls, email: str, covered: Interval, items: Sequence[BusyItem], fetched_at: datetime
    ) -> _CacheEntry:
        ordered = tuple(sorted(items, key=lambda item: item.start_us))  # Graph's answer is sorted already
        lengths = [item.end_us - item.start_us for item in ordered]
        longest = None if any(length <= 0 for length in lengths) else max(lengths, default=None)
        return cls(email, covered, ordered, fetched_at, tuple(item.start_us for item in ordered), longest)

    def overlapping(self, window: Interval) -> tuple[BusyItem, ...]:
        """`_overlapping(self.items, window)` by bisection: a warm `GET /slots` asks this per host, and
        testing every cached item costs more than the slot computation."""
        if self.longest is None:
            return _overlapping(self.items, window)
        low, high = epoch_microseconds(window.start), epoch_microseconds(window.end)
        first = bisect_left(self.starts, low - self.longest)  # earlier items end before window
        inside = bisect_left(self.starts, low, first)  # from here on, items start in the window
        stop = bisect_left(self.starts, high, inside)
        items = self.items
        straddling = tuple(item for item in items[first:inside] if low < item.end_us)
        return straddling + items[inside:stop] if straddling else items[inside:stop]


class CachedBusyTimes:
    """A `BusyTimeSource` over Graph that remembers each host's items for a short TTL.

    A request whose window lies inside a host's cached window (fetched less than
    `ttl_seconds` ago) is answered from the cache; all other hosts are fetched
    in one batched `get_schedule` call over the window rounded out to whole UTC
    days, so neighbouring requests hit. Thread-safe.
    """

    def __init__(
        self,
        source: ScheduleSource,
        *,
        ttl_seconds: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self._source = source
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._entries: dict[str, _CacheEntry] = {}
        self._generations: dict[str, int] = {}
        self._epoch = 0

    def free_busy(
        self, mailboxes: Sequence[Mailbox], window: Interval, *, fresh: bool = False
    ) -> dict[str, HostFreeBusy]:
        now = self._clock.now()
        result: dict[str, HostFreeBusy] = {}
        missing: list[Mailbox] = []
        with self._lock:
            epoch = self._epoch
            generations = {
                mailbox.host_id: self._generations.get(mailbox.host_id, 0) for mailbox in mailboxes
            }
            for mailbox in mailboxes:
                entry = None if fresh else self._entries.get(mailbox.host_id)
                if (
                    entry is not None
                    and entry.email == mailbox.email.strip().lower()
                    and now - entry.fetched_at < self._ttl
                    and entry.covered.contains(window)
                ):
                    result[mailbox.host_id] = HostFreeBusy(items=entry.overlapping(window))
                else:
                    missing.append(mailbox)
        if not missing:
            return result

        covering = _whole_utc_days(window)
        fetched = self._source.get_schedule(missing, covering)
        with self._lock:
            for mailbox in missing:
                free_busy = fetched.get(mailbox.host_id)
                if free_busy is None:
                    free_busy = HostFreeBusy(error="Graph returned no schedule for this mailbox")
                if free_busy.error is not None:
                    self._entries.pop(mailbox.host_id, None)
                elif epoch == self._epoch and generations[mailbox.host_id] == self._generations.get(
                    mailbox.host_id, 0
                ):
                    self._entries[mailbox.host_id] = _CacheEntry.of(
                        mailbox.email.strip().lower(), covering, free_busy.items, now
                    )
                result[mailbox.host_id] = HostFreeBusy(
                    items=_overlapping(free_busy.items, window), error=free_busy.error
                )
            self._drop_expired(now)
        return result

    def invalidate(self, host_id: str) -> None:
        """Forget one host's items (its calendar changed); a fetch in flight for it is not cached."""
        with self._lock:
            self._entries.pop(host_id, None)
            self._generations[host_id] = self._generations.get(host_id, 0) + 1

    def invalidate_all(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generations.clear()
            self._epoch += 1

    def _drop_expired(self, now: datetime) -> None:
        expired = [host for host, entry in self._entries.items() if now - entry.fetched_at >= self._ttl]
        for host in expired:
            del self._entries[host]


class _Merged:
    """One schedule's answers across window pieces: items de-duplicated, any error wins."""

    def __init__(self) -> None:
        self.items: list[BusyItem] = []
        self.error: str | None = None
        self.answered = False

    def add(self, info: ScheduleInformationWire) -> None:
        self.answered = True
        error = info.get("error")
        if error is not None:
            self.error = self.error or describe_free_busy_error(error)
            return
        # Bounds straight to integer microseconds (`BusyItem`'s form): no datetime per stamp.
        self.items += busy_items_of_microseconds(schedule_item_bounds(info.get("scheduleItems") or ()))

    def result(self) -> HostFreeBusy:
        if self.error is not None:
            return HostFreeBusy(error=self.error)
        if not self.answered:
            return HostFreeBusy(error="Graph returned no schedule for this mailbox")
        # Sorted by (start, end, status) and equal neighbours dropped (an item straddling two window
        # pieces comes twice), all in C: a cold pool has ~10^4 items. Graph's answer is usually sorted
        # already, which one pass over the keys shows.
        keys = list(map(_SORT_KEY, self.items))
        if all(map(lt, keys, islice(keys, 1, None))):
            return HostFreeBusy(items=tuple(self.items))
        ordered = sorted(self.items, key=_SORT_KEY)
        keys = list(map(_SORT_KEY, ordered))
        fresh = [True, *map(ne, islice(keys, 1, None), keys)]
        return HostFreeBusy(items=tuple(compress(ordered, fresh)))


_SORT_KEY = attrgetter("start_us", "end_us", "show_as")


def free_busy_of(answers: Iterable[ScheduleInformationWire]) -> HostFreeBusy:
    """One schedule's free/busy from its getSchedule answers (one per window piece), as `get_schedule`
    merges them; `bench/slots.py` times it with the slot computation."""
    merged = _Merged()
    for info in answers:
        merged.add(info)
    return merged.result()


def _window_pieces(window: Interval) -> Iterator[Interval]:
    start = window.start.astimezone(UTC)
    end = window.end.astimezone(UTC)
    while start < end:
        piece_end = min(end, start + SCHEDULE_WINDOW_PIECE)
        yield Interval(start, piece_end)
        start = piece_end


def _whole_utc_days(window: Interval) -> Interval:
    start = window.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end_utc = window.end.astimezone(UTC)
    end = end_utc.replace(hour=0, minute=0, second=0, microsecond=0)
    if end < end_utc:
        end += timedelta(days=1)
    return Interval(start, end)


def _overlapping(items: Sequence[BusyItem], window: Interval) -> tuple[BusyItem, ...]:
    low, high = epoch_microseconds(window.start), epoch_microseconds(window.end)
    return tuple(item for item in items if item.start_us < high and low < item.end_us)


def _error_code(response: httpx.Response) -> str | None:
    try:
        detail = GraphError.model_validate(response.json()).error
    except (ValueError, ValidationError):
        return None
    return detail.code if detail else None


def _rejection(response: httpx.Response, label: str) -> GraphRequestRejected | UpstreamUnavailable:
    code: str | None = None
    message: str | None = None
    try:
        detail = GraphError.model_validate(response.json()).error
    except (ValueError, ValidationError):
        detail = None
    if detail is not None:
        code, message = detail.code, detail.message
    if response.status_code >= 500:
        return UpstreamUnavailable(
            _SERVICE, f"Graph failed {label}: HTTP {response.status_code} {code or ''}".strip()
        )
    return GraphRequestRejected(status_code=response.status_code, code=code, message=message, request=label)
