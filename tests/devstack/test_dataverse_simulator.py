"""The Dataverse simulator over real HTTP: Web API semantics, faults, persistence, reference, contract."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.dataverse_sim import create_app
from devstack.dataverse_sim.schema import REFERENCE_FILE
from devstack.serving import serve_in_thread
from tests.fixtures.dataverse import SHARED, DataverseSim, new_guid

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ANNOTATED = {"Prefer": 'odata.include-annotations="*"'}


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# -- the basics -------------------------------------------------------------------------------------


def test_every_web_api_route_needs_a_bearer_token(dataverse: DataverseSim) -> None:
    lead = dataverse.create("leads", {"lastname": "Lee"})
    for method, path in (
        ("GET", "leads"),
        ("POST", "leads"),
        ("GET", f"leads({lead})"),
        ("PATCH", f"leads({lead})"),
        ("DELETE", f"leads({lead})"),
        ("GET", "WhoAmI"),
    ):
        response = dataverse.http.request(method, f"{dataverse.api}/{path}", json={"lastname": "x"})
        assert response.status_code == 401, (method, path)
        assert response.headers["OData-Version"] == "4.0"
        assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
        assert response.json()["error"]["message"]
    no_token = dataverse.call("GET", f"leads({lead})", headers={"Authorization": "Basic abc"})
    assert no_token.status_code == 401
    assert dataverse.row("leads", lead)["lastname"] == "Lee"  # nothing above changed it


def test_rows_are_created_read_updated_and_deleted(dataverse: DataverseSim) -> None:
    lead = new_guid()
    created = dataverse.call("POST", "leads", json={"leadid": lead, "subject": "Demo", "lastname": "Lee"})
    assert created.status_code == 204 and created.text == ""
    assert created.headers["OData-EntityId"] == f"{dataverse.api}/leads({lead})"
    assert created.headers["OData-Version"] == "4.0"

    got = dataverse.call("GET", f"leads({lead})")
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("application/json")
    row = got.json()
    assert row["@odata.context"] == f"{dataverse.api}/$metadata#leads/$entity"
    assert row["leadid"] == lead and row["subject"] == "Demo" and row["fullname"] == "Lee"
    assert row["statecode"] == 0 and row["statuscode"] == 1  # Open / New
    assert row["_ownerid_value"] is None and row["emailaddress1"] is None  # every column, null when unset
    etag = row["@odata.etag"]
    assert got.headers["ETag"] == etag

    updated = dataverse.call("PATCH", f"leads({lead})", json={"subject": "Demo 2", "firstname": "Kim"})
    assert updated.status_code == 204
    again = dataverse.row("leads", lead, **{"$select": "subject,fullname"})
    assert again["subject"] == "Demo 2" and again["fullname"] == "Kim Lee"
    assert again["@odata.etag"] != etag
    assert set(again) == {
        "@odata.context",
        "@odata.etag",
        "leadid",
        "subject",
        "fullname",
    }  # id always returned

    assert dataverse.call("DELETE", f"leads({lead})").status_code == 204
    missing = dataverse.call("GET", f"leads({lead})")
    assert missing.status_code == 404 and error_code(missing) == "0x80040217"
    assert dataverse.call("DELETE", f"leads({lead})").status_code == 404


def test_return_representation_answers_with_the_row(dataverse: DataverseSim) -> None:
    prefer = {"Prefer": "return=representation"}
    created = dataverse.call("POST", "accounts?$select=name", json={"name": "Contoso"}, headers=prefer)
    assert created.status_code == 201
    assert created.headers["Preference-Applied"] == "return=representation"
    body = created.json()
    assert body["name"] == "Contoso" and set(body) == {"@odata.context", "@odata.etag", "accountid", "name"}
    updated = dataverse.call(
        "PATCH", f"accounts({body['accountid']})", json={"name": "Fabrikam"}, headers=prefer
    )
    assert updated.status_code == 200 and updated.json()["name"] == "Fabrikam"


def test_a_create_with_a_taken_id_is_a_duplicate(dataverse: DataverseSim) -> None:
    contact = dataverse.create("contacts", {"lastname": "Ng"})
    again = dataverse.call("POST", "contacts", json={"contactid": contact, "lastname": "Ng"})
    assert again.status_code == 412 and error_code(again) == "0x80040237"


def test_patch_upserts_and_if_match_and_if_none_match_restrict_it(dataverse: DataverseSim) -> None:
    account = new_guid()
    update_only = dataverse.call(
        "PATCH", f"accounts({account})", json={"name": "A"}, headers={"If-Match": "*"}
    )
    # Microsoft's own "Prevent create in upsert" example answers with an empty code.
    assert update_only.status_code == 404 and error_code(update_only) == ""

    upserted = dataverse.call("PATCH", f"accounts({account})", json={"name": "A"})
    assert upserted.status_code == 204
    assert upserted.headers["OData-EntityId"].endswith(f"accounts({account})")
    assert dataverse.row("accounts", account)["name"] == "A"

    create_only = dataverse.call(
        "PATCH", f"accounts({account})", json={"name": "B"}, headers={"If-None-Match": "*"}
    )
    assert create_only.status_code == 412 and error_code(create_only) == "0x80040237"
    assert (
        dataverse.call(
            "PATCH", f"accounts({account})", json={"name": "B"}, headers={"If-Match": "*"}
        ).status_code
        == 204
    )

    etag = dataverse.row("accounts", account)["@odata.etag"]
    assert (
        dataverse.call(
            "PATCH", f"accounts({account})", json={"name": "C"}, headers={"If-Match": etag}
        ).status_code
        == 204
    )
    stale = dataverse.call("PATCH", f"accounts({account})", json={"name": "D"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and error_code(stale) == "0x80060882"
    assert dataverse.row("accounts", account)["name"] == "C"

    fresh = new_guid()
    created = dataverse.call(
        "PATCH", f"accounts({fresh})", json={"name": "E"}, headers={"If-None-Match": "*"}
    )
    assert created.status_code == 204 and dataverse.row("accounts", fresh)["name"] == "E"
    mismatched = dataverse.call("PATCH", f"accounts({new_guid()})", json={"accountid": fresh, "name": "F"})
    assert mismatched.status_code == 400


def test_names_outside_the_reference_are_refused_as_dataverse_refuses_them(dataverse: DataverseSim) -> None:
    unknown_set = dataverse.call("GET", "Leads")
    assert unknown_set.status_code == 404 and error_code(unknown_set) == "0x8006088a"
    assert "'Leads'" in unknown_set.json()["error"]["message"]

    unknown_column = dataverse.call("POST", "leads", json={"lastname": "Lee", "Subject": "x"})
    assert unknown_column.status_code == 400
    assert "Invalid property 'Subject'" in unknown_column.json()["error"]["message"]

    unknown_navigation = dataverse.call(
        "POST", "contacts", json={"parentcustomerid@odata.bind": f"/accounts({new_guid()})"}
    )
    assert unknown_navigation.status_code == 400 and error_code(unknown_navigation) == "0x80048d19"

    for body in ({"ownerid": new_guid()}, {"_ownerid_value": new_guid()}, {"owneridname": "x"}):
        assert dataverse.call("POST", "leads", json=body).status_code == 400, body

    bad_select = dataverse.call("GET", "accounts", params={"$select": "Name"})
    assert bad_select.status_code == 400
    assert bad_select.json()["error"]["message"] == (
        "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."
    )
    assert dataverse.call("GET", "accounts", params={"$filter": "ownerid eq null"}).status_code == 400
    assert dataverse.call("GET", "accounts", params={"$orderby": "nope"}).status_code == 400
    assert dataverse.call("GET", "accounts", params={"$skip": "2"}).status_code == 400
    assert dataverse.call("GET", "accounts", params={"$filter": "name eq"}).status_code == 400


def test_writes_are_checked_against_column_types_and_writability(dataverse: DataverseSim) -> None:
    read_only = dataverse.call("POST", "contacts", json={"lastname": "Ng", "fullname": "X"})
    assert read_only.status_code == 400 and "not valid for create" in read_only.json()["error"]["message"]
    assert dataverse.call("POST", "appointments", json={"activitytypecode": "task"}).status_code == 400
    assert dataverse.call("POST", "accounts", json={"name": 7}).status_code == 400
    assert dataverse.call("POST", "accounts", json={"numberofemployees": "7"}).status_code == 400
    assert dataverse.call("POST", "appointments", json={"scheduledstart": "tomorrow"}).status_code == 400
    out_of_range = dataverse.call("POST", "leads", json={"lastname": "x", "prioritycode": 99})
    assert out_of_range.status_code == 400 and error_code(out_of_range) == "0x80044331"
    assert dataverse.call("POST", "leads", json="not an object").status_code == 400
    # Seeding exception: azureactivedirectoryobjectid is read-only in Dataverse but may be given on create...
    aad = new_guid()
    user = dataverse.create("systemusers", {"lastname": "Li", "azureactivedirectoryobjectid": aad.upper()})
    assert dataverse.row("systemusers", user)["azureactivedirectoryobjectid"] == aad
    # ...and only on create.
    assert (
        dataverse.call(
            "PATCH", f"systemusers({user})", json={"azureactivedirectoryobjectid": aad}
        ).status_code
        == 400
    )


def test_statecode_is_refused_on_create_and_moved_by_a_later_update(dataverse: DataverseSim) -> None:
    with_state = dataverse.call("POST", "appointments", json={"subject": "Call", "statecode": 3})
    assert with_state.status_code == 400 and "statecode" in with_state.json()["error"]["message"]
    assert dataverse.call("POST", "leads", json={"lastname": "x", "statecode": 1}).status_code == 400
    wrong_status = dataverse.call("POST", "appointments", json={"subject": "Call", "statuscode": 5})
    assert wrong_status.status_code == 400 and error_code(wrong_status) == "0x80048408"

    appointment = dataverse.create(
        "appointments",
        {
            "subject": "Call",
            "scheduledstart": "2026-12-01T09:00:00+01:00",
            "scheduledend": "2026-12-01T08:30:00Z",
        },
    )
    row = dataverse.row(
        "appointments", appointment, **{"$select": "statecode,statuscode,scheduledstart,activitytypecode"}
    )
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] == "Open"
    assert row["scheduledstart"] == "2026-12-01T08:00:00Z" and row["activitytypecode"] == "appointment"

    assert dataverse.call("PATCH", f"appointments({appointment})", json={"statecode": 2}).status_code == 204
    cancelled = dataverse.row("appointments", appointment, **{"$select": "statecode,statuscode"})
    assert (cancelled["statecode"], cancelled["statuscode"]) == (2, 4)  # Canceled, its default status
    mismatch = dataverse.call("PATCH", f"appointments({appointment})", json={"statecode": 3, "statuscode": 4})
    assert mismatch.status_code == 400 and error_code(mismatch) == "0x80048408"
    assert dataverse.call("PATCH", f"appointments({appointment})", json={"statuscode": 6}).status_code == 204
    assert dataverse.row("appointments", appointment, **{"$select": "statecode"})["statecode"] == 3


# -- lookups ----------------------------------------------------------------------------------------


def test_lookups_are_bound_by_navigation_property_and_read_back_as_values(dataverse: DataverseSim) -> None:
    user = dataverse.create_user(first_name="Ana", last_name="Lopez")
    team = dataverse.create_team("Sales West")
    account = dataverse.create_account("Contoso", owner=("systemusers", user))
    lead = dataverse.create(
        "leads",
        {
            "lastname": "Lee",
            "ownerid@odata.bind": f"{dataverse.api}/teams({team})",  # absolute URLs bind too
            "parentaccountid@odata.bind": f"/accounts({account})",
            "customerid_account@odata.bind": f"accounts({account})",
        },
    )
    plain = dataverse.call(
        "GET", f"leads({lead})", params={"$select": "_ownerid_value,_parentaccountid_value"}
    ).json()
    assert plain["_ownerid_value"] == team and plain["_parentaccountid_value"] == account
    assert not [
        key for key in plain if "@" in key and not key.startswith("@odata.")
    ]  # no annotations unasked

    row = dataverse.row("leads", lead)
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "ownerid"
    assert row["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == "Sales West"
    assert row["_owningteam_value"] == team and row["_owninguser_value"] is None
    assert row["_customerid_value"] == account
    assert row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"

    owner = dataverse.row("accounts", account, **{"$select": "_ownerid_value,_owninguser_value"})
    assert owner["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"
    assert owner["_owninguser_value"] == user

    only_lookup_name = dataverse.call(
        "GET",
        f"leads({lead})",
        params={"$select": "_ownerid_value"},
        headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'},
    ).json()
    assert [key for key in only_lookup_name if key.startswith("_ownerid_value@")] == [
        "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
    ]

    appointment = dataverse.create(
        "appointments",
        {"subject": "Intro", "regardingobjectid_lead_appointment@odata.bind": f"/leads({lead})"},
    )
    regarding = dataverse.row("appointments", appointment, **{"$select": "_regardingobjectid_value"})
    assert regarding["_regardingobjectid_value"] == lead
    assert regarding["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "lead"

    missing = dataverse.call("POST", "leads", json={"parentaccountid@odata.bind": f"/accounts({new_guid()})"})
    assert missing.status_code == 404 and error_code(missing) == "0x80040217"
    wrong_table = dataverse.call("POST", "leads", json={"parentaccountid@odata.bind": f"/leads({lead})"})
    assert wrong_table.status_code == 400
    not_a_reference = dataverse.call("POST", "leads", json={"parentaccountid@odata.bind": "Contoso"})
    assert not_a_reference.status_code == 400

    assert (
        dataverse.call("PATCH", f"leads({lead})", json={"parentaccountid@odata.bind": None}).status_code
        == 204
    )
    assert dataverse.call("DELETE", f"leads({lead})/customerid_account/$ref").status_code == 204
    cleared = dataverse.row("leads", lead, **{"$select": "_parentaccountid_value,_customerid_value"})
    assert cleared["_parentaccountid_value"] is None and cleared["_customerid_value"] is None


# -- queries ----------------------------------------------------------------------------------------


def test_filter_select_orderby_and_top_work_as_in_dataverse(dataverse: DataverseSim) -> None:
    owner = dataverse.create_user()
    other = dataverse.create_user(first_name="Bo")
    rows = [
        ("Ada", "DE", 50, True, owner),
        ("bob", "AT", 10, False, owner),
        ("Cy", "DE", None, False, other),
        ("O'Hara", None, 30, True, other),
    ]
    for name, country, employees, credit_hold, user in rows:
        dataverse.create(
            "accounts",
            {
                "name": name,
                "address1_country": country,
                "numberofemployees": employees,
                "creditonhold": credit_hold,
                "ownerid@odata.bind": f"/systemusers({user})",
            },
        )

    def names(**params: str) -> list[str]:
        response = dataverse.call("GET", "accounts", params={"$select": "name", **params})
        assert response.status_code == 200, response.text
        return [row["name"] for row in response.json()["value"]]

    assert names(**{"$filter": "address1_country eq 'de'"}) == ["Ada", "Cy"]  # strings ignore case
    assert names(**{"$filter": f"_ownerid_value eq {owner} and numberofemployees gt 20"}) == ["Ada"]
    assert names(**{"$filter": f"_ownerid_value eq {other.upper()}"}) == ["Cy", "O'Hara"]
    assert names(**{"$filter": "name eq 'O''Hara'"}) == ["O'Hara"]
    assert names(**{"$filter": "address1_country eq null or creditonhold eq false"}) == [
        "bob",
        "Cy",
        "O'Hara",
    ]
    assert names(**{"$filter": "not (numberofemployees ge 30) and numberofemployees ne null"}) == ["bob"]
    assert names(**{"$filter": "contains(name,'a') and startswith(name,'o')"}) == ["O'Hara"]
    assert names(**{"$orderby": "numberofemployees desc,name"}) == ["Ada", "O'Hara", "bob", "Cy"]
    assert names(**{"$orderby": "name asc", "$top": "2"}) == ["Ada", "bob"]
    counted = dataverse.call(
        "GET", "accounts", params={"$select": "name", "$count": "true", "$top": "1"}
    ).json()
    assert counted["@odata.count"] == 4 and len(counted["value"]) == 1
    assert counted["@odata.context"] == f"{dataverse.api}/$metadata#accounts(name)"


def test_queries_page_through_absolute_next_links(dataverse: DataverseSim) -> None:
    for number in range(7):
        dataverse.create("contacts", {"lastname": f"Person {number}"})
    prefer = {"Prefer": "odata.maxpagesize=3"}
    first = dataverse.call(
        "GET", "contacts", params={"$select": "lastname", "$orderby": "lastname"}, headers=prefer
    )
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=3"
    pages = [first.json()]
    while "@odata.nextLink" in pages[-1]:
        link = pages[-1]["@odata.nextLink"]
        assert link.startswith(f"{dataverse.api}/contacts?") and "$skiptoken=" in link
        response = dataverse.http.get(link, headers={**dataverse.auth, **prefer})
        assert response.status_code == 200, response.text
        pages.append(response.json())
    assert [len(page["value"]) for page in pages] == [3, 3, 1]
    seen = [row["lastname"] for page in pages for row in page["value"]]
    assert seen == [f"Person {number}" for number in range(7)]


def test_expand_reads_single_and_collection_valued_navigation_properties(dataverse: DataverseSim) -> None:
    account = dataverse.create_account("Contoso", country="DE", postal_code="10115")
    opportunity = dataverse.create(
        "opportunities", {"name": "Deal", "parentaccountid@odata.bind": f"/accounts({account})"}
    )
    row = dataverse.row(
        "opportunities",
        opportunity,
        **{"$select": "name", "$expand": "parentaccountid($select=name,address1_country)"},
    )
    assert row["parentaccountid"]["name"] == "Contoso" and row["parentaccountid"]["address1_country"] == "DE"
    assert set(row["parentaccountid"]) == {"@odata.etag", "accountid", "name", "address1_country"}
    no_account = dataverse.create("opportunities", {"name": "Orphan"})
    assert (
        dataverse.row("opportunities", no_account, **{"$expand": "parentaccountid"})["parentaccountid"]
        is None
    )
    related = dataverse.call(
        "GET", f"opportunities({opportunity})/parentaccountid", params={"$select": "name"}
    )
    assert related.status_code == 200 and related.json()["name"] == "Contoso"
    assert dataverse.call("GET", f"opportunities({no_account})/parentaccountid").status_code == 204

    contact = dataverse.create(
        "contacts", {"lastname": "Ng", "parentcustomerid_account@odata.bind": f"/accounts({account})"}
    )
    contacts = dataverse.row(
        "accounts", account, **{"$select": "name", "$expand": "contact_customer_accounts($select=lastname)"}
    )
    assert [c["contactid"] for c in contacts["contact_customer_accounts"]] == [contact]
    assert dataverse.call("GET", "accounts", params={"$expand": "nope"}).status_code == 400


def test_team_membership_is_associated_read_and_disassociated(dataverse: DataverseSim) -> None:
    aad = [new_guid(), new_guid()]
    ana = dataverse.create_user(aad_object_id=aad[0], first_name="Ana")
    bo = dataverse.create_user(aad_object_id=aad[1], first_name="Bo")
    team = dataverse.create_team("Support", members=[ana])
    by_user_side = dataverse.call(
        "POST",
        f"systemusers({bo})/teammembership_association/$ref",
        json={"@odata.id": f"{dataverse.api}/teams({team})"},
    )
    assert by_user_side.status_code == 204
    again = dataverse.call(
        "POST",
        f"teams({team})/teammembership_association/$ref",
        json={"@odata.id": f"{dataverse.api}/systemusers({ana})"},
    )
    assert again.status_code == 412 and error_code(again) == "0x80040237"
    wrong = dataverse.call(
        "POST",
        f"teams({team})/teammembership_association/$ref",
        json={"@odata.id": f"{dataverse.api}/teams({team})"},
    )
    assert wrong.status_code == 400
    absent = dataverse.call(
        "POST",
        f"teams({team})/teammembership_association/$ref",
        json={"@odata.id": f"/systemusers({new_guid()})"},
    )
    assert absent.status_code == 404

    expanded = dataverse.row(
        "teams",
        team,
        **{
            "$select": "name",
            "$expand": "teammembership_association($select=azureactivedirectoryobjectid,systemuserid)",
        },
    )
    assert [
        (m["systemuserid"], m["azureactivedirectoryobjectid"]) for m in expanded["teammembership_association"]
    ] == [
        (ana, aad[0]),
        (bo, aad[1]),
    ]
    members = dataverse.call(
        "GET",
        f"teams({team})/teammembership_association",
        params={"$select": "fullname", "$filter": "firstname eq 'bo'"},
    ).json()
    assert members["@odata.context"] == f"{dataverse.api}/$metadata#systemusers(fullname)"
    assert [m["systemuserid"] for m in members["value"]] == [bo]
    teams_of_ana = dataverse.call(
        "GET", f"systemusers({ana})/teammembership_association", params={"$select": "name"}
    )
    assert [t["name"] for t in teams_of_ana.json()["value"]] == ["Support"]

    assert (
        dataverse.call("DELETE", f"teams({team})/teammembership_association({ana})/$ref").status_code == 204
    )
    by_id = dataverse.call(
        "DELETE",
        f"teams({team})/teammembership_association/$ref",
        params={"$id": f"{dataverse.api}/systemusers({bo})"},
    )
    assert by_id.status_code == 204
    assert (
        dataverse.row("teams", team, **{"$expand": "teammembership_association"})[
            "teammembership_association"
        ]
        == []
    )


def test_appointment_attendees_are_activity_parties(dataverse: DataverseSim) -> None:
    organizer = dataverse.create_user(first_name="Ana")
    contact = dataverse.create("contacts", {"lastname": "Ng"})
    appointment = new_guid()
    upsert = dataverse.call(
        "PATCH",
        f"appointments({appointment})",
        json={
            "subject": "Intro",
            "appointment_activity_parties": [
                {"partyid_systemuser@odata.bind": f"/systemusers({organizer})", "participationtypemask": 7},
                {"partyid_contact@odata.bind": f"/contacts({contact})", "participationtypemask": 5},
            ],
        },
    )
    assert upsert.status_code == 204
    row = dataverse.row(
        "appointments",
        appointment,
        **{
            "$select": "subject",
            "$expand": "appointment_activity_parties($select=participationtypemask,_partyid_value)",
        },
    )
    parties = {(p["_partyid_value"], p["participationtypemask"]) for p in row["appointment_activity_parties"]}
    assert parties == {(organizer, 7), (contact, 5)}

    replaced = dataverse.call(
        "PATCH",
        f"appointments({appointment})",
        json={
            "appointment_activity_parties": [
                {"addressused": "guest@fabrikam.com", "participationtypemask": 6}
            ]
        },
        headers={"If-Match": "*"},
    )
    assert replaced.status_code == 204
    listed = dataverse.call(
        "GET",
        "activityparties",
        params={
            "$filter": f"_activityid_value eq {appointment}",
            "$select": "addressused,participationtypemask",
        },
    ).json()["value"]
    assert [(p["addressused"], p["participationtypemask"]) for p in listed] == [("guest@fabrikam.com", 6)]
    bad = dataverse.call(
        "POST", "appointments", json={"appointment_activity_parties": [{"participationtypemask": 5}]}
    )
    assert bad.status_code == 400

    assert dataverse.call("DELETE", f"appointments({appointment})").status_code == 204
    assert dataverse.call("GET", "activityparties").json()["value"] == []


def test_activitypointers_and_activityparties_are_read_only_views(dataverse: DataverseSim) -> None:
    appointment = dataverse.create("appointments", {"subject": "Intro"})
    pointers = dataverse.call(
        "GET", "activitypointers", params={"$select": "subject,activitytypecode"}
    ).json()["value"]
    assert [(p["activityid"], p["activitytypecode"]) for p in pointers] == [(appointment, "appointment")]
    assert dataverse.call("GET", f"activitypointers({appointment})").status_code == 200
    for method, path in (
        ("POST", "activitypointers"),
        ("POST", "activityparties"),
        ("DELETE", f"activitypointers({appointment})"),
    ):
        refused = dataverse.call(method, path, json={"subject": "x"})
        assert refused.status_code == 400 and error_code(refused) == "0x80040800", (method, path)


def test_activity_parties_are_not_created_updated_or_deleted_on_their_own(dataverse: DataverseSim) -> None:
    """ActivityParty has no Create, Update or Delete message (its reference lists RetrieveMultiple, and
    Associate/Disassociate); parties change only through the activity's own party collection."""
    organizer = dataverse.create_user(first_name="Ana")
    appointment = dataverse.create(
        "appointments",
        {
            "subject": "Intro",
            "appointment_activity_parties": [
                {"partyid_systemuser@odata.bind": f"/systemusers({organizer})", "participationtypemask": 7}
            ],
        },
    )
    select = {"$select": "activitypartyid,_partyid_value,participationtypemask"}
    (party,) = dataverse.call("GET", "activityparties", params=select).json()["value"]
    other = dataverse.create_user(first_name="Bo")
    for method, path, message in (
        ("POST", "activityparties", "Create"),
        ("PATCH", f"activityparties({party['activitypartyid']})", "Update"),
        ("DELETE", f"activityparties({party['activitypartyid']})", "Delete"),
    ):
        body = {
            "partyid_systemuser@odata.bind": f"/systemusers({other})",
            "activityid_appointment@odata.bind": f"/appointments({appointment})",
            "participationtypemask": 7,
        }
        refused = dataverse.call(method, path, json=body if method != "DELETE" else None)
        assert refused.status_code == 400, (method, refused.text)
        assert error_code(refused) == "0x80040800"
        assert refused.json()["error"]["message"] == (
            f"The '{message}' method does not support entities of type 'activityparty'. "
            "MessageProcessorCache returned MessageProcessor.Empty."
        )
    assert dataverse.call("GET", "activityparties", params=select).json()["value"] == [party]


