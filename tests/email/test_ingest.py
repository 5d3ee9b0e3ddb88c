"""Inbound mail through ``MailIngest`` into the embedded engine (``LocalBus``), on SQLite and
PostgreSQL: what opens a ticket, what threads onto one, and what is set aside and why.

Times are the shared FixedClock's (T0 = Monday 4 March 2024 09:00 UTC); the reopen window
is the default 7 days.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.email.blobs import BlobCorrupted, BlobStore
from opsledger.adapters.email.ingest import MailIngest
from opsledger.adapters.email.settings import EmailSettings, MailDefaults, RateLimit
from opsledger.adapters.kafka.bus import BusUnavailable, LocalBus
from opsledger.core import commands as c
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, FixedClock
from tests.conftest import T0
from tests.email.corpus_messages import (
    CORPUS_NOTIFICATION_ID,
    CUSTOMER,
    DESK,
    corpus,
    email_settings,
    mail,
    relayed,
)

FIRST = "<first.7c1d@contoso.com>"
Ingest = Callable[..., MailIngest]


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def make_ingest(engine: Engine, clock: FixedClock, blobs: BlobStore) -> Ingest:
    """``MailIngest`` on the engine, with settings from the JSON keys given."""

    def make(**data: Any) -> MailIngest:
        settings = email_settings(blobs.root, **data)
        return MailIngest(settings, LocalBus(engine), blobs, clock)

    return make


@pytest.fixture
def ingest(make_ingest: Ingest) -> MailIngest:
    return make_ingest()


def requests(engine: Engine) -> int:
    """How many service requests are open or were ever opened."""
    return engine.last_number(RecordKind.SERVICE_REQUEST)


def events(engine: Engine, number: str) -> list[str]:
    return [entry.event for entry in engine.history(number)]


def open_request(ingest: MailIngest, clock: FixedClock) -> str:
    """REQ-000001 from CUSTOMER's first mail (Message-ID FIRST)."""
    assert ingest.accept(mail(message_id=FIRST, date=clock.now())) == "recorded"
    return "REQ-000001"


def resolve(engine: Engine, number: str) -> None:
    engine.execute(c.ResolveTicket(ticket=number, code="fixed", notes="toner replaced"))


# -- new mail and replies ----------------------------------------------------------------


