"""The invariants every proof suite checks, each read from where the truth lives (not from the API).

- No double booking: per host partition, no two confirmed bookings' meetings overlap, nor their
  buffer-widened intervals (what the 5-minute lock rows guard).
- No lost booking: every booking answered 201 is stored; every stored booking traces back to exactly
  one request (`metadata.proofKey`), so no retry or replay made a second one.
- No lost event: every stored booking version has its outbox row, and each is marked sent (publish
  returned, which locally means every subscribed sync function settled it: completed or dead-lettered).
- Sync settled: each booking section whose sync function is subscribed on the local topic
  (`SYNC_SECTIONS`) says `synced` or `failed` with a reason; a synced Dynamics section has
  exactly one appointment in the Dataverse simulator, at the booking's times and state, and
  its `syncstate` row holds the booking's version. No appointment exists without a booking.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduling_core.domain.bookings import appointment_id
from scheduling_core.domain.outlook import booking_of_transaction
from tests.proof.load import LoadResult
from tests.proof.stack import SYNC_SECTIONS, ProofStack


@dataclass
class Stored:
    """What storage holds: booking documents by id, and each host's booking rows."""

    docs: dict[str, dict[str, Any]]
    rows_by_host: dict[str, list[dict[str, Any]]]


def read_bookings(stack: ProofStack) -> Stored:
    docs: dict[str, dict[str, Any]] = {}
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in stack.rows("hostslots", "RowKey ge 'b|' and RowKey lt 'b}'"):
        by_host[row["PartitionKey"]].append(row)
        if row.get("primary"):
            doc = json.loads(row["doc"])
            docs[doc["id"]] = doc
    return Stored(docs, dict(by_host))


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def assert_no_double_booking(stored: Stored) -> int:
    """Checks every host's confirmed bookings pairwise in start order; returns how many were checked."""
    checked = 0
    problems = []
    for host, rows in stored.rows_by_host.items():
        confirmed = [r for r in rows if r["status"] == "confirmed"]
        checked += len(confirmed)
        meetings = sorted((_utc(r["start"]), _utc(r["end"]), r["RowKey"]) for r in confirmed)
        for (s1, e1, a), (s2, e2, b) in itertools.pairwise(meetings):
            if s2 < e1:
                problems.append(f"{host}: {a} {s1}-{e1} overlaps {b} {s2}-{e2}")
        widened = sorted(
            (
                _utc(r["start"]) - timedelta(minutes=int(r["bufferBefore"])),
                _utc(r["end"]) + timedelta(minutes=int(r["bufferAfter"])),
                r["RowKey"],
            )
            for r in confirmed
        )
        for (s1, e1, a), (s2, e2, b) in itertools.pairwise(widened):
            if s2 < e1:
                problems.append(f"{host}: buffers of {a} and {b} overlap ({s1}-{e1}, {s2}-{e2})")
    assert not problems, "double bookings:\n" + "\n".join(problems[:20])
    return checked


def assert_no_lost_booking(
    result: LoadResult, stored: Stored, *, answered_before: set[str] | None = None
) -> None:
    """Every 201 is stored; no request key made two bookings; nothing stored comes from nowhere."""
    missing = [b for b in (answered_before or set(result.booked)) if b not in stored.docs]
    assert not missing, f"{len(missing)} bookings answered 201 are not stored: {missing[:5]}"
    by_key: dict[str, list[str]] = defaultdict(list)
    for booking_id, doc in stored.docs.items():
        by_key[str(doc.get("metadata", {}).get("proofKey"))].append(booking_id)
    twice = {k: v for k, v in by_key.items() if len(v) > 1}
    assert not twice, f"requests that made more than one booking: {list(twice.items())[:5]}"
    known = {b.key for b in result.booked.values()} | set(result.in_doubt)
    strangers = [ids for key, ids in by_key.items() if key not in known]
    assert not strangers, f"stored bookings no request made: {strangers[:5]}"
    for booking_id, booked in result.booked.items():
        assert stored.docs[booking_id]["metadata"]["proofKey"] == booked.key


