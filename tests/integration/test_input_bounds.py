"""Input bounds (issue 13): ids that reach storage keys, dates far away, content types, JSON depth."""

from __future__ import annotations

from typing import Any

import pytest

from .scenario import AT_9
from .scenario import book as _book
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host
from .scenario import partition_rows as _partition_rows


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return _host(app, graph_sim)


@pytest.fixture(autouse=True)
def _webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMICS_WEBHOOK_SECRET", "limits-secret")


@pytest.mark.parametrize("record_id", ["lead/7", "lead\\7", "lead#7", "lead?7", "lead%2F7"])
def test_a_record_id_with_key_breaking_characters_books_once_and_is_indexed(
    app: Any, host: str, record_id: str
) -> None:
    from bootstrap.composition import services

    slug = _event_type(app, [host])
    first = _book(app, slug, AT_9, record_id=record_id, headers={"Idempotency-Key": "flow-run-1"})
    assert first.status == 201, first.body
    retry = _book(app, slug, AT_9, record_id=record_id, headers={"Idempotency-Key": "flow-run-1"})
    assert (retry.status, retry.json()["id"]) == (201, first.json()["id"])
    assert len(_partition_rows(app, host, "b|")) == 1
    listed = app.get("/bookings", params={"recordId": record_id}).json()["items"]
    assert [b["id"] for b in listed] == [first.json()["id"]]
    appointment = first.json()["dynamics"]["appointmentId"]
    assert services().booking_store.booking_for_appointment(appointment) == first.json()["id"]


@pytest.mark.parametrize("record_id", ["lead\x017", "x" * 101, 42])
def test_a_record_id_that_is_not_short_text_is_refused_and_nothing_is_stored(
    app: Any, host: str, record_id: Any
) -> None:
    slug = _event_type(app, [host])
    r = _book(app, slug, AT_9, record_id=record_id, headers={"Idempotency-Key": "flow-run-2"})
    assert (r.status, r.json()["code"]) == (422, "validation-failed"), r.body
    assert [e["field"] for e in r.json()["errors"]] == ["context.recordId"]
    assert _partition_rows(app, host, "b|") == [] and _partition_rows(app, host, "l|") == []
    held = app.post(
        "/holds", json_body={"eventType": slug, "start": AT_9, "context": {"recordId": record_id}}
    )
    assert (held.status, held.json()["code"]) == (422, "validation-failed")
    assert _partition_rows(app, host, "h|") == []


# --- item 5: the small generic controls ------------------------------------------------------------------


@pytest.mark.parametrize(
    "configured", ["", "   ", "@Microsoft.KeyVault(VaultName=kv;SecretName=admin-api-key)"]
)
def test_an_empty_or_unresolved_admin_key_closes_the_admin_api(
    app: Any, reconfigure: Any, configured: str
) -> None:
    reconfigure(ADMIN_API_KEY=configured)
    for key in (None, "", "anything", configured):
        r = app.get("/admin/hosts", key=key)
        assert (r.status, r.json()["code"]) == (403, "forbidden"), (key, r.body)


def test_an_empty_api_key_closes_the_keyed_api_and_only_an_absent_one_opens_it(
    app: Any, reconfigure: Any
) -> None:
    reconfigure(API_KEY="")
    assert app.get("/bookings", key=None).status == 403
    reconfigure(API_KEY=None)
    assert app.get("/bookings", key=None).status == 200  # api.md: an unset key disables the check


def _nested(depth: int) -> bytes:
    return b'{"eventType": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [33, 5000, 30000])
def test_json_nested_deeper_than_32_levels_is_400_invalid_json(app: Any, depth: int) -> None:
    for path, headers in (("/bookings", {"Idempotency-Key": "deep"}), ("/holds", {})):
        r = app.post(path, body=_nested(depth), headers={"Content-Type": "application/json", **headers})
        assert (r.status, r.json()["code"]) == (400, "invalid-json"), (path, r.body[:200])
        assert "32 levels" in r.json()["detail"]


