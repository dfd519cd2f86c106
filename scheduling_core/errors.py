"""The one exception root of the service and the tree beneath it: every exception this service raises on
purpose is defined here (a test walks the code base for any defined elsewhere).

    SchedulingError
    ├── PermanentError              -- retrying cannot help: answer 4xx, record, dead-letter
    │   ├── InvalidRequest          -- the caller's input breaks a rule (422 validation-failed)
    │   │   ├── UnknownTimeZone     -- neither an IANA nor a mapped Windows zone name
    │   │   └── IdempotencyKeyReused  -- the key came before with another body (422)
    │   ├── MalformedRequest        -- the body is not JSON, or nested too deep (400 invalid-json)
    │   ├── MalformedContext        -- a Dynamics webhook body no retry could read (400 malformed-payload)
    │   ├── PayloadTooLarge         -- the body is over the endpoint's limit (413)
    │   ├── UnsupportedMediaType    -- a JSON endpoint sent something else (415)
    │   ├── Unauthorized            -- no key, or no valid webhook secret (401)
    │   ├── Forbidden               -- the key does not open this endpoint (403)
    │   ├── NotFound                -- unknown booking, hold, event type, host, rule set (404)
    │   ├── SlotUnavailable         -- the slot is taken, held, outside hours or over a cap (409)
    │   │   └── HoldExpired         -- the booking's hold ran out before it was used
    │   │       └── PageHoldExpired -- the same, told to a booking-page visitor (409 hold-expired)
    │   ├── BookingNotModifiable    -- cancelled, or changed since the caller read it (409)
    │   │   └── BookingChanged      -- changed between our own read and write (retried when no If-Match)
    │   │       └── StaleBooking    -- the booking row's ETag no longer matched at write time
    │   ├── IdempotencyInProgress   -- the same key while its first request still runs (409)
    │   ├── SelfServiceClosed       -- a manage-link change the event type's policy no longer allows (409)
    │   ├── TooManyRequests         -- a booking-page client over a limit (429, Retry-After)
    │   │   ├── RateLimited         -- over its request or bookings rate (rate-limited)
    │   │   └── TooManyHolds        -- holding its maximum of slots (too-many-holds)
    │   ├── UpstreamRejected        -- Graph or Dataverse refused our request with a 4xx we did not expect
    │   │   │                          (502 upstream-rejected)
    │   │   ├── GraphRequestRejected
    │   │   │   ├── MailboxUnavailable    -- Graph cannot serve the mailbox at all (not a deletion)
    │   │   │   └── DuplicateTransaction  -- the create's transactionId already made an event
    │   │   └── DataverseRequestRejected
    │   ├── QueryTooLarge           -- a Dataverse query with pages left past its bound
    │   ├── DeltaTokenExpired       -- Graph no longer knows the delta token: start a full round
    │   ├── UnreadableEvent         -- an Outlook event whose times this service cannot read
    │   ├── EventGone               -- the booking's Outlook event was deleted in Outlook
    │   ├── UnmappableBooking       -- a booking naming something Dataverse cannot hold
    │   └── MalformedEvent          -- a message that is not a booking CloudEvent (dead-lettered)
    └── TransientError              -- may succeed later: re-raise so Service Bus redelivers (503)
        ├── UpstreamUnavailable     -- Graph, Dataverse or storage did not answer in time (503)
        │   ├── Throttled           -- it asked (Retry-After) for a wait past our time budget
        │   └── OutcomeUnknown      -- a request that must not repeat got no answer: it may have run
        ├── RowChanged              -- a storage row changed or vanished between our read and our write
        │   └── SubscriptionChanged -- another writer changed the host's Graph subscription row
        └── Misconfigured           -- a setting the operator must fix (503 until then)
            └── WeakKey             -- MANAGE_LINK_KEY too short for unguessable links

The HTTP shell maps each type to exactly one problem `code`, declared once in http_api/problems.py's
catalogue: a type it does not name maps as its nearest named ancestor (any other PermanentError 422,
any other TransientError 503), so nothing below this root can escape as a 500 (a test walks every
subclass and every exception class defined in the code base).
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


# --------------------------------------------------------------------------- the caller's request


class InvalidRequest(PermanentError):
    """Input is well-formed JSON but breaks a schema or semantic rule."""

    def __init__(self, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.errors = errors


class UnknownTimeZone(InvalidRequest):
    """The name is neither an IANA zone nor a Windows zone with a CLDR mapping."""

    def __init__(self, name: str, field: str = "timeZone") -> None:
        super().__init__(
            f"'{name}' is not a known IANA or Windows time zone.",
            (FieldError(field=field, message=f"unknown time zone '{name}'"),),
        )
        self.name = name


class IdempotencyKeyReused(InvalidRequest):
    """An `Idempotency-Key` already used with a different request body."""


class MalformedRequest(PermanentError):
    """The body is not JSON (or is nested past the depth limit): nothing in it can be read."""


class MalformedContext(PermanentError):
    """The body is not a RemoteExecutionContext this service can read (the shell answers 400)."""


class PayloadTooLarge(PermanentError):
    """The body is larger than the endpoint accepts."""


class UnsupportedMediaType(PermanentError):
    """A JSON endpoint was sent a body declared as something else."""


class Unauthorized(PermanentError):
    """No key (or no valid shared secret) came with a request that needs one."""


class Forbidden(PermanentError):
    """The key that came does not open this endpoint (or the endpoint is closed: no key configured)."""


class NotFound(PermanentError):
    """A named thing (event type, host, booking, ...) does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} '{key}' was not found.")
        self.kind = kind
        self.key = key


