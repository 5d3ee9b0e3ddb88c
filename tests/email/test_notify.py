"""Notifications decided from the events and received by a real SMTP relay, headers included.

The desk is a real engine whose event hook calls the Notifier (as the email plugin does), the
embedded bus, and a recording aiosmtpd relay on loopback as the outbound server. Delivery
(retries, failures, crashes, the thread) is in test_notify_delivery.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.email.notify import GroupContact, Notifier, NotifySettings
from opsledger.adapters.email.sending import CHANNEL
from opsledger.adapters.email.smtp_out import SmtpSender, SmtpSettings
from opsledger.adapters.kafka.bus import LocalBus
from opsledger.core.commands import IngestMail
from opsledger.plugins import hookimpl
from opsledger.plugins.context import HostContext
from opsledger.plugins.manager import build_manager
from opsledger.plugins.outbox import Outbox, OutboxRow

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.core.test_scheduler import POLICY  # 24x7: respond in 10 min, resolve in 60
from tests.email.smtp_relay import RecordingRelay

DESK = "desk@ops.example.com"
SETTINGS = NotifySettings(
    from_address=DESK,
    from_name="Service Desk",
    message_id_domain="ops.example.com",
    groups={
        "dba": GroupContact(address="dba@ops.example.com", manager="mia"),
        "network": GroupContact(address="net@ops.example.com", manager="noc-lead@ops.example.com"),
    },
    people={"ann": "ann@ops.example.com", "mia": "mia@ops.example.com"},
    contacts={"wang@kunde.example": "zh"},
    attempts=5,
    base_delay_s=30,
    max_delay_s=3600,
    poll_interval_s=0.02,
)


class Reactions:
    """The plugin object the email adapter registers, reduced to its event hook."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.seen: list[tuple[Any, Any]] = []

    @hookimpl
    def opsledger_event_recorded(self, event: Any, record: Any, context: HostContext) -> None:
        self.seen.append((event, record))
        self.notifier.react(event, record, context)


@dataclass
class Desk:
    engine: Engine
    bus: LocalBus
    notifier: Notifier
    reactions: Reactions
    relay: RecordingRelay
    clock: FixedClock
    mails: list[str] = field(default_factory=list)

    @property
    def context(self) -> HostContext:
        return self.engine.plugins.context

    def drain(self) -> int:
        return self.notifier.drain_once(self.bus, self.context)

    def outbox(self, ticket: str | None = None) -> list[OutboxRow]:
        return self.context.tables(Outbox).rows(CHANNEL, ticket)

    def position(self, event: str, number: str) -> int:
        """The log position of the last ``event`` recorded on ticket ``number``."""
        found = [
            record.position
            for e, record in self.reactions.seen
            if type(e).__name__ == event and self.context.number_of(e.originator_id) == number
        ]
        assert found, f"no {event} on {number}"
        return int(found[-1])

    def mail(self, message_id: str, sender: str, subject: str, body: str, **kw: Any) -> str:
        """A customer's mail, as the inbound adapter submits it; the ticket number."""
        command = IngestMail(
            message_id=message_id, sender=sender, subject=subject, body=body, actor=sender,
            idempotency_key="mail:" + message_id, **kw,
        )  # fmt: skip
        (receipt,) = self.bus.submit([command])
        assert receipt.error is None, receipt.error
        assert receipt.outcome is not None
        return str(receipt.outcome.number)

    def events(self, number: str, name: str) -> list[dict[str, Any]]:
        return [
            dict(h.details, actor=h.actor) for h in self.engine.history(number) if h.event == name
        ]


@pytest.fixture
def relay() -> Iterator[RecordingRelay]:
    with RecordingRelay() as running:
        yield running


@pytest.fixture
def make_desk(relay: RecordingRelay) -> Iterator[Callable[..., Desk]]:
    """Builds desks on given store settings; closes their engines afterwards."""
    engines: list[Engine] = []

    def build(store: Settings, **changes: Any) -> Desk:
        settings = replace(SETTINGS, **changes)
        sender = SmtpSender(
            SmtpSettings(
                host=relay.host, port=relay.port, from_address=DESK, timeout_s=5.0,
                local_hostname="opsledger.test",
            )
        )  # fmt: skip
        notifier = Notifier(settings, sender)
        reactions = Reactions(notifier)
        pm = build_manager()
        pm.register(reactions, name="email-notify")
        clock = FixedClock(T0)
        engine = Engine(store, clock=clock, plugins=pm)
        engines.append(engine)
        return Desk(engine, LocalBus(engine, source="email"), notifier, reactions, relay, clock)

    yield build
    for engine in engines:
        engine.close()


