"""A recording SMTP relay on loopback, for the email adapter's outbound transport tests.

aiosmtpd on a free loopback port keeps every envelope it accepts (sender, recipients, the
raw bytes as received) and can be scripted to answer the next messages with a given reply
(451 temporary, 550 permanent, ...) at MAIL, RCPT or end of DATA, or be stopped to play a
relay that is down. It can require STARTTLS or speak implicit TLS with a throwaway
self-signed certificate (``openssl``; without it the caller skips outside CI and fails in
CI), and can require AUTH LOGIN/PLAIN with one username and password.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from opsledger.adapters.kafka.devbroker import free_port

from tests.conftest import in_ci

Stage = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the relay saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    #: The message bytes as received (dot-stuffing undone, CRLF line ends).
    raw: bytes
    #: The username that authenticated the session, None without AUTH.
    login: str | None
    #: Whether the session was encrypted (STARTTLS or implicit TLS).
    tls: bool
    #: The reply the relay gave it (250 when accepted).
    code: int

    def message(self) -> EmailMessage:
        """``raw`` parsed, with LF line ends as the email package expects for a body."""
        parser = BytesParser(policy=policy.default)
        return parser.parsebytes(self.raw.replace(b"\r\n", b"\n"))


@dataclass(frozen=True, slots=True)
class _Scripted:
    code: int
    text: str
    stage: Stage


class RecordingRelay:
    """The relay; use as a context manager, or ``start()``/``stop()`` (a stop is "down")."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        credentials: tuple[str, str] | None = None,
        auth_exclude: Sequence[str] = (),
    ) -> None:
        self.host = host
        #: Chosen once: a stopped relay comes back on the same port.
        self.port = free_port()
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._require_starttls = require_starttls
        self._credentials = credentials
        self._auth_exclude = list(auth_exclude)
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._refused: list[Received] = []
        self._mechanisms: list[str] = []
        self._script: deque[_Scripted] = deque()
        #: The scripted reply each open transaction got at MAIL (keyed by session).
        self._pending: dict[int, _Scripted | None] = {}
        self._controller: Controller | None = None

    # -- what it saw ---------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """Accepted messages, in order."""
        with self._lock:
            return list(self._received)

    @property
    def refused(self) -> list[Received]:
        """Messages that reached the end of DATA and got a scripted refusal."""
        with self._lock:
            return list(self._refused)

    @property
    def auth_mechanisms(self) -> list[str]:
        """The AUTH mechanism of every successful login, in order."""
        with self._lock:
            return list(self._mechanisms)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """The accepted messages once there are at least ``count``; fails on timeout."""
        deadline = time.monotonic() + timeout_s
        while len(got := self.received) < count:
            assert time.monotonic() < deadline, f"relay got {len(got)} of {count} messages"
            time.sleep(0.01)
        return got

    # -- what it answers -----------------------------------------------------------------

    def answer(
        self, code: int, times: int = 1, *, at: Stage = "DATA", text: str | None = None
    ) -> None:
        """Answer ``code`` to the next ``times`` messages, at MAIL, every RCPT, or end of DATA."""
        reply = text or f"{code // 100}.0.0 scripted reply"
        with self._lock:
            self._script.extend(_Scripted(code, reply, at) for _ in range(times))

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "relay.test",
            "decode_data": False,
            "enable_SMTPUTF8": True,
            "auth_exclude_mechanism": self._auth_exclude,
        }
        if self._implicit_tls:
            kwargs["ssl_context"] = self._tls_context
            # the whole connection is encrypted; aiosmtpd only knows about STARTTLS
            kwargs["auth_require_tls"] = False
        elif self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
            kwargs["require_starttls"] = self._require_starttls
        if self._credentials is not None:
            kwargs["authenticator"] = self._authenticate
            # with implicit TLS aiosmtpd warns on required AUTH (it cannot see the TLS);
            # AUTH is then offered, not required, and ``login`` shows whether it was used
            kwargs["auth_required"] = not self._implicit_tls
        controller = Controller(_Hooks(self), **kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> RecordingRelay:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- aiosmtpd callbacks (event-loop thread) --------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        user, password = self._credentials
        if (data.login, data.password) != (user.encode(), password.encode()):
            return AuthResult(success=False, handled=False)
        with self._lock:
            self._mechanisms.append(mechanism)
        return AuthResult(success=True, auth_data=data)

    def _on_mail(self, session: Session) -> _Scripted | None:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            self._pending[id(session)] = scripted
        return scripted

    def _scripted(self, session: Session) -> _Scripted | None:
        with self._lock:
            return self._pending.get(id(session))

    def _on_data(self, server: SMTP, session: Session, envelope: Envelope) -> _Scripted | None:
        with self._lock:
            scripted = self._pending.pop(id(session), None)
        auth = session.auth_data
        transport = server.transport
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=envelope.original_content or b"",
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            code=scripted.code if scripted else 250,
        )
        with self._lock:
            (self._refused if scripted else self._received).append(received)
        return scripted


class _Hooks:
    """aiosmtpd's handler: every decision is the relay's."""

    def __init__(self, relay: RecordingRelay) -> None:
        self._relay = relay

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        scripted = self._relay._on_mail(session)
        if scripted is not None and scripted.stage == "MAIL":
            return f"{scripted.code} {scripted.text}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        scripted = self._relay._scripted(session)
        if scripted is not None and scripted.stage == "RCPT":
            return f"{scripted.code} {scripted.text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        scripted = self._relay._on_data(server, session, envelope)
        if scripted is not None:
            return f"{scripted.code} {scripted.text}"
        return "250 2.0.0 OK: queued"


# -- TLS -----------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem): a one-day certificate for 127.0.0.1 and localhost, which a
    client trusts by taking cert.pem as its CA file. Skips outside CI, fails in CI, when
    ``openssl`` is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        reason = "openssl not found: cannot make a certificate for the SMTP TLS tests"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context presenting ``cert`` (what aiosmtpd's STARTTLS needs)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
