"""One inbound mail to one ``IngestMail`` command, or set aside with the reason: nothing lost.

Both ways in (the SMTP endpoint and the IMAP poller) call :meth:`MailIngest.accept`. The raw
bytes are kept first, so whatever happens next the message can be read back by its hash.
Then the mail is screened: our own mail, denied senders, floods and robots (RFC 3834) are
set aside and never answered, which is what keeps the desk out of mail loops. Which ticket
the mail belongs to is not decided here but by the ``IngestMail`` handler, from the event
log. ``accept`` raises only when the bus cannot take the command or the set-aside copy
(``BusUnavailable``): the transport then keeps the message (IMAP) or answers 451 (SMTP).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING

from opsledger.adapters.email.blobs import Blobs
from opsledger.adapters.email.parsing import (
    MailParseError,
    ParsedMail,
    expresses_dissatisfaction,
    parse_message,
    strip_subject_prefixes,
    survey_score,
    ticket_token,
)
from opsledger.adapters.email.settings import EmailSettings, RateLimit, address_matches
from opsledger.adapters.kafka.bus import BusUnavailable
from opsledger.core.commands import IngestMail
from opsledger.core.domain.errors import InputError, OpsledgerError

if TYPE_CHECKING:
    from opsledger.adapters.kafka.bus import CommandBus, Receipt
    from opsledger.core.clock import Clock

log = logging.getLogger(__name__)

#: The bus's source name for what this adapter sets aside.
SOURCE = "email"
#: A Date further back than this is a sender's clock gone wrong, not when the customer
#: asked: the ticket opens when the mail reached us instead (an old Date breaches at once).
MAX_DATE_AGE = timedelta(days=7)
#: Longest comment recorded from one mail (the ticket refuses texts over 100,000
#: characters); the rest stays in the raw message.
BODY_LIMIT = 50_000
SUBJECT_LIMIT = 1_000
#: A ticket token as ``ticket_token`` reads it, to take out of a new ticket's summary; other
#: bracketed keys (a customer's own ``[PROJ-42]``) stay.
_TOKEN = re.compile(r"[\[【［]\s*(?:INC|REQ|PRB|CHG)-[0-9]{1,24}\s*[\]】］]", re.I)


class SenderRateLimit:
    """A sliding window per sender, in memory: a restart forgets it (docs/email.md)."""

    #: Forget idle senders once this many are tracked, so a spam run cannot grow it forever.
    SWEEP_AT = 10_000

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._seen: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, sender: str, now: datetime) -> bool:
        """Count one mail from ``sender`` at ``now``; False once the window is full."""
        window = timedelta(seconds=self.limit.window_s)
        with self._lock:
            if len(self._seen) >= self.SWEEP_AT:
                self._sweep(now - window)
            seen = self._seen.setdefault(sender, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= self.limit.per_sender:
                return False
            seen.append(now)
            return True

    def forget(self, sender: str, at: datetime) -> None:
        """Take back the mail counted at ``at`` (it was not taken, or was a duplicate)."""
        with self._lock:
            seen = self._seen.get(sender)
            if seen and at in seen:
                seen.remove(at)

    def _sweep(self, before: datetime) -> None:
        for sender in [s for s, seen in self._seen.items() if not seen or seen[-1] <= before]:
            del self._seen[sender]


class MailIngest:
    """Screen, translate and submit inbound mail; see the module docstring for the rules."""

    def __init__(
        self, settings: EmailSettings, bus: CommandBus, blobs: Blobs, clock: Clock
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.blobs = blobs
        self.clock = clock
        self.rate = SenderRateLimit(settings.rate_limit)

    def accept(self, raw: bytes, *, mail_from: str = "", rcpts: Sequence[str] = ()) -> str:
        """Keep, screen and submit one message; an outcome word for logs and tests:
        ``recorded``, ``duplicate``, ``queued`` (on Kafka), ``ignored:<why>`` or
        ``set aside:<why>``."""
        raw = bytes(raw)
        digest = self.blobs.put(raw)
        try:
            mail = parse_message(raw)
        except MailParseError as error:
            return self._set_aside(raw, digest, f"unparseable: {error.message}", error.field)
        except Exception as error:  # a parser bug must not lose the message either
            log.exception("mail parser failed", extra={"sha256": digest})
            why = f"unparseable: the parser failed ({type(error).__name__}: {error})"
            return self._set_aside(raw, digest, why[:500])
        outcome = self._ingest(raw, digest, mail, mail_from)
        log.info(
            "inbound mail %s",
            outcome.partition(":")[0],
            extra={
                "outcome": outcome,
                "message_id": mail.message_id,
                "sender": mail.sender,
                "sha256": digest,
                "rcpts": len(rcpts),
            },
        )
        return outcome

    def _ingest(self, raw: bytes, digest: str, mail: ParsedMail, mail_from: str) -> str:
        sender = mail.sender or parseaddr(mail_from)[1].lower()
        if not sender:
            return self._set_aside(raw, digest, "no sender address (From)", "from")
        signals = mail.signals
        why = self._refused_sender(mail, sender)
        if why is not None:
            return self._ignore(raw, digest, why)
        if signals.is_bounce:
            if not signals.bounced_message_id:
                return self._ignore(raw, digest, "a bounce that names no message of ours")
            return self._submit(raw, digest, mail, sender, "bounce")
        if self.settings.allow and not address_matches(sender, self.settings.allow):
            return self._ignore(raw, digest, f"sender {sender} is not on the allow list")
        now = self.clock.now()
        if not self.rate.allow(sender, now):
            limit = self.settings.rate_limit
            why = f"more than {limit.per_sender} mails from {sender} within {limit.window_s:g} s"
            return self._ignore(raw, digest, why)
        try:
            if signals.is_out_of_office:
                outcome = self._submit(raw, digest, mail, sender, "out_of_office")
            elif (why := _automatic(mail)) is not None:
                outcome = self._ignore(raw, digest, why)
            else:
                outcome = self._submit(raw, digest, mail, sender, "mail")
        except BaseException:
            self.rate.forget(sender, now)  # not taken: its retry must not count twice
            raise
        if outcome == "duplicate":
            self.rate.forget(sender, now)  # the same mail again (IMAP and SMTP): counted once
        return outcome

    def _refused_sender(self, mail: ParsedMail, sender: str) -> str | None:
        """Why mail from ``sender`` is never a ticket nor a bounce report of ours, or None."""
        own = self.settings.own_addresses
        if sender.casefold() in own:
            return f"from our own address {sender}"
        loop = mail.headers_of_interest.get("x-loop", "").casefold()
        if loop and any(address in loop for address in own):
            return "X-Loop names our own address"
        if address_matches(sender, self.settings.deny):
            return f"sender {sender} is on the deny list"
        return None

    def _command(self, mail: ParsedMail, sender: str, digest: str, kind: str) -> IngestMail:
        message_id = mail.message_id or f"<{digest}@opsledger.invalid>"
        body = mail.reply_text.strip()
        if len(body) > BODY_LIMIT:
            body = (
                body[:BODY_LIMIT]
                + f"\n\n[cut at {BODY_LIMIT} characters; the whole mail is sha256:{digest}]"
            )
        defaults = self.settings.defaults
        return IngestMail(
            message_id=message_id,
            sender=sender,
            sender_name=mail.sender_name[:SUBJECT_LIMIT],
            subject=_bare_subject(mail.subject)[:SUBJECT_LIMIT],
            body=body,
            token=ticket_token(mail.subject),
            thread=mail.thread_ids,
            mail_kind=kind,
            raw_sha256=digest,
            attachments=tuple(
                {
                    "filename": a.filename or "",
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": self.blobs.put(a.data),
                    "inline": a.inline,
                }
                for a in mail.attachments
            ),
            language=mail.language,
            occurred_at=self._occurred(mail.date),
            bounced_message_id=mail.signals.bounced_message_id if kind == "bounce" else None,
            bounce_status=(mail.signals.bounce_status or "") if kind == "bounce" else "",
            # what a reply to the satisfaction survey says (the handler decides if it is one)
            survey_score=survey_score(body) if kind == "mail" else None,
            dissatisfied=kind == "mail" and expresses_dissatisfaction(body),
            kind=defaults.kind,
            service=defaults.service,
            impact=defaults.impact,
            urgency=defaults.urgency,
            idempotency_key="mail:" + message_id,
            actor=sender,
        )

    def _occurred(self, date: datetime | None) -> datetime | None:
        if date is None or date < self.clock.now() - MAX_DATE_AGE:
            return None
        return date

    def _submit(self, raw: bytes, digest: str, mail: ParsedMail, sender: str, kind: str) -> str:
        try:
            command = self._command(mail, sender, digest, kind)
        except InputError as error:  # text the store cannot keep (a lone surrogate)
            return self._set_aside(raw, digest, str(error), error.field)
        # one thread, one key: its mails keep their order on one Kafka partition
        key = _thread_root(mail, command)
        receipt: Receipt = self.bus.submit([command], key=key)[0]
        if receipt.exception is not None and not isinstance(receipt.exception, OpsledgerError):
            # the store failed (a lost connection, a full disk), not the mail: the transport
            # keeps it (IMAP) or answers 451 (SMTP), and it is tried again
            raise BusUnavailable(f"the store could not record the mail: {receipt.error}")
        if receipt.error is not None:  # refused by the engine: the bus has set it aside
            return f"set aside:{receipt.error}"
        if receipt.outcome is None:
            return "queued"
        return "duplicate" if receipt.outcome.duplicate else "recorded"

    def _ignore(self, raw: bytes, digest: str, why: str) -> str:
        self._keep(raw, digest, f"ignored: {why}")
        return f"ignored:{why}"

    def _set_aside(self, raw: bytes, digest: str, reason: str, field: str | None = None) -> str:
        self._keep(raw, digest, reason, field)
        return f"set aside:{reason}"

    def _keep(self, raw: bytes, digest: str, reason: str, field: str | None = None) -> None:
        """Set the raw mail aside under ``sha256:<hex>``, the name its blob is kept by."""
        self.bus.set_aside(
            source=SOURCE, body=raw, reason=reason, field=field, message_id="sha256:" + digest
        )


def _automatic(mail: ParsedMail) -> str | None:
    """Which robot marker the mail carries (RFC 3834 and the de-facto ones), or None."""
    s = mail.signals
    if s.auto_submitted not in (None, "no"):
        return f"Auto-Submitted: {s.auto_submitted}"
    if s.auto_response_suppress is not None:
        return "X-Auto-Response-Suppress"
    if s.precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {s.precedence}"
    if s.list_id is not None:
        return "List-Id (mailing list)"
    if s.list_unsubscribe is not None:
        return "List-Unsubscribe (mailing list)"
    if s.report_type is not None:
        return f"a {s.report_type} report"
    return None


def _bare_subject(subject: str) -> str:
    """The subject without reply prefixes and ticket tokens: what a new ticket is called."""
    stripped = strip_subject_prefixes(_TOKEN.sub(" ", strip_subject_prefixes(subject)))
    return " ".join(stripped.split())


def _thread_root(mail: ParsedMail, command: IngestMail) -> str:
    """The first mail of the thread: References' oldest, else In-Reply-To, else this one
    (a bounce: the notification that bounced)."""
    if command.bounced_message_id:
        return command.bounced_message_id
    for ids in (mail.references, mail.in_reply_to):
        if ids:
            return ids[0]
    return command.message_id