def assert_no_lost_event(stack: ProofStack, stored: Stored) -> int:
    """Every version 1..v of every booking has an outbox row, all sent; returns how many events."""
    rows = stack.rows("hostslots", "RowKey ge 'o|' and RowKey lt 'o}'")
    versions: dict[str, set[int]] = defaultdict(set)
    unsent = []
    for row in rows:
        _, booking_id, version = row["RowKey"].split("|")
        versions[booking_id].add(int(version))
        if not row["sent"]:
            unsent.append(row["RowKey"])
    assert not unsent, f"{len(unsent)} outbox events never delivered: {unsent[:5]}"
    gaps = {
        b: sorted(set(range(1, int(doc["version"]) + 1)) - versions.get(b, set()))
        for b, doc in stored.docs.items()
        if set(range(1, int(doc["version"]) + 1)) - versions.get(b, set())
    }
    assert not gaps, f"booking versions without an outbox event: {list(gaps.items())[:5]}"
    return len(rows)


@dataclass
class SyncReport:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    dead_letters: int = 0
    appointments: int = 0

    def summary(self) -> str:
        outcomes = ", ".join(
            f"{section} {status}: {n}" for (section, status), n in sorted(self.outcomes.items())
        )
        return f"  sync: {outcomes}; dead letters: {self.dead_letters}; appointments: {self.appointments}"


def dataverse_appointments(stack: ProofStack) -> list[dict[str, Any]]:
    sim = stack.dataverse
    url: str | None = f"{sim.api}/appointments"
    params: dict[str, str] | None = {
        "$select": "activityid,description,scheduledstart,scheduledend,statecode"
    }
    found: list[dict[str, Any]] = []
    while url:
        response = sim.http.get(url, params=params, headers={**sim.auth, "Prefer": "odata.maxpagesize=5000"})
        response.raise_for_status()
        payload = response.json()
        found += payload["value"]
        url, params = payload.get("@odata.nextLink"), None
    return found


def outlook_events(stack: ProofStack, host_id: str) -> list[dict[str, Any]]:
    """Every event in a host's calendar (Graph simulator), following `@odata.nextLink`."""
    sim = stack.graph
    url: str | None = f"{sim.v1}/users/{host_id}/events"
    params: dict[str, str] | None = {"$select": "id,transactionId,isCancelled", "$top": "999"}
    found: list[dict[str, Any]] = []
    while url:
        response = sim.http.get(url, params=params, headers=sim.auth)
        response.raise_for_status()
        payload = response.json()
        found += payload["value"]
        url, params = payload.get("@odata.nextLink"), None
    return found


def _outlook_problems(stack: ProofStack, stored: Stored) -> list[str]:
    """Exactly one event (by the booking its `transactionId` names) per synced booking in its organizer's
    calendar."""
    problems = []
    hosts = {doc["hostIds"][0] for doc in stored.docs.values()}
    by_booking: dict[str, list[str]] = defaultdict(list)
    for host in hosts:
        for event in outlook_events(stack, host):
            if event.get("transactionId"):  # a moved booking's later placements carry `~<version>`
                by_booking[booking_of_transaction(event["transactionId"])].append(event["id"])
    for booking_id, events in by_booking.items():
        if len(events) > 1:
            problems.append(f"{booking_id}: {len(events)} Outlook events {events}")
    for booking_id, doc in stored.docs.items():
        outlook = doc.get("outlook") or {}
        if outlook.get("syncStatus") != "synced":
            continue
        in_calendar = outlook.get("eventId") in by_booking.get(booking_id, [])
        if doc.get("status") == "cancelled" and in_calendar:
            # The organizer's cancel takes the event out of the calendar.
            problems.append(f"{booking_id}: cancelled and synced, but its event is still in the calendar")
        elif doc.get("status") != "cancelled" and not in_calendar:
            problems.append(
                f"{booking_id}: Outlook synced, but event {outlook.get('eventId')} is not in the calendar"
            )
    return problems


