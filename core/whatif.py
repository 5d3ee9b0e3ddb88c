"""What-if: replay a period's tickets under another policy, in memory, and compare attainment.

Nothing is written. Each ticket's own events are replayed without its recorded clock events,
the SLA reactor runs with the alternative policy in place of the recorded one, and the clocks
that result are compared with the ones that were actually recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsledger.core.domain.clocks import PolicySource, is_clock_event
from opsledger.core.domain.sla_rules import react
from opsledger.core.domain.ticket import Ticket

_META = ("originator_id", "originator_version")


def replay_without_clocks(events: Iterable[Any], policies: PolicySource, until: datetime) -> Ticket:
    """Rebuild a ticket from its non-clock events, letting ``policies`` drive fresh clocks."""
    ticket: Ticket | None = None
    for e in events:
        if is_clock_event(type(e).__name__):
            continue
        if ticket is None:
            ticket = e.mutate(None)
            assert isinstance(ticket, Ticket)
            react(ticket, [e], policies, e.timestamp)
            continue
        ticket.catch_up(e.timestamp)
        mark = len(ticket.pending_events)
        fields = {k: v for k, v in vars(e).items() if k not in _META}
        ticket.trigger_event(type(e), **fields)
        react(ticket, ticket.pending_events[mark:], policies, e.timestamp)
    if ticket is None:
        raise ValueError("no events")
    ticket.catch_up(until)
    return ticket


@dataclass(slots=True)
class Attainment:
    """Met and breached counts per (priority, metric)."""

    met: Counter[tuple[str, str]] = field(default_factory=Counter)
    breached: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, ticket: Ticket) -> None:
        for clock in ticket.clocks.values():
            if clock["agreement"] != "sla" or clock["status"] == "cancelled":
                continue
            if clock["status"] in ("running", "paused") and not clock["breached"]:
                continue  # still undecided
            key = (ticket.priority, clock["metric"])
            if clock["breached"] or clock["status"] == "breached":
                self.breached[key] += 1
            else:
                self.met[key] += 1

    def rate(self, key: tuple[str, str]) -> float | None:
        total = self.met[key] + self.breached[key]
        return None if total == 0 else self.met[key] / total

    def keys(self) -> list[tuple[str, str]]:
        return sorted(set(self.met) | set(self.breached))


@dataclass(slots=True)
class WhatIfReport:
    """Recorded against recomputed attainment for the tickets opened in a period."""

    tickets: int
    actual: Attainment
    proposed: Attainment

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for prio, metric in sorted(set(self.actual.keys()) | set(self.proposed.keys())):
            a, p = self.actual.rate((prio, metric)), self.proposed.rate((prio, metric))
            out.append(
                {
                    "priority": prio,
                    "metric": metric,
                    "actual_met": self.actual.met[(prio, metric)],
                    "actual_breached": self.actual.breached[(prio, metric)],
                    "actual_attainment": a,
                    "whatif_met": self.proposed.met[(prio, metric)],
                    "whatif_breached": self.proposed.breached[(prio, metric)],
                    "whatif_attainment": p,
                    "difference": None if a is None or p is None else p - a,
                }
            )
        return out
