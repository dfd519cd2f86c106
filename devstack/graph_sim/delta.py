"""`GET /users/{id}/calendarView/delta` as Graph v1.0 answers it ("event: delta", "Get incremental
changes to events in a calendar view", "Use delta query to track changes").

A round starts with `startDateTime` and `endDateTime` (later requests carry them inside the
token) and pages through `@odata.nextLink` (`$skiptoken`) to a last page with
`@odata.deltaLink` (`$deltatoken`). The first round returns every event in the window; a round
started from a delta link returns what changed since that link was handed out: events created
or updated inside the window in full, and as `{"@odata.type": "#microsoft.graph.event", "id",
"@removed": {"reason": "deleted"}}` events deleted or cancelled (a cancelled event leaves its
organizer's calendar) and events moved out of the window. The window is fixed by the round's first
request and carried in every token, as Graph does ("These tokens are state tokens that encode the
startDateTime and endDateTime parameters"): an event created, changed or deleted entirely outside it is
not reported at all, so a client that keeps following one delta link sees less and less of the
future. Items carry `"@odata.type": "#microsoft.graph.event"`; the page size is
`Prefer: odata.maxpagesize` (Graph documents no default for this function; the simulator uses 10,
as for calendarView).
`$expand=singleValueExtendedProperties(...)` is kept in the tokens; `$select`, `$filter`,
`$orderby`, `$search` and `$top` are refused (400), as the docs list them unsupported.

Tokens are opaque base64url JSON naming the mailbox, the window, the history positions they
stand for (see `state`) and the delta generation. A token that does not decode, names another
mailbox, predates `POST /_sim/delta/expire` (or a reset), or reaches behind the mailbox's
forgotten history is `410 Gone` with code `syncStateNotFound` and a `Location` header holding
the round's initial request when the token still names one (Graph: "Synchronization reset").

Paging is by key, never by offset: the first round by (start, end, id), later rounds by history
position, each bounded by the history position the round started at. Something written during
a round is therefore never skipped: it is in this round or, at the latest, in the next.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from devstack.graph_sim import events as ev
from devstack.graph_sim.state import Position, SimState, StoredEvent, User, position_at
from devstack.graph_sim.wire import GraphFault, bad_request

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_UNSUPPORTED = ("$select", "$filter", "$orderby", "$search", "$top", "$skip", "$count")


@dataclass(frozen=True)
class Token:
    user: str
    start: str
    end: str
    generation: int
    #: Changes after this history position are reported; None during the first round.
    base: int | None
    #: The history position the round started at (skip tokens); a delta token's is its base.
    upper: int
    #: The last key returned (first round: [start, end, id]; later rounds: [seq]).
    after: list[Any] | None = None
    expand: bool = False
    expand_id: str | None = None

    def encode(self) -> str:
        raw = json.dumps(asdict(self), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Token | None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = json.loads(raw)
            return cls(**data)
        except (binascii.Error, ValueError, TypeError):
            return None


def sync_state_not_found(location: str | None) -> GraphFault:
    return GraphFault(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be "
        "synchronized again.",
        headers={"Location": location} if location else None,
    )


def unsupported_options(query: dict[str, str]) -> None:
    for name in query:
        if name.lower() in _UNSUPPORTED:
            raise bad_request(
                f"The query parameter '{name}' is not supported with the delta function on a calendarView."
            )


def page(
    state: SimState,
    user: User,
    token: Token,
    size: int,
    zone: Any,
) -> tuple[list[dict[str, Any]], Token, bool]:
    """One page of a round: its items, the token for the next request, and whether the round is done.

    Call holding the state lock, after `check`."""
    start, end = datetime.fromisoformat(token.start), datetime.fromisoformat(token.end)
    calendar = state.calendar(user)
    items: list[tuple[Any, dict[str, Any]]] = []
    if token.base is None:
        in_window = sorted(
            (event for event in calendar.values() if ev.overlaps(event, start, end)),
            key=_window_key,
        )
        for event in in_window:
            key = _window_key(event)
            if token.after is None or list(key) > token.after:
                items.append((list(key), _full(event, zone, token)))
    else:
        changes: list[tuple[int, dict[str, Any]]] = []
        for event in calendar.values():
            if token.base < event.change_seq <= token.upper:
                if ev.overlaps(event, start, end):
                    changes.append((event.change_seq, _full(event, zone, token)))
                elif _was_in_window(event.positions, token.base, start, end):
                    changes.append((event.change_seq, _removed(event.id)))  # moved out of the window
        for grave in state.tombstones.get(user.id, []):
            if token.base < grave.seq <= token.upper and _was_in_window(
                grave.positions, token.base, start, end
            ):
                changes.append((grave.seq, _removed(grave.event_id)))
        changes.sort(key=lambda change: change[0])
        after = token.after[0] if token.after else token.base
        items = [([seq], item) for seq, item in changes if seq > after]
    taken = items[:size]
    if len(items) > size:
        following = Token(**{**asdict(token), "after": taken[-1][0]})
        return [item for _, item in taken], following, False
    done = Token(**{**asdict(token), "base": token.upper, "after": None})
    return [item for _, item in taken], done, True


def check(state: SimState, user: User, token: Token | None, initial_url: str | None) -> Token:
    """`token` if it can still be answered for `user`, else Graph's 410."""
    if token is None or token.user != user.id or token.generation != state.delta_generation:
        raise sync_state_not_found(initial_url)
    horizon = state.horizons.get(user.id, 0)
    if token.base is not None and token.base < horizon:
        raise sync_state_not_found(initial_url)
    return token


def initial_url(base_url: str, path: str, token: Token | None) -> str | None:
    if token is None:
        return None
    query = urlencode({"startDateTime": token.start, "endDateTime": token.end}, quote_via=quote)
    return f"{base_url}{path}?{query}"


def _was_in_window(positions: Sequence[Position], base: int, start: datetime, end: datetime) -> bool:
    """Whether the client holding a token of this window could have the event: it was in the window when
    the token's round ended. The window is the token's, fixed by the round's first request: an event
    that never was in it is not the client's business, so Graph reports nothing for it."""
    then = position_at(positions, base)
    if then is True:
        return True  # history forgotten: say removed, which is harmless for a client that never had it
    if then is None or then is False:  # not there yet when the round ended
        return False
    was_start, was_end = then
    return (was_start < end and start < was_end) or (was_start == was_end and start <= was_start < end)


def _window_key(event: StoredEvent) -> tuple[str, str, str]:
    return (event.start.isoformat(), event.end.isoformat(), event.id)


def _full(event: StoredEvent, zone: Any, token: Token) -> dict[str, Any]:
    rendered = ev.render_event(event, zone, expand_extended=token.expand, extended_filter=token.expand_id)
    return {"@odata.type": "#microsoft.graph.event", **rendered}


def _removed(event_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}