def test_service_document_and_who_am_i(dataverse: DataverseSim) -> None:
    sets = {entry["name"] for entry in dataverse.call("GET", "").json()["value"]}
    assert {"appointments", "leads", "opportunities", "systemusers", "teams", "activityparties"} <= sets
    who = dataverse.call("GET", "WhoAmI").json()
    assert set(who) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}


# -- the test surface -------------------------------------------------------------------------------


def test_queued_faults_answer_matching_requests_in_order(dataverse: DataverseSim) -> None:
    lead = dataverse.create("leads", {"lastname": "Lee"})
    dataverse.add_fault(429, retry_after=7, path_contains="/leads(", method="GET", count=2)
    dataverse.add_fault(503, path_contains="/accounts")
    assert len(dataverse.http.get(f"{dataverse.url}/_sim/faults").json()["value"]) == 2

    assert dataverse.call("GET", "leads").status_code == 200  # not this path
    assert (
        dataverse.call("PATCH", f"leads({lead})", json={"subject": "x"}).status_code == 204
    )  # not this method
    for _ in range(2):
        throttled = dataverse.call("GET", f"leads({lead})")
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
        assert error_code(throttled) == "0x80072322"
    assert dataverse.call("GET", f"leads({lead})").status_code == 200
    unavailable = dataverse.http.get(f"{dataverse.api}/accounts")  # faults come before authentication
    assert unavailable.status_code == 503 and unavailable.headers["OData-Version"] == "4.0"
    assert dataverse.http.get(f"{dataverse.url}/_sim/faults").json()["value"] == []

    dataverse.add_fault(500, count=5)
    dataverse.clear_faults()
    assert dataverse.call("GET", "leads").status_code == 200
    assert dataverse.http.post(f"{dataverse.url}/_sim/faults", json={"status": 200}).status_code == 400
    assert dataverse.http.post(f"{dataverse.url}/_sim/faults", json={"count": 1}).status_code == 400


