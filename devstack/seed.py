"""The demo tenant `make run` seeds: three reps, their Outlook calendars, three event types.

Idempotent: users are created only when missing, calendars are filled only when
empty, and configuration is PUT (create or replace), so a second start neither
duplicates nor resets anything.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import httpx

BEARER = {"Authorization": "Bearer demo-seed"}

HOSTS = [
    (
        "6f1c1a52-5d8e-4c1b-9a77-00000000a001",
        "Ana Ruiz",
        "ana@contoso.com",
        "W. Europe Standard Time",
        "Europe/Berlin",
        ["DACH"],
        {"german": 5, "field-service": 2},
    ),
    (
        "6f1c1a52-5d8e-4c1b-9a77-00000000a002",
        "Ben Carter",
        "ben@contoso.com",
        "Eastern Standard Time",
        "America/New_York",
        ["US-East"],
        {"field-service": 4},
    ),
    (
        "6f1c1a52-5d8e-4c1b-9a77-00000000a003",
        "Chloé Martin",
        "chloe@contoso.com",
        "Romance Standard Time",
        "Europe/Paris",
        ["FR"],
        {"french": 5},
    ),
]


def _busy_items(start: date, days: int) -> list[tuple[date, str, str, str]]:
    items = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        items.append((day, "10:00", "11:00", "busy"))
        if offset % 2:
            items.append((day, "14:00", "15:30", "tentative"))
        if offset % 5 == 3:
            items.append((day, "12:00", "13:00", "free"))
    return items


#: Dynamics side of the demo: a systemuser per rep (Entra object id = host id), a lead owned by Ana,
#: a team (Ben and Chloé) owning a second lead, and an account whose CSM team is Chloé.
SYSTEMUSERS = {h[0]: f"5e5e5e5e-0000-4000-8000-00000000b00{i + 1}" for i, h in enumerate(HOSTS)}
LEAD_OF_ANA = "1ead0000-0000-4000-8000-000000000001"
LEAD_OF_TEAM = "1ead0000-0000-4000-8000-000000000002"
TEAM = "7ea70000-0000-4000-8000-000000000001"
ACCOUNT = "acc00000-0000-4000-8000-000000000001"
OPPORTUNITY = "0bb00000-0000-4000-8000-000000000001"
#: Matching (issue 15): an account with a website, owned by Ben, and a contact at it.
NORTHWIND = "acc00000-0000-4000-8000-000000000002"
NORTHWIND_CONTACT = "c0000000-0000-4000-8000-000000000001"


def _seed_dataverse(client: httpx.Client, dataverse: str) -> int:
    """Create the demo's Dynamics rows when missing; returns how many were created."""
    created = 0

    def ensure(entity_set: str, key: str, body: dict[str, object]) -> None:
        nonlocal created
        if client.get(f"{dataverse}/{entity_set}({key})", headers=BEARER).status_code == 404:
            client.post(f"{dataverse}/{entity_set}", headers=BEARER, json=body).raise_for_status()
            created += 1

    for host_id, name, mail, *_ in HOSTS:
        first, _, last = name.partition(" ")
        ensure(
            "systemusers",
            SYSTEMUSERS[host_id],
            {
                "systemuserid": SYSTEMUSERS[host_id],
                "firstname": first,
                "lastname": last,
                "internalemailaddress": mail,
                "azureactivedirectoryobjectid": host_id,
            },
        )
    ana, ben, chloe = (SYSTEMUSERS[h[0]] for h in HOSTS)
    if client.get(f"{dataverse}/teams({TEAM})", headers=BEARER).status_code == 404:
        ensure("teams", TEAM, {"teamid": TEAM, "name": "Inside sales", "teamtype": 0})
        for member in (ben, chloe):
            client.post(
                f"{dataverse}/teams({TEAM})/teammembership_association/$ref",
                headers=BEARER,
                json={"@odata.id": f"{dataverse}/systemusers({member})"},
            ).raise_for_status()
    ensure(
        "leads",
        LEAD_OF_ANA,
        {
            "leadid": LEAD_OF_ANA,
            "subject": "Berlin roll-out",
            "lastname": "Weber",
            "companyname": "Fabrikam GmbH",
            "address1_country": "DE",
            "ownerid@odata.bind": f"/systemusers({ana})",
        },
    )
    ensure(
        "leads",
        LEAD_OF_TEAM,
        {
            "leadid": LEAD_OF_TEAM,
            "subject": "Pilot",
            "lastname": "Moreau",
            "address1_country": "FR",
            "ownerid@odata.bind": f"/teams({TEAM})",
        },
    )
    ensure("accounts", ACCOUNT, {"accountid": ACCOUNT, "name": "Fabrikam", "address1_country": "US"})
    csm_team = "7ea70000-0000-4000-8000-000000000002"
    if client.get(f"{dataverse}/teams({csm_team})", headers=BEARER).status_code == 404:
        ensure("teams", csm_team, {"teamid": csm_team, "name": f"{ACCOUNT}+CSM", "teamtype": 1})
        client.post(
            f"{dataverse}/teams({csm_team})/teammembership_association/$ref",
            headers=BEARER,
            json={"@odata.id": f"{dataverse}/systemusers({chloe})"},
        ).raise_for_status()
    ensure(
        "accounts",
        NORTHWIND,
        {
            "accountid": NORTHWIND,
            "name": "Northwind Traders",
            "websiteurl": "https://www.northwind.example",
            "ownerid@odata.bind": f"/systemusers({ben})",
        },
    )
    ensure(
        "contacts",
        NORTHWIND_CONTACT,
        {
            "contactid": NORTHWIND_CONTACT,
            "firstname": "Nina",
            "lastname": "Patel",
            "emailaddress1": "nina@northwind.example",
            "parentcustomerid_account@odata.bind": f"/accounts({NORTHWIND})",
        },
    )
    ensure(
        "opportunities",
        OPPORTUNITY,
        {
            "opportunityid": OPPORTUNITY,
            "name": "Fabrikam expansion",
            "parentaccountid@odata.bind": f"/accounts({ACCOUNT})",
        },
    )
    return created


