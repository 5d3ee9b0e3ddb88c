"""Clocks that must start late: updates after a reopen, SLAs after a priority becomes covered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsledger.core.domain.sla import default_policy

from opsledger import Engine

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
M = timedelta(minutes=1)


def clocks(engine: Engine, number: str) -> dict[str, tuple[str, str | None]]:
    return {
        s.clock: (s.state, s.due.isoformat() if s.due else None)
        for s in engine.sla_status(number, as_of=engine.record(number).modified_on)
    }


def test_a_reopened_p1_owes_updates_again(engine: Engine) -> None:
    engine.define_policy(default_policy(), actor="admin", at=T0)
    n = engine.open_incident("db down", impact="high", urgency="high", at=T0).number
    engine.acknowledge(n, actor="ann", at=T0 + 5 * M)
    engine.resolve(n, "fixed", "failover", actor="ann", at=T0 + 20 * M)
    assert clocks(engine, n)["sla/default/update"][0] == "met"
    engine.reopen(n, reason="down again", actor="ann", at=T0 + 60 * M)
    # P1 update interval 30 min on the 24x7 calendar: a new cycle from the reopen, due 10:30
    assert clocks(engine, n)["sla/default/update#2"] == (
        "running",
        (T0 + 90 * M).isoformat(),
    )


def test_raising_an_uncovered_priority_to_a_covered_one_starts_the_sla(engine: Engine) -> None:
    policy = default_policy().to_dict()
    del policy["targets"]["P4"]  # this policy does not cover P4
    engine.define_policy(policy, actor="admin", at=T0)
    n = engine.open_incident("slow report", impact="low", urgency="low", at=T0).number
    assert clocks(engine, n) == {}
    engine.change_priority(
        n, impact="high", urgency="high", reason="whole floor affected", actor="lead",
        at=T0 + 10 * M,
    )  # fmt: skip
    # P1: response 15 min, resolution 240 min, update 30 min, all from the change at 09:10
    assert clocks(engine, n) == {
        "sla/default/response": ("running", (T0 + 25 * M).isoformat()),
        "sla/default/resolution": ("running", (T0 + 250 * M).isoformat()),
        "sla/default/update": ("running", (T0 + 40 * M).isoformat()),
    }
