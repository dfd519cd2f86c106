"""The Dataverse simulator's HTTP surface: the Web API under `/api/data/v9.2` and a test-only `/_sim`.

Every `/api/data` request is logged, may be failed or slowed by a queued fault,
and then needs `Authorization: Bearer <any token>` (401 otherwise). Routes:

    GET                 /api/data/v9.2/                       service document (entity sets)
    GET                 /api/data/v9.2/WhoAmI                 the (simulated) calling user
    GET, POST           /{set}                                query / create
    GET, PATCH, DELETE  /{set}({id})                          retrieve / update or upsert / delete
    GET                 /{set}({id})/{navigation}             related row or rows (paged like a query)
    POST                /{set}({id})/{collection}/$ref        associate (`{"@odata.id": ".../{set}({id})"}`)
    DELETE              /{set}({id})/{collection}({rid})/$ref disassociate (or `/$ref?$id=...`)
    DELETE              /{set}({id})/{single}/$ref            clear a lookup

PATCH without conditions is an upsert; `If-Match: *` makes it update-only (404
when missing), `If-None-Match: *` create-only (412 when present), and `If-Match`
with an ETag an optimistic-concurrency update (412 on a stale version). Creates
answer 204 with `OData-EntityId`, or 201 with the row under
`Prefer: return=representation`. Queries page by `Prefer: odata.maxpagesize=N`
(default and maximum 5000) through an absolute `@odata.nextLink`.

`/_sim`, the request log and fault injection are `devstack.simkit`'s; errors
keep Dataverse's shape here. `/_sim/webhooks` registers service-endpoint webhooks that
receive a `RemoteExecutionContext` when a row changes (`devstack.dataverse_sim.webhooks`).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack import simkit
from devstack.dataverse_sim.query import parse_expand, parse_select, parse_top
from devstack.dataverse_sim.records import READ_ONLY_TABLES, Records
from devstack.dataverse_sim.schema import Entity, load_schema
from devstack.dataverse_sim.state import Row, SimState
from devstack.dataverse_sim.webhooks import Webhook, WebhookPoster, execution_context, parse_webhook
from devstack.dataverse_sim.wire import (
    CONCURRENCY_VERSION_MISMATCH,
    MESSAGE_NOT_SUPPORTED,
    QUERY_NOT_SUPPORTED,
    THROTTLED_REQUESTS,
    UNEXPECTED,
    DataverseFault,
    Preferences,
    empty_response,
    error_response,
    json_object,
    json_response,
    normalize_guid,
    parse_prefer,
)

API_PATH = "/api/data/v9.2"
MAX_PAGE_SIZE = 5000
#: The calling user WhoAmI reports (the simulator has no real identities).
SIMULATED_CALLER = {
    "BusinessUnitId": "6f6d6f63-0000-4000-8000-000000000001",
    "UserId": "6f6d6f63-0000-4000-8000-000000000002",
    "OrganizationId": "6f6d6f63-0000-4000-8000-000000000003",
}
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_.]*)(?:\((?P<key>[^)]*)\))?$")
_PAGING_COOKIE = re.compile(r'pagingcookie="(?P<offset>\d+)"')
_COLLECTION_OPTIONS = frozenset({"$select", "$filter", "$orderby", "$top", "$expand", "$count", "$skiptoken"})
_RECORD_OPTIONS = frozenset({"$select", "$expand"})
_FAULT_ERRORS = {
    401: ("", "The request has no valid bearer token."),
    403: ("0x80040220", "The user does not hold the privileges the request needs."),
    429: (
        THROTTLED_REQUESTS,
        "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    ),
    500: (UNEXPECTED, "An unexpected error occurred."),
    502: (UNEXPECTED, "The upstream service did not answer."),
    503: (UNEXPECTED, "The service is temporarily unavailable. Try the request again after a delay."),
    504: (UNEXPECTED, "The request timed out."),
}
_LOGGED_HEADERS = (
    "prefer",
    "content-type",
    "accept",
    "if-match",
    "if-none-match",
    "odata-version",
    "odata-maxversion",
    "user-agent",
)


def create_app(state_file: Path | None = None) -> Starlette:
    """The simulator as an ASGI app; with `state_file`, its rows survive restarts."""
    api = _DataverseApi(SimState(state_file))
    return api.app(
        [
            Route("/_sim/webhooks", api.webhooks, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/webhooks/deliveries", api.webhook_deliveries, methods=["GET"]),
            Route("/_sim/webhooks/drop", api.webhook_drop, methods=["POST"]),
            Route(API_PATH, api.serve, methods=simkit.ALL_METHODS),
            Route(API_PATH + "/{rest:path}", api.serve, methods=simkit.ALL_METHODS),
            Route("/{rest:path}", api.unknown, methods=simkit.ALL_METHODS),
        ]
    )


class _DataverseApi(simkit.SimApi):
    state: SimState
    logged_headers = _LOGGED_HEADERS

    def __init__(self, state: SimState) -> None:
        super().__init__(state)
        self.schema = load_schema()
        self.records = Records(self.schema, state)
        self.poster = WebhookPoster()

    # -- /_sim/webhooks -------------------------------------------------------------------------------

    async def webhooks(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"value": [hook.to_json() for hook in self.poster.hooks.values()]})
        if request.method == "DELETE":
            self.poster.clear()
            return Response(status_code=204)
        try:
            hook = parse_webhook(self.json_object(await request.body()))
        except simkit.SimFault as exc:
            return self.render_error(exc, None)
        except ValueError as exc:
            return self.render_error(self.bad_request(str(exc)), None)
        self.poster.add(hook)
        return JSONResponse(hook.to_json(), status_code=201)

    async def webhook_deliveries(self, request: Request) -> Response:
        return JSONResponse({"value": list(self.poster.deliveries), "inFlight": self.poster.in_flight})

    async def webhook_drop(self, request: Request) -> Response:
        """`{"count": n}`: the next n webhook posts are lost (never sent; kept as `dropped` deliveries)."""
        try:
            count = self.json_object(await request.body()).get("count", 1)
        except simkit.SimFault as exc:
            return self.render_error(exc, None)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return self.render_error(self.bad_request("'count' must be a non-negative integer."), None)
        self.poster.drop_next(count)
        return JSONResponse({"dropNext": count})

    async def reset(self, request: Request) -> Response:
        self.poster.clear()
        return await super().reset(request)

    def _notify(
        self,
        request: Request,
        entity: Entity,
        message: str,
        key: str,
        *,
        target: dict[str, Any] | None,
        pre: Row | None,
        post: Row | None,
    ) -> None:
        hooks = self.poster.matching(entity.logical_name, message)
        if not hooks:
            return
        caller = _caller(request)

        def build(hook: Webhook) -> dict[str, Any]:
            return execution_context(
                message=message,
                logical_name=entity.logical_name,
                record_id=key,
                caller_id=caller,
                target=target,
                pre_image=pre,
                post_image=post,
                primary_name=entity.primary_name,
                post_images=hook.post_images,
            )

        self.poster.post(hooks, build)

    # -- the Web API ----------------------------------------------------------------------------------

    async def unknown(self, request: Request) -> Response:
        return error_response(
            404, "", f"No HTTP resource was found that matches the request URI '{request.url.path}'."
        )

    # -- what simkit asks of a simulator: Dataverse's errors, token check and routes -------------------

    def json_object(self, body: bytes) -> dict[str, Any]:
        return json_object(body)

    def bad_request(self, message: str) -> simkit.SimFault:
        return DataverseFault.bad_request(message)

    def injected_error(self, fault: simkit.Fault) -> simkit.SimFault:
        return fault.error(
            _FAULT_ERRORS,
            server_error=(UNEXPECTED, "An unexpected error occurred."),
            client_error=("0x0", "Bad Request"),
        )

    def render_error(self, exc: simkit.SimFault, request: Request | None) -> Response:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    def authenticate(self, request: Request) -> None:
        _authenticate(request)

    def dispatch(self, request: Request, body: bytes) -> Response:
        with self.state.lock:
            self.records.caller = _caller(request)
            try:
                return self._dispatch(request, body)
            finally:
                self.records.caller = None

    def _dispatch(self, request: Request, body: bytes) -> Response:
        rest = request.path_params.get("rest", "")
        segments = [segment for segment in rest.split("/") if segment]
        method = request.method
        if not segments:
            _allow(method, "GET")
            return self._service_document(request)
        if segments in (["WhoAmI"], ["WhoAmI()"]):
            _allow(method, "GET")
            return json_response(
                {"@odata.context": f"{_api(request)}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"}
                | SIMULATED_CALLER
            )
        if segments[0] == "$metadata":
            raise DataverseFault.not_modelled("the $metadata document")
        entity, key = self._entity_segment(segments[0])
        if key is None:
            if len(segments) != 1:
                raise DataverseFault.segment_not_found(segments[1])
            if method == "POST":
                return self._create(request, entity, body)
            _allow(method, "GET")
            return self._query(request, entity)
        if len(segments) == 1:
            if method == "GET":
                return self._retrieve(request, entity, key)
            if method == "PATCH":
                return self._patch(request, entity, key, body)
            if method == "DELETE":
                return self._delete(request, entity, key)
            raise _method_not_allowed(method)
        if len(segments) == 2:
            _allow(method, "GET")
            return self._navigate(request, entity, key, segments[1])
        if len(segments) == 3 and segments[2] == "$ref":
            return self._reference(request, entity, key, segments[1], body)
        raise DataverseFault.segment_not_found(segments[-1])

    def _entity_segment(self, segment: str) -> tuple[Entity, str | None]:
        match = _SEGMENT.match(segment)
        entity = self.schema.entity_for_set(match["name"]) if match else None
        if match is None or entity is None:
            raise DataverseFault.segment_not_found(match["name"] if match else segment)
        raw_key = match["key"]
        if raw_key is None:
            return entity, None
        key = normalize_guid(raw_key.strip("'"))
        if key is None:
            if "=" in raw_key:
                raise DataverseFault.not_modelled(f"alternate keys ('{segment}')")
            raise DataverseFault.bad_request(f"Bad Request - Error in query syntax: '{segment}'.")
        return entity, key

    # -- collections ----------------------------------------------------------------------------------

    def _service_document(self, request: Request) -> Response:
        sets = sorted(entity.set_name for entity in self.schema.entities.values())
        return json_response(
            {
                "@odata.context": f"{_api(request)}/$metadata",
                "value": [{"name": name, "kind": "EntitySet", "url": name} for name in sets],
            }
        )

    def _query(self, request: Request, entity: Entity) -> Response:
        prefer = parse_prefer(request.headers.get("prefer"))
        return self._page(request, entity, self.records.rows(entity), prefer, entity.set_name)

    def _page(
        self, request: Request, entity: Entity, rows: list[Row], prefer: Preferences, context_set: str
    ) -> Response:
        query = request.query_params
        _check_options(query, _COLLECTION_OPTIONS)
        select = parse_select(query.get("$select"), entity)
        expansions = parse_expand(query.get("$expand"))
        rows = self.records.apply_query(
            entity, rows, filter_text=query.get("$filter"), orderby_text=query.get("$orderby")
        )
        total = len(rows)
        top = parse_top(query.get("$top"))
        if top is not None:
            rows = rows[:top]
        size = min(prefer.max_page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        offset = _skiptoken_offset(query.get("$skiptoken"))
        page = rows[offset : offset + size]
        selected = f"({','.join(select)})" if select else ""
        payload: dict[str, Any] = {"@odata.context": f"{_api(request)}/$metadata#{context_set}{selected}"}
        count = query.get("$count")
        if count is not None:
            if count not in ("true", "false"):
                raise DataverseFault.bad_request(f"Invalid value '{count}' for $count.", QUERY_NOT_SUPPORTED)
            if count == "true":
                payload["@odata.count"] = min(total, MAX_PAGE_SIZE)
        payload["value"] = [
            self.records.render(entity, row, select=select, prefer=prefer, expansions=expansions)
            for row in page
        ]
        if offset + size < len(rows):
            payload["@odata.nextLink"] = _next_link(request, offset + size, offset // size + 2)
        return json_response(payload, headers=_applied(prefer, paged=True))

    def _create(self, request: Request, entity: Entity, body: bytes) -> Response:
        _refuse_write(entity, "Create")
        prefer = parse_prefer(request.headers.get("prefer"))
        payload = json_object(body)
        row = self.records.create(entity, payload)
        self.state.save()
        self._notify(
            request,
            entity,
            "Create",
            row[entity.primary_id],
            target=payload,
            pre=None,
            post=copy.deepcopy(row),
        )
        return self._written(request, entity, row, prefer, created=True)

    def _written(
        self, request: Request, entity: Entity, row: Row, prefer: Preferences, *, created: bool
    ) -> Response:
        location = f"{_api(request)}/{entity.set_name}({row[entity.primary_id]})"
        headers = {"OData-EntityId": location}
        if not prefer.return_representation:
            return empty_response(204, headers=headers)
        _check_options(request.query_params, _RECORD_OPTIONS)
        select = parse_select(request.query_params.get("$select"), entity)
        expansions = parse_expand(request.query_params.get("$expand"))
        payload = {
            "@odata.context": _entity_context(request, entity, select),
            **self.records.render(entity, row, select=select, prefer=prefer, expansions=expansions),
        }
        headers.update(_applied(prefer))
        headers["Location"] = location
        return json_response(payload, 201 if created else 200, headers=headers)

    # -- single records -------------------------------------------------------------------------------

    def _retrieve(self, request: Request, entity: Entity, key: str) -> Response:
        _check_options(request.query_params, _RECORD_OPTIONS)
        prefer = parse_prefer(request.headers.get("prefer"))
        row = self.records.get(entity, key)
        select = parse_select(request.query_params.get("$select"), entity)
        expansions = parse_expand(request.query_params.get("$expand"))
        etag = f'W/"{row.get("versionnumber")}"'
        if request.headers.get("if-none-match") == etag:
            return empty_response(304, headers={"ETag": etag})
        payload = {
            "@odata.context": _entity_context(request, entity, select),
            **self.records.render(entity, row, select=select, prefer=prefer, expansions=expansions),
        }
        return json_response(payload, headers={"ETag": etag, **_applied(prefer)})

    def _patch(self, request: Request, entity: Entity, key: str, body: bytes) -> Response:
        _refuse_write(entity, "Update")
        prefer = parse_prefer(request.headers.get("prefer"))
        payload = json_object(body)
        if_match = request.headers.get("if-match")
        if_none_match = request.headers.get("if-none-match")
        row = self.records.find(entity, key)
        if row is None:
            if if_match is not None:
                # "Prevent create in upsert": Microsoft's own example answers this 404 with an empty code.
                raise DataverseFault(404, "", f"{entity.logical_name} With Id = {key} Does Not Exist")
            row = self.records.create(entity, payload, record_id=key)
            created = True
            self._notify(request, entity, "Create", key, target=payload, pre=None, post=copy.deepcopy(row))
        else:
            if if_none_match is not None and if_none_match.strip() == "*":
                raise DataverseFault.duplicate()
            _check_etag(if_match, row)
            before = copy.deepcopy(row)
            self.records.update(entity, row, payload)
            created = False
            self._notify(request, entity, "Update", key, target=payload, pre=before, post=copy.deepcopy(row))
        self.state.save()
        return self._written(request, entity, row, prefer, created=created)

    def _delete(self, request: Request, entity: Entity, key: str) -> Response:
        _refuse_write(entity, "Delete")
        row = self.records.get(entity, key)
        _check_etag(request.headers.get("if-match"), row)
        before = copy.deepcopy(row)
        self.records.delete(entity, key)
        self.state.save()
        self._notify(request, entity, "Delete", key, target=None, pre=before, post=None)
        return empty_response(204)

    # -- navigation -----------------------------------------------------------------------------------

    def _navigate(self, request: Request, entity: Entity, key: str, name: str) -> Response:
        prefer = parse_prefer(request.headers.get("prefer"))
        row = self.records.get(entity, key)
        single = entity.single.get(name)
        if single is not None:
            _check_options(request.query_params, _RECORD_OPTIONS)
            if request.query_params.get("$expand"):
                raise DataverseFault.not_modelled("$expand on a navigation property's target")
            related = self.records.related_row(
                entity, row, single, request.query_params.get("$select"), prefer
            )
            if related is None:
                return empty_response(204)
            target_entity = self.schema.entity(row[single.column]["entity"])
            assert target_entity is not None
            context = f"{_api(request)}/$metadata#{target_entity.set_name}/$entity"
            return json_response({"@odata.context": context, **related}, headers=_applied(prefer))
        collection = entity.collections.get(name)
        if collection is None:
            raise DataverseFault.segment_not_found(name)
        target, rows = self.records.related_rows(entity, row, collection)
        return self._page(request, target, rows, prefer, target.set_name)

    def _reference(self, request: Request, entity: Entity, key: str, segment: str, body: bytes) -> Response:
        row = self.records.get(entity, key)
        match = _SEGMENT.match(segment)
        name = match["name"] if match else segment
        related_key = normalize_guid(match["key"]) if match and match["key"] else None
        single = entity.single.get(name)
        if single is not None:
            if request.method == "DELETE":
                self.records.set_lookup(entity, row, single, None)
            elif request.method in ("PUT", "POST"):
                self.records.set_lookup(entity, row, single, json_object(body).get("@odata.id"))
            else:
                raise _method_not_allowed(request.method)
            self.state.save()
            return empty_response(204)
        collection = entity.collections.get(name)
        if collection is None:
            raise DataverseFault.segment_not_found(name)
        if request.method == "POST":
            self.records.associate(entity, row, collection, json_object(body).get("@odata.id"))
        elif request.method == "DELETE":
            if related_key is None:
                target_ref = request.query_params.get("$id")
                if target_ref is None:
                    raise DataverseFault.bad_request(
                        "Disassociating needs the related record: '(<id>)/$ref' or '$id'."
                    )
                related_key = self.records.reference(target_ref).id
            self.records.disassociate(entity, row, collection, related_key)
        else:
            raise _method_not_allowed(request.method)
        self.state.save()
        return empty_response(204)


def _authenticate(request: Request) -> None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DataverseFault(
            401,
            "",
            "The request has no bearer token: send 'Authorization: Bearer <token>'.",
            headers={
                "WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/"
                "authorize, resource_id=" + str(request.base_url).rstrip("/")
            },
        )


def _caller(request: Request) -> str:
    """Who the request acts as: the impersonated user (`MSCRMCallerID`), else the token's user.

    Dataverse records this user as `modifiedby` (and `createdby`) and as the webhook's `UserId`; tests act
    as a person in Dynamics by sending a person's systemuserid in `MSCRMCallerID`.
    """
    return normalize_guid(request.headers.get("mscrmcallerid") or "") or SIMULATED_CALLER["UserId"]


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _method_not_allowed(method)


def _method_not_allowed(method: str) -> DataverseFault:
    return DataverseFault(405, "", f"The requested resource does not support http method '{method}'.")


def _refuse_write(entity: Entity, message: str) -> None:
    if entity.logical_name in READ_ONLY_TABLES:
        raise DataverseFault.bad_request(
            f"The '{message}' method does not support entities of type '{entity.logical_name}'. "
            "MessageProcessorCache returned MessageProcessor.Empty.",
            MESSAGE_NOT_SUPPORTED,
        )


def _check_options(query: QueryParams, allowed: frozenset[str]) -> None:
    for name in query:
        if not name.startswith("$"):
            continue
        if name == "$skip":
            raise DataverseFault.bad_request(
                "The query parameter $skip is not supported", QUERY_NOT_SUPPORTED
            )
        if name not in allowed:
            raise DataverseFault.bad_request(
                f"The query parameter {name} is not supported here.", QUERY_NOT_SUPPORTED
            )


def _check_etag(if_match: str | None, row: Row) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    if if_match.strip() != f'W/"{row.get("versionnumber")}"':
        raise DataverseFault(
            412,
            CONCURRENCY_VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )


def _skiptoken_offset(token: str | None) -> int:
    if token is None:
        return 0
    match = _PAGING_COOKIE.search(token)
    if match is None:
        raise DataverseFault.bad_request(
            "The $skiptoken is not one this service issued.", QUERY_NOT_SUPPORTED
        )
    return int(match["offset"])


def _next_link(request: Request, offset: int, page_number: int) -> str:
    cookie = f'<cookie pagenumber="{page_number}" pagingcookie="{offset}" istracking="False" />'
    params = [(name, value) for name, value in request.query_params.multi_items() if name != "$skiptoken"]
    params.append(("$skiptoken", cookie))
    query = urlencode(params, quote_via=quote, safe="$,()'")
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"


def _applied(prefer: Preferences, *, paged: bool = False) -> dict[str, str]:
    applied = [p for p in prefer.applied if paged or not p.startswith("odata.maxpagesize")]
    return {"Preference-Applied": ",".join(applied)} if applied else {}


def _api(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{API_PATH}"


def _entity_context(request: Request, entity: Entity, select: list[str] | None) -> str:
    selected = f"({','.join(select)})" if select else ""
    return f"{_api(request)}/$metadata#{entity.set_name}{selected}/$entity"
