"""The read models: the work queue, and the per-ticket facts the KPIs are computed from.

Each document is a pure function of its record's state after an event, so the fold of the
whole log, an incremental build and a rebuild give the same documents by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate
from opsledger.core.domain.records import Relation
from opsledger.core.domain.ticket import OPEN_STATES, Ticket, TicketState
from opsledger.core.domain.tickets import Change, Incident, Problem
from opsledger.projections.base import Docs, ReadModel


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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

    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        if not isinstance(record, Ticket):
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


def ticket_facts(ticket: Ticket, previous: dict[str, Any] | None) -> dict[str, Any]:
    """What the KPIs need about one ticket (see docs/kpis.md for every definition)."""
    first_resolved = previous.get("first_resolved_at") if previous else None
    resolved_tier = previous.get("resolved_tier") if previous else None
    if ticket.resolved_at is not None and (
        previous is None or previous.get("resolved_at") != _iso(ticket.resolved_at)
    ):
        first_resolved = first_resolved or _iso(ticket.resolved_at)
        resolved_tier = ticket.tier
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
        "sla": _clock_outcomes(ticket),
        "caused_by_change": ticket.linked(Relation.CAUSED_BY_CHANGE),
    }
    if isinstance(ticket, Incident):
        facts["major"] = ticket.major
    if isinstance(ticket, Problem):
        facts["known_error"] = ticket.known_error
    if isinstance(ticket, Change):
        facts["change_type"] = ticket.change_type
        facts["phase"] = ticket.phase
    return facts


class TicketFacts(ReadModel):
    """One document of facts per ticket, whatever its state: the KPIs' only input."""

    name = "ticket_facts"
    collections = ("tickets",)
    description = "per-ticket facts (times, counts, SLA outcomes) the KPIs are computed from"

    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        if isinstance(record, Ticket):
            previous = docs.get("tickets", record.number)
            docs.put("tickets", record.number, ticket_facts(record, previous))


MODELS: dict[str, type[ReadModel]] = {m.name: m for m in (WorkQueue, TicketFacts)}