def seed_demo_tenant(*, api: str, graph: str, dataverse: str) -> str:
    admin = {"x-functions-key": os.environ.get("ADMIN_API_KEY", "")}
    created_users = filled = 0
    with httpx.Client(timeout=30) as client:
        # The mailbox reminders are sent from (REMINDER_SENDER): Graph sends only from a real mailbox.
        sender = os.environ.get("REMINDER_SENDER") or "scheduling@contoso.com"
        if client.get(f"{graph}/users/{sender}", headers=BEARER).status_code == 404:
            client.post(
                f"{graph}/users",
                headers=BEARER,
                json={"displayName": "Scheduling", "mail": sender, "userPrincipalName": sender},
            ).raise_for_status()
        for host_id, name, mail, windows_zone, iana_zone, territories, skills in HOSTS:
            if client.get(f"{graph}/users/{host_id}", headers=BEARER).status_code == 404:
                client.post(
                    f"{graph}/users",
                    headers=BEARER,
                    json={
                        "id": host_id,
                        "displayName": name,
                        "mail": mail,
                        "userPrincipalName": mail,
                        "accountEnabled": True,
                    },
                ).raise_for_status()
                created_users += 1
            existing = client.get(f"{graph}/users/{host_id}/events", params={"$top": "1"}, headers=BEARER)
            existing.raise_for_status()
            if not existing.json().get("value"):
                for day, start, end, show_as in _busy_items(datetime.now(UTC).date(), 21):
                    client.post(
                        f"{graph}/users/{host_id}/events",
                        headers=BEARER,
                        json={
                            "subject": "Customer meeting" if show_as == "busy" else "Internal sync",
                            "showAs": show_as,
                            "start": {"dateTime": f"{day}T{start}:00", "timeZone": windows_zone},
                            "end": {"dateTime": f"{day}T{end}:00", "timeZone": windows_zone},
                        },
                    ).raise_for_status()
                filled += 1
            client.put(
                f"{api}/admin/hosts/{host_id}",
                headers=admin,
                json={
                    "email": mail,
                    "displayName": name,
                    "timeZone": iana_zone,
                    "workingHours": [
                        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
                    ],
                    "dateOverrides": [],
                    "skills": skills,
                    "territories": territories,
                    "weight": 100,
                    "maxMeetingsPerDay": 6,
                    "active": True,
                    "dynamicsUserId": None,
                },
            ).raise_for_status()
        dynamics_rows = _seed_dataverse(client, dataverse)
        ana, ben, chloe = (h[0] for h in HOSTS)
        client.put(
            f"{api}/admin/routing/default",
            headers=admin,
            json={
                "rules": [
                    {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
                    {
                        "name": "account team",
                        "when": {"recordType": ["opportunity", "account"]},
                        "strategy": "accountTeam",
                        "role": "CSM",
                    },
                    {
                        "name": "territory",
                        "strategy": "territory",
                        "territories": {
                            "DACH": {"countries": ["DE", "AT", "CH"]},
                            "FR": {"countries": ["FR"]},
                            "US-East": {"postalPrefixes": ["0", "1", "2"]},
                        },
                    },
                    {"name": "german speakers", "strategy": "skills", "require": {"german": 3}},
                    {
                        "name": "fallback",
                        "strategy": "roundRobin",
                        "pool": [ana, ben, chloe],
                        "fairness": "leastRecentlyBooked",
                    },
                ],
                "eligibility": {"excludeOutOfOffice": True, "respectDailyCaps": True},
            },
        ).raise_for_status()
        client.put(
            f"{api}/admin/routing/matching",
            headers=admin,
            json={
                "rules": [
                    {"name": "lead owner", "when": {"recordType": ["lead"]}, "strategy": "owner"},
                    {"name": "account owner", "when": {"recordType": ["account"]}, "strategy": "owner"},
                    {"name": "fallback", "strategy": "roundRobin", "pool": [ana, chloe]},
                ],
                "matching": {
                    "byContactEmail": True,
                    "byLeadEmail": True,
                    "byAccountDomain": True,
                    "createLead": True,
                },
            },
        ).raise_for_status()
        event_types = {
            "discovery-call": {
                "title": "Sales discovery call",
                "durationMinutes": 30,
                "assignment": "single",
                "hostIds": [ana],
                "bufferAfterMinutes": 10,
                "minimumNoticeMinutes": 120,
                "public": True,  # on the booking page (issue 13: event types are private by default)
            },
            "team-intro": {
                "title": "Meet the team",
                "durationMinutes": 30,
                "slotIntervalMinutes": 15,
                "assignment": "roundRobin",
                "hostIds": [ana, ben, chloe],
                "public": True,
            },
            "deal-review": {
                "title": "Deal review",
                "durationMinutes": 60,
                "assignment": "collective",
                "hostIds": [ana, chloe],
                "bufferBeforeMinutes": 15,
            },
            "routed-intro": {
                "title": "Intro with the right rep",
                "durationMinutes": 30,
                "assignment": "roundRobin",
                "routingRuleSet": "default",
                "public": True,
            },
            # Routed by the invitee's email (contact, lead, company domain); strangers become leads.
            "matched-intro": {
                "title": "Talk to your account manager",
                "durationMinutes": 30,
                "assignment": "roundRobin",
                "routingRuleSet": "matching",
                "public": True,
                # Asked first on the page; `company` names a lead created for a stranger (createLead).
                "questions": [
                    {"id": "company", "label": "Company", "kind": "text", "required": False},
                    {
                        "id": "topic",
                        "label": "What would you like to discuss?",
                        "kind": "select",
                        "options": ["Renewal", "Expansion", "Support"],
                        "required": False,
                    },
                ],
            },
        }
        for slug, body in event_types.items():
            client.put(
                f"{api}/admin/event-types/{slug}",
                headers=admin,
                json={
                    "bookingWindowDays": 60,
                    "location": {"kind": "teams", "value": None},
                    **body,
                },
            ).raise_for_status()
    today = datetime.now(UTC).date()
    return (
        f"Demo tenant: {len(HOSTS)} hosts ({created_users} new mailboxes, {filled} calendars filled, "
        f"{dynamics_rows} new Dynamics rows), rule set 'default', event types {', '.join(event_types)}.\n"
        f"  routed: GET {api}/slots?eventType=routed-intro&start={today}&end={today + timedelta(days=6)}"
        f"&recordType=lead&recordId={LEAD_OF_ANA}\n"
        f"  matched by email: GET {api}/slots?eventType=matched-intro&start={today}"
        f"&end={today + timedelta(days=6)}&email=nina@northwind.example\n"
        f"  e.g. GET {api}/slots?eventType=discovery-call&start={today}&end={today + timedelta(days=6)}"
        "&timeZone=Europe/Berlin"
    )
