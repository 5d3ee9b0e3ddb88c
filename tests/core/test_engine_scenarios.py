"""Hand-written ITIL scenarios through the public Engine, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from opsledger.core import commands as c
from opsledger.core.domain.priority import PriorityMatrix

from opsledger import (
    DomainError,
    Engine,
    FixedClock,
    InputError,
    NotFoundError,
    Settings,
)

MIN, DAY = timedelta(minutes=1), timedelta(days=1)


def events_of(engine: Engine, number: str) -> list[str]:
    return [entry.event for entry in engine.history(number)]


def recorded(engine: Engine) -> int:
    """How many events the whole log holds: a refused command must leave it unchanged."""
    return engine.app.recorder.max_notification_id() or 0


def links_of(engine: Engine, number: str) -> list[tuple[str, str]]:
    return [(link["relation"], link["target"]) for link in engine.get(number)["links"]]


# -- problems ------------------------------------------------------------------------------


def test_problem_with_known_error_is_linked_to_both_incidents_on_both_sides(
    engine: Engine,
) -> None:
    first = engine.open_incident("Checkout times out", service="shop").number
    second = engine.open_incident("Basket empties itself", service="shop").number
    problem = engine.open_problem("Session store evicts early", service="shop").number

    engine.link(first, "has_problem", problem, actor="problem-mgr")
    engine.link(second, "has_problem", problem, actor="problem-mgr")
    engine.execute(c.RecordRootCause(ticket=problem, root_cause="cache maxmemory too low"))
    engine.execute(c.RecordKnownError(ticket=problem, workaround="log in again"))

    data = engine.get(problem)
    assert (data["root_cause"], data["known_error"], data["workaround"]) == (
        "cache maxmemory too low",
        True,
        "log in again",
    )
    assert links_of(engine, problem) == [("has_incident", first), ("has_incident", second)]
    assert links_of(engine, first) == [("has_problem", problem)]
    assert links_of(engine, second) == [("has_problem", problem)]
    assert events_of(engine, problem) == [
        "Opened", "Linked", "Linked", "RootCauseRecorded", "KnownErrorRecorded",
    ]  # fmt: skip


def test_known_error_needs_a_root_cause(engine: Engine) -> None:
    problem = engine.open_problem("Nightly batch slow").number
    with pytest.raises(InputError) as refusal:
        engine.execute(c.RecordKnownError(ticket=problem, workaround="run it twice"))
    assert refusal.value.field == "root_cause"
    assert events_of(engine, problem) == ["Opened"]


def test_linking_the_same_pair_twice_records_nothing_the_second_time(engine: Engine) -> None:
    incident = engine.open_incident("VPN drops").number
    problem = engine.open_problem("VPN concentrator firmware").number
    engine.link(incident, "has_problem", problem)
    before = recorded(engine)

    again = engine.link(incident, "has_problem", problem)

    assert again.events == []
    assert recorded(engine) == before


def test_problem_fixed_by_change_is_linked_from_the_change(engine: Engine) -> None:
    problem = engine.open_problem("Disk fills up").number
    change = engine.open_change("Add log rotation").number
    engine.link(problem, "fixed_by_change", change)
    assert links_of(engine, change) == [("fixes_problem", problem)]


# -- configuration items --------------------------------------------------------------------


def test_configuration_item_attributes_owner_and_status(engine: Engine) -> None:
    ci = engine.register_ci(
        "server", "db-01", owner="dba-team", attributes={"cpu": 8, "os": "debian"}, status="planned"
    ).number
    assert ci == "CI-000001"

    engine.execute(c.UpdateCIAttributes(ci=ci, changes={"cpu": 16, "os": None, "ram_gb": 64}))
    engine.execute(c.ChangeCIOwner(ci=ci, owner="platform-team"))
    engine.execute(c.ChangeCIStatus(ci=ci, status="live"))
    engine.execute(c.ChangeCIStatus(ci=ci, status="retired"))

    data = engine.get(ci)
    assert data["attributes"] == {"cpu": 16, "ram_gb": 64}  # os removed by None
    assert (data["owner"], data["status"], data["ci_type"], data["name"]) == (
        "platform-team",
        "retired",
        "server",
        "db-01",
    )
    assert events_of(engine, ci) == [
        "Registered", "AttributesUpdated", "OwnerChanged", "StatusChanged", "StatusChanged",
    ]  # fmt: skip

    before = recorded(engine)
    with pytest.raises(DomainError) as refusal:
        engine.execute(c.ChangeCIStatus(ci=ci, status="live"))
    assert (refusal.value.ticket, refusal.value.state) == (ci, "retired")
    assert recorded(engine) == before


def test_unchanged_ci_attributes_record_nothing(engine: Engine) -> None:
    ci = engine.register_ci("app", "checkout", attributes={"replicas": 3}).number
    before = recorded(engine)
    engine.execute(c.UpdateCIAttributes(ci=ci, changes={"replicas": 3, "absent": None}))
    assert recorded(engine) == before


def test_incident_on_a_ci_and_ci_relations_link_both_ways(engine: Engine) -> None:
    host = engine.register_ci("server", "web-01").number
    app = engine.register_ci("application", "shop-frontend").number
    engine.link(app, "runs_on", host)
    incident = engine.open_incident("Frontend 502s", ci=app).number

    assert links_of(engine, incident) == [("affects_ci", app)]
    assert links_of(engine, app) == [("runs_on", host), ("affected_by", incident)]
    assert links_of(engine, host) == [("hosts", app)]


@pytest.mark.parametrize(
    ("source", "relation", "target", "field"),
    [
        ("problem", "caused_by_change", "ci", "relation"),  # only incidents are caused by changes
        ("ci", "has_problem", "incident", "relation"),
        ("incident", "fixed_by_change", "change", "relation"),  # problems are fixed, not incidents
        ("incident", "runs_on", "ci", "relation"),  # runs_on is between CIs
        ("incident", "blames", "problem", "relation"),  # no such relation
        ("incident", "relates_to", "incident", "target"),  # itself
    ],
)
def test_links_that_make_no_sense_are_refused(
    engine: Engine, source: str, relation: str, target: str, field: str
) -> None:
    records = {
        "incident": engine.open_incident("Printer on fire").number,
        "problem": engine.open_problem("Printers overheat").number,
        "change": engine.open_change("Replace printers").number,
        "ci": engine.register_ci("printer", "floor-3").number,
    }
    before = recorded(engine)
    with pytest.raises(InputError) as refusal:
        engine.link(records[source], relation, records[target])
    assert refusal.value.field == field
    assert recorded(engine) == before


# -- priority ------------------------------------------------------------------------------

# The default matrix, by hand: rows are impact, columns urgency (high, medium, low).
DEFAULT_PRIORITIES = [
    ("high", "high", "P1"), ("high", "medium", "P2"), ("high", "low", "P3"),
    ("medium", "high", "P2"), ("medium", "medium", "P3"), ("medium", "low", "P4"),
    ("low", "high", "P3"), ("low", "medium", "P4"), ("low", "low", "P4"),
]  # fmt: skip


@pytest.mark.parametrize(("impact", "urgency", "priority"), DEFAULT_PRIORITIES)
def test_priority_comes_from_impact_and_urgency(
    engine: Engine, impact: str, urgency: str, priority: str
) -> None:
    number = engine.open_incident("Something broke", impact=impact, urgency=urgency).number
    assert engine.get(number)["priority"] == priority


def test_priority_change_records_previous_priority_and_reason(engine: Engine) -> None:
    number = engine.open_incident("Slow search", impact="low", urgency="low").number  # P4
    engine.change_priority(number, "high", "medium", "now affects all stores", actor="lead")

    last = engine.history(number)[-1]
    assert last.event == "PriorityChanged"
    assert (last.actor, last.details["previous_priority"], last.details["priority"]) == (
        "lead",
        "P4",
        "P2",  # high impact x medium urgency
    )
    assert last.details["reason"] == "now affects all stores"
    assert engine.get(number)["priority"] == "P2"


def test_custom_priority_matrix_from_settings(backend: Settings, clock: FixedClock) -> None:
    # A desk that ranks by urgency alone: high -> P1, medium -> P2, low -> P3, any impact.
    by_urgency = {"high": "P1", "medium": "P2", "low": "P3"}
    matrix = PriorityMatrix.from_rows({i: dict(by_urgency) for i in ("high", "medium", "low")})
    with Engine(backend.with_(matrix=matrix), clock=clock) as engine:
        number = engine.open_incident("Typo on a page", impact="low", urgency="high").number
        assert engine.get(number)["priority"] == "P1"  # the default matrix would say P3
        engine.change_priority(number, "low", "low", "can wait")
        assert engine.get(number)["priority"] == "P3"


# -- reading the past ------------------------------------------------------------------------


def three_step_incident(engine: Engine, clock: FixedClock) -> tuple[str, datetime]:
    """Opened at t0, assigned at t0+10m, acknowledged at t0+30m; returns (number, t0)."""
    t0 = clock.now()
    number = engine.open_incident("Payroll export fails", actor="desk").number
    clock.advance(10 * MIN)
    engine.assign(number, "finance-apps", actor="lead")
    clock.advance(20 * MIN)
    engine.acknowledge(number, actor="bob")
    return number, t0


def test_ticket_as_of_a_version_and_an_instant(engine: Engine, clock: FixedClock) -> None:
    number, t0 = three_step_incident(engine, clock)

    assert engine.get_as_of(number, version=1)["state"] == "new"
    assert engine.get_as_of(number, version=2)["group"] == "finance-apps"
    assert engine.get_as_of(number, at=t0)["version"] == 1
    between = engine.get_as_of(number, at=t0 + 20 * MIN)  # after assign (10m), before ack (30m)
    assert (between["version"], between["state"]) == (2, "assigned")
    assert engine.get_as_of(number, at=t0 + 10 * MIN)["version"] == 2  # at an event: included
    assert engine.get_as_of(number, at=t0 + DAY) == engine.get(number)
    with pytest.raises(NotFoundError):
        engine.get_as_of(number, at=t0 - timedelta(microseconds=1))
    with pytest.raises(NotFoundError):
        engine.get_as_of(number, version=4)


def test_history_names_actor_and_instant_of_every_event(engine: Engine, clock: FixedClock) -> None:
    number, t0 = three_step_incident(engine, clock)
    assert [(h.version, h.event, h.actor, h.at) for h in engine.history(number)] == [
        (1, "Opened", "desk", t0),
        (2, "Assigned", "lead", t0 + 10 * MIN),
        (3, "Acknowledged", "bob", t0 + 30 * MIN),
    ]
    assert engine.history(number)[1].details["group"] == "finance-apps"


def test_instant_earlier_than_the_last_event_is_refused(engine: Engine, clock: FixedClock) -> None:
    number, t0 = three_step_incident(engine, clock)
    before = recorded(engine)
    with pytest.raises(InputError) as refusal:
        engine.comment(number, "late", at=t0 + 15 * MIN)  # last event was at t0+30m
    assert refusal.value.field == "at"
    assert recorded(engine) == before


def test_naive_datetimes_are_refused(engine: Engine, clock: FixedClock) -> None:
    number = engine.open_incident("Clock drift").number
    naive = clock.now().replace(tzinfo=None)
    with pytest.raises(InputError) as refusal:
        engine.comment(number, "when?", at=naive)
    assert refusal.value.field == "at"
    with pytest.raises(InputError):
        engine.get_as_of(number, at=naive)


def test_unknown_tickets_are_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        engine.get("INC-000404")
    with pytest.raises(NotFoundError):
        engine.history("INC-000404")
    with pytest.raises(NotFoundError):
        engine.assign("INC-000404", "service-desk")
    with pytest.raises(InputError) as refusal:
        engine.get("not-a-number")
    assert refusal.value.field == "ticket"
    assert recorded(engine) == 0


def test_reopen_within_the_window_only(engine: Engine, clock: FixedClock) -> None:
    inside = engine.open_incident("Wi-Fi flaky").number
    outside = engine.open_incident("Badge reader dead").number
    engine.resolve(inside, "fixed")
    engine.resolve(outside, "fixed")
    clock.advance(7 * DAY)  # exactly the default 7-day window: still allowed
    engine.reopen(inside, "flaky again")
    clock.advance(timedelta(seconds=1))  # 7 days and 1 second after resolving

    with pytest.raises(DomainError) as refusal:
        engine.reopen(outside, "dead again")

    assert (refusal.value.ticket, refusal.value.state, refusal.value.command) == (
        outside,
        "resolved",
        "reopen",
    )
    assert "window" in str(refusal.value)
    assert engine.get(inside)["reopen_count"] == 1
    assert events_of(engine, outside) == ["Opened", "Resolved"]


def test_satisfaction_is_recorded_on_a_closed_ticket(engine: Engine) -> None:
    number = engine.open_request("New laptop").number
    engine.resolve(number, "fulfilled")
    engine.close_ticket(number)
    engine.record_satisfaction(number, 5, "quick", actor="customer")
    assert engine.get(number)["satisfaction"] == {"score": 5, "comment": "quick"}
