"""Flapping and alert storms, decided by the IngestInbound handler through the public Engine.

Flapping: the ``flap_changes``-th open/resolve change of one key within ``flap_window_s`` is
recorded once on its ticket and suspends auto-resolve until an agent resolves it. Storms:
more than ``storm_threshold`` tickets opened by one source within ``storm_window_s`` open one
parent incident, and every ticket opened while the storm lasts is linked ``child_of`` it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from opsledger.core.commands import IngestInbound
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, FixedClock, InputError, NotFoundError, Outcome, Settings
from tests.conftest import T0

M = timedelta(minutes=1)
CLEARED = "alertmanager reports it cleared; auto-resolve suspended: flapping"
FLAP = {"flap_changes": 4, "flap_window_s": 3600}


@pytest.fixture
def desk(backend: Settings, clock: FixedClock) -> Iterator[Engine]:
    engine = Engine(backend, clock=clock)
    try:
        yield engine
    finally:
        engine.close()


def report(engine: Engine, state: str, key: str = "fp-1", **fields: Any) -> Outcome:
    if state == "open":
        fields.setdefault("summary", f"disk full ({key})")
    return engine.ingest("alertmanager", key, state, **fields)


def ticket_events(engine: Engine, number: str, name: str) -> list[dict[str, Any]]:
    return [e.details for e in engine.history(number) if e.event == name]


# -- flapping ---------------------------------------------------------------------------------


def test_flapping_is_recorded_once_at_the_nth_change_then_resolves_only_annotate(
    desk: Engine, clock: FixedClock
) -> None:
    number = report(desk, "open", **FLAP).number
    # changes: resolve (1), open (2, reopens), resolve (3), open (4: flapping)
    for i, state in enumerate(["resolve", "open", "resolve"], start=1):
        clock.advance(5 * M)
        report(desk, state, **FLAP)
        assert ticket_events(desk, number, "FlappingDetected") == [], f"change {i}"
    clock.advance(5 * M)
    fourth = report(desk, "open", **FLAP)
    assert fourth.number == number
    assert "FlappingDetected" in [e["event"] for e in fourth.events]
    detected = ticket_events(desk, number, "FlappingDetected")
    assert [(d["changes"], d["window_s"], d["source"]) for d in detected] == [
        (4, 3600, "alertmanager")
    ]
    # the source clears it again (change 5) and again after firing (7): only work notes
    for state in ("resolve", "open", "resolve"):
        clock.advance(5 * M)
        report(desk, state, **FLAP)
    ticket = desk.get(number)
    assert ticket["state"] in {"new", "assigned", "in_progress"}
    notes = [d["body"] for d in ticket_events(desk, number, "WorkNoteAdded")]
    assert notes == [CLEARED, CLEARED]
    assert len(ticket_events(desk, number, "FlappingDetected")) == 1  # once, not per change
    # an agent's resolve still works, and ends the suspension
    clock.advance(5 * M)
    desk.resolve(number, code="fixed", notes="replaced the disk", actor="alice")
    assert desk.get(number)["state"] == "resolved"


def test_changes_spread_wider_than_the_window_are_no_flapping(
    desk: Engine, clock: FixedClock
) -> None:
    number = report(desk, "open", **FLAP).number
    # 4 changes 25 min apart span 75 min: never 4 within the hour (3600 s)
    for state in ("resolve", "open", "resolve", "open", "resolve"):
        clock.advance(25 * M)
        report(desk, state, **FLAP)
    assert ticket_events(desk, number, "FlappingDetected") == []
    assert desk.get(number)["state"] == "resolved"  # the last resolve resolved it


def test_repeats_are_no_changes_and_flapping_off_records_nothing_more(
    desk: Engine, clock: FixedClock
) -> None:
    number = report(desk, "open", **FLAP).number
    for _ in range(5):
        clock.advance(M)
        report(desk, "open", **FLAP)  # repeats while open: occurrences, no change
    assert ticket_events(desk, number, "FlappingDetected") == []
    # flapping off (the default): a resolve records no correlation event at all
    clock.advance(M)
    off = report(desk, "resolve")
    assert [e["event"] for e in off.events if e["record"] is None] == []


def test_after_an_agent_resolves_a_source_reopen_can_auto_resolve_again(
    desk: Engine, clock: FixedClock
) -> None:
    number = report(desk, "open", flap_changes=3).number
    for state in ("resolve", "open", "resolve"):  # changes 1, 2 and 3: flapping
        clock.advance(M)
        report(desk, state, flap_changes=3)
    assert desk.get(number)["state"] != "resolved"  # the 3rd change only annotated
    clock.advance(M)
    desk.resolve(number, code="fixed", notes="", actor="alice")
    # 2 h later (the earlier changes are out of the window) it fires and clears once:
    # two changes, under three, so the source resolves it again
    clock.advance(120 * M)
    report(desk, "open", flap_changes=3)
    clock.advance(M)
    report(desk, "resolve", flap_changes=3)
    assert desk.get(number)["state"] == "resolved"
    assert len(ticket_events(desk, number, "FlappingDetected")) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"flap_changes": 1}, "flap_changes"),
        ({"flap_changes": -2}, "flap_changes"),
        ({"flap_window_s": 0}, "flap_window_s"),
        ({"storm_threshold": True}, "storm_threshold"),
        ({"storm_window_s": 10**9}, "storm_window_s"),
    ],
)
def test_bad_thresholds_name_their_field(desk: Engine, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        report(desk, "open", **fields)
    assert caught.value.field == field


# -- storms -----------------------------------------------------------------------------------


STORM = {"storm_threshold": 3, "storm_window_s": 300}


def links(engine: Engine, number: str, relation: str) -> list[str]:
    return [lk["target"] for lk in engine.get(number)["links"] if lk["relation"] == relation]


def test_storm_is_declared_once_and_later_incidents_link_to_its_parent(
    desk: Engine, clock: FixedClock
) -> None:
    numbers = []
    for i in range(6):  # one a minute: all six within 300 s
        numbers.append(report(desk, "open", key=f"fp-{i}", **STORM).number)
        clock.advance(M)
    # INC-1..3 open quietly; the 4th crosses the threshold of 3: it opens the parent
    # (INC-000005, numbered before the 5th alert's ticket) and is its first child
    assert numbers == ["INC-000001", "INC-000002", "INC-000003", "INC-000004", "INC-000006",
                       "INC-000007"]  # fmt: skip
    parent = desk.get("INC-000005")
    assert parent["summary"] == "Alert storm from alertmanager"
    assert links(desk, "INC-000005", "parent_of") == ["INC-000004", "INC-000006", "INC-000007"]
    for child in ("INC-000004", "INC-000006", "INC-000007"):
        assert links(desk, child, "child_of") == ["INC-000005"]
    for quiet in ("INC-000001", "INC-000002", "INC-000003"):
        assert links(desk, quiet, "child_of") == []
    # after the window (the last opening at minute 5; now minute 6 + 10): no storm, no link
    clock.advance(10 * M)
    late = report(desk, "open", key="fp-late", **STORM).number
    assert links(desk, late, "child_of") == []
    assert desk.last_number(RecordKind.INCIDENT) == 8  # no second parent


def test_a_storm_in_one_batch_declares_once(desk: Engine) -> None:
    commands = [
        IngestInbound(
            source="grafana",
            external_id=f"a{i}",
            state="open",
            summary=f"alert {i}",
            actor="grafana",
            storm_threshold=10,
        )
        for i in range(30)
    ]
    results = desk.execute_batch(commands)
    assert all(isinstance(r, Outcome) for r in results)
    declared = [
        e
        for r in results
        if isinstance(r, Outcome)
        for e in r.events
        if e["event"] == "StormDeclared"
    ]
    assert len(declared) == 1
    # 30 alerts + 1 parent; the parent is INC-000012 (opened by the 11th alert)
    assert desk.last_number(RecordKind.INCIDENT) == 31
    assert len(links(desk, "INC-000012", "parent_of")) == 20


def test_repeats_and_reopens_are_not_counted_as_openings(desk: Engine, clock: FixedClock) -> None:
    report(desk, "open", key="same", **STORM)
    for _ in range(5):
        clock.advance(M)
        report(desk, "open", key="same", **STORM)  # occurrences
    assert desk.last_number(RecordKind.INCIDENT) == 1


# -- a state machine: whatever the sequence, flapping and storms stay recorded once ----------


class FlapAndStorm(RuleBasedStateMachine):
    """Random opens and resolves of a few keys; invariants on what the log holds."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(T0)
        self.dir = tempfile.TemporaryDirectory()
        self.engine = Engine(Settings(db_path=f"{self.dir.name}/e.db"), clock=self.clock)
        self.opened: set[str] = set()

    @rule(key=st.sampled_from(["a", "b", "c", "d", "e"]), minutes=st.integers(0, 20))
    def fire(self, key: str, minutes: int) -> None:
        self.clock.advance(minutes * M)
        number = report(self.engine, "open", key=key, flap_changes=3, storm_threshold=2).number
        self.opened.add(number)

    @precondition(lambda self: bool(self.opened))
    @rule(key=st.sampled_from(["a", "b", "c", "d", "e"]), minutes=st.integers(0, 20))
    def clear(self, key: str, minutes: int) -> None:
        self.clock.advance(minutes * M)
        with contextlib.suppress(NotFoundError):  # a key never fired: refused
            report(self.engine, "resolve", key=key, flap_changes=3, storm_threshold=2)

    @invariant()
    def flapping_once_per_suspension_and_one_parent_per_child(self) -> None:
        for number in self.opened:
            history = self.engine.history(number)
            names = [e.event for e in history]
            # never two detections without a resolve or reopen between them
            last = None
            for name in names:
                if name == "FlappingDetected":
                    assert last != "FlappingDetected", number
                if name in ("FlappingDetected", "Resolved", "Reopened"):
                    last = name
            ticket = self.engine.get(number)
            parents = [lk for lk in ticket["links"] if lk["relation"] == "child_of"]
            assert len(parents) <= 1

    def teardown(self) -> None:
        self.engine.close()
        self.dir.cleanup()


FlapAndStorm.TestCase.settings = settings(max_examples=15, stateful_step_count=15, deadline=None)
test_flapping_and_storms_machine = FlapAndStorm.TestCase
