"""KPIs from the ticket facts, driven through the public Engine; every expectation by hand.

Each scenario writes its arithmetic next to the assertion, following docs/kpis.md: durations
in calendar seconds, a KPI counted in the window of its stop event, rates as count / total.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.core import commands as c
from opsledger.projections import kpis as K
from opsledger.projections.service import Projections

from opsledger import Engine, FixedClock, InputError, Settings

H, MIN = timedelta(hours=1), timedelta(minutes=1)
MARCH = K.month("2024-03")
FEB, APRIL = K.month("2024-02"), K.month("2024-04")
MARCH_S = 31 * 24 * 3600  # 2,678,400 s in March 2024 (UTC)


def mar(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def flat_policy(response: int = 30, resolution: int = 240) -> dict[str, Any]:
    """Round-the-clock targets, the same for every priority: business time = calendar time."""
    targets = {"calendar": "24x7", "response_minutes": response, "resolution_minutes": resolution}
    return {
        "name": "flat",
        "calendars": {"24x7": {"timezone": "UTC", "always_open": True}},
        "targets": {p: dict(targets) for p in ("P1", "P2", "P3", "P4")},
    }


def facts_of(engine: Engine) -> list[dict[str, Any]]:
    with Projections(engine) as projections:
        projections.catch_up()
        return projections.facts()


def month_kpis(facts: list[dict[str, Any]], window: K.Window = MARCH, **kw: Any) -> K.Kpis:
    return K.kpis(facts, window.start, window.end, label=window.label, **kw)


def incident(engine: Engine, at: datetime, priority: str = "P3", **kw: Any) -> str:
    impact, urgency = {
        "P1": ("high", "high"),
        "P2": ("high", "medium"),
        "P3": ("medium", "medium"),
    }[priority]
    opened = engine.open_incident("it broke", impact=impact, urgency=urgency, at=at, **kw)
    return opened.number


# -- MTTA, MTTR, SLA attainment ----------------------------------------------------------------


def desk_month(engine: Engine) -> dict[str, str]:
    """Seven incidents around March 2024 under the flat policy (response 30 min, res. 4 h)."""
    engine.define_policy(flat_policy(), actor="admin", at=datetime(2024, 2, 1, tzinfo=UTC))
    n: dict[str, str] = {}
    # I7 opened Feb 29 10:00 (leap year), acknowledged 10:05, resolved Mar 1 10:00: the
    # resolution breach (due Feb 29 14:00) is recorded at its due instant -> decided in Feb.
    n["I7"] = incident(engine, datetime(2024, 2, 29, 10, tzinfo=UTC), service="shop")
    engine.acknowledge(n["I7"], at=datetime(2024, 2, 29, 10, 5, tzinfo=UTC))
    engine.resolve(n["I7"], "fixed", at=mar(1, 10))
    n["I1"] = incident(engine, mar(4, 9), "P1", service="shop")
    engine.acknowledge(n["I1"], at=mar(4, 9, 10))
    engine.resolve(n["I1"], "fixed", at=mar(4, 11))
    n["I2"] = incident(engine, mar(4, 10), "P1", service="shop")
    engine.acknowledge(n["I2"], at=mar(4, 10, 40))  # response breached at 10:30
    engine.resolve(n["I2"], "fixed", at=mar(4, 16))  # resolution breached at 14:00
    n["I3"] = incident(engine, mar(5, 9), service="mail")
    engine.acknowledge(n["I3"], at=mar(5, 9, 20))
    engine.resolve(n["I3"], "fixed", at=mar(5, 12))
    n["I5"] = incident(engine, mar(6, 9))  # no service; resolved without an acknowledgement
    engine.resolve(n["I5"], "fixed", at=mar(6, 9, 30))  # response met at exactly its due
    n["I4"] = incident(engine, mar(31, 12), "P2", service="mail")
    engine.acknowledge(n["I4"], at=mar(31, 12, 15))
    n["I6"] = incident(engine, mar(31, 15), service="shop")
    engine.acknowledge(n["I6"], at=mar(31, 15, 5))
    engine.tick(mar(31, 16, 30))  # I4's resolution breaches at 16:00; I6's runs until 19:00
    return n


def test_durations_and_sla_outcomes_count_in_the_window_of_their_stop_event(
    engine: Engine,
) -> None:
    desk_month(engine)
    facts = facts_of(engine)
    march = month_kpis(facts)

    assert (march.opened, march.resolved) == (6, 5)  # I1-I6 opened; I7 opened in February
    # acknowledged in March: I1 600, I2 2400, I3 1200, I4 900, I6 300 (I5 never, I7 in Feb)
    # sorted 300 600 900 1200 2400: mean 5400/5 = 1080, median 900, p90 rank ceil(4.5)=5
    assert march.mtta == K.Durations(5, 1080.0, 900.0, 2400.0)
    # last resolution in March: I7 86400 (Feb 29 10:00 -> Mar 1 10:00), I1 7200, I2 21600,
    # I3 10800, I5 1800; sorted 1800 7200 10800 21600 86400: mean 127800/5 = 25560
    assert march.mttr == K.Durations(5, 25560.0, 10800.0, 86400.0)
    # response decided in March: met I1, I3, I4, I5 (30 of 30 min), I6; breached I2
    assert march.sla.response == K.Attainment(met=5, breached=1, running=0)
    assert march.sla.response.rate == 5 / 6
    # resolution: met I1, I3, I5; breached I2 and I4 (still open, breached at Mar 31 16:00);
    # I6 opened in March and still running; I7's breach was decided in February
    assert march.sla.resolution == K.Attainment(met=3, breached=2, running=1)
    assert march.sla.resolution.rate == 0.6
    # from the first response: I7 23 h 55 min (Feb 29 10:05 -> Mar 1 10:00), I1, I2, I3
    # within hours, I5 0 s (its resolution was its first response) -> 5/5
    assert march.solved_24h == K.Rate(5, 5, 0.8)
    assert march.solved_24h.on_target is True

    february = month_kpis(facts, FEB)
    assert (february.opened, february.resolved) == (1, 0)
    assert february.mtta == K.Durations(1, 300.0, 300.0, 300.0)
    assert february.mttr == K.Durations(0, None, None, None)
    assert february.sla.response == K.Attainment(met=1)
    assert february.sla.resolution == K.Attainment(breached=1)
    assert february.sla.resolution.rate == 0.0


def test_attainment_per_priority_and_kpis_per_service_add_up_to_the_total(
    engine: Engine,
) -> None:
    desk_month(engine)
    facts = facts_of(engine)

    by_priority = K.attainment_by_priority(facts, MARCH.start, MARCH.end)
    assert list(by_priority) == ["P1", "P2", "P3"]
    # P1: I1 met/met, I2 breached/breached
    assert by_priority["P1"].response == K.Attainment(met=1, breached=1)
    assert by_priority["P1"].resolution == K.Attainment(met=1, breached=1)
    # P2: I4 response met, resolution breached while still open
    assert by_priority["P2"].resolution.rate == 0.0
    # P3: I3, I5 met/met; I6 met/running; I7 decided in February
    assert by_priority["P3"].response == K.Attainment(met=3)
    assert by_priority["P3"].resolution == K.Attainment(met=2, running=1)

    by_service = K.kpis_by(facts, MARCH.start, MARCH.end, "service")
    assert list(by_service) == ["(none)", "mail", "shop"]
    # shop: I7 86400, I1 7200, I2 21600 -> mean 115200/3 = 38400, median 21600
    assert by_service["shop"].mttr == K.Durations(3, 38400.0, 21600.0, 86400.0)
    assert by_service["mail"].mttr == K.Durations(1, 10800.0, 10800.0, 10800.0)  # I3
    assert by_service["(none)"].mttr == K.Durations(1, 1800.0, 1800.0, 1800.0)  # I5
    assert sum(k.mttr.count for k in by_service.values()) == month_kpis(facts).mttr.count
    # only tickets opened before a window ends can count in it: February knows I7's shop
    assert list(K.kpis_by(facts, FEB.start, FEB.end, "service")) == ["shop"]


def test_a_reopened_resolution_is_decided_again_at_its_next_stop(engine: Engine) -> None:
    engine.define_policy(flat_policy(), at=mar(1))  # on_reopen: resume (time used counts)
    held = incident(engine, mar(29, 9))
    engine.resolve(held, "fixed", at=mar(29, 10))  # 60 of 240 min: met on Mar 29
    engine.reopen(held, "back", at=datetime(2024, 4, 1, 9, tzinfo=UTC))
    engine.resolve(held, "fixed", at=datetime(2024, 4, 1, 10, tzinfo=UTC))  # 120 min: met
    late = incident(engine, mar(29, 12))
    engine.resolve(late, "fixed", at=mar(29, 15))  # 180 min: met
    engine.reopen(late, "back", at=mar(30, 9))  # 60 min left: due 10:00
    engine.resolve(late, "fixed", at=mar(30, 11))  # the breach is recorded at 10:00
    facts = facts_of(engine)

    # March: held's Mar 29 outcome was undone by the reopen; late breached on Mar 30
    assert month_kpis(facts).sla.resolution == K.Attainment(breached=1)
    assert month_kpis(facts, APRIL).sla.resolution == K.Attainment(met=1)
    by_number = {f["number"]: f for f in facts}
    assert by_number[held]["sla_at"]["resolution"] == "2024-04-01T10:00:00+00:00"
    assert by_number[late]["sla_at"]["resolution"] == "2024-03-30T10:00:00+00:00"


# -- FCR, reopen, escalation, 24 h, satisfaction, complaints ---------------------------------


def test_resolution_quality_rates_follow_their_definitions(engine: Engine) -> None:
    # No SLA policy here: these KPIs do not need clocks. Every ticket starts with the L1 desk.
    desk = {"group": "desk"}
    a = incident(engine, mar(4, 9), **desk)
    engine.acknowledge(a, actor="ann", at=mar(4, 9, 10))
    engine.resolve(a, "fixed", at=mar(4, 10))
    engine.record_satisfaction(a, 5, at=mar(4, 12))

    b = incident(engine, mar(4, 9), **desk)
    engine.assign(b, "desk", "bob", at=mar(4, 9, 5))  # a second assignment: reassigned
    engine.acknowledge(b, actor="bob", at=mar(4, 9, 10))
    engine.resolve(b, "fixed", at=mar(4, 10))
    engine.record_satisfaction(b, 3, at=mar(4, 12))

    cc = incident(engine, mar(4, 9), **desk)
    engine.acknowledge(cc, actor="ann", at=mar(4, 9, 10))
    engine.escalate(cc, "functional", "net-l2", at=mar(4, 10))
    engine.assign(cc, "net-l2", "carol", at=mar(4, 10, 10))
    engine.acknowledge(cc, actor="carol", at=mar(4, 10, 20))
    engine.record_complaint(cc, "still down", at=mar(5, 8))
    engine.record_complaint(cc, "still down!", at=mar(5, 9))
    engine.resolve(cc, "fixed", at=mar(5, 12))

    d = incident(engine, mar(4, 9), **desk)
    engine.acknowledge(d, actor="ann", at=mar(4, 9, 10))
    engine.escalate(d, "hierarchical", "duty-manager", at=mar(4, 9, 30))
    engine.resolve(d, "fixed", at=mar(4, 11))
    engine.record_satisfaction(d, 4, at=mar(4, 12))

    e = incident(engine, mar(4, 9), **desk)
    engine.acknowledge(e, actor="ann", at=mar(4, 9, 10))
    engine.resolve(e, "fixed", at=mar(4, 10))
    engine.reopen(e, "back again", at=mar(6, 10))
    engine.record_complaint(e, "it came back", at=mar(6, 11))
    engine.resolve(e, "fixed", at=mar(6, 12))

    f = incident(engine, mar(28, 9), **desk)
    engine.acknowledge(f, actor="ann", at=mar(28, 9, 10))
    engine.resolve(f, "fixed", at=mar(29, 10))
    engine.reopen(f, "back again", at=datetime(2024, 4, 2, 9, tzinfo=UTC))  # open again
    engine.record_complaint(f, "again", at=datetime(2024, 4, 2, 10, tzinfo=UTC))

    h = incident(engine, mar(30, 9), **desk)
    engine.acknowledge(h, actor="ann", at=mar(30, 9, 10))
    engine.resolve(h, "fixed", at=mar(31, 10))
    engine.reopen(h, "back again", at=datetime(2024, 4, 1, 9, tzinfo=UTC))
    engine.resolve(h, "fixed", at=datetime(2024, 4, 1, 12, tzinfo=UTC))  # last: April

    g = incident(engine, mar(10, 9), **desk)
    engine.cancel(g, "raised in error", at=mar(10, 9, 30))

    r = engine.open_request("new laptop", group="desk", at=mar(4, 9)).number
    engine.acknowledge(r, actor="ann", at=mar(4, 9, 10))
    engine.resolve(r, "fulfilled", at=mar(4, 10))
    engine.record_satisfaction(r, 1, at=mar(4, 12))

    facts = facts_of(engine)
    march = month_kpis(facts)
    # last resolution in March: a, b, c, d, e (f is open again, h was resolved again in
    # April, g was cancelled)
    assert (march.opened, march.resolved) == (8, 5)
    # a 3600, b 3600, c Mar 4 09:00 -> Mar 5 12:00 = 97200, d 7200, e to its last
    # resolution Mar 6 12:00 = 183600; mean 295200/5 = 59040, median 7200
    assert march.mttr == K.Durations(5, 59040.0, 7200.0, 183600.0)
    # FCR: a (L1, never reassigned), d (a hierarchical escalation is no handover);
    # b reassigned, c escalated, e reopened -> 2/5
    assert march.fcr == K.Rate(2, 5)
    assert march.fcr.rate == 0.4
    # first resolved in March: a b c d e f h; reopened: e, f, h (their reopens in April
    # too) -> 3/7
    assert march.reopen == K.Rate(3, 7)
    # of the 5 resolved: c functional, d hierarchical -> 2/5
    assert march.escalation == K.Escalation(total=5, functional=1, hierarchical=1, escalated=2)
    # from the first response (09:10): a 50 min, b 50 min, d 1 h 50 min within 24 h;
    # c 26 h 50 min and e (to its last resolution) 50 h 50 min not -> 3/5 = 0.6 < 0.8
    assert march.solved_24h == K.Rate(3, 5, 0.8)
    assert march.solved_24h.on_target is False
    # surveys of the resolved: a 5, b 3, d 4 -> 12/3 = 4.0; response rate 3/5
    assert march.satisfaction == K.Satisfaction(resolved=5, surveyed=3, score_total=12)
    assert (march.satisfaction.average, march.satisfaction.response_rate) == (4.0, 0.6)
    # c twice, e once; f's complaint is in April
    assert march.complaints == K.Complaints(count=3, tickets=2)
    april = month_kpis(facts, APRIL)
    assert april.complaints == K.Complaints(count=1, tickets=1)
    # h counts in April: opened Mar 30 09:00, last resolved Apr 1 12:00 = 51 h = 183600 s;
    # its first resolution was in March, so April has no reopen population
    assert (april.resolved, april.mttr.mean_s, april.reopen) == (1, 183600.0, K.Rate(0, 0))

    # with service requests: r is an L1 first-contact resolution with a survey of 1
    both = month_kpis(facts, kinds=("incident", "service_request"))
    assert (both.resolved, both.fcr) == (6, K.Rate(3, 6))
    assert both.satisfaction.average == 13 / 4


# -- backlog, ageing, MTBF ---------------------------------------------------------------------


def test_backlog_ageing_and_mtbf_per_service_and_ci(engine: Engine) -> None:
    db1 = engine.register_ci("server", "db-1").number
    web1 = engine.register_ci("server", "web-1").number
    s1 = incident(engine, mar(10, 0), "P2", service="shop", ci=db1)
    engine.resolve(s1, "fixed", at=mar(10, 6))
    s2 = incident(engine, mar(10, 4), "P2", service="shop", ci=web1)
    engine.resolve(s2, "fixed", at=mar(10, 10))
    s3 = incident(engine, mar(20, 0), "P1", service="shop", ci=db1)
    engine.resolve(s3, "fixed", at=mar(20, 2))
    engine.reopen(s3, "back", at=mar(20, 4))
    engine.resolve(s3, "fixed", at=mar(20, 5))
    s7 = incident(engine, mar(15, 0), "P2", service="shop")
    engine.cancel(s7, "duplicate", at=mar(15, 1))
    s8 = incident(engine, mar(25, 0), "P2", service="shop", group="desk")
    engine.hold(s8, "awaiting_customer", at=mar(25, 1))  # on hold is still open
    incident(engine, mar(29, 12), "P2", service="mail")  # s4, still open
    incident(engine, datetime(2024, 2, 20, tzinfo=UTC), "P2", service="hr")  # s5, still open
    incident(engine, mar(31, 23), "P2", service="mail")  # s6, still open
    s9 = incident(engine, mar(31, 20), "P2", service="mail")
    engine.resolve(s9, "fixed", at=datetime(2024, 4, 1, tzinfo=UTC))  # exactly at the end
    # a degradation, not an outage: a P3 on shop and db-1 counts in no MTBF (nor the backlog:
    # resolved long before the end)
    p3 = incident(engine, mar(26, 0), "P3", service="shop", ci=db1)
    engine.resolve(p3, "fixed", at=mar(26, 6))

    facts = facts_of(engine)
    march = month_kpis(facts)
    # open at Apr 1 00:00: s4 (2 d 12 h), s5 (41 d), s6 (1 h), s8 (exactly 7 d: the lower
    # bound belongs to 7-30d), s9 (4 h; resolved at the end instant, so still open in March)
    assert march.backlog == K.Backlog(
        open=5, ageing={"<1d": 2, "1-3d": 1, "3-7d": 0, "7-30d": 1, "30d+": 1}
    )
    # as of Mar 30 00:00: s4 (12 h), s5 (39 d), s8 (5 d); s6 and s9 not opened yet
    early = month_kpis(facts, as_of=mar(30))
    assert early.backlog.ageing == {"<1d": 1, "1-3d": 0, "3-7d": 1, "7-30d": 0, "30d+": 1}

    per_service = K.mtbf(facts, MARCH.start, MARCH.end, by="service")
    # shop: failures s1 s2 s3 s8 (s7 cancelled); down s1 u s2 = Mar 10 00:00-10:00 (10 h),
    # s3 00:00-02:00 and 04:00-05:00 (3 h), s8 Mar 25 -> Apr 1 (168 h) = 181 h;
    # up 744 - 181 = 563 h = 2,026,800 s; / 4 = 506,700 s
    assert per_service["shop"] == K.Mtbf(failures=4, uptime_s=2_026_800.0, downtime_s=651_600.0)
    assert per_service["shop"].mtbf_s == 506_700.0
    # mail: s4 Mar 29 12:00 -> Apr 1 covers s6 and s9: down 60 h, up 684 h; 3 failures
    assert per_service["mail"].mtbf_s == 684 * 3600 / 3
    # hr: down all March for s5, opened in February: no failure, no MTBF
    assert per_service["hr"] == K.Mtbf(failures=0, uptime_s=0.0, downtime_s=float(MARCH_S))
    assert per_service["hr"].mtbf_s is None

    per_ci = K.mtbf(facts, MARCH.start, MARCH.end, by="ci")
    # db-1: s1 6 h + s3 3 h down, 2 failures -> (744 - 9) h / 2; web-1: s2 6 h, 1 failure
    assert per_ci[db1].mtbf_s == 735 * 3600 / 2
    assert per_ci[web1] == K.Mtbf(failures=1, uptime_s=738 * 3600.0, downtime_s=6 * 3600.0)
    assert set(per_ci) == {db1, web1}  # tickets without a CI are left out

    # the estate as one system: s5 keeps it down all month; 7 failures (not s5, not s7)
    assert march.mtbf == K.Mtbf(failures=7, uptime_s=0.0, downtime_s=float(MARCH_S))


# -- changes and problems ----------------------------------------------------------------------


def test_change_success_incidents_caused_and_problem_counts(engine: Engine) -> None:
    def run(command: type[c.TicketCommand], ticket: str, at: datetime, **kw: Any) -> None:
        engine.execute(command(ticket=ticket, at=at, **kw))

    c1 = engine.open_change("patch", change_type="standard", at=mar(1)).number
    run(c.StartChangeImplementation, c1, mar(5, 10))
    run(c.CompleteChangeImplementation, c1, mar(5, 11), succeeded=True)
    c2 = engine.open_change("upgrade db", service="shop", at=mar(1)).number
    run(c.SubmitChangeForApproval, c2, mar(2))
    run(c.ApproveChange, c2, mar(3))
    run(c.StartChangeImplementation, c2, mar(10, 10))
    run(c.CompleteChangeImplementation, c2, mar(10, 12), succeeded=False)
    run(c.ReviewChange, c2, mar(11), notes="rolled back")  # the review keeps the outcome
    c3 = engine.open_change("rewrite it", at=mar(1)).number
    run(c.SubmitChangeForApproval, c3, mar(2))
    run(c.RejectChange, c3, mar(3), note="no")  # never implemented
    c4 = engine.open_change("patch 2", change_type="standard", at=mar(1)).number
    run(c.StartChangeImplementation, c4, mar(31, 23))
    run(c.CompleteChangeImplementation, c4, datetime(2024, 4, 1, 1, tzinfo=UTC), succeeded=True)
    # linked once the change's record has moved on (a link is an event on both records)
    for opened, change, linked in (
        (mar(10, 13), c2, mar(12)),
        (mar(10, 14), c2, mar(12, 1)),
        (APRIL.start + 2 * H, c4, APRIL.start + 3 * H),
    ):
        caused = incident(engine, opened, service="shop")
        engine.link(caused, "caused_by_change", change, at=linked)

    p1 = engine.open_problem("slow db", at=datetime(2024, 2, 20, tzinfo=UTC)).number
    run(c.RecordKnownError, p1, mar(3), workaround="restart", root_cause="leak")
    p2 = engine.open_problem("mail bounces", at=mar(5)).number
    run(c.RecordRootCause, p2, mar(5, 12), root_cause="dns")
    run(c.RecordKnownError, p2, mar(6), workaround="resend")
    engine.open_problem("printer jams", at=mar(7))

    facts = facts_of(engine)
    march, april = month_kpis(facts), month_kpis(facts, APRIL)
    # March: c1 succeeded, c2 failed (c3 rejected, c4 completes in April) -> 1/2;
    # two incidents opened in March name c2
    assert march.changes == K.Changes(
        implemented=2, succeeded=1, failed=1, incidents_caused=2, causing_changes=1
    )
    assert march.changes.success_rate == 0.5
    assert april.changes == K.Changes(
        implemented=1, succeeded=1, failed=0, incidents_caused=1, causing_changes=1
    )
    # opened in March: p2, p3; known errors recorded in March: p1 (opened Feb), p2
    assert march.problems == K.Problems(opened=2, known_errors=2)
    assert april.problems == K.Problems(opened=0, known_errors=0)
    # grouped by service, c2 and the incidents it caused are shop's
    assert K.kpis_by(facts, MARCH.start, MARCH.end, "service")["shop"].changes == K.Changes(
        implemented=1, succeeded=0, failed=1, incidents_caused=2, causing_changes=1
    )


# -- business time, time zones, periods --------------------------------------------------------


def test_sla_runs_in_business_time_while_mttr_is_calendar_time(engine: Engine) -> None:
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    office = {"timezone": "UTC", "hours": {d: [["09:00", "17:00"]] for d in weekdays}}
    engine.define_policy(
        {
            "name": "office",
            "calendars": {"office": office},
            "targets": {"P3": {"response_minutes": 60, "resolution_minutes": 480}},
        },
        at=mar(1),
    )
    n = incident(engine, mar(8, 16))  # Friday 16:00
    engine.acknowledge(n, at=mar(8, 16, 30))  # 30 business minutes of 60: met
    engine.resolve(n, "fixed", at=mar(11, 12))  # Monday 12:00

    march = month_kpis(facts_of(engine))
    # business time used: Fri 16:00-17:00 + Mon 09:00-12:00 = 4 h of 8 h: met
    assert march.sla.resolution == K.Attainment(met=1)
    # calendar: Fri 16:00 -> Mon 12:00 = 68 h = 244,800 s
    assert march.mttr.mean_s == 244_800.0
    # from the acknowledgement, 67 h 30 min: not within 24 h
    assert march.solved_24h == K.Rate(0, 1, 0.8)


def test_periods_follow_the_time_zone_they_are_asked_in(engine: Engine) -> None:
    late = incident(engine, mar(31, 20))  # Apr 1 04:00 in Shanghai
    engine.resolve(late, "fixed", at=mar(31, 23, 30))
    early = incident(engine, mar(4, 9))
    engine.resolve(early, "fixed", at=mar(4, 10))
    facts = facts_of(engine)

    utc = K.series(facts, mar(1), APRIL.end, period="month")
    assert [(p.window.label, p.total.resolved) for p in utc] == [("2024-03", 2), ("2024-04", 0)]
    shanghai_april = K.month("2024-04", tz="Asia/Shanghai")
    local = K.series(
        facts, mar(1), shanghai_april.end, period="month", tz="Asia/Shanghai", group_by="priority"
    )
    # Shanghai months start at 16:00 UTC the day before: the late ticket is April's there
    assert [(p.window.label, p.total.resolved) for p in local] == [("2024-03", 1), ("2024-04", 1)]
    assert local[0].window.start == datetime(2024, 2, 29, 16, tzinfo=UTC)
    assert list(local[1].groups) == ["P3"]

    daily = K.series(facts, mar(1), APRIL.start, period="day")
    assert len(daily) == 31
    assert sum(p.total.resolved for p in daily) == utc[0].total.resolved


def test_windows_are_local_days_weeks_and_months() -> None:
    # Europe/Berlin moves to summer time on 2024-03-31: that day has 23 hours
    days = K.windows(mar(30, 12), mar(31, 12), period="day", tz="Europe/Berlin")
    assert [(w.label, w.end - w.start) for w in days] == [
        ("2024-03-30", 24 * H),
        ("2024-03-31", 23 * H),
    ]
    week = K.window_of(mar(6, 12), period="week")
    assert (week.label, week.start, week.end) == ("2024-W10", mar(4), mar(11))
    assert K.window_of(datetime(2024, 12, 31, tzinfo=UTC), "week").label == "2025-W01"
    assert [w.label for w in K.windows(mar(15), datetime(2024, 5, 2, tzinfo=UTC))] == [
        "2024-03", "2024-04", "2024-05",
    ]  # fmt: skip
    assert K.month("2024-12").end == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: K.month("March"), "month"),
        (lambda: K.windows(mar(2), mar(1)), "end"),
        (lambda: K.windows(mar(1), mar(2), period="year"), "period"),  # type: ignore[arg-type]
        (lambda: K.window_of(mar(1), tz="Mars/Olympus"), "tz"),
        (lambda: K.kpis_by([], mar(1), mar(2), "colour"), "group_by"),  # type: ignore[arg-type]
        (lambda: K.kpis([], datetime(2024, 3, 1), mar(2)), "start"),
    ],
)
def test_bad_arguments_name_their_field(call: Any, field: str) -> None:
    with pytest.raises(InputError) as refusal:
        call()
    assert refusal.value.field == field


def test_every_result_is_json_native(engine: Engine) -> None:
    import json

    desk_month(engine)
    facts = facts_of(engine)
    result = K.series(facts, mar(1), APRIL.end, group_by="service")
    data = json.loads(json.dumps([p.to_dict() for p in result]))
    assert data[0]["window"]["label"] == "2024-03"
    assert data[0]["total"]["sla"]["resolution"] == {
        "met": 3, "breached": 2, "running": 1, "rate": 0.6,
    }  # fmt: skip
    assert data[0]["groups"]["shop"]["mttr"]["mean_s"] == 38400.0


# -- properties --------------------------------------------------------------------------------

#: Counts that add up over groups and over the days of a month (tuples, to compare at once).
_ADDITIVE = (
    lambda k: (k.opened, k.resolved, k.mtta.count, k.mttr.count),
    lambda k: (k.sla.response.met, k.sla.response.breached, k.sla.response.running),
    lambda k: (k.sla.resolution.met, k.sla.resolution.breached, k.sla.resolution.running),
    lambda k: (k.fcr.count, k.solved_24h.count, k.reopen.count, k.reopen.total),
    lambda k: (k.escalation.escalated, k.satisfaction.surveyed, k.satisfaction.score_total),
    lambda k: (k.complaints.count, k.complaints.tickets, k.changes.implemented, k.problems.opened),
)


def _rates(k: K.Kpis) -> list[float | None]:
    return [
        k.sla.response.rate, k.sla.resolution.rate, k.solved_24h.rate, k.fcr.rate,
        k.reopen.rate, k.escalation.rate, k.satisfaction.response_rate, k.changes.success_rate,
    ]  # fmt: skip


def _add(parts: list[K.Kpis], measure: Any) -> tuple[int, ...]:
    columns = len(measure(_EMPTY))
    return tuple(sum(measure(k)[i] for k in parts) for i in range(columns))


_EMPTY = K.kpis([], MARCH.start, MARCH.end)


ticket_story = st.fixed_dictionaries(
    {
        "open": st.integers(0, 30 * 24 * 60),  # minutes into March
        "priority": st.sampled_from(["P1", "P2", "P3"]),
        "service": st.sampled_from([None, "shop", "mail"]),
        "group": st.sampled_from([None, "desk", "net"]),
        "ack": st.one_of(st.none(), st.integers(1, 120)),
        "escalate": st.booleans(),
        "resolve": st.one_of(st.none(), st.integers(1, 3 * 24 * 60)),
        "reopen": st.one_of(st.none(), st.integers(1, 3 * 24 * 60)),
        "complaint": st.one_of(st.none(), st.integers(0, 600)),
        "score": st.one_of(st.none(), st.integers(1, 5)),
    }
)


def _play(engine: Engine, story: dict[str, Any]) -> None:
    """Tell one ticket's story; commands the lifecycle refuses at that point are skipped."""
    t = mar(1) + story["open"] * MIN
    extra = {"group": story["group"]} if story["group"] else {}
    n = incident(engine, t, story["priority"], service=story["service"], **extra)
    if story["ack"] is not None:
        t += story["ack"] * MIN
        engine.acknowledge(n, at=t)
    if story["escalate"]:
        t += MIN
        engine.escalate(n, "functional", "l2", at=t)
    if story["complaint"] is not None:
        t += story["complaint"] * MIN
        engine.record_complaint(n, "why", at=t)
    if story["resolve"] is not None:
        t += story["resolve"] * MIN
        engine.resolve(n, "fixed", at=t)
        if story["score"] is not None:
            engine.record_satisfaction(n, story["score"], at=t + MIN)
            t += MIN
        if story["reopen"] is not None:
            t += min(story["reopen"], 24 * 60) * MIN
            engine.reopen(n, "back", at=t)


