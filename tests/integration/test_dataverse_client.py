"""`DataverseClient` over real HTTP against the Dataverse simulator, which injects faults."""

from __future__ import annotations

import time
from random import Random
from typing import Any

import httpx
import pytest

from bootstrap.settings import Settings
from scheduling_core.adapters.credentials import StaticToken
from scheduling_core.adapters.dataverse import (
    DataverseClient,
    account_team_name,
    dataverse_client_from_settings,
    odata_string,
)
from scheduling_core.adapters.dataverse_models import (
    RECORD_TABLES,
    AddressRow,
    CustomerLinks,
    Location,
    OwnedRow,
    Owner,
    SystemUserRow,
    TeamRow,
)
from scheduling_core.errors import (
    DataverseRequestRejected,
    InvalidRequest,
    NotFound,
    QueryTooLarge,
    UpstreamUnavailable,
)
from tests.fixtures.dataverse import SIM_TOKEN, DataverseSim, new_guid

pytestmark = pytest.mark.integration


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(dataverse: DataverseSim, **overrides: Any) -> DataverseClient:
    settings: dict[str, Any] = {
        "base_url": dataverse.api,
        "tokens": StaticToken(SIM_TOKEN),
        "random": Random(7),
    }
    settings.update(overrides)
    return DataverseClient(**settings)


# -- owners -----------------------------------------------------------------------------------------


