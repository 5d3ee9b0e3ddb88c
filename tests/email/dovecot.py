"""A real Dovecot IMAP server on loopback, for the email adapter's transport tests.

Debian's ``dovecot-imapd`` (2.3) runs in the foreground (``dovecot -F -c CONFIG``) with one
passwd-file user, Maildir storage and plain-text login on a free loopback port; with
``tls=True`` it also answers implicit TLS on a second port, with a throwaway self-signed
certificate (``openssl``). Without the binary the caller skips with the reason outside CI and
fails inside it (``CI=true``).

Dovecot's own constraints shape the layout: its runtime directory holds Unix sockets, so it
lives under a short ``/tmp/dvXXXX`` path (a pytest temp path exceeds the socket path limit);
that directory must be readable by the ``dovecot`` user (0755, or logins fail with a
temporary authentication failure); and a mail user cannot be root, so as root the mail is
owned by ``nobody``. The log goes to the caller's directory so it outlives the server.
"""

from __future__ import annotations

import contextlib
import getpass
import grp
import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from opsledger.adapters.email.imap import quote_mailbox
from opsledger.adapters.kafka.devbroker import free_port, stop_process, tail

from tests.peers import find_binary, require_binary

DEFAULT_BINARY = "/usr/sbin/dovecot"
READY_TIMEOUT_S = 10.0
USERNAME = "ops"
PASSWORD = "imap-test-secret"
#: As root, mail is stored as this user and group (nobody/nogroup on Debian).
ROOT_MAIL_ID = 65534
_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


class DovecotUnavailable(RuntimeError):
    """Dovecot could not be started or did not greet; the message says why."""


def dovecot_binary() -> str | None:
    """``$OPSLEDGER_DOVECOT_BIN``, Debian's path, or the first one on PATH; None if none."""
    return find_binary("OPSLEDGER_DOVECOT_BIN", DEFAULT_BINARY, "dovecot")


def require_dovecot() -> str:
    """The binary's path; skip outside CI, fail inside it, when it is not installed."""
    return require_binary("OPSLEDGER_DOVECOT_BIN", DEFAULT_BINARY, "dovecot", "dovecot-imapd")


def _system_users() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid): Debian's service users as root,
    otherwise the current user for everything (Dovecot then runs unprivileged)."""
    if os.geteuid() != 0:
        me = getpass.getuser()
        return me, me, os.getuid(), os.getgid()
    return "dovecot", "dovenull", ROOT_MAIL_ID, ROOT_MAIL_ID


def dovecot_config(rundir: Path, log: Path, port: int, tls_port: int | None) -> str:
    """The configuration file's content: IMAP only, loopback, one passwd-file user."""
    internal, login, _uid, _gid = _system_users()
    tls = (
        f"ssl = yes\nssl_cert = <{rundir / 'cert.pem'}\nssl_key = <{rundir / 'key.pem'}\n"
        if tls_port is not None
        else "ssl = no\n"
    )
    imaps = (
        f"  inet_listener imaps {{\n    port = {tls_port}\n    ssl = yes\n  }}\n"
        if tls_port is not None
        else ""
    )
    unprivileged = (
        ""
        if os.geteuid() == 0
        else f"default_internal_group = {grp.getgrgid(os.getgid()).gr_name}\n"
        "service imap-login {\n  chroot =\n}\n"
        "service anvil {\n  chroot =\n}\n"
    )
    return (
        "protocols = imap\n"
        "listen = 127.0.0.1\n"
        f"base_dir = {rundir / 'run'}\n"
        f"state_dir = {rundir / 'state'}\n"
        f"log_path = {log}\n"
        f"{tls}"
        "disable_plaintext_auth = no\n"
        "auth_mechanisms = plain login\n"
        f"default_internal_user = {internal}\n"
        f"default_login_user = {login}\n"
        "mail_location = maildir:~/Maildir\n"
        "passdb {\n"
        "  driver = passwd-file\n"
        f"  args = scheme=PLAIN username_format=%u {rundir / 'passwd'}\n"
        "}\n"
        "userdb {\n"
        "  driver = passwd-file\n"
        f"  args = username_format=%u {rundir / 'passwd'}\n"
        "}\n"
        "service imap-login {\n"
        f"  inet_listener imap {{\n    port = {port}\n  }}\n"
        f"{imaps}"
        "}\n"
        f"{unprivileged}"
    )


def _self_signed_certificate(rundir: Path) -> None:
    """A one-day certificate for 127.0.0.1 (the client verifies it against this file)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DovecotUnavailable("openssl not found: cannot make a certificate for TLS tests")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(rundir / "key.pem"),
            "-out",
            str(rundir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )


def greets(port: int) -> bool:
    """True when an IMAP greeting (``* OK``) arrives on the plain port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            return s.recv(64).startswith(b"* OK")
    except OSError:  # refused while starting, or reset
        return False


