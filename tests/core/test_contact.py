"""Mail threading, bounces, surveys and the satisfaction call-back, decided inside commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from opsledger.core.commands import IngestMail, RecordCallback, RecordNotification

from opsledger import DomainError, Engine, FixedClock, InputError, NotFoundError
from tests.conftest import T0

M, H, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
CUSTOMER = "li.wei@example.cn"
#: A desk that owes its customers a call-back within 24 h of every resolution.
CALLBACK_OLA = {
    "name": "desk-callback",
    "agreement": "ola",
    "groups": ["service-desk"],
    "calendars": {"24x7": {"timezone": "UTC", "always_open": True}},
    "targets": {
        p: {"calendar": "24x7", "callback_minutes": 1440} for p in ("P1", "P2", "P3", "P4")
    },
}


@pytest.fixture
def desk(engine: Engine) -> Engine:
    """The shared engine fixture (tests/conftest.py), under this module's name for it."""
    return engine


def mail(engine: Engine, message_id: str, **fields: Any) -> str:
    fields.setdefault("sender", CUSTOMER)
    fields.setdefault("subject", "VPN does not connect")
    fields.setdefault("body", "Since this morning the VPN client times out.")
    command = IngestMail(
        message_id=message_id,
        idempotency_key=f"mail:{message_id}",
        actor=fields["sender"],
        **fields,
    )
    return engine.execute(command).number


def sent(engine: Engine, ticket: str, message_id: str, template: str = "acknowledgement") -> None:
    engine.execute(
        RecordNotification(
            ticket=ticket,
            outcome="sent",
            template=template,
            recipients=(CUSTOMER,),
            message_id=message_id,
            actor="notifier",
        )
    )


def test_a_new_mail_opens_a_service_request_for_its_sender(desk: Engine) -> None:
    number = mail(
        desk,
        "<m1@example.cn>",
        language="zh",
        raw_sha256="ab" * 32,
        attachments=(
            {"filename": "log.txt", "content_type": "text/plain", "size": 12, "sha256": "cd" * 32},
        ),
    )
    ticket = desk.get(number)
    assert number == "REQ-000001"
    assert (ticket["customer"], ticket["reporter"], ticket["channel"]) == (CUSTOMER,) * 2 + (
        "email",
    )
    assert ticket["summary"] == "VPN does not connect"
    assert ticket["mail_ids"] == ["<m1@example.cn>"]
    assert ticket["contact_language"] == "zh"
    assert ticket["attachments"][0]["sha256"] == "cd" * 32
    assert ticket["external_refs"] == [{"system": "email", "reference": "<m1@example.cn>"}]


def test_replies_thread_by_token_then_by_the_message_ids_the_ticket_recorded(
    desk: Engine, clock: FixedClock
) -> None:
    number = mail(desk, "<m1@example.cn>")
    sent(desk, number, "<ack-1@desk.example>")
    # by the token in the subject, whatever the headers say
    assert mail(desk, "<m2@example.cn>", token=number, subject="回复: VPN") == number
    # by In-Reply-To: a reply to our acknowledgement
    assert mail(desk, "<m3@example.cn>", thread=("<ack-1@desk.example>",)) == number
    # by References, deeper in the thread
    assert mail(desk, "<m4@example.cn>", thread=("<x@elsewhere>", "<m2@example.cn>")) == number
    # a token of no ticket here is ignored: the headers decide
    assert mail(desk, "<m5@example.cn>", token="REQ-000999", thread=("<m1@example.cn>",)) == number
    ticket = desk.get(number)
    assert ticket["customer_replies"] == 4
    assert ticket["mail_ids"][:3] == ["<m1@example.cn>", "<ack-1@desk.example>", "<m2@example.cn>"]


def test_the_same_mail_twice_is_recorded_once(desk: Engine) -> None:
    number = mail(desk, "<m1@example.cn>")
    mail(desk, "<m2@example.cn>", thread=("<m1@example.cn>",))
    head = desk.app.recorder.max_notification_id()
    mail(desk, "<m2@example.cn>", thread=("<m1@example.cn>",))
    assert desk.app.recorder.max_notification_id() == head
    assert desk.get(number)["customer_replies"] == 1


