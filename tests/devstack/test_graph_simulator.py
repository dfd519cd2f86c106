"""The Graph simulator over real HTTP: Graph's paths, payloads, limits and errors, plus its test surface."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.graph_sim import create_app
from devstack.serving import serve_in_thread
from tests.fixtures.graph import GraphSchema, GraphSim

pytestmark = pytest.mark.integration

DAY = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def get(graph: GraphSim, path: str, **kwargs: Any) -> httpx.Response:
    headers = {**graph.auth, **kwargs.pop("headers", {})}
    return graph.http.get(f"{graph.v1}{path}", headers=headers, **kwargs)


def post(graph: GraphSim, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    headers = {**graph.auth, **kwargs.pop("headers", {})}
    return graph.http.post(f"{graph.v1}{path}", json=body, headers=headers, **kwargs)


def schedule_body(
    schedules: list[str], start: datetime, end: datetime, zone: str = "UTC", interval: int = 60
) -> dict[str, Any]:
    from scheduling_core.domain.timezones import resolve_time_zone

    tz = resolve_time_zone(zone)
    return {
        "schedules": schedules,
        "startTime": {"dateTime": start.astimezone(tz).replace(tzinfo=None).isoformat(), "timeZone": zone},
        "endTime": {"dateTime": end.astimezone(tz).replace(tzinfo=None).isoformat(), "timeZone": zone},
        "availabilityViewInterval": interval,
    }


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "innerError"} <= set(body["error"]), body
    code: str = body["error"]["code"]
    return code


# -- authentication ----------------------------------------------------------------------------------


def test_every_graph_route_needs_a_bearer_token(graph: GraphSim) -> None:
    for method, path in [
        ("GET", "/users/someone/events"),
        ("POST", "/users"),
        ("GET", "/users/x/calendarView"),
    ]:
        response = graph.http.request(method, f"{graph.v1}{path}", json={} if method == "POST" else None)
        assert response.status_code == 401, path
        assert error_code(response) == "InvalidAuthenticationToken"
    basic = graph.http.get(f"{graph.v1}/users/x/events", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401
    empty = graph.http.get(f"{graph.v1}/users/x/events", headers={"Authorization": "Bearer"})
    assert empty.status_code == 401
    assert graph.http.get(f"{graph.url}/_sim/requests").status_code == 200  # the test surface needs none


# -- directory ---------------------------------------------------------------------------------------


def test_a_user_is_addressed_by_id_and_by_user_principal_name(graph: GraphSim) -> None:
    user = graph.create_user("ana@contoso.com", id="11111111-aaaa-4aaa-8aaa-000000000001", display_name="Ana")
    assert user["id"] == "11111111-aaaa-4aaa-8aaa-000000000001"
    assert {user["mail"], user["userPrincipalName"], user["displayName"], user["accountEnabled"]} == {
        "ana@contoso.com",
        "Ana",
        True,
    }
    by_id = get(graph, f"/users/{user['id']}").json()
    by_upn = get(graph, "/users/ANA@contoso.com").json()
    assert by_id["id"] == by_upn["id"] == user["id"]

    graph.post_event("ana@contoso.com", start=at(9), end=at(10), subject="via upn")
    listed = get(graph, f"/users/{user['id']}/events").json()["value"]
    assert [event["subject"] for event in listed] == ["via upn"]

    generated = graph.create_user("ben@contoso.com")
    assert len(generated["id"]) == 36
    assert generated["id"] != user["id"]
    duplicate = post(graph, "/users", {"id": user["id"], "userPrincipalName": "x@contoso.com"})
    assert duplicate.status_code == 400
    assert get(graph, "/users/nobody-here").status_code == 404


def test_first_use_of_an_unknown_id_creates_a_mailbox_that_a_later_user_adopts(graph: GraphSim) -> None:
    host_id = "22222222-bbbb-4bbb-8bbb-000000000002"
    assert get(graph, f"/users/{host_id}/events").json()["value"] == []
    graph.post_event(host_id, start=at(9), end=at(10), subject="before the user existed")
    graph.create_user("chloe@contoso.com", id=host_id)
    events = get(graph, "/users/chloe@contoso.com/events").json()["value"]
    assert [event["subject"] for event in events] == ["before the user existed"]


# -- events ------------------------------------------------------------------------------------------


def test_events_can_be_created_read_updated_and_deleted(graph: GraphSim) -> None:
    graph.create_user("ana@contoso.com", id="ana")
    created = graph.post_event(
        "ana",
        start="2026-12-01T09:00:00",
        end="2026-12-01T10:00:00",
        time_zone="Central Standard Time",
        subject="Intro",
        body={"contentType": "text", "content": "Hello there"},
        attendees=[{"emailAddress": {"address": "lead@fabrikam.com", "name": "Lead"}, "type": "required"}],
    )
    assert created["showAs"] == "busy"
    assert created["isCancelled"] is False
    assert created["type"] == "singleInstance"
    assert created["start"] == {"dateTime": "2026-12-01T15:00:00.0000000", "timeZone": "UTC"}
    assert created["originalStartTimeZone"] == "Central Standard Time"
    assert created["organizer"]["emailAddress"]["address"] == "ana@contoso.com"
    assert created["attendees"][0]["status"]["response"] == "none"
    assert created["bodyPreview"] == "Hello there"

    event_path = f"/users/ana/events/{created['id']}"
    assert get(graph, event_path).json()["subject"] == "Intro"

    patched = graph.http.patch(
        f"{graph.v1}{event_path}",
        json={"subject": "Intro (moved)", "end": {"dateTime": "2026-12-01T17:30:00", "timeZone": "UTC"}},
        headers=graph.auth,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["subject"] == "Intro (moved)"
    assert patched.json()["end"]["dateTime"] == "2026-12-01T17:30:00.0000000"
    assert patched.json()["changeKey"] != created["changeKey"]

    assert graph.http.delete(f"{graph.v1}{event_path}", headers=graph.auth).status_code == 204
    missing = get(graph, event_path)
    assert missing.status_code == 404
    assert error_code(missing) == "ErrorItemNotFound"
    assert graph.http.delete(f"{graph.v1}{event_path}", headers=graph.auth).status_code == 404


def test_event_writes_are_checked_like_graph_checks_them(graph: GraphSim) -> None:
    window = {
        "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
    }
    unknown_property = post(graph, "/users/ana/events", {**window, "colour": "blue"})
    assert unknown_property.status_code == 400
    assert error_code(unknown_property) == "RequestBodyRead"
    bad_enum = post(graph, "/users/ana/events", {**window, "showAs": "Busy-ish"})
    assert bad_enum.status_code == 400
    assert error_code(bad_enum) == "RequestBodyRead"
    bad_zone = post(
        graph,
        "/users/ana/events",
        {**window, "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "Mars Standard Time"}},
    )
    assert bad_zone.status_code == 400
    assert error_code(bad_zone) == "TimeZoneNotSupportedException"
    assert post(graph, "/users/ana/events", {"start": window["start"]}).status_code == 400
    not_json = graph.http.post(
        f"{graph.v1}/users/ana/events",
        content=b"{not json",
        headers={**graph.auth, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert error_code(not_json) == "BadRequest"
    assert post(graph, "/users/ana/events", {**window, "recurrence": {"pattern": {}}}).status_code == 400


def test_a_repeated_transaction_id_is_refused_as_a_duplicate(graph: GraphSim) -> None:
    first = graph.post_event("ana", start=at(9), end=at(10), transactionId="bk_123")
    again = post(
        graph,
        "/users/ana/events",
        {
            "subject": "Busy",
            "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
            "transactionId": "bk_123",
        },
    )
    assert again.status_code == 400 and error_code(again) == "ErrorDuplicateTransactionId"
    assert again.json()["error"]["message"] == (
        "The TransactionId specified in the request has already been used to create a different event."
    )
    assert [e["id"] for e in get(graph, "/users/ana/events").json()["value"]] == [first["id"]]


def test_a_transaction_id_stays_spent_after_its_event_was_cancelled_or_deleted(graph: GraphSim) -> None:
    # Cancel and delete move the event to Deleted Items, where it keeps its transactionId.
    body = {
        "subject": "Call",
        "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
        "attendees": [{"emailAddress": {"address": "jo@fabrikam.com"}, "type": "required"}],
    }
    cancelled = post(graph, "/users/ana/events", {**body, "transactionId": "bk_1"}).json()
    assert post(graph, f"/users/ana/events/{cancelled['id']}/cancel", {"comment": "moved"}).status_code == 202
    deleted = post(graph, "/users/ana/events", {**body, "transactionId": "bk_2"}).json()
    assert (
        graph.http.delete(f"{graph.v1}/users/ana/events/{deleted['id']}", headers=graph.auth).status_code
        == 204
    )
    assert get(graph, "/users/ana/events").json()["value"] == []
    for spent in ("bk_1", "bk_2"):
        again = post(graph, "/users/ana/events", {**body, "transactionId": spent})
        assert again.status_code == 400 and error_code(again) == "ErrorDuplicateTransactionId"
    # Spent in ana's mailbox only: another mailbox may use it.
    assert post(graph, "/users/bob/events", {**body, "transactionId": "bk_1"}).status_code == 201


def test_a_lost_answer_still_takes_effect(graph: GraphSim) -> None:
    graph.lose_answers(method="POST", path_contains="/events")
    r = post(
        graph,
        "/users/ana/events",
        {
            "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
        },
    )
    assert r.status_code == 504
    assert len(get(graph, "/users/ana/events").json()["value"]) == 1


@pytest.mark.parametrize(
    ("fault", "status", "code", "message"),
    [
        (
            "notEnabledForRest",
            404,
            "MailboxNotEnabledForRESTAPI",
            "REST API is not yet supported for this mailbox.",
        ),
        (
            "inactive",
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ),
        (
            "softDeleted",
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ),
        (
            "accessDenied",
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
            "settings.",
        ),
    ],
)
def test_a_faulted_mailbox_answers_every_request_with_its_fault_until_cleared(
    graph: GraphSim, fault: str, status: int, code: str, message: str
) -> None:
    event = graph.post_event("ana", start=at(9), end=at(10))
    graph.set_mailbox_fault("ana", fault)
    for response in (
        get(graph, f"/users/ana/events/{event['id']}"),
        get(graph, "/users/ana/events"),
        graph.http.patch(
            f"{graph.v1}/users/ana/events/{event['id']}", json={"subject": "x"}, headers=graph.auth
        ),
        get(
            graph,
            "/users/ana/calendarView/delta",
            params={"startDateTime": at(0).isoformat(), "endDateTime": at(24).isoformat()},
        ),
    ):
        assert response.status_code == status and error_code(response) == code
        assert response.json()["error"]["message"] == message
    assert get(graph, "/users/bob/events").status_code == 200  # other mailboxes are fine
    graph.set_mailbox_fault("ana", None)
    assert get(graph, f"/users/ana/events/{event['id']}").json()["subject"] == "Busy"


def test_a_teams_meeting_gets_a_join_url(graph: GraphSim) -> None:
    event = graph.post_event(
        "ana", start=at(9), end=at(10), isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness"
    )
    assert event["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    assert graph.post_event("ana", start=at(11), end=at(12))["onlineMeeting"] is None


def test_extended_properties_are_stored_and_expanded_on_request(graph: GraphSim) -> None:
    prop_id = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name BookingId"
    event = graph.post_event(
        "ana", start=at(9), end=at(10), singleValueExtendedProperties=[{"id": prop_id, "value": "bk_9"}]
    )
    assert "singleValueExtendedProperties" not in event
    expanded = get(
        graph,
        f"/users/ana/events/{event['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{prop_id}')"},
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": prop_id, "value": "bk_9"}]


def test_times_render_in_the_zone_the_prefer_header_names(graph: GraphSim) -> None:
    event = graph.post_event("ana", start=at(15), end=at(16))
    path = f"/users/ana/events/{event['id']}"
    assert get(graph, path).json()["start"] == {"dateTime": "2026-12-01T15:00:00.0000000", "timeZone": "UTC"}
    pacific = get(graph, path, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    assert pacific.json()["start"] == {
        "dateTime": "2026-12-01T07:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert pacific.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
    berlin = get(graph, path, headers={"Prefer": 'outlook.timezone="Europe/Berlin"'}).json()
    assert berlin["end"] == {"dateTime": "2026-12-01T17:00:00.0000000", "timeZone": "Europe/Berlin"}
    unknown = get(graph, path, headers={"Prefer": 'outlook.timezone="Atlantis Time"'})
    assert unknown.status_code == 400
    assert error_code(unknown) == "TimeZoneNotSupportedException"


# -- calendarView ------------------------------------------------------------------------------------


def test_calendar_view_pages_through_next_links(graph: GraphSim) -> None:
    created = [
        graph.post_event("ana", start=at(0, 30 * i), end=at(0, 30 * i + 20), subject=f"#{i}")
        for i in range(23)
    ]
    graph.post_event("ana", start=at(9, day=DAY + timedelta(days=3)), end=at(10, day=DAY + timedelta(days=3)))
    url: str | None = (
        f"{graph.v1}/users/ana/calendarView?startDateTime=2026-12-01T00:00:00Z&endDateTime=2026-12-02T00:00:00Z"
    )
    pages = []
    while url:
        assert url.startswith(graph.v1)
        page = graph.http.get(url, headers=graph.auth)
        assert page.status_code == 200, page.text
        pages.append(page.json()["value"])
        url = page.json().get("@odata.nextLink")
    assert [len(page) for page in pages] == [10, 10, 3]
    seen = [event["id"] for page in pages for event in page]
    assert seen == [event["id"] for event in created]  # each once, by start

    small = get(
        graph,
        "/users/ana/calendarView",
        params={
            "startDateTime": "2026-12-01T00:00:00+00:00",
            "endDateTime": "2026-12-01T02:00:00+00:00",
            "$top": "3",
        },
    ).json()
    assert [event["subject"] for event in small["value"]] == ["#0", "#1", "#2"]
    rest = graph.http.get(small["@odata.nextLink"], headers=graph.auth).json()
    assert [event["subject"] for event in rest["value"]] == ["#3"]
    assert "@odata.nextLink" not in rest


def test_calendar_view_needs_its_window(graph: GraphSim) -> None:
    response = get(graph, "/users/ana/calendarView", params={"startDateTime": "2026-12-01T00:00:00Z"})
    assert response.status_code == 400
    assert error_code(response) == "ErrorInvalidParameter"


def test_event_lists_page_by_top(graph: GraphSim) -> None:
    for i in range(5):
        graph.post_event("ana", start=at(i), end=at(i, 30))
    first = get(graph, "/users/ana/events", params={"$top": "2"}).json()
    assert len(first["value"]) == 2
    assert "$skip=2" in first["@odata.nextLink"]


# -- getSchedule -------------------------------------------------------------------------------------


def test_get_schedule_merges_statuses_into_the_availability_view(graph: GraphSim) -> None:
    graph.create_user("ana@contoso.com", id="ana")
    for start, end, show_as in [
        (at(9), at(10), "busy"),
        (at(10), at(11), "tentative"),
        (at(11), at(12), "oof"),
        (at(12), at(13), "workingElsewhere"),
        (at(13), at(14), "free"),
        (at(14), at(15), "tentative"),
        (at(14, 30), at(15), "busy"),
    ]:
        graph.post_event("ana", start=start, end=end, show_as=show_as)
    graph.post_event("ana", start=at(15), end=at(16), isCancelled=True)

    response = post(
        graph, "/users/ana/calendar/getSchedule", schedule_body(["ana@contoso.com"], at(8), at(16))
    )
    assert response.status_code == 200, response.text
    (info,) = response.json()["value"]
    assert info["scheduleId"] == "ana@contoso.com"
    assert info["availabilityView"] == "02134020"
    statuses = [item["status"] for item in info["scheduleItems"]]
    assert statuses == ["busy", "tentative", "oof", "workingElsewhere", "free", "tentative", "busy"]
    assert info["scheduleItems"][0]["start"] == {"dateTime": "2026-12-01T09:00:00.0000000", "timeZone": "UTC"}

    quarter = post(
        graph,
        "/users/ana/calendar/getSchedule",
        schedule_body(["ana@contoso.com"], at(14), at(15), interval=15),
    )
    assert quarter.json()["value"][0]["availabilityView"] == "1122"


def test_get_schedule_reads_windows_and_iana_zones_and_answers_in_the_preferred_zone(graph: GraphSim) -> None:
    graph.create_user("ana@contoso.com", id="ana")
    graph.create_user("ben@contoso.com", upn="ben.carter@contoso.com", id="ben")
    graph.post_event("ana", start=at(9), end=at(10))  # 10:00-11:00 in Berlin
    graph.post_event("ben", start=at(16), end=at(17), sensitivity="private", subject="Doctor")

    body = schedule_body(
        ["ANA@contoso.com", "ben.carter@contoso.com", "ghost@contoso.com"], at(8), at(20), interval=60
    )
    body["startTime"] = {"dateTime": "2026-12-01T09:00:00", "timeZone": "W. Europe Standard Time"}
    body["endTime"] = {"dateTime": "2026-12-01T21:00:00", "timeZone": "Europe/Berlin"}
    response = post(
        graph,
        "/users/ana/calendar/getSchedule",
        body,
        headers={"Prefer": 'outlook.timezone="Eastern Standard Time"'},
    )
    assert response.status_code == 200, response.text
    ana, ben, ghost = response.json()["value"]
    assert [ana["scheduleId"], ben["scheduleId"], ghost["scheduleId"]] == [
        "ANA@contoso.com",
        "ben.carter@contoso.com",
        "ghost@contoso.com",
    ]
    assert ana["availabilityView"] == "020000000000"
    assert ana["scheduleItems"][0]["start"] == {
        "dateTime": "2026-12-01T04:00:00.0000000",
        "timeZone": "Eastern Standard Time",
    }
    (private,) = ben["scheduleItems"]
    assert private["isPrivate"] is True
    assert "subject" not in private
    assert ghost["error"]["responseCode"] == "5009"
    assert "scheduleItems" not in ghost
    assert "availabilityView" not in ghost


def test_get_schedule_enforces_graphs_limits(graph: GraphSim) -> None:
    too_many = [f"user{i}@contoso.com" for i in range(21)]
    response = post(graph, "/users/ana/calendar/getSchedule", schedule_body(too_many, at(8), at(9)))
    assert response.status_code == 400
    assert error_code(response) == "ErrorMailboxDataArrayTooBig"
    assert (
        post(graph, "/users/ana/calendar/getSchedule", schedule_body(too_many[:20], at(8), at(9))).status_code
        == 200
    )

    long_window = post(
        graph, "/users/ana/calendar/getSchedule", schedule_body(["a@b.c"], DAY, DAY + timedelta(days=62))
    )
    assert long_window.status_code == 400
    assert error_code(long_window) == "ErrorTimeIntervalTooBig"
    just_under = schedule_body(
        ["a@b.c"], DAY, DAY + timedelta(days=62) - timedelta(minutes=30), interval=1440
    )
    assert post(graph, "/users/ana/calendar/getSchedule", just_under).status_code == 200

    tiny_interval = post(
        graph, "/users/ana/calendar/getSchedule", schedule_body(["a@b.c"], at(8), at(9), interval=4)
    )
    assert tiny_interval.status_code == 400
    bad_zone = schedule_body(["a@b.c"], at(8), at(9))
    bad_zone["startTime"]["timeZone"] = "Nowhere Standard Time"
    response = post(graph, "/users/ana/calendar/getSchedule", bad_zone)
    assert response.status_code == 400
    assert error_code(response) == "TimeZoneNotSupportedException"


def test_get_schedule_parameter_names_bind_case_insensitively(graph: GraphSim) -> None:
    graph.create_user("ana@contoso.com", id="ana")
    body = schedule_body(["ana@contoso.com"], at(8), at(9))
    capitalised = {"Schedules": body["schedules"], "StartTime": body["startTime"], "EndTime": body["endTime"]}
    response = post(graph, "/users/ana/calendar/getSchedule", capitalised)
    assert response.status_code == 200
    assert response.json()["value"][0]["availabilityView"] == "00"
    assert post(graph, "/users/ana/calendar/getSchedule", {**body, "colour": 1}).status_code == 400


# -- the test surface --------------------------------------------------------------------------------


def test_queued_faults_answer_matching_requests_in_order(graph: GraphSim) -> None:
    graph.add_fault(429, retry_after=1, count=2, path_contains="getSchedule", method="POST")
    graph.add_fault(503, path_contains="getSchedule")
    schedule = schedule_body(["a@b.c"], at(8), at(9))

    assert get(graph, "/users/ana/events").status_code == 200  # does not match
    for _ in range(2):
        throttled = post(graph, "/users/ana/calendar/getSchedule", schedule)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"
        assert error_code(throttled) == "TooManyRequests"
    unavailable = post(graph, "/users/ana/calendar/getSchedule", schedule)
    assert unavailable.status_code == 503
    assert error_code(unavailable) == "serviceNotAvailable"
    assert "Retry-After" not in unavailable.headers
    assert post(graph, "/users/ana/calendar/getSchedule", schedule).status_code == 200

    graph.add_fault(500, count=5)
    graph.clear_faults()
    assert get(graph, "/users/ana/events").status_code == 200


def test_a_probabilistic_fault_hits_about_that_share_of_requests_until_cleared(graph: GraphSim) -> None:
    graph.add_fault(503, probability=0.5, count=None, path_contains="/events")
    statuses = [get(graph, "/users/ana/events").status_code for _ in range(200)]
    # Binomial(200, 0.5): 100 +- 7; the bounds are more than 5 standard deviations wide.
    assert 60 <= statuses.count(503) <= 140
    assert set(statuses) == {200, 503}
    (fault,) = graph.http.get(f"{graph.url}/_sim/faults").json()["value"]
    assert (fault["count"], fault["probability"]) == (None, 0.5)  # unlimited: still queued
    graph.clear_faults()
    assert get(graph, "/users/ana/events").status_code == 200


def test_a_probabilistic_fault_with_a_count_stops_after_that_many_hits(graph: GraphSim) -> None:
    graph.add_fault(429, retry_after=1, probability=0.3, count=3)
    statuses = [get(graph, "/users/ana/events").status_code for _ in range(200)]
    assert statuses.count(429) == 3  # P(fewer than 3 hits in 200 at 0.3) is about 1e-27
    for bad in (
        {"status": 503, "probability": 0},
        {"status": 503, "probability": 1.5},
        {"status": 503, "count": 0},
    ):
        assert graph.http.post(f"{graph.url}/_sim/faults", json=bad).status_code == 400


def test_a_delay_fault_slows_the_response(graph: GraphSim) -> None:
    graph.add_fault(None, delay_seconds=0.3, path_contains="/events")
    started = time.monotonic()
    assert get(graph, "/users/ana/events").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_the_request_log_shows_what_clients_sent(graph: GraphSim) -> None:
    post(
        graph,
        "/users/ana/calendar/getSchedule",
        schedule_body(["a@b.c"], at(8), at(9)),
        headers={"Prefer": 'outlook.timezone="UTC"', "client-request-id": "abc"},
    )
    (entry,) = graph.requests(path_contains="getschedule")
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1.0/users/ana/calendar/getSchedule"
    assert entry["headers"]["prefer"] == 'outlook.timezone="UTC"'
    assert entry["headers"]["client-request-id"] == "abc"
    assert entry["headers"]["authorization"] == "Bearer <redacted>"  # never the token itself
    assert entry["json"]["schedules"] == ["a@b.c"]
    assert entry["status"] == 200


def test_reset_forgets_everything(graph: GraphSim) -> None:
    graph.create_user("ana@contoso.com", id="ana")
    graph.post_event("ana", start=at(9), end=at(10))
    graph.add_fault(503, count=3)
    graph.reset()
    assert get(graph, "/users/ana").status_code == 404
    assert [entry["path"] for entry in graph.requests()] == ["/v1.0/users/ana"]
    assert graph.http.get(f"{graph.url}/_sim/faults").json()["value"] == []


def test_state_survives_a_restart_through_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "graph.json"
    auth = {"Authorization": "Bearer t"}
    first = serve_in_thread(create_app(state_file))
    try:
        with httpx.Client(base_url=f"{first.url}/v1.0", headers=auth) as client:
            created = client.post(
                "/users",
                json={"id": "ana", "mail": "ana@contoso.com", "userPrincipalName": "ana@contoso.com"},
            )
            assert created.status_code == 201
            event = client.post(
                "/users/ana/events",
                json={
                    "subject": "kept",
                    "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
                },
            ).json()
    finally:
        first.stop()
    assert [path.name for path in tmp_path.iterdir()] == ["graph.json"]  # no temp files left behind

    second = serve_in_thread(create_app(state_file))
    try:
        with httpx.Client(base_url=f"{second.url}/v1.0", headers=auth) as client:
            assert client.get(f"/users/ana/events/{event['id']}").json()["subject"] == "kept"
            body = schedule_body(["ana@contoso.com"], at(8), at(11))
            (info,) = client.post("/users/ana/calendar/getSchedule", json=body).json()["value"]
            assert info["availabilityView"] == "020"
    finally:
        second.stop()


# -- conformance to Graph's schema -------------------------------------------------------------------


def test_every_payload_fits_the_graph_v1_schema(graph: GraphSim, graph_schema: GraphSchema) -> None:
    graph.create_user("ana@contoso.com", id="ana", display_name="Ana")
    graph.post_event(
        "ana",
        start=at(9),
        end=at(10),
        body={"contentType": "html", "content": "<p>Agenda</p>"},
        attendees=[{"emailAddress": {"address": "lead@fabrikam.com", "name": "Lead"}, "type": "optional"}],
        location={"displayName": "Room 1", "locationType": "conferenceRoom"},
        isOnlineMeeting=True,
        sensitivity="private",
        importance="high",
        categories=["Sales"],
        transactionId="bk_1",
    )
    for i in range(11):
        graph.post_event("ana", start=at(10, 5 * i), end=at(10, 5 * i + 5), show_as="tentative")
    prop_id = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name BookingId"
    extended = graph.post_event(
        "ana", start=at(12), end=at(13), singleValueExtendedProperties=[{"id": prop_id, "value": "bk_2"}]
    )
    prefer = {"Prefer": 'outlook.timezone="W. Europe Standard Time"'}

    objects: list[tuple[Any, str]] = []
    events_page = get(graph, "/users/ana/events", headers=prefer).json()
    objects += [(event, "graph.event") for event in events_page["value"]]
    view = get(
        graph,
        "/users/ana/calendarView",
        params={"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-02T00:00:00Z"},
    ).json()
    assert "@odata.nextLink" in view
    objects += [(event, "graph.event") for event in view["value"]]
    single = get(
        graph, f"/users/ana/events/{extended['id']}", params={"$expand": "singleValueExtendedProperties"}
    )
    objects.append((single.json(), "graph.event"))
    filtered = get(
        graph,
        "/users/ana/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop_id}' and ep/value eq 'bk_2')",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{prop_id}')",
        },
    ).json()
    assert [event["id"] for event in filtered["value"]] == [extended["id"]]
    objects += [(event, "graph.event") for event in filtered["value"]]
    schedule = post(
        graph,
        "/users/ana/calendar/getSchedule",
        schedule_body(["ana@contoso.com", "ghost@contoso.com"], at(8), at(14)),
        headers=prefer,
    ).json()
    objects += [(info, "graph.scheduleInformation") for info in schedule["value"]]

    for top_level in (events_page, view, schedule):
        assert set(top_level) <= {"@odata.context", "@odata.nextLink", "value"}
    problems = [
        problem for value, type_name in objects for problem in graph_schema.problems(value, type_name)
    ]
    assert problems == []
    assert graph_schema.problems({"showAs": "maybe", "colour": "red"}, "graph.event") == [
        "$.showAs: 'maybe' is not a member of graph.freeBusyStatus",
        "$.colour: no such property on graph.event",
    ]
