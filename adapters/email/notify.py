"""Outbound notifications: decided by the event hook, queued in the outbox, sent by a thread.

``react`` runs inside the host's reaction to each recorded event: it reads the ticket as it
was at that event, decides who is to be told what, renders the mail and queues it with a
fixed Message-ID, all without touching the network, so a command is never slowed or failed
by a mail server. ``drain_once`` (looped by the sender thread) sends what is due, retries
with backoff, and records each outcome on the ticket through the bus.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsledger.adapters.email.notify_settings import (
    GroupContact,
    NotifySettings,
    bare_address,
    language_code,
)
from opsledger.adapters.email.sending import CHANNEL, Delivery, QueuedMail
from opsledger.adapters.email.templates import clock_name, render
from opsledger.plugins.outbox import Outbox

if TYPE_CHECKING:
    from opsledger.adapters.email.smtp_out import SmtpSender
    from opsledger.adapters.kafka.bus import CommandBus
    from opsledger.plugins.context import HostContext

__all__ = ["GroupContact", "Notifier", "NotifySettings"]

log = logging.getLogger(__name__)

#: Events that may notify someone; every other event is passed over before any lookup.
NOTIFYING = frozenset(
    {
        "Opened", "Assigned", "PutOnHold", "Resumed", "Reopened", "Closed", "Resolved",
        "PublicCommentAdded", "WarningReached", "BreachRecorded",
    }
)  # fmt: skip
#: Status changes told to the contact, by event name.
STATUS = {
    "Assigned": "status.assigned",
    "PutOnHold": "status.on_hold",
    "Resumed": "status.resumed",
    "Reopened": "status.reopened",
    "Closed": "status.closed",
}
AUTO_REPLIED = "auto-replied"
AUTO_GENERATED = "auto-generated"
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification decided: a template, its readers and their language."""

    template: str
    recipients: tuple[str, ...]
    language: str
    auto_submitted: str = AUTO_GENERATED


