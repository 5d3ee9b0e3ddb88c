"""Handlers for what passes between the desk and its customers: mail in, notifications out,
the satisfaction call-back and complaints.

Threading is decided here, inside the command, from the event log: a Message-ID a ticket
recorded (a mail it received or a notification it sent) is a correlation of source
``email``, so "which ticket does this reply belong to" reads the same store the decision
is saved to.
"""

from __future__ import annotations

import copy
from typing import Any

from opsledger.core import commands as c
from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.records import LedgerRecord, Relation, parse_number
from opsledger.core.domain.ticket import Ticket, TicketState
from opsledger.core.handlers import (
    Unit,
    _link,
    _open_ticket,
    _optional_instant,
    handles,
    link_reference,
    referenced_ticket,
)

#: The correlation source of Message-IDs (mail received and notifications sent).
MAIL_SOURCE = "email"
#: The scores that are a complaint by themselves (1-5 scale).
COMPLAINT_SCORES = (1, 2)
MAIL_KINDS = ("mail", "out_of_office", "bounce")


@handles(c.RecordComplaint)
def complaint(cmd: c.RecordComplaint, u: Unit) -> str:
    original = u.load(cmd.ticket, Ticket)
    open_complaint(u, original, cmd.text, channel="complaint")
    return original.number


def open_complaint(u: Unit, original: Ticket, text: str, *, channel: str) -> Ticket:
    """Record the complaint on ``original`` and open it as a ticket of its own, routed to the
    complaint group and assignee (Settings) and linked to the original."""
    original.record_complaint(text=text, actor=u.actor, at=u.at)
    group, assignee = u.complaints_to
    request = c.OpenTicket(
        kind="service_request",
        summary=f"Complaint about {original.number}: {original.summary}"[:200],
        description=text,
        impact="medium",
        urgency="high",
        service=original.service,
        reporter=u.actor,
        customer=original.customer,
        channel=channel,
        group=group,
        assignee=assignee,
        actor=u.actor,
    )
    raised = _open_ticket(request, u, u.at)
    _link(u, raised, Relation.RELATES_TO, original)
    return raised


@handles(c.RecordCallback)
def callback(cmd: c.RecordCallback, u: Unit) -> str:
    """The call-back's outcome; a score is the customer's satisfaction, and a complaint (said,
    or a score of 1-2) is opened as a ticket of its own."""
    t = u.load(cmd.ticket, Ticket)
    t.record_callback(
        reached=cmd.reached, score=cmd.score, comment=cmd.comment, complaint=cmd.complaint,
        actor=u.actor, at=u.at,
    )  # fmt: skip
    if cmd.score is not None:
        t.record_satisfaction(score=cmd.score, comment=cmd.comment, actor=u.actor, at=u.at)
    if cmd.complaint or cmd.score in COMPLAINT_SCORES:
        text = cmd.comment.strip() or f"the customer scored {cmd.score} on the call-back"
        open_complaint(u, t, text, channel="callback")
    return t.number


@handles(c.RecordNotification)
def notification(cmd: c.RecordNotification, u: Unit) -> str:
    t = u.load(cmd.ticket, Ticket)
    t.record_notification(
        outcome=cmd.outcome, template=cmd.template, recipients=list(cmd.recipients),
        message_id=cmd.message_id, reason=cmd.reason, attempts=cmd.attempts,
        actor=u.actor, at=u.at,
    )  # fmt: skip
    if cmd.outcome == "sent" and cmd.message_id:
        link_reference(
            u, MAIL_SOURCE, cmd.message_id, t, u.at
        )  # a reply to the notification finds its ticket
    return t.number


# -- mail in ---------------------------------------------------------------------------------


@handles(c.IngestMail)
def ingest_mail(cmd: c.IngestMail, u: Unit) -> str:
    """One mail: a bounce, an auto-reply, a survey answer, a reply or a new request."""
    _check(cmd)
    if cmd.mail_kind == "bounce":
        return _bounce(cmd, u)
    ticket = _threaded(cmd, u)
    if cmd.mail_kind == "out_of_office":
        if ticket is None:
            raise NotFoundError("ticket", f"an out-of-office reply ({cmd.message_id}) to no ticket")
        _record(cmd, u, ticket)  # recorded as such; it never reopens anything
        return ticket.number
    if (
        ticket is not None
        and set(cmd.thread) & set(ticket.survey_ids)
        and ticket.state in (TicketState.RESOLVED, TicketState.CLOSED)
        and (cmd.survey_score is not None or cmd.dissatisfied)
    ):
        return _survey_answer(cmd, u, ticket)
    # anything else that answers the survey (no score: "it broke again") is a reply like any
    if ticket is not None and ticket.is_open:
        _reply(cmd, u, ticket)
        return ticket.number
    if (
        ticket is not None
        and ticket.state == TicketState.RESOLVED
        and ticket.resolved_at is not None
        and u.at <= ticket.resolved_at + u.reopen_window
    ):
        ticket.reopen(
            reason="the customer replied by mail", window=u.reopen_window, actor=u.actor, at=u.at
        )
        _reply(cmd, u, ticket)
        return ticket.number
    new = _open_from_mail(cmd, u)
    if ticket is not None:  # resolved too long ago, closed or cancelled: a follow-up
        _link(u, new, Relation.FOLLOW_UP_OF, ticket, source_at=new.opened_at)
    return new.number


