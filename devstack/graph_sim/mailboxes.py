"""Mailbox-level faults: how Graph answers for a mailbox it cannot serve (test control `/_sim/mailboxes`).

Graph answers 404 not only for an event that is gone but for a whole mailbox it cannot reach:
- `MailboxNotEnabledForRESTAPI` "REST API is not yet supported for this mailbox." (no Exchange Online
  licence, on-premises mailbox, guest user; learn.microsoft.com/troubleshoot "REST API is not yet
  supported for this mailbox" error, and microsoftgraph docs issues #405 / #717);
- the same code with "The mailbox is either inactive, soft-deleted, or is hosted on-premise." for an
  inactive or soft-deleted mailbox (observed answers, e.g. iyear/E5SubBot#39);
- and 403 `ErrorAccessDenied` when an application access policy leaves the mailbox out of the app's
  scope ("Limiting application permissions to specific Exchange Online mailboxes",
  learn.microsoft.com/graph/auth-limit-mailbox-access).

Only 404 `ErrorItemNotFound` says that an event itself is gone. A faulted mailbox answers every
`/v1.0/users/{id}/...` request with its fault (events, calendarView, delta, getSchedule as the
requester), and a subscription on it is refused the same way; data is kept, so clearing the fault
brings the mailbox back as it was.
"""

from __future__ import annotations

from typing import Final

from devstack.graph_sim.wire import GraphFault

NOT_ENABLED: Final = "notEnabledForRest"
INACTIVE: Final = "inactive"
SOFT_DELETED: Final = "softDeleted"
ACCESS_DENIED: Final = "accessDenied"
FAULTS: Final = (NOT_ENABLED, INACTIVE, SOFT_DELETED, ACCESS_DENIED)


def fault_answer(fault: str) -> GraphFault:
    """Graph's answer to any request on a mailbox in state `fault`."""
    if fault == ACCESS_DENIED:
        return GraphFault(
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
            "settings.",
        )
    if fault == NOT_ENABLED:
        return GraphFault(
            404, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox."
        )
    return GraphFault(
        404,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )
