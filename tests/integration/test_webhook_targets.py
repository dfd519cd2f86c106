"""Outgoing webhooks cannot reach the inside (issue 13): registration refuses every non-public target,
and secrets are stored encrypted. No test here sends anything: refusals happen before any connection."""

from __future__ import annotations

from typing import Any

import pytest

SECRET = "whsec-targets-0123456789"
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # a test Fernet key


@pytest.fixture(autouse=True)
def _secret_key(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "without_a_key" not in request.node.name:
        monkeypatch.setenv("WEBHOOK_SECRET_KEY", KEY)


FORBIDDEN = [
    "https://127.0.0.1/hook",  # loopback
    "https://127.10.20.30/hook",
    "https://0.0.0.0/hook",  # unspecified: Linux connects it to loopback
    "https://10.0.0.7/hook",  # private
    "https://172.16.3.4/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",  # carrier-grade NAT (shared address space)
    "https://169.254.169.254/latest/meta-data/",  # link-local: the cloud metadata endpoint
    "https://[::1]/hook",  # IPv6 loopback
    "https://[fd12:3456::1]/hook",  # unique-local IPv6
    "https://[fe80::1]/hook",  # link-local IPv6
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "https://[::ffff:a9fe:a9fe]/hook",  # IPv4-mapped metadata address, hex form
    "https://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of the metadata address
    "https://[2002:7f00:1::]/hook",  # 6to4 of loopback
    "https://2130706433/hook",  # decimal integer 127.0.0.1
    "https://017700000001/hook",  # octal integer
    "https://0x7f000001/hook",  # hex integer
    "https://0x7f.1/hook",  # hex, short form
    "https://127.1/hook",  # short form
    "https://0177.0.0.1/hook",  # octal first part
    "https://2852039166/hook",  # decimal 169.254.169.254
    "https://localhost/hook",
    "https://localhost./hook",
    "https://svc.localhost/hook",
    "https://metadata.google.internal/hook",
    "https://printer.local/hook",
    "http://hooks.contoso.com/hook",  # https only outside local development
    "http://127.0.0.1:8080/hook",
]


@pytest.mark.parametrize("url", FORBIDDEN)
def test_registration_refuses_every_non_public_target(app: Any, url: str) -> None:
    r = app.put("/admin/webhooks/inside", json_body={"url": url, "events": ["booking.*"], "secret": SECRET})
    assert (r.status, r.json()["code"]) == (422, "validation-failed"), (url, r.body)
    assert [e["field"] for e in r.json()["errors"]] == ["url"]
    assert app.get("/admin/webhooks/inside").status == 404


@pytest.mark.parametrize(
    "url", ["https://hooks.contoso.com/x", "https://8.8.8.8/x", "https://[2606:4700:4700::1111]/x"]
)
def test_registration_accepts_public_https_targets(app: Any, url: str) -> None:
    r = app.put("/admin/webhooks/outside", json_body={"url": url, "events": ["booking.*"], "secret": SECRET})
    assert r.status == 201, r.body


def test_local_development_allows_plain_http_to_loopback_only(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bootstrap.composition import build_services, install_services
    from bootstrap.settings import Settings

    monkeypatch.setenv("AZURE_FUNCTIONS_ENVIRONMENT", "Development")
    install_services(build_services(Settings.from_env()))
    body = {"events": ["booking.*"], "secret": SECRET}
    assert app.put("/admin/webhooks/dev", json_body={**body, "url": "http://127.0.0.1:9/h"}).status == 201
    assert app.put("/admin/webhooks/dev2", json_body={**body, "url": "http://10.0.0.7/h"}).status == 422
    assert app.put("/admin/webhooks/dev3", json_body={**body, "url": "https://2130706433/"}).status == 422


def _row(subscription_id: str) -> dict[str, Any]:
    from bootstrap.composition import services

    return dict(services().tables.table("webhooks").get_entity("sub", subscription_id))


def test_secrets_are_stored_encrypted_with_the_configured_key(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    from bootstrap.composition import build_services, install_services, services
    from bootstrap.settings import Settings

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("WEBHOOK_SECRET_KEY", key)
    install_services(build_services(Settings.from_env()))
    body = {"url": "https://hooks.contoso.com/x", "events": ["booking.*"], "secret": SECRET}
    assert app.put("/admin/webhooks/sealed", json_body=body).status == 201
    row = _row("sealed")
    assert "secret" not in row and SECRET not in repr(row)
    assert row["secretSealed"].startswith("fernet1:")
    assert Fernet(key.encode()).decrypt(row["secretSealed"][8:].encode()).decode() == SECRET
    assert services().webhooks.get("sealed").secret == SECRET


def test_a_clear_secret_from_before_is_read_and_rewritten_encrypted(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from cryptography.fernet import Fernet

    from bootstrap.composition import build_services, install_services, services
    from bootstrap.settings import Settings

    monkeypatch.setenv("WEBHOOK_SECRET_KEY", Fernet.generate_key().decode())
    install_services(build_services(Settings.from_env()))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    services().tables.table("webhooks").create_entity(
        {
            "PartitionKey": "sub",
            "RowKey": "legacy",
            "url": "https://hooks.contoso.com/x",
            "events": '["booking.*"]',
            "secret": SECRET,
            "createdAt": now,
            "updatedAt": now,
        }
    )
    assert [s.secret for s in services().webhooks.list_subscriptions()] == [SECRET]
    row = _row("legacy")
    assert "secret" not in row and row["secretSealed"].startswith("fernet1:")
    assert services().webhooks.get("legacy").secret == SECRET


def test_without_a_key_outside_local_development_no_secret_is_stored(app: Any) -> None:
    body = {"url": "https://hooks.contoso.com/x", "events": ["booking.*"], "secret": SECRET}
    r = app.put("/admin/webhooks/nokey", json_body=body)
    assert (r.status, r.json()["code"]) == (503, "upstream-unavailable"), r.body
    assert app.get("/admin/webhooks/nokey").status == 404