class DovecotServer:
    """A Dovecot process and its mail store; use as a context manager, or call :meth:`close`.

    :meth:`stop` and :meth:`start` keep the ports and the mail, so a test can restart the
    server under a connected client; :meth:`close` also removes the store.
    """

    def __init__(self, binary: str, rundir: Path, log: Path, *, tls: bool = False) -> None:
        self.binary = binary
        self.rundir = rundir
        self.log = log
        self.host = "127.0.0.1"
        self.port = free_port()
        #: The implicit-TLS port (IMAPS), or None without ``tls``.
        self.tls_port: int | None = free_port() if tls else None
        #: The certificate a TLS client should trust, or None without ``tls``.
        self.ca_file: Path | None = rundir / "cert.pem" if tls else None
        self.username = USERNAME
        self.password = PASSWORD
        self.proc: subprocess.Popen[bytes] | None = None
        self._prepare()

    def _prepare(self) -> None:
        _internal, _login, uid, gid = _system_users()
        self.rundir.chmod(0o755)  # the auth process, running as "dovecot", reads the passwd file
        home = self.rundir / "home"
        home.mkdir()
        os.chown(home, uid, gid)
        (self.rundir / "passwd").write_text(
            f"{self.username}:{{PLAIN}}{self.password}:{uid}:{gid}::{home}\n"
        )
        if self.tls_port is not None:
            _self_signed_certificate(self.rundir)

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start the process; return once it greets, else raise :class:`DovecotUnavailable`."""
        config = self.rundir / "dovecot.conf"
        config.write_text(dovecot_config(self.rundir, self.log, self.port, self.tls_port))
        with self.log.open("ab") as out:  # startup errors go to stderr, the rest to log_path
            self.proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, for stop()
            )
        why = self.wait_until_ready(timeout_s)
        if why is not None:
            self.stop()
            raise DovecotUnavailable(
                f"dovecot did not start ({why}); log {self.log}:\n{tail(self.log)}"
            )

    def wait_until_ready(self, timeout_s: float = READY_TIMEOUT_S) -> str | None:
        """Poll for the greeting; None when it came, else why not (exited, or timed out)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"dovecot exited with code {self.proc.returncode}"
            if greets(self.port):
                return None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.05)  # the pause between polls doubles as an exit check
        return f"no IMAP greeting on port {self.port} within {timeout_s:.0f} s"

    def stop(self) -> None:
        """Stop Dovecot and its children, dropping every client (as a service manager
        would); the mail stays. Idempotent."""
        if self.proc is None:
            return
        stop_process(self.proc)
        # the imap, log and stats processes outlive the master by about 10 s: end its group
        _stop_group(self.proc.pid)

    def restart(self) -> None:
        """Stop, then start again on the same ports with the same mail."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the mail store and runtime directory (the log stays)."""
        self.stop()
        shutil.rmtree(self.rundir, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- a second client, for setting up and checking what the poller sees --------------------

    def client(self) -> imaplib.IMAP4:
        """A logged-in plain-text IMAP connection; the caller logs out (``with`` does)."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=5)
        conn.login(self.username, self.password)
        return conn

    def create(self, mailbox: str) -> None:
        with self.client() as conn:
            typ, data = conn.create(quote_mailbox(mailbox))
            assert typ == "OK", f"CREATE {mailbox}: {data!r}"

    def append(self, mailbox: str, raw: bytes, flags: str | None = None) -> int:
        """Store one message in ``mailbox``; its UID there (from Dovecot's APPENDUID)."""
        with self.client() as conn:
            typ, data = conn.append(quote_mailbox(mailbox), flags, None, raw)
        assert typ == "OK", f"APPEND to {mailbox}: {data!r}"
        found = _APPENDUID.search(data[0])
        assert found, f"no APPENDUID in {data!r}"
        return int(found.group(1))

    def messages(self, mailbox: str) -> list[tuple[int, bytes, frozenset[str]]]:
        """(UID, raw bytes, flags) of every message in ``mailbox``, in UID order; reading
        with BODY.PEEK leaves the flags as they were."""
        with self.client() as conn:
            typ, data = conn.select(quote_mailbox(mailbox), readonly=True)
            assert typ == "OK", f"SELECT {mailbox}: {data!r}"
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            assert typ == "OK", f"FETCH in {mailbox}: {data!r}"
        found: list[tuple[int, bytes, frozenset[str]]] = []
        for item in data:
            if not isinstance(item, tuple):
                continue  # the closing ")" of each message, or None in an empty mailbox
            header, raw = item
            uid = re.search(rb"UID (\d+)", header)
            flags = re.search(rb"FLAGS \(([^)]*)\)", header)
            assert uid and flags, f"unexpected FETCH response {header!r}"
            found.append((int(uid.group(1)), raw, frozenset(flags.group(1).decode().split())))
        return sorted(found)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in group ``pgid``.

    The group's processes are orphans once the master is gone, so they linger as zombies
    until init reaps them; only /proc tells those apart (elsewhere any member counts).
    """
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        state, _ppid, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            return True
    return False


def _stop_group(pgid: int, timeout_s: float = 3) -> None:
    """SIGTERM what is left of the process group ``pgid``; SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return  # the group is empty
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            time.sleep(0.02)  # not our children, so there is no wait() to block on


def run_dovecot(logdir: Path, *, tls: bool = False) -> DovecotServer:
    """Start Dovecot on free loopback ports; it greets on return.

    Skips (fails in CI) when the binary is missing; raises :class:`DovecotUnavailable` when
    it will not start. A port taken between choosing and binding is retried.
    """
    binary = require_dovecot()
    why = "not started"
    for attempt in range(3):
        # short on purpose: Unix socket paths are limited to about 100 bytes
        rundir = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        server = DovecotServer(binary, rundir, logdir / f"dovecot-{attempt}.log", tls=tls)
        try:
            server.start()
        except DovecotUnavailable as e:
            server.close()
            why = str(e)
            if "in use" not in tail(server.log):
                break
            continue
        return server
    raise DovecotUnavailable(why)
