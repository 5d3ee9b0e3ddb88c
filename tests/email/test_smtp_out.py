"""The outbound SMTP sender against a recording aiosmtpd relay on loopback.

What the relay receives (headers, body, envelope), how it is reached (STARTTLS, implicit
TLS, AUTH), and how each failure is sorted: retry on 4xx and network trouble, give up on 5xx.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from opsledger.adapters.email.smtp_out import (
    PermanentSendError,
    SendError,
    SmtpSender,
    SmtpSettings,
    TransientSendError,
    send_with_retry,
)
from opsledger.core.domain.errors import InputError

from tests.email.smtp_relay import RecordingRelay, self_signed_certificate, server_tls_context

FROM = "opsledger@ops.example.com"
USER, PASSWORD = "notifier", "s3cret-Pa55"


@pytest.fixture
def relay() -> Iterator[RecordingRelay]:
    with RecordingRelay() as running:
        yield running


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


def sender_for(relay: RecordingRelay, **changes: object) -> SmtpSender:
    values: dict[str, object] = {
        "host": relay.host,
        "port": relay.port,
        "from_address": FROM,
        "timeout_s": 5.0,
        "local_hostname": "opsledger.test",
        **changes,
    }
    return SmtpSender(SmtpSettings(**values))  # type: ignore[arg-type]


def notification(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"opsledger <{FROM}>"
    message["To"] = "reporter@customer.example"
    message["Subject"] = "[INC-42] Acknowledged: checkout is down"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Your incident INC-42 was acknowledged by the payments on-call.\n")
    return message


def test_relay_receives_the_threading_headers_and_body(relay: RecordingRelay) -> None:
    message = notification(
        Message_ID="<inc-42.ack@ops.example.com>",
        In_Reply_To="<report-1@customer.example>",
        References="<report-0@customer.example> <report-1@customer.example>",
        Auto_Submitted="auto-replied",
    )
    sent_id = sender_for(relay).send(message)
    [got] = relay.wait_for(1)
    assert sent_id == "<inc-42.ack@ops.example.com>"
    assert got.mail_from == FROM
    assert got.rcpt_tos == ("reporter@customer.example",)
    received = got.message()
    for name in ("Message-ID", "In-Reply-To", "References", "Auto-Submitted", "Subject", "From"):
        assert received[name] == message[name], name
    assert received.get_content() == (
        "Your incident INC-42 was acknowledged by the payments on-call.\n"
    )


def test_message_without_id_gets_one_on_the_senders_domain(relay: RecordingRelay) -> None:
    message = notification()
    sent_id = sender_for(relay).send(message)
    assert sent_id.startswith("<") and sent_id.endswith("@ops.example.com>")
    # stamped on the message, so that a retry of the same object reuses it
    assert message["Message-ID"] == sent_id
    assert relay.wait_for(1)[0].message()["Message-ID"] == sent_id


def test_bcc_recipients_get_the_message_without_the_header(relay: RecordingRelay) -> None:
    message = notification(Cc="lead@customer.example", Bcc="audit@ops.example.com")
    sender_for(relay).send(message)
    [got] = relay.wait_for(1)
    assert got.rcpt_tos == (
        "reporter@customer.example",
        "lead@customer.example",
        "audit@ops.example.com",
    )
    assert b"audit@ops.example.com" not in got.raw


def test_utf8_subject_and_body_arrive_decodable(relay: RecordingRelay) -> None:
    message = notification()
    del message["Subject"]
    message["Subject"] = "[INC-43] Störung bestätigt ✓"
    message.set_content("Größe: 98 % — 磁盘已满\n")
    sender_for(relay).send(message)
    received = relay.wait_for(1)[0].message()
    assert received["Subject"] == "[INC-43] Störung bestätigt ✓"
    assert received.get_content() == "Größe: 98 % — 磁盘已满\n"


def test_message_without_recipients_is_an_input_error(relay: RecordingRelay) -> None:
    message = notification()
    del message["To"]
    with pytest.raises(InputError) as bad:
        sender_for(relay).send(message)
    assert bad.value.field == "message"


# -- TLS and AUTH ----------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_starttls_then_auth_delivers_over_the_encrypted_session(
    certificate: tuple[Path, Path], mechanism: str
) -> None:
    cert, key = certificate
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    with RecordingRelay(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        credentials=(USER, PASSWORD),
        auth_exclude=[other],
    ) as relay:
        sender = sender_for(
            relay, starttls=True, ca_file=str(cert), username=USER, password=PASSWORD
        )
        sender.send(notification())
        [got] = relay.wait_for(1)
        assert relay.auth_mechanisms == [mechanism]
    assert (got.tls, got.login) == (True, USER)


def test_implicit_tls_delivers(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = server_tls_context(cert, key)
    with RecordingRelay(
        tls_context=context, implicit_tls=True, credentials=(USER, PASSWORD)
    ) as relay:
        sender = sender_for(relay, ssl=True, ca_file=str(cert), username=USER, password=PASSWORD)
        sender.send(notification())
        [got] = relay.wait_for(1)
    assert (got.tls, got.login) == (True, USER)


def test_wrong_password_is_permanent(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = server_tls_context(cert, key)
    with RecordingRelay(tls_context=context, credentials=(USER, PASSWORD)) as relay:
        sender = sender_for(relay, starttls=True, ca_file=str(cert), username=USER, password="no")
        with pytest.raises(PermanentSendError) as failed:
            sender.send(notification())
        assert failed.value.code == 535
        assert relay.received == []


def test_untrusted_certificate_is_permanent(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with RecordingRelay(tls_context=server_tls_context(cert, key)) as relay:
        # the system trust store does not know the throwaway certificate
        with pytest.raises(PermanentSendError) as failed:
            sender_for(relay, starttls=True).send(notification())
        assert "not trusted" in failed.value.reason
        assert relay.received == []


def test_relay_requiring_starttls_refuses_a_plain_sender(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = server_tls_context(cert, key)
    with RecordingRelay(tls_context=context, require_starttls=True) as relay:
        with pytest.raises(PermanentSendError) as failed:
            sender_for(relay).send(notification())
        assert failed.value.code == 530
        assert relay.received == []


def test_starttls_requested_from_a_relay_without_it_is_permanent(relay: RecordingRelay) -> None:
    # never fall back to clear text when TLS was asked for
    with pytest.raises(PermanentSendError):
        sender_for(relay, starttls=True).send(notification())
    assert relay.received == []


# -- failures and retry ----------------------------------------------------------------------


def test_451_then_250_succeeds_on_the_second_attempt(relay: RecordingRelay) -> None:
    relay.answer(451)
    waits: list[float] = []
    message = notification()
    sent_id = send_with_retry(
        sender_for(relay), message, attempts=4, base_delay=0.5, max_delay=8, sleep=waits.append
    )
    assert waits == [0.5]
    [refused] = relay.refused
    [got] = relay.received
    assert refused.code == 451
    # the retry is the same message, so the receiving side can deduplicate it
    assert refused.raw == got.raw
    assert got.message()["Message-ID"] == sent_id


def test_transient_failures_back_off_exponentially_up_to_the_cap(relay: RecordingRelay) -> None:
    relay.answer(421, times=5, at="MAIL")
    waits: list[float] = []
    # delays 1, 2, 4 -> capped at 3: 1, 2, 3, 3 between five attempts
    with pytest.raises(TransientSendError) as failed:
        send_with_retry(
            sender_for(relay),
            notification(),
            attempts=5,
            base_delay=1,
            max_delay=3,
            sleep=waits.append,
        )
    assert waits == [1, 2, 3, 3]
    assert failed.value.code == 421
    assert relay.received == []


def test_550_is_permanent_and_not_retried(relay: RecordingRelay) -> None:
    relay.answer(550, text="5.7.1 message rejected as spam")
    waits: list[float] = []
    with pytest.raises(PermanentSendError) as failed:
        send_with_retry(
            sender_for(relay),
            notification(),
            attempts=5,
            base_delay=1,
            max_delay=8,
            sleep=waits.append,
        )
    assert (failed.value.code, failed.value.reason) == (550, "5.7.1 message rejected as spam")
    assert waits == []
    assert len(relay.refused) == 1


def test_refused_recipient_is_permanent(relay: RecordingRelay) -> None:
    relay.answer(550, at="RCPT", text="5.1.1 no such user")
    with pytest.raises(PermanentSendError) as failed:
        sender_for(relay).send(notification())
    assert failed.value.code == 550
    assert "reporter@customer.example" in failed.value.reason


def test_temporarily_refused_recipient_is_transient(relay: RecordingRelay) -> None:
    relay.answer(450, at="RCPT", text="4.2.0 greylisted, come back later")
    with pytest.raises(TransientSendError) as failed:
        sender_for(relay).send(notification())
    assert failed.value.code == 450


def test_relay_down_is_transient(relay: RecordingRelay) -> None:
    relay.stop()
    with pytest.raises(TransientSendError) as failed:
        sender_for(relay).send(notification())
    assert failed.value.code is None
    assert "ConnectionRefusedError" in failed.value.reason


def test_relay_coming_back_during_backoff_gets_the_message(relay: RecordingRelay) -> None:
    relay.stop()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        relay.start()

    send_with_retry(
        sender_for(relay), notification(), attempts=3, base_delay=2, max_delay=8, sleep=sleep
    )
    assert waits == [2]
    assert len(relay.wait_for(1)) == 1


def test_relay_that_never_greets_times_out_as_transient() -> None:
    # the kernel completes the TCP handshake from the backlog; nobody ever answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = SmtpSettings(host="127.0.0.1", port=port, from_address=FROM, timeout_s=0.3)
        with pytest.raises(TransientSendError) as failed:
            SmtpSender(settings).send(notification())
    assert failed.value.code is None
    assert "timed out" in failed.value.reason


def test_send_errors_share_one_family() -> None:
    assert issubclass(TransientSendError, SendError)
    assert issubclass(PermanentSendError, SendError)
    assert not issubclass(PermanentSendError, TransientSendError)


# -- settings ---------------------------------------------------------------------------------


def test_password_is_masked_in_repr() -> None:
    settings = SmtpSettings(
        host="smtp.example.com", from_address=FROM, username=USER, password=PASSWORD
    )
    assert PASSWORD not in repr(settings)
    assert "password='***'" in repr(settings)
    assert f"username='{USER}'" in repr(settings)


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"from_address": "opsledger"}, "from_address"),
        ({"from_address": f"opsledger <{FROM}>"}, "from_address"),
        ({"ssl": True, "starttls": True}, "starttls"),
        ({"username": USER}, "password"),
        ({"port": 0}, "port"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_settings_name_the_bad_field(changes: dict[str, object], field_name: str) -> None:
    values: dict[str, object] = {"host": "smtp.example.com", "from_address": FROM, **changes}
    with pytest.raises(InputError) as bad:
        SmtpSettings(**values)  # type: ignore[arg-type]
    assert bad.value.field == field_name