def test_a_new_mail_opens_a_service_request_for_its_sender(
    engine: Engine, ingest: MailIngest, blobs: BlobStore, clock: FixedClock
) -> None:
    body = "Hello,\n\nthe printer on floor 3 shows 'offline'.\n\n-- \nAlice Chen\nContoso Ltd\n"
    raw = mail(
        message_id=FIRST,
        date=T0 - timedelta(minutes=5),
        body=body,
        attachments=[("error.log", "text/plain", b"E42 paper jam\n")],
    )
    assert ingest.accept(raw, mail_from=CUSTOMER, rcpts=[DESK]) == "recorded"

    ticket = engine.get("REQ-000001")
    assert (ticket["kind"], ticket["customer"], ticket["reporter"]) == (
        "service_request", CUSTOMER, CUSTOMER,
    )  # fmt: skip
    assert ticket["channel"] == "email"
    assert ticket["summary"] == "Printer on floor 3 offline"
    # the signature is cut from the description; the raw message keeps it
    assert ticket["description"] == "Hello,\n\nthe printer on floor 3 shows 'offline'."
    assert ticket["opened_at"] == (T0 - timedelta(minutes=5)).isoformat()  # the mail's Date
    received = [e for e in engine.history("REQ-000001") if e.event == "MailReceived"]
    assert len(received) == 1
    assert received[0].details["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert blobs.get(received[0].details["raw_sha256"]) == raw
    [attachment] = ticket["attachments"]
    assert attachment["filename"] == "error.log"
    assert attachment["size"] == len(b"E42 paper jam\n")
    assert blobs.get(attachment["sha256"]) == b"E42 paper jam\n"


def test_a_reply_with_the_token_behind_a_chinese_prefix_is_a_customer_reply(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = open_request(ingest, clock)
    reply = mail(
        message_id="<reply.1@contoso.com>",
        subject=f"回复: [{number}] Printer on floor 3 offline",
        body="Still offline after the restart.\n\n> The printer on floor 3 shows 'offline'\n",
    )
    assert ingest.accept(reply) == "recorded"
    assert requests(engine) == 1
    assert events(engine, number)[-2:] == ["MailReceived", "CustomerReplied"]
    [replied] = [e for e in engine.history(number) if e.event == "CustomerReplied"]
    assert replied.details["body"] == "Still offline after the restart."
    assert replied.actor == CUSTOMER


def test_a_reply_found_only_by_in_reply_to_threads_onto_its_ticket(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = open_request(ingest, clock)
    reply = mail(message_id="<reply.2@contoso.com>", subject="Re: printer", in_reply_to=FIRST)
    assert ingest.accept(reply) == "recorded"
    assert requests(engine) == 1
    assert engine.get(number)["mail_ids"] == [FIRST, "<reply.2@contoso.com>"]


def test_the_same_message_by_imap_and_by_smtp_is_recorded_once(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    raw = mail(message_id=FIRST, date=clock.now())
    assert ingest.accept(raw) == "recorded"
    assert ingest.accept(relayed(raw)) == "duplicate"  # other bytes, same Message-ID
    assert requests(engine) == 1
    assert events(engine, "REQ-000001").count("MailReceived") == 1


def test_a_mail_without_message_id_is_named_by_its_hash(engine: Engine, ingest: MailIngest) -> None:
    raw = mail(message_id=None)
    assert ingest.accept(raw) == "recorded"
    assert ingest.accept(raw) == "duplicate"
    digest = hashlib.sha256(raw).hexdigest()
    assert engine.get("REQ-000001")["mail_ids"] == [f"<{digest}@opsledger.invalid>"]


def test_a_reply_to_a_resolved_ticket_reopens_it_within_the_window(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = open_request(ingest, clock)
    resolve(engine, number)
    clock.advance(timedelta(days=6))  # inside the 7-day reopen window
    reply = mail(message_id="<reply.3@contoso.com>", subject=f"Re: [{number}] printer")
    assert ingest.accept(reply) == "recorded"
    ticket = engine.get(number)
    assert (ticket["state"], ticket["reopen_count"]) == ("new", 1)  # back where it was
    assert events(engine, number)[-3:] == ["Reopened", "MailReceived", "CustomerReplied"]
    assert requests(engine) == 1


def test_a_reply_after_the_reopen_window_opens_a_linked_follow_up(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = open_request(ingest, clock)
    resolve(engine, number)
    clock.advance(timedelta(days=8))  # 7-day window + 1 day
    reply = mail(message_id="<reply.4@contoso.com>", subject=f"Re: [{number}] printer again")
    assert ingest.accept(reply) == "recorded"
    assert engine.get(number)["state"] == "resolved"
    follow_up = engine.get("REQ-000002")
    assert follow_up["summary"] == "printer again"
    assert {"relation": "follow_up_of", "target": number}.items() <= follow_up["links"][0].items()


def test_an_out_of_office_reply_is_recorded_and_never_reopens(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = open_request(ingest, clock)
    resolve(engine, number)
    away = mail(
        message_id="<away.1@contoso.com>",
        subject=f"Automatic reply: [{number}] Printer on floor 3 offline",
        body="I am out of the office until Monday.\n",
        headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
        in_reply_to=FIRST,
    )
    assert ingest.accept(away) == "recorded"
    ticket = engine.get(number)
    assert (ticket["state"], ticket["auto_replies"], ticket["customer_replies"]) == (
        "resolved", 1, 0,
    )  # fmt: skip


def test_an_out_of_office_reply_to_no_ticket_is_set_aside(
    engine: Engine, ingest: MailIngest
) -> None:
    outcome = ingest.accept(corpus("out_of_office_outlook_automatic_reply.eml"))
    assert outcome.startswith("set aside:")
    assert requests(engine) == 0
    assert len(engine.rejected_messages()) == 1


def test_a_bounce_of_a_sent_notification_is_recorded_on_its_ticket(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = open_request(ingest, clock)
    engine.execute(
        c.RecordNotification(
            ticket=number, outcome="sent", template="acknowledgement",
            recipients=("nobody@contoso.com",), message_id=CORPUS_NOTIFICATION_ID,
        )
    )  # fmt: skip
    assert ingest.accept(corpus("dsn_bounce_rfc822_headers.eml")) == "recorded"
    assert engine.get(number)["notifications"] == {"sent": 1, "failed": 0, "bounced": 1}
    assert requests(engine) == 1


# -- noise and loops -------------------------------------------------------------------------

NOISE = {
    "list": (corpus("mailing_list_post.eml"), {}, "ignored:"),
    "auto-generated": (corpus("auto_generated_notification.eml"), {}, "Auto-Submitted"),
    "own address": (
        mail(message_id="<own@example.org>", sender=DESK, sender_name="Desk"), {}, DESK,
    ),
    "denied": (
        mail(message_id="<spam@spam.test>", sender="offers@spam.test"),
        {"deny": ["@spam.test"]},
        "deny list",
    ),
    "not allowed": (
        mail(message_id="<x@elsewhere.test>", sender="bob@elsewhere.test"),
        {"allow": ["@contoso.com"]},
        "allow list",
    ),
    "bulk": (
        mail(message_id="<news@contoso.com>", headers={"Precedence": "bulk"}), {}, "bulk",
    ),
    "suppress": (
        mail(message_id="<ar@contoso.com>", headers={"X-Auto-Response-Suppress": "All"}),
        {},
        "X-Auto-Response-Suppress",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(NOISE))
def test_noise_is_set_aside_with_its_reason_and_opens_nothing(
    engine: Engine, make_ingest: Ingest, case: str
) -> None:
    raw, settings, reason = NOISE[case]
    outcome = make_ingest(**settings).accept(raw)
    assert outcome.startswith("ignored:") and reason in outcome
    assert requests(engine) == 0
    [kept] = engine.rejected_messages()
    assert (kept.source, kept.body) == ("email", raw)
    assert kept.reason.startswith("ignored: ") and reason in kept.reason
    assert kept.message_id == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_a_sender_over_the_rate_limit_is_set_aside_until_the_window_moves_on(
    engine: Engine, make_ingest: Ingest, clock: FixedClock
) -> None:
    ingest = make_ingest(rate_limit={"per_sender": 3, "window_s": 600})
    outcomes = [ingest.accept(mail(message_id=f"<n{i}@contoso.com>")) for i in range(4)]
    assert outcomes[:3] == ["recorded"] * 3
    assert outcomes[3].startswith("ignored:more than 3 mails from alice@contoso.com")
    assert ingest.accept(mail(message_id="<other@b.test>", sender="bob@b.test")) == "recorded"
    clock.advance(timedelta(seconds=601))  # the first three leave the 600 s window
    assert ingest.accept(mail(message_id="<n9@contoso.com>")) == "recorded"
    assert requests(engine) == 5
    assert [m.reason[:20] for m in engine.rejected_messages()] == ["ignored: more than 3"]


def test_an_unparseable_message_is_set_aside_whole(
    engine: Engine, ingest: MailIngest, blobs: BlobStore
) -> None:
    raw = b"\x00\x01 this is not mail at all \xff\xfe"
    assert ingest.accept(raw) == "set aside:unparseable: no mail headers"
    [kept] = engine.rejected_messages("email")
    digest = hashlib.sha256(raw).hexdigest()
    assert (kept.body, kept.message_id) == (raw, f"sha256:{digest}")
    assert blobs.get(digest) == raw


# -- the satisfaction survey -----------------------------------------------------------------

SURVEY_ID = "<survey.req-000001@desk.example.org>"


def surveyed(engine: Engine, ingest: MailIngest, clock: FixedClock) -> str:
    number = open_request(ingest, clock)
    resolve(engine, number)
    engine.execute(
        c.RecordNotification(
            ticket=number, outcome="sent", template="survey", recipients=(CUSTOMER,),
            message_id=SURVEY_ID,
        )
    )  # fmt: skip
    return number


def test_a_survey_answer_records_the_customers_score(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = surveyed(engine, ingest, clock)
    answer = mail(
        message_id="<score@contoso.com>",
        subject=f"Re: [{number}] How did we do?",
        body="4\n\n> Reply with a score from 1 (very unhappy) to 5 (very happy).\n",
        in_reply_to=SURVEY_ID,
    )
    assert ingest.accept(answer) == "recorded"
    ticket = engine.get(number)
    assert ticket["satisfaction"]["score"] == 4
    assert (ticket["complaints"], ticket["state"]) == (0, "resolved")


def test_an_unhappy_survey_answer_opens_a_complaint_linked_to_the_original(
    engine: Engine, ingest: MailIngest, clock: FixedClock
) -> None:
    number = surveyed(engine, ingest, clock)
    answer = mail(
        message_id="<unhappy@contoso.com>",
        subject="Re: How did we do?",
        body="1, very unhappy: nobody answered for two days.\n",
        in_reply_to=SURVEY_ID,
    )
    assert ingest.accept(answer) == "recorded"
    assert engine.get(number)["complaints"] == 1
    complaint = engine.get("REQ-000002")
    assert complaint["summary"].startswith(f"Complaint about {number}")
    assert any(
        link["relation"] == "relates_to" and link["target"] == number for link in complaint["links"]
    )


# -- the blob store ----------------------------------------------------------------------------


def test_blobs_are_written_once_and_checked_when_read(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"raw mail")
    assert digest == hashlib.sha256(b"raw mail").hexdigest()
    path = store.path(digest)
    assert path == tmp_path / digest[:2] / digest[2:]
    written = path.stat().st_mtime_ns
    assert store.put(b"raw mail") == digest and path.stat().st_mtime_ns == written
    assert store.has(digest) and store.get(digest) == b"raw mail"
    path.write_bytes(b"tampered")
    with pytest.raises(BlobCorrupted):
        store.get(digest)
    with pytest.raises(InputError, match="sha256"):
        store.get("../../etc/passwd")
    assert not store.has("0" * 64)


# -- settings ----------------------------------------------------------------------------------

IMAP = {"host": "imap.example.org", "username": "desk", "password": "from-the-file"}


def test_settings_come_from_the_json_file_with_secrets_from_the_environment(
    tmp_path: Path,
) -> None:
    config = tmp_path / "email.json"
    config.write_text(
        json.dumps(
            {
                "addresses": [DESK, "@support.example.org"],
                "smtp_in": {"port": 2525},
                "imap": {**IMAP, "use_ssl": True, "mode": "flag"},
                "smtp_out": {
                    "host": "relay.example.org", "port": 587, "starttls": True,
                    "username": "desk", "from_address": "noreply@example.org",
                },
                "deny": ["@spam.test"],
                "defaults": {"kind": "incident", "service": "printing", "urgency": "high"},
            }
        )
    )  # fmt: skip
    env = {
        "OPSLEDGER_EMAIL_CONFIG": str(config),
        "OPSLEDGER_EMAIL_ENABLED": "yes",
        "OPSLEDGER_EMAIL_IMAP_PASSWORD": "imap-secret-1",
        "OPSLEDGER_EMAIL_SMTP_PASSWORD": "smtp-secret-2",
    }
    settings = EmailSettings.from_env(env)
    assert settings.enabled
    assert settings.smtp_in is not None and settings.smtp_in.accepted == settings.addresses
    assert settings.imap is not None and settings.imap.password == "imap-secret-1"
    assert settings.smtp_out is not None and settings.smtp_out.password == "smtp-secret-2"
    # the domain is accepted at the SMTP endpoint, but colleagues' mail from it is not ours
    assert settings.own_addresses == {DESK, "noreply@example.org"}
    assert settings.rate_limit == RateLimit(per_sender=20, window_s=3600)
    assert settings.defaults == MailDefaults(
        kind="incident", service="printing", impact="medium", urgency="high"
    )
    shown = repr(settings)
    assert "imap-secret-1" not in shown and "smtp-secret-2" not in shown
    assert not EmailSettings.from_env({}).enabled


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"imap": {**IMAP, "port": "143"}}, "imap.port"),
        ({"imap": {**IMAP, "use_ssl": "no"}}, "imap.use_ssl"),
        ({"imap": {**IMAP, "hots": "x"}}, "imap.hots"),
        ({"imap": {**IMAP, "mode": "delete"}}, "imap.mode"),
        ({"imap": {"host": "imap.example.org", "username": "desk"}}, "imap.password"),
        ({"addresses": [], "smtp_in": {}}, "addresses"),
        ({"addresses": ["desk"]}, "addresses"),
        ({"smtp_in": {"port": 70000}}, "smtp_in.port"),
        (
            {"smtp_out": {"host": "relay", "from_address": "Desk <d@x.org>"}},
            "smtp_out.from_address",
        ),
        ({"rate_limit": {"per_sender": 0}}, "rate_limit.per_sender"),
        ({"rate_limit": {"window_s": "1h"}}, "rate_limit.window_s"),
        ({"defaults": {"kind": "change"}}, "defaults.kind"),
        ({"defaults": {"impact": "huge"}}, "defaults.impact"),
        ({"deny": "@spam.test"}, "deny"),
        ({"blob_dir": ""}, "blob_dir"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as refused:
        EmailSettings.from_mapping({"addresses": [DESK], **data})
    assert refused.value.field == field


def test_the_notify_section_is_read_by_the_notifiers_own_settings() -> None:
    settings = EmailSettings.from_mapping({"notify": {"from_address": DESK, "language": "zh"}})
    notify = settings.notify_settings()
    assert notify is not None and notify.language == "zh"
    assert DESK in settings.own_addresses
    with pytest.raises(InputError) as refused:
        EmailSettings.from_mapping({"notify": {"from_address": "nobody"}}).notify_settings()
    assert refused.value.field == "notify.from_address"


def test_raw_mail_is_kept_in_a_table_beside_the_events_and_read_back_by_hash(
    tmp_path: Path,
) -> None:
    from opsledger.adapters.email.blobs import BlobCorrupted, BlobTable

    table = BlobTable.sqlite(str(tmp_path / "events.db"))
    try:
        digest = table.put(b"raw mail")
        assert table.put(b"raw mail") == digest  # the same bytes: nothing written twice
        assert table.has(digest) and table.get(digest) == b"raw mail"
        table._run("UPDATE opsledger_mail_blobs SET data = ?", (b"tampered",))
        with pytest.raises(BlobCorrupted):
            table.get(digest)
        with pytest.raises(InputError):
            table.get("not-a-hash")
    finally:
        table.close()


class FlakyBus(LocalBus):
    """The embedded bus, down until told otherwise (a broker or database outage)."""

    down = True

    def submit(self, commands: Any, **kw: Any) -> Any:
        if self.down:
            raise BusUnavailable("broker down")
        return super().submit(commands, **kw)


def test_retries_of_a_mail_the_bus_could_not_take_do_not_use_up_the_rate_limit(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    blobs = BlobStore(tmp_path / "b")
    bus = FlakyBus(engine)
    limited = email_settings(blobs.root, rate_limit={"per_sender": 3, "window_s": 3600})
    ingest = MailIngest(limited, bus, blobs, clock)
    raw = mail(message_id="<only-one@contoso.com>", date=clock.now())
    for _ in range(3):  # the IMAP poller or the sending server tries the one mail again
        with pytest.raises(BusUnavailable):
            ingest.accept(raw)
    bus.down = False
    assert ingest.accept(raw) == "recorded"


def test_a_store_failure_keeps_the_mail_for_a_retry_instead_of_setting_it_aside(
    engine: Engine, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = BlobStore(tmp_path / "b")
    ingest = MailIngest(email_settings(blobs.root), LocalBus(engine), blobs, clock)
    assert ingest.accept(mail(message_id="<first@contoso.com>", date=clock.now())) == "recorded"
    read = engine.app.repository.get
    failures = [sqlite3.OperationalError("disk I/O error")]  # one transient read failure

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return read(*args, **kwargs)

    monkeypatch.setattr(engine.app.repository, "get", flaky)
    reply = mail(
        message_id="<r1@contoso.com>", subject="Re: [REQ-000001] Printer", body="Still offline.\n"
    )
    with pytest.raises(BusUnavailable):  # SMTP answers 451, IMAP leaves it in the mailbox
        ingest.accept(reply)
    assert ingest.accept(reply) == "recorded"  # the retry
    assert engine.get("REQ-000001")["customer_replies"] == 1