def test_a_delay_fault_slows_the_response(dataverse: DataverseSim) -> None:
    dataverse.add_fault(None, delay_seconds=0.3, path_contains="/leads")
    started = time.monotonic()
    assert dataverse.call("GET", "leads").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_the_request_log_shows_what_clients_sent(dataverse: DataverseSim) -> None:
    dataverse.clear_requests()
    dataverse.call("POST", "leads", json={"lastname": "Lee"}, headers={"Prefer": "return=representation"})
    dataverse.call("GET", "leads", params={"$select": "lastname"})
    (posted,) = dataverse.requests(path_contains="/leads", method="POST")
    assert posted["json"] == {"lastname": "Lee"} and posted["status"] == 201
    assert posted["headers"]["authorization"] == "Bearer <redacted>"
    assert (
        posted["headers"]["odata-version"] == "4.0" and posted["headers"]["prefer"] == "return=representation"
    )
    (listed,) = dataverse.requests(method="GET")
    assert listed["query"] == "%24select=lastname" and listed["status"] == 200
    dataverse.clear_requests()
    assert dataverse.requests() == []


def test_reset_forgets_everything(dataverse: DataverseSim) -> None:
    user = dataverse.create_user()
    dataverse.create_team("T", members=[user])
    dataverse.add_fault(503, path_contains="/never")
    dataverse.reset()
    assert dataverse.call("GET", "systemusers").json()["value"] == []
    assert dataverse.call("GET", "teams").json()["value"] == []
    assert dataverse.http.get(f"{dataverse.url}/_sim/faults").json()["value"] == []