def test_json_nested_32_levels_deep_is_parsed_and_validated(app: Any) -> None:
    r = app.post("/bookings", body=_nested(31), headers={"Content-Type": "application/json"})
    assert (r.status, r.json()["code"]) == (422, "validation-failed")  # 32 levels with the outer object
    brackets_in_strings = b'{"eventType": "' + b"[" * 100 + b'"}'
    r = app.post("/bookings", body=brackets_in_strings, headers={"Content-Type": "application/json"})
    assert (r.status, r.json()["code"]) == (422, "validation-failed")


def _json_body_operations() -> list[tuple[str, str]]:
    from tests.integration.test_request_limits import _body_reading_operations

    return _body_reading_operations()


@pytest.mark.parametrize(("route", "method"), _json_body_operations())
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_every_json_endpoint_refuses_other_content_types_with_415(
    app: Any, route: str, method: str, content_type: str | None
) -> None:
    from tests.integration.test_request_limits import _path

    headers = {"x-scheduling-webhook-key": "limits-secret"} if route == "dynamics/webhook" else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = app.request(method, _path(route), body=b"{}", headers=headers)
    assert (r.status, r.json()["code"]) == (415, "unsupported-media-type"), (route, method, r.body[:200])


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"]
)
def test_json_media_types_with_parameters_are_accepted(app: Any, content_type: str) -> None:
    r = app.post("/bookings", body=b"{}", headers={"Content-Type": content_type})
    assert (r.status, r.json()["code"]) == (422, "validation-failed")


IDN_EMAIL = "zoë.quintanilla@bücher-müller.example"


