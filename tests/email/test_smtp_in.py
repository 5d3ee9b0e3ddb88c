"""The inbound SMTP endpoint, driven by smtplib over loopback: what is answered, what is kept.

A 250 must mean the message reached ``accept`` (the store) byte for byte; every refusal
(unknown recipient, too big, store failing) must leave ``accept`` untouched or answer 451.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.email.smtp_in import (
    REPLY_NOT_RECORDED,
    SmtpEndpoint,
    SmtpEndpointSettings,
)
from opsledger.core.domain.errors import InputError

SENDER = "monitor@alerts.example.org"
OPS = "ops@example.com"


@dataclass
class Store:
    """``accept`` for the endpoint: records each call, or fails while ``failing`` is set."""

    calls: list[tuple[bytes, str, tuple[str, ...]]] = field(default_factory=list)
    failing: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, raw: bytes, mail_from: str, rcpt_tos: tuple[str, ...]) -> None:
        if self.failing is not None:
            raise self.failing
        with self.lock:
            self.calls.append((raw, mail_from, rcpt_tos))


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def endpoint(store: Store) -> Iterator[SmtpEndpoint]:
    settings = SmtpEndpointSettings(
        accepted=(OPS, "@support.example.com"), port=0, max_message_size=4096
    )
    with SmtpEndpoint(settings, store) as running:
        yield running


def client(endpoint: SmtpEndpoint) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", endpoint.port, local_hostname="client.test", timeout=5)


def message(subject: str, body: str = "Disk almost full on db-1.\r\n") -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {OPS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@alerts.example.org>\r\n\r\n{body}"
    ).encode()


def test_delivered_message_reaches_accept_byte_for_byte(
    endpoint: SmtpEndpoint, store: Store
) -> None:
    # a body line starting with "." is dot-stuffed on the wire and must come back unstuffed
    raw = message("disk full", "Disk almost full.\r\n.hidden line\r\n..two dots\r\n")
    with client(endpoint) as smtp:
        refused = smtp.sendmail(SENDER, [OPS, "Triage@SUPPORT.example.com"], raw)
    assert refused == {}
    assert store.calls == [(raw, SENDER, (OPS, "Triage@SUPPORT.example.com"))]


def test_250_is_sent_only_after_accept_returned(store: Store) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_accept(raw: bytes, mail_from: str, rcpt_tos: tuple[str, ...]) -> None:
        entered.set()
        assert release.wait(5), "test never released accept"
        store(raw, mail_from, rcpt_tos)

    settings = SmtpEndpointSettings(accepted=(OPS,), port=0)
    with SmtpEndpoint(settings, slow_accept) as endpoint, ThreadPoolExecutor(1) as pool:

        def send() -> dict[str, tuple[int, bytes]]:
            with client(endpoint) as smtp:
                return smtp.sendmail(SENDER, [OPS], message("slow store"))

        reply = pool.submit(send)
        assert entered.wait(5)
        # while the store is still writing, the sender must not have its 250
        with pytest.raises(TimeoutError):
            reply.result(timeout=0.2)
        release.set()
        assert reply.result(timeout=5) == {}
    assert len(store.calls) == 1


def test_port_zero_listens_on_a_real_port(endpoint: SmtpEndpoint) -> None:
    assert endpoint.port > 0
    with client(endpoint) as smtp:
        assert smtp.noop()[0] == 250


def test_unknown_recipient_is_refused_with_550_and_nothing_recorded(
    endpoint: SmtpEndpoint, store: Store
) -> None:
    with client(endpoint) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail(SENDER, ["nobody@example.com"], message("stray"))
    code, text = refused.value.recipients["nobody@example.com"]
    assert code == 550
    assert text.startswith(b"5.1.1 <nobody@example.com>: recipient not accepted")
    assert store.calls == []


def test_only_the_accepted_recipients_reach_accept(endpoint: SmtpEndpoint, store: Store) -> None:
    # a subdomain of an accepted domain is a different domain
    with client(endpoint) as smtp:
        refused = smtp.sendmail(SENDER, ["x@eu.support.example.com", "OPS@Example.COM"], b"x\r\n")
    assert set(refused) == {"x@eu.support.example.com"}
    assert store.calls == [(b"x\r\n", SENDER, ("OPS@Example.COM",))]


def test_null_sender_of_a_bounce_is_passed_as_empty(endpoint: SmtpEndpoint, store: Store) -> None:
    with client(endpoint) as smtp:
        smtp.sendmail("<>", [OPS], message("bounce"))
    assert store.calls[0][1] == ""


def test_failing_accept_answers_451_and_logs_no_body(
    endpoint: SmtpEndpoint, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.failing = OSError("database is locked")
    raw = message("secret", "the root password is hunter2\r\n")
    with (
        caplog.at_level(logging.DEBUG, "opsledger.adapters.email.smtp_in"),
        client(endpoint) as smtp,
        pytest.raises(smtplib.SMTPDataError) as failed,
    ):
        smtp.sendmail(SENDER, [OPS], raw)
    assert failed.value.smtp_code == 451
    assert failed.value.args == (451, REPLY_NOT_RECORDED.removeprefix("451 ").encode())
    assert REPLY_NOT_RECORDED.startswith("451 4.3.0 ")
    assert store.calls == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "inbound message not recorded (OSError); answered 451 so the sender retries"
    ]
    assert "hunter2" not in caplog.text


def test_sender_retrying_after_451_is_recorded_once(endpoint: SmtpEndpoint, store: Store) -> None:
    raw = message("retried")
    store.failing = RuntimeError("store down")
    with client(endpoint) as smtp, pytest.raises(smtplib.SMTPDataError):
        smtp.sendmail(SENDER, [OPS], raw)
    store.failing = None
    with client(endpoint) as smtp:
        smtp.sendmail(SENDER, [OPS], raw)
    assert store.calls == [(raw, SENDER, (OPS,))]


def test_oversized_message_declared_with_size_is_refused_with_552(
    endpoint: SmtpEndpoint, store: Store
) -> None:
    # the endpoint advertises SIZE 4096, so smtplib declares the size at MAIL FROM
    raw = message("big", ("x" * 98 + "\r\n") * 50)  # 50 * 100 = 5000 body bytes > 4096
    with client(endpoint) as smtp, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        smtp.sendmail(SENDER, [OPS], raw)
    assert refused.value.smtp_code == 552
    assert store.calls == []


def test_oversized_message_without_size_is_refused_with_552_after_data(
    endpoint: SmtpEndpoint, store: Store
) -> None:
    raw = message("big", ("y" * 98 + "\r\n") * 50)  # 50 * 100 = 5000 body bytes > 4096
    with client(endpoint) as smtp:
        smtp.ehlo()
        assert smtp.mail(SENDER)[0] == 250  # no SIZE= parameter
        assert smtp.rcpt(OPS)[0] == 250
        code, _ = smtp.data(raw)
        # the session survives the refusal: the next message goes through
        assert smtp.sendmail(SENDER, [OPS], message("small")) == {}
    assert code == 552
    assert [mail_from for _, mail_from, _ in store.calls] == [SENDER]
    assert store.calls[0][0] == message("small")


def test_utf8_headers_address_and_8bit_body_are_kept_as_sent(
    endpoint: SmtpEndpoint, store: Store
) -> None:
    rcpt = "störung@support.example.com"
    raw = (
        "From: Überwachung <überwachung@alerts.example.org>\r\n"
        f"To: {rcpt}\r\nSubject: Störung: Festplatte fast voll ✓\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Größe: 98 %, ça déborde — 磁盘已满\r\n"
    ).encode()
    with client(endpoint) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8")
        smtp.sendmail(
            "überwachung@alerts.example.org",
            [rcpt],
            raw,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
    assert store.calls == [(raw, "überwachung@alerts.example.org", (rcpt,))]


@given(
    lines=st.lists(
        st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
        min_size=1,
        max_size=20,
    )
)
def test_any_8bit_body_arrives_unchanged(lines: list[bytes]) -> None:
    store = Store()
    raw = b"Subject: bytes\r\n\r\n" + b"".join(line + b"\r\n" for line in lines)
    settings = SmtpEndpointSettings(accepted=(OPS,), port=0)
    # one endpoint per example: hypothesis examples cannot share a function-scoped fixture
    with SmtpEndpoint(settings, store) as endpoint, client(endpoint) as smtp:
        smtp.sendmail(SENDER, [OPS], raw, mail_options=["BODY=8BITMIME"])
    assert store.calls == [(raw, SENDER, (OPS,))]


def test_fifty_concurrent_senders_are_each_recorded_exactly_once(
    endpoint: SmtpEndpoint, store: Store
) -> None:
    def send(n: int) -> dict[str, tuple[int, bytes]]:
        with client(endpoint) as smtp:
            return smtp.sendmail(SENDER, [OPS], message(f"alert {n}"))

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(send, range(50)))
    assert results == [{}] * 50
    assert sorted(raw for raw, _, _ in store.calls) == sorted(
        message(f"alert {n}") for n in range(50)
    )


def test_accept_runs_on_several_workers_when_allowed(store: Store) -> None:
    # two senders whose accept calls must overlap: each waits until the other has started
    both_inside = threading.Barrier(2, timeout=5)

    def accept(raw: bytes, mail_from: str, rcpt_tos: tuple[str, ...]) -> None:
        both_inside.wait()
        store(raw, mail_from, rcpt_tos)

    settings = SmtpEndpointSettings(accepted=(OPS,), port=0, accept_workers=2)
    with SmtpEndpoint(settings, accept) as endpoint, ThreadPoolExecutor(2) as pool:

        def send(n: int) -> None:
            with client(endpoint) as smtp:
                smtp.sendmail(SENDER, [OPS], message(f"parallel {n}"))

        list(pool.map(send, range(2)))
    assert len(store.calls) == 2


def test_stopped_endpoint_refuses_connections_and_restarts_on_its_port(store: Store) -> None:
    endpoint = SmtpEndpoint(SmtpEndpointSettings(accepted=(OPS,), port=0), store)
    endpoint.start()
    port = endpoint.port
    endpoint.stop()
    with pytest.raises(ConnectionRefusedError):
        client(endpoint)
    with endpoint:
        assert endpoint.port == port
        with client(endpoint) as smtp:
            smtp.sendmail(SENDER, [OPS], message("after restart"))
    assert len(store.calls) == 1


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"accepted": ()}, "accepted"),
        ({"accepted": "ops@example.com"}, "accepted"),
        ({"accepted": ("ops",)}, "accepted"),
        ({"accepted": ("ops@",)}, "accepted"),
        ({"port": 70000}, "port"),
        ({"max_message_size": 0}, "max_message_size"),
        ({"accept_workers": 0}, "accept_workers"),
    ],
)
def test_settings_name_the_bad_field(changes: dict[str, object], field_name: str) -> None:
    values: dict[str, object] = {"accepted": (OPS,), **changes}
    with pytest.raises(InputError) as bad:
        SmtpEndpointSettings(**values)  # type: ignore[arg-type]
    assert bad.value.field == field_name


def test_accepted_addresses_and_domains_match_case_insensitively() -> None:
    settings = SmtpEndpointSettings(accepted=("Ops@Example.com", "@Support.example.COM"))
    assert settings.accepts("ops@EXAMPLE.COM")
    assert settings.accepts("anyone@support.example.com")
    assert not settings.accepts("dev@example.com")
    assert not settings.accepts("anyone@eu.support.example.com")
    assert not settings.accepts("support.example.com")
    assert not settings.accepts("@support.example.com")
