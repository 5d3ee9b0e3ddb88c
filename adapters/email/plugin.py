"""The email adapter as an ordinary plugin: mail in through SMTP or IMAP, notifications out.

Registered through the ``opsledger`` entry-point group like any third-party plugin
(``email = "opsledger.adapters.email.plugin"``). It contributes nothing unless
``OPSLEDGER_EMAIL_ENABLED`` (or ``enabled`` in the ``OPSLEDGER_EMAIL_CONFIG`` file) says so.
``opsledger serve`` and ``opsledger worker`` start its adapter: the SMTP endpoint and the IMAP
poller submit ``IngestMail`` commands to their bus, and the notifier sends what the event
hook queued. Invalid settings raise, and the plugin host warns and skips them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsledger.adapters.email.blobs import Blobs, BlobStore, BlobTable
from opsledger.adapters.email.imap import ImapPoller
from opsledger.adapters.email.ingest import MailIngest
from opsledger.adapters.email.settings import EmailSettings
from opsledger.adapters.email.smtp_in import SmtpEndpoint
from opsledger.adapters.email.smtp_out import SmtpSender
from opsledger.core.clock import SystemClock
from opsledger.core.domain.errors import InputError
from opsledger.plugins import hookimpl

if TYPE_CHECKING:
    from opsledger.adapters.email.notify import Notifier
    from opsledger.adapters.kafka.bus import CommandBus
    from opsledger.plugins.context import HostContext

log = logging.getLogger(__name__)
#: How long ``stop`` waits for the IMAP thread (it checks its stop flag every 0.2 s in IDLE).
JOIN_TIMEOUT_S = 30.0


class EmailAdapter:
    """The ways in (SMTP endpoint, IMAP poller) and the notifier's sender, started together."""

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.ingest: MailIngest | None = None
        self.endpoint: SmtpEndpoint | None = None
        self.notifier: Notifier | None = None
        self._context: HostContext | None = None
        self._poller: ImapPoller | None = None
        self._poller_thread: threading.Thread | None = None
        self._stop = threading.Event()

    def bind(self, context: HostContext) -> None:
        self._context = context

    def start(self, bus: CommandBus) -> None:
        """Start what is configured; on any failure stop what already runs, then raise."""
        s = self.settings
        context = self._context
        blobs: Blobs
        if s.blob_dir:
            blobs = BlobStore(Path(s.blob_dir))
        elif context is not None:
            blobs = context.tables(BlobTable)  # beside the events, like the outbox
        else:
            raise InputError("blob_dir", "name a folder for raw mail (no engine settings bound)")
        clock = context.clock if context is not None else SystemClock()
        self.ingest = ingest = MailIngest(s, bus, blobs, clock)
        self._stop.clear()
        try:
            notifier = notifier_for(s)
            if notifier is not None and context is not None:
                # without smtp_out it only queues (and says so); with it, it sends
                notifier.start(bus, context)
                self.notifier = notifier
                _activate(notifier)
            if s.imap is not None:
                self._poller = ImapPoller(s.imap, lambda raw, uid: _accepted(ingest.accept(raw)))
                self._poller_thread = threading.Thread(
                    target=self._poller.run,
                    args=(self._stop,),
                    name="opsledger-email-imap",
                    daemon=True,
                )
                self._poller_thread.start()
            if s.smtp_in is not None:
                self.endpoint = SmtpEndpoint(
                    s.smtp_in,
                    lambda raw, mail_from, rcpts: _accepted(
                        ingest.accept(raw, mail_from=mail_from, rcpts=rcpts)
                    ),
                )
                self.endpoint.start()
        except BaseException:
            self.stop()
            raise
        log.info(
            "email adapter started",
            extra={
                "smtp_in": self.endpoint.port if self.endpoint is not None else None,
                "imap": s.imap is not None,
                "notify": self.notifier is not None,
                "blobs": s.blob_dir or "opsledger_mail_blobs",
            },
        )

    def stop(self) -> None:
        """Stop taking mail (SMTP first, then IMAP), then the notifier's sender."""
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is not None:
            endpoint.stop()
        self._stop.set()
        thread, self._poller_thread = self._poller_thread, None
        if thread is not None:
            thread.join(timeout=JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("IMAP poller did not stop in time", extra={"timeout": JOIN_TIMEOUT_S})
        notifier, self.notifier = self.notifier, None
        if notifier is not None:
            notifier.stop()
            _deactivate(notifier)


def _accepted(outcome: str) -> None:
    """The transports want ``None`` on success; the outcome word is already logged."""
    del outcome


# -- the process's settings and notifier -------------------------------------------------------

_lock = threading.Lock()
#: The environment's settings, read once (or the error they raised, raised again).
_from_env: EmailSettings | InputError | None = None
#: One notifier per settings object (kept alive with it), and the one a started adapter runs.
_notifiers: dict[int, tuple[EmailSettings, Notifier | None]] = {}
_active: Notifier | None = None


def configured() -> EmailSettings:
    """``EmailSettings.from_env()``, read once per process."""
    global _from_env
    found = _from_env  # read without the lock: the event hook asks for every event
    if isinstance(found, EmailSettings):
        return found
    with _lock:
        if _from_env is None:
            try:
                _from_env = EmailSettings.from_env()
            except InputError as error:
                _from_env = error
        if isinstance(_from_env, InputError):
            raise _from_env
        return _from_env


def notifier_for(settings: EmailSettings) -> Notifier | None:
    """The notifier of ``settings`` (built once), or None when disabled or without ``notify``."""
    with _lock:
        found = _notifiers.get(id(settings))
        if found is not None and found[0] is settings:
            return found[1]
        notifier = None
        notify = settings.notify_settings() if settings.enabled else None
        if notify is not None:
            from opsledger.adapters.email.notify import Notifier

            sender = SmtpSender(settings.smtp_out) if settings.smtp_out is not None else None
            notifier = Notifier(notify, sender)
        _notifiers[id(settings)] = (settings, notifier)
        return notifier


def _activate(notifier: Notifier) -> None:
    global _active
    with _lock:
        _active = notifier


def _deactivate(notifier: Notifier) -> None:
    global _active
    with _lock:
        if _active is notifier:
            _active = None


@hookimpl
def opsledger_adapters() -> list[EmailAdapter]:
    """The adapter, when enabled: cheap to build, nothing connects until ``start``."""
    settings = configured()
    return [EmailAdapter(settings)] if settings.enabled else []


@hookimpl
def opsledger_event_recorded(event: Any, record: Any, context: Any) -> None:
    """Hand each recorded event to the notifier: the running adapter's, else the one the
    environment configures (a CLI process queues what the serving process will send)."""
    notifier = _active  # a plain read; written under the lock
    if notifier is None:
        settings = configured()
        if not settings.enabled:
            return
        notifier = notifier_for(settings)
        if notifier is None:
            return
    notifier.react(event, record, context)


def opsledger_reacts() -> bool:
    """Whether this plugin reacts to events now: with a running adapter's notifier, or when
    the environment enables it (the host skips it otherwise)."""
    if _active is not None:
        return True
    try:
        return configured().enabled
    except InputError:
        return False
