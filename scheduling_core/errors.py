"""The one exception root of the service and the tree beneath it.

    SchedulingError
    ├── PermanentError              -- retrying cannot help: answer 4xx, record, dead-letter
    │   ├── InvalidRequest          -- the caller's input breaks a rule (422 validation-failed)
    │   ├── NotFound                -- unknown booking, hold, event type, host, rule set (404)
    │   ├── SlotUnavailable         -- the slot is taken, held, outside hours or over a cap (409)
    │   │   └── HoldExpired         -- the booking's hold ran out before it was used
    │   ├── BookingNotModifiable    -- cancelled, or changed since the caller read it (409)
    │   │   └── BookingChanged      -- changed between our own read and write (retried when no If-Match)
    │   ├── SelfServiceClosed       -- a manage-link change the event type's policy no longer allows (409)
    │   └── UpstreamRejected        -- Graph or Dataverse refused our request with a 4xx we did not expect
    │                                  (502 upstream-rejected; GraphRequestRejected, DataverseRequestRejected)
    └── TransientError              -- may succeed later: re-raise so Service Bus redelivers
        └── UpstreamUnavailable     -- Graph, Dataverse or storage did not answer in time (503)
            ├── Throttled           -- it asked (Retry-After) for a wait past our time budget (503)
            └── OutcomeUnknown      -- a request that must not repeat got no answer: it may have run

The HTTP shell maps each type to exactly one problem `code` (http_api/problems.py `to_problem`): a
subclass it does not name maps as its nearest named ancestor (any other PermanentError 422, any other
TransientError 503), so nothing below this root can escape as a 500 (a test walks every subclass).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """One offending input field, named by its dotted path (e.g. `workingHours.0.start`)."""

    field: str
    message: str


class SchedulingError(Exception):
    """Root of every error this service raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PermanentError(SchedulingError):
    """Retrying the same request or message cannot succeed."""


class TransientError(SchedulingError):
    """The same request or message may succeed later."""


class InvalidRequest(PermanentError):
    """Input is well-formed JSON but breaks a schema or semantic rule."""

    def __init__(self, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.errors = errors


class NotFound(PermanentError):
    """A named thing (event type, host, booking, ...) does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} '{key}' was not found.")
        self.kind = kind
        self.key = key


class SlotUnavailable(PermanentError):
    """The requested slot cannot be given to this caller."""


class HoldExpired(SlotUnavailable):
    """The hold named by a booking ran out before the booking was made (still a 409 slot-unavailable)."""


class BookingNotModifiable(PermanentError):
    """A cancelled booking cannot change again; a stale `If-Match` version cannot be applied."""


class BookingChanged(BookingNotModifiable):
    """The booking changed between read and write (its ETag no longer matched)."""


class SelfServiceClosed(PermanentError):
    """A manage-link change the event type's `selfService` policy does not (or no longer) allow."""


class UpstreamUnavailable(TransientError):
    """A dependency (Graph, Dataverse, storage) failed or throttled past our retry budget."""

    def __init__(self, service: str, detail: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.service = service
        self.retry_after_seconds = retry_after_seconds


class TooManyRequests(PermanentError):
    """A booking-page client (or invitee email) is over one of its limits (api.md: 429 with Retry-After).

    `code` is `rate-limited` or `too-many-holds`; `retry_after_seconds` is when the limit frees up.
    """

    def __init__(self, code: str, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.code = code
        self.retry_after_seconds = max(1, retry_after_seconds)


class Throttled(UpstreamUnavailable):
    """The dependency throttled (429/503 with `Retry-After`) and asked for a wait past our time budget;
    `retry_after_seconds` is that wait. Sync handlers put the message back for later instead of
    spending a delivery (scheduling_core/services/sync_runner.py)."""


class UpstreamRejected(PermanentError):
    """Graph or Dataverse refused a request we made with a 4xx we did not expect (not 404/409/412/429).

    Retrying the same request cannot help, and the caller's input was valid (it passed our own bounds),
    so the HTTP answer is 502 `upstream-rejected`, not a 4xx that would blame the caller nor a 500.
    """

    service: str = "An upstream service"


class OutcomeUnknown(UpstreamUnavailable):
    """A request that is not safe to repeat (e.g. Graph `sendMail`) got no answer (a timeout, a dropped
    connection, a gateway error): it may or may not have been carried out, so it is not sent again."""