def test_state_survives_a_restart_through_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "dataverse.json"
    auth = {"Authorization": "Bearer t"}
    first = serve_in_thread(create_app(state_file))
    try:
        with httpx.Client(base_url=f"{first.url}/api/data/v9.2", headers=auth) as client:
            user = client.post("/systemusers", json={"lastname": "Li"}).headers["OData-EntityId"][-37:-1]
            team = client.post("/teams", json={"name": "Kept"}).headers["OData-EntityId"][-37:-1]
            linked = client.post(
                f"/teams({team})/teammembership_association/$ref", json={"@odata.id": f"/systemusers({user})"}
            )
            assert linked.status_code == 204
            lead = client.post("/leads", json={"lastname": "Lee", "ownerid@odata.bind": f"/teams({team})"})
            lead_id = lead.headers["OData-EntityId"][-37:-1]
            etag = client.get(f"/leads({lead_id})").json()["@odata.etag"]
    finally:
        first.stop()
    assert [path.name for path in tmp_path.iterdir()] == ["dataverse.json"]  # no temp files left behind

    second = serve_in_thread(create_app(state_file))
    try:
        with httpx.Client(base_url=f"{second.url}/api/data/v9.2", headers=auth) as client:
            row = client.get(f"/leads({lead_id})").json()
            assert row["_ownerid_value"] == team and row["@odata.etag"] == etag
            members = client.get(f"/teams({team})/teammembership_association").json()["value"]
            assert [m["systemuserid"] for m in members] == [user]
            client.patch(f"/leads({lead_id})", json={"subject": "newer"})
            assert client.get(f"/leads({lead_id})").json()["@odata.etag"] != etag  # versions keep growing
    finally:
        second.stop()


