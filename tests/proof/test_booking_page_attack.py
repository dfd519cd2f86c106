"""Issue 13's attack on the public booking page, replayed against a running local host over real HTTP.

One client (the socket peer 127.0.0.1) loops for 30 s: read the page's free times, hold every one of
them, as fast as the host answers. Another visitor (peer 127.0.0.2: Linux routes all of 127/8 to
loopback, so the host sees a second address) watches the same page meanwhile. Before issue 13 the
attacker held every free time within a second; now its holds are capped per client and per event type,
and its requests per minute, so the visitor never sees fewer than 80% of the times there were, the
attacker gets 429s, and after the loop the visitor holds and books a time as usual.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.proof.conftest import StackFactory
from tests.proof.tenant import HOSTS, seed

ATTACK_SECONDS = 30.0
SLUG = "open-call"


def _client(stack: Any, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"{stack.api}/book/{SLUG}", transport=transport, timeout=30)


def _window() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": str(today), "end": str(today + timedelta(days=2)), "timeZone": "UTC"}


def _free_times(client: httpx.Client) -> list[str]:
    response = client.get("/slots", params=_window())
    assert response.status_code == 200, response.text
    return [slot["start"] for slot in response.json()["slots"]]


@pytest.mark.proof
def test_one_client_looping_on_holds_cannot_close_the_calendar(
    proof_stack: StackFactory, report: Callable[[str], None]
) -> None:
    stack = proof_stack()
    seed(stack)
    # One host free around the clock, the next day bookable: 48 half-hour times, all public.
    body = {
        "title": "Open call",
        "durationMinutes": 30,
        "assignment": "single",
        "hostIds": [HOSTS[0]],
        "bookingWindowDays": 1,
        "public": True,
    }
    assert stack.admin("PUT", f"/admin/event-types/{SLUG}", json=body).status_code == 201

    with _client(stack, "127.0.0.1") as attacker, _client(stack, "127.0.0.2") as visitor:
        baseline = len(_free_times(visitor))
        assert baseline >= 40, baseline
        answers: Counter[str] = Counter()
        seen: list[int] = []
        targets: list[str] = _free_times(visitor)
        deadline = time.monotonic() + ATTACK_SECONDS
        next_look = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() >= next_look:  # the other visitor looks every 2 s
                seen.append(len(_free_times(visitor)))
                next_look = time.monotonic() + 2
            lookup = attacker.get("/slots", params=_window())  # a lookup counts against the rate too
            answers[f"slots {lookup.status_code}"] += 1
            if lookup.status_code == 200:
                targets = [slot["start"] for slot in lookup.json()["slots"]] or targets
            for start in targets:
                hold = attacker.post("/holds", json={"start": start, "timeZone": "UTC"})
                code = hold.json().get("code", "") if hold.status_code != 201 else ""
                answers[f"hold {hold.status_code} {code}".strip()] += 1
                if hold.status_code == 429:
                    assert int(hold.headers["Retry-After"]) >= 1
                if time.monotonic() >= deadline or time.monotonic() >= next_look:
                    break
        after = _free_times(visitor)
        seen.append(len(after))

        report(
            f"booking-page attack: {ATTACK_SECONDS:.0f}s, baseline {baseline} free times, "
            f"fewest seen by another visitor {min(seen)}, attacker answers {dict(answers)}"
        )
        assert min(seen) >= 0.8 * baseline, (seen, baseline)
        assert answers["hold 201"] <= 2
        assert answers["hold 429 too-many-holds"] >= 1
        assert answers["hold 429 rate-limited"] + answers["slots 429"] >= 1

        # After the loop a normal visitor books as the page does: hold, then book with a key.
        hold = visitor.post("/holds", json={"start": after[0], "timeZone": "UTC"})
        assert hold.status_code == 201, hold.text
        booking = visitor.post(
            "/bookings",
            json={
                "start": after[0],
                "timeZone": "UTC",
                "holdId": hold.json()["id"],
                "invitee": {"name": "Vera Visitor", "email": "vera@fabrikam.com"},
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert booking.status_code == 201, booking.text
        assert booking.json()["status"] == "confirmed"
