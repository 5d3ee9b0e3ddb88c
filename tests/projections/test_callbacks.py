"""The satisfaction call-back through the Engine: its queue, its KPIs and the report's rows.

The desk owes a call-back within 24 h (a 24x7 calendar, so business time is calendar time)
of every resolution. Expected instants and rates are worked out next to each scenario.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from opsledger.core.commands import IngestMail, RecordNotification
from opsledger.projections import kpis as K
from opsledger.projections.report import generate
from opsledger.projections.service import Projections

from opsledger import Engine, FixedClock, InputError
from tests.conftest import T0
from tests.core.test_contact import CALLBACK_OLA
from tests.projections.test_report import Page, check_figures, expected

H, DAY = timedelta(hours=1), timedelta(days=1)
MARCH = K.month("2024-03")


@pytest.fixture
def desk(engine: Engine) -> Engine:
    engine.define_policy(CALLBACK_OLA, actor="slm", at=T0 - DAY)
    return engine


def resolved(engine: Engine, summary: str = "VPN times out") -> str:
    """A P3 incident of li.wei's VPN, opened and resolved now."""
    number = engine.open_incident(
        summary,
        impact="medium",
        urgency="medium",
        service="vpn",
        customer="li.wei",
        actor="desk",
    ).number
    engine.resolve(number, "fixed", actor="desk")
    return number


def views(engine: Engine) -> Projections:
    projections = Projections(engine, ["ticket_facts"])
    projections.catch_up()
    return projections


def queue(engine: Engine, **kw: Any) -> list[dict[str, Any]]:
    with views(engine) as projections:
        return projections.callbacks(engine.clock.now(), **kw)


def facts(engine: Engine) -> list[dict[str, Any]]:
    with views(engine) as projections:
        return projections.facts()


def callback_fact(engine: Engine, number: str) -> dict[str, Any]:
    [doc] = [f for f in facts(engine) if f["number"] == number]
    return dict(doc["callback"])


def march(engine: Engine) -> K.Kpis:
    return K.kpis(facts(engine), MARCH.start, MARCH.end, label=MARCH.label)


def callback_clock(engine: Engine, number: str) -> str:
    [state] = [
        s.state for s in engine.sla_status(number, engine.clock.now()) if s.metric == "callback"
    ]
    return state


def test_a_resolution_under_the_ola_is_due_24_hours_later_in_the_queue(
    desk: Engine, clock: FixedClock
) -> None:
    clock.advance(2 * H)
    number = resolved(desk)  # resolved Mon 2024-03-04 11:00
    clock.advance(H)
    [entry] = queue(desk)
    # due: 11:00 + 1,440 min round the clock = Tue 2024-03-05 11:00; at 12:00, 23 h remain
    assert (entry["number"], entry["group"], entry["state"]) == (number, "service-desk", "resolved")
    assert entry["requested_at"] == "2024-03-04T11:00:00+00:00"
    assert entry["due"] == "2024-03-05T11:00:00+00:00"
    assert (entry["remaining_s"], entry["overdue"]) == (23 * 3600, False)
    assert (entry["summary"], entry["customer"], entry["priority"]) == (
        "VPN times out", "li.wei", "P3",
    )  # fmt: skip
    assert queue(desk, group="service-desk") == [entry]
    assert queue(desk, group="network") == []


def test_a_reached_call_back_with_a_score_leaves_the_queue_and_meets_its_clock(
    desk: Engine, clock: FixedClock
) -> None:
    number = resolved(desk)
    clock.advance(3 * H)
    desk.record_callback(number, reached=True, score=5, comment="all good", actor="amy")
    assert queue(desk) == []
    assert desk.get(number)["satisfaction"] == {"score": 5, "comment": "all good"}
    assert callback_clock(desk, number) == "met"
    fact = callback_fact(desk, number)
    # done 3 h after the resolution at 09:00: within target, decided at 12:00
    assert (fact["state"], fact["breached"], fact["score"]) == ("met", False, 5)
    assert fact["decided_at"] == fact["done_at"] == "2024-03-04T12:00:00+00:00"