# -- the reference and the contract -----------------------------------------------------------------


def test_the_vendored_reference_is_the_shared_one(dataverse_reference: dict[str, Any]) -> None:
    assert json.loads(REFERENCE_FILE.read_text(encoding="utf-8")) == dataverse_reference


def test_every_property_the_simulator_returns_is_in_the_reference(
    dataverse: DataverseSim, dataverse_reference: dict[str, Any]
) -> None:
    tables = dataverse_reference["entities"]
    by_set = {spec["entitySetName"]: name for name, spec in tables.items()}
    user = dataverse.create_user(aad_object_id=new_guid())
    team = dataverse.create_team("Owners", members=[user])
    account = dataverse.create_account("Contoso", country="DE", owner=("teams", team))
    contact = dataverse.create(
        "contacts", {"lastname": "Ng", "parentcustomerid_account@odata.bind": f"/accounts({account})"}
    )
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({user})"})
    dataverse.create(
        "opportunities", {"name": "Deal", "customerid_contact@odata.bind": f"/contacts({contact})"}
    )
    dataverse.create(
        "incidents", {"title": "Broken", "customerid_account@odata.bind": f"/accounts({account})"}
    )
    dataverse.create(
        "appointments",
        {
            "subject": "Intro",
            "regardingobjectid_lead_appointment@odata.bind": f"/leads({lead})",
            "appointment_activity_parties": [
                {"partyid_systemuser@odata.bind": f"/systemusers({user})", "participationtypemask": 7}
            ],
        },
    )
    expansions = {
        "teams": "teammembership_association",
        "systemusers": "teammembership_association",
        "appointments": "appointment_activity_parties,regardingobjectid_lead_appointment",
        "accounts": "contact_customer_accounts,ownerid",
        "leads": "ownerid",
    }

    def problems(row: dict[str, Any], table: str, where: str) -> list[str]:
        spec = tables[table]
        navigations = {
            **spec.get("manyToOne", {}),
            **spec.get("manyToOneInheritedFromActivityPointer", {}),
            **{
                v.get("referencedEntityNavigationPropertyName") or k: v
                for k, v in spec.get("oneToMany", {}).items()
            },
            **{v["navigationPropertyName"]: v for v in spec.get("manyToMany", {}).values()},
        }
        found: list[str] = []
        for key, value in row.items():
            if key.startswith("@odata."):
                continue
            name = key.split("@", 1)[0]
            if name.startswith("_") and name.endswith("_value"):
                column = spec["attributes"].get(name[1:-6])
                if column is None or column["type"] not in ("Lookup", "Owner", "Customer"):
                    found.append(f"{where}.{key}: no lookup column '{name[1:-6]}' on {table}")
            elif name in navigations and "@" not in key and isinstance(value, dict | list):
                for item in [value] if isinstance(value, dict) else value:
                    target = _related_table(tables, table, name, item)
                    found.extend(problems(item, target, f"{where}.{name}"))
            elif name in spec["attributes"]:
                if "@" not in key and spec["attributes"][name]["type"] in ("Lookup", "Owner", "Customer"):
                    found.append(f"{where}.{key}: a lookup must read as _{name}_value")
            else:
                found.append(f"{where}.{key}: no column or navigation property '{name}' on {table}")
        return found

    issues: list[str] = []
    for entity_set, table in by_set.items():
        params = {"$expand": expansions[entity_set]} if entity_set in expansions else {}
        response = dataverse.call("GET", entity_set, params=params, headers=ANNOTATED)
        assert response.status_code == 200, response.text
        rows = response.json()["value"]
        assert rows, f"no {entity_set} rows to check"
        for index, row in enumerate(rows):
            issues.extend(problems(row, table, f"{entity_set}[{index}]"))
    assert issues == []


