"""The Graph simulator's sendMail and Sent Items, held to what Graph does (docs/real-services.md)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.graph import GraphSim

BEARER = {"Authorization": "Bearer test"}


@pytest.fixture
def sender(graph: GraphSim) -> str:
    address = f"sender-{uuid.uuid4().hex[:6]}@contoso.com"
    r = httpx.post(f"{graph.v1}/users", headers=BEARER, json={"displayName": "Sender", "mail": address})
    assert r.status_code == 201, r.text
    return address


def _message(**overrides: Any) -> dict[str, Any]:
    message = {
        "subject": "Hello",
        "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
        "toRecipients": [{"emailAddress": {"address": "jo@fabrikam.com", "name": "Jo"}}],
    }
    return {**message, **overrides}


def _send(graph: GraphSim, sender: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{graph.v1}/users/{sender}/sendMail", headers=BEARER, json=payload)


def _sent(graph: GraphSim, sender: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{graph.v1}/users/{sender}/mailFolders/sentitems/messages", headers=BEARER)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["value"]
    return items


def test_send_mail_answers_202_without_a_body_and_keeps_the_message_in_sent_items(
    graph: GraphSim, sender: str
) -> None:
    ics = base64.b64encode(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").decode()
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "invite.ics",
        "contentType": "text/calendar",
        "contentBytes": ics,
    }
    r = _send(graph, sender, {"message": _message(attachments=[attachment])})
    assert (r.status_code, r.content) == (202, b"")
    [kept] = _sent(graph, sender)
    assert kept["subject"] == "Hello" and kept["body"] == {"contentType": "html", "content": "<p>Hi</p>"}
    assert kept["from"]["emailAddress"]["address"] == sender
    assert kept["hasAttachments"] is True and kept["attachments"][0]["size"] == 32


def test_save_to_sent_items_false_sends_without_keeping_a_copy(graph: GraphSim, sender: str) -> None:
    assert _send(graph, sender, {"message": _message(), "saveToSentItems": False}).status_code == 202
    assert _sent(graph, sender) == []


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"message": _message(toRecipients=[])}, 400, "ErrorInvalidRecipients"),
        (
            {"message": _message(toRecipients=[{"emailAddress": {"address": "nobody"}}])},
            400,
            "ErrorInvalidRecipients",
        ),
        ({"message": _message(body={"contentType": "markdown", "content": "x"})}, 400, "RequestBodyRead"),
        ({"message": _message(colour="red")}, 400, "RequestBodyRead"),
        ({"message": _message(), "sendNow": True}, 400, "RequestBodyRead"),
        ({"subject": "no message wrapper"}, 400, "RequestBodyRead"),
        (
            {"message": _message(attachments=[{"name": "a.ics", "contentBytes": "QQ=="}])},
            400,
            "RequestBodyRead",
        ),
        (
            {
                "message": _message(
                    attachments=[
                        {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a", "contentBytes": "%%"}
                    ]
                )
            },
            400,
            "RequestBodyRead",
        ),
    ],
)
def test_send_mail_refuses_what_graph_refuses_and_keeps_nothing(
    graph: GraphSim, sender: str, payload: dict[str, Any], status: int, code: str
) -> None:
    r = _send(graph, sender, payload)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert _sent(graph, sender) == []


def test_send_mail_from_a_mailbox_the_tenant_does_not_have_is_404_error_invalid_user(graph: GraphSim) -> None:
    r = _send(graph, "ghost@contoso.com", {"message": _message()})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ErrorInvalidUser")
