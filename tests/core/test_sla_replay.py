"""Replay determinism of the SLA clocks: the events depend on what happened, never on ticking.

Scenarios are small on purpose (targets of minutes, a 45-minute span) so that the reference
run, which ticks every second of the span, stays cheap. The short office calendar opens three
times in the morning (09:00-09:04, 09:06-09:12, 09:20-09:30 UTC, Monday to Friday) so breaks
and closed time fall inside the span; the 24x7 calendar covers P1 and the vendor's contract.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opsledger.core.domain.records import RecordKind, record_id
from opsledger.core.whatif import replay_without_clocks

from opsledger import DomainError, Engine, FixedClock, Settings

T0 = datetime(2026, 3, 2, 8, 58, tzinfo=UTC)  # a Monday, two minutes before the first opening
SPAN = 45 * 60  # seconds: 08:58-09:43
END = T0 + timedelta(seconds=SPAN)
TICKETS = ("INC-000001", "INC-000002")
CLOCK_EVENTS = {
    "ClockStarted", "ClockPaused", "ClockResumed", "WarningReached", "BreachRecorded",
    "ClockMet", "ClockStopped", "ClockCancelled", "TargetChanged",
}  # fmt: skip
SHORT_OFFICE: dict[str, Any] = {
    "timezone": "UTC",
    "hours": {
        d: [["09:00", "09:04"], ["09:06", "09:12"], ["09:20", "09:30"]]
        for d in ("mon", "tue", "wed", "thu", "fri")
    },
}
CALENDARS: dict[str, Any] = {
    "24x7": {"timezone": "UTC", "always_open": True},
    "short": SHORT_OFFICE,
}
# P1, P2, P3 and P4, which the customer SLA does not cover (its clocks are cancelled)
PRIORITIES = (("high", "high"), ("high", "medium"), ("medium", "medium"), ("low", "low"))
GROUPS = ("desk", "net", "facilities", "desk")  # facilities has no OLA


def policies(on_reopen: str, on_priority_change: str) -> list[dict[str, Any]]:
    """Customer SLA, an OLA between two groups and a vendor contract, all with tiny targets."""
    return [
        {
            "name": "fast",
            "on_reopen": on_reopen,
            "on_priority_change": on_priority_change,
            "calendars": CALENDARS,
            "targets": {
                "P1": {
                    "calendar": "24x7",
                    "response_minutes": 2,
                    "resolution_minutes": 10,
                    "update_minutes": 3,
                },
                "P2": {
                    "calendar": "short",
                    "response_minutes": 1,
                    "resolution_minutes": 6,
                    "update_minutes": 2,
                },
                "P3": {"calendar": "short", "response_minutes": 2, "resolution_minutes": 12},
            },
        },
        {
            "name": "handoff",
            "agreement": "ola",
            "groups": ["desk", "net"],
            "calendars": CALENDARS,
            "targets": {
                p: {"calendar": "short", "response_minutes": 1, "resolution_minutes": 4}
                for p in ("P1", "P2", "P3")
            },
        },
        {
            "name": "acme",
            "agreement": "uc",
            "vendors": ["acme"],
            "calendars": CALENDARS,
            "targets": {
                p: {"calendar": "24x7", "response_minutes": 1, "resolution_minutes": 3}
                for p in ("P1", "P2", "P3")
            },
        },
    ]


# -- scenarios ---------------------------------------------------------------------------------

ACTIONS = (
    "acknowledge", "agent_comment", "reporter_comment", "work_note", "hold_customer",
    "hold_vendor", "hold_change", "resume", "customer_reply", "resolve", "reopen",
    "reprioritise", "assign", "escalate", "close", "cancel",
)  # fmt: skip
# Weighted towards the steps that make later ones possible (a hold needs an assigned or
# acknowledged ticket, a resume a held one), so fewer drawn steps are refusals.
WEIGHTED = (*ACTIONS, "acknowledge", "assign", "hold_customer", "hold_vendor", "resume", "resume")


@dataclass(frozen=True, slots=True)
class Step:
    ticket: int
    action: str
    arg: int
    gap: int  # seconds after the previous step


def _act(engine: Engine, number: str, step: Step, at: datetime) -> None:
    """One lifecycle command; a refusal (wrong state) is part of the scenario, not an error."""
    actions: dict[str, Callable[[], object]] = {
        "acknowledge": lambda: engine.acknowledge(number, actor="agent", at=at),
        "agent_comment": lambda: engine.comment(number, "update", actor="agent", at=at),
        "reporter_comment": lambda: engine.comment(number, "news?", actor="reporter", at=at),
        "work_note": lambda: engine.comment(number, "note", public=False, actor="agent", at=at),
        "hold_customer": lambda: engine.hold(number, "awaiting_customer", actor="agent", at=at),
        "hold_vendor": lambda: engine.hold(
            number, "awaiting_vendor", vendor="acme" if step.arg else None, actor="agent", at=at
        ),
        "hold_change": lambda: engine.hold(number, "awaiting_change", actor="agent", at=at),
        "resume": lambda: engine.resume(number, actor="agent", at=at),
        "customer_reply": lambda: engine.customer_reply(number, "here", actor="reporter", at=at),
        "resolve": lambda: engine.resolve(number, code="fixed", actor="agent", at=at),
        "reopen": lambda: engine.reopen(number, reason="again", actor="reporter", at=at),
        "reprioritise": lambda: engine.change_priority(
            number, *PRIORITIES[step.arg], "re-rated", actor="agent", at=at
        ),
        "assign": lambda: engine.assign(number, GROUPS[step.arg], actor="agent", at=at),
        "escalate": lambda: engine.escalate(
            number, "functional", GROUPS[step.arg], actor="agent", at=at
        ),
        "close": lambda: engine.close_ticket(number, actor="agent", at=at),
        "cancel": lambda: engine.cancel(number, reason="duplicate", actor="agent", at=at),
    }
    with suppress(DomainError):
        actions[step.action]()


@dataclass(frozen=True, slots=True)
class Scenario:
    on_reopen: str
    on_priority_change: str
    opened: tuple[int, int]  # seconds after T0
    priorities: tuple[int, int]
    steps: tuple[Step, ...]

    def commands(self) -> list[tuple[datetime, Callable[[Engine], None]]]:
        """The commands in time order, each with its instant; none after END."""

        def opener(i: int) -> Callable[[Engine], None]:
            def run(engine: Engine) -> None:
                impact, urgency = PRIORITIES[self.priorities[i]]
                engine.open_incident(
                    f"incident {i}", impact=impact, urgency=urgency, reporter="reporter",
                    actor="desk", at=T0 + timedelta(seconds=self.opened[i]),
                )  # fmt: skip

            return run

        def stepper(step: Step, at: datetime) -> Callable[[Engine], None]:
            return lambda engine: _act(engine, TICKETS[step.ticket], step, at)

        first, second = sorted(self.opened)
        assert self.opened == (first, second)
        out = [(T0 + timedelta(seconds=s), opener(i)) for i, s in enumerate(self.opened)]
        at = T0 + timedelta(seconds=second)
        for step in self.steps:
            at += timedelta(seconds=step.gap)
            if at > END:
                break
            out.append((at, stepper(step, at)))
        return out


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    first = draw(st.integers(0, 240))
    return Scenario(
        on_reopen=draw(st.sampled_from(["resume", "new_cycle"])),
        on_priority_change=draw(st.sampled_from(["retroactive", "from_change"])),
        opened=(first, first + draw(st.integers(0, 120))),
        priorities=(draw(st.integers(0, 3)), draw(st.integers(0, 3))),
        steps=tuple(
            draw(
                st.lists(
                    st.builds(
                        Step,
                        ticket=st.integers(0, 1),
                        action=st.sampled_from(WEIGHTED),
                        arg=st.integers(0, 3),
                        gap=st.integers(0, 60) | st.integers(0, 400),  # bursts and lulls
                    ),
                    max_size=18,
                )
            )
        ),
    )


# -- running and reading -------------------------------------------------------------------


@contextmanager
def store() -> Iterator[Settings]:
    """A fresh in-memory SQLite store per run, shared by name between the engines of the run.

    In memory because a commit to disk costs milliseconds and the reference run commits at
    every second something is due; the open connection keeps the store alive while one
    engine closes and the next one opens.
    """
    name = f"file:sla-replay-{uuid.uuid4().hex}?mode=memory&cache=shared"
    keeper = sqlite3.connect(name, uri=True)
    try:
        yield Settings(db_path=name)
    finally:
        keeper.close()


def open_engine(where: Settings, scenario: Scenario | None = None) -> Engine:
    engine = Engine(where, clock=FixedClock(T0))
    if scenario is not None:
        for policy in policies(scenario.on_reopen, scenario.on_priority_change):
            engine.define_policy(policy, actor="sla-admin", at=T0 - timedelta(days=1))
    return engine


Event = tuple[str, datetime, dict[str, Any]]


def clock_events(engine: Engine, *, noticed: bool = True) -> dict[str, list[Event]]:
    """Every clock event of the scenario's tickets, optionally without ``noticed_at``."""
    out: dict[str, list[Event]] = {}
    for number in TICKETS:
        out[number] = [
            (
                entry.event,
                entry.at,
                {k: v for k, v in entry.details.items() if noticed or k != "noticed_at"},
            )
            for entry in engine.history(number)
            if entry.event in CLOCK_EVENTS
        ]
    return out