# --------------------------------------------------------------------------- bookings


class SlotUnavailable(PermanentError):
    """The requested slot cannot be given to this caller."""


class HoldExpired(SlotUnavailable):
    """The hold named by a booking ran out before the booking was made (still a 409 slot-unavailable)."""


class PageHoldExpired(HoldExpired):
    """A booking-page visitor's hold ran out: the page says so in its own words (409 hold-expired)."""


class BookingNotModifiable(PermanentError):
    """A cancelled booking cannot change again; a stale `If-Match` version cannot be applied."""


class BookingChanged(BookingNotModifiable):
    """The booking changed between read and write (its ETag no longer matched)."""


class StaleBooking(BookingChanged):
    """The booking row's ETag no longer matched at write time."""


class IdempotencyInProgress(PermanentError):
    """The same `Idempotency-Key` arrived while its first request is still running."""


class SelfServiceClosed(PermanentError):
    """A manage-link change the event type's `selfService` policy does not (or no longer) allow."""


class TooManyRequests(PermanentError):
    """A booking-page client (or invitee email) is over one of its limits (api.md: 429 with Retry-After).

    `retry_after_seconds` is when the limit frees up.
    """

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = max(1, retry_after_seconds)


class RateLimited(TooManyRequests):
    """Over the client's request rate, or the invitee email's bookings per day."""


class TooManyHolds(TooManyRequests):
    """The client (or the event type on the page) already holds its maximum of slots."""


# --------------------------------------------------------------------------- upstream services


class UpstreamRejected(PermanentError):
    """Graph or Dataverse refused a request we made with a 4xx we did not expect (not 404/409/412/429).

    Retrying the same request cannot help, and the caller's input was valid (it passed our own bounds),
    so the HTTP answer is 502 `upstream-rejected`, not a 4xx that would blame the caller nor a 500.
    """

    service: str = "An upstream service"


class GraphRequestRejected(UpstreamRejected):
    """Graph refused a request with a 4xx other than 429: a bug or a configuration error on our side."""

    service = "Graph"

    def __init__(self, *, status_code: int, code: str | None, message: str | None, request: str) -> None:
        super().__init__(
            f"Graph rejected {request}: HTTP {status_code} {code or 'unknown error'}: {message or ''}"
        )
        self.status_code = status_code
        self.code = code
        self.message = message


class MailboxUnavailable(GraphRequestRejected):
    """Graph cannot serve the mailbox at all (404 other than `ErrorItemNotFound`, or 403): not a deletion."""

    def __init__(self, mailbox: str, rejected: GraphRequestRejected) -> None:
        GraphRequestRejected.__init__(
            self,
            status_code=rejected.status_code,
            code=rejected.code,
            message=rejected.message,
            request=f"a request for mailbox {mailbox}",
        )
        self.mailbox = mailbox

    @property
    def reason(self) -> str:
        code = self.code or "unknown error"
        return f"mailbox unavailable: HTTP {self.status_code} {code}: {self.message or ''}"


class DuplicateTransaction(GraphRequestRejected):
    """Graph refused a create: its `transactionId` already made an event (find it and carry on with it)."""


class DataverseRequestRejected(UpstreamRejected):
    """Dataverse refused a request with a 4xx other than 429: a bug or a configuration error on our side."""

    service = "Dataverse"

    def __init__(self, *, status_code: int, code: str | None, message: str | None, request: str) -> None:
        super().__init__(
            f"Dataverse rejected {request}: HTTP {status_code} {code or 'unknown error'}: {message or ''}"
        )
        self.status_code = status_code
        self.code = code
        self.message = message


class QueryTooLarge(PermanentError):
    """A query still had pages left after `max_pages`: narrow it rather than read without bound."""


class DeltaTokenExpired(PermanentError):
    """Graph no longer knows the delta token (410 / syncStateNotFound): start a full round again."""


class UnreadableEvent(PermanentError):
    """Graph returned an event whose times this service cannot read."""


class EventGone(PermanentError):
    """The booking's Outlook event was deleted in Outlook; it is not created again."""


class UnmappableBooking(PermanentError):
    """The booking names something Dataverse cannot hold (e.g. a record id that is not a GUID)."""


class MalformedEvent(PermanentError):
    """A message body or event that is not a valid booking CloudEvent; redelivering it cannot help."""


class UpstreamUnavailable(TransientError):
    """A dependency (Graph, Dataverse, storage) failed or throttled past our retry budget."""

    def __init__(self, service: str, detail: str, retry_after_seconds: int | None = None) -> None:
        super().__init__(detail)
        self.service = service
        self.retry_after_seconds = retry_after_seconds


class Throttled(UpstreamUnavailable):
    """The dependency throttled (429/503 with `Retry-After`) and asked for a wait past our time budget;
    `retry_after_seconds` is that wait. Sync handlers put the message back for later instead of
    spending a delivery (scheduling_core/services/sync_runner.py)."""


class OutcomeUnknown(UpstreamUnavailable):
    """A request that is not safe to repeat (e.g. Graph `sendMail`) got no answer (a timeout, a dropped
    connection, a gateway error): it may or may not have been carried out, so it is not sent again."""


# --------------------------------------------------------------------------- storage and settings


class RowChanged(TransientError):
    """A row written beside a claim changed or vanished meanwhile: read again (the caller decides)."""


class SubscriptionChanged(RowChanged):
    """Another writer changed the host's subscription row first: read it again."""


class Misconfigured(TransientError):
    """A setting the operator must fix; the affected feature answers 503 until it is fixed."""


class WeakKey(Misconfigured):
    """`MANAGE_LINK_KEY` is too short to make unguessable links."""
