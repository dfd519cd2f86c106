"""Routing rule sets as admins write them (`/admin/routing/{ruleSetId}`).

Invariants:
- A stored rule set validates as `RuleSetDoc` and names only hosts that exist when it is written: a pool
  host nobody configured would silently route nobody (422 with the offending paths instead).
- Stored as the admin sent it (aliases kept), so `GET` answers what `PUT` stored.
"""

from __future__ import annotations

from typing import Any, Protocol

from scheduling_core.documents.rule_sets import RuleSetDoc, unknown_pool_hosts
from scheduling_core.domain.values import Host
from scheduling_core.errors import FieldError, InvalidRequest


class RuleSetDocuments(Protocol):
    """The configuration table's rule-set rows, and the hosts a rule set may name."""

    def get_rule_set_doc(self, rule_set_id: str) -> Any: ...  # NotFound if absent
    def list_rule_set_docs(self) -> list[tuple[str, Any]]: ...
    def put_rule_set_doc(self, rule_set_id: str, doc: str) -> bool: ...  # True if created
    def delete_rule_set(self, rule_set_id: str) -> None: ...  # NotFound if absent
    def list_hosts(self) -> list[Host]: ...


class RuleSetAdmin:
    def __init__(self, documents: RuleSetDocuments) -> None:
        self._documents = documents

    def list(self) -> list[tuple[str, RuleSetDoc]]:
        docs = sorted(self._documents.list_rule_set_docs(), key=lambda kv: kv[0])
        return [(rule_set_id, RuleSetDoc.model_validate(doc)) for rule_set_id, doc in docs]

    def get(self, rule_set_id: str) -> RuleSetDoc:
        return RuleSetDoc.model_validate(self._documents.get_rule_set_doc(rule_set_id))

    def put(self, rule_set_id: str, doc: RuleSetDoc) -> bool:
        """Store `doc` (True if created); `InvalidRequest` when a pool names an unknown host."""
        unknown = unknown_pool_hosts(doc, {h.id for h in self._documents.list_hosts()})
        if unknown:
            raise InvalidRequest(
                "The rule set names unknown hosts.",
                tuple(FieldError(field=path, message=f"unknown host '{host}'") for path, host in unknown),
            )
        return self._documents.put_rule_set_doc(rule_set_id, doc.model_dump_json(by_alias=True))

    def delete(self, rule_set_id: str) -> None:
        self._documents.delete_rule_set(rule_set_id)
