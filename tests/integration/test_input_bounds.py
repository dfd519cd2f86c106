"""Input bounds (issue 13): ids that reach storage keys, dates far away, content types, JSON depth."""

from __future__ import annotations

from typing import Any

import pytest

from .scenario import AT_9, MONDAY
from .scenario import book as _book
from .scenario import new_event_type as _event_type
from .scenario import new_host as _host
from .scenario import partition_rows as _partition_rows


@pytest.fixture
def host(app: Any, graph_sim: Any) -> str:
    return _host(app, graph_sim)


@pytest.mark.parametrize("record_id", ["lead/7", "lead\\7", "lead#7", "lead?7", "lead%2F7"])
def test_a_record_id_with_key_breaking_characters_books_once_and_is_indexed(
    app: Any, host: str, record_id: str
) -> None:
    from scheduling_core.composition import services

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
