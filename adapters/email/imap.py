"""Inbound mail over IMAP: each message's raw bytes go to a callback, then leave the inbox.

The server's mailbox is the only checkpoint. A message is fetched with ``BODY.PEEK[]`` (so
nothing is marked seen early), handed to ``handle(raw, uid)``, and only when that returns is
it moved to the processed mailbox (``mode="move"``) or flagged ``\\Seen $OpsledgerDone``
(``mode="flag"``). Nothing is stored locally, so a restarted poller picks up exactly what is
left. A crash between ``handle`` returning and the mark delivers that message again on the
next poll: that is harmless because the ingest side is idempotent by Message-ID. For the
same reason a UIDVALIDITY change (the mailbox was recreated) is only logged.

Stdlib ``imaplib`` only. Python 3.11's imaplib has no ``idle()``, so IDLE (RFC 2177) is sent
as a raw tagged command here; from 3.14 ``IMAP4.idle`` could replace :meth:`_idle`.
"""

from __future__ import annotations

import imaplib
import io
import logging
import re
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

from opsledger.core.domain.errors import InputError, OpsledgerError
from opsledger.core.retry import backoff_delays

log = logging.getLogger(__name__)

#: The keyword that marks a message processed in ``mode="flag"``.
DONE_KEYWORD = "$OpsledgerDone"
MODES = ("move", "flag")
#: RFC 2177: servers may drop a client idle for 30 minutes, so IDLE is renewed before that.
MAX_IDLE_S = 29 * 60
#: How often an IDLE wait looks at the stop event (the stop latency of :meth:`ImapPoller.run`).
_STOP_CHECK_S = 0.2
_EXISTS = re.compile(rb"\* \d+ EXISTS")
_UID = re.compile(rb"UID (\d+)")

Handler = Callable[[bytes, int], None]


class MailboxUnavailable(OpsledgerError):
    """The IMAP server could not be reached or refused a command; :meth:`ImapPoller.run`
    reconnects after a backoff, and unmarked messages are simply fetched again."""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class ImapSettings:
    """Where the mail is and what "processed" means; built at the entry point."""

    host: str
    username: str
    password: str
    #: 0: the standard port, 993 with ``use_ssl``, else 143
    port: int = 0
    #: implicit TLS (IMAPS); ``starttls`` upgrades a plain connection instead
    use_ssl: bool = True
    starttls: bool = False
    #: a PEM bundle to trust instead of the system's (a private CA, a test certificate)
    ca_file: str | None = None
    mailbox: str = "INBOX"
    #: ``move``: to ``processed_mailbox`` (created if missing); ``flag``: ``\\Seen`` + keyword
    mode: Literal["move", "flag"] = "move"
    processed_mailbox: str = "Processed"
    #: how long one IDLE lasts before a full poll (which also retries failed messages)
    idle_timeout_s: float = 300.0
    #: the pause between polls when the server has no IDLE
    poll_interval_s: float = 60.0
    #: connect and per-read timeout
    timeout_s: float = 30.0
    #: reconnect backoff: the first pause, doubled up to the last
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("host", "username", "mailbox"):
            if not getattr(self, name):
                raise InputError(name, "must not be empty")
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise InputError("port", "must be 0 (the standard port) to 65535")
        if self.use_ssl and self.starttls:
            raise InputError("starttls", "use either use_ssl (implicit TLS) or starttls")
        if self.mode not in MODES:
            raise InputError("mode", f"{self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("mailbox", "processed_mailbox"):
            if not getattr(self, name).isascii():
                raise InputError(name, "only ASCII mailbox names are supported")
        if self.mode == "move" and self.processed_mailbox in ("", self.mailbox):
            raise InputError("processed_mailbox", "must name a mailbox other than mailbox")
        for name in ("idle_timeout_s", "poll_interval_s", "timeout_s", "reconnect_min_s"):
            if not getattr(self, name) > 0:
                raise InputError(name, "must be more than 0 seconds")
        if self.idle_timeout_s > MAX_IDLE_S:
            raise InputError("idle_timeout_s", f"must be at most {MAX_IDLE_S} s (RFC 2177)")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise InputError("reconnect_max_s", "must be at least reconnect_min_s")

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.use_ssl else 143)

    def __repr__(self) -> str:  # never the password itself
        return (
            f"ImapSettings(host={self.host!r}, port={self.effective_port}, "
            f"username={self.username!r}, password='***', use_ssl={self.use_ssl}, "
            f"starttls={self.starttls}, mailbox={self.mailbox!r}, mode={self.mode!r}, "
            f"processed_mailbox={self.processed_mailbox!r})"
        )