def _related_table(tables: dict[str, Any], table: str, navigation: str, row: dict[str, Any]) -> str:
    """The table an expanded row belongs to, told by its primary id."""
    for name, spec in tables.items():
        if spec["primaryId"] in row and name != "activitypointer":
            return str(name)
    raise AssertionError(f"cannot tell the table of {navigation} under {table}: {sorted(row)[:5]}")


def test_the_module_entry_point_serves_the_shared_contract(tmp_path: Path) -> None:
    contract = SHARED / "conformance" / "test_contract.py"
    if not contract.exists():
        pytest.skip(f"conformance suite not found at {contract}")
    port = _free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.dataverse_sim",
            "--port",
            str(port),
            "--state-file",
            str(tmp_path / "dv.json"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        api = f"http://127.0.0.1:{port}/api/data/v9.2"
        _wait_until_listening(port, simulator)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(contract.parent),
                str(contract),
                "-k",
                "dataverse",
            ],
            cwd=ROOT,
            env={**os.environ, "CONTRACT_DATAVERSE": api},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed" in result.stdout, result.stdout
        assert (tmp_path / "dv.json").exists()  # the state file the contract's writes went to
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Connect until the server accepts (bounded); fail at once if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"simulator exited: {process.stderr.read() if process.stderr else b''!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"simulator did not listen on {port} within {timeout} s")


