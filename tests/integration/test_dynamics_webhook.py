"""POST /dynamics/webhook: Dynamics changes to a booking's appointment, applied to the booking.

End to end: the Dataverse simulator posts a `RemoteExecutionContext` to the local host (served over
HTTP on a free port) when a Dynamics user changes the appointment; the other tests post contexts
built the same way straight to the function. The webhook only stores the context (`dynamics-changes`)
and answers 202; tests wait for the local queue to drain, then look at the booking.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.dataverse_sim.app import SIMULATED_CALLER
from devstack.dataverse_sim.webhooks import execution_context
from devstack.localhost import create_app
from devstack.serving import RunningServer, serve_in_thread
from scheduling_core.domain.bookings import appointment_id
from tests.fixtures.dataverse import DataverseSim

from .scenario import new_event_type
from .test_dataverse_sync import AT_10, World

SECRET = "test-webhook-secret"
HEADER = "x-scheduling-webhook-key"
APP_USER = SIMULATED_CALLER["UserId"]  # the simulator's token user: our application user
DYNAMICS_USER = "0a0a0a0a-1111-4222-8333-444444444444"


@pytest.fixture
def app_env(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    extra = {"DYNAMICS_WEBHOOK_SECRET": SECRET, "DYNAMICS_APPLICATION_USER_ID": APP_USER}
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return {**app_env, **extra}


@pytest.fixture
def world(app: Any, graph_sim: Any, dataverse: DataverseSim) -> World:
    return World(app, graph_sim, dataverse)


@pytest.fixture
def local_host(app: Any) -> Iterator[RunningServer]:
    server = serve_in_thread(create_app(app._router))
    yield server
    server.stop()


def _context(
    booking_id: str,
    message: str = "Update",
    *,
    target: dict[str, Any] | None = None,
    caller: str = DYNAMICS_USER,
    depth: int = 1,
) -> dict[str, Any]:
    ctx = execution_context(
        message=message,
        logical_name="appointment",
        record_id=appointment_id(booking_id),
        caller_id=caller,
        target=target,
        pre_image=None,
        post_image=target,
    )
    ctx["Depth"] = depth
    return ctx


def _post(world: World, body: Any, secret: str | None = SECRET, **headers: str) -> Any:
    all_headers = dict(headers)
    if secret is not None:
        all_headers[HEADER] = secret
    if isinstance(body, bytes):  # sent as Dynamics sends it: declared JSON
        all_headers.setdefault("Content-Type", "application/json")
        return world.app.post("/dynamics/webhook", body=body, headers=all_headers, key=None)
    return world.app.post("/dynamics/webhook", json_body=body, headers=all_headers, key=None)


def _drain(world: World) -> None:
    """Wait until every stored context has been applied (or dead-lettered)."""
    queue = world.app._router.dynamics_changes
    assert queue.drain(timeout=30), "dynamics-changes did not drain"
    assert queue.dead_letters == ()


def _apply(world: World, body: Any, **headers: str) -> None:
    """Post a context to the webhook (stored, 202 at once) and wait until it has been applied."""
    r = _post(world, body, **headers)
    assert r.status == 202, r.body
    assert r.json()["outcome"] == "queued"
    _drain(world)


def _register(
    dataverse: DataverseSim,
    url: str,
    secret: str = SECRET,
    messages: tuple[str, ...] = ("Update", "Delete"),
    post_images: tuple[str, ...] = ("AsynchronousStepPrimaryName", "PostImage"),
) -> None:
    r = dataverse.http.post(
        f"{dataverse.url}/_sim/webhooks",
        json={
            "url": url,
            "headers": {HEADER: secret},
            "entities": ["appointment"],
            "messages": list(messages),
            "postImages": list(post_images),
        },
    )
    assert r.status_code == 201, r.text


def _settled_deliveries(dataverse: DataverseSim, timeout: float = 15) -> list[dict[str, Any]]:
    """Every delivery, once the simulator has no post in flight (its posts, and theirs, all answered)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = dataverse.http.get(f"{dataverse.url}/_sim/webhooks/deliveries").json()
        if answer["inFlight"] == 0:
            found: list[dict[str, Any]] = answer["value"]
            return found
        assert time.monotonic() < deadline, "webhook deliveries did not settle"
        time.sleep(0.05)


