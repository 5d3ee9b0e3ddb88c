"""``opsledger.Engine``: the core engine plus one plain method per everyday verb."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsledger.core import commands as c
from opsledger.core.engine import Engine as CoreEngine
from opsledger.core.engine import Outcome


class Engine(CoreEngine):
    """Embed opsledger: every verb builds a command and runs it through :meth:`execute`.

    Each verb takes ``actor`` (who), ``at`` (when; default the engine's clock) and an optional
    ``idempotency_key``; it returns the :class:`Outcome` (ticket number and recorded events).
    """

    def open_ticket(self, kind: str, summary: str, **fields: Any) -> Outcome:
        return self.execute(c.OpenTicket(kind=kind, summary=summary, **fields))

    def open_incident(self, summary: str, **fields: Any) -> Outcome:
        return self.open_ticket("incident", summary, **fields)

    def open_request(self, summary: str, **fields: Any) -> Outcome:
        return self.open_ticket("service_request", summary, **fields)

    def open_problem(self, summary: str, **fields: Any) -> Outcome:
        return self.open_ticket("problem", summary, **fields)

    def open_change(self, summary: str, **fields: Any) -> Outcome:
        return self.open_ticket("change", summary, **fields)

    def register_ci(self, ci_type: str, name: str, **fields: Any) -> Outcome:
        return self.execute(c.RegisterCI(ci_type=ci_type, name=name, **fields))

    def assign(self, ticket: str, group: str, assignee: str | None = None, **kw: Any) -> Outcome:
        return self.execute(c.AssignTicket(ticket=ticket, group=group, assignee=assignee, **kw))

    def acknowledge(self, ticket: str, **kw: Any) -> Outcome:
        return self.execute(c.AcknowledgeTicket(ticket=ticket, **kw))

    def comment(self, ticket: str, body: str, *, public: bool = True, **kw: Any) -> Outcome:
        return self.execute(c.AddComment(ticket=ticket, body=body, public=public, **kw))

    def customer_reply(self, ticket: str, body: str, **kw: Any) -> Outcome:
        return self.execute(c.RecordCustomerReply(ticket=ticket, body=body, **kw))

    def hold(self, ticket: str, reason: str, **kw: Any) -> Outcome:
        return self.execute(c.HoldTicket(ticket=ticket, reason=reason, **kw))

    def resume(self, ticket: str, **kw: Any) -> Outcome:
        return self.execute(c.ResumeTicket(ticket=ticket, **kw))

    def escalate(self, ticket: str, mode: str, to: str, **kw: Any) -> Outcome:
        return self.execute(c.EscalateTicket(ticket=ticket, mode=mode, to=to, **kw))

    def change_priority(
        self, ticket: str, impact: str, urgency: str, reason: str, **kw: Any
    ) -> Outcome:
        return self.execute(
            c.ChangePriority(ticket=ticket, impact=impact, urgency=urgency, reason=reason, **kw)
        )

    def resolve(self, ticket: str, code: str, notes: str = "", **kw: Any) -> Outcome:
        return self.execute(c.ResolveTicket(ticket=ticket, code=code, notes=notes, **kw))

    def close_ticket(self, ticket: str, **kw: Any) -> Outcome:
        return self.execute(c.CloseTicket(ticket=ticket, **kw))

    def reopen(self, ticket: str, reason: str, **kw: Any) -> Outcome:
        return self.execute(c.ReopenTicket(ticket=ticket, reason=reason, **kw))

    def cancel(self, ticket: str, reason: str, **kw: Any) -> Outcome:
        return self.execute(c.CancelTicket(ticket=ticket, reason=reason, **kw))

    def link(self, source: str, relation: str, target: str, **kw: Any) -> Outcome:
        return self.execute(c.LinkRecords(source=source, relation=relation, target=target, **kw))

    def record_satisfaction(self, ticket: str, score: int, comment: str = "", **kw: Any) -> Outcome:
        return self.execute(c.RecordSatisfaction(ticket=ticket, score=score, comment=comment, **kw))

    def record_complaint(self, ticket: str, text: str, **kw: Any) -> Outcome:
        return self.execute(c.RecordComplaint(ticket=ticket, text=text, **kw))

    def record_callback(
        self,
        ticket: str,
        *,
        reached: bool,
        score: int | None = None,
        comment: str = "",
        complaint: bool = False,
        **kw: Any,
    ) -> Outcome:
        """The satisfaction call-back's outcome (docs/kpis.md): a score is the customer's
        satisfaction; a complaint, or a score of 1-2, opens a complaint of its own."""
        return self.execute(
            c.RecordCallback(
                ticket=ticket,
                reached=reached,
                score=score,
                comment=comment,
                complaint=complaint,
                **kw,
            )
        )

    def ingest(self, source: str, external_id: str, state: str, **fields: Any) -> Outcome:
        """A report from an outside system, correlated by its own id (docs/inbound.md).

        The actor defaults to the source's name. No idempotency key is derived here: pass
        ``idempotency_key`` (or build the command with ``opsledger.core.inbound``).
        """
        if isinstance(source, str) and source.strip():
            fields.setdefault("actor", source)  # else the handler names the bad source
        return self.execute(
            c.IngestInbound(source=source, external_id=external_id, state=state, **fields)
        )

    def as_of(self, ticket: str, at: datetime) -> dict[str, Any]:
        """Shorthand for ``get_as_of(ticket, at=...)``."""
        return self.get_as_of(ticket, at=at)
