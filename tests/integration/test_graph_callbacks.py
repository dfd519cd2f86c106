"""Graph's callbacks under load and abuse: what a notification batch costs, and the handshake echo.

Graph counts a notification answered after about 3 s as slow and throttles, then drops, a slow
endpoint's notifications, so validating a batch must cost a bounded number of storage reads. The
storage reads are counted exactly by a proxy in front of Azurite (`tests.fixtures.storage_proxy`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures import storage_proxy as _proxy
from tests.fixtures.storage_proxy import StorageProxy

from . import test_outlook_changes as _changes
from .test_outlook_changes import Live

pytestmark = pytest.mark.integration

# Fixtures shared with the modules that define them.
live = _changes.live
storage_proxy = _proxy.storage_proxy


def _subscribe_mailbox(client_state: str) -> tuple[str, str]:
    """A host's subscription row with a known client state, so the test can sign items (host, sub id)."""
    from bootstrap.composition import services
    from scheduling_core.ports import SubscriptionRecord
    from scheduling_core.services.outlook_subscriptions import hash_client_state

    host, subscription_id = str(uuid.uuid4()), str(uuid.uuid4())
    services().subscription_store.save(
        SubscriptionRecord(
            host_id=host,
            subscription_id=subscription_id,
            client_state_hash=hash_client_state(client_state),
            expires_at=None,
            status="active",
        ),
        expected_etag=None,
        create=True,
    )
    return host, subscription_id


def _item(subscription_id: str, client_state: str, host: str, n: int, padding: str = "") -> dict[str, Any]:
    return {
        "subscriptionId": subscription_id,
        "clientState": client_state,
        "changeType": "updated",
        "resource": f"Users/{host}/Events/ev{n}{padding}",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": f"ev{n}"},
        "tenantId": str(uuid.uuid4()),
    }


def _post(live: Live, items: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{live.url}/api/graph/notifications", json={"value": items}, timeout=30)


def test_the_validation_echo_is_plain_text_never_sniffed(live: Live) -> None:
    token = "<html><script>alert(1)</script></html>"
    r = httpx.post(f"{live.url}/api/graph/notifications", params={"validationToken": token})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.text == token


def test_a_1000_item_batch_is_answered_202_after_one_storage_read(
    storage_proxy: StorageProxy,
    live: Live,
) -> None:
    ana, ana_sub = _subscribe_mailbox("ana-state")
    ben, ben_sub = _subscribe_mailbox("ben-state")
    items = [
        _item(ana_sub, "ana-state", ana, n)
        if n % 2
        else _item(ben_sub, "ben-state" if n % 10 else "x", ben, n)
        for n in range(1000)
    ]
    storage_proxy.clear()
    started = time.monotonic()
    r = _post(live, items)
    elapsed = time.monotonic() - started
    assert r.status_code == 202 and r.json() == {"accepted": 900, "rejected": 100}
    # Both subscriptions come from one partition query: never a read per item or per subscription.
    assert len(storage_proxy.reads("graphsubs")) == 1
    # Graph's bound is ~3 s (1 s is the local target; this shared test machine gets Graph's margin).
    assert elapsed < 3, f"answered in {elapsed:.2f} s"
    storage_proxy.clear()
    again = _post(live, items[:10])
    assert again.json() == {"accepted": 9, "rejected": 1}
    assert storage_proxy.reads("graphsubs") == []  # cached
    assert live.router.graph_changes.drain(timeout=120)


def test_a_14_mb_body_of_made_up_subscriptions_costs_a_handful_of_storage_reads(
    storage_proxy: StorageProxy,
    live: Live,
) -> None:
    padding = "p" * 1150
    items = [_item(str(uuid.uuid4()), "guess", "someone", n, padding) for n in range(1000)]
    body_size = len(httpx.Request("POST", "http://x", json={"value": items}).content)
    assert 1_400_000 <= body_size < 2 * 1024 * 1024
    storage_proxy.clear()
    r = _post(live, items)
    assert r.status_code == 202 and r.json() == {"accepted": 0, "rejected": 1000}
    assert len(storage_proxy.reads("graphsubs")) <= 3  # one index read, at most two single-row reads
    storage_proxy.clear()
    r = _post(live, [_item(str(uuid.uuid4()), "guess", "someone", n, padding) for n in range(1000)])
    assert r.json() == {"accepted": 0, "rejected": 1000}
    assert len(storage_proxy.reads("graphsubs")) <= 2


def test_a_subscription_id_that_is_not_a_guid_is_rejected_before_any_storage_read(
    storage_proxy: StorageProxy,
    live: Live,
) -> None:
    items = [
        _item(subscription_id, "x", "someone", n)
        for n, subscription_id in enumerate(["sub-1", "../graphsubs", "' or 1 eq 1", "", "x" * 5000])
    ]
    storage_proxy.clear()
    r = _post(live, items)
    assert r.status_code == 202 and r.json() == {"accepted": 0, "rejected": 5}
    assert storage_proxy.reads("graphsubs") == []


def test_more_items_than_a_request_may_carry_are_refused_before_any_storage_read(
    storage_proxy: StorageProxy,
    live: Live,
) -> None:
    items = [_item(str(uuid.uuid4()), "x", "someone", n) for n in range(1001)]
    storage_proxy.clear()
    r = _post(live, items)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert storage_proxy.reads("graphsubs") == []