def test_a_reply_to_a_resolved_ticket_reopens_it_within_the_window_and_follows_up_after(
    desk: Engine, clock: FixedClock
) -> None:
    number = mail(desk, "<m1@example.cn>")
    desk.resolve(number, "fixed", actor="agent")
    clock.advance(2 * DAY)
    assert mail(desk, "<m2@example.cn>", thread=("<m1@example.cn>",)) == number
    assert desk.get(number)["state"] != "resolved"
    assert desk.get(number)["reopen_count"] == 1
    desk.resolve(number, "fixed again", actor="agent")
    clock.advance(8 * DAY)  # past the 7-day reopen window
    follow_up = mail(desk, "<m3@example.cn>", thread=("<m2@example.cn>",))
    assert follow_up != number
    links = [(x["relation"], x["target"]) for x in desk.get(follow_up)["links"]]
    assert ("follow_up_of", number) in links
    assert desk.get(number)["state"] == "resolved"


def test_an_out_of_office_reply_is_recorded_and_never_reopens(desk: Engine) -> None:
    number = mail(desk, "<m1@example.cn>")
    sent(desk, number, "<ack-1@desk.example>")
    desk.resolve(number, "fixed", actor="agent")
    ooo = mail(
        desk,
        "<ooo@example.cn>",
        mail_kind="out_of_office",
        thread=("<ack-1@desk.example>",),
        subject="自动回复: VPN",
    )
    ticket = desk.get(number)
    assert ooo == number
    assert (ticket["state"], ticket["auto_replies"], ticket["customer_replies"]) == (
        "resolved",
        1,
        0,
    )
    with pytest.raises(NotFoundError):
        mail(desk, "<ooo2@example.cn>", mail_kind="out_of_office", thread=("<nobody@x>",))


def test_a_bounce_is_recorded_against_the_notification_that_bounced(desk: Engine) -> None:
    number = mail(desk, "<m1@example.cn>")
    sent(desk, number, "<ack-1@desk.example>")
    bounce = mail(
        desk,
        "<dsn-1@mx.example.cn>",
        sender="mailer-daemon@mx.example.cn",
        mail_kind="bounce",
        bounced_message_id="<ack-1@desk.example>",
        bounce_status="5.1.1 user unknown",
    )
    assert bounce == number
    ticket = desk.get(number)
    assert ticket["notifications"] == {"sent": 1, "failed": 0, "bounced": 1}
    assert ticket["customer_replies"] == 0  # a bounce is no reply and opened nothing
    with pytest.raises(NotFoundError):
        mail(
            desk,
            "<dsn-2@mx>",
            sender="mailer-daemon@mx",
            mail_kind="bounce",
            bounced_message_id="<never-sent@desk.example>",
        )
    with pytest.raises(InputError) as caught:
        mail(desk, "<dsn-3@mx>", sender="mailer-daemon@mx", mail_kind="bounce")
    assert caught.value.field == "bounced_message_id"


def test_a_survey_answer_records_the_score_and_a_low_one_a_complaint(desk: Engine) -> None:
    number = mail(desk, "<m1@example.cn>")
    desk.resolve(number, "fixed", actor="agent")
    sent(desk, number, "<survey-1@desk.example>", template="survey")
    mail(desk, "<s1@example.cn>", thread=("<survey-1@desk.example>",), body="4", survey_score=4)
    ticket = desk.get(number)
    assert ticket["satisfaction"] == {"score": 4, "comment": "4"}
    assert ticket["state"] == "resolved"  # an answer to the survey reopens nothing
    mail(
        desk,
        "<s2@example.cn>",
        thread=("<survey-1@desk.example>",),
        body="1 - nobody called me back",
        survey_score=1,
    )
    assert desk.get(number)["complaints"] == 1
    complaint = desk.get("REQ-000002")
    assert (complaint["group"], complaint["assignee"]) == ("service-desk", "service-desk-lead")
    assert ("relates_to", number) in [(x["relation"], x["target"]) for x in complaint["links"]]


