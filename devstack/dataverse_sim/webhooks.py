"""Service-endpoint webhooks of the Dataverse simulator: what a registered Dynamics webhook would receive.

Tests register one with `POST /_sim/webhooks` (`{"url", "headers": {...}, "entities": ["appointment"],
"messages": ["Update", "Delete"], "postImages": [...]}`, 201 with its id), list them with `GET` and drop
them with `DELETE`. `postImages` orders the post images: an asynchronous step carries the registered
`PostImage` and also `AsynchronousStepPrimaryName` (the row's primary name and id), as Microsoft's sample
context shows; default `["AsynchronousStepPrimaryName", "PostImage"]`.
When a matching row changes through the Web API, the simulator posts a `RemoteExecutionContext`
(contract Webhook, JSON): `MessageName`, `PrimaryEntityName`/`Id`, `InputParameters` (`Target`: the
attributes written, as a key/value list), `PostEntityImages` (the whole row after an Update),
`PreEntityImages` (the row before), `Depth` 1, `Stage` 40 (post-operation), `Mode` 1 (asynchronous),
`OperationId`/`CorrelationId`/`RequestId` fresh guids, and `InitiatingUserId` = `UserId` = the caller:
the `MSCRMCallerID` header if the request had one, else the token's user (`WhoAmI`'s UserId).

Posting happens on a background thread after the write's lock is released, so a webhook handler that
calls back into the simulator never deadlocks it. Retries are Dynamics': one more attempt only when the
answer is 502, 503 or 504, none for anything else (docs/real-services.md). `POST /_sim/webhooks/drop`
(`{"count": n}`) loses the next n posts (a delivery that never arrives). A context over 256 KB is
posted without `ParentContext`, `InputParameters` and the images, with `x-ms-dynamics-msg-size-exceeded`.
Every attempt is kept in `deliveries` (`GET /_sim/webhooks/deliveries`). Webhooks are test scaffolding:
not persisted.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

OPTION_SET = "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts"
ENTITY_REF = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"
ENTITY = "Entity:http://schemas.microsoft.com/xrm/2011/Contracts"
CONTEXT = "RemoteExecutionContext:http://schemas.microsoft.com/xrm/2011/Contracts"
ORGANIZATION_ID = "6f6d6f63-0000-4000-8000-000000000003"
OPTION_COLUMNS = frozenset({"statecode", "statuscode", "prioritycode"})
PRIMARY_NAME_IMAGE = "AsynchronousStepPrimaryName"
POST_IMAGE = "PostImage"
DEFAULT_POST_IMAGES = (PRIMARY_NAME_IMAGE, POST_IMAGE)
#: The answers after which Dynamics makes its one more attempt (use-webhooks, "Troubleshoot").
RETRIED_STATUSES = frozenset({502, 503, 504})
#: Past this many bytes Dynamics strips the context and says so in a header (use-webhooks).
MAX_PAYLOAD_BYTES = 256 * 1024
SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"
_STRIPPED = ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages")


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    id: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    entities: frozenset[str] = frozenset()
    messages: frozenset[str] = frozenset()
    post_images: tuple[str, ...] = DEFAULT_POST_IMAGES

    def matches(self, entity: str, message: str) -> bool:
        return (not self.entities or entity in self.entities) and (
            not self.messages or message in self.messages
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "headers": dict(self.headers),
            "entities": sorted(self.entities),
            "messages": sorted(self.messages),
            "postImages": list(self.post_images),
        }


def parse_webhook(body: Mapping[str, Any]) -> Webhook:
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("'url' must be an http(s) URL.")
    headers = body.get("headers")
    headers = {} if headers is None else headers
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("'headers' must be an object of strings.")
    lists = {}
    for name in ("entities", "messages"):
        value = body.get(name)
        value = [] if value is None else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"'{name}' must be a list of strings.")
        lists[name] = frozenset(value)
    images = body.get("postImages")
    images = list(DEFAULT_POST_IMAGES) if images is None else images
    if not isinstance(images, list) or not all(v in DEFAULT_POST_IMAGES for v in images):
        raise ValueError(f"'postImages' must list image names of {list(DEFAULT_POST_IMAGES)}.")
    return Webhook(
        post_images=tuple(images),
        id=str(uuid.uuid4()),
        url=url,
        headers=headers,
        entities=frozenset(e.lower() for e in lists["entities"]),
        messages=lists["messages"],
    )


def _ms_date(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return f"/Date({int(parsed.timestamp() * 1000)})/"


def _attribute(name: str, value: Any) -> Any:
    if isinstance(value, dict) and "id" in value and "entity" in value:
        return {"__type": ENTITY_REF, "Id": value["id"], "KeyAttributes": [], "LogicalName": value["entity"]}
    if name in OPTION_COLUMNS and isinstance(value, int):
        return {"__type": OPTION_SET, "Value": value}
    if isinstance(value, str) and (name.startswith(("scheduled", "actual")) or name.endswith("on")):
        return _ms_date(value) or value
    return value


def entity_json(logical_name: str, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "__type": ENTITY,
        "Attributes": [{"key": k, "value": _attribute(k, v)} for k, v in values.items() if "@" not in k],
        "EntityState": None,
        "FormattedValues": [],
        "Id": record_id,
        "KeyAttributes": [],
        "LogicalName": logical_name,
        "RelatedEntities": [],
        "RowVersion": str(values.get("versionnumber")) if values.get("versionnumber") is not None else None,
    }


def execution_context(
    *,
    message: str,
    logical_name: str,
    record_id: str,
    caller_id: str,
    target: Mapping[str, Any] | None,
    pre_image: Mapping[str, Any] | None,
    post_image: Mapping[str, Any] | None,
    primary_name: str | None = None,
    post_images: tuple[str, ...] = (POST_IMAGE,),
) -> dict[str, Any]:
    """A `RemoteExecutionContext` as a Webhook service endpoint posts it (Depth 1, post-operation).

    `post_images` names the post images in order (`PostImage`: the row; `AsynchronousStepPrimaryName`:
    the row's `primary_name` column and id only).
    """
    images: list[dict[str, Any]] = []
    if post_image:
        for name in post_images:
            if name == POST_IMAGE:
                values: Mapping[str, Any] = post_image
            else:
                id_column = f"{logical_name}id" if logical_name != "appointment" else "activityid"
                name_column = primary_name or "name"
                values = {name_column: post_image.get(name_column), id_column: record_id}
            images.append({"key": name, "value": entity_json(logical_name, record_id, values)})
    if message == "Delete":
        inputs = [
            {
                "key": "Target",
                "value": {
                    "__type": ENTITY_REF,
                    "Id": record_id,
                    "KeyAttributes": [],
                    "LogicalName": logical_name,
                },
            }
        ]
    else:
        inputs = [{"key": "Target", "value": entity_json(logical_name, record_id, target or {})}]
    return {
        "__type": CONTEXT,
        "BusinessUnitId": "6f6d6f63-0000-4000-8000-000000000001",
        "CorrelationId": str(uuid.uuid4()),
        "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "InitiatingUserId": caller_id,
        "InputParameters": inputs,
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": message,
        "Mode": 1,
        "OperationCreatedOn": f"/Date({int(datetime.now(UTC).timestamp() * 1000)})/",
        "OperationId": str(uuid.uuid4()),
        "OrganizationId": ORGANIZATION_ID,
        "OrganizationName": "simulated",
        "OutputParameters": [],
        "OwningExtension": {
            "Id": str(uuid.uuid4()),
            "KeyAttributes": [],
            "LogicalName": "sdkmessageprocessingstep",
            "Name": f"webhook: {message} of {logical_name}",
            "RowVersion": None,
        },
        "ParentContext": None,
        "PostEntityImages": images,
        "PreEntityImages": (
            [{"key": "PreImage", "value": entity_json(logical_name, record_id, pre_image)}]
            if pre_image
            else []
        ),
        "PrimaryEntityId": record_id,
        "PrimaryEntityName": logical_name,
        "RequestId": str(uuid.uuid4()),
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "UserId": caller_id,
    }


class WebhookPoster:
    """Registered webhooks and the posting of their contexts on background threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hooks: dict[str, Webhook] = {}
        self.deliveries: list[dict[str, Any]] = []
        # Posts started but not yet answered. A change's posts are counted before its Web API call returns,
        # and a post's own follow-up changes before it is answered, so 0 means every chain has settled.
        self.in_flight = 0
        self._drop = 0

    def drop_next(self, count: int) -> None:
        with self._lock:
            self._drop = count

    def add(self, hook: Webhook) -> None:
        with self._lock:
            self.hooks[hook.id] = hook

    def clear(self) -> None:
        with self._lock:
            self.hooks.clear()
            self.deliveries.clear()

    def matching(self, entity: str, message: str) -> list[Webhook]:
        with self._lock:
            return [hook for hook in self.hooks.values() if hook.matches(entity, message)]

    def post(self, hooks: list[Webhook], build: Callable[[Webhook], dict[str, Any]]) -> None:
        """Post `build(hook)` (a context) to each hook, on background threads."""
        for hook in hooks:
            context = build(hook)
            with self._lock:
                if self._drop > 0:
                    self._drop -= 1
                    self.deliveries.append(
                        {"webhook": hook.id, "operationId": context["OperationId"], "dropped": True}
                    )
                    continue
                self.in_flight += 1
            threading.Thread(
                target=self._deliver, args=(hook, context), daemon=True, name="sim-webhook"
            ).start()

    def _deliver(self, hook: Webhook, context: dict[str, Any]) -> None:
        entry: dict[str, Any] = {"webhook": hook.id, "operationId": context["OperationId"]}
        headers = dict(hook.headers)
        if len(json.dumps(context).encode("utf-8")) > MAX_PAYLOAD_BYTES:
            context = {k: v for k, v in context.items() if k not in _STRIPPED}
            headers[SIZE_EXCEEDED_HEADER] = "true"
            entry["sizeExceeded"] = True
        for attempt in (1, 2):
            entry["attempts"] = attempt
            try:
                response = httpx.post(hook.url, json=context, headers=headers, timeout=60)
            except httpx.HTTPError as exc:
                entry["error"] = str(exc)
                break
            entry["status"] = response.status_code
            entry["body"] = response.text[:2000]
            if response.status_code not in RETRIED_STATUSES:
                break
        with self._lock:
            self.deliveries.append(entry)
            self.in_flight -= 1
