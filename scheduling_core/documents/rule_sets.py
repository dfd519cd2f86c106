"""Routing rule sets as the admin API accepts, stores and returns them (`PUT /admin/routing/{ruleSetId}`).

The boundary form of `routing.RuleSet`: camelCase JSON validated once, with every
error located at the offending path (`rules.2.strategy`, `rules.0.when.recordType`,
`rules.4.pool`). Each rule carries only the fields of its strategy.

Validation normalises what carries no order or case: `when.recordType` becomes
sorted lower-case logical names, `countries` sorted upper-case ISO codes. After
that, `to_domain` then `from_domain` gives the same document back.

This is the one JSON codec of a rule set: the admin API, the configuration table and the copy stored
with every routing decision (`rule_set_to_json`, `documents.routing_decisions`) all go through it.

Pool hosts that do not exist are not a schema error (the schema knows no
directory): `unknown_pool_hosts` lists them for the service to answer 422.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from scheduling_core.documents.config import HOST_ID_PATTERN, Document
from scheduling_core.domain.matching import MatchSettings
from scheduling_core.domain.routing.rules import (
    DEFAULT_NO_SHOW_WEIGHT,
    Eligibility,
    Fairness,
    Rule,
    RuleSet,
    Strategy,
    TerritoryMatch,
    weight_fraction,
)

StrategyName = Literal["owner", "accountTeam", "territory", "skills", "roundRobin"]
FairnessName = Literal["leastRecentlyBooked", "balanced", "weighted"]

MAX_RULES = 100
MAX_POOL = 500

_RecordType = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
_Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")]
_PostalPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$")]
_Name = Annotated[str, Field(min_length=1, max_length=64)]
_HostId = Annotated[str, Field(pattern=HOST_ID_PATTERN)]
_Level = Annotated[int, Field(ge=1, le=100)]


_ANSWER_KEY = re.compile(r"^answers\.([A-Za-z0-9_-]{1,64})$")
MAX_ANSWER_VALUES = 50


class WhenDoc(Document):
    """When the rule applies: every condition must hold; a list means any of its values.

    `recordType`: the record types (Dataverse logical names, e.g. `lead`). `answers.<id>`: the values
    of the event type's question `<id>` (routing.md, "Conditions on answers"), e.g.
    `{"answers.companySize": ["201-1000", "1000+"]}`. Answer keys are the open part of the object
    (kept as extra keys, so the stored document reads as written); any other unknown key is refused at
    its own path (`rules.0.when.recordTypes`), as a closed object would.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "patternProperties": {
                _ANSWER_KEY.pattern: {"type": "array", "items": {"type": "string"}, "minItems": 1}
            },
            "additionalProperties": False,
        },
    )

    recordType: list[_RecordType] | None = Field(default=None, min_length=1, max_length=50)

    @model_validator(mode="wrap")
    @classmethod
    def _closed_but_for_answers(cls, data: Any, handler: ModelWrapValidatorHandler[WhenDoc]) -> WhenDoc:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in cls.model_fields and not _ANSWER_KEY.match(str(k))]
            if unknown:
                raise ValidationError.from_exception_data(
                    cls.__name__,
                    [InitErrorDetails(type="extra_forbidden", loc=(str(k),), input=data[k]) for k in unknown],
                )
        return handler(data)

    @field_validator("recordType")
    @classmethod
    def _normalise(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({name.lower() for name in value})

    @model_validator(mode="after")
    def _answers(self) -> WhenDoc:
        extra = self.__pydantic_extra__ or {}
        for key, values in extra.items():
            if (
                not isinstance(values, list)
                or not 1 <= len(values) <= MAX_ANSWER_VALUES
                or not all(isinstance(v, str) and 1 <= len(v.strip()) <= 200 for v in values)
            ):
                raise ValueError(
                    f"'{key}' must be a list of 1 to {MAX_ANSWER_VALUES} answer values of 1-200 characters"
                )
            extra[key] = sorted({v.strip() for v in values})
        if self.recordType is None and not extra:
            raise ValueError("give recordType or at least one answers.<question id> condition")
        return self

    def answer_conditions(self) -> dict[str, frozenset[str]]:
        """Question id -> the values that satisfy it."""
        extra = self.__pydantic_extra__ or {}
        return {key.partition(".")[2]: frozenset(values) for key, values in extra.items()}


class TerritoryDoc(Document):
    """How a territory is recognised: by country, by postal code prefix, or both (both must match)."""

    countries: list[_Country] = Field(default_factory=list, max_length=300)
    postalPrefixes: list[_PostalPrefix] = Field(default_factory=list, max_length=1000)

    @field_validator("countries")
    @classmethod
    def _normalise(cls, value: list[str]) -> list[str]:
        return sorted({code.upper() for code in value})

    @model_validator(mode="after")
    def _something_to_match(self) -> TerritoryDoc:
        if not self.countries and not self.postalPrefixes:
            raise ValueError("give countries or postalPrefixes (or both)")
        return self

    def to_domain(self) -> TerritoryMatch:
        return TerritoryMatch(countries=frozenset(self.countries), postal_prefixes=tuple(self.postalPrefixes))

    @classmethod
    def from_domain(cls, match: TerritoryMatch) -> TerritoryDoc:
        return cls(countries=sorted(match.countries), postalPrefixes=list(match.postal_prefixes))


def _strategy(info: ValidationInfo) -> str | None:
    """The rule's strategy if it validated (fields are checked in declaration order)."""
    value = info.data.get("strategy")
    return value if isinstance(value, str) else None


def _only_for(strategy: str | None, owner: str, given: bool, field: str) -> None:
    if strategy is not None and strategy != owner and given:
        raise ValueError(f"{field} is only for the {owner} strategy, not {strategy}")


class RuleDoc(Document):
    name: str = Field(min_length=1, max_length=100)
    when: WhenDoc | None = None
    strategy: StrategyName
    role: str | None = Field(
        default=None, min_length=1, max_length=100, validate_default=True, description="accountTeam only"
    )
    territories: dict[_Name, TerritoryDoc] = Field(
        default_factory=dict, max_length=500, validate_default=True, description="territory only"
    )
    require: dict[_Name, _Level] = Field(
        default_factory=dict, max_length=50, validate_default=True, description="skills only"
    )
    pool: list[_HostId] = Field(
        default_factory=list, max_length=MAX_POOL, validate_default=True, description="roundRobin only"
    )
    fairness: FairnessName = "leastRecentlyBooked"
    noShowWeight: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="balanced/weighted: how much of a booking an invitee's no-show or cancel counts",
    )

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None, info: ValidationInfo) -> str | None:
        strategy = _strategy(info)
        if strategy == "accountTeam" and value is None:
            raise ValueError("an accountTeam rule needs the team role to route to")
        _only_for(strategy, "accountTeam", value is not None, "role")
        return value

    @field_validator("territories")
    @classmethod
    def _territories(cls, value: dict[str, TerritoryDoc], info: ValidationInfo) -> dict[str, TerritoryDoc]:
        _only_for(_strategy(info), "territory", bool(value), "territories")
        return value

    @field_validator("require")
    @classmethod
    def _require(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        _only_for(_strategy(info), "skills", bool(value), "require")
        return value

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: list[str], info: ValidationInfo) -> list[str]:
        strategy = _strategy(info)
        if strategy == "roundRobin" and not value:
            raise ValueError("a roundRobin rule needs at least one host in its pool")
        _only_for(strategy, "roundRobin", bool(value), "pool")
        if len(set(value)) != len(value):
            raise ValueError("pool host ids must be unique")
        return value

    def to_domain(self) -> Rule:
        return Rule(
            name=self.name,
            strategy=Strategy(self.strategy),
            when_record_types=None
            if self.when is None or self.when.recordType is None
            else frozenset(self.when.recordType),
            when_answers={} if self.when is None else self.when.answer_conditions(),
            role=self.role,
            territories={name: doc.to_domain() for name, doc in self.territories.items()},
            require=dict(self.require),
            pool=tuple(self.pool),
            fairness=Fairness(self.fairness),
            no_show_weight=weight_fraction(self.noShowWeight),
        )

    @classmethod
    def from_domain(cls, rule: Rule) -> RuleDoc:
        """Sets only what the rule holds (and sorts what carries no order), so that `model_dump` with
        `exclude_unset` is the canonical stored form (`rule_set_to_json`)."""
        fields: dict[str, Any] = {"name": rule.name}
        if rule.when_record_types is not None or rule.when_answers:
            when: dict[str, Any] = {}
            if rule.when_record_types is not None:
                when["recordType"] = sorted(rule.when_record_types)
            when |= {f"answers.{q}": sorted(rule.when_answers[q]) for q in sorted(rule.when_answers)}
            fields["when"] = WhenDoc.model_validate(when)
        fields["strategy"] = rule.strategy.value
        if rule.role is not None:
            fields["role"] = rule.role
        if rule.territories:
            fields["territories"] = {
                name: TerritoryDoc.from_domain(rule.territories[name]) for name in sorted(rule.territories)
            }
        if rule.require:
            fields["require"] = {skill: rule.require[skill] for skill in sorted(rule.require)}
        if rule.pool:
            fields["pool"] = list(rule.pool)
        fields["fairness"] = rule.fairness.value
        if rule.no_show_weight != DEFAULT_NO_SHOW_WEIGHT:
            fields["noShowWeight"] = float(rule.no_show_weight)
        return cls(**fields)


