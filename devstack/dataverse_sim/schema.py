"""The tables the simulator knows, read from Microsoft's table reference (`dataverse-entities.json`).

`dataverse-entities.json` is a verbatim copy of `../shared/reference/dataverse-entities.json`
(a test keeps the two identical). Everything the simulator accepts comes from it:

- entity set names (`leads`), primary ids, columns with their types, options and
  create/update validity;
- single-valued navigation properties, the names written before `@odata.bind`
  (`ownerid`, `parentaccountid`, `regardingobjectid_lead_appointment`), each bound to
  the lookup column it sets and the tables it may point at;
- collection-valued navigation properties (`teammembership_association`,
  `appointment_activity_parties`, ...) for `$expand` and `$ref`.

Web API properties follow Dataverse's rules: a lookup column `x` is the read-only
property `_x_value`; the `...name`/`...yominame`/`...type` companions of a lookup and
`PartyList` columns are table columns but not Web API properties.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

REFERENCE_FILE = Path(__file__).with_name("dataverse-entities.json")
LOOKUP_TYPES = frozenset({"Lookup", "Owner", "Customer"})
#: Lookups whose referenced "table" is the abstract owner or principal: their targets are the column's.
_ABSTRACT_TARGETS = frozenset({"owner", "principal"})
_COMPANION_SUFFIXES = ("name", "yominame", "type")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    writable: bool
    create: bool | None
    update: bool | None
    read: bool
    targets: tuple[str, ...]
    options: dict[str, Any]
    #: String/Memo columns: the most characters a value may hold (the reference's `maxLength`).
    max_length: int | None = None

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def valid_for_create(self) -> bool:
        return self.create if self.create is not None else self.writable

    @property
    def valid_for_update(self) -> bool:
        return self.update if self.update is not None else self.writable

    @property
    def web_api_name(self) -> str:
        return f"_{self.name}_value" if self.is_lookup else self.name

    def label(self, value: Any) -> str | None:
        """The option label of a choice, state, status or yes/no value (FormattedValue)."""
        if isinstance(value, bool):
            value = int(value)
        option = self.options.get(str(value))
        if isinstance(option, dict):
            label = option.get("label")
            return label if isinstance(label, str) else None
        return option if isinstance(option, str) else None


@dataclass(frozen=True, slots=True)
class SingleNavigation:
    """A single-valued navigation property: `name@odata.bind` sets lookup column `column`."""

    name: str
    column: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CollectionNavigation:
    """A collection-valued navigation property.

    `one_to_many`: records of `target` whose lookup column `column` points here.
    `many_to_many`: records of `target` linked through the intersect table `relationship`.
    """

    name: str
    kind: Literal["one_to_many", "many_to_many"]
    target: str
    column: str | None
    relationship: str


@dataclass(slots=True)
class Entity:
    logical_name: str
    schema_name: str
    set_name: str
    primary_id: str
    primary_name: str
    columns: dict[str, Column]
    single: dict[str, SingleNavigation] = field(default_factory=dict)
    collections: dict[str, CollectionNavigation] = field(default_factory=dict)
    #: Web API property name -> column: `name`, or `_x_value` for a lookup.
    properties: dict[str, Column] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    @property
    def state_column(self) -> Column | None:
        return self.columns.get("statecode")

    @property
    def status_column(self) -> Column | None:
        return self.columns.get("statuscode")


class Schema:
    def __init__(self, entities: dict[str, Entity]) -> None:
        self.entities = entities
        self.by_set = {entity.set_name: entity for entity in entities.values()}

    def entity(self, logical_name: str) -> Entity | None:
        return self.entities.get(logical_name)

    def entity_for_set(self, set_name: str) -> Entity | None:
        return self.by_set.get(set_name)


@cache
def load_schema(path: Path = REFERENCE_FILE) -> Schema:
    reference = json.loads(path.read_text(encoding="utf-8"))
    entities = {name: _entity(name, raw) for name, raw in reference["entities"].items()}
    return Schema(entities)


def _entity(logical_name: str, raw: dict[str, Any]) -> Entity:
    columns = {name: _column(name, spec) for name, spec in raw["attributes"].items()}
    entity = Entity(
        logical_name=logical_name,
        schema_name=raw.get("schemaName") or logical_name,
        set_name=raw["entitySetName"],
        primary_id=raw["primaryId"],
        primary_name=raw["primaryName"],
        columns=columns,
    )
    lookups = {name for name, column in columns.items() if column.is_lookup}
    companions = {f"{lookup}{suffix}" for lookup in lookups for suffix in _COMPANION_SUFFIXES}
    for name, column in columns.items():
        if not column.read or column.type == "PartyList":
            continue
        if name in companions and column.type in ("String", "EntityName"):
            continue
        entity.properties[column.web_api_name] = column

    singles = dict(raw.get("manyToOne", {}))
    own_targets = {
        (spec.get("attribute"), spec.get("referenced")) for spec in singles.values() if spec.get("attribute")
    }
    for name, spec in raw.get("manyToOneInheritedFromActivityPointer", {}).items():
        # The base type's name for a lookup the table has its own navigation for is not the table's: an
        # appointment binds a lead as `regardingobjectid_lead_appointment`, never `regardingobjectid_lead`
        # (issue 12 item 11). Inherited names with no own counterpart (`ownerid`) stay.
        column_name = spec.get("attribute") or _column_named_by(name, lookups)
        if (column_name, spec.get("referenced")) in own_targets:
            continue
        singles.setdefault(name, spec)
    for name, spec in singles.items():
        column_name = spec.get("attribute") or _column_named_by(name, lookups)
        if column_name is None or column_name not in columns:
            continue
        referenced = spec.get("referenced")
        targets = (
            columns[column_name].targets
            if referenced is None or referenced in _ABSTRACT_TARGETS
            else (referenced,)
        )
        entity.single[name] = SingleNavigation(name=name, column=column_name, targets=tuple(targets))

    one_to_many = dict(raw.get("oneToMany", {}))
    for name, spec in (raw.get("oneToManyInheritedFromActivityPointer") or {}).items():
        one_to_many.setdefault(name, spec)
    for relationship, spec in one_to_many.items():
        nav = spec.get("referencedEntityNavigationPropertyName") or relationship
        entity.collections[nav] = CollectionNavigation(
            name=nav,
            kind="one_to_many",
            target=spec["referencingEntity"],
            column=spec.get("referencingAttribute") or "activityid",
            relationship=relationship,
        )
    for relationship, spec in raw.get("manyToMany", {}).items():
        nav = spec.get("navigationPropertyName") or relationship
        entity.collections[nav] = CollectionNavigation(
            name=nav,
            kind="many_to_many",
            target=_MANY_TO_MANY_TARGETS.get((logical_name, nav), ""),
            column=None,
            relationship=spec.get("intersectEntityName") or relationship,
        )
    return entity


#: The other side of the many-to-many relationships the simulator models (both sides in the reference).
_MANY_TO_MANY_TARGETS = {
    ("team", "teammembership_association"): "systemuser",
    ("systemuser", "teammembership_association"): "team",
}


def _column_named_by(navigation: str, lookups: set[str]) -> str | None:
    """The lookup column a navigation property sets when the reference does not say (longest prefix)."""
    candidates = [name for name in lookups if navigation == name or navigation.startswith(f"{name}_")]
    return max(candidates, key=len) if candidates else None


def _column(name: str, spec: dict[str, Any]) -> Column:
    return Column(
        name=name,
        type=spec["type"],
        writable=bool(spec.get("writable", False)),
        create=spec.get("create"),
        update=spec.get("update"),
        read=bool(spec.get("read", True)),
        targets=tuple(spec.get("targets", ())) + tuple(spec.get("targetsAddedByDynamics365", ())),
        options=dict(spec.get("options", {})),
        max_length=spec.get("maxLength"),
    )
