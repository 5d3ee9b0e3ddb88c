"""The engine asks the plugins: routing, the priority matrix, event reactions, dead letters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest
from opsledger.core.domain.priority import PriorityMatrix
from opsledger.core.domain.sla import default_policy
from opsledger.plugins import hookimpl
from opsledger.plugins.builtin import ServiceMapRouter
from opsledger.plugins.manager import build_manager, describe

from opsledger import Engine, FixedClock, Settings


def manager(*plugins: object, **named: object) -> pluggy.PluginManager:
    pm = build_manager()
    for plugin in plugins:
        pm.register(plugin)
    for name, plugin in named.items():
        pm.register(plugin, name=name)
    return pm


class BrokenRouter:
    @hookimpl
    def opsledger_route(self, ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
        raise RuntimeError(f"routing table unreachable for {ticket['number']}")


class FlakyPager:
    """Fails on ``Opened`` until told to work; remembers what it handled."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[tuple[str, int, int]] = []

    @hookimpl
    def opsledger_event_recorded(self, event: Any, record: Any) -> None:
        if type(event).__name__ != "Opened":
            return
        if self.broken:
            raise RuntimeError("pager API returned 503")
        self.handled.append((event.number, record.version, record.position))


def test_builtins_are_discovered_through_the_opsledger_entry_point() -> None:
    loaded = {p.name: p for p in describe(build_manager())}
    builtin = loaded["builtin"]
    assert builtin.module == "opsledger.plugins.builtin"
    assert builtin.distribution == "opsledger"  # came from the installed entry point
    assert {"opsledger_route", "opsledger_priority_matrix"} <= set(builtin.hooks)
    # Without entry points the built-ins are still there, registered in code.
    fallback = {p.name: p for p in describe(build_manager(entry_points=False))}
    assert fallback["builtin"].distribution is None


def test_example_plugin_routes_a_ticket_opened_without_a_group(
    backend: Settings, clock: FixedClock, example: ModuleType
) -> None:
    with Engine(backend, clock=clock, plugins=manager(example)) as engine:
        p1 = engine.open_incident(
            "card payments fail", impact="high", urgency="high", service="payments", actor="ana"
        ).number
        p3 = engine.open_incident(
            "slow mail", impact="low", urgency="high", service="email", actor="ana"
        ).number
        other = engine.open_incident("wiki typo", service="wiki", actor="ana").number
        named = engine.open_incident("refund", service="payments", group="finance", actor="ana")
        assert (engine.get(p1)["group"], engine.get(p1)["assignee"]) == (
            "payments-oncall",
            "incident-manager",  # P1 (high x high): the example adds the incident manager
        )
        assert (engine.get(p3)["group"], engine.get(p3)["assignee"]) == ("messaging", None)
        assert engine.get(other)["group"] is None  # the built-in service map is empty
        assert engine.get(named.number)["group"] == "finance"  # a named group is not re-routed
        assert engine.plugin_warnings() == []


def test_failing_router_is_skipped_with_a_warning_and_the_next_router_answers(
    backend: Settings, clock: FixedClock
) -> None:
    # Registered last, the broken router is asked first; the service map answers instead.
    pm = manager(ServiceMapRouter({"Payments": "payments-oncall"}), broken_router=BrokenRouter())
    with Engine(backend, clock=clock, plugins=pm) as engine:
        number = engine.open_incident("card payments fail", service="payments", actor="ana").number
        assert engine.get(number)["group"] == "payments-oncall"
        [warning] = engine.plugin_warnings()
    assert warning.hook == "opsledger_route"
    assert warning.subject == number
    assert warning.plugin == "broken_router"
    assert "routing table unreachable for INC-000001" in warning.error
    assert "Traceback" in warning.traceback


@pytest.mark.parametrize("answer", ["team", ("a", "b", "c"), ("", None), (7, None), ("ops", 3)])
def test_a_router_answering_nonsense_is_skipped_with_a_warning(
    answer: object, tmp_path: Path, clock: FixedClock
) -> None:
    class Confused:
        @hookimpl
        def opsledger_route(self, ticket: Any) -> object:
            return answer

    pm = manager(ServiceMapRouter({"Payments": "payments-oncall"}), confused=Confused())
    with Engine(Settings(db_path=str(tmp_path / "e.db")), clock=clock, plugins=pm) as engine:
        number = engine.open_incident("card payments fail", service="payments", actor="ana").number
        assert engine.get(number)["group"] == "payments-oncall"
        [warning] = engine.plugin_warnings()
    assert warning.plugin == "confused" and "bad answer" in warning.error


