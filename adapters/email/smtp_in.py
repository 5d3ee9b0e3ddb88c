"""The inbound SMTP endpoint: mail is answered 250 only after the store has recorded it.

aiosmtpd speaks the protocol; this module decides who may receive mail and when a message
counts as delivered. ``accept`` (the ingest step) runs in a worker thread before the reply to
DATA, so a 250 means "durably recorded" and a failure answers 451 for the sender to retry:
nothing is lost between the two. A retry after a lost 250 (connection cut, endpoint stopped
mid-DATA) can deliver a message twice; ingest deduplicates by Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from opsledger.core.domain.errors import InputError

log = logging.getLogger(__name__)

#: ``accept(raw, mail_from, rcpt_tos)``: record the message or raise (the sender then retries).
Accept = Callable[[bytes, str, tuple[str, ...]], None]

REPLY_OK = "250 2.0.0 OK: message recorded"
REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_NOT_RECORDED = "451 4.3.0 Message not recorded: temporary local problem, try again later"


def reply_unknown_recipient(address: str) -> str:
    return f"550 5.1.1 <{address}>: recipient not accepted here (no such mailbox)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpEndpointSettings:
    """Where the endpoint listens and which recipients it takes mail for."""

    #: Recipients mail is accepted for, matched case-insensitively: whole addresses
    #: (``ops@example.com``) or whole domains (``@example.com``, not its subdomains).
    accepted: tuple[str, ...]
    host: str = "127.0.0.1"
    #: 0 picks a free port (read :attr:`SmtpEndpoint.port` after ``start()``).
    port: int = 8025
    #: Largest message in bytes as sent on the wire; larger ones are refused with 552.
    max_message_size: int = 10 * 1024 * 1024
    #: The name in the greeting and EHLO reply; None: this machine's FQDN.
    server_hostname: str | None = None
    #: How many ``accept`` calls may run at once; 1 serialises the store writes.
    accept_workers: int = 1
    #: Seconds an idle client may keep a connection (RFC 5321 suggests at least 300).
    idle_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if isinstance(self.accepted, str):
            raise InputError("accepted", "must be a sequence of addresses, not one string")
        if not self.accepted:
            raise InputError("accepted", "name at least one address or @domain")
        for entry in self.accepted:
            local, at, domain = entry.strip().rpartition("@")
            if not at or not domain or "@" in local or entry != entry.strip():
                raise InputError("accepted", f"{entry!r} is neither local@domain nor @domain")
        if not 0 <= self.port <= 65535:
            raise InputError("port", f"must be 0..65535, got {self.port}")
        if self.max_message_size < 1:
            raise InputError("max_message_size", f"must be positive, got {self.max_message_size}")
        if self.accept_workers < 1:
            raise InputError("accept_workers", f"must be at least 1, got {self.accept_workers}")
        if self.idle_timeout_s <= 0:
            raise InputError("idle_timeout_s", f"must be positive, got {self.idle_timeout_s}")

    def accepts(self, address: str) -> bool:
        """True when mail for ``address`` is taken: the address or its domain is listed."""
        local, at, domain = address.casefold().rpartition("@")
        if not (local and at and domain):
            return False
        return any(entry.casefold() in (address.casefold(), at + domain) for entry in self.accepted)


class _Handler:
    """aiosmtpd's hooks: recipient check at RCPT, the durable ``accept`` at DATA."""

    def __init__(
        self, settings: SmtpEndpointSettings, accept: Accept, executor: ThreadPoolExecutor
    ) -> None:
        self._settings = settings
        self._accept = accept
        self._executor = executor

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self._settings.accepts(address):
            log.info("refused recipient", extra={"rcpt": address, "peer": session.peer})
            return reply_unknown_recipient(address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return REPLY_RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # decode_data=False: original_content is the bytes as received (dot-stuffing undone,
        # CRLF kept), which is what gets recorded and hashed
        raw = envelope.original_content or b""
        # aiosmtpd reports the null reverse-path (bounces, auto-replies) as "<>"
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        rcpt_tos = tuple(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._accept, raw, mail_from, rcpt_tos)
        except Exception as error:
            # the type, sizes and envelope only: the message text may carry anything
            log.error(
                "inbound message not recorded (%s); answered 451 so the sender retries",
                type(error).__name__,
                extra={
                    "error_type": type(error).__name__,
                    "mail_from": mail_from,
                    "rcpt_tos": rcpt_tos,
                    "size": len(raw),
                },
            )
            log.debug("accept failed", exc_info=True)
            return REPLY_NOT_RECORDED
        log.info(
            "inbound message recorded",
            extra={"mail_from": mail_from, "rcpt_tos": rcpt_tos, "size": len(raw)},
        )
        return REPLY_OK


class _LoopbackController(Controller):
    """aiosmtpd's Controller that also learns the real port when asked to bind port 0."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        create = super()._create_server()

        async def bound() -> asyncio.AbstractServer:
            server = await create
            # the readiness probe (_trigger_server) connects to self.port
            if isinstance(server, asyncio.Server) and server.sockets:
                self.port = server.sockets[0].getsockname()[1]
            return server

        return bound()


class SmtpEndpoint:
    """An SMTP server that hands each accepted message to ``accept`` before answering 250.

    ``accept`` runs in a worker thread (never on the event loop), up to
    ``settings.accept_workers`` at a time. Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(self, settings: SmtpEndpointSettings, accept: Accept) -> None:
        self.settings = settings
        self._accept = accept
        self._controller: _LoopbackController | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._port = settings.port
        # aiosmtpd would look the FQDN up again for every connection
        self._hostname = settings.server_hostname or socket.getfqdn()

    @property
    def port(self) -> int:
        """The listening port: the real one once started, even when settings said 0."""
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        executor = ThreadPoolExecutor(
            max_workers=self.settings.accept_workers, thread_name_prefix="smtp-accept"
        )
        controller = _LoopbackController(
            _Handler(self.settings, self._accept, executor),
            hostname=self.settings.host,
            # a restart keeps the port it was given the first time
            port=self._port,
            server_hostname=self._hostname,
            ident="opsledger ESMTP",
            data_size_limit=self.settings.max_message_size,
            decode_data=False,
            enable_SMTPUTF8=True,
            timeout=self.settings.idle_timeout_s,
        )
        try:
            controller.start()
        except BaseException:
            executor.shutdown(wait=False)
            with contextlib.suppress(Exception):
                controller.stop(no_assert=True)
            raise
        self._controller, self._executor = controller, executor
        self._port = controller.port
        log.info(
            "SMTP endpoint listening",
            extra={"host": self.settings.host, "port": self._port},
        )

    def stop(self) -> None:
        """Stop listening; an ``accept`` already running finishes (its reply is lost)."""
        controller, executor = self._controller, self._executor
        self._controller = self._executor = None
        if controller is not None:
            controller.stop()
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> SmtpEndpoint:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