class Notifier:
    """Decides and queues notifications (``react``) and sends them (``start``/``drain_once``)."""

    def __init__(self, settings: NotifySettings, sender: SmtpSender | None) -> None:
        self.settings = settings
        self.sender = sender
        self._delivery = Delivery(settings, sender)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- deciding (the event hook) -----------------------------------------------------------

    def react(self, event: Any, record: Any, context: HostContext) -> None:
        """Queue the notifications ``event`` calls for; a repeat of the same event queues
        nothing new (rows are unique per event position, template and recipients)."""
        name = type(event).__name__
        if not self.settings.enabled or name not in NOTIFYING:
            return
        number = context.number_of(event.originator_id)
        if number is None:
            return
        ticket = context.ticket_as_of(number, event.timestamp) or context.ticket(number)
        if ticket is None or "summary" not in ticket:
            return  # a configuration item, not a ticket
        notices = self.decide(name, event, ticket, context)
        extra = {"ticket": number, "event": name, "position": record.position}
        if not notices:
            log.debug("no notification", extra=extra)
            return
        outbox = context.tables(Outbox)
        now = context.clock.now()
        for notice in notices:
            values = self._values(ticket, event, notice.language)
            subject, body = render(notice.template, notice.language, values)
            mail = QueuedMail(
                position=record.position,
                template=notice.template,
                language=notice.language,
                recipients=notice.recipients,
                subject=subject,
                body=_BLANK_LINES.sub("\n\n", body),
                message_id=self.message_id(record.position, notice.template, notice.recipients),
                auto_submitted=notice.auto_submitted,
            )
            added = outbox.add(CHANNEL, mail.dedup, number, mail.payload(), now)
            if added:
                log.info(
                    "notification queued",
                    extra={
                        **extra,
                        "template": notice.template,
                        "recipients": len(notice.recipients),
                    },
                )

    def decide(
        self, name: str, event: Any, ticket: dict[str, Any], context: HostContext
    ) -> list[Notice]:
        """Who is told what about ``event`` (``ticket`` as it stood then)."""
        if name in ("WarningReached", "BreachRecorded"):
            group = self._group(ticket)
            if name == "WarningReached":
                return self._staff("sla_warning", [ticket.get("assignee"), group.address], group)
            # a breach escalates hierarchically: to the group's manager
            return self._staff("sla_breach", [group.manager, group.address], group)
        contact = self._contact(ticket)
        if contact is None:
            return []
        language = self.settings.contact_language(contact, self._detected(ticket, context))
        if name == "Opened":
            # an answer to the customer's own mail is an auto-reply (RFC 3834); the rest not
            kind = AUTO_REPLIED if ticket.get("channel") == "email" else AUTO_GENERATED
            return [Notice("acknowledgement", (contact,), language, kind)]
        if str(getattr(event, "actor", "")).strip().lower() == contact.lower():
            return []  # the contact did it (replied, reopened by mail): nothing to tell them
        to = (contact,)
        if name == "Resolved":
            survey = [Notice("survey", to, language)] if self.settings.survey else []
            return [Notice("resolution", to, language), *survey]
        if name == "PublicCommentAdded":
            return [Notice("comment", to, language)]
        if name == "Assigned" and _at_or_before(event.timestamp, ticket.get("opened_at")):
            return []  # routed while opening: the acknowledgement said so
        if name == "PutOnHold" and getattr(event, "reason", None) != "awaiting_customer":
            return []  # waiting on a vendor or a change is not the customer's business
        if name == "Resumed" and not self._was_awaiting_customer(ticket, event, context):
            return []
        return [Notice(STATUS[name], to, language)] if name in STATUS else []

    def message_id(self, position: int, template: str, recipients: tuple[str, ...]) -> str:
        """The notification's Message-ID, the same however often it is queued or resent."""
        digest = hashlib.sha256(",".join(recipients).encode()).hexdigest()[:10]
        return f"<{position}.{template}.{digest}@{self.settings.message_id_domain}>"

    # -- sending (the sender thread) -----------------------------------------------------------

    def start(self, bus: CommandBus, context: HostContext) -> None:
        """Send on a thread of its own until ``stop``; without a sender, only warn."""
        if not self.settings.enabled or self._thread is not None:
            return
        if self.sender is None:
            log.warning("notifications are queued but not sent here: no SMTP relay configured")
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(bus, context), name="opsledger-notifier", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=60)

    def drain_once(self, bus: CommandBus, context: HostContext) -> int:
        """One pass: record outcomes still unrecorded, then try each row due now. Returns
        how many rows it worked on (0: nothing to do, the thread may wait)."""
        return self._delivery.drain_once(bus, context)

    def _run(self, bus: CommandBus, context: HostContext) -> None:
        while not self._stop.is_set():
            try:
                busy = self.drain_once(bus, context)
            except Exception:  # the database went away: log, wait, try again
                log.exception("notification pass failed")
                busy = 0
            if not busy:
                self._stop.wait(self.settings.poll_interval_s)

    # -- helpers -----------------------------------------------------------------------------

    def _contact(self, ticket: dict[str, Any]) -> str | None:
        """The customer's address, else the reporter's; never the desk's own."""
        for key in ("customer", "reporter"):
            address = bare_address(ticket.get(key))
            if address is not None and address.lower() != self.settings.from_address.lower():
                return address
        return None

    def _group(self, ticket: dict[str, Any]) -> GroupContact:
        return self.settings.groups.get(ticket.get("group") or "", GroupContact())

    def _staff(self, template: str, to: list[str | None], group: GroupContact) -> list[Notice]:
        """One mail to the desk's own people (names resolved through ``people``)."""
        addresses = (self.settings.person(who) for who in to)
        recipients = tuple(sorted({a.lower() for a in addresses if a}))
        if not recipients:
            return []
        language = language_code(group.language) or self.settings.language
        return [Notice(template, recipients, language)]

    @staticmethod
    def _detected(ticket: dict[str, Any], context: HostContext) -> str | None:
        """The contact's language from their mail: as of the event, else as now known (a mail
        that opens a ticket is recorded a moment after the opening, at its arrival)."""
        found = ticket.get("contact_language")
        if found is None:
            found = (context.ticket(ticket["number"]) or {}).get("contact_language")
        return found if isinstance(found, str) else None

    def _was_awaiting_customer(
        self, ticket: dict[str, Any], event: Any, context: HostContext
    ) -> bool:
        before = context.ticket_as_of(ticket["number"], event.timestamp - timedelta(microseconds=1))
        return before is not None and before.get("hold_reason") == "awaiting_customer"

    def _values(self, ticket: dict[str, Any], event: Any, language: str) -> dict[str, str]:
        def text(value: object) -> str:
            return "-" if value is None or value == "" else str(value)

        due = getattr(event, "due", None)
        return {
            "number": text(ticket.get("number")),
            "summary": text(ticket.get("summary")),
            "priority": text(ticket.get("priority")),
            "state": text(ticket.get("state")),
            "group": text(ticket.get("group")),
            "assignee": text(ticket.get("assignee")),
            "author": text(getattr(event, "actor", None)),
            "comment": str(getattr(event, "body", "") or ""),
            "notes": text(getattr(event, "notes", None) or ticket.get("resolution_notes")),
            "note": str(getattr(event, "note", "") or ""),
            "reason": text(getattr(event, "reason", None)),
            "clock": clock_name(str(getattr(event, "clock", "") or ""), language),
            "percent": text(getattr(event, "threshold", None)),
            "due": due.strftime("%Y-%m-%d %H:%M UTC") if isinstance(due, datetime) else "-",
            "desk": self.settings.from_name,
        }


def _at_or_before(at: datetime, iso: object) -> bool:
    """Whether ``at`` is no later than the ISO instant ``iso`` (False when there is none)."""
    return isinstance(iso, str) and bool(iso) and at <= datetime.fromisoformat(iso)