@pytest.fixture
def desk(make_desk: Callable[..., Desk], tmp_path: Path) -> Desk:
    """A desk on SQLite (tests that also need PostgreSQL take ``backend`` themselves)."""
    return make_desk(Settings(db_path=str(tmp_path / "events.db")))


def ticket_for(desk: Desk, customer: str = "pat@customer.example", **fields: Any) -> str:
    values = {"actor": "agent", "reporter": customer, "customer": customer, "group": "dba"}
    return desk.engine.open_request("Printer on floor 3 jams", **{**values, **fields}).number


def templates(desk: Desk, number: str) -> list[str]:
    return [row.payload["template"] for row in desk.outbox(number)]


def test_a_ticket_opened_by_an_alert_queues_nothing(desk: Desk) -> None:
    number = desk.engine.ingest(
        "alertmanager", "fp-1", "open", summary="disk full on db-1", impact="high", urgency="high"
    ).number
    assert desk.engine.get(number)["reporter"] == "alertmanager"
    assert desk.outbox() == []
    assert desk.drain() == 0
    assert desk.relay.received == [] and desk.engine.dead_letters() == []


def test_acknowledgement_answers_the_customers_mail_with_threading_headers(
    make_desk: Callable[..., Desk], backend: Settings
) -> None:
    desk = make_desk(backend)
    number = desk.mail(
        "<m1@customer.example>", "pat@customer.example", "Printer on floor 3 jams",
        "It jams on every page.", language="en",
    )  # fmt: skip
    assert desk.drain() == 1
    [got] = desk.relay.received
    received = got.message()
    message_id = desk.notifier.message_id(
        desk.position("Opened", number), "acknowledgement", ("pat@customer.example",)
    )
    assert message_id.startswith(f"<{desk.position('Opened', number)}.acknowledgement.")
    assert got.mail_from == DESK and got.rcpt_tos == ("pat@customer.example",)
    assert {name: received[name] for name in HEADERS} == {
        "From": "Service Desk <desk@ops.example.com>",
        "To": "pat@customer.example",
        "Subject": f"[{number}] Received: Printer on floor 3 jams",
        "Message-ID": message_id,
        "In-Reply-To": "<m1@customer.example>",
        "References": "<m1@customer.example>",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "Content-Language": "en",
        "Date": format_datetime(T0),
    }
    assert received["Precedence"] is None  # bulk would make some servers drop it
    assert f"logged it as {number}" in received.get_content()
    # recorded on the ticket: the Message-ID joins the thread, so a reply to it threads back
    ticket = desk.engine.get(number)
    assert ticket["notifications"] == {"sent": 1, "failed": 0, "bounced": 0}
    assert ticket["mail_ids"] == ["<m1@customer.example>", message_id]
    [recorded] = desk.events(number, "NotificationRecorded")
    assert recorded["outcome"] == "sent" and recorded["template"] == "acknowledgement"
    assert (recorded["message_id"], recorded["attempts"], recorded["actor"]) == (
        message_id,
        1,
        "notifier",
    )
    reply = desk.mail(
        "<m2@customer.example>", "pat@customer.example", "Re: your ticket", "Still jams.",
        thread=(message_id,),
    )  # fmt: skip
    assert reply == number  # threaded by In-Reply-To alone (no token in that subject)
    # the customer's reply is not echoed back to them
    assert templates(desk, number) == ["acknowledgement"]
    desk.clock.advance(timedelta(minutes=5))
    desk.engine.comment(number, "Please power-cycle it.", actor="ann")
    assert desk.drain() == 1
    answer = desk.relay.received[-1].message()
    assert answer["In-Reply-To"] == "<m2@customer.example>"
    assert answer["References"].split() == [
        "<m1@customer.example>",
        message_id,
        "<m2@customer.example>",
    ]
    assert answer["Auto-Submitted"] == "auto-generated"


HEADERS = (
    "From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
    "X-Auto-Response-Suppress", "Content-Language", "Date",
)  # fmt: skip


