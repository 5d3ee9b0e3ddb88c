"""One handler per command: load, decide (the aggregate checks its rules), hand back to save."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from opsledger.core import commands as c
from opsledger.core.clock import ensure_utc
from opsledger.core.domain.ci import CiNameIndex, ConfigurationItem, ci_name_id
from opsledger.core.domain.correlation import Correlation, correlation_id
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.priority import (
    PriorityMatrix,
    parse_impact,
    parse_priority,
    parse_urgency,
)
from opsledger.core.domain.records import LedgerRecord, RecordKind, Relation, check_relation
from opsledger.core.domain.ticket import Ticket
from opsledger.core.domain.tickets import (
    TICKET_CLASSES,
    Change,
    ChangeType,
    Incident,
    Problem,
    Risk,
)
from opsledger.core.policies import PolicyBook

R = TypeVar("R", bound=LedgerRecord)


class Unit(Protocol):
    """What a handler may do: load records, number new ones, read the rules in force."""

    at: datetime
    actor: str
    matrix: PriorityMatrix
    reopen_window: timedelta
    #: (group, assignee) a complaint ticket is routed to
    complaints_to: tuple[str, str | None]

    def load(self, number: str, kind: type[R]) -> R: ...

    def allocate(self, kind: RecordKind) -> str: ...

    def add(self, record: LedgerRecord) -> None: ...

    def policy_book(self) -> PolicyBook: ...

    def route(self, ticket: Ticket) -> tuple[str, str | None] | None:
        """(group, assignee) from the routing plugins, or None (plugins are the engine's)."""
        ...

    def classify(self, item: Mapping[str, Any]) -> dict[str, str] | None:
        """Valid ``kind``/``service``/``ci``/``impact``/``urgency`` from the classifiers."""
        ...

    def find(
        self, aggregate_id: UUID, new: Callable[[], Aggregate] | None = None
    ) -> Aggregate | None:
        """An aggregate without a number (a correlation), or ``new()`` when there is none yet."""
        ...

    def ci_exists(self, number: str) -> bool:
        """Whether a configuration item of that number is registered (nothing is loaded)."""
        ...

    def ci_named(self, name: str) -> list[ConfigurationItem]:
        """The configuration items registered under that name (case-insensitive), unloaded."""
        ...


#: What policy commands answer with in place of a ticket number.
POLICY_BOOK = "policy-book"

Handler = Callable[[Any, Unit], str]
HANDLERS: dict[type[c.Command], Handler] = {}
C = TypeVar("C", bound=c.Command)


def handles(command: type[C]) -> Callable[[Callable[[C, Unit], str]], Callable[[C, Unit], str]]:
    def register(fn: Callable[[C, Unit], str]) -> Callable[[C, Unit], str]:
        HANDLERS[command] = fn
        return fn

    return register


def _kind(value: str) -> RecordKind:
    kind: RecordKind | None
    try:
        kind = RecordKind(value.lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        kind = None
    if kind is None or kind not in TICKET_CLASSES:
        allowed = ", ".join(k.value for k in TICKET_CLASSES)
        raise InputError("kind", f"{value!r} is not one of {allowed}")
    return kind


def _choice(enum: Any, value: str, field: str) -> str:
    try:
        return str(enum(value).value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InputError(field, f"{value!r} is not one of {allowed}") from None


def _optional_instant(value: datetime | None, field: str) -> datetime | None:
    return ensure_utc(value, field) if value is not None else None


@handles(c.OpenTicket)
def open_ticket(cmd: c.OpenTicket, u: Unit) -> str:
    return _open_ticket(cmd, u, u.at).number


def _open_ticket(cmd: c.OpenTicket, u: Unit, opened: datetime) -> Ticket:
    """Open a ticket whose own opening events carry ``opened`` (at most ``u.at``).

    The SLA rules start its clocks at the ``Opened`` event's instant after the handler, so
    every event this records on the new ticket carries ``opened`` too: history reads forwards.
    """
    kind = _kind(cmd.kind)
    summary = cmd.summary.strip() if isinstance(cmd.summary, str) else ""
    if not summary:
        raise InputError("summary", "must be a non-empty string")
    impact, urgency = parse_impact(cmd.impact).value, parse_urgency(cmd.urgency).value
    priority = (
        parse_priority(cmd.priority_override)
        if cmd.priority_override
        else u.matrix.priority(impact, urgency)
    ).value
    ci = u.load(cmd.ci, ConfigurationItem).number if cmd.ci else None
    if (cmd.external_system is None) != (cmd.external_id is None):
        raise InputError("external_id", "external_system and external_id go together")
    extra: dict[str, Any] = {}
    if kind is RecordKind.CHANGE:
        extra = {
            "change_type": _choice(ChangeType, cmd.change_type, "change_type"),
            "risk": _choice(Risk, cmd.risk, "risk"),
            "planned_start": _optional_instant(cmd.planned_start, "planned_start"),
            "planned_end": _optional_instant(cmd.planned_end, "planned_end"),
        }
        start, end = extra["planned_start"], extra["planned_end"]
        if start and end and end <= start:
            raise InputError("planned_end", "must be after planned_start")
    number = u.allocate(kind)
    ticket = TICKET_CLASSES[kind](
        number=number,
        summary=summary,
        description=cmd.description,
        impact=impact,
        urgency=urgency,
        priority=priority,
        service=cmd.service or None,
        ci=ci,
        reporter=cmd.reporter or u.actor,
        customer=cmd.customer,
        channel=cmd.channel,
        actor=u.actor,
        timestamp=opened,
        received_at=_optional_instant(cmd.received_at, "received_at"),
        **extra,
    )
    u.add(ticket)
    if cmd.external_system and cmd.external_id:
        ticket.record_external_reference(
            cmd.external_system, cmd.external_id, actor=u.actor, at=opened
        )
    if ci is not None:
        _link(u, ticket, Relation.AFFECTS_CI, u.load(ci, ConfigurationItem), source_at=opened)
    if cmd.group:
        ticket.assign(group=cmd.group, assignee=cmd.assignee, actor=u.actor, at=opened)
    elif (routed := u.route(ticket)) is not None:
        group, assignee = routed
        ticket.assign(group=group, assignee=cmd.assignee or assignee, actor=u.actor, at=opened)
    return ticket


def _ticket(u: Unit, number: str) -> Ticket:
    return u.load(number, Ticket)


@handles(c.AssignTicket)
def assign(cmd: c.AssignTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.assign(group=cmd.group, assignee=cmd.assignee, tier=cmd.tier, actor=u.actor, at=u.at)
    return t.number


@handles(c.AcknowledgeTicket)
def acknowledge(cmd: c.AcknowledgeTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.acknowledge(actor=u.actor, at=u.at)
    return t.number


@handles(c.AddComment)
def add_comment(cmd: c.AddComment, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.add_comment(body=cmd.body, public=bool(cmd.public), actor=u.actor, at=u.at)
    return t.number


@handles(c.RecordCustomerReply)
def customer_reply(cmd: c.RecordCustomerReply, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.record_customer_reply(body=cmd.body, actor=u.actor, at=u.at)
    return t.number


@handles(c.HoldTicket)
def hold(cmd: c.HoldTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.hold(reason=cmd.reason, note=cmd.note, vendor=cmd.vendor, actor=u.actor, at=u.at)
    return t.number


@handles(c.ResumeTicket)
def resume(cmd: c.ResumeTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.resume(note=cmd.note, actor=u.actor, at=u.at)
    return t.number


@handles(c.EscalateTicket)
def escalate(cmd: c.EscalateTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    if cmd.mode == "functional":
        t.escalate_functionally(to_group=cmd.to, reason=cmd.reason, actor=u.actor, at=u.at)
    elif cmd.mode == "hierarchical":
        t.escalate_hierarchically(to=cmd.to, reason=cmd.reason, actor=u.actor, at=u.at)
    else:
        raise InputError("mode", f"{cmd.mode!r} is not functional or hierarchical")
    return t.number


@handles(c.ResolveTicket)
def resolve(cmd: c.ResolveTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.resolve(code=cmd.code, notes=cmd.notes, actor=u.actor, at=u.at)
    return t.number


@handles(c.CloseTicket)
def close(cmd: c.CloseTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.close(actor=u.actor, at=u.at)
    return t.number


@handles(c.ReopenTicket)
def reopen(cmd: c.ReopenTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.reopen(reason=cmd.reason, window=u.reopen_window, actor=u.actor, at=u.at)
    return t.number


@handles(c.CancelTicket)
def cancel(cmd: c.CancelTicket, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.cancel(reason=cmd.reason, actor=u.actor, at=u.at)
    return t.number


@handles(c.ChangePriority)
def change_priority(cmd: c.ChangePriority, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.change_priority(
        impact=parse_impact(cmd.impact).value,
        urgency=parse_urgency(cmd.urgency).value,
        override=parse_priority(cmd.override).value if cmd.override else None,
        reason=cmd.reason,
        matrix=u.matrix,
        actor=u.actor,
        at=u.at,
    )
    return t.number


def _link(
    u: Unit,
    source: LedgerRecord,
    relation: Relation,
    target: LedgerRecord,
    *,
    source_at: datetime | None = None,
) -> None:
    """Both ends in one go; ``source_at``: the source's end of a ticket being opened earlier."""
    if source.id == target.id:
        raise InputError("target", "a record cannot be linked to itself")
    check_relation(relation, source.kind, target.kind)
    source.link(relation, target.number, actor=u.actor, at=source_at or u.at)
    target.link(relation.inverse, source.number, actor=u.actor, at=u.at)


@handles(c.LinkRecords)
def link(cmd: c.LinkRecords, u: Unit) -> str:
    relation = Relation(_choice(Relation, cmd.relation, "relation"))
    source = u.load(cmd.source, LedgerRecord)
    _link(u, source, relation, u.load(cmd.target, LedgerRecord))
    return source.number


@handles(c.RecordExternalReference)
def external_reference(cmd: c.RecordExternalReference, u: Unit) -> str:
    """Remember the reference, and that it means this record: a correlation of ``system``, so
    the other side's later reports (a JIRA webhook) find the record from the log."""
    t = u.load(cmd.ticket, LedgerRecord)
    t.record_external_reference(cmd.system, cmd.reference, actor=u.actor, at=u.at)
    link_reference(u, cmd.system, cmd.reference, t, u.at)
    return t.number


def link_reference(
    u: Unit, system: str, reference: str, record: LedgerRecord, at: datetime
) -> None:
    """From now on ``system``'s ``reference`` (a Message-ID, a JIRA key) means ``record``: a
    correlation the outside system's later reports find it by."""

    def start() -> Correlation:
        return Correlation(source=system, external_id=reference, actor=u.actor, timestamp=at)

    found = u.find(correlation_id(system, reference), start)
    if not isinstance(found, Correlation):
        raise TypeError(f"the correlation of {reference!r} is not a Correlation")
    found.link(record.number, actor=u.actor, at=at)


def referenced_ticket(u: Unit, system: str, reference: str) -> Ticket | None:
    """The ticket ``system``'s ``reference`` means now, or None (never linked)."""
    found = u.find(correlation_id(system, reference))
    if not isinstance(found, Correlation) or found.ticket is None:
        return None
    return u.load(found.ticket, Ticket)


@handles(c.RecordSatisfaction)
def satisfaction(cmd: c.RecordSatisfaction, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.record_satisfaction(score=cmd.score, comment=cmd.comment, actor=u.actor, at=u.at)
    return t.number


@handles(c.DeclareMajorIncident)
def declare_major(cmd: c.DeclareMajorIncident, u: Unit) -> str:
    t = u.load(cmd.ticket, Incident)
    t.declare_major(reason=cmd.reason, actor=u.actor, at=u.at)
    return t.number


@handles(c.ClearMajorIncident)
def clear_major(cmd: c.ClearMajorIncident, u: Unit) -> str:
    t = u.load(cmd.ticket, Incident)
    t.clear_major(reason=cmd.reason, actor=u.actor, at=u.at)
    return t.number


@handles(c.RecordRootCause)
def root_cause(cmd: c.RecordRootCause, u: Unit) -> str:
    t = u.load(cmd.ticket, Problem)
    t.record_root_cause(root_cause=cmd.root_cause, actor=u.actor, at=u.at)
    return t.number


@handles(c.RecordKnownError)
def known_error(cmd: c.RecordKnownError, u: Unit) -> str:
    t = u.load(cmd.ticket, Problem)
    t.record_known_error(
        workaround=cmd.workaround, root_cause=cmd.root_cause, actor=u.actor, at=u.at
    )
    return t.number


@handles(c.SubmitChangeForApproval)
def submit_change(cmd: c.SubmitChangeForApproval, u: Unit) -> str:
    t = u.load(cmd.ticket, Change)
    t.submit_for_approval(actor=u.actor, at=u.at)
    return t.number


@handles(c.ApproveChange)
def approve_change(cmd: c.ApproveChange, u: Unit) -> str:
    t = u.load(cmd.ticket, Change)
    t.approve(note=cmd.note, actor=u.actor, at=u.at)
    return t.number


@handles(c.RejectChange)
def reject_change(cmd: c.RejectChange, u: Unit) -> str:
    t = u.load(cmd.ticket, Change)
    t.reject(note=cmd.note, actor=u.actor, at=u.at)
    return t.number


@handles(c.StartChangeImplementation)
def start_change(cmd: c.StartChangeImplementation, u: Unit) -> str:
    t = u.load(cmd.ticket, Change)
    t.start_implementation(actor=u.actor, at=u.at)
    return t.number


@handles(c.CompleteChangeImplementation)
def complete_change(cmd: c.CompleteChangeImplementation, u: Unit) -> str:
    t = u.load(cmd.ticket, Change)
    t.complete_implementation(
        succeeded=bool(cmd.succeeded), notes=cmd.notes, actor=u.actor, at=u.at
    )
    return t.number


@handles(c.ReviewChange)
def review_change(cmd: c.ReviewChange, u: Unit) -> str:
    t = u.load(cmd.ticket, Change)
    t.review_implementation(notes=cmd.notes, actor=u.actor, at=u.at)
    return t.number


@handles(c.RegisterCI)
def register_ci(cmd: c.RegisterCI, u: Unit) -> str:
    ci_type, name, attributes, status = ConfigurationItem.check_new(
        ci_type=cmd.ci_type, name=cmd.name, attributes=cmd.attributes, status=cmd.status
    )
    number = u.allocate(RecordKind.CONFIGURATION_ITEM)
    u.add(
        ConfigurationItem(
            number=number,
            ci_type=ci_type,
            name=name,
            owner=cmd.owner,
            attributes=attributes,
            status=status,
            actor=u.actor,
            timestamp=u.at,
        )
    )
    index = u.find(ci_name_id(name), lambda: CiNameIndex(name=name, actor=u.actor, timestamp=u.at))
    if not isinstance(index, CiNameIndex):
        raise TypeError(f"the name index of {name!r} is not a CiNameIndex")
    index.add(number, actor=u.actor, at=u.at)
    return number


@handles(c.UpdateCIAttributes)
def update_ci(cmd: c.UpdateCIAttributes, u: Unit) -> str:
    ci = u.load(cmd.ci, ConfigurationItem)
    ci.update_attributes(changes=cmd.changes, actor=u.actor, at=u.at)
    return ci.number


@handles(c.ChangeCIOwner)
def ci_owner(cmd: c.ChangeCIOwner, u: Unit) -> str:
    ci = u.load(cmd.ci, ConfigurationItem)
    ci.change_owner(owner=cmd.owner, actor=u.actor, at=u.at)
    return ci.number


@handles(c.ChangeCIStatus)
def ci_status(cmd: c.ChangeCIStatus, u: Unit) -> str:
    ci = u.load(cmd.ci, ConfigurationItem)
    ci.change_status(status=cmd.status, actor=u.actor, at=u.at)
    return ci.number


@handles(c.DefineSlaPolicy)
def define_policy(cmd: c.DefineSlaPolicy, u: Unit) -> str:
    book = u.policy_book()
    book.define(cmd.definition, actor=u.actor, at=u.at)
    return POLICY_BOOK


@handles(c.RetireSlaPolicy)
def retire_policy(cmd: c.RetireSlaPolicy, u: Unit) -> str:
    u.policy_book().retire(cmd.name, actor=u.actor, at=u.at)
    return POLICY_BOOK


@handles(c.TickClocks)
def tick_clocks(cmd: c.TickClocks, u: Unit) -> str:
    return _ticket(u, cmd.ticket).number  # loading a ticket catches its clocks up to ``at``


# The inbound and contact handlers live in their own modules; importing them registers them.
from opsledger.core import handlers_contact as _handlers_contact  # noqa: E402, F401
from opsledger.core import handlers_inbound as _handlers_inbound  # noqa: E402, F401
from opsledger.core import handlers_sync as _handlers_sync  # noqa: E402, F401