def test_resolution_under_a_callback_ola_starts_a_24_hour_call_back(
    desk: Engine, clock: FixedClock
) -> None:
    desk.define_policy(CALLBACK_OLA, actor="sla-admin", at=T0 - DAY)
    number = mail(desk, "<m1@example.cn>")
    resolved_at = clock.now()
    desk.resolve(number, "fixed", actor="agent")
    callback = desk.get(number)["callback"]
    assert callback == {
        "group": "service-desk",
        "requested_at": resolved_at.isoformat(),
        "outcome": None,
    }
    [status] = [s for s in desk.sla_status(number, as_of=resolved_at) if s.metric == "callback"]
    # 24x7 calendar: due exactly 1,440 minutes after the resolution
    assert (status.agreement, status.state, status.due) == ("ola", "running", resolved_at + DAY)
    clock.advance(3 * H)
    desk.execute(
        RecordCallback(ticket=number, reached=True, score=5, comment="all good", actor="agent-amy")
    )
    ticket = desk.get(number)
    assert ticket["satisfaction"] == {"score": 5, "comment": "all good"}
    assert ticket["callback"]["outcome"]["reached"] is True
    [status] = [s for s in desk.sla_status(number, as_of=clock.now()) if s.metric == "callback"]
    assert (status.state, status.elapsed) == ("met", 3 * H)


def test_a_reopen_cancels_the_call_back_and_closing_keeps_it(
    desk: Engine, clock: FixedClock
) -> None:
    desk.define_policy(CALLBACK_OLA, actor="sla-admin", at=T0 - DAY)
    number = mail(desk, "<m1@example.cn>")
    desk.resolve(number, "fixed", actor="agent")
    desk.reopen(number, "not fixed", actor="agent")
    states = [s.state for s in desk.sla_status(number, as_of=clock.now()) if s.metric == "callback"]
    assert states == ["cancelled"]
    with pytest.raises(DomainError):  # the call-back went with the resolution
        desk.execute(RecordCallback(ticket=number, reached=False, actor="amy"))
    desk.resolve(number, "fixed now", actor="agent")
    desk.close_ticket(number, actor="agent")
    states = [s.state for s in desk.sla_status(number, as_of=clock.now()) if s.metric == "callback"]
    assert states == ["cancelled", "running"]


def test_a_call_back_not_reached_gives_no_score_and_a_complaint_opens_a_ticket(
    desk: Engine,
) -> None:
    desk.define_policy(CALLBACK_OLA, actor="sla-admin", at=T0 - DAY)
    number = mail(desk, "<m1@example.cn>")
    with pytest.raises(DomainError):  # resolved but no call-back asked for yet: still open
        desk.execute(RecordCallback(ticket=number, reached=False, actor="amy"))
    desk.resolve(number, "fixed", actor="agent")
    with pytest.raises(InputError) as caught:
        desk.execute(RecordCallback(ticket=number, reached=False, score=3, actor="amy"))
    assert caught.value.field == "score"
    desk.execute(RecordCallback(ticket=number, reached=True, score=2, comment="slow", actor="amy"))
    assert desk.get(number)["complaints"] == 1
    assert desk.get("REQ-000002")["summary"].startswith(f"Complaint about {number}")


def test_an_answer_to_the_survey_without_a_score_is_a_reply_that_reopens(
    desk: Engine, clock: FixedClock
) -> None:
    number = mail(desk, "<m1@example.cn>")
    desk.resolve(number, "fixed", actor="agent")
    sent(desk, number, "<survey-1@desk.example>", template="survey")
    clock.advance(H)
    mail(
        desk,
        "<s1@example.cn>",
        thread=("<survey-1@desk.example>",),
        body="It is jammed again, please send someone",
    )
    ticket = desk.get(number)
    assert (ticket["reopen_count"], ticket["customer_replies"], ticket["satisfaction"]) == (
        1,
        1,
        None,
    )
    assert ticket["state"] != "resolved"