def test_references_keep_the_first_and_the_latest_nine_ids(desk: Desk) -> None:
    number = desk.mail("<m0@customer.example>", "pat@customer.example", "VPN drops", "drops")
    for i in range(1, 12):
        desk.mail(
            f"<m{i}@customer.example>", "pat@customer.example", f"[{number}] more", f"{i}",
            token=number,
        )  # fmt: skip
    desk.engine.comment(number, "Looking into it.", actor="ann")
    desk.drain()
    answer = desk.relay.received[-1].message()
    # the acknowledgement went out (and joined the thread) after m1..m11 arrived, just
    # before the comment: the comment refers to m0 and the nine latest, the last being it
    thread = [i for i in desk.engine.get(number)["mail_ids"] if i != answer["Message-ID"]]
    assert len(thread) == 13  # m0..m11 and the acknowledgement
    refs = answer["References"].split()
    assert refs == [thread[0], *thread[-9:]] and refs[0] == "<m0@customer.example>"
    assert answer["In-Reply-To"] == thread[-1]


def test_chinese_contact_gets_the_chinese_templates(desk: Desk) -> None:
    # The mail's Date is two minutes before it arrived: the ticket opens then, and learns the
    # contact's language from the mail recorded at arrival; the acknowledgement still knows it.
    detected = desk.mail(
        "<c1@kunde.example>", "li@kunde.example", "打印机卡纸", "三楼的打印机每页都卡纸。",
        language="zh", occurred_at=T0 - timedelta(minutes=2),
    )  # fmt: skip
    configured = ticket_for(desk, "wang@kunde.example", group="network")  # settings: zh
    english = ticket_for(desk, "pat@customer.example")
    assert desk.drain() == 3
    by_ticket = {m.message()["Subject"].split("]")[0][1:]: m.message() for m in desk.relay.received}
    li = by_ticket[detected]
    assert li["Subject"] == f"[{detected}] 已收到您的请求：打印机卡纸"
    assert li["Content-Language"] == "zh"
    assert f"我们已收到您的请求，编号为 {detected}。" in li.get_content()
    assert (
        by_ticket[configured]["Subject"]
        == f"[{configured}] 已收到您的请求：Printer on floor 3 jams"
    )
    assert by_ticket[english]["Content-Language"] == "en"
    # raw bytes are 7-bit: an encoded-word subject and a base64 body
    raw = next(m.raw for m in desk.relay.received if b"li@kunde.example" in m.raw)
    assert raw.isascii() and b"=?utf-8?" in raw.lower()


def test_public_comments_reach_the_contact_and_the_customers_own_words_do_not_echo(
    desk: Desk,
) -> None:
    number = ticket_for(desk)
    desk.clock.advance(timedelta(minutes=5))
    desk.engine.comment(number, "Which tray does it jam in?", actor="ann")
    desk.engine.comment(number, "internal: toner low too", public=False, actor="ann")
    desk.engine.customer_reply(number, "Tray 2.", actor="pat@customer.example")
    desk.engine.comment(number, "Also tray 1.", actor="pat@customer.example")
    assert templates(desk, number) == ["acknowledgement", "comment"]
    desk.drain()
    comment = desk.relay.received[-1].message()
    assert comment["Subject"] == f"[{number}] New comment: Printer on floor 3 jams"
    assert "ann wrote on" in comment.get_content()
    assert "Which tray does it jam in?" in comment.get_content()
    assert "toner" not in b"".join(m.raw for m in desk.relay.received).decode()


def test_resolution_sends_the_notes_and_a_survey_whose_reply_scores_the_ticket(
    desk: Desk,
) -> None:
    number = ticket_for(desk)
    desk.clock.advance(timedelta(hours=1))
    desk.engine.resolve(number, "fixed", notes="Replaced the pickup roller.", actor="ann")
    assert templates(desk, number) == ["acknowledgement", "resolution", "survey"]
    assert desk.drain() == 3
    resolution, survey = (m.message() for m in desk.relay.received[1:])
    assert resolution["Subject"] == f"[{number}] Resolved: Printer on floor 3 jams"
    assert "Replaced the pickup roller." in resolution.get_content()
    assert "Reply with a number from 1 (poor) to 5 (excellent)" in survey.get_content()
    assert survey["Message-ID"] != resolution["Message-ID"]
    desk.mail(
        "<s1@customer.example>", "pat@customer.example", f"Re: [{number}] How did we do?",
        "5\n\nquick and friendly", thread=(survey["Message-ID"],), survey_score=5,
    )  # fmt: skip
    assert desk.engine.get(number)["satisfaction"]["score"] == 5


