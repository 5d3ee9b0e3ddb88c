"""The satisfaction call-back as the read models see it: its facts on a ticket, and the queue
of call-backs still owed.

The facts are part of each ticket's ``ticket_facts`` document (one fold, tracked and rebuilt
with the others), so the call-back queue and the call-back KPIs read the same documents and
cannot disagree. The call-back's own OLA clock (metric ``callback``) decides whether it was
done within target; see docs/kpis.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from opsledger.core.domain.clocks import calendar_of
from opsledger.core.domain.sla import Metric
from opsledger.core.domain.ticket import Ticket

#: What a call-back's ``state`` can be: still owed, done within target, done late (or not at
#: all, once breached), no longer owed (the ticket was reopened), or done without a clock.
STATES = ("due", "met", "breached", "cancelled", "done")


def _latest_clock(ticket: Ticket) -> dict[str, Any] | None:
    """The clock of the latest call-back: started with its request, so the last one started."""
    found = None
    for clock in ticket.clocks.values():
        if clock["metric"] == Metric.CALLBACK.value:
            found = clock
    return found


def _due(clock: dict[str, Any]) -> datetime | None:
    """When the call-back's target ends. A call-back clock never pauses (a resolved ticket is
    not put on hold), so once stopped it is its start plus the target in business time."""
    if clock["status"] == "running":
        due: datetime | None = clock["due"]
        return due
    target = timedelta(microseconds=clock["target_us"])
    return calendar_of(clock).add(clock["started_at"], target)


def callback_facts(ticket: Ticket) -> dict[str, Any] | None:
    """The latest call-back of ``ticket`` (None: none was ever requested).

    ``decided_at`` is when its outcome became final: the call-back's instant when done within
    target, the end of the target when breached (a breach is recorded at that instant whether
    a tick or the late call-back noticed it).
    """
    callback = ticket.callback
    if callback is None:
        return None
    outcome = callback["outcome"]
    clock = _latest_clock(ticket)
    due = _due(clock) if clock is not None else None
    breached = clock is not None and (clock["breached"] or clock["status"] == "breached")
    if clock is None:
        state = "due" if outcome is None else "done"
    elif clock["status"] == "cancelled":
        state = "cancelled"
    elif outcome is None:
        state = "due"
    else:  # done: the clock stops in the same command (met or breached)
        state = "breached" if breached else "met"
    decided_at: str | None = None
    if state == "met" and clock is not None:
        stopped = clock["stopped_at"]
        decided_at = stopped.isoformat() if stopped is not None else outcome["at"]
    elif breached and state != "cancelled" and due is not None:
        decided_at = due.isoformat()
    return {
        "group": callback["group"],
        "requested_at": callback["requested_at"],
        "due": due.isoformat() if due is not None else None,
        "state": state,
        "breached": breached,
        "decided_at": decided_at,
        "done_at": outcome["at"] if outcome else None,
        "reached": outcome["reached"] if outcome else None,
        "score": outcome["score"] if outcome else None,
        "complaint": outcome["complaint"] if outcome else None,
        "summary": ticket.summary,
    }


def callbacks_due(
    facts: Iterable[Mapping[str, Any]], now: datetime, *, group: str | None = None
) -> list[dict[str, Any]]:
    """The call-backs still owed (resolved or closed tickets, no outcome yet), by due instant.

    ``remaining_s`` is calendar seconds from ``now`` to the due instant (negative once past
    it); ``overdue`` once the due instant has passed or the breach is recorded.
    """
    entries = []
    for doc in facts:
        callback = doc.get("callback")
        if not callback or callback["state"] != "due":
            continue
        if group is not None and callback["group"] != group:
            continue
        due = datetime.fromisoformat(callback["due"]) if callback["due"] else None
        remaining = (due - now).total_seconds() if due is not None else None
        entries.append(
            {
                "number": doc["number"],
                "kind": doc["kind"],
                "priority": doc["priority"],
                "service": doc.get("service"),
                "customer": doc.get("customer"),
                "summary": callback["summary"],
                "state": doc["state"],
                "group": callback["group"],
                "requested_at": callback["requested_at"],
                "due": callback["due"],
                "remaining_s": remaining,
                "overdue": bool(callback["breached"]) or (remaining is not None and remaining < 0),
            }
        )
    entries.sort(key=lambda e: (e["due"] is None, e["due"] or "", e["number"]))
    return entries