# an engine per example: a twentieth of the profile's budget, at least 15
@settings(max_examples=max(15, settings().max_examples // 20))
@given(stories=st.lists(ticket_story, max_size=8))
def test_rates_are_shares_and_groups_and_days_add_up_to_the_month(
    stories: list[dict[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Settings(db_path=str(Path(tmp) / "e.db")), clock=FixedClock(mar(1)))
        try:
            engine.define_policy(flat_policy(60, 8 * 60), at=mar(1))
            for story in stories:
                _play(engine, story)
            engine.tick(APRIL.end)
            facts = facts_of(engine)
        finally:
            engine.close()
    window = MARCH
    total = month_kpis(facts)
    for k in (total, month_kpis(facts, APRIL)):
        assert all(r is None or 0.0 <= r <= 1.0 for r in _rates(k))
        for d in (k.mtta, k.mttr):
            assert d.count == 0 or (d.median_s or 0) <= (d.p90_s or 0)
    groupings: tuple[K.GroupBy, ...] = ("service", "group", "priority")
    for group_by in groupings:
        groups = K.kpis_by(facts, window.start, window.end, group_by)
        for measure in _ADDITIVE:
            assert _add(list(groups.values()), measure) == measure(total)
        assert sum(g.backlog.open for g in groups.values()) == total.backlog.open
    # backlog is a state at the end of a window, not a sum over its days
    days = K.series(facts, window.start, window.end, period="day")
    for measure in _ADDITIVE:
        assert _add([p.total for p in days], measure) == measure(total)
    assert days[-1].total.backlog == total.backlog


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=50))
def test_duration_statistics_are_observed_and_ordered(micros: list[int]) -> None:
    d = K.Durations.of(micros)
    assert d.mean_s is not None and d.median_s is not None and d.p90_s is not None
    low, high = min(micros) / 1e6, max(micros) / 1e6
    assert d.count == len(micros)
    assert low <= d.median_s <= d.p90_s <= high
    assert low <= d.mean_s <= high
    p90 = d.p90_s
    assert any(m / 1e6 == p90 for m in micros)
    # nearest rank: at least 90 % of the values are at or below p90, fewer than 90 % below
    assert sum(1 for m in micros if m / 1e6 <= p90) * 10 >= 9 * len(micros)
    assert sum(1 for m in micros if m / 1e6 < p90) * 10 < 9 * len(micros)


@pytest.mark.parametrize("label", ["9999-12", "0000-01", "2026-13", "26-1x"])
def test_a_month_outside_the_calendar_is_refused_naming_the_option(label: str) -> None:
    with pytest.raises(InputError) as caught:
        K.month(label)
    assert caught.value.field == "month"


def test_detected_to_restored_counts_monitoring_incidents_from_the_alert_start(
    engine: Engine,
) -> None:
    def alert(source: str, key: str, started: datetime, received: datetime) -> str:
        return engine.ingest(
            source, key, "open", summary="disk", occurred_at=started, at=received
        ).number

    a = alert("alertmanager", "fp-a", mar(4, 8, 50), mar(4, 9))  # opened 08:50, received 09:00
    engine.ingest("alertmanager", "fp-a", "resolve", at=mar(4, 10))  # 08:50 -> 10:00: 4,200 s
    alert("pagerduty", "dk-b", mar(5, 9), mar(5, 9, 2))
    engine.ingest("pagerduty", "dk-b", "resolve", at=mar(5, 11))  # 7,200 s
    c_ = incident(engine, mar(6, 9))  # opened by hand, then tied to a Grafana alert
    engine.execute(
        c.RecordExternalReference(ticket=c_, system="grafana", reference="g-1", at=mar(6, 9, 5))
    )
    engine.resolve(c_, "fixed", at=mar(6, 9, 30))  # 1,800 s
    d = incident(engine, mar(7, 9))  # no monitoring source: in MTTR only
    engine.resolve(d, "fixed", at=mar(7, 10))  # 3,600 s
    alert("alertmanager", "fp-e", mar(8, 9), mar(8, 9))  # still firing: in neither
    alert("grafana", "fp-g", mar(31, 23), mar(31, 23))
    engine.ingest("grafana", "fp-g", "resolve", at=datetime(2024, 4, 1, 1, tzinfo=UTC))
    facts = facts_of(engine)
    doc = next(f for f in facts if f["number"] == a)
    assert (doc["opened_at"], doc["received_at"]) == (
        mar(4, 8, 50).isoformat(),
        mar(4, 9).isoformat(),
    )
    k = month_kpis(facts)
    # 4,200 + 7,200 + 1,800 = 13,200 / 3 = 4,400; median 4,200; p90 rank ceil(2.7) = 3: 7,200
    assert k.detected_to_restored == K.Durations(3, 4400.0, 4200.0, 7200.0)
    # MTTR reads the same opened_at: A, B, C and D: 16,800 / 4 = 4,200
    assert (k.mttr.count, k.mttr.mean_s) == (4, 4200.0)
    # the Grafana alert of 23:00 on 31 March resolved at 01:00 on 1 April: April's, 7,200 s
    assert month_kpis(facts, APRIL).detected_to_restored == K.Durations(1, 7200.0, 7200.0, 7200.0)
    assert month_kpis(facts, FEB).detected_to_restored.count == 0
    assert k.to_dict()["detected_to_restored"]["mean_s"] == 4400.0