def test_a_call_back_25_hours_after_the_resolution_is_overdue_then_breached(
    desk: Engine, clock: FixedClock
) -> None:
    number = resolved(desk)  # Mon 09:00, due Tue 09:00
    clock.advance(25 * H)  # Tue 10:00
    desk.tick()
    [entry] = queue(desk)
    assert (entry["overdue"], entry["remaining_s"]) == (True, -3600.0)
    desk.record_callback(number, reached=True, score=4, actor="amy")
    assert queue(desk) == []
    assert callback_clock(desk, number) == "breached"
    k = march(desk).callbacks
    # one requested and done, late: the breach counts at its due instant, Tue 09:00
    assert (k.requested, k.done, k.within_target, k.breached, k.within_target_rate) == (
        1, 1, 0, 1, 0.0,
    )  # fmt: skip
    assert callback_fact(desk, number)["decided_at"] == "2024-03-05T09:00:00+00:00"


def test_a_customer_not_reached_gives_no_score(desk: Engine, clock: FixedClock) -> None:
    number = resolved(desk)
    clock.advance(2 * H)
    with pytest.raises(InputError) as refused:
        desk.record_callback(number, reached=False, score=4, actor="amy")
    assert refused.value.field == "score"
    desk.record_callback(number, reached=False, comment="voicemail", actor="amy")
    assert desk.get(number)["satisfaction"] is None
    assert queue(desk) == []
    k = march(desk)
    assert (k.callbacks.done, k.callbacks.reached, k.callbacks.within_target) == (1, 0, 1)
    assert (k.satisfaction.surveyed, k.satisfaction.resolved) == (0, 1)


def test_a_complaint_with_a_low_score_opens_one_complaint_for_the_desk_lead(
    desk: Engine, clock: FixedClock
) -> None:
    number = resolved(desk)
    clock.advance(H)
    desk.record_callback(number, reached=True, score=2, comment="took a week", complaint=True,
                         actor="amy")  # fmt: skip
    assert desk.get(number)["complaints"] == 1  # a complaint and a score of 2: one complaint
    complaint = desk.get("REQ-000001")
    assert (complaint["group"], complaint["assignee"]) == ("service-desk", "service-desk-lead")
    assert ("relates_to", number) in [(x["relation"], x["target"]) for x in complaint["links"]]
    assert complaint["description"] == "took a week"
    k = march(desk)
    assert (k.complaints.count, k.complaints.tickets) == (1, 1)
    assert (k.satisfaction.average, k.callbacks.reached) == (2.0, 1)


def test_a_reopen_cancels_the_pending_call_back_and_the_next_resolution_asks_again(
    desk: Engine, clock: FixedClock
) -> None:
    number = resolved(desk)
    clock.advance(H)
    desk.reopen(number, "still broken", actor="li.wei")
    assert queue(desk) == []
    assert callback_fact(desk, number)["state"] == "cancelled"
    assert march(desk).callbacks == K.Callbacks()  # a cancelled call-back is in no count
    clock.advance(H)
    desk.resolve(number, "fixed for real", actor="desk")
    [entry] = queue(desk)
    assert entry["due"] == "2024-03-05T11:00:00+00:00"  # resolved again at 11:00, + 24 h
    assert march(desk).callbacks.requested == 1


def test_within_target_rate_of_three_call_backs(desk: Engine, clock: FixedClock) -> None:
    a = resolved(desk, "A")  # Mon 09:00, due Tue 09:00
    clock.advance(H)
    b = resolved(desk, "B")  # Mon 10:00, due Tue 10:00
    clock.advance(H)
    c = resolved(desk, "C")  # Mon 11:00, due Tue 11:00
    clock.set(T0 + 3 * H)
    desk.record_callback(a, reached=True, score=5, actor="amy")  # after 3 h: met
    clock.set(T0 + 25 * H)
    desk.record_callback(c, reached=False, actor="amy")  # Tue 10:00, after 23 h: met
    clock.set(T0 + 26 * H)
    desk.record_callback(b, reached=True, score=4, actor="amy")  # Tue 11:00, after 25 h: late
    k = march(desk)
    # 3 requested and done, 2 reached; within target A and C, breached B: 2 / (2 + 1)
    assert k.callbacks == K.Callbacks(requested=3, done=3, reached=2, within_target=2,
                                      breached=1, pending=0)  # fmt: skip
    assert k.callbacks.within_target_rate == pytest.approx(2 / 3)
    # scores of A (5) and B (4) of 3 resolved: average 4.5, response rate 2 / 3
    assert (k.satisfaction.average, k.satisfaction.surveyed, k.satisfaction.resolved) == (
        4.5, 2, 3,
    )  # fmt: skip
    assert k.to_dict()["callbacks"]["within_target_rate"] == pytest.approx(2 / 3)