class EligibilityDoc(Document):
    excludeOutOfOffice: bool = True
    respectDailyCaps: bool = True
    requireAvailabilityWithinDays: int | None = Field(default=None, ge=1, le=365)

    def to_domain(self) -> Eligibility:
        return Eligibility(
            exclude_out_of_office=self.excludeOutOfOffice,
            respect_daily_caps=self.respectDailyCaps,
            require_availability_within_days=self.requireAvailabilityWithinDays,
        )

    @classmethod
    def from_domain(cls, eligibility: Eligibility) -> EligibilityDoc:
        return cls(
            excludeOutOfOffice=eligibility.exclude_out_of_office,
            respectDailyCaps=eligibility.respect_daily_caps,
            requireAvailabilityWithinDays=eligibility.require_availability_within_days,
        )


class MatchingDoc(Document):
    """Look an invitee email up in Dataverse when no record is given (routing.md, "Matching")."""

    byContactEmail: bool = True
    byLeadEmail: bool = True
    byAccountDomain: bool = True
    createLead: bool = Field(default=False, description="bookings that matched nothing create a lead")

    def to_domain(self) -> MatchSettings:
        return MatchSettings(
            by_contact_email=self.byContactEmail,
            by_lead_email=self.byLeadEmail,
            by_account_domain=self.byAccountDomain,
            create_lead=self.createLead,
        )

    @classmethod
    def from_domain(cls, settings: MatchSettings) -> MatchingDoc:
        return cls(
            byContactEmail=settings.by_contact_email,
            byLeadEmail=settings.by_lead_email,
            byAccountDomain=settings.by_account_domain,
            createLead=settings.create_lead,
        )