def _check(cmd: c.IngestMail) -> None:
    if not isinstance(cmd.message_id, str) or not cmd.message_id.strip():
        raise InputError("message_id", "must be a non-empty string")
    if not isinstance(cmd.sender, str) or not cmd.sender.strip():
        raise InputError("sender", "must be a non-empty string")
    if cmd.mail_kind not in MAIL_KINDS:
        raise InputError("mail_kind", f"{cmd.mail_kind!r} is not one of {', '.join(MAIL_KINDS)}")
    if cmd.mail_kind == "bounce" and not cmd.bounced_message_id:
        raise InputError("bounced_message_id", "a bounce names the message that bounced")
    score = cmd.survey_score
    if score is not None and (isinstance(score, bool) or not 1 <= score <= 5):
        raise InputError("survey_score", f"{score!r} is not a whole number from 1 to 5")


def _threaded(cmd: c.IngestMail, u: Unit) -> Ticket | None:
    """The ticket the mail answers: its subject's token, else a Message-ID it refers to."""
    if cmd.token:
        try:
            parse_number(cmd.token)
            found = u.load(cmd.token, LedgerRecord)
        except (InputError, NotFoundError):
            found = None  # a token of no ticket here: thread by the headers instead
        if isinstance(found, Ticket):
            return found
    for ref in cmd.thread:
        ticket = referenced_ticket(u, MAIL_SOURCE, ref)
        if ticket is not None:
            return ticket
    return None


def _record(cmd: c.IngestMail, u: Unit, ticket: Ticket) -> None:
    ticket.record_mail(
        message_id=cmd.message_id,
        sender=cmd.sender,
        subject=cmd.subject,
        raw_sha256=cmd.raw_sha256,
        attachments=[dict(a) for a in cmd.attachments],
        kind=cmd.mail_kind,
        language=cmd.language,
        actor=u.actor,
        at=max(u.at, ticket.modified_on),
    )
    link_reference(u, MAIL_SOURCE, cmd.message_id, ticket, u.at)


def _reply(cmd: c.IngestMail, u: Unit, ticket: Ticket) -> None:
    _record(cmd, u, ticket)
    body = cmd.body.strip() or (
        "(no text; see the attachments)" if cmd.attachments else "(an empty mail)"
    )
    ticket.record_customer_reply(body=body, actor=u.actor, at=u.at)


def _survey_answer(cmd: c.IngestMail, u: Unit, ticket: Ticket) -> str:
    """A reply to the satisfaction survey: its score, and a complaint when it is one."""
    _record(cmd, u, ticket)
    if cmd.survey_score is not None and ticket.state in (TicketState.RESOLVED, TicketState.CLOSED):
        ticket.record_satisfaction(
            score=cmd.survey_score, comment=cmd.body.strip(), actor=u.actor, at=u.at
        )
    if cmd.dissatisfied or cmd.survey_score in COMPLAINT_SCORES:
        text = cmd.body.strip() or f"the customer scored {cmd.survey_score} in the survey"
        open_complaint(u, ticket, text, channel=MAIL_SOURCE)
    return ticket.number


def _bounce(cmd: c.IngestMail, u: Unit) -> str:
    """A delivery failure of one of our notifications, recorded on its ticket."""
    assert cmd.bounced_message_id is not None  # _check
    ticket = referenced_ticket(u, MAIL_SOURCE, cmd.bounced_message_id)
    if ticket is None:
        raise NotFoundError("notification", cmd.bounced_message_id)
    ticket.record_notification(
        outcome="bounced",
        template=ticket.sent_template(cmd.bounced_message_id) or "unknown",
        recipients=[],
        message_id=cmd.bounced_message_id,
        reason=cmd.bounce_status or cmd.subject,
        attempts=1,
        actor=u.actor,
        at=max(u.at, ticket.modified_on),
    )
    return ticket.number


def _open_from_mail(cmd: c.IngestMail, u: Unit) -> Ticket:
    occurred = _optional_instant(cmd.occurred_at, "occurred_at")
    # the mail's Date opens the ticket, never later than it reached us
    opened = min(occurred, u.at) if occurred is not None else u.at
    classified = u.classify(_classify_item(cmd)) or {}
    request = c.OpenTicket(
        kind=classified.get("kind", cmd.kind),
        summary=cmd.subject.strip()[:200] or f"Mail from {cmd.sender}",
        description=cmd.body.strip(),
        impact=classified.get("impact", cmd.impact),
        urgency=classified.get("urgency", cmd.urgency),
        service=classified.get("service", cmd.service),
        ci=classified.get("ci"),
        reporter=cmd.sender,
        customer=cmd.sender,
        channel=MAIL_SOURCE,
        received_at=u.at,
        external_system=MAIL_SOURCE,
        external_id=cmd.message_id,
        actor=u.actor,
        at=opened,
    )
    ticket = _open_ticket(request, u, opened)
    _record(cmd, u, ticket)
    return ticket


def _classify_item(cmd: c.IngestMail) -> dict[str, Any]:
    """What a classifier sees of a new mail: the inbound item's keys (plugins/hookspecs.py)."""
    return {
        "source": MAIL_SOURCE,
        "external_id": cmd.message_id,
        "kind": cmd.kind,
        "summary": cmd.subject,
        "description": cmd.body,
        "impact": cmd.impact,
        "urgency": cmd.urgency,
        "service": cmd.service,
        "ci": None,
        "ci_names": [],
        "reporter": cmd.sender,
        "customer": cmd.sender,
        "details": {
            "sender_name": cmd.sender_name,
            "language": cmd.language,
            "attachments": copy.deepcopy([dict(a) for a in cmd.attachments]),
        },
        "occurred_at": cmd.occurred_at.isoformat() if cmd.occurred_at else None,
    }