def quote_mailbox(name: str) -> str:
    """An IMAP quoted string (imaplib sends mailbox names as given, so spaces would break)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(reply: tuple[str, list[Any]], what: str) -> list[Any]:
    typ, data = reply
    if typ != "OK":
        raise MailboxUnavailable(f"{what} answered {typ}: {data!r}")
    return data


class ImapPoller:
    """Hands every unprocessed message to ``handle(raw, uid)``, then marks it processed.

    ``handle`` raising an ``Exception`` means "try again later": the message stays unmarked
    and is offered again on the next poll, while the others proceed. Messages that can never
    be parsed are the handler's to dead-letter (and then return normally). A
    ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) is not caught.
    """

    def __init__(self, settings: ImapSettings, handle: Handler) -> None:
        self.settings = settings
        self._handle = handle
        self._conn: imaplib.IMAP4 | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._uidvalidity: int | None = None
        self._idle_tags = 0

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server advertised after login (upper case), e.g. ``MOVE``, ``IDLE``."""
        return self._capabilities

    @property
    def uidvalidity(self) -> int | None:
        """The mailbox's UIDVALIDITY at the last poll; None before the first."""
        return self._uidvalidity

    def connect(self) -> None:
        """Open, authenticate and, in move mode, create the processed mailbox if missing."""
        if self._conn is not None:
            return
        s = self.settings
        with self._talking("connect"):
            tls = s.use_ssl or s.starttls
            context = ssl.create_default_context(cafile=s.ca_file) if tls else None
            conn: imaplib.IMAP4
            if s.use_ssl:
                conn = imaplib.IMAP4_SSL(
                    s.host, s.effective_port, ssl_context=context, timeout=s.timeout_s
                )
            else:
                conn = imaplib.IMAP4(s.host, s.effective_port, timeout=s.timeout_s)
            self._conn = conn
            if s.starttls:
                _ok(conn.starttls(ssl_context=context), "STARTTLS")
            elif not s.use_ssl and s.host not in ("127.0.0.1", "::1", "localhost"):
                log.warning("IMAP login without TLS", extra={"host": s.host})
            _ok(conn.login(s.username, s.password), "LOGIN")
            # the capabilities change at login (MOVE, IDLE, ...), and imaplib keeps the old ones
            listed = _ok(conn.capability(), "CAPABILITY")
            self._capabilities = frozenset(listed[0].decode().upper().split())
            if s.mode == "move":
                processed = quote_mailbox(s.processed_mailbox)
                if _ok(conn.list('""', processed), "LIST") == [None]:
                    _ok(conn.create(processed), f"CREATE {s.processed_mailbox}")
                    log.info(
                        "created the processed mailbox", extra={"mailbox": s.processed_mailbox}
                    )

    def close(self) -> None:
        """Log out (quietly: the connection may already be gone); idempotent."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            log.debug("IMAP logout failed; the connection was already gone")

    def __enter__(self) -> ImapPoller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _talking(self, what: str) -> Iterator[None]:
        """Turn socket and protocol failures into :class:`MailboxUnavailable`, dropping the
        connection: whatever it was in the middle of, the next poll starts clean."""
        try:
            yield
        except (OSError, imaplib.IMAP4.error, MailboxUnavailable) as e:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.shutdown()
                except OSError:
                    log.debug("IMAP socket already closed")
            if isinstance(e, MailboxUnavailable):
                raise
            raise MailboxUnavailable(f"{what}: {type(e).__name__}: {e}") from e

    def _connection(self) -> imaplib.IMAP4:
        self.connect()
        assert self._conn is not None
        return self._conn

    def poll_once(self) -> int:
        """Handle every message not yet processed, in UID order; how many were handled.

        Repeats its search until one finds nothing new and no EXISTS arrived meanwhile, so a
        message appended during the poll is not left waiting for the next IDLE timeout.
        """
        conn = self._connection()
        s = self.settings
        handled = 0
        tried: set[int] = set()
        with self._talking(f"poll {s.mailbox}"):
            self._select(conn)
            while True:
                conn.response("EXISTS")  # forget counts reported before this search
                todo = [uid for uid in self._search(conn) if uid not in tried]
                if not todo:
                    if conn.response("EXISTS")[1] == [None]:
                        return handled
                    continue
                for uid in todo:
                    tried.add(uid)
                    handled += self._deliver(conn, uid)

    def _select(self, conn: imaplib.IMAP4) -> None:
        s = self.settings
        _ok(conn.select(quote_mailbox(s.mailbox)), f"SELECT {s.mailbox}")
        value = conn.response("UIDVALIDITY")[1][0]
        uidvalidity = int(value) if value is not None else None
        if self._uidvalidity is not None and uidvalidity != self._uidvalidity:
            log.warning(
                "UIDVALIDITY changed: the mailbox was recreated; what it holds is handled"
                " again, which the ingest's Message-ID dedup makes harmless",
                extra={"mailbox": s.mailbox, "was": self._uidvalidity, "now": uidvalidity},
            )
        self._uidvalidity = uidvalidity
        if s.mode == "flag":
            permanent = conn.response("PERMANENTFLAGS")[1][0] or b""
            if b"\\*" not in permanent and DONE_KEYWORD.encode() not in permanent:
                raise InputError(
                    "mode", f"{s.mailbox} does not keep the keyword {DONE_KEYWORD}: use move"
                )

    def _search(self, conn: imaplib.IMAP4) -> list[int]:
        # \Deleted messages are on their way out: someone else's, or our own copy fallback
        # interrupted before EXPUNGE (already copied to the processed mailbox)
        criteria = ["UNDELETED"]
        if self.settings.mode == "flag":
            criteria += ["NOT", "KEYWORD", DONE_KEYWORD]
        data = _ok(conn.uid("SEARCH", *criteria), "UID SEARCH")
        return sorted(int(uid) for uid in (data[0] or b"").split())

    def _deliver(self, conn: imaplib.IMAP4, uid: int) -> int:
        """Fetch, handle, mark one message: 1 when handled, 0 when gone or the handler failed."""
        extra = {"mailbox": self.settings.mailbox, "uid": uid}
        raw = _body(_ok(conn.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH"), uid)
        if raw is None:
            log.info("message vanished before it was fetched", extra=extra)
            return 0
        try:
            self._handle(raw, uid)
        except Exception:
            log.exception("mail handler failed; the message is offered again later", extra=extra)
            return 0
        self.mark_processed(uid)
        log.debug("message handled", extra=extra | {"bytes": len(raw)})
        return 1

    def mark_processed(self, uid: int) -> None:
        """Take a handled message out of the unprocessed set (called after ``handle``).

        MOVE when the server has it; else COPY, ``\\Deleted`` and UID EXPUNGE (UIDPLUS) or a
        plain EXPUNGE, which also removes anything else already marked ``\\Deleted``.
        """
        conn = self._connection()
        s = self.settings
        with self._talking(f"mark {uid} processed"):
            if s.mode == "flag":
                flags = f"(\\Seen {DONE_KEYWORD})"
                _ok(conn.uid("STORE", str(uid), "+FLAGS.SILENT", flags), "UID STORE")
                return
            target = quote_mailbox(s.processed_mailbox)
            if "MOVE" in self.capabilities:
                _ok(conn.uid("MOVE", str(uid), target), "UID MOVE")
                return
            _ok(conn.uid("COPY", str(uid), target), "UID COPY")
            _ok(conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
            if "UIDPLUS" in self.capabilities:
                _ok(conn.uid("EXPUNGE", str(uid)), "UID EXPUNGE")
            else:
                _ok(conn.expunge(), "EXPUNGE")

    def wait_for_mail(self, stop: threading.Event) -> None:
        """IDLE until new mail, the idle timeout or ``stop``; without IDLE, sleep a poll
        interval (``stop`` cuts it short)."""
        if "IDLE" not in self.capabilities:
            stop.wait(self.settings.poll_interval_s)
            return
        conn = self._connection()
        with self._talking("IDLE"):
            self._idle(conn, stop)

    def _idle(self, conn: imaplib.IMAP4, stop: threading.Event) -> None:
        """RFC 2177 by hand: IDLE until an EXISTS, the idle timeout or ``stop``, then DONE."""
        self._idle_tags += 1
        tag = f"idle{self._idle_tags}".encode()
        conn.send(tag + b" IDLE\r\n")
        woken = False
        while True:  # until the continuation; an EXISTS may come first
            line = _line(conn)
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):
                raise MailboxUnavailable(f"IDLE refused: {line!r}")
            woken = woken or bool(_EXISTS.match(line))
        log.debug("waiting in IDLE", extra={"mailbox": self.settings.mailbox})
        deadline = time.monotonic() + self.settings.idle_timeout_s
        while not woken and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not _readable(conn, min(left, _STOP_CHECK_S)):
                continue
            line = _line(conn)
            if line.startswith(b"* BYE"):
                raise MailboxUnavailable(f"the server ended the session: {line!r}")
            woken = bool(_EXISTS.match(line))
        conn.send(b"DONE\r\n")
        while not (line := _line(conn)).startswith(tag + b" "):
            pass  # untagged news before the end of IDLE; the next poll searches anyway
        if not line.startswith(tag + b" OK"):
            raise MailboxUnavailable(f"IDLE ended with {line!r}")

    def run(self, stop: threading.Event) -> None:
        """Poll, wait for mail, repeat until ``stop`` is set; never raises an ``Exception``.

        A lost connection or a refusing server is retried after a pause that doubles from
        ``reconnect_min_s`` up to ``reconnect_max_s`` and resets after a good poll.
        """
        s = self.settings
        failures = 0
        while not stop.is_set():
            try:
                self.poll_once()
                failures = 0
                if not stop.is_set():
                    self.wait_for_mail(stop)
            except Exception as e:
                failures += 1
                pause = backoff_delays(failures + 1, s.reconnect_min_s, s.reconnect_max_s)[-1]
                extra = {"host": s.host, "mailbox": s.mailbox, "retry_in_s": pause}
                if isinstance(e, MailboxUnavailable):
                    log.warning("IMAP unavailable: %s", e, extra=extra)
                else:
                    log.exception("IMAP poll failed", extra=extra)
                self.close()
                stop.wait(pause)
        self.close()


def _body(data: list[Any], uid: int) -> bytes | None:
    """The literal of a ``UID FETCH (BODY.PEEK[])`` answer; None when the message is gone."""
    for item in data:
        if not isinstance(item, tuple):
            continue  # ")" closing a message, or an unsolicited FLAGS update
        header, raw = item
        found = _UID.search(header)
        if b"BODY[]" in header.upper() and (found is None or int(found.group(1)) == uid):
            return cast(bytes, raw)
    return None


def _line(conn: imaplib.IMAP4) -> bytes:
    line = conn.readline()
    if not line:
        raise MailboxUnavailable("the server closed the connection")
    return line


def _readable(conn: imaplib.IMAP4, wait_s: float) -> bool:
    """Whether a line can be read without blocking, waiting up to ``wait_s``.

    imaplib reads through a buffered file, so ``select`` alone would miss what is already
    buffered (and a read timeout would ruin the file): peek at the buffer with the socket
    briefly non-blocking first. TLS keeps its own buffer; the same peek drains it.
    """
    sock = conn.sock
    previous = sock.gettimeout()
    sock.setblocking(False)
    try:
        buffered = cast(io.BufferedReader, conn.file).peek(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        buffered = b""
    finally:
        sock.settimeout(previous)
    if buffered:
        return True
    readable, _, _ = select.select([sock], [], [], wait_s)
    return bool(readable)
