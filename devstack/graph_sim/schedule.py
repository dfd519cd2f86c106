"""`POST /users/{id}/calendar/getSchedule` as Graph answers it.

Limits, from "Get free/busy schedule of Outlook calendar users and resources"
("Limits and error conditions", learn.microsoft.com/graph/outlook-get-free-busy-schedule):
at most 20 schedules per request and a window shorter than 62 days. Over the
first the simulator answers 400 `ErrorMailboxDataArrayTooBig` (the code and
message Graph uses when its enforced cap is exceeded, microsoft-graph-docs-contrib
issue #5895); over the second 400 `ErrorTimeIntervalTooBig` (Exchange's code for
a too-long free/busy window). An address no user has as `mail` (or UPN) gets a
per-schedule `error` with responseCode "5009" and Exchange's message
(microsoft-graph-docs issue #11225), while the call succeeds. A mailbox in a fault state (`mailboxes`)
fails the whole call as the requester (the path's user) and gets a per-schedule `error` naming its fault
as one of the schedules.

`availabilityView` has one digit per interval: 0 free, 1 tentative, 2 busy,
3 out of office, 4 working elsewhere (scheduleInformation reference). Within an
interval the strongest status wins: oof > busy > tentative > workingElsewhere >
free; `unknown` counts as tentative (Graph has no digit for it). Cancelled
events are not part of anyone's free/busy.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devstack.graph_sim.mailboxes import fault_answer
from devstack.graph_sim.state import SimState
from devstack.graph_sim.wire import bad_request, parse_date_time_time_zone, render_local

MAX_SCHEDULES = 20
MAX_WINDOW = timedelta(days=62)
DEFAULT_INTERVAL_MINUTES = 30
_PARAMETERS = {"schedules", "starttime", "endtime", "availabilityviewinterval"}
_DIGIT = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4", "unknown": "1"}
_RANK = {"free": 0, "workingElsewhere": 1, "tentative": 2, "unknown": 2, "busy": 3, "oof": 4}
_WORK_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]


def get_schedule(
    state: SimState, body: dict[str, Any], zone: tuple[str, ZoneInfo] | None, context: str
) -> dict[str, Any]:
    # Action parameters bind case-insensitively (Graph's own examples write "Schedules", "StartTime").
    params: dict[str, Any] = {}
    for name, value in body.items():
        if name.lower() not in _PARAMETERS:
            raise bad_request(
                f"The parameter '{name}' in the request payload is not a valid parameter for the operation "
                "'getSchedule'."
            )
        params[name.lower()] = value
    schedules = params.get("schedules")
    if not isinstance(schedules, list) or not schedules or not all(isinstance(s, str) for s in schedules):
        raise bad_request(
            "'schedules' must be a non-empty collection of SMTP addresses.", "ErrorInvalidParameter"
        )
    if len(schedules) > MAX_SCHEDULES:
        raise bad_request(
            "There are too many target users in the EmailAddress array. "
            f"The allowed size = {MAX_SCHEDULES}; the actual size = {len(schedules)}.",
            "ErrorMailboxDataArrayTooBig",
        )
    if "starttime" not in params or "endtime" not in params:
        raise bad_request("'startTime' and 'endTime' are required.", "ErrorInvalidParameter")
    start, _ = parse_date_time_time_zone(params["starttime"], "startTime")
    end, _ = parse_date_time_time_zone(params["endtime"], "endTime")
    if end <= start:
        raise bad_request("The end time must be after the start time.", "ErrorInvalidParameter")
    if end - start >= MAX_WINDOW:
        raise bad_request(
            f"The time interval must be less than {MAX_WINDOW.days} days.", "ErrorTimeIntervalTooBig"
        )
    interval = params.get("availabilityviewinterval")
    if interval is None:
        interval = DEFAULT_INTERVAL_MINUTES
    if isinstance(interval, str) and interval.strip().isdigit():
        interval = int(interval)  # Graph's own concept example sends "15"
    if isinstance(interval, bool) or not isinstance(interval, int) or not 5 <= interval <= 1440:
        raise bad_request(
            "availabilityViewInterval must be between 5 and 1440 minutes.", "ErrorInvalidParameter"
        )
    zone_name, zone_info = zone if zone is not None else ("UTC", ZoneInfo("UTC"))

    with state.lock:
        value = [
            _schedule_information(state, address, start, end, interval, zone_name, zone_info)
            for address in schedules
        ]
    return {"@odata.context": context, "value": value}


def _schedule_information(
    state: SimState,
    address: str,
    start: datetime,
    end: datetime,
    interval: int,
    zone_name: str,
    zone_info: ZoneInfo,
) -> dict[str, Any]:
    user = state.user_by_address(address)
    fault = state.mailbox_faults.get(user.id) if user is not None else None
    if fault is not None:
        # Graph documents no per-schedule answer for a mailbox it cannot serve; the simulator reports the
        # mailbox fault for that schedule (never free time), the conservative reading.
        answer = fault_answer(fault)
        return {"scheduleId": address, "error": {"message": answer.message, "responseCode": answer.code}}
    if user is None:
        return {
            "scheduleId": address,
            "error": {
                "message": f"Unable to resolve e-mail address {address} to an Active Directory object.",
                "responseCode": "5009",
            },
        }
    events = sorted(
        (
            event
            for event in state.calendar(user).values()
            if not event.props.get("isCancelled") and event.start < end and start < event.end
        ),
        key=lambda event: (event.start, event.end),
    )
    step = timedelta(minutes=interval)
    slots = math.ceil((end - start) / step)
    # Each event marks only the intervals it covers; the strongest status per interval wins.
    strongest: list[str | None] = [None] * slots
    for event in events:
        status = str(event.props.get("showAs") or "busy")
        first = max(0, int((event.start - start) // step))
        last = min(slots, math.ceil((event.end - start) / step))
        for index in range(first, last):
            current = strongest[index]
            if current is None or _RANK.get(status, 3) > _RANK.get(current, 3):
                strongest[index] = status
    view = [_DIGIT.get(status or "free", "2") for status in strongest]
    items = []
    for event in events:
        item: dict[str, Any] = {
            "isPrivate": event.props.get("sensitivity") == "private",
            "status": event.props.get("showAs") or "busy",
        }
        if not item["isPrivate"]:
            item["subject"] = event.props.get("subject") or ""
            item["location"] = (event.props.get("location") or {}).get("displayName") or ""
        item["start"] = render_local(event.start, zone_name, zone_info)
        item["end"] = render_local(event.end, zone_name, zone_info)
        items.append(item)
    return {
        "scheduleId": address,
        "availabilityView": "".join(view),
        "scheduleItems": items,
        "workingHours": {
            "daysOfWeek": list(_WORK_DAYS),
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": "UTC"},
        },
    }
