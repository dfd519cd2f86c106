"""The shared retry loop of the Graph and Dataverse clients, over a mock transport and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from random import Random

import httpx
import pytest

from scheduling_core.adapters.credentials import StaticToken
from scheduling_core.adapters.http_retry import RetryingSender, parse_retry_after, whole_seconds
from scheduling_core.errors import OutcomeUnknown, Throttled, UpstreamUnavailable


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class _RefreshableToken:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated = 0

    def token(self) -> str:
        self.issued += 1
        return f"token-{self.issued}"

    def invalidate(self) -> None:
        self.invalidated += 1


def _sender(
    answer: Callable[[httpx.Request], httpx.Response],
    clock: _Clock,
    *,
    tokens: StaticToken | _RefreshableToken | None = None,
    max_retries: int = 3,
    refresh_on_401: bool = False,
) -> RetryingSender:
    http = httpx.Client(base_url="https://upstream.test/", transport=httpx.MockTransport(answer))
    return RetryingSender(
        http,
        tokens or StaticToken("t"),
        service="upstream",
        display_name="Upstream",
        error_code=lambda response: response.headers.get("x-code"),
        timeout_seconds=5.0,
        max_retries=max_retries,
        max_total_seconds=20.0,
        random=Random(7),
        sleep=clock.sleep,
        monotonic=lambda: clock.now,
        refresh_on_401=refresh_on_401,
    )


def test_retry_after_is_delta_seconds_or_an_http_date_and_timespans_only_when_asked() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("00:01:30") is None
    assert parse_retry_after("00:01:30", timespans=True) == 90.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert whole_seconds(0.2) == 1 and whole_seconds(2.1) == 3 and whole_seconds(None) is None


def test_throttling_is_retried_after_retry_after_then_the_answer_is_returned() -> None:
    clock = _Clock()
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={})])
    response = _sender(lambda request: next(answers), clock).send("GET", "x", label="GET /x")
    assert response.status_code == 200
    assert clock.slept == [2.0]


def test_a_refusal_that_is_not_retried_is_returned_to_the_caller() -> None:
    clock = _Clock()
    response = _sender(lambda request: httpx.Response(404), clock).send("GET", "x", label="GET /x")
    assert response.status_code == 404
    assert clock.slept == []


def test_giving_up_names_the_service_the_failure_and_a_whole_second_hint() -> None:
    clock = _Clock()
    sender = _sender(
        lambda request: httpx.Response(503, headers={"Retry-After": "0.5", "x-code": "Busy"}),
        clock,
        max_retries=2,
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        sender.send("GET", "x", label="GET /x")
    assert caught.value.service == "upstream"
    assert str(caught.value) == "Upstream still unavailable after 3 attempts (HTTP 503 Busy on GET /x)"
    assert caught.value.retry_after_seconds == 1
    assert clock.slept == [0.5, 0.5]


def test_a_retry_after_past_the_budget_is_throttled_at_once_and_exhausted_retries_are_not() -> None:
    clock = _Clock()
    sender = _sender(lambda request: httpx.Response(429, headers={"Retry-After": "45"}), clock)
    with pytest.raises(Throttled) as caught:
        sender.send("POST", "x", label="POST /x")
    assert caught.value.retry_after_seconds == 45
    assert str(caught.value) == "Upstream asked to wait 45.0 s, past our 20 s budget (HTTP 429 on POST /x)"
    assert clock.slept == []  # no point waiting a part of it

    short = _sender(
        lambda request: httpx.Response(429, headers={"Retry-After": "1"}), _Clock(), max_retries=1
    )
    with pytest.raises(UpstreamUnavailable) as exhausted:
        short.send("POST", "x", label="POST /x")
    assert not isinstance(exhausted.value, Throttled)


def test_backoff_without_retry_after_is_jittered_within_half_the_step() -> None:
    clock = _Clock()
    sender = _sender(lambda request: httpx.Response(502), clock, max_retries=4)
    with pytest.raises(UpstreamUnavailable):
        sender.send("GET", "x", label="GET /x")
    for attempt, slept in enumerate(clock.slept, start=1):
        step = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert step / 2 <= slept <= step


def test_a_first_401_refreshes_the_token_once_when_asked() -> None:
    clock = _Clock()
    tokens = _RefreshableToken()
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401)

    response = _sender(answer, clock, tokens=tokens, refresh_on_401=True).send("GET", "x", label="GET /x")
    assert response.status_code == 401
    assert tokens.invalidated == 1
    assert seen == ["Bearer token-1", "Bearer token-2"]

    seen.clear()
    plain = _RefreshableToken()
    assert _sender(answer, clock, tokens=plain).send("GET", "x", label="GET /x").status_code == 401
    assert plain.invalidated == 0 and len(seen) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), 502, 504],
    ids=["timeout", "dropped", "502", "504"],
)
def test_a_request_that_must_not_repeat_is_sent_once_when_its_outcome_is_unknown(failure: object) -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if isinstance(failure, Exception):
            raise failure
        assert isinstance(failure, int)
        return httpx.Response(failure)

    clock = _Clock()
    with pytest.raises(OutcomeUnknown):
        _sender(answer, clock).send("POST", "users/a/sendMail", label="POST sendMail", repeatable=False)
    assert len(calls) == 1 and clock.slept == []


def test_a_request_that_must_not_repeat_is_still_retried_after_429_and_503() -> None:
    statuses = iter([429, 503, 202])
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        calls.append(status)
        return httpx.Response(status, headers={"Retry-After": "1"})

    clock = _Clock()
    response = _sender(answer, clock).send("POST", "users/a/sendMail", label="x", repeatable=False)
    assert response.status_code == 202 and calls == [429, 503, 202] and clock.slept == [1.0, 1.0]
