"""The IMAP transport against a real Dovecot: every message reaches the handler once.

Each test keeps to a mailbox pair of its own on the session's server (the restart test
starts a server of its own). Messages are written with CRLF line ends, as IMAP carries
them, so that "byte for byte" is a fair expectation.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.email.imap import (
    DONE_KEYWORD,
    ImapPoller,
    ImapSettings,
    MailboxUnavailable,
    quote_mailbox,
)
from opsledger.adapters.kafka.devbroker import free_port
from opsledger.core.domain.errors import InputError

from tests.email.dovecot import DovecotServer, run_dovecot

MODES = ("move", "flag")


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def message(n: int) -> bytes:
    """A small mail whose bytes differ per ``n`` (8-bit UTF-8 body included)."""
    return (
        f"Message-ID: <m{n}@example.test>\r\n"
        f"From: Ops <ops@example.test>\r\n"
        f"Subject: disk {n} almost full\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Bitte prüfen: Platte {n} ist fast voll.\r\n"
    ).encode()


@dataclass
class Recorder:
    """A handler that records what it got; ``fail`` holds UIDs to refuse (once each)."""

    got: list[tuple[bytes, int]]
    fail: set[int]

    def __call__(self, raw: bytes, uid: int) -> None:
        if uid in self.fail:
            self.fail.discard(uid)
            raise ValueError(f"cannot take {uid} now")
        self.got.append((raw, uid))

    @property
    def raws(self) -> list[bytes]:
        return [raw for raw, _uid in self.got]


def recorder(*fail: int) -> Recorder:
    return Recorder([], set(fail))


@dataclass(frozen=True)
class Mailboxes:
    server: DovecotServer
    inbox: str
    processed: str

    def settings(self, mode: str = "move", **overrides: Any) -> ImapSettings:
        values: dict[str, Any] = {
            "host": self.server.host,
            "port": self.server.port,
            "use_ssl": False,
            "username": self.server.username,
            "password": self.server.password,
            "mailbox": self.inbox,
            "processed_mailbox": self.processed,
            "mode": mode,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.5,
        }
        return ImapSettings(**(values | overrides))

    def append(self, *numbers: int) -> list[int]:
        return [self.server.append(self.inbox, message(n)) for n in numbers]

    def left(self) -> list[bytes]:
        """What the poller has not processed yet, in UID order."""
        return [
            raw
            for _uid, raw, flags in self.server.messages(self.inbox)
            if DONE_KEYWORD not in flags and "\\Deleted" not in flags
        ]


def mailboxes_on(server: DovecotServer) -> Mailboxes:
    suffix = uuid.uuid4().hex[:10]
    boxes = Mailboxes(server, f"in-{suffix}", f"done-{suffix}")
    server.create(boxes.inbox)
    return boxes


@pytest.fixture
def boxes(dovecot: DovecotServer) -> Mailboxes:
    return mailboxes_on(dovecot)


@pytest.fixture
def running() -> Iterator[Callable[[ImapPoller], threading.Thread]]:
    """Start ``poller.run`` in a thread; on teardown stop it and check that it stopped."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(poller: ImapPoller) -> threading.Thread:
        stop = threading.Event()
        thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
        thread.start()
        started.append((stop, thread))
        return thread

    yield start
    for stop, _thread in started:
        stop.set()
    for _stop, thread in started:
        thread.join(timeout=5)
        assert not thread.is_alive(), "run() did not return within 5 s of stop"


# -- delivery --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_appended_messages_reach_the_handler_once_in_order_byte_for_byte(
    boxes: Mailboxes, mode: str
) -> None:
    uids = boxes.append(1, 2, 3)
    handle = recorder()
    with ImapPoller(boxes.settings(mode), handle) as poller:
        assert poller.poll_once() == 3
        assert poller.poll_once() == 0
    assert handle.got == [(message(1), uids[0]), (message(2), uids[1]), (message(3), uids[2])]
    assert boxes.left() == []


def test_move_mode_leaves_handled_mail_in_the_processed_mailbox(boxes: Mailboxes) -> None:
    boxes.append(1, 2)
    with ImapPoller(boxes.settings("move"), recorder()) as poller:
        poller.poll_once()
    assert boxes.server.messages(boxes.inbox) == []
    moved = boxes.server.messages(boxes.processed)
    assert [raw for _uid, raw, _flags in moved] == [message(1), message(2)]


def test_flag_mode_leaves_handled_mail_in_place_seen_and_marked_done(boxes: Mailboxes) -> None:
    boxes.append(1, 2)
    with ImapPoller(boxes.settings("flag"), recorder()) as poller:
        poller.poll_once()
    kept = boxes.server.messages(boxes.inbox)
    assert [raw for _uid, raw, _flags in kept] == [message(1), message(2)]
    assert all({"\\Seen", DONE_KEYWORD} <= flags for _uid, _raw, flags in kept)


def test_an_unhandled_message_is_not_marked_seen_by_the_fetch(boxes: Mailboxes) -> None:
    boxes.append(1)
    with ImapPoller(boxes.settings("flag"), recorder(1)) as poller:
        assert poller.poll_once() == 0
    [(_uid, _raw, flags)] = boxes.server.messages(boxes.inbox)
    assert "\\Seen" not in flags