def test_a_user_owner_resolves_to_its_entra_object_id(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    aad = new_guid()
    user = dataverse.create_user(aad_object_id=aad)
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({user})"})

    owner = dataverse_client.record_owner("lead", lead.upper())

    assert owner == Owner(kind="systemuser", id=user, aad_object_id=aad)
    assert owner.aad_object_ids == (aad,)
    (read,) = dataverse.requests(path_contains=f"/leads({lead})")
    assert read["query"] == "$select=_ownerid_value"
    assert read["headers"]["prefer"] == 'odata.include-annotations="*"'
    assert read["headers"]["odata-version"] == "4.0" and read["headers"]["odata-maxversion"] == "4.0"
    assert read["headers"]["accept"] == "application/json"


def test_a_team_owner_yields_its_members(dataverse: DataverseSim, dataverse_client: DataverseClient) -> None:
    aad = sorted([new_guid(), new_guid()])
    members = [dataverse.create_user(aad_object_id=aad[1]), dataverse.create_user(aad_object_id=aad[0])]
    unsynced = dataverse.create_user()  # no Entra object id: cannot host
    team = dataverse.create_team("Sales West", members=[*members, unsynced])
    for record_type, entity_set, body in (
        ("opportunity", "opportunities", {"name": "Deal"}),
        ("account", "accounts", {"name": "Contoso"}),
        ("incident", "incidents", {"title": "Broken"}),
    ):
        record = dataverse.create(entity_set, {**body, "ownerid@odata.bind": f"/teams({team})"})
        owner = dataverse_client.record_owner(record_type, record)
        assert owner == Owner(kind="team", id=team, member_aad_object_ids=tuple(aad)), record_type
        assert owner.aad_object_ids == tuple(aad)


def test_a_record_without_an_owner_has_none(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    contact = dataverse.create("contacts", {"lastname": "Ng"})
    assert dataverse_client.record_owner("contact", contact) is None


def test_a_missing_record_is_not_found(dataverse: DataverseSim, dataverse_client: DataverseClient) -> None:
    missing = new_guid()
    with pytest.raises(NotFound) as raised:
        dataverse_client.record_owner("lead", missing)
    assert (raised.value.kind, raised.value.key) == ("lead", missing)
    with pytest.raises(NotFound):
        dataverse_client.record_location("opportunity", missing)
    with pytest.raises(NotFound):
        dataverse_client.account_team("account", missing, "CSM")
    with pytest.raises(NotFound):  # not a GUID: no such record, and nothing reaches the URL
        dataverse_client.record_owner("lead", "x)/systemusers(")
    with pytest.raises(InvalidRequest):
        dataverse_client.record_owner("task", missing)
    assert dataverse.requests(path_contains="systemusers(") == []


# -- account teams ----------------------------------------------------------------------------------


def test_the_account_team_for_a_role_is_read_for_accounts_and_their_records(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    csm_aad, ae_aad, other_aad = new_guid(), new_guid(), new_guid()
    csm = dataverse.create_user(aad_object_id=csm_aad)
    ae = dataverse.create_user(aad_object_id=ae_aad)
    other = dataverse.create_user(aad_object_id=other_aad)
    account = dataverse.create_account("Contoso")
    elsewhere = dataverse.create_account("Fabrikam")
    dataverse.create_account_team(account, "CSM", [csm])
    dataverse.create_account_team(account, "Account Executive", [ae, csm])
    dataverse.create_account_team(elsewhere, "CSM", [other])
    dataverse.create_team(
        f"{account}+CSM", members=[other]
    )  # an owner team of that name is not an access team

    assert dataverse_client.account_team("account", account, "CSM") == [csm_aad]
    assert dataverse_client.account_team("account", account, "csm") == [csm_aad]  # Dataverse ignores case
    assert dataverse_client.account_team("account", account, "Account Executive") == sorted([ae_aad, csm_aad])
    assert dataverse_client.account_team("account", account, "Partner") == []

    by_parent = dataverse.create(
        "opportunities", {"name": "A", "parentaccountid@odata.bind": f"/accounts({account})"}
    )
    by_customer = dataverse.create(
        "opportunities", {"name": "B", "customerid_account@odata.bind": f"/accounts({account})"}
    )
    contact = dataverse.create(
        "contacts", {"lastname": "Ng", "parentcustomerid_account@odata.bind": f"/accounts({account})"}
    )
    by_contact_customer = dataverse.create(
        "opportunities", {"name": "C", "customerid_contact@odata.bind": f"/contacts({contact})"}
    )
    orphan = dataverse.create("opportunities", {"name": "D"})
    assert dataverse_client.account_team("opportunity", by_parent, "CSM") == [csm_aad]
    assert dataverse_client.account_team("opportunity", by_customer, "CSM") == [csm_aad]
    assert dataverse_client.account_team("contact", contact, "CSM") == [csm_aad]
    assert (
        dataverse_client.account_team("opportunity", by_contact_customer, "CSM") == []
    )  # a contact is no account
    assert dataverse_client.account_team("opportunity", orphan, "CSM") == []


def test_account_team_names_and_string_literals() -> None:
    account = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert account_team_name(account, " CSM ") == "3f2504e0-4f89-11d3-9a0c-0305e82c3301+CSM"
    assert odata_string("O'Hara") == "'O''Hara'"
    with pytest.raises(ValueError, match="badly formed"):
        account_team_name("not-a-guid", "CSM")


# -- locations --------------------------------------------------------------------------------------


def test_a_records_location_is_its_own_or_its_customers_address(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    account = dataverse.create_account("Contoso", country="Germany", postal_code=" 10115 ")
    contact = dataverse.create(
        "contacts", {"lastname": "Ng", "address1_country": "US", "address1_postalcode": "94105"}
    )
    lead = dataverse.create("leads", {"lastname": "Lee", "address1_country": "AT"})
    opportunity = dataverse.create(
        "opportunities", {"name": "Deal", "parentaccountid@odata.bind": f"/accounts({account})"}
    )
    for_contact = dataverse.create(
        "opportunities", {"name": "Deal", "customerid_contact@odata.bind": f"/contacts({contact})"}
    )
    case = dataverse.create(
        "incidents", {"title": "Broken", "customerid_contact@odata.bind": f"/contacts({contact})"}
    )
    orphan = dataverse.create("incidents", {"title": "Nobody's"})

    assert dataverse_client.record_location("account", account) == Location(
        country="Germany", postal_code="10115"
    )
    assert dataverse_client.record_location("lead", lead) == Location(country="AT", postal_code=None)
    assert dataverse_client.record_location("contact", contact) == Location(country="US", postal_code="94105")
    assert dataverse_client.record_location("opportunity", opportunity) == Location(
        country="Germany", postal_code="10115"
    )
    assert dataverse_client.record_location("opportunity", for_contact) == Location(
        country="US", postal_code="94105"
    )
    assert dataverse_client.record_location("incident", case) == Location(country="US", postal_code="94105")
    assert dataverse_client.record_location("incident", orphan) == Location()


# -- rows -------------------------------------------------------------------------------------------


def test_rows_are_created_read_upserted_updated_and_deleted(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    user = dataverse.create_user()
    appointment = new_guid()
    dataverse_client.upsert(
        "appointments",
        appointment,
        {
            "subject": "Intro",
            "scheduledstart": "2026-12-01T09:00:00Z",
            "scheduledend": "2026-12-01T09:30:00Z",
            "appointment_activity_parties": [
                {"partyid_systemuser@odata.bind": f"/systemusers({user})", "participationtypemask": 7}
            ],
        },
    )
    dataverse_client.upsert("appointments", appointment, {"subject": "Intro (moved)"})  # a replay updates
    row = dataverse_client.get(
        "appointments",
        appointment,
        select=["subject", "statecode"],
        expand="appointment_activity_parties($select=participationtypemask,_partyid_value)",
    )
    assert row is not None and row["subject"] == "Intro (moved)" and row["statecode"] == 0
    assert row["statecode@OData.Community.Display.V1.FormattedValue"] == "Open"
    assert [
        (p["_partyid_value"], p["participationtypemask"]) for p in row["appointment_activity_parties"]
    ] == [(user, 7)]

    dataverse_client.update("appointments", appointment, {"statecode": 2})
    cancelled = dataverse_client.get("appointments", appointment, select=["statecode", "statuscode"])
    assert cancelled is not None and (cancelled["statecode"], cancelled["statuscode"]) == (2, 4)
    with pytest.raises(DataverseRequestRejected) as raised:
        dataverse_client.upsert("appointments", appointment, {"subject": "x"}, if_none_match="*")
    assert (raised.value.status_code, raised.value.code) == (412, "0x80040237")
    with pytest.raises(NotFound):
        dataverse_client.update("appointments", new_guid(), {"subject": "x"})

    lead = dataverse_client.create("leads", {"lastname": "Lee"})
    chosen = new_guid()
    assert dataverse_client.create("leads", {"leadid": chosen, "lastname": "Kim"}) == chosen
    assert dataverse_client.get("leads", lead, select=["lastname"]) == {
        "@odata.context": f"{dataverse.api}/$metadata#leads(lastname)/$entity",
        "@odata.etag": dataverse.row("leads", lead)["@odata.etag"],
        "leadid": lead,
        "lastname": "Lee",
    }
    assert dataverse_client.delete("leads", lead) is True
    assert dataverse_client.delete("leads", lead) is False
    assert dataverse_client.get("leads", lead) is None

    team = dataverse.create_team("T")
    dataverse_client.associate("teams", team, "teammembership_association", "systemusers", user)
    assert [
        r["systemuserid"] for r in dataverse_client.query(f"teams({team})/teammembership_association")
    ] == [user]


def test_a_404_is_absent_whatever_its_error_code(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    # Update-only PATCH of a missing row: Dataverse answers 404 with an empty code (Microsoft's example).
    missing = new_guid()
    with pytest.raises(NotFound):
        dataverse_client.update("appointments", missing, {"subject": "x"})
    dataverse.add_fault(404, count=1, path_contains=missing, method="GET")  # a 404 with another code
    assert dataverse_client.get("appointments", missing) is None
    assert dataverse.call("GET", f"appointments({missing})").status_code == 404  # and nothing was created


def test_a_rejected_request_is_permanent_and_not_retried(dataverse: DataverseSim) -> None:
    sleep = RecordedSleep()
    with client(dataverse, sleep=sleep) as dv:
        with pytest.raises(DataverseRequestRejected) as raised:
            dv.create("leads", {"lastname": "Lee", "nosuchcolumn": 1})
        assert raised.value.status_code == 400 and raised.value.code == "0x0"
        assert "Invalid property 'nosuchcolumn'" in (raised.value.message or "")
        with pytest.raises(DataverseRequestRejected) as unknown_set:
            dv.get("leadz", new_guid())  # a 404 that is not "record does not exist" is our bug, not None
        assert unknown_set.value.code == "0x8006088a"
        with pytest.raises(ValueError, match="badly formed"):
            dv.get("leads", "1 or 1=1")
    assert sleep.delays == []
    assert len(dataverse.requests(method="POST")) == 1


def test_queries_filter_and_follow_next_links(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    owner = dataverse.create_user()
    for number in range(5):
        dataverse.create(
            "contacts", {"lastname": f"N{number}", "ownerid@odata.bind": f"/systemusers({owner})"}
        )
    dataverse.create("contacts", {"lastname": "Unowned"})
    dataverse.clear_requests()

    rows = dataverse_client.query(
        "contacts",
        filter=f"_ownerid_value eq {owner} and lastname ne 'N+1'",
        select=["lastname"],
        orderby="lastname desc",
        page_size=2,
    )

    assert [row["lastname"] for row in rows] == ["N4", "N3", "N2", "N1", "N0"]
    reads = dataverse.requests(path_contains="/contacts", method="GET")
    assert len(reads) == 3
    assert all(r["headers"]["prefer"] == 'odata.include-annotations="*",odata.maxpagesize=2' for r in reads)
    assert dataverse_client.query("contacts", select=["lastname"], top=1, orderby="lastname") == [
        {"@odata.etag": rows[-1]["@odata.etag"], "contactid": rows[-1]["contactid"], "lastname": "N0"}
    ]
    with client(dataverse, max_pages=2) as bounded, pytest.raises(QueryTooLarge):
        bounded.query("contacts", page_size=2)


# -- faults -----------------------------------------------------------------------------------------


def test_throttling_is_waited_out_for_real(
    dataverse: DataverseSim, dataverse_client: DataverseClient
) -> None:
    aad = new_guid()
    user = dataverse.create_user(aad_object_id=aad)
    lead = dataverse.create("leads", {"lastname": "Lee", "ownerid@odata.bind": f"/systemusers({user})"})
    dataverse.add_fault(429, retry_after=1, path_contains="/leads(", method="GET")

    started = time.monotonic()
    owner = dataverse_client.record_owner("lead", lead)
    elapsed = time.monotonic() - started

    assert owner is not None and owner.aad_object_id == aad
    assert elapsed >= 0.95
    assert [r["status"] for r in dataverse.requests(path_contains="/leads(")] == [429, 200]


def test_unavailability_past_the_retry_budget_raises(dataverse: DataverseSim) -> None:
    sleep = RecordedSleep()
    dataverse.add_fault(503, count=10, path_contains="/accounts")
    with client(dataverse, sleep=sleep, max_retries=3) as dv, pytest.raises(UpstreamUnavailable) as raised:
        dv.record_location("account", new_guid())
    assert raised.value.service == "dataverse"
    assert "after 4 attempts" in raised.value.detail
    assert len(sleep.delays) == 3
    assert all(0.25 <= delay <= 8.0 for delay in sleep.delays)
    assert sleep.delays[0] < sleep.delays[2]  # exponential backoff
    assert len(dataverse.requests(path_contains="/accounts")) == 4


def test_a_retry_after_beyond_the_time_budget_gives_up_at_once(dataverse: DataverseSim) -> None:
    sleep = RecordedSleep()
    dataverse.add_fault(429, retry_after=30, path_contains="/leads")
    with (
        client(dataverse, sleep=sleep, max_total_seconds=5) as dv,
        pytest.raises(UpstreamUnavailable) as raised,
    ):
        dv.query("leads")
    assert raised.value.retry_after_seconds == 30
    assert sleep.delays == []


def test_slow_answers_time_out_and_are_retried_then_given_up(dataverse: DataverseSim) -> None:
    dataverse.add_fault(None, delay_seconds=1.0, count=2, path_contains="/leads")
    sleep = RecordedSleep()
    with (
        client(dataverse, sleep=sleep, timeout_seconds=0.2, max_retries=1) as dv,
        pytest.raises(UpstreamUnavailable, match="ReadTimeout"),
    ):
        dv.query("leads")
    assert len(sleep.delays) == 1


def test_a_401_is_retried_once_with_a_refreshed_token(dataverse: DataverseSim) -> None:
    class RefreshingToken:
        def __init__(self) -> None:
            self.invalidated = 0

        def token(self) -> str:
            return f"token-{self.invalidated}"

        def invalidate(self) -> None:
            self.invalidated += 1

    tokens = RefreshingToken()
    dataverse.add_fault(401, count=1, path_contains="/leads")
    with client(dataverse, tokens=tokens) as dv:
        assert dv.query("leads") == []
        assert tokens.invalidated == 1
        dataverse.add_fault(401, count=2, path_contains="/leads")
        with pytest.raises(DataverseRequestRejected) as raised:
            dv.query("leads")
        assert raised.value.status_code == 401


def test_a_next_link_to_another_host_is_not_followed() -> None:
    """The bearer token must never leave for another origin (a fake transport, no patching)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200,
            json={
                "value": [{"leadid": new_guid()}],
                "@odata.nextLink": "https://evil.example/api/data/v9.2/leads",
            },
        )

    dv = DataverseClient(
        base_url="https://contoso.crm.dynamics.com/api/data/v9.2",
        tokens=StaticToken("t"),
        transport=httpx.MockTransport(handler),
    )
    with dv, pytest.raises(UpstreamUnavailable, match="outside"):
        dv.query("leads")
    assert seen == ["https://contoso.crm.dynamics.com/api/data/v9.2/leads"]


# -- the wire models against the reference ----------------------------------------------------------


def test_record_tables_and_wire_models_use_the_references_names(dataverse_reference: dict[str, Any]) -> None:
    tables = dataverse_reference["entities"]
    for record_type, (entity_set, primary_id) in RECORD_TABLES.items():
        assert (tables[record_type]["entitySetName"], tables[record_type]["primaryId"]) == (
            entity_set,
            primary_id,
        )

    def properties(table: str) -> set[str]:
        columns = tables[table]["attributes"]
        lookups = {
            f"_{name}_value" for name, c in columns.items() if c["type"] in ("Lookup", "Owner", "Customer")
        }
        return (
            lookups
            | set(columns)
            | {m["navigationPropertyName"] for m in tables[table]["manyToMany"].values()}
        )

    every_record_table = set().union(*(properties(table) for table in RECORD_TABLES))
    for model, allowed in (
        (OwnedRow, every_record_table),
        (CustomerLinks, every_record_table),
        (AddressRow, every_record_table),
        (SystemUserRow, properties("systemuser")),
        (TeamRow, properties("team")),
    ):
        for field_name, field in model.model_fields.items():
            wire_name = field.alias or field_name
            assert wire_name.split("@", 1)[0] in allowed, (
                f"{model.__name__}: '{wire_name}' is not in the reference"
            )


def test_settings_build_a_client_for_the_simulator(dataverse: DataverseSim) -> None:
    settings = Settings.from_env({"DATAVERSE_URL": dataverse.api + "/", "DATAVERSE_STATIC_TOKEN": "local"})
    lead = dataverse.create("leads", {"lastname": "Lee"})
    with dataverse_client_from_settings(settings) as dv:
        assert dv.record_owner("lead", lead) is None
    assert settings.dataverse_scope == f"{dataverse.url}/.default"
