"""The work queue read model: order by SLA due then priority, SLA flags, and the sub-queues.

Every scenario runs on the default SLA policy (``default_policy()``), whose targets are
written out here so the expected due instants can be checked by hand:

    P1  24x7                        response  15 min, resolution 240 min, update 30 min
    P2  office (UTC Mon-Fri 09-17)  response  30 min, resolution 480 min
    P3  office                      response 240 min, resolution 1440 min
    P4  office                      response 480 min, resolution 2400 min
    warnings at 50, 75 and 90 % of a target; a breach once the target is exceeded.

T0 is Monday 2024-03-04 09:00 UTC, inside office hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opsledger.core.domain.sla import default_policy
from opsledger.projections.service import Projections

from opsledger import Engine

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(minutes: float) -> str:
    return at(minutes).isoformat()


@pytest.fixture
def views(engine: Engine) -> Iterator[Projections]:
    engine.define_policy(default_policy(), actor="admin", at=T0 - timedelta(days=1))
    with Projections(engine) as projections:
        yield projections


def queue(views: Projections, **filters: Any) -> list[dict[str, Any]]:
    """The queue as a reader sees it after the read models caught up with the log."""
    views.catch_up()
    return views.work_queue(**filters)


def numbers(entries: list[dict[str, Any]]) -> list[str]:
    return [e["number"] for e in entries]


def entry(views: Projections, number: str) -> dict[str, Any]:
    (found,) = [e for e in queue(views, include_resolved=True) if e["number"] == number]
    return found


def open_desk(engine: Engine) -> dict[str, str]:
    """Five incidents and a problem opened in time order on Monday morning.

    Due instant of each ticket's earliest running clock (its response clock):
      A P3 (high/low)    09:00 + 240 business min          = Mon 13:00
      B P2 (high/medium) 09:10 +  30 min                    = Mon 09:40
      C P4 (low/low)     09:20 + 480 business min: 7 h 40 left on Monday, 20 min on Tuesday
                                                            = Tue 09:20
      E P1 (high/high)   09:25 +  15 min (24x7)             = Mon 09:40, the same as B
      D P3 (high/low)    09:30 + 240 business min          = Mon 13:30
      F problem: the policy governs incidents and requests only, so no clock, no due
    """
    opened = {}
    for name, impact, urgency, minute in (
        ("A", "high", "low", 0),
        ("B", "high", "medium", 10),
        ("C", "low", "low", 20),
        ("E", "high", "high", 25),
        ("D", "high", "low", 30),
    ):
        outcome = engine.open_incident(
            f"ticket {name}", impact=impact, urgency=urgency, actor="desk", at=at(minute)
        )
        opened[name] = outcome.number
    opened["F"] = engine.open_problem(
        "recurring VPN drops", impact="high", urgency="high", actor="desk", at=at(35)
    ).number
    return opened


def test_queue_is_ordered_by_sla_due_then_priority_and_tickets_without_due_last(
    engine: Engine, views: Projections
) -> None:
    t = open_desk(engine)
    entries = queue(views)
    # B and E share 09:40; E is P1, so it comes first. F has no clock: last.
    assert numbers(entries) == [t["E"], t["B"], t["A"], t["D"], t["C"], t["F"]]
    due = {e["number"]: e["due"] for e in entries}
    assert due == {
        t["E"]: iso(40),
        t["B"]: iso(40),
        t["A"]: iso(4 * 60),
        t["D"]: iso(4 * 60 + 30),
        t["C"]: (T0 + timedelta(days=1, minutes=20)).isoformat(),
        t["F"]: None,
    }
    assert [e["priority"] for e in entries] == ["P1", "P2", "P3", "P3", "P4", "P1"]


def test_warning_marks_at_risk_and_breach_marks_breached_after_ticks(
    engine: Engine, views: Projections
) -> None:
    t = open_desk(engine)
    b = t["B"]  # P2 response: opened 09:10, 30 min target
    assert (entry(views, b)["at_risk"], entry(views, b)["breached"]) == (False, False)

    # 50 % of 30 min after 09:10 is 09:25: the first warning, nothing breached.
    engine.tick(at(26))
    assert (entry(views, b)["at_risk"], entry(views, b)["breached"]) == (True, False)
    # A (P3, response 240 min from 09:00) reaches 50 % only at 11:00: not at risk yet.
    assert entry(views, t["A"])["at_risk"] is False

    # Due exactly at 09:40: reaching the due instant is not yet a breach.
    engine.tick(at(40))
    assert entry(views, b)["breached"] is False
    engine.tick(at(41))
    assert (entry(views, b)["at_risk"], entry(views, b)["breached"]) == (True, True)

    # Acknowledging stops the (breached) response clock. The earliest running clock is
    # now resolution: 480 business min from 09:10 = 7 h 50 on Monday + 10 min = Tue 09:10,
    # and at 4 % of it, not at risk. The breach stays on the ticket.
    engine.assign(b, "network", "bob", actor="desk", at=at(44))
    engine.acknowledge(b, actor="bob", at=at(45))
    after = entry(views, b)
    assert after["due"] == (T0 + timedelta(days=1, minutes=10)).isoformat()
    assert (after["at_risk"], after["breached"]) == (False, True)


def test_unassigned_queue_and_group_and_assignee_filters(
    engine: Engine, views: Projections
) -> None:
    t = open_desk(engine)
    engine.assign(t["A"], "network", "bob", actor="desk", at=at(40))
    engine.assign(t["C"], "network", actor="desk", at=at(41))
    engine.assign(t["D"], "database", "chen", actor="desk", at=at(42))

    assert numbers(queue(views, unassigned=True)) == [t["E"], t["B"], t["F"]]
    assert numbers(queue(views, group="network")) == [t["A"], t["C"]]
    assert numbers(queue(views, group="network", assignee="bob")) == [t["A"]]
    assert numbers(queue(views, assignee="chen")) == [t["D"]]
    assert queue(views, group="nobody") == []


def test_on_hold_queue_per_reason_and_paused_clocks_have_no_due(
    engine: Engine, views: Projections
) -> None:
    t = open_desk(engine)
    for name, minute in (("A", 40), ("B", 41), ("D", 42)):
        engine.assign(t[name], "network", "bob", actor="desk", at=at(minute))
        engine.acknowledge(t[name], actor="bob", at=at(minute + 1))
    engine.hold(t["A"], "awaiting_customer", actor="bob", at=at(50))
    engine.hold(t["B"], "awaiting_vendor", vendor="acme", actor="bob", at=at(51))
    engine.hold(t["D"], "awaiting_change", actor="bob", at=at(52))

    assert numbers(queue(views, on_hold="awaiting_customer")) == [t["A"]]
    assert numbers(queue(views, on_hold="awaiting_vendor")) == [t["B"]]
    assert numbers(queue(views, on_hold="awaiting_change")) == [t["D"]]
    # Awaiting customer or vendor pauses the SLA clocks: no running clock, no due. Awaiting
    # a change does not pause (not in the policy's pause_on): D's resolution clock runs,
    # 1440 business min = three office days from 09:30 Monday = Thursday 09:30.
    assert entry(views, t["A"])["due"] is None
    assert entry(views, t["B"])["due"] is None
    assert entry(views, t["D"])["due"] == (T0 + timedelta(days=3, minutes=30)).isoformat()

    engine.resume(t["A"], actor="bob", at=at(60))
    assert queue(views, on_hold="awaiting_customer") == []
    assert entry(views, t["A"])["state"] == "in_progress"


def test_resolved_tickets_are_hidden_by_default_and_closed_or_cancelled_ones_removed(
    engine: Engine, views: Projections
) -> None:
    t = open_desk(engine)
    engine.resolve(t["A"], "fixed", actor="desk", at=at(40))
    engine.resolve(t["B"], "fixed", actor="desk", at=at(41))
    engine.cancel(t["C"], "duplicate", actor="desk", at=at(42))

    assert numbers(queue(views)) == [t["E"], t["D"], t["F"]]
    # Resolving stopped A's and B's clocks: no due, so after the tickets that have one, and
    # among the tickets without a due by priority: F (P1), B (P2), A (P3).
    resolved_too = numbers(queue(views, include_resolved=True))
    assert resolved_too == [t["E"], t["D"], t["F"], t["B"], t["A"]]
    assert entry(views, t["A"])["state"] == "resolved"

    engine.close_ticket(t["A"], actor="desk", at=at(50))
    engine.reopen(t["B"], "still broken", actor="desk", at=at(51))
    views.catch_up()
    everything = views.model("work_queue").documents("tickets")
    assert t["A"] not in everything and t["C"] not in everything
    # B's resolution clock resumes at 09:51 with 31 of its 480 min used: 429 min to 17:00,
    # the last 20 min on Tuesday, so due Tue 09:20, after D and before F (no due).
    assert numbers(queue(views, include_resolved=True)) == [t["E"], t["D"], t["B"], t["F"]]
    assert entry(views, t["B"])["due"] == (T0 + timedelta(days=1, minutes=20)).isoformat()
    assert entry(views, t["B"])["state"] == "new"