def assert_nothing_fired_twice(events: dict[str, list[Event]]) -> None:
    for log in events.values():
        fired = [
            (d["clock"], d.get("threshold", 100))
            for name, _, d in log
            if name in ("WarningReached", "BreachRecorded")
        ]
        assert len(fired) == len(set(fired)), fired


def assert_nothing_overdue(engine: Engine, now: datetime) -> None:
    """After a tick at ``now`` no ticket has a threshold left before ``now``."""
    for number in TICKETS[: engine.last_number(RecordKind.INCIDENT)]:
        due = engine.record(number).next_due()  # type: ignore[attr-defined]
        assert due is None or due >= now, (number, due, now)


def run_ticking_every_second(scenario: Scenario) -> dict[str, list[Event]]:
    """The reference: a tick at every whole second of the span, before that second's commands."""
    commands = scenario.commands()
    with store() as where:
        engine = open_engine(where, scenario)
        try:
            i = 0
            for second in range(SPAN + 1):
                now = T0 + timedelta(seconds=second)
                engine.tick(now)
                while i < len(commands) and commands[i][0] <= now:
                    commands[i][1](engine)
                    i += 1
            assert i == len(commands)
            engine.tick(END + timedelta(seconds=1))
            return clock_events(engine, noticed=False)
        finally:
            engine.close()


