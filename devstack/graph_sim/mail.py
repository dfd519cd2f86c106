"""`POST /users/{id}/sendMail` as Graph validates it, and the message it leaves in Sent Items.

Modelled (docs/real-services.md, Graph "Sending mail"):
- The body is `{"message": {...}, "saveToSentItems"?: bool}`; anything else at either level is refused
  as an unknown property (400 `RequestBodyRead`), as OData deserialization does.
- `body.contentType` is a `bodyType`: `text` or `html` (any case).
- No recipient in toRecipients, ccRecipients or bccRecipients, or one without a well-formed
  `emailAddress.address` → 400 `ErrorInvalidRecipients`.
- A file attachment needs `"@odata.type": "#microsoft.graph.fileAttachment"`, `name` and `contentBytes`
  (base64); a body over Graph's 4 MB request limit (3 MB of attachments) is refused (413).
- A sender that is not a mailbox of the tenant → 404 `ErrorInvalidUser`.
- Success is 202 with no body; the message is kept in the sender's Sent Items unless
  `saveToSentItems` is false.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime
from typing import Any

from devstack.graph_sim.wire import GraphFault, bad_request

MESSAGE_PROPERTIES = frozenset(
    {
        "subject",
        "body",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "replyTo",
        "attachments",
        "importance",
        "from",
        "internetMessageHeaders",
    }
)
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
#: Graph takes at most 4 MB per request; attachments of up to 3 MB may go inline in one request.
MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _unknown(name: str, type_name: str) -> GraphFault:
    return bad_request(
        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use property "
        "names that are defined by the type.",
        "RequestBodyRead",
    )


def _recipients(message: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for field in ("toRecipients", "ccRecipients", "bccRecipients"):
        value = message.get(field) or []
        if not isinstance(value, list):
            raise bad_request(f"Cannot read '{field}': a collection was expected.", "RequestBodyRead")
        for recipient in value:
            address = ((recipient or {}).get("emailAddress") or {}).get("address")
            if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
                raise GraphFault(
                    400,
                    "ErrorInvalidRecipients",
                    f"At least one recipient isn't valid., Recipient \"{address}\" isn't resolved. "
                    "All recipients must be resolved before a message can be submitted.",
                )
            found.append(recipient)
    if not found:
        raise GraphFault(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient is not valid., "
            "A message can't be sent because it contains no recipients.",
        )
    return found


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    value = message.get("attachments") or []
    if not isinstance(value, list):
        raise bad_request("Cannot read 'attachments': a collection was expected.", "RequestBodyRead")
    total = 0
    kept = []
    for attachment in value:
        if not isinstance(attachment, dict) or attachment.get("@odata.type") != FILE_ATTACHMENT:
            raise bad_request(
                "An attachment needs '@odata.type': '#microsoft.graph.fileAttachment'.", "RequestBodyRead"
            )
        name, content = attachment.get("name"), attachment.get("contentBytes")
        if not isinstance(name, str) or not name or not isinstance(content, str):
            raise bad_request("A file attachment needs 'name' and 'contentBytes'.", "ErrorInvalidParameter")
        try:
            size = len(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError):
            raise bad_request("Invalid base64 string for 'contentBytes'.", "RequestBodyRead") from None
        total += size
        kept.append({**attachment, "id": "att-" + uuid.uuid4().hex, "size": size, "isInline": False})
    if total > MAX_ATTACHMENT_BYTES:
        raise GraphFault(413, "ErrorRequestEntityTooLarge", "The request is larger than Graph accepts.")
    return kept


def accept_send_mail(payload: dict[str, Any], sender: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The message as Sent Items keeps it, or None when `saveToSentItems` is false; GraphFault if refused.

    `sender`: the mailbox's `emailAddress` (name and address), which Graph stamps as `from`.
    """
    for name in payload:
        if name not in ("message", "saveToSentItems"):
            raise _unknown(name, "microsoft.graph.sendMail")
    message = payload.get("message")
    if not isinstance(message, dict):
        raise bad_request("The 'message' parameter is missing or not an object.", "ErrorInvalidParameter")
    for name in message:
        if name not in MESSAGE_PROPERTIES:
            raise _unknown(name, "microsoft.graph.message")
    body = message.get("body") or {"contentType": "text", "content": ""}
    kind = str(body.get("contentType", "text"))
    if kind.lower() not in ("text", "html"):
        raise bad_request(f"Requested value '{kind}' was not found.", "RequestBodyRead")
    _recipients(message)
    attachments = _attachments(message)
    save = payload.get("saveToSentItems", True)
    if not isinstance(save, bool):
        raise bad_request("Cannot convert the literal to the expected type 'Edm.Boolean'.", "RequestBodyRead")
    if not save:
        return None
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "@odata.type": "#microsoft.graph.message",
        "id": "msg-" + uuid.uuid4().hex,
        "subject": message.get("subject") or "",
        "body": {"contentType": kind.lower(), "content": str(body.get("content") or "")},
        "from": {"emailAddress": sender},
        "sender": {"emailAddress": sender},
        "toRecipients": list(message.get("toRecipients") or []),
        "ccRecipients": list(message.get("ccRecipients") or []),
        "bccRecipients": list(message.get("bccRecipients") or []),
        "sentDateTime": stamp,
        "createdDateTime": stamp,
        "hasAttachments": bool(attachments),
        "attachments": attachments,
        "isDraft": False,
    }