def test_a_survey_answer_and_a_call_back_score_count_once_the_latest_winning(
    desk: Engine, clock: FixedClock
) -> None:
    number = resolved(desk)
    survey = "<survey-1@desk.example>"
    desk.execute(RecordNotification(ticket=number, outcome="sent", template="survey",
                                    recipients=("li.wei@example.cn",), message_id=survey,
                                    actor="notifier"))  # fmt: skip
    clock.advance(H)
    desk.record_callback(number, reached=True, score=5, actor="amy")
    clock.advance(H)
    desk.execute(IngestMail(message_id="<a1@example.cn>", sender="li.wei@example.cn",
                            subject="Re: how did we do?", body="3", survey_score=3,
                            thread=(survey,), actor="li.wei@example.cn",
                            idempotency_key="mail:<a1@example.cn>"))  # fmt: skip
    assert desk.get(number)["satisfaction"]["score"] == 3
    k = march(desk).satisfaction
    assert (k.resolved, k.surveyed, k.score_total) == (1, 1, 3)  # once, the survey's 3


def test_rebuilding_the_facts_from_the_log_gives_the_same_queue(
    desk: Engine, clock: FixedClock
) -> None:
    due = [resolved(desk, f"ticket {i}") for i in range(3)]
    clock.advance(H)
    desk.record_callback(due[0], reached=True, score=4, actor="amy")
    desk.reopen(due[1], "again", actor="li.wei")
    clock.advance(30 * H)
    desk.tick()
    with views(desk) as projections:
        before = projections.callbacks(clock.now())
        built = projections.facts()
        assert projections.rebuild("ticket_facts") > 0
        assert projections.callbacks(clock.now()) == before
        assert projections.facts() == built
    assert [(e["number"], e["overdue"]) for e in before] == [(due[2], True)]


def test_the_report_shows_the_call_back_row_in_both_editions(
    desk: Engine, clock: FixedClock
) -> None:
    test_within_target_rate_of_three_call_backs(desk, clock)
    as_of = T0 + 2 * DAY
    data = expected(facts(desk), "2024-03", "2023-10")
    labels = {"en": "OLA · satisfaction call-backs done within target",
              "zh": "运营级别协议 · 满意度回访按时完成率"}  # fmt: skip
    for lang, label in labels.items():
        document = generate(desk, "2024-03", fmt="html", lang=lang, as_of=as_of)
        page = Page(document)
        check_figures(page, data, facts(desk), "2024-03")
        assert page.one("kpis.callbacks.within_target_rate") == "66.7%"
        assert page.classes["kpis.callbacks.within_target_rate"] == "bad"  # below 90 %
        assert (page.one("kpis.callbacks.requested"), page.one("kpis.callbacks.done")) == (
            "3", "3",
        )  # fmt: skip
        assert page.one("kpis.satisfaction.average") == "4.50"
        assert label in document
        assert "callback_below" in [code for code, _ in page.findings]
        markdown = generate(desk, "2024-03", fmt="md", lang=lang, as_of=as_of)
        assert re.search(rf"^\| {re.escape(label)} \| \*\*66\.7%\*\* \| 90\.0% \|$", markdown, re.M)
    as_json = json.loads(generate(desk, "2024-03", fmt="json", as_of=as_of))
    assert as_json["kpis"]["callbacks"] == data["kpis"]["callbacks"]
    assert as_json["targets"]["callback"] == 0.9


def test_a_month_without_call_backs_shows_no_call_back_row(engine: Engine) -> None:
    engine.open_incident("no call-back policy here", actor="desk")
    document = generate(engine, "2024-03", fmt="html", as_of=T0 + DAY)
    assert "kpis.callbacks" not in document
    assert json.loads(generate(engine, "2024-03", fmt="json"))["kpis"]["callbacks"] == {
        "requested": 0, "done": 0, "reached": 0, "within_target": 0, "breached": 0,
        "pending": 0, "within_target_rate": None,
    }  # fmt: skip