class RuleSetDoc(Document):
    """`PUT /admin/routing/{ruleSetId}` body: ordered rules (first with an eligible host wins)."""

    rules: list[RuleDoc] = Field(min_length=1, max_length=MAX_RULES)
    eligibility: EligibilityDoc = Field(default_factory=EligibilityDoc)
    matching: MatchingDoc | None = None

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[RuleDoc]) -> list[RuleDoc]:
        first: dict[str, int] = {}
        for index, rule in enumerate(value):
            if rule.name in first:
                raise ValueError(
                    f"rule names must be unique: rules.{index}.name repeats "
                    f"'{rule.name}' of rules.{first[rule.name]}"
                )
            first[rule.name] = index
        return value

    def to_domain(self, rule_set_id: str) -> RuleSet:
        return RuleSet(
            id=rule_set_id,
            rules=tuple(rule.to_domain() for rule in self.rules),
            eligibility=self.eligibility.to_domain(),
            matching=None if self.matching is None else self.matching.to_domain(),
        )

    @classmethod
    def from_domain(cls, rule_set: RuleSet) -> RuleSetDoc:
        """The document without the id (it is the key it is stored under); sets only what the rule set
        holds, as `RuleDoc.from_domain`."""
        fields: dict[str, Any] = {
            "rules": [RuleDoc.from_domain(rule) for rule in rule_set.rules],
            "eligibility": EligibilityDoc.from_domain(rule_set.eligibility),
        }
        if rule_set.matching is not None:
            fields["matching"] = MatchingDoc.from_domain(rule_set.matching)
        return cls(**fields)


def unknown_pool_hosts(doc: RuleSetDoc, known_host_ids: Collection[str]) -> list[tuple[str, str]]:
    """`(path, host_id)` for every pool host not in `known_host_ids`, e.g. `("rules.4.pool.1", "h9")`."""
    known = set(known_host_ids)
    return [
        (f"rules.{r}.pool.{p}", host_id)
        for r, rule in enumerate(doc.rules)
        for p, host_id in enumerate(rule.pool)
        if host_id not in known
    ]


def rule_set_from_json(rule_set_id: str, payload: Any) -> RuleSet:
    """Validate an admin payload, or a rule set stored with a routing decision, and return the domain
    value (raises `pydantic.ValidationError`)."""
    return RuleSetDoc.model_validate(payload).to_domain(rule_set_id)


def rule_set_to_json(rule_set: RuleSet) -> dict[str, Any]:
    """The rule set as stored with each routing decision (`inputs.ruleSet`) and returned by
    `GET /routing/decisions/{id}`: its admin document without the id, holding only what the rule set sets
    (no `role: null`, no empty `pool`; `fairness` always, `noShowWeight` when not the default), with
    territories, skills and `when` values sorted. `rule_set_from_json` reads it back equal.
    """
    return RuleSetDoc.from_domain(rule_set).model_dump(exclude_unset=True)
