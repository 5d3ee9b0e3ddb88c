"""The outbound SMTP sender: one message per call, failures sorted into retry or give up.

smtplib speaks the protocol; this module adds what the notification layer needs around it:
a Message-ID it can record and thread replies on, TLS that verifies the server, and one
error family whose two kinds say whether trying again can help (4xx, network) or not (5xx).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid, parseaddr

from opsledger.core.domain.errors import InputError, OpsledgerError
from opsledger.core.retry import retry_with_backoff

log = logging.getLogger(__name__)


class SendError(OpsledgerError):
    """A message was not handed over; ``code`` is the SMTP reply (None: no reply at all)."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code} {reason}" if code is not None else reason)


class TransientSendError(SendError):
    """Worth another try later: a 4xx reply, refused or reset connection, timeout."""


class PermanentSendError(SendError):
    """Trying again will fail the same way: a 5xx reply, refused recipients, bad TLS or login."""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SmtpSettings:
    """The relay outbound mail goes through, and as whom."""

    host: str
    #: The envelope sender (where bounces go), and the From header when a message has none.
    from_address: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    #: Upgrade a plain connection with STARTTLS (submission, port 587); never falls back.
    starttls: bool = False
    #: Implicit TLS from the first byte (SMTPS, port 465).
    ssl: bool = False
    #: CA bundle to verify the relay's certificate with; None: the system's trust store.
    ca_file: str | None = None
    timeout_s: float = 30.0
    #: The name sent in EHLO; None: this machine's FQDN.
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise InputError("host", "name the SMTP relay")
        if not 0 < self.port <= 65535:
            raise InputError("port", f"must be 1..65535, got {self.port}")
        if "@" not in self.from_address or parseaddr(self.from_address)[1] != self.from_address:
            raise InputError("from_address", f"{self.from_address!r} is not a bare address")
        if self.ssl and self.starttls:
            raise InputError("starttls", "choose either ssl (implicit TLS) or starttls")
        if (self.username is None) != (self.password is None):
            raise InputError("password", "username and password go together")
        if self.timeout_s <= 0:
            raise InputError("timeout_s", f"must be positive, got {self.timeout_s}")

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value is not None:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"SmtpSettings({', '.join(shown)})"

    @property
    def msgid_domain(self) -> str:
        """The right-hand side of generated Message-IDs: the sender's own domain."""
        return self.from_address.rpartition("@")[2]


class SmtpSender:
    """Sends each message over its own connection (notifications are few and far between)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._ssl_context: ssl.SSLContext | None = None

    def send(self, message: EmailMessage) -> str:
        """Hand ``message`` to the relay; the Message-ID it went out with.

        A message without Message-ID (or From) gets one stamped on it, so that a retry of
        the same object sends the same Message-ID. Recipients come from To, Cc and Bcc; Bcc
        is not transmitted. Raises :class:`TransientSendError` or :class:`PermanentSendError`.
        """
        if message["Message-ID"] is None:
            message["Message-ID"] = make_msgid(domain=self.settings.msgid_domain)
        if message["From"] is None:
            message["From"] = self.settings.from_address
        message_id = str(message["Message-ID"])
        recipients = _recipients(message)
        if not recipients:
            raise InputError("message", "has no To, Cc or Bcc recipient")
        context = {"message_id": message_id, "recipients": len(recipients)}
        try:
            client = self._connect()
            try:
                refused = client.send_message(
                    message, from_addr=self.settings.from_address, to_addrs=recipients
                )
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    # the relay has the message: a failed goodbye changes nothing
                    client.quit()
            finally:
                client.close()
        except (smtplib.SMTPException, OSError) as error:
            failure = classify(error)
            log.warning(
                "mail not sent: %s",
                failure,
                extra={**context, "code": failure.code, "transient": _is_transient(failure)},
            )
            raise failure from error
        if refused:
            # the others have it: retrying would send them a second copy
            log.warning(
                "mail sent, some recipients refused",
                extra={**context, "refused": {a: code for a, (code, _) in refused.items()}},
            )
        log.info("mail sent", extra={**context, "host": self.settings.host})
        return message_id

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.ssl:
            client = smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=s.local_hostname,
                timeout=s.timeout_s,
                context=self._tls(),
            )
        else:
            client = smtplib.SMTP(
                s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout_s
            )
        try:
            if s.starttls:
                client.ehlo()
                client.starttls(context=self._tls())
                client.ehlo()
            if s.username is not None and s.password is not None:
                client.login(s.username, s.password)
        except BaseException:
            client.close()
            raise
        return client

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=self.settings.ca_file)
        return self._ssl_context


def send_with_retry(
    sender: SmtpSender,
    message: EmailMessage,
    *,
    attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """``sender.send(message)``, retrying transient failures with exponential backoff.

    Waits ``base_delay * 2**k`` (capped at ``max_delay``) between tries; a permanent failure
    raises at once, and after ``attempts`` tries the last transient error is raised.
    """
    return retry_with_backoff(
        lambda: sender.send(message),
        retry_on=TransientSendError,
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        sleep=sleep,
    )


def classify(error: BaseException) -> SendError:
    """The :class:`SendError` an smtplib or socket failure amounts to."""
    if isinstance(error, SendError):
        return error
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        reason = "; ".join(
            f"<{rcpt}> {code} {_text(text)}" for rcpt, (code, text) in error.recipients.items()
        )
        # a retry only helps when no refusal was final
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        kind = TransientSendError if transient else PermanentSendError
        return kind(max(codes) if codes else None, f"recipients refused: {reason}")
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        reason = _text(error.smtp_error)
        kind = TransientSendError if 400 <= code < 500 else PermanentSendError
        if code < 400:
            # a reply smtplib did not expect (-1: garbled); the relay is confused, not final
            kind = TransientSendError
        return kind(code, reason)
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return TransientSendError(None, f"connection closed by the relay: {error}")
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return PermanentSendError(None, f"relay does not support it: {error}")
    if isinstance(error, smtplib.SMTPException):
        return PermanentSendError(None, str(error))
    if isinstance(error, ssl.SSLCertVerificationError):
        return PermanentSendError(None, f"relay certificate not trusted: {error.verify_message}")
    if isinstance(error, TimeoutError):
        return TransientSendError(None, "timed out talking to the relay")
    if isinstance(error, OSError):
        return TransientSendError(None, f"{type(error).__name__}: {error.strerror or error}")
    return PermanentSendError(None, f"{type(error).__name__}: {error}")


def _is_transient(error: SendError) -> bool:
    return isinstance(error, TransientSendError)


def _recipients(message: EmailMessage) -> list[str]:
    headers = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    return [address for _, address in getaddresses(headers) if address]


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", errors="replace")
    return reply
