"""The read models: the work queue, and the per-ticket facts the KPIs are computed from.

Each document is a pure function of its record's state after an event, so the fold of the
whole log, an incremental build and a rebuild give the same documents by construction.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from eventsourcing.domain import Aggregate
from opsledger.core.domain.records import Relation
from opsledger.core.domain.ticket import OPEN_STATES, Ticket, TicketState
from opsledger.core.domain.tickets import Change, Incident, Problem
from opsledger.projections.base import Docs, ReadModel
from opsledger.projections.callbacks import callback_facts


@lru_cache(maxsize=65_536)
def _iso_of(value: datetime) -> str:
    return value.isoformat()


def _iso(value: datetime | None) -> str | None:
    """Instants as stored in documents; memoised, as the same few repeat on every event."""
    return _iso_of(value) if value is not None else None


def clock_summary(ticket: Ticket) -> dict[str, Any]:
    """Where the ticket's SLA stands: earliest due, at risk (a warning fired), breached."""
    due: list[datetime] = []
    at_risk = breached = False
    for clock in ticket.clocks.values():
        if clock["agreement"] != "sla":
            continue
        breached = breached or clock["breached"]
        if clock["status"] in ("running", "paused"):
            at_risk = at_risk or bool(clock["fired"])
            if clock["status"] == "running" and clock["due"] is not None:
                due.append(clock["due"])
    return {"due": _iso(min(due)) if due else None, "at_risk": at_risk, "breached": breached}


def queue_entry(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "kind": ticket.kind.value,
        "summary": ticket.summary,
        "priority": ticket.priority,
        "state": ticket.state,
        "group": ticket.group,
        "assignee": ticket.assignee,
        "tier": ticket.tier,
        "hold_reason": ticket.hold_reason,
        "service": ticket.service,
        "ci": ticket.ci,
        "opened_at": _iso(ticket.opened_at),
        **clock_summary(ticket),
    }


class WorkQueue(ReadModel):
    """Open tickets, one document each; resolved ones stay until closed (they may reopen)."""

    name = "work_queue"
    collections = ("tickets",)
    description = "open tickets per group and assignee, by SLA due instant then priority"

    #: events that change no field of a queue entry
    IDLE = frozenset(
        {
            "WorkNoteAdded", "PublicCommentAdded", "CustomerReplied", "ExternalReferenceRecorded",
            "SatisfactionRecorded", "ComplaintRecorded", "Linked",
        }
    )  # fmt: skip

    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        if not isinstance(record, Ticket) or type(event).__name__ in self.IDLE:
            return
        if record.state in OPEN_STATES or record.state == TicketState.RESOLVED:
            docs.put("tickets", record.number, queue_entry(record))
        else:
            docs.delete("tickets", record.number)


def _clock_outcomes(ticket: Ticket) -> dict[str, Any]:
    """Per metric, the customer-facing SLA outcome: met, breached, running or absent.

    A metric with several cycles (reopen as a new cycle, update intervals) is breached when
    any cycle breached: the customer saw the breach.
    """
    outcome: dict[str, Any] = {}
    for clock in ticket.clocks.values():
        if clock["agreement"] != "sla" or clock["status"] == "cancelled":
            continue
        metric = clock["metric"]
        if clock["breached"]:
            state = "breached"
        elif clock["status"] == "met":
            state = "met"
        else:
            state = "running"
        previous = outcome.get(metric)
        if previous != "breached" and not (previous == "running" and state == "met"):
            outcome[metric] = state
        outcome[f"{metric}_policy"] = f"{clock['policy']} v{clock['version']}"
    return outcome


_DECIDED = ("met", "breached")


def _decided_at(
    outcome: dict[str, Any], previous: dict[str, Any] | None, at: str
) -> dict[str, str]:
    """Per metric, the instant its outcome last became final (met or breached).

    A reopened ticket's resolution that runs again loses its instant until decided anew; a
    breach keeps the instant of the first breach (breached is final).
    """
    before = previous.get("sla", {}) if previous else {}
    instants = previous.get("sla_at", {}) if previous else {}
    decided: dict[str, str] = {}
    for metric in ("response", "resolution", "update"):
        state = outcome.get(metric)
        if state not in _DECIDED:
            continue
        unchanged = before.get(metric) == state and metric in instants
        decided[metric] = instants[metric] if unchanged else at
    return decided


