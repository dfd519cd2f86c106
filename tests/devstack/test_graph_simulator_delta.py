"""Graph simulator calendarView delta and extended-property filters over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.graph import GraphSchema, GraphSim

pytestmark = pytest.mark.integration

WINDOW = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-02T00:00:00Z"}
PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name BookingId"


def event(graph: GraphSim, hour: int, day: int = 1, **extra: Any) -> dict[str, Any]:
    return graph.post_event(
        "ana", start=f"2026-12-{day:02d}T{hour:02d}:00:00", end=f"2026-12-{day:02d}T{hour:02d}:30:00", **extra
    )


def get(graph: GraphSim, url: str, *, page_size: int | None = None, **headers: str) -> httpx.Response:
    all_headers = {**graph.auth, **headers}
    if page_size is not None:
        all_headers["Prefer"] = f"odata.maxpagesize={page_size}"
    return graph.http.get(url, headers=all_headers)


def round_of(
    graph: GraphSim, url: str, page_size: int | None = None
) -> tuple[list[list[dict[str, Any]]], str]:
    """Every page of one delta round, and the round's delta link."""
    pages = []
    while True:
        response = get(graph, url, page_size=page_size)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return pages, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]
        assert "$skiptoken=" in url and "startDateTime" not in url


def first_url(graph: GraphSim, path: str = "/users/ana/calendarView/delta") -> str:
    return f"{graph.v1}{path}?startDateTime={WINDOW['startDateTime']}&endDateTime={WINDOW['endDateTime']}"


