"""One handler per command: load, decide (the aggregate checks its rules), hand back to save."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from opsledger.core import commands as c
from opsledger.core.clock import ensure_utc
from opsledger.core.domain.ci import ConfigurationItem
from opsledger.core.domain.correlation import Correlation, InboundState, correlation_id
from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.priority import (
    PriorityMatrix,
    parse_impact,
    parse_priority,
    parse_urgency,
)
from opsledger.core.domain.records import LedgerRecord, RecordKind, Relation, check_relation
from opsledger.core.domain.storms import SourceActivity, source_activity_id
from opsledger.core.domain.ticket import ALLOWED_FROM, Ticket, TicketState
from opsledger.core.domain.tickets import (
    TICKET_CLASSES,
    Change,
    ChangeType,
    Incident,
    Problem,
    Risk,
)
from opsledger.core.inbound import validate_inbound
from opsledger.core.policies import PolicyBook

R = TypeVar("R", bound=LedgerRecord)


class Unit(Protocol):
    """What a handler may do: load records, number new ones, read the rules in force."""

    at: datetime
    actor: str
    matrix: PriorityMatrix
    reopen_window: timedelta

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
    t = u.load(cmd.ticket, LedgerRecord)
    t.record_external_reference(cmd.system, cmd.reference, actor=u.actor, at=u.at)
    return t.number


@handles(c.RecordSatisfaction)
def satisfaction(cmd: c.RecordSatisfaction, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.record_satisfaction(score=cmd.score, comment=cmd.comment, actor=u.actor, at=u.at)
    return t.number


@handles(c.RecordComplaint)
def complaint(cmd: c.RecordComplaint, u: Unit) -> str:
    t = _ticket(u, cmd.ticket)
    t.record_complaint(text=cmd.text, actor=u.actor, at=u.at)
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


# -- inbound sources -------------------------------------------------------------------------


@handles(c.IngestInbound)
def ingest_inbound(cmd: c.IngestInbound, u: Unit) -> str:
    """One report of an outside system, decided against the ticket its own id is linked to."""
    state = validate_inbound(cmd)
    occurred = _optional_instant(cmd.occurred_at, "occurred_at")

    def start() -> Correlation:
        return Correlation(
            source=cmd.source, external_id=cmd.external_id, actor=u.actor, timestamp=u.at
        )

    # Read once: a second look at the store could see a rival's correlation that this
    # decision did not take into account. Started here, it collides with the rival's instead.
    found = u.find(
        correlation_id(cmd.source, cmd.external_id), start if state is InboundState.OPEN else None
    )
    if found is not None and not isinstance(found, Correlation):
        raise TypeError(f"{found.id} is a {type(found).__name__}, not a Correlation")
    ticket = found.ticket if found is not None else None
    current = u.load(ticket, Ticket) if ticket is not None else None
    if found is not None and state is InboundState.OPEN:
        changed = _state_changed(cmd, u, found, state)
        target, new = _inbound_open(cmd, u, found, current, occurred)
        if new and cmd.storm_threshold:
            _count_opening(cmd, u, target, occurred)
        if changed:
            _check_flapping(cmd, u, found, target)
        return target.number
    if found is None or current is None:
        raise NotFoundError("correlation", f"{cmd.source}:{cmd.external_id}")
    if _state_changed(cmd, u, found, state):
        _check_flapping(cmd, u, found, current)
    if state is InboundState.ACKNOWLEDGE:
        if current.acknowledged_at is None and current.state in ALLOWED_FROM["acknowledge"]:
            current.acknowledge(actor=u.actor, at=u.at)
    elif state is InboundState.RESOLVE:
        if current.is_open and current.auto_resolve_suspended:
            note = f"{cmd.source} reports it cleared; auto-resolve suspended: flapping"
            current.add_comment(body=note, public=False, actor=u.actor, at=u.at)
        elif current.is_open:
            current.resolve(code=cmd.resolve_code, notes=cmd.description, actor=u.actor, at=u.at)
    else:
        current.add_comment(body=cmd.description, public=False, actor=u.actor, at=u.at)
    return current.number


def _inbound_open(
    cmd: c.IngestInbound,
    u: Unit,
    correlation: Correlation,
    current: Ticket | None,
    occurred: datetime | None,
) -> tuple[Ticket, bool]:
    """A repeat is counted, a recent resolution reopened, anything else opens a new ticket
    (then True)."""
    if current is not None:
        if current.is_open:
            current.record_occurrence(
                source=cmd.source,
                occurred_at=occurred,
                details=cmd.details,
                actor=u.actor,
                at=u.at,
            )
            return current, False
        if (
            cmd.reopen
            and current.state == TicketState.RESOLVED
            and current.resolved_at is not None
            and u.at <= current.resolved_at + u.reopen_window
        ):
            reason = f"{cmd.source} reports it again"
            current.reopen(reason=reason, window=u.reopen_window, actor=u.actor, at=u.at)
            return current, False
    # The source's own instant opens the ticket (MTTR from when it started), never later than
    # it reached us: a source clock running ahead cannot open a ticket in our future.
    opened = min(occurred, u.at) if occurred is not None else u.at
    # The classifiers (plugins) win over what the adapter mapped; the host dropped bad keys.
    classified = u.classify(_inbound_item(cmd, occurred)) or {}
    # An alert naming a CI nobody registered still opens its incident: the CI is left out
    # and the description says so (an outage must never be lost to a stale label).
    ci = classified.get("ci", cmd.ci)
    description = cmd.description
    if ci and not u.ci_exists(ci):
        description = f"{description}\n\n({cmd.source} named {ci}, which is not registered)"
        ci = None
    request = c.OpenTicket(
        kind=classified.get("kind", cmd.kind),
        summary=cmd.summary,
        description=description.strip(),
        impact=classified.get("impact", cmd.impact),
        urgency=classified.get("urgency", cmd.urgency),
        service=classified.get("service", cmd.service),
        ci=ci,
        reporter=cmd.reporter,
        customer=cmd.customer,
        channel=cmd.source,
        received_at=u.at,
        external_system=cmd.source,
        external_id=cmd.external_id,
        actor=u.actor,
        at=opened,
    )
    ticket = _open_ticket(request, u, opened)
    if current is not None:
        _link(u, ticket, Relation.FOLLOW_UP_OF, current, source_at=opened)
    correlation.link(
        ticket.number, actor=u.actor, at=u.at, occurred_at=occurred, details=cmd.details
    )
    return ticket, True


def _state_changed(
    cmd: c.IngestInbound, u: Unit, correlation: Correlation, state: InboundState
) -> bool:
    """Whether this report flips the key between open and resolve (only watched with
    ``flap_changes``; the correlation then remembers the recent flips)."""
    if not cmd.flap_changes:
        return False
    return correlation.report_state(
        state, window_s=cmd.flap_window_s, keep=cmd.flap_changes, actor=u.actor, at=u.at
    )


def _check_flapping(
    cmd: c.IngestInbound, u: Unit, correlation: Correlation, ticket: Ticket
) -> None:
    """The ``flap_changes``-th flip within the window suspends the ticket's auto-resolve."""
    changes = len(correlation.changes)
    if ticket.is_open and changes >= cmd.flap_changes and not ticket.auto_resolve_suspended:
        ticket.record_flapping(
            source=cmd.source,
            changes=changes,
            window_s=cmd.flap_window_s,
            actor=u.actor,
            at=u.at,
        )