def _message_version(message_id: str) -> int:
    """The booking version a message carries: `<booking>:<version>`, or a throttled copy's
    `<booking>:<version>|<subscription>|throttled-<n>`."""
    return int(message_id.split("|", 1)[0].rsplit(":", 1)[1])


def assert_sync_settled(stack: ProofStack, stored: Stored, *, all_synced: bool) -> SyncReport:
    report = SyncReport()
    bus = stack.bus()
    subscribed = set(bus["functions"])
    dead = {(d["function"], d["messageId"]): d for d in bus["deadLetters"]}
    report.dead_letters = len(dead)
    problems = []
    applied = {
        r["RowKey"]: int(r.get("version", 0)) for r in stack.rows("syncstate", "PartitionKey eq 'dataverse'")
    }
    for section, function in SYNC_SECTIONS.items():
        if function not in subscribed:
            continue
        for booking_id, doc in stored.docs.items():
            state = doc.get(section) or {}
            status = state.get("syncStatus")
            report.outcomes[(section, str(status))] += 1
            if status == "failed":
                if not state.get("error"):
                    problems.append(f"{booking_id}: {section} failed without a reason")
                if all_synced:
                    problems.append(f"{booking_id}: {section} failed: {state.get('error')}")
            elif status != "synced":
                problems.append(f"{booking_id}: {section} still {status}")
            elif section == "dynamics" and applied.get(booking_id) != int(doc["version"]):
                problems.append(
                    f"{booking_id}: dynamics synced but syncstate has version {applied.get(booking_id)}"
                    f" of {doc['version']}"
                )
    if "sync_dataverse" in subscribed:
        appointments = dataverse_appointments(stack)
        report.appointments = len(appointments)
        by_booking: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for appointment in appointments:
            first_line = (appointment.get("description") or "").splitlines()[0]
            booking_id = first_line.removeprefix("Booking: ").split(" ")[0]
            by_booking[booking_id].append(appointment)
        for booking_id, found in by_booking.items():
            doc = stored.docs.get(booking_id)
            if doc is None:
                problems.append(f"appointment(s) {[a['activityid'] for a in found]} for unknown {booking_id}")
            elif len(found) != 1:
                problems.append(f"{booking_id}: {len(found)} appointments")
        for booking_id, doc in stored.docs.items():
            if doc["dynamics"].get("syncStatus") != "synced":
                continue
            found = by_booking.get(booking_id, [])
            if len(found) != 1:
                problems.append(f"{booking_id}: synced but {len(found)} appointments")
                continue
            (appointment,) = found
            expected_state = 2 if doc["status"] == "cancelled" else 3
            if (
                appointment["activityid"] != appointment_id(booking_id)
                or _utc(appointment["scheduledstart"]) != _utc(doc["start"])
                or appointment["statecode"] != expected_state
            ):
                problems.append(
                    f"{booking_id}: appointment {appointment} does not show {doc['start']} {doc['status']}"
                )
    if "sync_outlook" in subscribed:
        problems += _outlook_problems(stack, stored)
    for (function, message_id), letter in dead.items():
        booking_id = letter["sessionId"]
        section = {v: k for k, v in SYNC_SECTIONS.items()}.get(function)
        doc = stored.docs.get(booking_id)
        if doc is None or section is None:
            problems.append(f"dead letter {message_id} for {function} names no booking")
        elif (doc.get(section) or {}).get("syncStatus") != "failed" and _message_version(message_id) == int(
            doc["version"]
        ):
            problems.append(f"dead letter {message_id} but the booking's {section} is not failed")
    assert not problems, f"{len(problems)} sync problems:\n" + "\n".join(problems[:20])
    return report