def test_a_first_delta_round_pages_through_every_event_in_the_window(graph: GraphSim) -> None:
    inside = [event(graph, hour) for hour in (9, 10, 11, 12, 13)]
    event(graph, 9, day=3)  # outside the window
    pages, delta_link = round_of(graph, first_url(graph), page_size=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    assert [item["id"] for item in items] == [e["id"] for e in inside]
    assert all(item["@odata.type"] == "#microsoft.graph.event" for item in items)
    assert items[0]["subject"] == inside[0]["subject"] and "start" in items[0]
    assert "$deltatoken=" in delta_link

    many = [event(graph, 14, day=1) for _ in range(18)]
    default_pages, _ = round_of(graph, first_url(graph))
    assert [len(page) for page in default_pages] == [10, 10, 3]
    assert len({i["id"] for page in default_pages for i in page}) == len(inside) + len(many)


def test_a_delta_link_returns_only_what_changed_and_removals_as_removed(graph: GraphSim) -> None:
    kept, updated, deleted, cancelled, moved_out = (event(graph, hour) for hour in (8, 9, 10, 11, 12))
    _, delta_link = round_of(graph, first_url(graph))

    created = event(graph, 15)
    graph.http.patch(
        f"{graph.v1}/users/ana/events/{updated['id']}", json={"subject": "new"}, headers=graph.auth
    )
    graph.http.delete(f"{graph.v1}/users/ana/events/{deleted['id']}", headers=graph.auth)
    graph.http.post(f"{graph.v1}/users/ana/events/{cancelled['id']}/cancel", json={}, headers=graph.auth)
    graph.http.patch(
        f"{graph.v1}/users/ana/events/{moved_out['id']}",
        json={
            "start": {"dateTime": "2026-12-05T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-05T10:00:00", "timeZone": "UTC"},
        },
        headers=graph.auth,
    )
    outside = event(graph, 9, day=4)  # never in the window: not this delta link's business

    pages, next_link = round_of(graph, delta_link, page_size=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    items = {item["id"]: item for page in pages for item in page}
    assert set(items) == {
        created["id"],
        updated["id"],
        deleted["id"],
        cancelled["id"],
        moved_out["id"],
    }
    assert kept["id"] not in items and outside["id"] not in items
    assert items[created["id"]]["subject"] == created["subject"]
    assert items[updated["id"]]["subject"] == "new"
    for gone in (deleted, cancelled, moved_out):
        assert items[gone["id"]] == {
            "@odata.type": "#microsoft.graph.event",
            "id": gone["id"],
            "@removed": {"reason": "deleted"},
        }
    quiet_pages, _ = round_of(graph, next_link)
    assert quiet_pages == [[]]


def test_the_window_stays_the_one_the_first_request_fixed(graph: GraphSim) -> None:
    """Graph encodes startDateTime/endDateTime in its state tokens: a delta link never looks beyond them."""
    _, delta_link = round_of(graph, first_url(graph))
    later = event(graph, 9, day=3)  # after the window's end
    graph.http.delete(f"{graph.v1}/users/ana/events/{later['id']}", headers=graph.auth)
    moved_in_and_out = event(graph, 10, day=3)
    graph.http.patch(
        f"{graph.v1}/users/ana/events/{moved_in_and_out['id']}", json={"subject": "x"}, headers=graph.auth
    )
    pages, _ = round_of(graph, delta_link)
    assert pages == [[]]
    wider = first_url(graph).replace("2026-12-02T00", "2026-12-04T00")
    fresh, _ = round_of(graph, wider)
    assert [item["id"] for page in fresh for item in page] == [moved_in_and_out["id"]]


def test_a_write_during_a_round_is_never_lost(graph: GraphSim) -> None:
    for hour in (9, 10, 11):
        event(graph, hour)
    page = get(graph, first_url(graph), page_size=1).json()
    late = event(graph, 8)  # sorts before everything already returned
    url, seen = page["@odata.nextLink"], [page["value"][0]["id"]]
    pages, delta_link = round_of(graph, url, page_size=1)
    seen += [item["id"] for p in pages for item in p]
    next_pages, _ = round_of(graph, delta_link)
    assert late["id"] in seen + [item["id"] for p in next_pages for item in p]


def test_an_unknown_or_expired_token_is_410_sync_state_not_found(graph: GraphSim) -> None:
    event(graph, 9)
    _, delta_link = round_of(graph, first_url(graph))
    garbage = get(graph, f"{graph.v1}/users/ana/calendarView/delta?$deltatoken=nonsense")
    assert garbage.status_code == 410
    assert garbage.json()["error"]["code"] == "syncStateNotFound"
    other_mailbox = get(graph, delta_link.replace("/users/ana/", "/users/ben/"))
    assert other_mailbox.status_code == 410

    assert get(graph, delta_link).status_code == 200
    graph.expire_delta_tokens()
    expired = get(graph, delta_link)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "syncStateNotFound"
    restart = expired.headers["Location"]
    assert "startDateTime=2026-12-01T00%3A00%3A00%2B00%3A00" in restart
    pages, _ = round_of(graph, restart)
    assert len(pages[0]) == 1


def test_delta_renders_times_in_the_preferred_zone_and_keeps_expand_in_its_links(graph: GraphSim) -> None:
    event(graph, 9, singleValueExtendedProperties=[{"id": PROP, "value": "bk_1"}])
    url = first_url(graph) + f"&$expand=singleValueExtendedProperties($filter=id eq '{PROP}')"
    response = get(graph, url, Prefer='outlook.timezone="Pacific Standard Time"')
    (item,) = response.json()["value"]
    assert item["start"] == {"dateTime": "2026-12-01T01:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert item["singleValueExtendedProperties"] == [{"id": PROP, "value": "bk_1"}]
    assert response.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
    moved = response.json()["@odata.deltaLink"]
    graph.http.patch(
        f"{graph.v1}/users/ana/events/{item['id']}", json={"subject": "later"}, headers=graph.auth
    )
    (changed,) = get(graph, moved).json()["value"]
    assert changed["singleValueExtendedProperties"] == [{"id": PROP, "value": "bk_1"}]


def test_delta_needs_a_window_and_refuses_unsupported_query_options(graph: GraphSim) -> None:
    missing = get(graph, f"{graph.v1}/users/ana/calendarView/delta?startDateTime=2026-12-01T00:00:00Z")
    assert missing.status_code == 400
    for option in ("$select=subject", "$filter=subject eq 'x'", "$orderby=start/dateTime", "$top=5"):
        assert get(graph, f"{first_url(graph)}&{option}").status_code == 400, option
    assert get(graph, first_url(graph, "/users/ana/calendar/calendarView/delta")).status_code == 200


def test_delta_items_fit_the_graph_v1_schema(graph: GraphSim, graph_schema: GraphSchema) -> None:
    gone = event(graph, 9)
    _, delta_link = round_of(graph, first_url(graph))
    event(graph, 10, attendees=[{"emailAddress": {"address": "x@fabrikam.com"}, "type": "required"}])
    graph.http.delete(f"{graph.v1}/users/ana/events/{gone['id']}", headers=graph.auth)
    body = get(graph, delta_link).json()
    assert len(body["value"]) == 2
    assert set(body) == {"@odata.context", "@odata.deltaLink", "value"}
    problems = [p for item in body["value"] for p in graph_schema.problems(item, "graph.event")]
    assert problems == []


# -- $filter on extended properties ------------------------------------------------------------------


def test_events_are_found_by_an_extended_property_value(graph: GraphSim) -> None:
    wanted = event(graph, 9, singleValueExtendedProperties=[{"id": PROP, "value": "bk_1"}])
    event(graph, 10, singleValueExtendedProperties=[{"id": PROP, "value": "bk_2"}])
    event(graph, 11)

    def found(filter_: str, **params: str) -> list[dict[str, Any]]:
        response = graph.http.get(
            f"{graph.v1}/users/ana/events", params={"$filter": filter_, **params}, headers=graph.auth
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["value"]
        return items

    match = f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'bk_1')"
    (item,) = found(match)
    assert item["id"] == wanted["id"]
    assert "singleValueExtendedProperties" not in item  # a filter does not expand
    (expanded,) = found(match, **{"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"})
    assert expanded["singleValueExtendedProperties"] == [{"id": PROP, "value": "bk_1"}]

    upper_guid = PROP.replace("66f5a359", "66F5A359").replace("String", "string")
    assert [
        i["id"]
        for i in found(f"singleValueExtendedProperties/any(p: p/id eq '{upper_guid}' and p/value eq 'BK_1')")
    ] == [wanted["id"]]  # GUID, type and value compare case-insensitively
    assert found(match.replace("BookingId", "bookingid")) == []  # the Name part does not
    assert len(found(f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value ne 'bk_1')")) == 1
    assert (
        len(
            found(f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and startswith(ep/value, 'bk_'))")
        )
        == 2
    )
    assert found(match.replace("bk_1", "bk_9")) == []

    for unsupported in (
        "subject eq 'Busy'",
        "singleValueExtendedProperties/Any(ep: ep/value eq 'bk_1')",
        "nonsense(",
    ):
        response = graph.http.get(
            f"{graph.v1}/users/ana/events", params={"$filter": unsupported}, headers=graph.auth
        )
        assert response.status_code == 400, unsupported
        assert response.json()["error"]["code"] == "ErrorInvalidUrlQueryFilter"
