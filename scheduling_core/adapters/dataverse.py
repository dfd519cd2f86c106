"""Dataverse (Dynamics 365) through its Web API v9.2: a retrying client and the lookups routing needs.

Invariants:
- Every request carries `OData-Version: 4.0`, `OData-MaxVersion: 4.0`,
  `Accept: application/json` and a fresh bearer token from the `TokenProvider`;
  reads also ask for annotations (`Prefer: odata.include-annotations="*"`), so a
  lookup arrives with the table it points at.
- A request is retried only on throttling or unavailability (429, 502, 503, 504,
  connect/read timeouts), at most `max_retries` times and never past
  `max_total_seconds`; `Retry-After` is obeyed (Dataverse's service protection
  limits send it with 429), otherwise the wait is exponential with jitter (the loop
  is `http_retry.RetryingSender`). Past that budget the caller gets
  `UpstreamUnavailable`. Any other 4xx is
  `DataverseRequestRejected` (our bug or configuration, never retried); a 401 is
  retried once with a refreshed token when the provider can refresh.
- Record ids put in a URL are GUIDs (checked), so no caller input can change the path.
- `query` follows `@odata.nextLink` only to the same origin as `base_url` (the
  token never leaves for another host) and for at most `max_pages` pages.

Account teams (the `accountTeam` routing strategy) are read from the reference's
tables only: Dynamics' record access teams hang off `team.regardingobjectid` and a
`teamtemplate`, but the reference documents neither an account target for that
lookup nor the teamtemplate table. So an account's team for a role is the access
team (`teamtype` 1) named `{accountid}+{role}` (see `account_team_name`), and its
members are the team's `teammembership_association` users. Dataverse compares
strings without regard to case, so the role matches case-insensitively.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from random import Random
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from bootstrap.settings import Settings
from scheduling_core.adapters.credentials import TokenProvider, token_provider_from_settings
from scheduling_core.adapters.dataverse_models import (
    LOOKUP_LOGICAL_NAME,
    RECORD_TABLES,
    AddressRow,
    CustomerLinks,
    ErrorBody,
    Location,
    OwnedRow,
    Owner,
    SystemUserRow,
    TeamRow,
)
from scheduling_core.adapters.http_retry import RetryingSender
from scheduling_core.domain.matching import AccountRow, ContactRow, LeadRow, normalize_email
from scheduling_core.errors import (
    DataverseRequestRejected,
    InvalidRequest,
    NotFound,
    QueryTooLarge,
    UpstreamUnavailable,
)

_Row = TypeVar("_Row", OwnedRow, CustomerLinks, AddressRow, SystemUserRow, TeamRow)

#: Dataverse's "record does not exist" (0x80040217). A 404 means absent whatever its code (Microsoft's own
#: If-Match example answers with an empty code); only "Resource not found for the segment" (0x8006088a,
#: a URL naming no entity set or property) is our bug and raised.
RECORD_NOT_FOUND = "0x80040217"
SEGMENT_NOT_FOUND = "0x8006088a"
ANNOTATIONS = 'odata.include-annotations="*"'
#: `teamtype` of an access team.
ACCESS_TEAM = 1
DEFAULT_MAX_PAGES = 100
_SERVICE = "dataverse"
_QUERY_SAFE = "',()/:$*@;=-"
#: Lookups that tie a record to its account (first match wins), per record type.
_ACCOUNT_LINKS: dict[str, tuple[str, ...]] = {
    "opportunity": ("parentaccountid", "customerid"),
    "lead": ("parentaccountid", "customerid"),
    "contact": ("parentcustomerid",),
    "incident": ("customerid",),
}
#: Records whose own address is their location.
_ADDRESSED = frozenset({"lead", "account", "contact"})


def dataverse_client_from_settings(settings: Settings) -> DataverseClient:
    """The client the settings call for: the simulator with a static token locally, OAuth in Azure."""
    return DataverseClient(
        base_url=settings.dataverse_url,
        tokens=token_provider_from_settings(
            static_token=settings.dataverse_static_token,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=settings.dataverse_scope,
        ),
        timeout_seconds=settings.dataverse_timeout_seconds,
    )


def account_team_name(account_id: str, role: str) -> str:
    """The name of the access team that holds `role` on the account (see the module docstring)."""
    return f"{_guid(account_id)}+{role.strip()}"


#: The most rows one matching query reads: ties beyond this are not worth ranking.
MATCH_TOP = 50
#: Column sizes of lead (the reference's maxLength).
LEAD_NAME_MAX = 50
LEAD_COMPANY_MAX = 100
LEAD_SUBJECT_MAX = 300
#: Namespace of the deterministic lead ids (uuid5 of the normalized email): fixed forever.
LEAD_NAMESPACE = uuid.UUID("6f1c3c52-6a0e-4d1e-9a53-0c6d1b7e2f15")


def lead_id_for(email: str) -> str:
    """The id a lead created for `email` gets: the same for every booking and every retry."""
    return str(uuid.uuid5(LEAD_NAMESPACE, normalize_email(email)))


def _created(row: Mapping[str, Any]) -> str:
    value = row.get("createdon")
    return str(value) if value else ""


def odata_string(value: str) -> str:
    """`value` as an OData string literal: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