def _deliveries(dataverse: DataverseSim, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found: list[dict[str, Any]] = dataverse.http.get(f"{dataverse.url}/_sim/webhooks/deliveries").json()[
            "value"
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# --- end to end through the simulator's webhook --------------------------------------------------------


def test_a_dynamics_user_canceling_the_appointment_cancels_the_booking(
    world: World, local_host: RunningServer
) -> None:
    b = world.book()
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook")
    r = world.dataverse.call(
        "PATCH",
        f"appointments({appointment_id(b['id'])})",
        json={"statecode": 2, "statuscode": 4},
        headers={"MSCRMCallerID": DYNAMICS_USER, "If-Match": "*"},
    )
    assert r.status_code == 204, r.text
    # The user's change only: the sync does not write a canceled (closed) appointment again.
    deliveries = _settled_deliveries(world.dataverse)
    assert [d["status"] for d in deliveries] == [202], deliveries
    assert '"queued"' in deliveries[0]["body"]
    _drain(world)
    booking = world.booking(b["id"])
    assert booking["status"] == "cancelled"
    assert booking["cancellation"]["source"] == "dynamics"
    assert booking["version"] == 2
    assert world.appointment(b["id"])["statecode"] == 2


def test_a_change_whose_processing_fails_is_stored_and_applied_by_our_own_retries(
    world: World, local_host: RunningServer
) -> None:
    b = world.book()
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook")
    activity = appointment_id(b["id"])
    # A long description takes the context past 256 KB: Dynamics strips it, so applying the change reads
    # the appointment back, and those reads fail twice (Dynamics itself would try a 503 only once more).
    world.dataverse.add_fault(500, count=2, path_contains=activity, method="GET")
    r = world.dataverse.call(
        "PATCH",
        f"appointments({activity})",
        json={"description": "notes " * 50_000, "statecode": 2, "statuscode": 4},
        headers={"MSCRMCallerID": DYNAMICS_USER, "If-Match": "*"},
    )
    assert r.status_code == 204, r.text
    deliveries = _settled_deliveries(world.dataverse)
    assert [(d["status"], d["attempts"], d.get("sizeExceeded")) for d in deliveries] == [(202, 1, True)]
    _drain(world)
    booking = world.booking(b["id"])
    assert (booking["status"], booking["cancellation"]["source"]) == ("cancelled", "dynamics")


def test_the_webhook_answers_503_when_the_change_cannot_be_stored(world: World) -> None:
    from scheduling_core.adapters.inprocess_bus import LOCAL_NAMESPACE

    b = world.book()
    LOCAL_NAMESPACE.listen_queue("dynamics-changes", None)  # the queue is unreachable
    try:
        r = _post(world, _context(b["id"], target={"statecode": 2, "statuscode": 4}))
    finally:
        LOCAL_NAMESPACE.listen_queue("dynamics-changes", world.app._router.dynamics_changes)
    assert r.status == 503, r.body  # the one kind of failure Dynamics tries again
    assert world.booking(b["id"])["status"] == "confirmed"


@pytest.mark.parametrize(
    ("policy", "booking_start", "appointment_start"),
    [
        ("flag", "2026-12-07T09:00:00-06:00", "2026-12-07T16:00:00Z"),
        ("accept", "2026-12-07T10:00:00-06:00", "2026-12-07T16:00:00Z"),
        ("revert", "2026-12-07T09:00:00-06:00", "2026-12-07T15:00:00Z"),
    ],
)
def test_a_move_made_in_dynamics_follows_the_event_types_edit_policy(
    world: World, local_host: RunningServer, policy: str, booking_start: str, appointment_start: str
) -> None:
    _policy(world, policy)
    b = world.book()
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook")
    r = world.dataverse.call(
        "PATCH",
        f"appointments({appointment_id(b['id'])})",
        json={"scheduledstart": "2026-12-07T16:00:00Z", "scheduledend": "2026-12-07T16:30:00Z"},
        headers={"MSCRMCallerID": DYNAMICS_USER, "If-Match": "*"},
    )
    assert r.status_code == 204, r.text
    _settled_deliveries(world.dataverse)
    _drain(world)
    _settled_deliveries(world.dataverse)  # the write-backs' own posts (ignored: our user)
    _drain(world)
    booking = world.booking(b["id"])
    assert (booking["status"], booking["start"]) == ("confirmed", booking_start)
    assert world.appointment(b["id"])["scheduledstart"] == appointment_start
    from bootstrap.composition import services

    drift = services().bookings.get(b["id"]).dynamics.to_json().get("drift")
    assert (drift or {}).get("scheduledstart") == ("2026-12-07T16:00:00+00:00" if policy == "flag" else None)


@pytest.mark.parametrize(
    "post_images",
    [("AsynchronousStepPrimaryName", "PostImage"), ("PostImage", "AsynchronousStepPrimaryName")],
)
def test_the_post_image_is_taken_by_its_name_whatever_its_position(
    world: World, local_host: RunningServer, post_images: tuple[str, ...]
) -> None:
    b = world.book()
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook", post_images=post_images)
    # A person sets the status reason only: the Target holds statuscode, the PostImage the derived state.
    r = world.dataverse.call(
        "PATCH",
        f"appointments({appointment_id(b['id'])})",
        json={"statuscode": 4},
        headers={"MSCRMCallerID": DYNAMICS_USER, "If-Match": "*"},
    )
    assert r.status_code == 204, r.text
    assert [d["status"] for d in _settled_deliveries(world.dataverse)] == [202]
    _drain(world)
    booking = world.booking(b["id"])
    assert (booking["status"], booking["cancellation"]["source"]) == ("cancelled", "dynamics")


def test_the_services_own_writes_do_not_loop(world: World, local_host: RunningServer) -> None:
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook")
    b = world.book()
    assert world.app.post(f"/bookings/{b['id']}/reschedule", json_body={"start": AT_10}).status == 200
    deliveries = _settled_deliveries(world.dataverse)
    assert len(deliveries) >= 2 and all(d["status"] == 202 for d in deliveries), deliveries
    _drain(world)
    assert world.booking(b["id"])["version"] == 2
    assert world.booking(b["id"])["status"] == "confirmed"


def test_a_dynamics_user_deleting_the_appointment_cancels_the_booking(
    world: World, local_host: RunningServer
) -> None:
    b = world.book()
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook", messages=("Delete",))
    r = world.dataverse.call(
        "DELETE", f"appointments({appointment_id(b['id'])})", headers={"MSCRMCallerID": DYNAMICS_USER}
    )
    assert r.status_code == 204, r.text
    deliveries = _settled_deliveries(world.dataverse)
    assert [d["status"] for d in deliveries] == [202], deliveries
    _drain(world)
    booking = world.booking(b["id"])
    assert booking["status"] == "cancelled" and booking["cancellation"]["source"] == "dynamics"


def test_the_simulator_refuses_a_bad_webhook_registration(dataverse: DataverseSim) -> None:
    for body in (
        {"url": "ftp://x"},
        {"url": "http://x", "headers": []},
        {"url": "http://x", "messages": "Update"},
    ):
        r = dataverse.http.post(f"{dataverse.url}/_sim/webhooks", json=body)
        assert r.status_code == 400, (body, r.text)
    assert dataverse.http.get(f"{dataverse.url}/_sim/webhooks").json() == {"value": []}


def test_a_wrong_secret_is_refused_by_the_webhook_and_nothing_changes(
    world: World, local_host: RunningServer
) -> None:
    b = world.book()
    _register(world.dataverse, f"{local_host.url}/api/dynamics/webhook", secret="not-the-secret")
    world.dataverse.call(
        "PATCH",
        f"appointments({appointment_id(b['id'])})",
        json={"statecode": 2, "statuscode": 4},
        headers={"MSCRMCallerID": DYNAMICS_USER},
    )
    assert [d["status"] for d in _deliveries(world.dataverse, 1)] == [401]
    assert world.booking(b["id"])["status"] == "confirmed"


# --- the function, called directly ----------------------------------------------------------------------


def test_wrong_or_missing_secret_is_401_problem_and_nothing_changes(world: World) -> None:
    b = world.book()
    cancel = _context(b["id"], target={"statecode": 2, "statuscode": 4})
    for secret in (None, "wrong", ""):
        r = _post(world, cancel, secret=secret)
        assert r.status == 401, r.body
        assert r.content_type.startswith("application/problem+json")
    assert world.booking(b["id"])["status"] == "confirmed"


def test_malformed_payload_is_400_problem(world: World) -> None:
    for body in (b"{not json", [1, 2], {"MessageName": "Update"}, {**_context("bk_x"), "InputParameters": 7}):
        r = _post(world, body)
        assert r.status == 400, (body, r.body)
        assert r.content_type.startswith("application/problem+json")


def _policy(world: World, policy: str) -> None:
    """Book with an event type whose edit policy is `policy` from here on."""
    world.slug = new_event_type(world.app, [world.host], title="Discovery call", outlookEditPolicy=policy)


def test_the_same_operation_twice_is_processed_once(world: World) -> None:
    _policy(world, "accept")
    b = world.book()
    moved = _context(
        b["id"], target={"scheduledstart": "2026-12-07T16:00:00Z", "scheduledend": "2026-12-07T16:30:00Z"}
    )
    _apply(world, moved)
    assert world.booking(b["id"])["version"] == 2
    _apply(world, moved)  # Dynamics' retry of the same operation
    assert world.booking(b["id"])["version"] == 2


def test_depth_above_one_and_our_app_user_are_ignored(world: World) -> None:
    b = world.book()
    target = {"statecode": 2, "statuscode": 4}
    _apply(world, _context(b["id"], target=target, depth=2))
    _apply(world, _context(b["id"], target=target, caller=APP_USER))
    assert (world.booking(b["id"])["status"], world.booking(b["id"])["version"]) == ("confirmed", 1)


def test_a_post_image_equal_to_the_booking_is_a_no_op(world: World) -> None:
    b = world.book()
    same = {"statecode": 3, "scheduledstart": "2026-12-07T15:00:00Z", "scheduledend": "2026-12-07T15:30:00Z"}
    _apply(world, _context(b["id"], target=same))
    assert world.booking(b["id"])["version"] == 1


def test_delete_cancels_the_booking(world: World) -> None:
    b = world.book()
    _apply(world, _context(b["id"], "Delete"))
    booking = world.booking(b["id"])
    assert booking["status"] == "cancelled" and booking["cancellation"]["source"] == "dynamics"


def test_times_moved_to_a_free_slot_reschedule_the_booking_under_policy_accept(world: World) -> None:
    _policy(world, "accept")
    b = world.book()
    _apply(
        world,
        _context(
            b["id"], target={"scheduledstart": "2026-12-07T16:00:00Z", "scheduledend": "2026-12-07T16:30:00Z"}
        ),
    )
    booking = world.booking(b["id"])
    assert booking["start"].startswith("2026-12-07T10:00:00") and booking["version"] == 2
    assert world.appointment(b["id"])["scheduledstart"] == "2026-12-07T16:00:00Z"


def test_times_moved_to_a_busy_slot_record_the_drift_under_policy_accept(world: World) -> None:
    _policy(world, "accept")
    b = world.book()
    other = world.book(AT_10)
    _apply(
        world,
        _context(
            b["id"], target={"scheduledstart": "2026-12-07T16:00:00Z", "scheduledend": "2026-12-07T16:30:00Z"}
        ),
    )
    booking = world.booking(b["id"])
    assert booking["version"] == 1 and booking["start"] == b["start"]
    from bootstrap.composition import services

    drift = services().bookings.get(b["id"]).dynamics.to_json()["drift"]
    assert drift["scheduledstart"].startswith("2026-12-07T16:00:00")
    assert world.booking(other["id"])["status"] == "confirmed"


def test_only_the_end_moved_records_the_drift(world: World) -> None:
    b = world.book()
    longer = {"scheduledstart": "2026-12-07T15:00:00Z", "scheduledend": "2026-12-07T16:00:00Z"}
    _apply(world, _context(b["id"], target=longer))
    assert world.booking(b["id"])["version"] == 1
    from bootstrap.composition import services

    drift = services().bookings.get(b["id"]).dynamics.drift
    assert drift is not None and drift.to_json()["scheduledend"].startswith("2026-12-07T16:00")


def test_size_exceeded_reads_the_appointment_back(world: World) -> None:
    b = world.book()
    world.dataverse.call(
        "PATCH", f"appointments({appointment_id(b['id'])})", json={"statecode": 2, "statuscode": 4}
    )
    stripped = _context(b["id"])
    stripped["InputParameters"] = []
    stripped["PostEntityImages"] = []
    _apply(world, stripped, **{"x-ms-dynamics-msg-size-exceeded": "true"})
    assert world.booking(b["id"])["status"] == "cancelled"


def test_an_appointment_no_booking_made_is_ignored(world: World) -> None:
    ctx = _context("bk_unknown", target={"statecode": 2})
    ctx["PrimaryEntityId"] = str(uuid.uuid4())
    _apply(world, ctx)  # applied without error: nothing to change


def test_owner_assign_is_audited(world: World) -> None:
    from bootstrap.composition import services

    new_owner = str(uuid.uuid4())
    ctx = execution_context(
        message="Assign",
        logical_name="lead",
        record_id=world.lead,
        caller_id=DYNAMICS_USER,
        target=None,
        pre_image=None,
        post_image=None,
    )
    ctx["InputParameters"] = [
        {"key": "Target", "value": {"Id": world.lead, "LogicalName": "lead"}},
        {"key": "Assignee", "value": {"Id": new_owner, "LogicalName": "systemuser"}},
    ]
    _apply(world, ctx)
    rows = services().webhook_ledger.owner_changes("lead")
    assert [(r["recordId"], r["ownerId"], r["policy"]) for r in rows] == [
        (world.lead, new_owner, "keep-host")
    ]


def test_owner_update_is_audited_and_an_update_without_owner_is_ignored(world: World) -> None:
    from bootstrap.composition import services

    opportunity = str(uuid.uuid4())
    new_owner = str(uuid.uuid4())

    def update(target: dict[str, Any]) -> dict[str, Any]:
        return execution_context(
            message="Update",
            logical_name="opportunity",
            record_id=opportunity,
            caller_id=DYNAMICS_USER,
            target=target,
            pre_image=None,
            post_image=None,
        )

    _apply(world, update({"name": "renamed"}))
    assert services().webhook_ledger.owner_changes("opportunity") == []
    owner = {"ownerid": {"id": new_owner, "entity": "systemuser"}}
    _apply(world, update(owner))
    rows = services().webhook_ledger.owner_changes("opportunity")
    assert [(r["recordId"], r["ownerId"], r["message"]) for r in rows] == [(opportunity, new_owner, "Update")]
