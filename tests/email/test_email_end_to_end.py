"""The email plugin's adapter on real servers: smtplib to its SMTP endpoint, a real Dovecot
mailbox polled over IMAP, and the commands topic of a real Kafka broker.

The adapter is started the way ``opsledger serve`` and ``opsledger worker`` start it
(``start_adapters`` with the engine's plugin host), on a fresh SQLite store whose raw mail
lands beside the events, in its ``opsledger_mail_blobs`` table.
"""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.email.blobs import BlobTable
from opsledger.adapters.email.plugin import EmailAdapter
from opsledger.adapters.email.settings import EmailSettings
from opsledger.adapters.kafka.bus import BusUnavailable, CommandBus, LocalBus, Receipt
from opsledger.core.commands import Command
from opsledger.core.domain.errors import NotFoundError
from opsledger.core.domain.records import RecordKind
from opsledger.plugins.adapters import start_adapters, stop_adapters

from opsledger import Engine, Settings
from tests.email.corpus_messages import CUSTOMER, DESK, mail
from tests.email.dovecot import DovecotServer
from tests.email.smtp_relay import RecordingRelay
from tests.email.test_imap import Mailboxes, mailboxes_on, wait_until

SMTP_IN = {"host": "127.0.0.1", "port": 0}


def requests(engine: Engine) -> int:
    return engine.last_number(RecordKind.SERVICE_REQUEST)


def view(engine: Engine, number: str) -> dict[str, Any]:
    """The ticket, or {} while it is not there yet (for waiting on it)."""
    try:
        return engine.get(number)
    except NotFoundError:
        return {}


def settings(**sections: Any) -> EmailSettings:
    return EmailSettings.from_mapping({"enabled": True, "addresses": [DESK], **sections})


@contextmanager
def running(adapter: EmailAdapter, bus: CommandBus, engine: Engine) -> Iterator[EmailAdapter]:
    started = start_adapters([adapter], bus, host=engine.plugins)
    assert started == [adapter], [w.message for w in engine.plugin_warnings()]
    try:
        yield adapter
    finally:
        stop_adapters(started, host=engine.plugins)


def deliver(adapter: EmailAdapter, raw: bytes, sender: str = CUSTOMER) -> None:
    assert adapter.endpoint is not None
    with smtplib.SMTP("127.0.0.1", adapter.endpoint.port, timeout=10) as client:
        client.sendmail(sender, [DESK], raw)


class FlakyBus(LocalBus):
    """The embedded bus, failing on chosen submits: before recording (the store is down),
    or after it (the process died between the commit and marking the mail processed)."""

    def __init__(self, engine: Engine, *, fail_before: int = 0, fail_after: int = 0) -> None:
        super().__init__(engine)
        self.calls = 0
        self.fail_before, self.fail_after = fail_before, fail_after

    def submit(
        self, commands: Sequence[Command], *, key: str | None = None, **ids: Any
    ) -> list[Receipt]:
        self.calls += 1
        if self.calls == self.fail_before:
            raise BusUnavailable("the store is down")
        receipts = super().submit(commands, key=key, **ids)
        if self.calls == self.fail_after:
            raise BusUnavailable("died after the commit")
        return receipts


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(Settings(db_path=str(tmp_path / "events.db")))
    try:
        yield e
    finally:
        e.close()


# -- SMTP ----------------------------------------------------------------------------------


def test_mail_delivered_over_smtp_is_a_ticket_by_the_time_the_server_says_250(
    engine: Engine, tmp_path: Path
) -> None:
    raw = mail(message_id="<smtp.1@contoso.com>")
    with running(EmailAdapter(settings(smtp_in=SMTP_IN)), LocalBus(engine), engine) as adapter:
        deliver(adapter, raw)
        assert requests(engine) == 1  # no waiting: 250 came after the record
    ticket = engine.get("REQ-000001")
    assert (ticket["customer"], ticket["channel"]) == (CUSTOMER, "email")
    [received] = [e for e in engine.history("REQ-000001") if e.event == "MailReceived"]
    # the raw message beside the events, byte for byte as the client sent it
    blobs = engine.plugins.context.tables(BlobTable)
    assert blobs.get(received.details["raw_sha256"]) == raw


def test_mail_the_bus_cannot_take_is_answered_451_and_recorded_on_the_retry(
    engine: Engine,
) -> None:
    raw = mail(message_id="<smtp.2@contoso.com>")
    bus = FlakyBus(engine, fail_before=1)
    with running(EmailAdapter(settings(smtp_in=SMTP_IN)), bus, engine) as adapter:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            deliver(adapter, raw)
        assert refused.value.smtp_code == 451
        assert requests(engine) == 0
        deliver(adapter, raw)  # the sending server's retry
        assert requests(engine) == 1


