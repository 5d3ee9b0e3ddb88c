"""Sending the outbox: one SMTP attempt per due row per pass, and each outcome recorded.

The retry schedule lives in the rows (``next_attempt``), not in a sleeping loop, so a pass
never waits and a restart resumes where the last process stopped. A row sent but not yet
recorded (the bus was down) is recorded on a later pass and never sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from opsledger.adapters.email.notify_settings import NotifySettings
from opsledger.adapters.email.smtp_out import PermanentSendError, SendError, SmtpSender
from opsledger.core.commands import RecordNotification
from opsledger.core.domain.contact import REFERENCES_KEPT
from opsledger.plugins.outbox import Outbox, OutboxRow

if TYPE_CHECKING:
    from opsledger.adapters.kafka.bus import CommandBus
    from opsledger.plugins.context import HostContext

log = logging.getLogger(__name__)

#: Who records the notifications' outcomes.
ACTOR = "notifier"
#: The notifications' rows in the shared outbox (plugins/outbox.py).
CHANNEL = "mail"
#: How long a row taken for an attempt is left alone by other senders sharing the outbox; a
#: sender that dies mid-attempt leaves it due again after this (sent again, same Message-ID).
LEASE = timedelta(seconds=300)
#: Rows looked at per pass (the thread loops at once while there is more).
BATCH = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedMail:
    """A notification as queued (an outbox row's payload): rendered when decided, from the
    ticket as of its event, with its Message-ID fixed so that every attempt sends the same."""

    position: int
    template: str
    language: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    message_id: str
    #: ``auto-replied`` (an answer to the customer's mail) or ``auto-generated``
    auto_submitted: str

    @property
    def dedup(self) -> str:
        """Unique per event position, template and recipients: a retried reaction adds none."""
        return f"{self.position}:{self.template}:{','.join(self.recipients)}"

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, row: OutboxRow) -> QueuedMail:
        return cls(**{**row.payload, "recipients": tuple(row.payload["recipients"])})


def references(ids: Sequence[str]) -> list[str]:
    """A References header's ids: the thread's first and its latest (core/domain/contact.py)."""
    if len(ids) <= REFERENCES_KEPT:
        return list(ids)
    return [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]


def compose(
    settings: NotifySettings, row: QueuedMail, ticket: dict[str, Any] | None, now: datetime
) -> EmailMessage:
    """The mail ``row``, threaded on the ticket's mail as it stands now."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(settings.from_name, addr_spec=settings.from_address)
    message["To"] = ", ".join(row.recipients)
    message["Subject"] = row.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = row.message_id
    thread = [
        i for i in map(_bracketed, (ticket or {}).get("mail_ids") or []) if i != row.message_id
    ]
    if thread:
        message["In-Reply-To"] = thread[-1]
        message["References"] = " ".join(references(thread))
    # RFC 3834: mark it automatic; the second asks Exchange not to answer with its own
    message["Auto-Submitted"] = row.auto_submitted
    message["X-Auto-Response-Suppress"] = "All"
    if row.body.isascii():
        message.set_content(row.body)
    else:  # base64 keeps it 7-bit: smtplib does not announce 8BITMIME for us
        message.set_content(row.body, charset="utf-8", cte="base64")
    message["Content-Language"] = row.language  # after: set_content clears Content-* headers
    return message


def _bracketed(message_id: str) -> str:
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


class Delivery:
    """What the sender thread does each pass (``Notifier.drain_once``)."""

    def __init__(self, settings: NotifySettings, sender: SmtpSender | None) -> None:
        self.settings = settings
        self.sender = sender

    def drain_once(self, bus: CommandBus, context: HostContext) -> int:
        outbox = context.tables(Outbox)
        worked = 0
        bus_up = True
        for row in outbox.unrecorded(CHANNEL, BATCH):
            if not self._record(bus, outbox, row):
                bus_up = False  # not work done: the caller waits before trying again
                break
            worked += 1
        if self.sender is None:
            return worked
        now = context.clock.now()
        # not per ticket: a customer's mail being retried must not hold up the SLA mail to
        # the desk about the same ticket; rows queued together still go out in their order
        for row in outbox.due(CHANNEL, now, BATCH, per_ticket=False):
            if not outbox.claim(row, LEASE, now):
                continue  # another sender took it
            worked += 1
            finished = self._attempt(self.sender, row, context, outbox, now)
            if finished is not None and bus_up:
                bus_up = self._record(bus, outbox, finished)
        return worked

    def _attempt(
        self,
        sender: SmtpSender,
        row: OutboxRow,
        context: HostContext,
        outbox: Outbox,
        now: datetime,
    ) -> OutboxRow | None:
        """One try; the row as finished (done or failed), or None when retried later."""
        mail = QueuedMail.of(row)
        attempt = row.attempts + 1
        extra = {"ticket": row.ticket, "template": mail.template, "message_id": mail.message_id}
        try:
            sender.send(compose(self.settings, mail, context.ticket(row.ticket), now))
        except PermanentSendError as error:
            return self._failed(outbox, row, str(error))
        except Exception as error:
            if not isinstance(error, SendError):  # a bug or a database hiccup: try again later
                log.exception("notification attempt failed unexpectedly", extra=extra)
            reason = str(error) or type(error).__name__
            delay = self.settings.delay_after(attempt)
            if delay is None:
                return self._failed(outbox, row, f"gave up after {attempt} attempts: {reason}")
            outbox.retry_later(row, reason, now + timedelta(seconds=delay))
            log.info("notification to retry", extra={**extra, "attempt": attempt, "delay_s": delay})
            return None
        log.info("notification sent", extra={**extra, "attempt": attempt})
        return outbox.done(row)

    @staticmethod
    def _failed(outbox: Outbox, row: OutboxRow, error: str) -> OutboxRow:
        log.warning("notification failed", extra={"ticket": row.ticket, "reason": error})
        return outbox.failed(row, error)

    @staticmethod
    def _record(bus: CommandBus, outbox: Outbox, row: OutboxRow) -> bool:
        """Record the row's outcome on its ticket; False when the bus could not take it."""
        mail = QueuedMail.of(row)
        outcome = "sent" if row.status == "done" else "failed"
        command = RecordNotification(
            ticket=row.ticket,
            outcome=outcome,
            template=mail.template,
            recipients=mail.recipients,
            message_id=mail.message_id,
            reason=row.last_error,
            attempts=row.attempts,
            actor=ACTOR,
            idempotency_key=f"notification:{outcome}:{mail.message_id}",
        )
        extra = {"ticket": row.ticket, "message_id": mail.message_id}
        try:
            (receipt,) = bus.submit([command])
        except Exception as error:  # BusUnavailable, or the embedded store went away
            log.warning("notification outcome not recorded yet: %s", error, extra=extra)
            return False
        if receipt.error is not None:  # refused: the bus kept it aside with the reason
            log.error("notification outcome refused: %s", receipt.error, extra=extra)
        outbox.mark_recorded(row)
        return True
