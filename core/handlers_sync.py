"""Handlers of two-way sync with another tracker: outbound results and inbound changes.

An inbound change is decided against the ticket's own history: a field is written only when
the change is newer than that field's last write from either side (so an echo of our own
change, or a late webhook, changes nothing), and a comment is applied once per its id.
"""

from __future__ import annotations

from datetime import datetime

from opsledger.core import commands as c
from opsledger.core.domain.errors import DomainError, InputError, NotFoundError
from opsledger.core.domain.priority import Priority
from opsledger.core.domain.ticket import ALLOWED_FROM, Ticket, TicketState
from opsledger.core.domain.tickets import Problem
from opsledger.core.handlers import (
    Unit,
    _optional_instant,
    handles,
    link_reference,
    referenced_ticket,
)

#: Where an inbound ``state`` may take a ticket.
TARGET_STATES = ("in_progress", "on_hold", "resolved", "closed", "cancelled")


@handles(c.RecordSync)
def record_sync(cmd: c.RecordSync, u: Unit) -> str:
    t = u.load(cmd.ticket, Ticket)
    t.record_sync(
        system=cmd.system, action=cmd.action, outcome=cmd.outcome, reference=cmd.reference,
        fields=list(cmd.fields), detail=cmd.detail, attempts=cmd.attempts,
        actor=u.actor, at=u.at,
    )  # fmt: skip
    return t.number


@handles(c.ApplyExternalChange)
def apply_external_change(cmd: c.ApplyExternalChange, u: Unit) -> str:
    """Apply what is newer than the ticket's last write of each field; comments once each."""
    occurred = _optional_instant(cmd.occurred_at, "occurred_at")
    if occurred is None:
        raise InputError("occurred_at", "is required")
    if cmd.state is not None and cmd.state not in TARGET_STATES:
        raise InputError("state", f"{cmd.state!r} is not one of {', '.join(TARGET_STATES)}")
    if cmd.priority is not None:
        try:
            Priority(cmd.priority)
        except ValueError:
            raise InputError("priority", f"{cmd.priority!r} is not P1, P2, P3 or P4") from None
    t = referenced_ticket(u, cmd.system, cmd.reference)
    if t is None and cmd.previous_reference:
        t = referenced_ticket(u, cmd.system, cmd.previous_reference)
    if t is None:
        raise NotFoundError("ticket", f"{cmd.system} {cmd.reference} is linked to no ticket")
    at = max(u.at, t.modified_on)  # a late delivery still reads forwards in the history
    if cmd.reference not in t.external_ref(cmd.system):  # moved: it answers to the new key
        t.record_external_reference(cmd.system, cmd.reference, actor=u.actor, at=at)
        link_reference(u, cmd.system, cmd.reference, t, at)
    # A field newer than its last write is written as of ``occurred`` even when the ticket
    # could not follow (a note then says so): the other side wrote last, and an older
    # delivery arriving later must not win over it.
    written: list[str] = []
    if cmd.state is not None and _newer(t, cmd.system, "state", occurred):
        _move(t, cmd, u, at)
        written.append("state")
    if cmd.priority is not None and _newer(t, cmd.system, "priority", occurred):
        written.append("priority")
    if (
        "priority" in written
        and cmd.priority != t.priority
        and t.state in ALLOWED_FROM["change_priority"]
    ):
        t.change_priority(
            impact=t.impact, urgency=t.urgency, override=cmd.priority,
            reason=f"changed in {cmd.system} {cmd.reference}", matrix=u.matrix,
            actor=u.actor, at=at,
        )  # fmt: skip
    comment = _comment(t, cmd, u, at)
    if written or comment:
        t.apply_external(
            system=cmd.system, reference=cmd.reference, delivery=cmd.delivery,
            occurred_at=occurred, fields=written,
            comment_id=cmd.comment_id if comment else None,
            comment_body=cmd.comment_body if comment else None, actor=u.actor, at=at,
        )  # fmt: skip
    return t.number


def _newer(t: Ticket, system: str, field: str, occurred: datetime) -> bool:
    """Newer than the field's last write on either side: a sync through ``system``, or a
    change made here (still waiting in the outbox, say, after an outage)."""
    writes = [w for w in (t.field_written_at(system, field), t.local_write_at(field)) if w]
    return not writes or occurred > max(writes)


def _move(t: Ticket, cmd: c.ApplyExternalChange, u: Unit, at: datetime) -> bool:
    """Take the ticket towards ``cmd.state``; False when it is there already or cannot go
    (a work note then says what the other side did, so nothing is lost)."""
    where = f"{cmd.system} {cmd.reference}"
    target, state = cmd.state, TicketState(t.state)
    try:
        if target == "resolved":
            if isinstance(t, Problem) and cmd.known_error:
                cause = None if t.root_cause else (cmd.notes or f"found in {where}")
                t.record_known_error(
                    workaround=cmd.known_error, root_cause=cause, actor=u.actor, at=at
                )
                return True
            if state in (TicketState.RESOLVED, TicketState.CLOSED):
                return False
            t.resolve(code=cmd.resolution_code or f"resolved in {cmd.system}",
                      notes=cmd.notes, actor=u.actor, at=at)  # fmt: skip
        elif target == "closed":
            if state == TicketState.CLOSED:
                return False
            if t.is_open:
                t.resolve(code=cmd.resolution_code or f"resolved in {cmd.system}",
                          notes=cmd.notes, actor=u.actor, at=at)  # fmt: skip
            t.close(actor=u.actor, at=at)
        elif target == "cancelled":
            if state == TicketState.CANCELLED:
                return False
            t.cancel(reason=cmd.notes or f"cancelled in {where}", actor=u.actor, at=at)
        elif target == "on_hold":
            if state == TicketState.ON_HOLD:
                return False
            t.hold(reason="awaiting_customer", note=f"from {where}", actor=u.actor, at=at)
        else:  # in_progress
            if state == TicketState.IN_PROGRESS:
                return False
            if state == TicketState.RESOLVED:
                t.reopen(reason=f"reopened in {where}", window=u.reopen_window,
                         actor=u.actor, at=at)  # fmt: skip
            elif state == TicketState.ON_HOLD:
                t.resume(note=f"resumed in {where}", actor=u.actor, at=at)
            else:
                t.acknowledge(actor=u.actor, at=at)
        return True
    except DomainError as refused:
        if t.state in ALLOWED_FROM["comment"]:
            note = f"{where} moved to {target}; not applied here ({refused})"
            t.add_comment(body=note, public=False, actor=u.actor, at=at)
        return False


def _comment(t: Ticket, cmd: c.ApplyExternalChange, u: Unit, at: datetime) -> bool:
    """A new outside comment becomes a comment; an edited one a note with its new text."""
    if cmd.comment_id is None or not cmd.comment_body.strip():
        return False
    seen = t.external_comment(cmd.system, cmd.comment_id)
    if seen == cmd.comment_body:
        return False
    if t.state not in ALLOWED_FROM["comment"]:
        return False  # closed or cancelled: kept by the other side, not here
    if seen is None:
        t.add_comment(body=cmd.comment_body, public=cmd.comment_public, actor=u.actor, at=at)
    else:
        body = f"comment {cmd.comment_id} edited in {cmd.system}: {cmd.comment_body}"
        t.add_comment(body=body, public=False, actor=u.actor, at=at)
    return True