# -- what real Dataverse and Dynamics do that a kinder simulator hid (issue 12) -------------------------


def test_an_appointment_binds_its_regarding_lead_only_by_the_appointments_own_navigation_name(
    dataverse: DataverseSim,
) -> None:
    lead = dataverse.create("leads", {"lastname": "Lee"})
    base_name = dataverse.call(
        "POST", "appointments", json={"subject": "x", "regardingobjectid_lead@odata.bind": f"/leads({lead})"}
    )
    assert base_name.status_code == 400 and error_code(base_name) == "0x80048d19"
    assert "undeclared property 'regardingobjectid_lead'" in base_name.json()["error"]["message"]
    own = dataverse.call(
        "POST",
        "appointments",
        json={"subject": "x", "regardingobjectid_lead_appointment@odata.bind": f"/leads({lead})"},
    )
    assert own.status_code == 204, own.text
    user = dataverse.create_user()
    owner = dataverse.call(
        "POST", "appointments", json={"subject": "y", "ownerid@odata.bind": f"/systemusers({user})"}
    )
    assert owner.status_code == 204, owner.text  # inherited names with no own counterpart stay


def test_a_string_longer_than_its_column_is_refused_as_dataverse_refuses_it(dataverse: DataverseSim) -> None:
    too_long = dataverse.call("POST", "appointments", json={"subject": "x", "location": "L" * 201})
    assert too_long.status_code == 400 and error_code(too_long) == "0x80044331"
    assert too_long.json()["error"]["message"].startswith(
        "A validation error occurred. A string value provided is too long."
    )
    assert "'location' of 'appointment' holds 200 characters" in too_long.json()["error"]["message"]
    fits = dataverse.call(
        "POST",
        "appointments",
        json={"subject": "S" * 200, "location": "L" * 200, "onlinemeetingjoinurl": "https://t/" + "j" * 240},
    )
    assert fits.status_code == 204, fits.text
    activity = fits.headers["OData-EntityId"].rstrip(")").rpartition("(")[2]
    update = dataverse.call("PATCH", f"appointments({activity})", json={"subject": "S" * 201})
    assert update.status_code == 400 and error_code(update) == "0x80044331"