def _open_intervals(ticket: Ticket, previous: dict[str, Any] | None, at: str) -> list[list[Any]]:
    """``[start, end]`` of each stretch in an open state (end null while open): the backlog."""
    intervals = [list(i) for i in previous.get("open_intervals", [])] if previous else []
    was_open = bool(intervals) and intervals[-1][1] is None
    if ticket.state in OPEN_STATES and not was_open:
        intervals.append([at, None])
    elif ticket.state not in OPEN_STATES and was_open:
        intervals[-1][1] = at
    return intervals


def _kind_facts(ticket: Ticket, previous: dict[str, Any] | None, at: str) -> dict[str, Any]:
    """Facts only one kind has; the instants are those of the event that first showed them."""
    before = previous or {}
    if isinstance(ticket, Incident):
        return {"major": ticket.major}
    if isinstance(ticket, Problem):
        known_at = before.get("known_error_at") or (at if ticket.known_error else None)
        return {"known_error": ticket.known_error, "known_error_at": known_at}
    if isinstance(ticket, Change):
        outcome, done_at = before.get("change_outcome"), before.get("implemented_at")
        if outcome is None and ticket.phase in ("succeeded", "failed"):
            outcome, done_at = ticket.phase, at  # the review later overwrites the phase
        return {
            "change_type": ticket.change_type,
            "phase": ticket.phase,
            "change_outcome": outcome,
            "implemented_at": done_at,
        }
    return {}


def ticket_facts(ticket: Ticket, previous: dict[str, Any] | None) -> dict[str, Any]:
    """What the KPIs need about one ticket (see docs/kpis.md for every definition).

    A fold: a function of the ticket after an event and the document before it; instants
    of things the ticket's state forgets (a complaint, a breach) are the event's own.
    """
    at = _iso(ticket.modified_on)
    assert at is not None
    first_resolved = previous.get("first_resolved_at") if previous else None
    resolved_tier = previous.get("resolved_tier") if previous else None
    if ticket.resolved_at is not None and (
        previous is None or previous.get("resolved_at") != _iso(ticket.resolved_at)
    ):
        first_resolved = first_resolved or _iso(ticket.resolved_at)
        resolved_tier = ticket.tier
    outcome = _clock_outcomes(ticket)
    complaint_times = list(previous.get("complaint_times", [])) if previous else []
    complaint_times += [at] * (ticket.complaints - len(complaint_times))
    facts: dict[str, Any] = {
        "number": ticket.number,
        "kind": ticket.kind.value,
        "priority": ticket.priority,
        "service": ticket.service,
        "ci": ticket.ci,
        "group": ticket.group,
        "customer": ticket.customer,
        "channel": ticket.channel,
        "state": ticket.state,
        "opened_at": _iso(ticket.opened_at),
        "received_at": _iso(ticket.received_at),
        "external_systems": sorted({ref["system"] for ref in ticket.external_refs}),
        "acknowledged_at": _iso(ticket.acknowledged_at),
        "resolved_at": _iso(ticket.resolved_at),
        "first_resolved_at": first_resolved,
        "resolved_tier": resolved_tier,
        "closed_at": _iso(ticket.closed_at),
        "reopen_count": ticket.reopen_count,
        "reassignment_count": ticket.reassignment_count,
        "functional_escalations": ticket.functional_escalations,
        "escalation_level": ticket.escalation_level,
        "satisfaction": ticket.satisfaction,
        "complaints": ticket.complaints,
        "sla": outcome,
        "sla_at": _decided_at(outcome, previous, at),
        "open_intervals": _open_intervals(ticket, previous, at),
        "complaint_times": complaint_times,
        "caused_by_change": ticket.linked(Relation.CAUSED_BY_CHANGE),
        "callback": callback_facts(ticket),
    }
    facts.update(_kind_facts(ticket, previous, at))
    return facts


class TicketFacts(ReadModel):
    """One document of facts per ticket, whatever its state: the KPIs' only input."""

    name = "ticket_facts"
    collections = ("tickets",)
    description = "per-ticket facts (times, counts, SLA outcomes) the KPIs are computed from"

    #: events that change no fact (a warning is not an outcome; a note is not a state; an
    #: external reference does: ``external_systems``)
    IDLE = frozenset(
        {
            "WarningReached", "ClockPaused", "WorkNoteAdded", "PublicCommentAdded",
            "CustomerReplied",
        }
    )  # fmt: skip

    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        if isinstance(record, Ticket) and type(event).__name__ not in self.IDLE:
            previous = docs.get("tickets", record.number)
            docs.put("tickets", record.number, ticket_facts(record, previous))


MODELS: dict[str, type[ReadModel]] = {m.name: m for m in (WorkQueue, TicketFacts)}