@pytest.mark.parametrize("mode", MODES)
def test_mail_arriving_during_a_poll_is_handled_by_that_poll(boxes: Mailboxes, mode: str) -> None:
    boxes.append(1)
    handle = recorder()

    def handle_and_receive_more(raw: bytes, uid: int) -> None:
        handle(raw, uid)
        if raw == message(1):
            boxes.append(2)  # from another connection, while the poll is running

    with ImapPoller(boxes.settings(mode), handle_and_receive_more) as poller:
        assert poller.poll_once() == 2
    assert handle.raws == [message(1), message(2)]


@pytest.mark.parametrize("mode", MODES)
def test_a_restarted_poller_handles_nothing_twice(boxes: Mailboxes, mode: str) -> None:
    boxes.append(1, 2)
    first, second = recorder(), recorder()
    with ImapPoller(boxes.settings(mode), first) as poller:
        assert poller.poll_once() == 2
    boxes.append(3)
    with ImapPoller(boxes.settings(mode), second) as poller:
        assert poller.poll_once() == 1
    assert first.raws == [message(1), message(2)]
    assert second.raws == [message(3)]


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_handler_leaves_only_that_message_for_the_next_poll(
    boxes: Mailboxes, mode: str
) -> None:
    uids = boxes.append(1, 2, 3)
    handle = recorder(uids[1])  # refuses message 2 once
    with ImapPoller(boxes.settings(mode), handle) as poller:
        assert poller.poll_once() == 2
        assert handle.raws == [message(1), message(3)]
        assert boxes.left() == [message(2)]
        assert poller.poll_once() == 1
    assert handle.raws == [message(1), message(3), message(2)]
    assert boxes.left() == []


class CrashingPoller(ImapPoller):
    """Dies (SystemExit) between ``handle`` returning and the mark, for one UID."""

    def __init__(self, settings: ImapSettings, handle: Recorder, crash_on: int) -> None:
        super().__init__(settings, handle)
        self.crash_on = crash_on

    def mark_processed(self, uid: int) -> None:
        if uid == self.crash_on:
            raise SystemExit("killed between handle and mark")
        super().mark_processed(uid)


@pytest.mark.parametrize("mode", MODES)
def test_a_crash_between_handle_and_mark_redelivers_exactly_that_message(
    boxes: Mailboxes, mode: str
) -> None:
    uids = boxes.append(1, 2, 3)
    before, after = recorder(), recorder()
    crashing = CrashingPoller(boxes.settings(mode), before, crash_on=uids[1])
    with pytest.raises(SystemExit):
        crashing.poll_once()
    crashing.close()
    assert before.raws == [message(1), message(2)]  # 2 was handled, never marked
    with ImapPoller(boxes.settings(mode), after) as poller:
        assert poller.poll_once() == 2
    assert after.got == [(message(2), uids[1]), (message(3), uids[2])]


class WithoutCapabilities(ImapPoller):
    """A server without some extensions, as far as the poller can tell."""

    hidden: frozenset[str] = frozenset()

    @property
    def capabilities(self) -> frozenset[str]:
        return super().capabilities - self.hidden


@pytest.mark.parametrize("hidden", [{"MOVE"}, {"MOVE", "UIDPLUS"}], ids=["uidplus", "expunge"])
def test_without_move_handled_mail_is_copied_then_expunged(
    boxes: Mailboxes, hidden: set[str]
) -> None:
    boxes.append(1, 2)
    poller = WithoutCapabilities(boxes.settings("move"), recorder())
    poller.hidden = frozenset(hidden)
    with poller:
        assert poller.poll_once() == 2
        assert poller.poll_once() == 0
    assert boxes.server.messages(boxes.inbox) == []
    moved = boxes.server.messages(boxes.processed)
    assert [raw for _uid, raw, _flags in moved] == [message(1), message(2)]


def test_a_recreated_mailbox_is_noticed_and_its_mail_handled(
    boxes: Mailboxes, caplog: pytest.LogCaptureFixture
) -> None:
    boxes.append(1)
    handle = recorder()
    with ImapPoller(boxes.settings("flag"), handle) as poller:
        poller.poll_once()
        old = poller.uidvalidity
        poller.close()
        with boxes.server.client() as admin:
            admin.delete(quote_mailbox(boxes.inbox))
        boxes.server.create(boxes.inbox)
        boxes.append(2)
        with caplog.at_level(logging.WARNING, logger="opsledger.adapters.email.imap"):
            assert poller.poll_once() == 1
        assert poller.uidvalidity != old
    assert handle.raws == [message(1), message(2)]
    [warning] = [r for r in caplog.records if "UIDVALIDITY" in r.getMessage()]
    assert (warning.was, warning.now) == (old, poller.uidvalidity)  # type: ignore[attr-defined]


# -- the run loop ----------------------------------------------------------------------------


def idling(caplog: pytest.LogCaptureFixture, count: int) -> Callable[[], bool]:
    """True once the run loop has entered IDLE ``count`` times."""
    return lambda: sum(r.getMessage() == "waiting in IDLE" for r in caplog.records) >= count


