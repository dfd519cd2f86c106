"""Rows as Dataverse writes and reads them: validation of writes, lookups, state codes, rendering.

Writes accept exactly the reference's names: a column (valid for create or
update as the reference says), `<navigation>@odata.bind` for a lookup, and, on an
appointment, `appointment_activity_parties` (deep insert; on update it replaces
the parties). Anything else is Dataverse's 400, and so is a string longer than its column's `maxLength`
(StringLengthTooLong). Writes stamp `modifiedon` and `modifiedby` (the request's caller, `caller`).
`statecode` is never valid on create (a row starts in state 0 with that state's default status; a later PATCH
moves it). The one departure from Dataverse, for seeding: a `systemuser` may be
created with `azureactivedirectoryobjectid`, which Entra ID sync sets in the
real service.

Reads return every Web API property of the table (null when unset) unless
`$select` narrows them; the primary id is always returned. Lookups read as
`_x_value`; with `Prefer: odata.include-annotations` they carry
`@Microsoft.Dynamics.CRM.lookuplogicalname`,
`@Microsoft.Dynamics.CRM.associatednavigationproperty` and
`@OData.Community.Display.V1.FormattedValue` (the target's primary name); choices
carry their label as FormattedValue.

`activitypointers` is a read-only view of appointments; `activityparties` can be
read and queried but, as in Dataverse, not written on their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devstack.dataverse_sim.query import (
    Expansion,
    parse_filter,
    parse_orderby,
    parse_select,
    parse_top,
    sort_records,
)
from devstack.dataverse_sim.schema import CollectionNavigation, Column, Entity, Schema, SingleNavigation
from devstack.dataverse_sim.state import Row, SimState
from devstack.dataverse_sim.wire import (
    INVALID_ARGUMENT,
    INVALID_STATE_STATUS,
    PAYLOAD_ERROR,
    STRING_LENGTH_TOO_LONG,
    VALUE_OUT_OF_RANGE,
    DataverseFault,
    Preferences,
    new_id,
    normalize_datetime,
    normalize_guid,
    now_utc,
)

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"

#: Tables stored as rows of another (activitypointer is the base view of every activity).
VIEWS = {"activitypointer": "appointment"}
#: Tables Dataverse only writes through another record (no Create/Update/Delete messages of their own).
READ_ONLY_TABLES = frozenset({"activitypointer", "activityparty"})
#: Seeding exception: read-only in Dataverse, accepted on create here.
SEEDABLE = frozenset({("systemuser", "azureactivedirectoryobjectid")})
_FULL_NAME_TABLES = frozenset({"systemuser", "lead", "contact"})
_BIND_TARGET = re.compile(
    r"(?:^|/)(?P<set>[A-Za-z_][A-Za-z0-9_]*)\((?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)$"
)
_EDM_TYPES = {
    "String": "Edm.String",
    "Memo": "Edm.String",
    "EntityName": "Edm.String",
    "Integer": "Edm.Int32",
    "Picklist": "Edm.Int32",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
    "BigInt": "Edm.Int64",
    "Double": "Edm.Double",
    "Decimal": "Edm.Decimal",
    "Money": "Edm.Decimal",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
    "Uniqueidentifier": "Edm.Guid",
}


@dataclass(frozen=True, slots=True)
class Reference:
    """A row named by `/{set}({id})`, as in `@odata.bind` and `@odata.id`."""

    entity: Entity | None
    set_name: str
    id: str


class Records:
    def __init__(self, schema: Schema, state: SimState) -> None:
        self.schema = schema
        self.state = state
        #: The systemuser the current request acts as (set per request under the state lock): written to
        #: `createdby`/`modifiedby`, as Dataverse records the caller, or the impersonated user.
        self.caller: str | None = None

    # -- finding rows ---------------------------------------------------------------------------------

    def rows(self, entity: Entity) -> list[Row]:
        return list(self.state.table(VIEWS.get(entity.logical_name, entity.logical_name)).values())

    def find(self, entity: Entity, record_id: str) -> Row | None:
        return self.state.table(VIEWS.get(entity.logical_name, entity.logical_name)).get(record_id)

    def get(self, entity: Entity, record_id: str) -> Row:
        row = self.find(entity, record_id)
        if row is None:
            raise DataverseFault.not_found(entity.logical_name, record_id)
        return row

    def reference(self, text: Any) -> Reference:
        """`/systemusers(guid)`, `systemusers(guid)` or an absolute URL ending so."""
        match = _BIND_TARGET.search(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise DataverseFault.bad_request(
                f"'{text}' is not a reference to a record: expected '/<entity set>(<guid>)'.", PAYLOAD_ERROR
            )
        return Reference(self.schema.entity_for_set(match["set"]), match["set"], match["id"].lower())

    # -- writes ---------------------------------------------------------------------------------------

    def create(self, entity: Entity, body: dict[str, Any], record_id: str | None = None) -> Row:
        """A new row from a POST body (or a PATCH upsert that creates, `record_id` from the URL)."""
        body_id = body.get(entity.primary_id)
        if body_id is not None and normalize_guid(body_id) is None:
            raise _not_convertible(body_id, "Edm.Guid")
        if record_id is not None and body_id is not None and normalize_guid(body_id) != record_id:
            raise DataverseFault.bad_request(
                f"The value of '{entity.primary_id}' in the body does not match the key in the URL.",
                INVALID_ARGUMENT,
            )
        row_id = record_id or normalize_guid(body_id) or new_id()
        if self.find(entity, row_id) is not None:
            raise DataverseFault.duplicate()
        row: Row = {entity.primary_id: row_id}
        changes, parties = self._changes(entity, body, creating=True, row_id=row_id)
        row.update(changes)
        self._settle_state(entity, row, changes, creating=True)
        now = now_utc()
        row["createdon"] = now
        if "createdby" in entity.columns and self.caller is not None:
            row["createdby"] = {"id": self.caller, "entity": "systemuser", "nav": "createdby"}
        self._stamp(entity, row, now)
        self.state.table(entity.logical_name)[row_id] = row
        if parties is not None:
            self._replace_parties(row_id, parties)
        return row

    def update(self, entity: Entity, row: Row, body: dict[str, Any]) -> None:
        row_id = row[entity.primary_id]
        changes, parties = self._changes(entity, body, creating=False, row_id=row_id)
        row.update(changes)
        self._settle_state(entity, row, changes, creating=False)
        self._stamp(entity, row, now_utc())
        if parties is not None:
            self._replace_parties(row_id, parties)

    def delete(self, entity: Entity, row_id: str) -> None:
        self.get(entity, row_id)
        del self.state.table(entity.logical_name)[row_id]
        if entity.logical_name == "appointment":
            parties = self.state.table("activityparty")
            for party_id in [
                p for p, party in parties.items() if _points_at(party.get("activityid"), row_id)
            ]:
                del parties[party_id]
        if entity.logical_name in ("team", "systemuser"):
            side = 0 if entity.logical_name == "team" else 1
            for pair in [pair for pair in self.state.memberships if pair[side] == row_id]:
                del self.state.memberships[pair]

    def set_lookup(self, entity: Entity, row: Row, navigation: SingleNavigation, target: Any) -> None:
        """Bind (or, with None, clear) a single-valued navigation property of an existing row."""
        column = entity.columns[navigation.column]
        self._check_writable(entity, column, creating=False, shown_as=navigation.name)
        row[navigation.column] = None if target is None else self._bind(entity, navigation, target)
        self._derive_owning(entity, row)
        self._stamp(entity, row, now_utc())

    def _changes(
        self, entity: Entity, body: dict[str, Any], *, creating: bool, row_id: str
    ) -> tuple[Row, list[Row] | None]:
        changes: Row = {}
        parties: list[Row] | None = None
        for key, value in body.items():
            if key.startswith("@"):
                continue  # @odata.type, @odata.context, @odata.etag: control information
            if key.endswith("@odata.bind"):
                name = key[: -len("@odata.bind")]
                navigation = entity.single.get(name)
                if navigation is None:
                    if name in entity.collections:
                        raise DataverseFault.not_modelled(f"binding collection-valued '{name}' on write")
                    raise DataverseFault.undeclared_navigation(name, entity.set_name)
                column = entity.columns[navigation.column]
                self._check_writable(entity, column, creating=creating, shown_as=name)
                changes[navigation.column] = None if value is None else self._bind(entity, navigation, value)
                continue
            if "@" in key:
                continue  # instance annotations of a property are not data
            if key in entity.collections:
                parties = self._parties(entity, entity.collections[key], value, row_id)
                continue
            column = entity.columns.get(key)
            if column is not None and column.is_lookup:
                raise DataverseFault.invalid_property(
                    key, entity.type_name, "Set a lookup with '<navigation property>@odata.bind'."
                )
            if column is None or entity.properties.get(key) is not column:
                raise DataverseFault.invalid_property(key, entity.type_name)
            if key == entity.primary_id:
                if normalize_guid(value) != row_id:
                    raise DataverseFault.bad_request(
                        f"The value of '{key}' cannot be changed: it is the record's primary key.",
                        INVALID_ARGUMENT,
                    )
                continue
            if key == "statecode" and creating:
                raise DataverseFault.bad_request(
                    f"'statecode' is not valid on create for '{entity.logical_name}': a record starts "
                    "in its default state; set statecode and statuscode with a later update.",
                    INVALID_ARGUMENT,
                )
            if not (creating and (entity.logical_name, key) in SEEDABLE):
                self._check_writable(entity, column, creating=creating, shown_as=key)
            changes[key] = _coerce(entity, column, value)
        if "ownerid" in changes:
            self._derive_owning(entity, changes)
        return changes, parties

    def _check_writable(self, entity: Entity, column: Column, *, creating: bool, shown_as: str) -> None:
        if creating and not column.valid_for_create:
            raise DataverseFault.bad_request(
                f"'{shown_as}' is not valid for create on '{entity.logical_name}' (read-only column "
                f"'{column.name}').",
                INVALID_ARGUMENT,
            )
        if not creating and not column.valid_for_update:
            raise DataverseFault.bad_request(
                f"'{shown_as}' is not valid for update on '{entity.logical_name}' (column '{column.name}' "
                "cannot be changed after create).",
                INVALID_ARGUMENT,
            )

    def _bind(self, entity: Entity, navigation: SingleNavigation, value: Any) -> dict[str, str]:
        reference = self.reference(value)
        if reference.entity is None:
            modelled = [target for target in navigation.targets if self.schema.entity(target) is not None]
            if len(navigation.targets) != 1 or modelled:
                raise DataverseFault.bad_request(
                    f"'{reference.set_name}' is not an entity set '{navigation.name}' can point at.",
                    PAYLOAD_ERROR,
                )
            return {"id": reference.id, "entity": navigation.targets[0], "nav": navigation.name}
        target = reference.entity.logical_name
        if target not in navigation.targets:
            raise DataverseFault.bad_request(
                f"A '{target}' record cannot be bound to '{navigation.name}' of '{entity.logical_name}' "
                f"(it points at {', '.join(navigation.targets)}).",
                PAYLOAD_ERROR,
            )
        if self.find(reference.entity, reference.id) is None:
            raise DataverseFault.not_found(target, reference.id)
        return {"id": reference.id, "entity": target, "nav": navigation.name}

    def _derive_owning(self, entity: Entity, row: Row) -> None:
        """`owninguser`/`owningteam` follow `ownerid`, as Dataverse keeps them."""
        owner = row.get("ownerid")
        for column, kind in (("owninguser", "systemuser"), ("owningteam", "team")):
            if column in entity.columns and entity.columns[column].is_lookup:
                matches = owner is not None and owner["entity"] == kind
                row[column] = {"id": owner["id"], "entity": kind, "nav": column} if matches else None

    def _parties(
        self, entity: Entity, navigation: CollectionNavigation, value: Any, row_id: str
    ) -> list[Row]:
        if entity.logical_name != "appointment" or navigation.target != "activityparty":
            raise DataverseFault.not_modelled(f"deep insert through '{navigation.name}'")
        party_entity = self.schema.entity("activityparty")
        assert party_entity is not None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise DataverseFault.bad_request(f"'{navigation.name}' must be an array of activity parties.")
        parties: list[Row] = []
        for item in value:
            if any(key.startswith("activityid") for key in item):
                raise DataverseFault.bad_request(
                    f"An activity party in '{navigation.name}' cannot name its activity: it is this record."
                )
            party_id = normalize_guid(item.get("activitypartyid")) or new_id()
            changes, _ = self._changes(party_entity, item, creating=True, row_id=party_id)
            if changes.get("partyid") is None and not changes.get("addressused"):
                raise DataverseFault.bad_request(
                    "An activity party needs a party ('partyid_<table>@odata.bind') or 'addressused'."
                )
            if changes.get("participationtypemask") is None:
                raise DataverseFault.bad_request("An activity party needs 'participationtypemask'.")
            party: Row = {"activitypartyid": party_id, **changes}
            party["activityid"] = {"id": row_id, "entity": "activitypointer", "nav": "activityid_appointment"}
            party["partyobjecttypecode"] = party["partyid"]["entity"] if party.get("partyid") else None
            party["versionnumber"] = self.state.next_version()
            parties.append(party)
        return parties

    def _replace_parties(self, activity_id: str, parties: list[Row]) -> None:
        table = self.state.table("activityparty")
        for party_id in [p for p, party in table.items() if _points_at(party.get("activityid"), activity_id)]:
            del table[party_id]
        for party in parties:
            table[party["activitypartyid"]] = party

    def _settle_state(self, entity: Entity, row: Row, changes: Row, *, creating: bool) -> None:
        state_column, status_column = entity.state_column, entity.status_column
        if state_column is None or status_column is None:
            return
        status = changes.get("statuscode")
        if creating:
            state = 0
        elif "statecode" in changes:
            state = changes["statecode"]
        elif status is not None:
            state = _status_state(status_column, status)
        else:
            return
        if status is None:
            default = state_column.options.get(str(state), {}).get("defaultStatus")
            row["statuscode"] = default
        elif _status_state(status_column, status) != state:
            state_label = state_column.label(state) or str(state)
            raise DataverseFault.bad_request(
                f"{status} is not a valid status code for state code {entity.schema_name}State."
                f"{state_label.replace(' ', '')} on {entity.logical_name}.",
                INVALID_STATE_STATUS,
            )
        row["statecode"] = state

    def _stamp(self, entity: Entity, row: Row, now: str) -> None:
        row["modifiedon"] = now
        if "modifiedby" in entity.columns and self.caller is not None:
            row["modifiedby"] = {"id": self.caller, "entity": "systemuser", "nav": "modifiedby"}
        row["versionnumber"] = self.state.next_version()
        name = entity.logical_name
        if name in _FULL_NAME_TABLES:
            parts = [row.get("firstname"), row.get("lastname")]
            row["fullname"] = " ".join(part for part in parts if part) or None
        if name == "appointment":
            row["activitytypecode"] = "appointment"
        if name == "systemuser":
            row.setdefault("isdisabled", False)
        if name == "team":
            row.setdefault("teamtype", 0)
            row.setdefault("isdefault", False)
            row.setdefault("systemmanaged", False)

    # -- reads ----------------------------------------------------------------------------------------

    def value(self, entity: Entity, row: Row, prop: str) -> Any:
        """A Web API property's value as `$filter` and `$orderby` see it."""
        column = entity.properties[prop]
        raw = row.get(column.name)
        if column.is_lookup:
            return raw["id"] if isinstance(raw, dict) else None
        return raw

    def render(
        self,
        entity: Entity,
        row: Row,
        *,
        select: list[str] | None,
        prefer: Preferences,
        expansions: Sequence[Expansion] = (),
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if row.get("versionnumber") is not None:
            out["@odata.etag"] = f'W/"{row["versionnumber"]}"'
        names = list(entity.properties) if select is None else select
        if entity.primary_id not in names:
            names = [entity.primary_id, *names]
        for name in names:
            column = entity.properties[name]
            raw = row.get(column.name)
            if column.is_lookup:
                out[name] = raw["id"] if isinstance(raw, dict) else None
                if isinstance(raw, dict):
                    self._lookup_annotations(out, name, raw, prefer)
                continue
            out[name] = raw
            if raw is not None and column.options and prefer.wants_annotation(FORMATTED):
                label = column.label(raw)
                if label is not None:
                    out[f"{name}@{FORMATTED}"] = label
        for expansion in expansions:
            out[expansion.navigation] = self.expand(entity, row, expansion, prefer)
        return out

    def _lookup_annotations(
        self, out: dict[str, Any], name: str, raw: dict[str, str], prefer: Preferences
    ) -> None:
        if prefer.wants_annotation(FORMATTED):
            formatted = self._primary_name(raw)
            if formatted is not None:
                out[f"{name}@{FORMATTED}"] = formatted
        if prefer.wants_annotation(ASSOCIATED_NAVIGATION):
            out[f"{name}@{ASSOCIATED_NAVIGATION}"] = raw["nav"]
        if prefer.wants_annotation(LOOKUP_LOGICAL_NAME):
            out[f"{name}@{LOOKUP_LOGICAL_NAME}"] = raw["entity"]

    def _primary_name(self, raw: dict[str, str]) -> Any:
        target = self.schema.entity(raw["entity"])
        if target is None:
            return None
        row = self.find(target, raw["id"])
        return None if row is None else row.get(target.primary_name)

    def expand(self, entity: Entity, row: Row, expansion: Expansion, prefer: Preferences) -> Any:
        name = expansion.navigation
        single = entity.single.get(name)
        if single is not None:
            if expansion.filter or expansion.orderby or expansion.top:
                raise DataverseFault.bad_request(
                    f"Only $select is allowed when expanding single-valued '{name}'.", INVALID_ARGUMENT
                )
            return self.related_row(entity, row, single, expansion.select, prefer)
        collection = entity.collections.get(name)
        if collection is None:
            raise DataverseFault.unknown_property(name, entity.type_name)
        target, rows = self.related_rows(entity, row, collection)
        rows = self.apply_query(target, rows, filter_text=expansion.filter, orderby_text=expansion.orderby)
        top = parse_top(expansion.top)
        if top is not None:
            rows = rows[:top]
        select = parse_select(expansion.select, target)
        return [self.render(target, related, select=select, prefer=prefer) for related in rows]

    def related_row(
        self,
        entity: Entity,
        row: Row,
        navigation: SingleNavigation,
        select_text: str | None,
        prefer: Preferences,
    ) -> dict[str, Any] | None:
        raw = row.get(navigation.column)
        if not isinstance(raw, dict) or raw["entity"] not in navigation.targets:
            return None
        target = self.schema.entity(raw["entity"])
        if target is None:
            raise DataverseFault.not_modelled(f"'{raw['entity']}' records (expanding '{navigation.name}')")
        related = self.find(target, raw["id"])
        if related is None:
            return None
        return self.render(target, related, select=parse_select(select_text, target), prefer=prefer)

    def related_rows(
        self, entity: Entity, row: Row, navigation: CollectionNavigation
    ) -> tuple[Entity, list[Row]]:
        target = self.schema.entity(navigation.target) if navigation.target else None
        if target is None:
            raise DataverseFault.not_modelled(
                f"'{navigation.name}' (its related table is not in the reference)"
            )
        row_id = row[entity.primary_id]
        if navigation.kind == "many_to_many":
            if navigation.name != "teammembership_association":
                raise DataverseFault.not_modelled(f"the many-to-many relationship '{navigation.name}'")
            if entity.logical_name == "team":
                ids = [user for team, user in self.state.memberships if team == row_id]
            else:
                ids = [team for team, user in self.state.memberships if user == row_id]
            return target, [r for r in (self.find(target, i) for i in ids) if r is not None]
        column = navigation.column or ""
        return target, [r for r in self.rows(target) if _points_at(r.get(column), row_id)]

    def apply_query(
        self, entity: Entity, rows: list[Row], *, filter_text: str | None, orderby_text: str | None
    ) -> list[Row]:
        if filter_text:
            condition = parse_filter(filter_text, entity)
            rows = [
                row for row in rows if condition.matches(lambda prop, row=row: self.value(entity, row, prop))
            ]
        order = parse_orderby(orderby_text, entity)
        if order:
            rows = list(rows)
            sort_records(rows, order, lambda row, prop: self.value(entity, row, prop))
        return rows

    # -- many-to-many ---------------------------------------------------------------------------------

    def associate(self, entity: Entity, row: Row, navigation: CollectionNavigation, target_ref: Any) -> None:
        reference = self.reference(target_ref)
        target, _ = self.related_rows(entity, row, navigation)
        if reference.entity is None or reference.entity.logical_name != target.logical_name:
            raise DataverseFault.bad_request(
                f"'{navigation.name}' relates '{entity.logical_name}' to '{target.logical_name}' records, "
                f"not to '{reference.set_name}'.",
                PAYLOAD_ERROR,
            )
        related = self.get(target, reference.id)
        row_id = row[entity.primary_id]
        if navigation.kind == "one_to_many":
            column = navigation.column or ""
            related[column] = {"id": row_id, "entity": entity.logical_name, "nav": column}
            self._stamp(target, related, now_utc())
            return
        pair = (row_id, reference.id) if entity.logical_name == "team" else (reference.id, row_id)
        if pair in self.state.memberships:
            raise DataverseFault.duplicate()
        self.state.memberships[pair] = None

    def disassociate(
        self, entity: Entity, row: Row, navigation: CollectionNavigation, related_id: str
    ) -> None:
        target, related_rows = self.related_rows(entity, row, navigation)
        row_id = row[entity.primary_id]
        if navigation.kind == "one_to_many":
            for related in related_rows:
                if related[target.primary_id] == related_id:
                    related[navigation.column or ""] = None
                    self._stamp(target, related, now_utc())
            return
        pair = (row_id, related_id) if entity.logical_name == "team" else (related_id, row_id)
        self.state.memberships.pop(pair, None)


def _points_at(raw: Any, row_id: str) -> bool:
    return isinstance(raw, dict) and raw.get("id") == row_id


def _status_state(status_column: Column, status: int) -> Any:
    option = status_column.options.get(str(status))
    return option.get("state") if isinstance(option, dict) else None


def _not_convertible(value: Any, edm_type: str) -> DataverseFault:
    return DataverseFault.bad_request(
        f"Cannot convert the literal '{value}' to the expected type '{edm_type}'."
    )


def _coerce(entity: Entity, column: Column, value: Any) -> Any:
    """`value` as stored for `column`, or Dataverse's 400 when it is not of the column's type."""
    if value is None:
        return None
    kind = column.type
    edm = _EDM_TYPES.get(kind, "Edm.String")
    if kind in ("String", "Memo", "EntityName"):
        if not isinstance(value, str):
            raise _not_convertible(value, edm)
        if column.max_length is not None and len(value) > column.max_length:
            # Dataverse's StringLengthTooLong (web-service-error-codes); the column is named for whoever
            # reads the log, which Microsoft's generic text does not do.
            raise DataverseFault.bad_request(
                "A validation error occurred. A string value provided is too long. "
                f"('{column.name}' of '{entity.logical_name}' holds {column.max_length} characters, "
                f"{len(value)} were given.)",
                STRING_LENGTH_TOO_LONG,
            )
        return value
    if kind in ("Integer", "BigInt", "Picklist", "State", "Status"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _not_convertible(value, edm)
        if kind in ("Picklist", "State", "Status") and column.options and str(value) not in column.options:
            raise DataverseFault.bad_request(
                f"A validation error occurred. The value {value} of '{column.name}' on record of type "
                f"'{entity.logical_name}' is outside the valid range.",
                VALUE_OUT_OF_RANGE,
            )
        return value
    if kind in ("Double", "Decimal", "Money"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _not_convertible(value, edm)
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise _not_convertible(value, edm)
        return value
    if kind == "DateTime":
        normalized = normalize_datetime(value) if isinstance(value, str) else None
        if normalized is None:
            raise _not_convertible(value, edm)
        return normalized
    if kind == "Uniqueidentifier":
        guid = normalize_guid(value)
        if guid is None:
            raise _not_convertible(value, edm)
        return guid
    return value