def _count_opening(
    cmd: c.IngestInbound, u: Unit, ticket: Ticket, occurred: datetime | None
) -> None:
    """More than ``storm_threshold`` tickets from one source within the window: a storm.

    The command that crosses the threshold opens the storm's parent incident and records
    the storm once; it and every ticket opened while the storm lasts are linked to it.
    """

    def start() -> SourceActivity:
        return SourceActivity(source=cmd.source, actor=u.actor, timestamp=u.at)

    activity = u.find(source_activity_id(cmd.source), start)
    if not isinstance(activity, SourceActivity):
        raise TypeError(f"the activity of {cmd.source!r} is not a SourceActivity")
    count = activity.count_opening(
        ticket.number,
        threshold=cmd.storm_threshold,
        window_s=cmd.storm_window_s,
        actor=u.actor,
        at=u.at,
    )
    if count <= cmd.storm_threshold:
        return
    if activity.storm is None:
        request = c.OpenTicket(
            kind=RecordKind.INCIDENT.value,
            summary=f"Alert storm from {cmd.source}",
            description=(
                f"More than {cmd.storm_threshold} tickets opened from {cmd.source} within "
                f"{cmd.storm_window_s} s; those opened during the storm are linked to this one."
            ),
            impact=ticket.impact,
            urgency=ticket.urgency,
            channel=cmd.source,
            actor=u.actor,
        )
        storm = _open_ticket(request, u, u.at)
        activity.declare_storm(
            storm.number,
            count=count,
            threshold=cmd.storm_threshold,
            window_s=cmd.storm_window_s,
            actor=u.actor,
            at=u.at,
        )
    assert activity.storm is not None  # declared above, or under way
    parent = u.load(activity.storm, Ticket)
    relation = Relation.CHILD_OF if ticket.kind is parent.kind else Relation.RELATES_TO
    opened = min(occurred, u.at) if occurred is not None else u.at
    ticket.link(relation, parent.number, actor=u.actor, at=max(opened, ticket.modified_on))
    # a batch's commands need not come in time order: the parent's history still reads forwards
    parent.link(relation.inverse, ticket.number, actor=u.actor, at=max(u.at, parent.modified_on))


def _inbound_item(cmd: c.IngestInbound, occurred: datetime | None) -> dict[str, Any]:
    """What a classifier sees: the command as JSON-native data, a copy it may not spoil."""
    return {
        "source": cmd.source,
        "external_id": cmd.external_id,
        "kind": cmd.kind,
        "summary": cmd.summary,
        "description": cmd.description,
        "impact": cmd.impact,
        "urgency": cmd.urgency,
        "service": cmd.service,
        "ci": cmd.ci,
        "reporter": cmd.reporter,
        "customer": cmd.customer,
        "details": copy.deepcopy(cmd.details),
        "occurred_at": occurred.isoformat() if occurred is not None else None,
    }