# -- properties --------------------------------------------------------------------------------


@given(scenario=scenarios(), data=st.data())
def test_ticks_at_random_instants_record_what_ticking_every_second_records(
    scenario: Scenario, data: st.DataObject
) -> None:
    commands = scenario.commands()
    n = len(commands)
    # Tick instants anywhere in the span (any microsecond), repeated or not; each lands in a
    # slot before some command at or after it, or after the last one, so ticks arrive late
    # and out of order relative to each other and to the commands.
    instants = data.draw(
        st.lists(st.integers(0, SPAN * 1_000_000), max_size=25).map(
            lambda xs: [T0 + timedelta(microseconds=x) for x in xs]
        ),
        label="ticks",
    )
    slots: list[list[datetime]] = [[] for _ in range(n + 1)]
    for at in instants:
        first = next((i for i, (c, _) in enumerate(commands) if c >= at), n)
        slots[data.draw(st.integers(first, n), label="slot")].append(at)
    restart = data.draw(st.integers(0, n), label="restart before command")

    with store() as where:
        engine = open_engine(where, scenario)
        try:
            for i in range(n + 1):
                if i == restart:  # a new process: index rebuilt from the stored events
                    engine.close()
                    engine = open_engine(where)
                for at in slots[i]:
                    engine.tick(at)
                    assert engine.tick(at) == 0  # a repeated tick records nothing
                    assert_nothing_overdue(engine, at)
                if i < n:
                    commands[i][1](engine)
            engine.tick(END + timedelta(seconds=1))
            got = clock_events(engine, noticed=False)
        finally:
            engine.close()

    expected = run_ticking_every_second(scenario)
    assert_nothing_fired_twice(expected)
    assert got == expected