class DataverseClient:
    """A synchronous Dataverse Web API client with bounded retries.

    Thread-safe: one instance (one connection pool) serves the whole process.
    """

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenProvider,
        timeout_seconds: float = 10.0,
        max_retries: int = 4,
        max_total_seconds: float = 20.0,
        max_pages: int = DEFAULT_MAX_PAGES,
        transport: httpx.BaseTransport | None = None,
        random: Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_retries < 0 or timeout_seconds <= 0 or max_total_seconds <= 0 or max_pages < 1:
            raise ValueError("retry, time and page budgets must be positive")
        self._base = base_url.rstrip("/") + "/"
        self._origin = _origin(self._base)
        self._max_pages = max_pages
        self._http = httpx.Client(
            base_url=self._base,
            transport=transport,
            timeout=timeout_seconds,
            headers={"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"},
        )
        self._retrying = RetryingSender(
            self._http,
            tokens,
            service=_SERVICE,
            display_name="Dataverse",
            error_code=lambda response: _error(response)[0],
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            max_total_seconds=max_total_seconds,
            random=random,
            sleep=sleep,
            monotonic=monotonic,
            refresh_on_401=True,
            retry_after_timespans=True,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- rows ----------------------------------------------------------------------------------------

    def get(
        self, entity_set: str, id: str, *, select: Sequence[str] | None = None, expand: str | None = None
    ) -> dict[str, Any] | None:
        """One row (with annotations), or None when Dataverse says it does not exist."""
        url = _with_query(_row_path(entity_set, id), select=select, expand=expand)
        response = self._send("GET", url, headers={"Prefer": ANNOTATIONS}, absent_ok=True)
        if response is None:
            return None
        return _json_object(response, f"GET {url}")

    def query(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        top: int | None = None,
        orderby: str | None = None,
        expand: str | None = None,
        page_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every row matching, following `@odata.nextLink` (at most `max_pages` pages).

        `entity_set` may also be a row's collection-valued navigation property,
        e.g. `teams(<id>)/teammembership_association`.
        """
        url: str | None = _with_query(
            _collection_path(entity_set),
            select=select,
            filter=filter,
            top=top,
            orderby=orderby,
            expand=expand,
        )
        prefer = ANNOTATIONS if page_size is None else f"{ANNOTATIONS},odata.maxpagesize={page_size}"
        rows: list[dict[str, Any]] = []
        pages = 0
        while url is not None:
            if pages == self._max_pages:
                raise QueryTooLarge(f"Dataverse query {entity_set} has more than {self._max_pages} pages")
            label = f"GET {entity_set}"
            response = self._send("GET", url, headers={"Prefer": prefer})
            assert response is not None
            payload = _json_object(response, label)
            value = payload.get("value")
            if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
                raise UpstreamUnavailable(_SERVICE, f"Dataverse sent no row collection for {label}")
            rows.extend(value)
            pages += 1
            url = self._next_link(payload.get("@odata.nextLink"), label)
        return rows

    def create(self, entity_set: str, body: Mapping[str, Any]) -> str:
        """Create a row; its id (the one in `body`, if given)."""
        response = self._send("POST", _collection_path(entity_set), json=dict(body))
        assert response is not None
        entity_id = response.headers.get("OData-EntityId") or ""
        created = entity_id.rstrip(")").rpartition("(")[2]
        try:
            return str(uuid.UUID(created))
        except ValueError as exc:
            raise UpstreamUnavailable(
                _SERVICE, f"Dataverse sent no usable OData-EntityId for POST {entity_set}: '{entity_id}'"
            ) from exc

    def upsert(
        self,
        entity_set: str,
        id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> None:
        """PATCH a row: an upsert; `if_match="*"` makes it update-only, `if_none_match="*"` create-only.

        Update-only on a missing row raises `NotFound`; create-only on an existing row
        raises `DataverseRequestRejected` (412, 0x80040237).
        """
        headers = {}
        if if_match is not None:
            headers["If-Match"] = if_match
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        path = _row_path(entity_set, id)
        response = self._send("PATCH", path, json=dict(body), headers=headers, absent_ok=if_match is not None)
        if response is None:
            raise NotFound(entity_set, _guid(id))

    def update(self, entity_set: str, id: str, body: Mapping[str, Any]) -> None:
        """Update an existing row (never creates one); `NotFound` when it does not exist."""
        self.upsert(entity_set, id, body, if_match="*")

    def delete(self, entity_set: str, id: str) -> bool:
        """Delete a row; False when it did not exist."""
        return self._send("DELETE", _row_path(entity_set, id), absent_ok=True) is not None

    def associate(self, entity_set: str, id: str, navigation: str, target_set: str, target_id: str) -> None:
        """Relate two rows through a collection-valued navigation property (`POST .../$ref`)."""
        target = f"{self._base}{_row_path(target_set, target_id)}"
        path = f"{_row_path(entity_set, id)}/{_name(navigation)}/$ref"
        self._send("POST", path, json={"@odata.id": target})

    # -- what routing asks of Dynamics -----------------------------------------------------------------

    def record_owner(self, record_type: str, record_id: str) -> Owner | None:
        """Who owns the record: a user and its Entra object id, or a team and its members' ids.

        None when the record has no owner. `NotFound` when the record does not exist.
        """
        row = OwnedRow.model_validate(self._record(record_type, record_id, ["_ownerid_value"]))
        if row.owner_id is None:
            return None
        owner_id = _guid(row.owner_id)
        kind = (
            row.owner_table if row.owner_table in ("systemuser", "team") else self._principal_kind(owner_id)
        )
        if kind == "team":
            return Owner(kind="team", id=owner_id, member_aad_object_ids=self.team_members(owner_id))
        user = self.get("systemusers", owner_id, select=["systemuserid", "azureactivedirectoryobjectid"])
        aad = _parse(SystemUserRow, user, "systemuser").aad_object_id if user is not None else None
        return Owner(kind="systemuser", id=owner_id, aad_object_id=aad)

    def systemuser_aad_id(self, systemuser_id: str) -> str | None:
        """The Entra object id of a Dynamics user (None if the user or the id is unknown)."""
        try:
            row = self.get("systemusers", systemuser_id, select=["azureactivedirectoryobjectid"])
        except NotFound:
            return None
        value = (row or {}).get("azureactivedirectoryobjectid")
        return str(value) if value else None

    def team_members(self, team_id: str) -> tuple[str, ...]:
        """The Entra object ids of a team's members (sorted; users without one left out)."""
        try:
            rows = self.query(
                f"teams({_guid(team_id)})/teammembership_association",
                select=["systemuserid", "azureactivedirectoryobjectid"],
            )
        except DataverseRequestRejected as exc:
            if _absent(exc.status_code, exc.code):
                return ()
            raise
        return _aad_ids(_parse(SystemUserRow, row, "systemuser") for row in rows)

    def account_team(self, record_type: str, record_id: str, role: str) -> list[str]:
        """Entra object ids of the members of the record's account team with `role` (sorted).

        The account is the record itself, or the one it belongs to (an opportunity's or
        lead's parent account or customer, a contact's parent customer, a case's
        customer). Empty when there is no account or no such team. `NotFound` when the
        record does not exist.
        """
        account_id = self._account_of(record_type, record_id)
        if account_id is None:
            return []
        name = odata_string(account_team_name(account_id, role))
        teams = self.query(
            "teams",
            filter=f"teamtype eq {ACCESS_TEAM} and name eq {name}",
            select=["teamid", "name"],
            expand="teammembership_association($select=systemuserid,azureactivedirectoryobjectid)",
        )
        members: list[SystemUserRow] = []
        for raw in teams:
            team = _parse(TeamRow, raw, "team")
            members.extend(team.members)
            next_link = self._next_link(team.members_next_link, "GET teams members")
            if next_link is not None:  # Dataverse pages large expanded collections
                members.extend(
                    _parse(SystemUserRow, row, "systemuser") for row in self._follow(next_link, "members")
                )
        return list(_aad_ids(members))

    def record_location(self, record_type: str, record_id: str) -> Location:
        """Country and postal code of the record's address (an opportunity's or case's: its customer's).

        `NotFound` when the record does not exist; an empty `Location` when no address is known.
        """
        if record_type in _ADDRESSED:
            return _location(
                self._record(record_type, record_id, ["address1_country", "address1_postalcode"])
            )
        customer = self._customer_of(record_type, record_id, tables=("account", "contact"))
        if customer is None:
            return Location()
        table, customer_id = customer
        entity_set = RECORD_TABLES[table][0]
        row = self.get(entity_set, customer_id, select=["address1_country", "address1_postalcode"])
        return Location() if row is None else _location(row)

    # -- matching an invitee email (issue 15; routing.md "Matching people Dynamics already knows") -----

    def contacts_with_email(self, email: str) -> tuple[ContactRow, ...]:
        """Active contacts whose `emailaddress1` is `email` (Dataverse compares case-insensitively)."""
        rows = self.query(
            "contacts",
            filter=f"statecode eq 0 and emailaddress1 eq {odata_string(normalize_email(email))}",
            # No `createdon`: the contact reference (shared/reference) does not list it, so contacts tie
            # by id alone.
            select=["contactid", "_parentcustomerid_value"],
            orderby="contactid asc",
            top=MATCH_TOP,
        )
        return tuple(
            ContactRow(
                id=str(row["contactid"]),
                parent_account_id=self._parent_account(row),
                created_on=_created(row),
            )
            for row in rows
            if row.get("contactid")
        )

    def leads_with_email(self, email: str) -> tuple[LeadRow, ...]:
        """Open leads (`statecode` 0) whose `emailaddress1` is `email`."""
        rows = self.query(
            "leads",
            filter=f"statecode eq 0 and emailaddress1 eq {odata_string(normalize_email(email))}",
            select=["leadid", "createdon"],
            orderby="createdon asc,leadid asc",
            top=MATCH_TOP,
        )
        return tuple(
            LeadRow(id=str(row["leadid"]), created_on=_created(row)) for row in rows if row.get("leadid")
        )

    def accounts_on_domain(self, domain: str) -> tuple[AccountRow, ...]:
        """Active accounts that may be on `domain`: a superset (`contains` on the website, `endswith` on
        the email); `matching.match` keeps those whose host or email domain is exactly `domain`."""
        literal = odata_string(domain.lower())
        at_domain = odata_string("@" + domain.lower())
        rows = self.query(
            "accounts",
            filter=(
                f"statecode eq 0 and (contains(websiteurl,{literal}) or endswith(emailaddress1,{at_domain}))"
            ),
            select=["accountid", "websiteurl", "emailaddress1", "createdon"],
            orderby="createdon asc,accountid asc",
            top=MATCH_TOP,
        )
        return tuple(
            AccountRow(
                id=str(row["accountid"]),
                website_url=_text(row.get("websiteurl")),
                email=_text(row.get("emailaddress1")),
                created_on=_created(row),
            )
            for row in rows
            if row.get("accountid")
        )

    def ensure_lead(self, *, email: str, first_name: str | None, last_name: str, company: str | None) -> str:
        """The open lead for `email`, created if there is none; one lead per email under concurrency.

        Look up first (a lead made by hand or by an earlier booking wins); else create-only upsert
        (`PATCH leads(<id>)` with `If-None-Match: *`) at `lead_id_for(email)`: concurrent or retried
        bookings all aim at the same row, one creates it, the others get 412 and use it.
        """
        existing = self.leads_with_email(email)
        if existing:
            return existing[0].id
        lead_id = lead_id_for(email)
        body: dict[str, Any] = {
            "lastname": last_name[:LEAD_NAME_MAX],
            "emailaddress1": normalize_email(email),
        }
        if first_name:
            body["firstname"] = first_name[:LEAD_NAME_MAX]
        if company:
            body["companyname"] = company[:LEAD_COMPANY_MAX]
        body["subject"] = f"Booked a meeting: {body['emailaddress1']}"[:LEAD_SUBJECT_MAX]
        try:
            self.upsert("leads", lead_id, body, if_none_match="*")
        except DataverseRequestRejected as exc:
            if exc.status_code != 412:
                raise
        return lead_id

    def _parent_account(self, row: Mapping[str, Any]) -> str | None:
        parent = row.get("_parentcustomerid_value")
        if not parent:
            return None
        table = row.get(f"_parentcustomerid_value{LOOKUP_LOGICAL_NAME}") or self._customer_table(str(parent))
        return _guid(str(parent)) if table == "account" else None

    # -- helpers ---------------------------------------------------------------------------------------

    def _record(self, record_type: str, record_id: str, select: Sequence[str]) -> dict[str, Any]:
        if record_type not in RECORD_TABLES:
            raise InvalidRequest(
                f"Unknown Dynamics record type '{record_type}' (one of {sorted(RECORD_TABLES)})."
            )
        try:
            key = _guid(record_id)
        except ValueError as exc:
            raise NotFound(record_type, record_id) from exc
        row = self.get(RECORD_TABLES[record_type][0], key, select=select)
        if row is None:
            raise NotFound(record_type, record_id)
        return row

    def _principal_kind(self, principal_id: str) -> str:
        """Whether an owner id is a user or a team, when Dataverse did not annotate the lookup."""
        return "systemuser" if self.get("systemusers", principal_id, select=["systemuserid"]) else "team"

    def _account_of(self, record_type: str, record_id: str) -> str | None:
        if record_type == "account":
            self._record(record_type, record_id, ["accountid"])
            return _guid(record_id)
        customer = self._customer_of(record_type, record_id, tables=("account",))
        return None if customer is None else customer[1]

    def _customer_of(
        self, record_type: str, record_id: str, *, tables: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """The first of the record's account/contact lookups that points at one of `tables`."""
        links = _ACCOUNT_LINKS.get(record_type, ())
        row = _parse(
            CustomerLinks, self._record(record_type, record_id, [f"_{c}_value" for c in links]), "row"
        )
        candidates = {
            "parentaccountid": (row.parent_account_id, "account"),
            "customerid": (row.customer_id, row.customer_table),
            "parentcustomerid": (row.parent_customer_id, row.parent_customer_table),
        }
        for column in links:
            target_id, table = candidates[column]
            if target_id is None:
                continue
            table = table or self._customer_table(target_id)
            if table in tables:
                return table, _guid(target_id)
        return None

    def _customer_table(self, customer_id: str) -> str:
        """Account or contact, when Dataverse did not annotate a customer lookup."""
        return "account" if self.get("accounts", customer_id, select=["accountid"]) else "contact"

    def _follow(self, url: str, label: str) -> Iterable[dict[str, Any]]:
        next_url: str | None = url
        pages = 0
        while next_url is not None:
            if pages == self._max_pages:
                raise QueryTooLarge(f"Dataverse {label} has more than {self._max_pages} pages")
            response = self._send("GET", next_url, headers={"Prefer": ANNOTATIONS})
            assert response is not None
            payload = _json_object(response, f"GET {label}")
            yield from (row for row in payload.get("value", []) if isinstance(row, dict))
            pages += 1
            next_url = self._next_link(payload.get("@odata.nextLink"), label)

    def _next_link(self, link: Any, label: str) -> str | None:
        if link is None:
            return None
        if not isinstance(link, str) or _origin(link) != self._origin:
            raise UpstreamUnavailable(
                _SERVICE, f"Dataverse sent a nextLink outside {self._origin} for {label}"
            )
        return link

    # -- transport -------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        absent_ok: bool = False,
    ) -> httpx.Response | None:
        """Send with retries; the response (< 400), or None for a missing row when `absent_ok`."""
        label = f"{method} {url.split('?', 1)[0]}"
        response = self._retrying.send(method, url, label=label, json=json, headers=headers)
        status = response.status_code
        if status < 400:
            return response
        code, message = _error(response)
        if absent_ok and _absent(status, code):
            return None
        if status >= 500:
            raise UpstreamUnavailable(_SERVICE, f"Dataverse failed {label}: HTTP {status} {code or ''}")
        raise DataverseRequestRejected(status_code=status, code=code, message=message, request=label)


def _absent(status: int, code: str | None) -> bool:
    """A 404 that says the row is not there (any code but the URL-segment one, see RECORD_NOT_FOUND)."""
    return status == 404 and (code or "").lower() != SEGMENT_NOT_FOUND


def _guid(value: str) -> str:
    """`value` as a lowercase GUID; ValueError when it is not one."""
    return str(uuid.UUID(str(value).strip().strip("{}")))


def _name(segment: str) -> str:
    if not segment or not all(char.isalnum() or char == "_" for char in segment):
        raise ValueError(f"'{segment}' is not an entity set or navigation property name")
    return segment


def _row_path(entity_set: str, id: str) -> str:
    return f"{_name(entity_set)}({_guid(id)})"


def _collection_path(entity_set: str) -> str:
    """An entity set, or `set(<guid>)/navigation`, each segment checked."""
    head, slash, navigation = entity_set.partition("/")
    if not slash:
        return _name(head)
    name, paren, key = head.partition("(")
    if not paren or not key.endswith(")"):
        raise ValueError(f"'{entity_set}' is not an entity set or a row's navigation property")
    return f"{_row_path(name, key[:-1])}/{_name(navigation)}"


def _with_query(path: str, **options: Any) -> str:
    parts: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        if isinstance(value, str):
            text = value
        elif isinstance(value, int):
            text = str(value)
        else:
            text = ",".join(value)
        parts.append(f"${name}={quote(text, safe=_QUERY_SAFE)}")
    return f"{path}?{'&'.join(parts)}" if parts else path


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _json_object(response: httpx.Response, label: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError as exc:
        raise UpstreamUnavailable(_SERVICE, f"Dataverse sent a non-JSON answer to {label}") from exc
    if not isinstance(payload, dict):
        raise UpstreamUnavailable(_SERVICE, f"Dataverse sent no JSON object for {label}")
    return payload


def _parse(model: type[_Row], row: Any, what: str) -> _Row:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        raise UpstreamUnavailable(_SERVICE, f"Dataverse sent an unreadable {what} row: {exc}") from exc


def _aad_ids(users: Iterable[SystemUserRow]) -> tuple[str, ...]:
    return tuple(sorted({_guid(user.aad_object_id) for user in users if user.aad_object_id}))


def _location(row: Mapping[str, Any]) -> Location:
    address = _parse(AddressRow, row, "address")
    return Location(country=_text(address.country), postal_code=_text(address.postal_code))


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        detail = ErrorBody.model_validate(response.json()).error
    except (ValueError, ValidationError):
        return None, None
    return (detail.code, detail.message) if detail is not None else (None, None)
