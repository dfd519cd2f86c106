"""What the booking page sees of the outside world: no Outlook for holds, and records that do not
give away whether they exist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scheduling_core.domain.intervals import Interval
from scheduling_core.domain.matching import AccountRow, ContactRow, LeadRow
from scheduling_core.errors import NotFound
from scheduling_core.ports import HostFreeBusy, Mailbox
from scheduling_core.services.router import RecordDirectory


class NoOutlook:
    """A `BusyTimeSource` that reports every mailbox free: slots as our own rules and storage see them."""

    def free_busy(
        self, mailboxes: Sequence[Mailbox], window: Interval, *, fresh: bool = False
    ) -> Mapping[str, HostFreeBusy]:
        return {m.host_id: HostFreeBusy() for m in mailboxes}


@dataclass(frozen=True, slots=True)
class _NoAddress:
    country: str | None = None
    postal_code: str | None = None


class QuietRecords:
    """The page's view of Dynamics records: a record that does not exist looks like one without owner,
    team or address, so routing falls through to its next rule and an anonymous caller cannot tell
    from the answer whether a record id exists (keyed callers still get the 404)."""

    def __init__(self, records: RecordDirectory) -> None:
        self._records = records

    def record_owner(self, record_type: str, record_id: str) -> Any:
        try:
            return self._records.record_owner(record_type, record_id)
        except NotFound:
            return None

    def account_team(self, record_type: str, record_id: str, role: str) -> list[str]:
        try:
            return self._records.account_team(record_type, record_id, role)
        except NotFound:
            return []

    def record_location(self, record_type: str, record_id: str) -> Any:
        try:
            return self._records.record_location(record_type, record_id)
        except NotFound:
            return _NoAddress()

    def systemuser_aad_id(self, systemuser_id: str) -> str | None:
        return self._records.systemuser_aad_id(systemuser_id)

    # Matching an email never answers 404: an email nobody has is "no rows", the same as for keyed callers.
    def contacts_with_email(self, email: str) -> tuple[ContactRow, ...]:
        return self._records.contacts_with_email(email)

    def leads_with_email(self, email: str) -> tuple[LeadRow, ...]:
        return self._records.leads_with_email(email)

    def accounts_on_domain(self, domain: str) -> tuple[AccountRow, ...]:
        return self._records.accounts_on_domain(domain)

    def ensure_lead(self, *, email: str, first_name: str | None, last_name: str, company: str | None) -> str:
        return self._records.ensure_lead(
            email=email, first_name=first_name, last_name=last_name, company=company
        )