def test_modifiedby_is_the_caller_or_the_user_it_impersonates(dataverse: DataverseSim) -> None:
    app_user = dataverse.call("GET", "WhoAmI").json()["UserId"]
    person = new_guid()
    activity = dataverse.create("appointments", {"subject": "x"})
    row = dataverse.row("appointments", activity)
    assert (row["_createdby_value"], row["_modifiedby_value"]) == (app_user, app_user)
    moved = dataverse.call(
        "PATCH", f"appointments({activity})", json={"subject": "y"}, headers={"MSCRMCallerID": person}
    )
    assert moved.status_code == 204
    after = dataverse.row("appointments", activity)
    assert (after["_createdby_value"], after["_modifiedby_value"]) == (app_user, person)
    assert after["modifiedon"] >= row["modifiedon"]


class _Receiver:
    """A webhook endpoint answering with the queued statuses (then 200), recording every post."""

    def __init__(self, statuses: list[int]) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        self.statuses = list(statuses)
        self.posts: list[tuple[dict[str, Any], dict[str, str]]] = []

        async def hook(request: Request) -> Response:
            self.posts.append((json.loads(await request.body()), dict(request.headers)))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        self.server = serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"


def _settled(dataverse: DataverseSim) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        answer = dataverse.http.get(f"{dataverse.url}/_sim/webhooks/deliveries").json()
        if answer["inFlight"] == 0:
            found: list[dict[str, Any]] = answer["value"]
            return found
        assert time.monotonic() < deadline, "webhook deliveries did not settle"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("statuses", "attempts", "final"),
    [
        ([502], 2, 200),
        ([503, 503], 2, 503),
        ([504], 2, 200),
        ([500], 1, 500),
        ([429], 1, 429),
        ([404], 1, 404),
    ],
)
def test_a_webhook_post_is_tried_once_more_only_after_502_503_or_504(
    dataverse: DataverseSim, statuses: list[int], attempts: int, final: int
) -> None:
    receiver = _Receiver(statuses)
    try:
        hook = dataverse.http.post(f"{dataverse.url}/_sim/webhooks", json={"url": receiver.url})
        assert hook.status_code == 201
        dataverse.create("appointments", {"subject": "x"})
        (delivery,) = _settled(dataverse)
        assert (delivery["attempts"], delivery["status"]) == (attempts, final)
        assert len(receiver.posts) == attempts
    finally:
        receiver.server.stop()


def test_a_lost_webhook_delivery_and_both_post_images_in_the_registered_order(
    dataverse: DataverseSim,
) -> None:
    receiver = _Receiver([])
    try:
        hook = dataverse.http.post(
            f"{dataverse.url}/_sim/webhooks",
            json={"url": receiver.url, "postImages": ["PostImage", "AsynchronousStepPrimaryName"]},
        )
        assert hook.status_code == 201
        drop = dataverse.http.post(f"{dataverse.url}/_sim/webhooks/drop", json={"count": 1})
        assert drop.status_code == 200
        activity = dataverse.create("appointments", {"subject": "first"})
        dataverse.call("PATCH", f"appointments({activity})", json={"subject": "second"})
        deliveries = _settled(dataverse)
        assert [d.get("dropped", False) for d in deliveries] == [True, False]
        ((context, _),) = receiver.posts  # the create's post was lost
        images = [(image["key"], image["value"]["Attributes"]) for image in context["PostEntityImages"]]
        assert [key for key, _ in images] == ["PostImage", "AsynchronousStepPrimaryName"]
        assert images[1][1] == [
            {"key": "subject", "value": "second"},
            {"key": "activityid", "value": activity},
        ]
        assert {"key": "subject", "value": "second"} in images[0][1]
    finally:
        receiver.server.stop()


def test_a_context_over_256_kb_is_posted_stripped_with_the_size_exceeded_header(
    dataverse: DataverseSim,
) -> None:
    receiver = _Receiver([])
    try:
        assert (
            dataverse.http.post(f"{dataverse.url}/_sim/webhooks", json={"url": receiver.url}).status_code
            == 201
        )
        dataverse.create("appointments", {"subject": "x", "description": "d" * 300_000})
        _settled(dataverse)
        ((context, headers),) = receiver.posts
        assert headers["x-ms-dynamics-msg-size-exceeded"] == "true"
        assert not {"ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages"} & set(context)
        assert context["MessageName"] == "Create"
    finally:
        receiver.server.stop()
