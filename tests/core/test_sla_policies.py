"""SLA policies through the Engine: versions, validation, selection and what-if.

Every policy here runs on a UTC round-the-clock calendar, so business time is wall time and
each due instant is plain addition from the instant a clock started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.core import commands as c
from opsledger.core.domain.sla import SlaPolicy

from opsledger import Engine, FixedClock, InputError, Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
H, M = timedelta(hours=1), timedelta(minutes=1)
DAY = timedelta(days=1)
CALENDARS = {"24x7": {"timezone": "UTC", "always_open": True}}


def policy(name: str = "standard", **fields: Any) -> dict[str, Any]:
    """P2 responds in 30 min and resolves in 3h, P3 in 60 min and 4h, unless overridden."""
    out: dict[str, Any] = {
        "name": name,
        "calendars": CALENDARS,
        "targets": {
            "P2": {"calendar": "24x7", "response_minutes": 30, "resolution_minutes": 180},
            "P3": {"calendar": "24x7", "response_minutes": 60, "resolution_minutes": 240},
        },
    }
    out.update(fields)
    return out


def recorded(engine: Engine) -> int:
    """Events in the whole log: what a command that records nothing leaves unchanged."""
    return engine.app.recorder.max_notification_id() or 0


def clocks(engine: Engine, number: str, at: datetime) -> dict[str, Any]:
    return {s.clock: s for s in engine.sla_status(number, as_of=at)}


# -- versions ----------------------------------------------------------------------------------


def test_no_policy_means_no_clocks(engine: Engine) -> None:
    number = engine.open_incident("Printer jam", actor="desk", at=T0).number
    assert engine.sla_status(number, as_of=T0 + H) == []


def test_defining_a_policy_records_version_one_and_clocks_name_it(engine: Engine) -> None:
    outcome = engine.define_policy(policy(), actor="sla-admin", at=T0 - DAY)
    assert [e["event"] for e in outcome.events][-1] == "PolicyDefined"
    [current] = engine.policies().current()
    assert (current.name, current.version) == ("standard", 1)

    number = engine.open_incident("Printer jam", actor="desk", at=T0).number  # P3
    started = [h.details for h in engine.history(number) if h.event == "ClockStarted"]
    assert [(d["clock"], d["policy"], d["version"], d["due"]) for d in started] == [
        ("sla/standard/response", "standard", 1, (T0 + H).isoformat()),
        ("sla/standard/resolution", "standard", 1, (T0 + 4 * H).isoformat()),
    ]
    assert {(s.policy, s.version) for s in engine.sla_status(number, as_of=T0)} == {("standard", 1)}


def test_a_changed_policy_applies_to_new_tickets_and_running_clocks_keep_their_version(
    engine: Engine,
) -> None:
    engine.define_policy(policy(), actor="sla-admin", at=T0 - DAY)
    old = engine.open_incident("VPN slow", actor="desk", at=T0).number  # P3 under v1: 4h
    engine.acknowledge(old, actor="agent", at=T0 + 10 * M)
    tighter = policy(
        on_priority_change="from_change",
        targets={
            "P2": {"calendar": "24x7", "response_minutes": 15, "resolution_minutes": 60},
            "P3": {"calendar": "24x7", "response_minutes": 30, "resolution_minutes": 120},
        },
    )
    engine.define_policy(tighter, actor="sla-admin", at=T0 + 30 * M)
    assert [(p.name, p.version) for p in engine.policies().current()] == [("standard", 2)]
    new = engine.open_incident("VPN slow too", actor="desk", at=T0 + H).number  # P3 under v2

    now = T0 + 90 * M
    assert {k: (s.version, s.target, s.due) for k, s in clocks(engine, old, now).items()} == {
        "sla/standard/response": (1, H, None),  # met at 09:10
        "sla/standard/resolution": (1, 4 * H, T0 + 4 * H),
    }
    assert {k: (s.version, s.target, s.due) for k, s in clocks(engine, new, now).items()} == {
        "sla/standard/response": (2, 30 * M, T0 + 90 * M),
        "sla/standard/resolution": (2, 2 * H, T0 + 3 * H),
    }

    # The old ticket becomes P2 at 11:00. Its clocks follow v1: retroactive re-targeting to
    # v1's P2 resolution of 3h from 09:00, due 12:00 (v2 would have cancelled the clock and
    # started 60 min from the change).
    engine.change_priority(old, "high", "medium", "more users", actor="agent", at=T0 + 2 * H)
    changed = [h.details for h in engine.history(old) if h.event == "TargetChanged"]
    assert [(d["clock"], d["target_us"], d["due"]) for d in changed] == [
        ("sla/standard/resolution", 3 * 3_600_000_000, (T0 + 3 * H).isoformat())
    ]
    assert not [h for h in engine.history(old) if h.event == "ClockCancelled"]


def test_identical_redefinition_records_nothing(engine: Engine, backend: Settings) -> None:
    engine.define_policy(policy(), actor="sla-admin", at=T0 - DAY)
    before = recorded(engine)
    again = engine.define_policy(policy(), actor="someone-else", at=T0)
    assert again.events == [] and recorded(engine) == before
    # The same policy spelled differently (a parsed object, minutes as floats) is identical.
    parsed = SlaPolicy.from_dict(policy())
    engine.define_policy(parsed, actor="sla-admin", at=T0)
    floats = policy()
    floats["targets"]["P3"] = {
        "calendar": "24x7",
        "response_minutes": 60.0,
        "resolution_minutes": 240.0,
    }
    engine.define_policy(floats, actor="sla-admin", at=T0)
    assert recorded(engine) == before
    # ... also when compared with the stored definition from another engine.
    other = Engine(backend, clock=FixedClock(T0))
    try:
        other.define_policy(policy(), actor="sla-admin", at=T0)
        assert recorded(other) == before
        assert [(p.name, p.version) for p in other.policies().current()] == [("standard", 1)]
    finally:
        other.close()


def test_retiring_a_policy_stops_new_clocks_but_not_running_ones(engine: Engine) -> None:
    engine.define_policy(policy(), actor="sla-admin", at=T0 - DAY)
    running = engine.open_incident("Mail delayed", actor="desk", at=T0).number
    engine.execute(c.RetireSlaPolicy(name="standard", actor="sla-admin", at=T0 + M))
    assert engine.policies().current() == []
    unmanaged = engine.open_incident("Mail delayed again", actor="desk", at=T0 + 2 * M).number
    assert engine.sla_status(unmanaged, as_of=T0 + H) == []
    # The running response clock still breaches at 10:00 under v1.
    engine.tick(T0 + H + M)
    breaches = [h.details for h in engine.history(running) if h.event == "BreachRecorded"]
    assert [(d["clock"], d["due"]) for d in breaches] == [
        ("sla/standard/response", (T0 + H).isoformat())
    ]
    with pytest.raises(InputError) as refusal:
        engine.execute(c.RetireSlaPolicy(name="standard", actor="sla-admin", at=T0 + 2 * H))
    assert refusal.value.field == "name"
    # Defining it again puts it back in force as version 2, even with the same content.
    engine.define_policy(policy(), actor="sla-admin", at=T0 + 3 * H)
    assert [(p.name, p.version) for p in engine.policies().current()] == [("standard", 2)]


# -- parse errors name the field ---------------------------------------------------------------

TARGETS = policy()["targets"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"targets": {"P5": TARGETS["P2"]}}, "targets"),
        ({"targets": {"P2": {**TARGETS["P2"], "calendar": "nowhere"}}}, "targets.P2.calendar"),
        ({"targets": {"P2": {**TARGETS["P2"], "response_minutes": -5}}}, "targets.P2.response"),
        ({"targets": {}}, "targets"),
        ({"calendars": {}}, "calendars"),
        ({"calendars": {"24x7": {"timezone": "Mars/Olympus"}}}, "calendars.24x7.timezone"),
        ({"warnings": [90, 50]}, "warnings"),
        ({"warnings": [50, 100]}, "warnings"),
        ({"warnings": ["half"]}, "warnings"),
        ({"warnings": 50}, "warnings"),
        ({"agreement": "ola"}, "groups"),
        ({"agreement": "uc"}, "vendors"),
        ({"agreement": "xla"}, "agreement"),
        ({"on_reopen": "restart"}, "on_reopen"),
        ({"on_priority_change": "never"}, "on_priority_change"),
        ({"services": "payments"}, "services"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field_and_records_nothing(
    engine: Engine, changes: dict[str, Any], field: str
) -> None:
    engine.define_policy(policy(name="other"), actor="sla-admin", at=T0 - DAY)
    before = recorded(engine)
    with pytest.raises(InputError) as refusal:
        engine.define_policy(policy(**changes), actor="sla-admin", at=T0)
    assert refusal.value.field == field
    assert recorded(engine) == before


# -- selection by specificity --------------------------------------------------------------------


def test_the_most_specific_policy_governs_a_ticket(engine: Engine) -> None:
    def minutes(m: int) -> dict[str, Any]:
        return {"P3": {"calendar": "24x7", "response_minutes": m}}

    # Defined most specific first, so the catch-all coming last cannot win by order.
    engine.define_policy(
        policy("acme-payments", customers=["acme"], services=["payments"], targets=minutes(10)),
        actor="sla-admin",
    )
    engine.define_policy(policy("acme", customers=["acme"], targets=minutes(15)), actor="sla-admin")
    engine.define_policy(
        policy("payments", services=["payments"], targets=minutes(30)), actor="sla-admin"
    )
    engine.define_policy(policy("catch-all", targets=minutes(60)), actor="sla-admin")
    engine.define_policy(policy("catch-all-2", targets=minutes(90)), actor="sla-admin")
    engine.define_policy(
        policy("laptops", kinds=["service_request"], services=["laptops"], targets=minutes(5)),
        actor="sla-admin",
    )

    def governing(service: str | None, customer: str | None) -> tuple[str, timedelta]:
        number = engine.open_incident(
            "Slow", service=service, customer=customer, actor="desk", at=T0
        ).number
        [clock] = engine.sla_status(number, as_of=T0)
        return clock.policy, clock.target

    assert governing("payments", "acme") == ("acme-payments", 10 * M)  # customer + service
    assert governing("email", "acme") == ("acme", 15 * M)  # customer beats service
    assert governing("payments", "globex") == ("payments", 30 * M)  # service beats default
    assert governing(None, None) == ("catch-all", 60 * M)  # a tie: the first defined
    assert governing("laptops", None) == ("catch-all", 60 * M)  # "laptops" is for requests
    request = engine.open_request("New laptop", service="laptops", actor="desk", at=T0).number
    assert [s.policy for s in engine.sla_status(request, as_of=T0)] == ["laptops"]


# -- what-if ---------------------------------------------------------------------------------


def _month_of_tickets(engine: Engine) -> list[str]:
    """Four P3 tickets acknowledged after 20 min and resolved after 1h, 3h, 5h and 6h."""
    numbers = []
    for day, hours in enumerate((1, 3, 5, 6)):
        opened = T0 + day * DAY
        number = engine.open_incident(f"Issue {day}", actor="desk", at=opened).number
        engine.acknowledge(number, actor="agent", at=opened + 20 * M)
        engine.resolve(number, code="fixed", actor="agent", at=opened + hours * H)
        numbers.append(number)
    # One still running at the end of the period (undecided: counted as neither), and one
    # opened after it.
    engine.open_incident("Undecided", actor="desk", at=T0 + 10 * DAY - 30 * M)
    engine.open_incident("Later", actor="desk", at=T0 + 10 * DAY)
    return numbers


@pytest.mark.parametrize("name", ["standard", "proposed"])
def test_whatif_recomputes_attainment_under_another_policy_without_writing(
    backend: Settings, name: str
) -> None:
    engine = Engine(backend, clock=FixedClock(T0 + 10 * DAY + M))
    try:
        engine.define_policy(policy(), actor="sla-admin", at=T0 - DAY)
        _month_of_tickets(engine)
        before = recorded(engine)
        looser = policy(
            name,
            targets={"P3": {"calendar": "24x7", "response_minutes": 60, "resolution_minutes": 330}},
        )
        report = engine.whatif(looser, T0, T0 + 10 * DAY)
        assert recorded(engine) == before  # nothing written
        assert report.tickets == 5  # opened in [start, end); the later one is outside
        rows = {(r["priority"], r["metric"]): r for r in report.rows()}
        # Resolution in 4h: 1h and 3h met, 5h and 6h breached (2 of 4). Under 5h30: only the
        # 6h one breaches (3 of 4). Response (20 min of 60) is met under both.
        resolution = rows[("P3", "resolution")]
        assert (resolution["actual_met"], resolution["actual_breached"]) == (2, 2)
        assert (resolution["whatif_met"], resolution["whatif_breached"]) == (3, 1)
        assert resolution["actual_attainment"] == 0.5
        assert resolution["whatif_attainment"] == 0.75
        assert resolution["difference"] == 0.25
        response = rows[("P3", "response")]
        assert (response["actual_met"], response["whatif_met"]) == (4, 4)
        assert response["difference"] == 0
        # The same policy as recorded changes nothing.
        same = engine.whatif(policy(), T0, T0 + 10 * DAY)
        assert all(r["difference"] == 0 for r in same.rows())
    finally:
        engine.close()


def test_whatif_needs_a_period_that_ends_after_it_starts(engine: Engine) -> None:
    with pytest.raises(InputError) as refusal:
        engine.whatif(policy(), T0, T0)
    assert refusal.value.field == "to"


def test_status_centuries_ahead_is_refused_naming_as_of(tmp_path: Path) -> None:
    from opsledger.core.domain.sla import default_policy

    with Engine(Settings(db_path=str(tmp_path / "e.db")), clock=FixedClock(T0)) as engine:
        engine.define_policy(default_policy(), actor="admin", at=T0)
        number = engine.open_incident("x", actor="a", impact="high", urgency="high").number
        with pytest.raises(InputError) as caught:
            engine.sla_status(number, as_of=datetime(3000, 1, 1, tzinfo=UTC))
        assert caught.value.field == "as_of"
        assert engine.sla_status(number, as_of=T0 + timedelta(days=365))  # a year is fine
