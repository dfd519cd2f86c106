"""Dataverse Web API payloads this service reads, and the values its domain helpers return.

Every alias is a Web API property of a table in `../shared/reference/dataverse-entities.json`
(`_x_value` for a lookup column `x`) or one of Dataverse's instance annotations; a
test holds the models to the reference. Rows are parsed here once, at the adapter
edge; properties we do not model are ignored, so Dataverse returning more never
breaks parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: `Prefer: odata.include-annotations="*"` makes Dataverse send these beside a lookup's `_x_value`.
LOOKUP_LOGICAL_NAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"
FORMATTED_VALUE = "@OData.Community.Display.V1.FormattedValue"

#: The Dynamics records a booking can be about: logical name -> (entity set, primary id).
RECORD_TABLES: dict[str, tuple[str, str]] = {
    "lead": ("leads", "leadid"),
    "opportunity": ("opportunities", "opportunityid"),
    "account": ("accounts", "accountid"),
    "contact": ("contacts", "contactid"),
    "incident": ("incidents", "incidentid"),
}

PrincipalKind = Literal["systemuser", "team"]


class DataverseModel(BaseModel):
    """Base of the wire models: Web API names as aliases, extra properties ignored, immutable."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class ErrorDetail(DataverseModel):
    code: str | None = None
    message: str | None = None


class ErrorBody(DataverseModel):
    """`{"error": {"code": "0x80040217", "message": "..."}}`."""

    error: ErrorDetail | None = None


class OwnedRow(DataverseModel):
    """The owner lookup of a user- or team-owned row (lead, opportunity, account, contact, incident)."""

    owner_id: str | None = Field(default=None, alias="_ownerid_value")
    owner_table: str | None = Field(default=None, alias=f"_ownerid_value{LOOKUP_LOGICAL_NAME}")


class CustomerLinks(DataverseModel):
    """The lookups that tie a row to its account or contact (whichever the table has)."""

    parent_account_id: str | None = Field(default=None, alias="_parentaccountid_value")
    customer_id: str | None = Field(default=None, alias="_customerid_value")
    customer_table: str | None = Field(default=None, alias=f"_customerid_value{LOOKUP_LOGICAL_NAME}")
    parent_customer_id: str | None = Field(default=None, alias="_parentcustomerid_value")
    parent_customer_table: str | None = Field(
        default=None, alias=f"_parentcustomerid_value{LOOKUP_LOGICAL_NAME}"
    )


class AddressRow(DataverseModel):
    country: str | None = Field(default=None, alias="address1_country")
    postal_code: str | None = Field(default=None, alias="address1_postalcode")


class SystemUserRow(DataverseModel):
    systemuser_id: str = Field(alias="systemuserid")
    aad_object_id: str | None = Field(default=None, alias="azureactivedirectoryobjectid")


class TeamRow(DataverseModel):
    team_id: str = Field(alias="teamid")
    name: str | None = None
    members: tuple[SystemUserRow, ...] = Field(default=(), alias="teammembership_association")
    members_next_link: str | None = Field(default=None, alias="teammembership_association@odata.nextLink")


# -- what the domain helpers return ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    """The owner of a Dynamics record: a user (with its Entra object id) or a team (with its members')."""

    kind: PrincipalKind
    id: str
    aad_object_id: str | None = None
    member_aad_object_ids: tuple[str, ...] = ()

    @property
    def aad_object_ids(self) -> tuple[str, ...]:
        """The Entra object ids that may host for this owner: the user, or the team's members."""
        if self.kind == "systemuser":
            return (self.aad_object_id,) if self.aad_object_id else ()
        return self.member_aad_object_ids


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a record is, from its (or its account's or contact's) first address, as Dynamics holds it."""

    country: str | None = None
    postal_code: str | None = None