def test_idle_wakes_the_run_loop_when_mail_arrives(
    boxes: Mailboxes,
    running: Callable[[ImapPoller], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="opsledger.adapters.email.imap")
    handle = recorder()
    # a minute between polls: only IDLE can bring the second message within seconds
    settings = boxes.settings(idle_timeout_s=60, poll_interval_s=60)
    running(ImapPoller(settings, handle))
    wait_until(idling(caplog, 1), "the run loop to enter IDLE")
    boxes.append(1)
    wait_until(lambda: handle.raws == [message(1)], "IDLE to bring message 1", timeout_s=5)
    wait_until(idling(caplog, 2), "the run loop to IDLE again")
    boxes.append(2)
    wait_until(lambda: len(handle.raws) == 2, "IDLE to bring message 2", timeout_s=5)
    assert handle.raws == [message(1), message(2)]


def test_the_run_loop_talks_implicit_tls(
    dovecot: DovecotServer,
    running: Callable[[ImapPoller], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="opsledger.adapters.email.imap")
    boxes = mailboxes_on(dovecot)
    handle = recorder()
    settings = boxes.settings(
        port=dovecot.tls_port, use_ssl=True, ca_file=str(dovecot.ca_file), idle_timeout_s=60
    )
    boxes.append(1)
    running(ImapPoller(settings, handle))
    wait_until(idling(caplog, 1), "the run loop to enter IDLE over TLS")
    boxes.append(2)
    wait_until(lambda: len(handle.raws) == 2, "IDLE over TLS to bring message 2", timeout_s=5)
    assert handle.raws == [message(1), message(2)]


def test_starttls_upgrades_the_plain_port(dovecot: DovecotServer) -> None:
    boxes = mailboxes_on(dovecot)
    boxes.append(1)
    handle = recorder()
    settings = boxes.settings(starttls=True, ca_file=str(dovecot.ca_file))
    with ImapPoller(settings, handle) as poller:
        assert poller.poll_once() == 1
    assert handle.raws == [message(1)]


@pytest.mark.parametrize("how", ["implicit", "starttls"])
def test_a_certificate_the_client_does_not_trust_is_refused(
    dovecot: DovecotServer, how: str
) -> None:
    boxes = mailboxes_on(dovecot)
    tls = (
        {"port": dovecot.tls_port, "use_ssl": True}
        if how == "implicit"
        else {"port": dovecot.port, "starttls": True}
    )
    settings = boxes.settings(**tls)  # no ca_file: the system's CAs only
    with pytest.raises(MailboxUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        ImapPoller(settings, recorder()).poll_once()


def test_the_run_loop_survives_a_server_restart(
    tmp_path: Path,
    running: Callable[[ImapPoller], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="opsledger.adapters.email.imap")
    with run_dovecot(tmp_path) as server:
        boxes = mailboxes_on(server)
        handle = recorder()
        running(ImapPoller(boxes.settings(idle_timeout_s=60), handle))
        boxes.append(1)
        wait_until(lambda: handle.raws == [message(1)], "message 1")
        wait_until(idling(caplog, 1), "the run loop to enter IDLE")
        server.restart()  # drops the idling connection
        wait_until(
            lambda: any("IMAP unavailable" in r.getMessage() for r in caplog.records),
            "the run loop to notice the lost connection",
        )
        boxes.append(2)
        wait_until(lambda: len(handle.raws) == 2, "message 2 after the restart")
    assert handle.raws == [message(1), message(2)]


def test_the_run_loop_keeps_retrying_while_the_server_is_down(
    boxes: Mailboxes,
    running: Callable[[ImapPoller], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    running(ImapPoller(boxes.settings(port=free_port()), recorder()))  # nobody listens
    wait_until(
        lambda: sum("IMAP unavailable" in r.getMessage() for r in caplog.records) >= 3,
        "three failed attempts, each logged",
    )
    pauses = [r.retry_in_s for r in caplog.records if "IMAP unavailable" in r.getMessage()]  # type: ignore[attr-defined]
    assert pauses[:3] == [0.05, 0.1, 0.2]  # reconnect_min_s, doubled each time


# -- settings --------------------------------------------------------------------------------


def test_settings_repr_never_shows_the_password() -> None:
    settings = ImapSettings(host="imap.example.test", username="ops", password="hunter2")
    assert "hunter2" not in repr(settings)
    assert "password='***'" in repr(settings)
    assert settings.effective_port == 993


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mode": "delete"}, "mode"),
        ({"port": 70000}, "port"),
        ({"use_ssl": True, "starttls": True}, "starttls"),
        ({"processed_mailbox": "INBOX"}, "processed_mailbox"),
        ({"mailbox": "Eingänge"}, "mailbox"),
        ({"idle_timeout_s": 3600}, "idle_timeout_s"),
        ({"host": ""}, "host"),
    ],
)
def test_settings_refuse_bad_values_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"host": "imap.example.test", "username": "ops", "password": "x"}
    with pytest.raises(InputError) as refused:
        ImapSettings(**(values | overrides))
    assert refused.value.field == field