def test_status_changes_reach_the_contact_only_when_they_concern_them(desk: Desk) -> None:
    number = ticket_for(desk)  # routed to dba while opening: the acknowledgement says enough
    steps: list[Callable[[], object]] = [
        lambda: desk.engine.assign(number, "network", actor="ann"),
        lambda: desk.engine.hold(number, "awaiting_customer", note="Send a photo.", actor="ann"),
        lambda: desk.engine.resume(number, actor="ann"),
        lambda: desk.engine.hold(number, "awaiting_vendor", actor="ann"),
        lambda: desk.engine.resume(number, actor="ann"),  # the customer never heard of it
        lambda: desk.engine.resolve(number, "fixed", actor="ann"),
        lambda: desk.engine.reopen(number, "jams again", actor="ann"),
        lambda: desk.engine.resolve(number, "fixed", notes="New roller.", actor="ann"),
        lambda: desk.engine.close_ticket(number, actor="ann"),
    ]
    for step in steps:
        desk.clock.advance(timedelta(minutes=1))
        step()
    assert templates(desk, number) == [
        "acknowledgement", "status.assigned", "status.on_hold", "status.resumed",
        "resolution", "survey", "status.reopened", "resolution", "survey", "status.closed",
    ]  # fmt: skip
    on_hold = desk.outbox(number)[2].payload
    assert on_hold["subject"] == f"[{number}] Waiting for your reply: Printer on floor 3 jams"
    assert "Send a photo." in on_hold["body"]
    assert "jams again" in desk.outbox(number)[6].payload["body"]
    # each resolution mail says what that resolution said, rendered when it was decided
    assert "New roller." in desk.outbox(number)[7].payload["body"]
    assert "New roller." not in desk.outbox(number)[4].payload["body"]
    assert desk.engine.dead_letters() == []


def test_sla_warnings_reach_assignee_and_group_and_a_breach_the_manager(desk: Desk) -> None:
    desk.engine.define_policy(POLICY, actor="sla-admin", at=T0)
    number = desk.engine.open_incident(
        "db-1 replication lag", actor="monitor", group="dba", assignee="ann"
    ).number
    # response target 10 minutes: 50 % at 09:05, 75 % at 09:07:30, 90 % at 09:09, breach
    # once 09:10 has passed
    desk.engine.tick(T0 + timedelta(minutes=5))
    desk.engine.tick(T0 + timedelta(minutes=11))
    rows = [row.payload for row in desk.outbox(number)]
    assert [r["template"] for r in rows] == ["sla_warning"] * 3 + ["sla_breach"]
    assert {tuple(r["recipients"]) for r in rows[:3]} == {
        ("ann@ops.example.com", "dba@ops.example.com")
    }
    # dba's manager is "mia", a name in people
    assert rows[3]["recipients"] == ["dba@ops.example.com", "mia@ops.example.com"]
    assert rows[0]["subject"] == f"[{number}] SLA warning: 50% of the response time used"
    assert rows[3]["subject"] == f"[{number}] SLA breach: response target missed"
    assert "due 2024-03-04 09:10 UTC" in rows[3]["body"]
    assert desk.drain() == 4
    breach = desk.relay.received[-1]
    assert breach.rcpt_tos == ("dba@ops.example.com", "mia@ops.example.com")
    assert breach.message()["Auto-Submitted"] == "auto-generated"


def test_a_retried_reaction_queues_nothing_twice(
    make_desk: Callable[..., Desk], backend: Settings
) -> None:
    desk = make_desk(backend)
    number = ticket_for(desk)
    desk.clock.advance(timedelta(minutes=1))
    desk.engine.resolve(number, "fixed", notes="done", actor="ann")
    before = desk.outbox()
    assert [r.payload["template"] for r in before] == ["acknowledgement", "resolution", "survey"]
    for event, record in list(desk.reactions.seen):  # the host retrying every reaction
        desk.notifier.react(event, record, desk.context)
    assert desk.outbox() == before
    assert desk.drain() == 3 and desk.drain() == 0
    assert len(desk.relay.received) == 3
