"""Replaying tickets and their SLA clocks as they stood at an instant, from their events alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.core.audit_common import Progress
from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.ticket import Ticket
from opsledger.core.sla_service import TICKET_KINDS
from opsledger.core.sla_status import ClockStatus, clock_statuses

if TYPE_CHECKING:
    from opsledger.core.engine import Engine


@dataclass(frozen=True, slots=True)
class ReplayedTicket:
    """A ticket and its SLA clocks exactly as they stood at ``as_of``, rebuilt from events."""

    number: str
    kind: str
    version: int
    state: str
    priority: str
    impact: str
    urgency: str
    group: str | None
    assignee: str | None
    summary: str
    opened_at: datetime
    last_change: datetime
    as_of: datetime
    clocks: tuple[ClockStatus, ...]
    record: Mapping[str, Any]  # every field, as ``ticket show --as-of`` has them

    @classmethod
    def of(cls, ticket: Ticket, as_of: datetime) -> ReplayedTicket:
        return cls(
            number=ticket.number,
            kind=ticket.kind.value,
            version=ticket.version,
            state=ticket.state,
            priority=ticket.priority,
            impact=ticket.impact,
            urgency=ticket.urgency,
            group=ticket.group,
            assignee=ticket.assignee,
            summary=ticket.summary,
            opened_at=ticket.opened_at,
            last_change=ticket.modified_on,
            as_of=as_of,
            clocks=tuple(clock_statuses(ticket, as_of)),
            record=ticket.as_dict(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "version": self.version,
            "state": self.state,
            "priority": self.priority,
            "impact": self.impact,
            "urgency": self.urgency,
            "group": self.group,
            "assignee": self.assignee,
            "summary": self.summary,
            "opened_at": self.opened_at.isoformat(),
            "last_change": self.last_change.isoformat(),
            "as_of": self.as_of.isoformat(),
            "clocks": [c.to_dict() for c in self.clocks],
            "record": dict(self.record),
        }


def replay(
    engine: Engine,
    as_of: datetime,
    *,
    ticket: str | None = None,
    progress: Progress | None = None,
) -> list[ReplayedTicket]:
    """Every ticket (or one) as it was at ``as_of``; tickets not yet opened then are absent.

    One ticket not opened by then is a NotFoundError, as ``ticket show --as-of`` has it.
    """
    at = ensure_utc(as_of, "as_of")
    if ticket is not None:
        record = engine.record_as_of(ticket, at=at)
        if not isinstance(record, Ticket):
            raise InputError("ticket", f"{record.number} is not a ticket")
        return [ReplayedTicket.of(record, at)]
    numbers = [number for kind in TICKET_KINDS for number in engine.numbers(kind)]
    found = []
    for done, number in enumerate(numbers, 1):
        try:
            record = engine.record_as_of(number, at=at)
        except NotFoundError:
            continue  # opened after the instant
        finally:
            if progress is not None and (done % 50 == 0 or done == len(numbers)):
                progress(done, len(numbers))
        if isinstance(record, Ticket):
            found.append(ReplayedTicket.of(record, at))
    return found