@given(scenario=scenarios())
def test_replaying_the_ticket_events_with_the_recorded_policies_rebuilds_the_clock_events(
    scenario: Scenario,
) -> None:
    """The SLA rules are a function of the ticket's own events: drop every clock event,
    replay the rest through the rules with the policy book, and the same clock events follow
    (only ``noticed_at`` may differ: the replay notices everything as soon as possible)."""
    with store() as where:
        engine = open_engine(where, scenario)
        try:
            for _, command in scenario.commands():
                command(engine)
            engine.tick(END)
            meta = {"originator_id", "originator_version", "noticed_at"}
            for number in TICKETS:
                stored = list(engine.app.events.get(record_id(number)))
                recorded = [
                    (type(e).__name__, {k: v for k, v in vars(e).items() if k not in meta})
                    for e in stored
                    if type(e).__name__ in CLOCK_EVENTS
                ]
                rebuilt = replay_without_clocks(stored, engine.policies(), END)
                replayed = [
                    (type(e).__name__, {k: v for k, v in vars(e).items() if k not in meta})
                    for e in rebuilt.pending_events
                    if type(e).__name__ in CLOCK_EVENTS
                ]
                assert replayed == recorded
                assert rebuilt.clocks == engine.record(number).clocks  # type: ignore[attr-defined]
        finally:
            engine.close()


# -- a second engine on the same store -------------------------------------------------------

FIXED = Scenario(
    on_reopen="new_cycle",
    on_priority_change="retroactive",
    opened=(60, 90),  # 08:59:00 and 08:59:30
    priorities=(0, 2),  # P1 on 24x7, P3 on the short office calendar
    steps=(
        Step(0, "acknowledge", 0, 30),  # 09:00:00
        Step(1, "assign", 0, 30),  # 09:00:30 to desk: OLA clocks start
        Step(0, "agent_comment", 0, 90),  # 09:02:00 update cycle 2
        Step(1, "hold_vendor", 1, 60),  # 09:03:00 awaiting acme: UC clocks start
        Step(1, "resume", 0, 240),  # 09:07:00
        Step(0, "reprioritise", 1, 60),  # 09:08:00 P1 -> P2, retroactive
        Step(1, "resolve", 0, 600),  # 09:18:00
        Step(1, "reopen", 0, 300),  # 09:23:00 a new cycle
    ),
)
FIXED_TICKS = [T0 + timedelta(minutes=m) for m in (3, 7, 7, 5, 12, 30, 44)]


def _run_fixed(*, restart: bool) -> tuple[dict[str, list[Event]], list[Any], list[Any]]:
    """FIXED, then its ticks, optionally from a second engine opened on the same store."""
    with store() as where:
        engine = open_engine(where, FIXED)
        try:
            for _, command in FIXED.commands():
                command(engine)
            if restart:
                engine.close()
                engine = open_engine(where)
            for at in FIXED_TICKS:
                engine.tick(at)
            statuses = [
                engine.sla_status(n, as_of=T0 + timedelta(minutes=m))
                for n in TICKETS
                for m in (4, 20, 44)
            ]
            clocks = [engine.record(n).clocks for n in TICKETS]  # type: ignore[attr-defined]
            return clock_events(engine), statuses, clocks
        finally:
            engine.close()


def test_a_second_engine_on_the_same_store_fires_exactly_the_same_events() -> None:
    """The scheduler's index is rebuilt from the store: a fresh engine ticking the same
    instants records the very same events, ``noticed_at`` included, as one that ran all along."""
    all_along = _run_fixed(restart=False)
    assert _run_fixed(restart=True) == all_along
    events = all_along[0]
    assert all(events.values())  # the scenario did drive clocks on both tickets
    names = {name for log in events.values() for name, _, _ in log}
    assert {"ClockPaused", "ClockResumed", "TargetChanged", "BreachRecorded"} <= names


def test_two_engines_on_one_store_never_record_a_clock_event_twice() -> None:
    with store() as where:
        live = open_engine(where, FIXED)
        try:
            for _, command in FIXED.commands():
                command(live)
            live.tick(T0 + timedelta(minutes=10))
            fresh = open_engine(where)
            try:
                for number in TICKETS:  # a reload from the store is the same aggregate
                    a, b = live.record(number), fresh.record(number)
                    assert a.clocks == b.clocks  # type: ignore[attr-defined]
                    assert a.next_due() == b.next_due()  # type: ignore[attr-defined]
                    assert a.version == b.version
                    assert live.sla_explain(number) == fresh.sla_explain(number)
                assert fresh.tick(END) > 0
                assert live.tick(END) == 0  # its index is stale, the tickets are not
                assert_nothing_fired_twice(clock_events(live))
            finally:
                fresh.close()
        finally:
            live.close()