def test_the_acknowledgement_goes_out_and_the_answer_to_it_threads_back(engine: Engine) -> None:
    with RecordingRelay() as relay:
        wired = settings(
            smtp_in=SMTP_IN,
            smtp_out={"host": relay.host, "port": relay.port, "from_address": DESK},
            notify={"from_address": DESK, "poll_interval_s": 0.05},
        )
        with running(EmailAdapter(wired), LocalBus(engine), engine) as adapter:
            deliver(adapter, mail(message_id="<loop.1@contoso.com>"))
            [sent] = relay.wait_for(1)
            acknowledgement = sent.message()
            assert sent.rcpt_tos == (CUSTOMER,)
            assert acknowledgement["In-Reply-To"] == "<loop.1@contoso.com>"
            assert acknowledgement["Auto-Submitted"] == "auto-replied"
            # the customer answers the acknowledgement, subject token removed
            answer = mail(
                message_id="<loop.2@contoso.com>",
                subject="Re: thanks",
                in_reply_to=str(acknowledgement["Message-ID"]),
            )
            deliver(adapter, answer)
            # our own acknowledgement, bounced back to the desk, is never a ticket
            deliver(adapter, sent.raw, sender=DESK)
    assert requests(engine) == 1
    assert engine.get("REQ-000001")["customer_replies"] == 1
    [kept] = engine.rejected_messages("email")
    assert kept.reason == f"ignored: from our own address {DESK}"


# -- IMAP ------------------------------------------------------------------------------------


def imap(boxes: Mailboxes, **overrides: Any) -> dict[str, Any]:
    server = boxes.server
    return {
        "host": server.host,
        "port": server.port,
        "use_ssl": False,
        "username": server.username,
        "password": server.password,
        "mailbox": boxes.inbox,
        "processed_mailbox": boxes.processed,
        "mode": "move",
        "idle_timeout_s": 30,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.5,
        **overrides,
    }


def test_mail_in_a_dovecot_mailbox_becomes_tickets_and_replies_and_moves_to_processed(
    engine: Engine, dovecot: DovecotServer
) -> None:
    boxes = mailboxes_on(dovecot)
    dovecot.create(boxes.processed)  # to watch it fill
    first = mail(message_id="<imap.1@contoso.com>")
    dovecot.append(boxes.inbox, first)
    dovecot.append(
        boxes.inbox,
        mail(
            message_id="<imap.2@contoso.com>",
            subject="Re: printer",
            in_reply_to="<imap.1@contoso.com>",
        ),
    )
    with running(EmailAdapter(settings(imap=imap(boxes))), LocalBus(engine), engine):
        wait_until(
            lambda: len(view(engine, "REQ-000001").get("mail_ids", ())) == 2, "the first two mails"
        )
        # arrives while the poller waits in IDLE
        dovecot.append(
            boxes.inbox,
            mail(message_id="<imap.3@contoso.com>", subject="Re: [REQ-000001] still broken"),
        )
        wait_until(lambda: view(engine, "REQ-000001")["customer_replies"] == 2, "the IDLE wake-up")
        wait_until(lambda: len(dovecot.messages(boxes.processed)) == 3, "the move")
    assert requests(engine) == 1
    assert dovecot.messages(boxes.inbox) == []
    assert dovecot.messages(boxes.processed)[0][1] == first


def test_a_poller_restarted_after_a_crash_between_record_and_move_records_nothing_twice(
    engine: Engine, dovecot: DovecotServer
) -> None:
    boxes = mailboxes_on(dovecot)
    dovecot.create(boxes.processed)  # to watch it fill
    for n in range(5):
        dovecot.append(boxes.inbox, mail(message_id=f"<crash.{n}@contoso.com>", subject=f"req {n}"))
    crashing = FlakyBus(engine, fail_after=3)  # the 3rd mail is recorded, never moved
    with running(EmailAdapter(settings(imap=imap(boxes))), crashing, engine):
        wait_until(lambda: len(dovecot.messages(boxes.processed)) == 4, "four moved")
    assert requests(engine) == 5
    [(_uid, left, _flags)] = dovecot.messages(boxes.inbox)
    assert b"<crash.2@contoso.com>" in left
    with running(EmailAdapter(settings(imap=imap(boxes))), LocalBus(engine), engine):
        wait_until(lambda: dovecot.messages(boxes.inbox) == [], "the restarted poller")
    assert requests(engine) == 5
    assert len(dovecot.messages(boxes.processed)) == 5
    for n in range(1, 6):
        history = [e.event for e in engine.history(f"REQ-{n:06d}")]
        assert history.count("MailReceived") == 1
    assert engine.rejected_messages() == []


# -- the plugin, as the CLI loads it --------------------------------------------------------


def test_plugins_list_shows_the_email_adapter_when_enabled(tmp_path: Path) -> None:
    config = tmp_path / "email.json"
    config.write_text(json.dumps({"addresses": [DESK], "smtp_in": SMTP_IN}))
    env = {
        **os.environ,
        "OPSLEDGER_EMAIL_ENABLED": "1",
        "OPSLEDGER_EMAIL_CONFIG": str(config),
        "OPSLEDGER_DB": str(tmp_path / "events.db"),
    }
    listed = subprocess.run(
        [sys.executable, "-m", "opsledger", "plugins", "list", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    [row] = [r for r in json.loads(listed.stdout) if r["name"] == "email"]
    assert row["adapters"] == ["email"]
    assert set(row["hooks"]) == {"opsledger_adapters", "opsledger_event_recorded"}
