"""Matching an invitee email to a Dynamics record: order and tie-breaking, as pure functions."""

from __future__ import annotations

import pytest

from scheduling_core.domain.matching import (
    AccountRow,
    ContactRow,
    LeadRow,
    Lookup,
    MatchedBy,
    MatchSettings,
    domain_matchable,
    email_domain,
    match,
    split_name,
    website_host,
)

ALL = MatchSettings()
CONTACT = ContactRow(id="c1", parent_account_id="a-parent", created_on="2025-01-01T00:00:00Z")
LEAD = LeadRow(id="l1", created_on="2025-01-01T00:00:00Z")
ACCOUNT = AccountRow(id="a-site", website_url="https://www.contoso.com/", created_on="2025-01-01T00:00:00Z")
EVERYTHING = Lookup(contacts=(CONTACT,), leads=(LEAD,), accounts=(ACCOUNT,))


def test_a_contact_wins_over_a_lead_and_an_account_and_routes_to_its_parent_account() -> None:
    found = match(ALL, "Ana@Contoso.com", EVERYTHING)
    assert (found.by, found.record_type, found.record_id, found.contact_id) == (
        MatchedBy.CONTACT_EMAIL,
        "account",
        "a-parent",
        "c1",
    )


def test_a_contact_without_parent_account_is_the_record_itself() -> None:
    found = match(ALL, "ana@contoso.com", Lookup(contacts=(ContactRow(id="c9"),)))
    assert (found.by, found.record_type, found.record_id) == (MatchedBy.CONTACT_EMAIL, "contact", "c9")


def test_a_lead_wins_over_an_account_when_no_contact_matched() -> None:
    found = match(ALL, "ana@contoso.com", Lookup(leads=(LEAD,), accounts=(ACCOUNT,)))
    assert (found.by, found.record_type, found.record_id) == (MatchedBy.LEAD_EMAIL, "lead", "l1")


def test_switched_off_steps_are_skipped() -> None:
    settings = MatchSettings(by_contact_email=False, by_lead_email=False)
    found = match(settings, "ana@contoso.com", EVERYTHING)
    assert (found.by, found.record_type, found.record_id) == (MatchedBy.ACCOUNT_DOMAIN, "account", "a-site")
    nothing = MatchSettings(by_contact_email=False, by_lead_email=False, by_account_domain=False)
    assert match(nothing, "ana@contoso.com", EVERYTHING).by is MatchedBy.NONE


def test_the_oldest_contact_then_the_smallest_id_wins_and_the_others_are_recorded() -> None:
    contacts = (
        ContactRow(id="c-b", parent_account_id="a2", created_on="2025-01-01T00:00:00Z"),
        ContactRow(id="c-c", parent_account_id="a3", created_on="2024-06-01T00:00:00Z"),
        ContactRow(id="c-a", parent_account_id="a1", created_on="2025-01-01T00:00:00Z"),
    )
    found = match(ALL, "ana@contoso.com", Lookup(contacts=contacts))
    assert (found.record_id, found.contact_id, found.others) == ("a3", "c-c", ("c-a", "c-b"))
    reordered = match(ALL, "ana@contoso.com", Lookup(contacts=tuple(reversed(contacts))))
    assert reordered == found


def test_two_accounts_on_one_domain_resolve_to_the_website_match_then_the_oldest() -> None:
    accounts = (
        AccountRow(id="a-mail-old", email="info@contoso.com", created_on="2020-01-01T00:00:00Z"),
        AccountRow(id="a-site-new", website_url="contoso.com", created_on="2025-01-01T00:00:00Z"),
        AccountRow(
            id="a-site-old", website_url="http://WWW.Contoso.com/about", created_on="2024-01-01T00:00:00Z"
        ),
    )
    found = match(ALL, "ana@contoso.com", Lookup(accounts=accounts))
    assert (found.by, found.record_id, found.others) == (
        MatchedBy.ACCOUNT_DOMAIN,
        "a-site-old",
        ("a-site-new", "a-mail-old"),
    )
    assert "2 more on that domain" in found.note
    assert match(ALL, "ana@contoso.com", Lookup(accounts=tuple(reversed(accounts)))) == found


def test_an_account_on_a_look_alike_domain_does_not_match() -> None:
    accounts = (
        AccountRow(id="a1", website_url="https://notcontoso.com"),
        AccountRow(id="a2", website_url="https://contoso.com.evil.example"),
        AccountRow(id="a3", email="sales@sub.contoso.com"),
    )
    assert match(ALL, "ana@contoso.com", Lookup(accounts=accounts)).by is MatchedBy.NONE


@pytest.mark.parametrize(
    "email", ["ana@gmail.com", "ana@Outlook.com", "ana@mailinator.com", "a@x.mailinator.com"]
)
def test_free_mail_and_disposable_domains_never_match_by_domain(email: str) -> None:
    domain = email.rpartition("@")[2].lower()
    account = AccountRow(id="a-free", website_url=f"https://{domain}", email=f"info@{domain}")
    found = match(ALL, email, Lookup(accounts=(account,)))
    assert (found.by, found.record_id) == (MatchedBy.NONE, None)
    assert domain_matchable(email) is None


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://www.Contoso.com/", "contoso.com"),
        ("www.contoso.com", "contoso.com"),
        ("contoso.com:8443/x?y=1", "contoso.com"),
        ("http://shop.contoso.com", "shop.contoso.com"),
        ("", None),
        (None, None),
    ],
)
def test_website_host_ignores_scheme_path_port_case_and_a_leading_www(
    url: str | None, host: str | None
) -> None:
    assert website_host(url) == host


def test_email_domains() -> None:
    assert email_domain(" Ana@WWW.Contoso.COM ") == "contoso.com"
    assert email_domain("no-at-sign") is None
    assert email_domain("@contoso.com") is None
    assert domain_matchable("ana@contoso.com") == "contoso.com"


def test_lead_names_come_from_the_invitee_name() -> None:
    assert split_name("Ana María Lopez") == ("Ana María", "Lopez")
    assert split_name("Cher") == (None, "Cher")
    assert split_name("  ") == (None, "(unknown)")
