"""Stored booking documents read back and written again byte for byte (issue 18: typed sections).

Each `STORED` document is exactly what the booking table wrote (`json.dumps(booking_snapshot(b))`) before the
sections became typed values, for every shape a booking takes: confirmed and synced, pending, inline routing
context, rescheduled, cancelled by the invitee and by the API, reassigned, no-show (invitee with a note, host
without), a manager's override (also with a later reassignment, in both orders), Outlook and Dynamics drift,
failed syncs (a Dynamics error and drift in both orders) and their recovery. Rows already in Table storage
must read back as the same booking, and the HTTP answer and event snapshot (`LOCAL`, rendered in the booking's
time zone) must not change by a byte.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduling_core.domain.booking_sections import (
    AttendanceParty,
    DriftSeenBy,
    DynamicsDrift,
    DynamicsState,
    OutlookState,
    RoutingRecord,
)
from scheduling_core.domain.bookings import (
    Booking,
    BookingStatus,
    Invitee,
    appointment_id,
    booking_from_snapshot,
    booking_snapshot,
)
from scheduling_core.domain.matching import Match, MatchedBy
from scheduling_core.domain.override import Override
from scheduling_core.domain.routing.decisions import RoutingDecision
from scheduling_core.domain.routing.inputs import RoutingContext, RoutingInputs
from scheduling_core.domain.routing.rules import RuleSet
from scheduling_core.services.bookings import BookingService, _rerouted_routing
from scheduling_core.services.router import StoredDecision

# fmt: off
STORED: dict[str, str] = {
    'confirmed_synced': (
        '{"id": "bk_confirmed", "status": "confirmed", "version": 1, '
        '"eventType": "discovery-call", "start": "2026-12-01T08:00:00+00:00", '
        '"end": "2026-12-01T08:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h1"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": "rd_0001", "ruleSet": "default", "rule": "lead owner", '
        '"strategy": "owner", "reason": "record owner; picked h1, '
        'the first free host by fairness", "match": {"by": "leadEmail", "recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001", "others": ["lead-2"], '
        '"note": "two leads"}}, "outlook": {"eventId": "AAMkAGI1", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "17f4e828-c8e6-5f57-be22-59c956bd3ca4", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'confirmed_pending': (
        '{"id": "bk_pending", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {}, "answers": {}, "metadata": {}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "hold", '
        '"reason": "held by hd_1"}, "outlook": {"eventId": null, "joinUrl": null, '
        '"syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "9b9e2978-3c74-56da-a1e6-13aee6ee74f3", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'inline_context': (
        '{"id": "bk_inline", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "guid", "ownerId": null, "territory": null, "skills": {"german": 3}}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web", '
        '"channel": "booking-page"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "b5866390-fa5a-589b-835d-475d441ed70d", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'rescheduled': (
        '{"id": "bk_resched", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-02T08:00:00+00:00", "end": "2026-12-02T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web", "lastRescheduleReason": "conflict", '
        '"lastRescheduleBy": "invitee"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI2", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "0975216d-d9cd-5a12-98c0-54233bfe5a8d", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T09:30:00+00:00"}'
    ),
    'cancelled_by_invitee': (
        '{"id": "bk_cancel", "status": "cancelled", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI3", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "d4fc5391-3c91-533f-acd6-e9218ad62e86", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T10:30:00+00:00", "cancellation": {"reason": "Cannot make it", '
        '"source": "invitee", "by": "invitee", "at": "2026-11-20T10:30:00+00:00"}}'
    ),
    'cancelled_by_api': (
        '{"id": "bk_cancel_api", "status": "cancelled", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T08:00:00+00:00", '
        '"end": "2026-12-01T08:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h1"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "fixed", '
        '"reason": "first free host of the event type\'s hostIds"}, "outlook": {"eventId": null, '
        '"joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "53ee361e-b9d3-54ed-8dda-d6d2e9b79c78", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T10:30:00+00:00", "cancellation": {"reason": null, '
        '"source": "api", "by": "api", "at": "2026-11-20T10:30:00+00:00"}}'
    ),
    'reassigned': (
        '{"id": "bk_reassigned", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T08:00:00+00:00", '
        '"end": "2026-12-01T08:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h2"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": "rd_0002", "ruleSet": "default", "rule": "territory", '
        '"strategy": "reassigned", "reason": "reassigned from h1 to h2: vacation", '
        '"match": {"by": "leadEmail", "recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001", "others": ["lead-2"], '
        '"note": "two leads"}, "reassigned": {"from": "h1", "to": "h2", "reason": "vacation", '
        '"at": "2026-11-20T11:30:00+00:00"}}, "outlook": {"eventId": "AAMkAGI4", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "pending", '
        '"drift": null}, "dynamics": {"appointmentId": "ee9a60ce-d3d4-57a3-a9e0-38a9e8daebcd", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T11:30:00+00:00"}'
    ),
    'no_show_invitee': (
        '{"id": "bk_noshow", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI5", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "1741ec58-29e5-53ab-bd6f-7038f34c9eff", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-12-01T08:40:00+00:00", "attendance": {"status": "noShow", '
        '"party": "invitee", "at": "2026-12-01T08:40:00+00:00", "note": "did not dial in"}}'
    ),
    'no_show_host': (
        '{"id": "bk_noshow_host", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T08:00:00+00:00", '
        '"end": "2026-12-01T08:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h1"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "fixed", '
        '"reason": "first free host of the event type\'s hostIds"}, "outlook": {"eventId": null, '
        '"joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "68d198d3-a756-5d43-8604-e1049671eb20", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-12-01T08:40:00+00:00", "attendance": {"status": "noShow", '
        '"party": "host", "at": "2026-12-01T08:40:00+00:00"}}'
    ),
    'override': (
        '{"id": "bk_override", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "explicit", "reason": "hostId in the request", "override": {"reason": "VIP", '
        '"allow": ["caps", "outsideWorkingHours"]}}, "outlook": {"eventId": null, "joinUrl": null, '
        '"syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "eef4bdc2-c5c8-5771-8c24-9124a7df9804", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'override_then_reassigned_and_moved': (
        '{"id": "bk_override", "status": "confirmed", "version": 3, "eventType": "discovery-call", '
        '"start": "2026-12-01T10:00:00+00:00", "end": "2026-12-01T10:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h2"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "reassigned", "reason": "reassigned from h1 to h2: sick", '
        '"override": {"reason": "again", "allow": ["caps"]}, "reassigned": {"from": "h1", '
        '"to": "h2", "reason": "sick", "at": "2026-11-20T09:30:00+00:00"}}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "eef4bdc2-c5c8-5771-8c24-9124a7df9804", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T10:30:00+00:00"}'
    ),
    'reassigned_then_override': (
        '{"id": "bk_reassigned_override", "status": "confirmed", "version": 3, '
        '"eventType": "discovery-call", "start": "2026-12-01T10:00:00+00:00", '
        '"end": "2026-12-01T10:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h2"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web", '
        '"lastRescheduleReason": "vip"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "reassigned", "reason": "reassigned from h1 to h2: sick", '
        '"reassigned": {"from": "h1", "to": "h2", "reason": "sick", '
        '"at": "2026-11-20T09:30:00+00:00"}, "override": {"reason": "vip", "allow": ["caps"]}}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "895c1c42-8d72-5615-bb0f-ee7eaa0c11b3", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T10:30:00+00:00"}'
    ),
    'drift': (
        '{"id": "bk_drift", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI6", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": {"eventStart": "2026-12-01T09:00:00+00:00", '
        '"eventEnd": "2026-12-01T09:30:00+00:00", "bookingStart": "2026-12-01T08:00:00+00:00", '
        '"bookingEnd": "2026-12-01T08:30:00+00:00", "changed": ["start", "end"], '
        '"detectedAt": "2026-11-20T10:00:00+00:00"}}, '
        '"dynamics": {"appointmentId": "99fcd051-ebc5-53d7-9f4e-8a53d2662774", '
        '"syncStatus": "synced", "drift": {"scheduledstart": "2026-12-01T10:00:00+00:00", '
        '"scheduledend": "2026-12-01T10:30:00+00:00", "operationId": "op-1", '
        '"at": "2026-11-20T11:00:00+00:00", '
        '"reason": "Moved in Dynamics; policy flag: the booking keeps its time."}}, '
        '"createdAt": "2026-11-20T08:30:00+00:00", "updatedAt": "2026-11-20T12:30:00+00:00"}'
    ),
    'dynamics_drift_then_error': (
        '{"id": "bk_drift", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI6", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": {"eventStart": "2026-12-01T09:00:00+00:00", '
        '"eventEnd": "2026-12-01T09:30:00+00:00", "bookingStart": "2026-12-01T08:00:00+00:00", '
        '"bookingEnd": "2026-12-01T08:30:00+00:00", "changed": ["start", "end"], '
        '"detectedAt": "2026-11-20T10:00:00+00:00"}}, '
        '"dynamics": {"appointmentId": "99fcd051-ebc5-53d7-9f4e-8a53d2662774", '
        '"syncStatus": "failed", "drift": {"scheduledstart": "2026-12-01T10:00:00+00:00", '
        '"scheduledend": "2026-12-01T10:30:00+00:00", "operationId": "op-1", '
        '"at": "2026-11-20T11:00:00+00:00", '
        '"reason": "Moved in Dynamics; policy flag: the booking keeps its time."}, '
        '"error": "TransientError: 503 (gave up after 10 deliveries)"}, '
        '"createdAt": "2026-11-20T08:30:00+00:00", "updatedAt": "2026-11-20T12:30:00+00:00"}'
    ),
    'failed': (
        '{"id": "bk_failed", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "failed", "drift": null, '
        '"error": "MailboxUnavailable: mailbox h1 is not enabled"}, '
        '"dynamics": {"appointmentId": "97eca2cc-169d-5026-8156-bbe379d9e0c3", '
        '"syncStatus": "failed", "error": "PermanentError: 403"}, '
        '"createdAt": "2026-11-20T08:30:00+00:00", "updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'recovered': (
        '{"id": "bk_failed", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI7", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "97eca2cc-169d-5026-8156-bbe379d9e0c3", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'dynamics_error_then_drift': (
        '{"id": "bk_failed", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "failed", "drift": null, '
        '"error": "MailboxUnavailable: mailbox h1 is not enabled"}, '
        '"dynamics": {"appointmentId": "97eca2cc-169d-5026-8156-bbe379d9e0c3", '
        '"syncStatus": "failed", "error": "PermanentError: 403", '
        '"drift": {"scheduledstart": "2026-12-01T10:00:00+00:00", '
        '"scheduledend": "2026-12-01T10:30:00+00:00", "modifiedBy": "user-7", '
        '"at": "2026-11-20T11:00:00+00:00", '
        '"reason": "moved in Dynamics; policy flag: the booking keeps its time"}}, '
        '"createdAt": "2026-11-20T08:30:00+00:00", "updatedAt": "2026-11-20T08:30:00+00:00"}'
    ),
    'rerouted_by_rule_set': (
        '{"id": "bk_rerouted", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-03T08:00:00+00:00", "end": "2026-12-03T08:30:00+00:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h3"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web", "lastRescheduleReason": "new time", '
        '"lastRescheduleBy": "invitee"}, "routing": {"decisionId": "rd_0003", "rule": "territory", '
        '"ruleSet": "default", "match": {"by": "contactEmail", "recordType": "account", '
        '"recordId": "acc-1", "contactId": "c-1"}, "strategy": "rerouted", '
        '"reason": "rescheduled by invitee; routing decided again (territory EMEA): h3, '
        'free at the new time", "reassigned": {"from": "h1", "to": "h3", "reason": "new time", '
        '"by": "invitee", "at": "2026-11-20T13:30:00+00:00"}}, "outlook": {"eventId": "AAMkAGI8", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "pending", '
        '"drift": null}, "dynamics": {"appointmentId": "e5248e2e-2a43-51b0-b460-e094180bc1fd", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T13:30:00+00:00"}'
    ),
    'rerouted_fixed': (
        '{"id": "bk_rerouted_fixed", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-03T08:00:00+00:00", '
        '"end": "2026-12-03T08:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h3"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "rerouted", '
        '"reason": "rescheduled by invitee; routing decided again (the event type\'s hostIds): h3, '
        'free at the new time", "reassigned": {"from": "h1", "to": "h3", '
        '"reason": "rescheduled by invitee", "by": "invitee", "at": "2026-11-20T13:30:00+00:00"}}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "1244f0c0-fb9e-5bb1-ba42-7cfb50cc40ff", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T13:30:00+00:00"}'
    ),
    'reassigned_by_rule_set_after_override': (
        '{"id": "bk_reassigned_svc", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T08:00:00+00:00", '
        '"end": "2026-12-01T08:30:00+00:00", "timeZone": "Europe/Berlin", "hostIds": ["h2"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": "rd_0003", "rule": "territory", "strategy": "reassigned", '
        '"reason": "reassigned from h1 to h2: leaving", "override": {"reason": "VIP", '
        '"allow": ["caps"]}, "reassigned": {"from": "h1", "to": "h2", "reason": "leaving", '
        '"at": "2026-11-20T13:30:00+00:00"}}, "outlook": {"eventId": null, "joinUrl": null, '
        '"syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "c5230d1b-451a-557b-8f85-54cea9a7cba3", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T08:30:00+00:00", '
        '"updatedAt": "2026-11-20T13:30:00+00:00"}'
    ),
}
LOCAL: dict[str, str] = {
    'confirmed_synced': (
        '{"id": "bk_confirmed", "status": "confirmed", "version": 1, '
        '"eventType": "discovery-call", "start": "2026-12-01T09:00:00+01:00", '
        '"end": "2026-12-01T09:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h1"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": "rd_0001", "ruleSet": "default", "rule": "lead owner", '
        '"strategy": "owner", "reason": "record owner; picked h1, '
        'the first free host by fairness", "match": {"by": "leadEmail", "recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001", "others": ["lead-2"], '
        '"note": "two leads"}}, "outlook": {"eventId": "AAMkAGI1", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "17f4e828-c8e6-5f57-be22-59c956bd3ca4", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'confirmed_pending': (
        '{"id": "bk_pending", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {}, "answers": {}, "metadata": {}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "hold", '
        '"reason": "held by hd_1"}, "outlook": {"eventId": null, "joinUrl": null, '
        '"syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "9b9e2978-3c74-56da-a1e6-13aee6ee74f3", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'inline_context': (
        '{"id": "bk_inline", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "guid", "ownerId": null, "territory": null, "skills": {"german": 3}}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web", '
        '"channel": "booking-page"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "b5866390-fa5a-589b-835d-475d441ed70d", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'rescheduled': (
        '{"id": "bk_resched", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-02T09:00:00+01:00", "end": "2026-12-02T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web", "lastRescheduleReason": "conflict", '
        '"lastRescheduleBy": "invitee"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI2", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "0975216d-d9cd-5a12-98c0-54233bfe5a8d", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T10:30:00+01:00"}'
    ),
    'cancelled_by_invitee': (
        '{"id": "bk_cancel", "status": "cancelled", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI3", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "d4fc5391-3c91-533f-acd6-e9218ad62e86", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T11:30:00+01:00", "cancellation": {"reason": "Cannot make it", '
        '"source": "invitee", "by": "invitee", "at": "2026-11-20T10:30:00+00:00"}}'
    ),
    'cancelled_by_api': (
        '{"id": "bk_cancel_api", "status": "cancelled", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T09:00:00+01:00", '
        '"end": "2026-12-01T09:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h1"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "fixed", '
        '"reason": "first free host of the event type\'s hostIds"}, "outlook": {"eventId": null, '
        '"joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "53ee361e-b9d3-54ed-8dda-d6d2e9b79c78", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T11:30:00+01:00", "cancellation": {"reason": null, '
        '"source": "api", "by": "api", "at": "2026-11-20T10:30:00+00:00"}}'
    ),
    'reassigned': (
        '{"id": "bk_reassigned", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T09:00:00+01:00", '
        '"end": "2026-12-01T09:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h2"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": "rd_0002", "ruleSet": "default", "rule": "territory", '
        '"strategy": "reassigned", "reason": "reassigned from h1 to h2: vacation", '
        '"match": {"by": "leadEmail", "recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001", "others": ["lead-2"], '
        '"note": "two leads"}, "reassigned": {"from": "h1", "to": "h2", "reason": "vacation", '
        '"at": "2026-11-20T11:30:00+00:00"}}, "outlook": {"eventId": "AAMkAGI4", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "pending", '
        '"drift": null}, "dynamics": {"appointmentId": "ee9a60ce-d3d4-57a3-a9e0-38a9e8daebcd", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T12:30:00+01:00"}'
    ),
    'no_show_invitee': (
        '{"id": "bk_noshow", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI5", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "1741ec58-29e5-53ab-bd6f-7038f34c9eff", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-12-01T09:40:00+01:00", "attendance": {"status": "noShow", '
        '"party": "invitee", "at": "2026-12-01T09:40:00+01:00", "note": "did not dial in"}}'
    ),
    'no_show_host': (
        '{"id": "bk_noshow_host", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T09:00:00+01:00", '
        '"end": "2026-12-01T09:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h1"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "fixed", '
        '"reason": "first free host of the event type\'s hostIds"}, "outlook": {"eventId": null, '
        '"joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "68d198d3-a756-5d43-8604-e1049671eb20", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-12-01T09:40:00+01:00", "attendance": {"status": "noShow", '
        '"party": "host", "at": "2026-12-01T09:40:00+01:00"}}'
    ),
    'override': (
        '{"id": "bk_override", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "explicit", "reason": "hostId in the request", "override": {"reason": "VIP", '
        '"allow": ["caps", "outsideWorkingHours"]}}, "outlook": {"eventId": null, "joinUrl": null, '
        '"syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "eef4bdc2-c5c8-5771-8c24-9124a7df9804", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'override_then_reassigned_and_moved': (
        '{"id": "bk_override", "status": "confirmed", "version": 3, "eventType": "discovery-call", '
        '"start": "2026-12-01T11:00:00+01:00", "end": "2026-12-01T11:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h2"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "reassigned", "reason": "reassigned from h1 to h2: sick", '
        '"override": {"reason": "again", "allow": ["caps"]}, "reassigned": {"from": "h1", '
        '"to": "h2", "reason": "sick", "at": "2026-11-20T09:30:00+00:00"}}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "eef4bdc2-c5c8-5771-8c24-9124a7df9804", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T11:30:00+01:00"}'
    ),
    'reassigned_then_override': (
        '{"id": "bk_reassigned_override", "status": "confirmed", "version": 3, '
        '"eventType": "discovery-call", "start": "2026-12-01T11:00:00+01:00", '
        '"end": "2026-12-01T11:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h2"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web", '
        '"lastRescheduleReason": "vip"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "reassigned", "reason": "reassigned from h1 to h2: sick", '
        '"reassigned": {"from": "h1", "to": "h2", "reason": "sick", '
        '"at": "2026-11-20T09:30:00+00:00"}, "override": {"reason": "vip", "allow": ["caps"]}}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "895c1c42-8d72-5615-bb0f-ee7eaa0c11b3", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T11:30:00+01:00"}'
    ),
    'drift': (
        '{"id": "bk_drift", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI6", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": {"eventStart": "2026-12-01T09:00:00+00:00", '
        '"eventEnd": "2026-12-01T09:30:00+00:00", "bookingStart": "2026-12-01T08:00:00+00:00", '
        '"bookingEnd": "2026-12-01T08:30:00+00:00", "changed": ["start", "end"], '
        '"detectedAt": "2026-11-20T10:00:00+00:00"}}, '
        '"dynamics": {"appointmentId": "99fcd051-ebc5-53d7-9f4e-8a53d2662774", '
        '"syncStatus": "synced", "drift": {"scheduledstart": "2026-12-01T10:00:00+00:00", '
        '"scheduledend": "2026-12-01T10:30:00+00:00", "operationId": "op-1", '
        '"at": "2026-11-20T11:00:00+00:00", '
        '"reason": "Moved in Dynamics; policy flag: the booking keeps its time."}}, '
        '"createdAt": "2026-11-20T09:30:00+01:00", "updatedAt": "2026-11-20T13:30:00+01:00"}'
    ),
    'dynamics_drift_then_error': (
        '{"id": "bk_drift", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI6", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": {"eventStart": "2026-12-01T09:00:00+00:00", '
        '"eventEnd": "2026-12-01T09:30:00+00:00", "bookingStart": "2026-12-01T08:00:00+00:00", '
        '"bookingEnd": "2026-12-01T08:30:00+00:00", "changed": ["start", "end"], '
        '"detectedAt": "2026-11-20T10:00:00+00:00"}}, '
        '"dynamics": {"appointmentId": "99fcd051-ebc5-53d7-9f4e-8a53d2662774", '
        '"syncStatus": "failed", "drift": {"scheduledstart": "2026-12-01T10:00:00+00:00", '
        '"scheduledend": "2026-12-01T10:30:00+00:00", "operationId": "op-1", '
        '"at": "2026-11-20T11:00:00+00:00", '
        '"reason": "Moved in Dynamics; policy flag: the booking keeps its time."}, '
        '"error": "TransientError: 503 (gave up after 10 deliveries)"}, '
        '"createdAt": "2026-11-20T09:30:00+01:00", "updatedAt": "2026-11-20T13:30:00+01:00"}'
    ),
    'failed': (
        '{"id": "bk_failed", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "failed", "drift": null, '
        '"error": "MailboxUnavailable: mailbox h1 is not enabled"}, '
        '"dynamics": {"appointmentId": "97eca2cc-169d-5026-8156-bbe379d9e0c3", '
        '"syncStatus": "failed", "error": "PermanentError: 403"}, '
        '"createdAt": "2026-11-20T09:30:00+01:00", "updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'recovered': (
        '{"id": "bk_failed", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": "AAMkAGI7", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "synced", '
        '"drift": null}, "dynamics": {"appointmentId": "97eca2cc-169d-5026-8156-bbe379d9e0c3", '
        '"syncStatus": "synced"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'dynamics_error_then_drift': (
        '{"id": "bk_failed", "status": "confirmed", "version": 1, "eventType": "discovery-call", '
        '"start": "2026-12-01T09:00:00+01:00", "end": "2026-12-01T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h1"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web"}, "routing": {"decisionId": null, "rule": null, '
        '"strategy": "fixed", "reason": "first free host of the event type\'s hostIds"}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "failed", "drift": null, '
        '"error": "MailboxUnavailable: mailbox h1 is not enabled"}, '
        '"dynamics": {"appointmentId": "97eca2cc-169d-5026-8156-bbe379d9e0c3", '
        '"syncStatus": "failed", "error": "PermanentError: 403", '
        '"drift": {"scheduledstart": "2026-12-01T10:00:00+00:00", '
        '"scheduledend": "2026-12-01T10:30:00+00:00", "modifiedBy": "user-7", '
        '"at": "2026-11-20T11:00:00+00:00", '
        '"reason": "moved in Dynamics; policy flag: the booking keeps its time"}}, '
        '"createdAt": "2026-11-20T09:30:00+01:00", "updatedAt": "2026-11-20T09:30:00+01:00"}'
    ),
    'rerouted_by_rule_set': (
        '{"id": "bk_rerouted", "status": "confirmed", "version": 2, "eventType": "discovery-call", '
        '"start": "2026-12-03T09:00:00+01:00", "end": "2026-12-03T09:30:00+01:00", '
        '"timeZone": "Europe/Berlin", "hostIds": ["h3"], "invitee": {"name": "Jo Doe", '
        '"email": "jo@fabrikam.com", "phone": null}, "context": {"recordType": "lead", '
        '"recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, "answers": {"company": "Fabrikam"}, '
        '"metadata": {"utmSource": "web", "lastRescheduleReason": "new time", '
        '"lastRescheduleBy": "invitee"}, "routing": {"decisionId": "rd_0003", "rule": "territory", '
        '"ruleSet": "default", "match": {"by": "contactEmail", "recordType": "account", '
        '"recordId": "acc-1", "contactId": "c-1"}, "strategy": "rerouted", '
        '"reason": "rescheduled by invitee; routing decided again (territory EMEA): h3, '
        'free at the new time", "reassigned": {"from": "h1", "to": "h3", "reason": "new time", '
        '"by": "invitee", "at": "2026-11-20T13:30:00+00:00"}}, "outlook": {"eventId": "AAMkAGI8", '
        '"joinUrl": "https://teams.microsoft.com/l/meetup-join/x", "syncStatus": "pending", '
        '"drift": null}, "dynamics": {"appointmentId": "e5248e2e-2a43-51b0-b460-e094180bc1fd", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T14:30:00+01:00"}'
    ),
    'rerouted_fixed': (
        '{"id": "bk_rerouted_fixed", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-03T09:00:00+01:00", '
        '"end": "2026-12-03T09:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h3"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": null, "rule": null, "strategy": "rerouted", '
        '"reason": "rescheduled by invitee; routing decided again (the event type\'s hostIds): h3, '
        'free at the new time", "reassigned": {"from": "h1", "to": "h3", '
        '"reason": "rescheduled by invitee", "by": "invitee", "at": "2026-11-20T13:30:00+00:00"}}, '
        '"outlook": {"eventId": null, "joinUrl": null, "syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "1244f0c0-fb9e-5bb1-ba42-7cfb50cc40ff", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T14:30:00+01:00"}'
    ),
    'reassigned_by_rule_set_after_override': (
        '{"id": "bk_reassigned_svc", "status": "confirmed", "version": 2, '
        '"eventType": "discovery-call", "start": "2026-12-01T09:00:00+01:00", '
        '"end": "2026-12-01T09:30:00+01:00", "timeZone": "Europe/Berlin", "hostIds": ["h2"], '
        '"invitee": {"name": "Jo Doe", "email": "jo@fabrikam.com", "phone": null}, '
        '"context": {"recordType": "lead", "recordId": "6f1c2d3e-0000-4000-8000-000000000001"}, '
        '"answers": {"company": "Fabrikam"}, "metadata": {"utmSource": "web"}, '
        '"routing": {"decisionId": "rd_0003", "rule": "territory", "strategy": "reassigned", '
        '"reason": "reassigned from h1 to h2: leaving", "override": {"reason": "VIP", '
        '"allow": ["caps"]}, "reassigned": {"from": "h1", "to": "h2", "reason": "leaving", '
        '"at": "2026-11-20T13:30:00+00:00"}}, "outlook": {"eventId": null, "joinUrl": null, '
        '"syncStatus": "pending", "drift": null}, '
        '"dynamics": {"appointmentId": "c5230d1b-451a-557b-8f85-54cea9a7cba3", '
        '"syncStatus": "pending"}, "createdAt": "2026-11-20T09:30:00+01:00", '
        '"updatedAt": "2026-11-20T14:30:00+01:00"}'
    ),
}
# fmt: on


def _read(name: str) -> Booking:
    return booking_from_snapshot(
        json.loads(STORED[name]), buffer_before=timedelta(minutes=5), buffer_after=timedelta(minutes=10)
    )


@pytest.mark.parametrize("name", sorted(STORED))
def test_a_stored_booking_reads_back_and_is_written_again_byte_for_byte(name: str) -> None:
    assert json.dumps(booking_snapshot(_read(name))) == STORED[name]


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_a_stored_booking_renders_in_its_time_zone_as_before(name: str) -> None:
    assert json.dumps(booking_snapshot(_read(name), ZoneInfo("Europe/Berlin"))) == LOCAL[name]


# The same changes the documents above record, made by today's code: what it writes now is what the
# dict-based code wrote (stored rows and event snapshots alike).
T0 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FIXED = RoutingRecord(strategy="fixed", reason="first free host of the event type's hostIds")
LEAD = "6f1c2d3e-0000-4000-8000-000000000001"
ROUTED = RoutingRecord(
    decision_id="rd_0001",
    rule_set="default",
    rule="lead owner",
    strategy="owner",
    reason="record owner; picked h1, the first free host by fairness",
    match=Match(
        by=MatchedBy.LEAD_EMAIL, record_type="lead", record_id=LEAD, others=("lead-2",), note="two leads"
    ),
)
DECISION = StoredDecision(
    id="rd_0003",
    decision=RoutingDecision(
        rule_set="default",
        rule="territory",
        strategy="round-robin",
        host_ids=(),
        reason="territory EMEA",
        trace=(),
    ),
    inputs=RoutingInputs(
        rule_set=RuleSet(id="default", rules=()), context=RoutingContext(), hosts={}, now=T0
    ),
    match=Match(by=MatchedBy.CONTACT_EMAIL, record_type="account", record_id="acc-1", contact_id="c-1"),
)


def _new(booking_id: str, routing: RoutingRecord) -> Booking:
    return Booking(
        id=booking_id,
        status=BookingStatus.CONFIRMED,
        version=1,
        event_type="discovery-call",
        start=START,
        end=START + timedelta(minutes=30),
        time_zone="Europe/Berlin",
        host_ids=("h1",),
        invitee=Invitee(name="Jo Doe", email="jo@fabrikam.com"),
        buffer_before=timedelta(minutes=5),
        buffer_after=timedelta(minutes=10),
        created_at=T0,
        updated_at=T0,
        context={"recordType": "lead", "recordId": LEAD},
        answers={"company": "Fabrikam"},
        metadata={"utmSource": "web"},
        routing=routing,
        outlook=OutlookState(),
        dynamics=DynamicsState(appointment_id=appointment_id(booking_id)),
    )


def _synced(booking: Booking, event_id: str) -> Booking:
    """Both syncs report success as sync_runner does (`record_sync` with their reports)."""
    join = "https://teams.microsoft.com/l/meetup-join/x"
    outlook = {"eventId": event_id, "joinUrl": join, "drift": None, "error": None, "syncStatus": "synced"}
    dynamics: dict[str, Any] = {"appointmentId": appointment_id(booking.id), "syncStatus": "synced"}
    if booking.dynamics.error is not None:
        dynamics["error"] = None
    return replace(
        booking, outlook=booking.outlook.merged(outlook), dynamics=booking.dynamics.merged(dynamics)
    )


def _written(booking: Booking) -> str:
    return json.dumps(booking_snapshot(booking))


def test_a_cancel_and_a_no_show_are_written_as_before() -> None:
    cancelled = _synced(_new("bk_cancel", FIXED), "AAMkAGI3").cancelled(
        T0 + timedelta(hours=2), "Cannot make it", "invitee"
    )
    assert _written(cancelled) == STORED["cancelled_by_invitee"]
    late = START + timedelta(minutes=40)
    no_show = _synced(_new("bk_noshow", FIXED), "AAMkAGI5").marked_no_show(
        AttendanceParty.INVITEE, "did not dial in", late
    )
    assert _written(no_show) == STORED["no_show_invitee"]


def test_sync_reports_and_drift_are_written_as_before() -> None:
    failed = _new("bk_failed", FIXED)
    failed = replace(
        failed,
        outlook=failed.outlook.merged(
            {"syncStatus": "failed", "error": "MailboxUnavailable: mailbox h1 is not enabled"}
        ),
        dynamics=failed.dynamics.merged(
            {
                "appointmentId": appointment_id("bk_failed"),
                "syncStatus": "failed",
                "error": "PermanentError: 403",
            }
        ),
    )
    assert _written(failed) == STORED["failed"]
    assert _written(_synced(failed, "AAMkAGI7")) == STORED["recovered"]
    moved = DynamicsDrift(
        scheduled_start=datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        scheduled_end=datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
        seen_by=DriftSeenBy.RECONCILE,
        modified_by="user-7",
        at=datetime(2026, 11, 20, 11, 0, tzinfo=UTC),
        reason="moved in Dynamics; policy flag: the booking keeps its time",
    )
    drifted = replace(failed, dynamics=failed.dynamics.merged({"drift": moved.to_json()}))
    assert _written(drifted) == STORED["dynamics_error_then_drift"]


def test_a_reroute_and_a_reassignment_write_their_routing_as_before() -> None:
    at = T0 + timedelta(hours=5)
    old = _synced(_new("bk_rerouted", ROUTED), "AAMkAGI8")
    rerouted = old.rerouted(
        START + timedelta(days=2),
        "h3",
        at,
        "new time",
        _rerouted_routing(old, "h3", DECISION, "new time", "invitee", at),
    )
    rerouted = replace(rerouted, metadata={**rerouted.metadata, "lastRescheduleBy": "invitee"})
    assert _written(rerouted) == STORED["rerouted_by_rule_set"]
    fixed = _new("bk_rerouted_fixed", FIXED)
    rerouted = fixed.rerouted(
        START + timedelta(days=2), "h3", at, None, _rerouted_routing(fixed, "h3", None, None, "invitee", at)
    )
    assert _written(rerouted) == STORED["rerouted_fixed"]
    overridden = _new("bk_reassigned_svc", FIXED.changed(override=Override.of("VIP", ["caps"])))
    routing = BookingService._reassigned_routing(overridden, "h2", "h1", "leaving", DECISION, at)
    assert (
        _written(overridden.reassigned("h1", "h2", at, routing))
        == STORED["reassigned_by_rule_set_after_override"]
    )