def test_matrix_from_a_plugin_rates_tickets_unless_settings_name_one(
    backend: Settings, clock: FixedClock
) -> None:
    everything_p2 = PriorityMatrix.from_rows(
        {i: {u: "P2" for u in ("high", "medium", "low")} for i in ("high", "medium", "low")}
    )

    class Strict:
        @hookimpl
        def opsledger_priority_matrix(self) -> PriorityMatrix:
            return everything_p2

    with Engine(backend, clock=clock, plugins=manager(Strict())) as engine:
        number = engine.open_incident("x", impact="low", urgency="low", actor="ana").number
        assert engine.get(number)["priority"] == "P2"  # default matrix: low x low -> P4
    everything_p1 = PriorityMatrix.from_rows(
        {i: {u: "P1" for u in ("high", "medium", "low")} for i in ("high", "medium", "low")}
    )
    configured = backend.with_(matrix=everything_p1)
    with Engine(configured, clock=clock, plugins=manager(Strict())) as engine:
        number = engine.open_incident("y", impact="low", urgency="low", actor="ana").number
        assert engine.get(number)["priority"] == "P1"


def test_failing_reaction_becomes_a_dead_letter_and_a_retry_delivers_it(
    backend: Settings, clock: FixedClock, example: ModuleType
) -> None:
    pager = FlakyPager()
    with Engine(backend, clock=clock, plugins=manager(example, pager=pager)) as engine:
        outcome = engine.open_incident("db down", impact="high", urgency="high", actor="ana")
        # The command is recorded whatever the plugin did, and the other plugin still ran.
        assert engine.get(outcome.number)["state"] == "new"
        assert len(example.PAGED) == 1
        [letter] = engine.dead_letters()
        assert letter.plugin == "pager"
        assert letter.topic.endswith("Opened")
        assert letter.attempts == 1
        assert "pager API returned 503" in letter.error
        assert "RuntimeError" in letter.traceback

        still = engine.retry_dead_letters()
        assert (still.retried, still.succeeded, still.still_failing) == (1, 0, 1)
        assert engine.dead_letters()[0].attempts == 2

        pager.broken = False
        done = engine.retry_dead_letters()
        assert (done.retried, done.succeeded, done.still_failing) == (1, 1, 0)
        assert engine.dead_letters() == []
        assert pager.handled == [(outcome.number, 1, letter.position)]
        assert len(example.PAGED) == 1  # a retry calls only the plugin that failed


def test_dead_letters_survive_a_restart_beside_the_events(
    backend: Settings, clock: FixedClock
) -> None:
    settings = backend
    with Engine(settings, clock=clock, plugins=manager(pager=FlakyPager())) as engine:
        number = engine.open_incident("db down", actor="ana").number
    working = FlakyPager()
    working.broken = False
    with Engine(settings, clock=clock, plugins=manager(pager=working)) as engine:
        assert [d.plugin for d in engine.dead_letters()] == ["pager"]
        assert engine.retry_dead_letters().succeeded == 1
        assert [h[0] for h in working.handled] == [number]


def test_hook_with_an_unknown_argument_is_rejected_at_registration() -> None:
    class Wrong:
        @hookimpl
        def opsledger_route(self, ticket: Any, nonsense: Any) -> None:
            return None

    with pytest.raises(pluggy.PluginValidationError):
        manager(Wrong())


def test_installed_plugin_is_found_through_its_entry_point_and_used(
    installed_example: Path, example: ModuleType, tmp_path: Path, clock: FixedClock
) -> None:
    loaded = {p.name: p for p in describe(build_manager())}
    assert (loaded["example"].module, loaded["example"].distribution) == (
        "opsledger_example",
        "opsledger-example",
    )
    assert loaded["example"].hooks == (
        "opsledger_adapters",
        "opsledger_classify",
        "opsledger_event_recorded",
        "opsledger_route",
    )
    assert loaded["example"].adapters == ("example-probe",)
    with Engine(Settings(db_path=str(tmp_path / "x.db")), clock=clock) as engine:
        number = engine.open_incident("card payments fail", service="payments", actor="ana").number
        assert engine.get(number)["group"] == "payments-oncall"


def test_policies_shipped_by_a_plugin_are_defined_once(
    backend: Settings, clock: FixedClock
) -> None:
    class Desk:
        @hookimpl
        def opsledger_sla_policies(self) -> list[dict[str, Any]]:
            return [default_policy().to_dict()]

    with Engine(backend, clock=clock, plugins=manager(Desk())) as engine:
        first = engine.define_plugin_policies(actor="sla-admin")
        again = engine.define_plugin_policies(actor="sla-admin")
        number = engine.open_incident("db down", impact="high", urgency="high", actor="ana").number
        assert [[e["event"] for e in o.events][-1] for o in first] == ["PolicyDefined"]
        assert [o.events for o in again] == [[]]  # an identical re-definition records nothing
        assert engine.sla_status(number, clock.now())  # the ticket now runs clocks