def test_an_invitee_email_with_a_non_ascii_domain_is_redacted_in_logs_and_spans(
    otel: Any, app: Any, graph_sim: Any, dataverse: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging
    from urllib.parse import quote

    from scheduling_core.runtime.logs import JsonFormatter

    host = _host(app, graph_sim)
    dataverse.create_user(aad_object_id=host)
    lead_id = dataverse.create("leads", {"firstname": "Zoë", "lastname": "Quintanilla"})
    slug = _event_type(app, [host])
    caplog.set_level(logging.DEBUG)
    dataverse.add_fault(500, count=1, path_contains="contacts")  # the failed lookup URL is logged
    r = _book(
        app,
        slug,
        AT_9,
        record_id=lead_id,
        invitee={"name": "Zoë Quintanilla", "email": IDN_EMAIL, "phone": None},
    )
    assert r.status == 201, r.body
    attributes = json.dumps([dict(s.attributes or {}) for s in otel.spans()], default=str, ensure_ascii=False)
    assert "/contacts?" in attributes  # the invitee lookup was traced ...
    logged = caplog.text + "\n".join(JsonFormatter().format(rec) for rec in caplog.records)
    logged += json.dumps([str(rec.__dict__) for rec in caplog.records], ensure_ascii=False)
    for form in (IDN_EMAIL, quote(IDN_EMAIL), quote(IDN_EMAIL, safe="@"), "bücher-müller", "b%C3%BCcher"):
        assert form not in attributes, form  # ... with the address scrubbed in every form
        assert form not in logged, form


# --- item 8: instants far away, upstream refusals, no 500 ------------------------------------------------


def test_a_hold_in_the_year_462_is_422_before_any_upstream_call(app: Any, host: str, graph_sim: Any) -> None:
    slug = _event_type(app, [host])
    r = app.post("/holds", json_body={"eventType": slug, "start": "0462-03-01T10:00:00Z"})
    assert (r.status, r.json()["code"]) == (422, "validation-failed"), r.body
    assert [e["field"] for e in r.json()["errors"]] == ["start"]


def test_a_booking_in_the_year_662_is_422_at_once(app: Any, host: str) -> None:
    import time

    slug = _event_type(app, [host])
    began = time.monotonic()
    r = _book(app, slug, "0662-03-01T10:00:00Z", headers={"Idempotency-Key": "far-past"})
    assert (r.status, r.json()["code"]) == (422, "validation-failed"), r.body
    assert time.monotonic() - began < 2
    assert _partition_rows(app, host, "b|") == []


BOOKING = "bk_" + "0" * 24


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "field"),
    [
        ("GET", "/slots", {"start": "0462-01-01", "end": "0462-01-02"}, None, "start"),
        ("GET", "/slots", {"start": "2026-12-01", "end": "2101-01-01"}, None, "end"),
        ("GET", "/slots", {"start": "9999-12-31T23:59:59+00:00", "end": "2026-12-02"}, None, "start"),
        ("GET", "/bookings", {"from": "1999-12-31T23:59:59Z"}, None, "from"),
        ("GET", "/bookings", {"to": "+12026-01-01T09:00:00Z"}, None, "to"),
        ("POST", "/holds", None, {"start": "2101-01-01T00:00:00+14:00"}, "start"),
        ("POST", f"/bookings/{BOOKING}/reschedule", None, {"start": "0001-01-01T00:00:00Z"}, "start"),
    ],
)
def test_dates_outside_2000_to_2100_are_422_on_every_endpoint(
    app: Any,
    host: str,
    graph_sim: Any,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    slug = _event_type(app, [host])
    before = len(graph_sim.requests())
    if body is not None:
        body = {"eventType": slug, **body} if path == "/holds" else body
    query = {"eventType": slug, "hostId": host, **(params or {})} if params is not None else None
    r = app.request(method, path, params=query, json_body=body)
    assert (r.status, r.json()["code"]) == (422, "validation-failed"), r.body
    assert field in [e["field"] for e in r.json()["errors"]]
    assert len(graph_sim.requests()) == before  # decided before any upstream call


def test_the_bounds_themselves_are_accepted(app: Any, host: str) -> None:
    slug = _event_type(app, [host])
    for start, end in (("2000-01-01", "2000-01-02"), ("2100-12-30", "2100-12-31")):
        r = app.get("/slots", params={"eventType": slug, "start": start, "end": end})
        assert r.status == 200, r.body


def test_an_unexpected_graph_refusal_is_502_upstream_rejected(app: Any, host: str, graph_sim: Any) -> None:
    slug = _event_type(app, [host])
    graph_sim.add_fault(400, count=1, path_contains="getSchedule")
    try:
        r = app.post("/holds", json_body={"eventType": slug, "start": AT_9})
    finally:
        graph_sim.clear_faults()
    assert (r.status, r.json()["code"]) == (502, "upstream-rejected"), r.body


def test_a_request_past_its_deadline_answers_503_and_commits_nothing_afterwards(
    app: Any, host: str, graph_sim: Any, reconfigure: Any
) -> None:
    import time

    from http_api.endpoint import handlers_in_flight

    slug = _event_type(app, [host])
    reconfigure(REQUEST_DEADLINE_SECONDS="1")
    graph_sim.add_fault(None, count=1, path_contains="getSchedule", delay_seconds=3)
    began = time.monotonic()
    try:
        r = _book(app, slug, AT_9, headers={"Idempotency-Key": "slow"})
    finally:
        graph_sim.clear_faults()
    assert (r.status, r.json()["code"]) == (503, "upstream-unavailable"), r.body
    assert r.headers["Retry-After"] == "5"
    assert time.monotonic() - began < 2.5
    stopped_by = time.monotonic() + 20
    while handlers_in_flight() and time.monotonic() < stopped_by:
        time.sleep(0.05)  # polling a condition with a deadline: the abandoned handler finishing
    assert handlers_in_flight() == 0
    assert _partition_rows(app, host, "b|") == [] and _partition_rows(app, host, "l|") == []
    reconfigure(REQUEST_DEADLINE_SECONDS=None)
    retry = _book(app, slug, AT_9, headers={"Idempotency-Key": "slow"})
    assert retry.status == 201, retry.body
