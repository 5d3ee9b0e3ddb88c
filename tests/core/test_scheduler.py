"""The deadline index against a plain dict, and the engine's tick driving it.

The index is a heap with lazy deletion; a dict of ``number -> due`` is the obvious model of
what it must answer. The state machine mixes updates (to an instant or to None), pops and
bursts of re-updates that force the heap to compact.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from opsledger.core import commands as c
from opsledger.core.engine import Outcome
from opsledger.core.scheduler import DeadlineIndex

from opsledger import ConflictError, Engine, FixedClock, Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
NUMBERS = st.sampled_from([f"INC-{i:06d}" for i in range(1, 9)])
INSTANTS = st.integers(0, 60).map(lambda s: T0 + timedelta(seconds=s))


class DeadlineIndexAgainstADict(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.index = DeadlineIndex()
        self.model: dict[str, datetime] = {}

    @rule(number=NUMBERS, due=st.none() | INSTANTS)
    def update(self, number: str, due: datetime | None) -> None:
        self.index.update(number, due)
        if due is None:
            self.model.pop(number, None)
        else:
            self.model[number] = due

    @rule(number=NUMBERS, count=st.integers(20, 120), step=st.integers(1, 60), last=INSTANTS)
    def churn(self, number: str, count: int, step: int, last: datetime) -> None:
        """Many re-updates of one ticket leave many stale heap entries (enough to make the heap
        compact itself); only ``last`` counts."""
        for i in range(count):
            self.index.update(number, T0 + timedelta(seconds=i * step % 61))
        self.index.update(number, last)
        self.model[number] = last

    @rule(now=INSTANTS)
    def pop_due(self, now: datetime) -> None:
        got = self.index.pop_due(now)
        due = {n: at for n, at in self.model.items() if at <= now}
        assert sorted(got) == sorted(due)  # each due ticket exactly once, nothing else
        assert [due[n] for n in got] == sorted(due.values())  # earliest first
        for number in got:
            del self.model[number]

    @invariant()
    def answers_like_the_dict(self) -> None:
        assert len(self.index) == len(self.model)
        assert self.index.next_due() == min(self.model.values(), default=None)


TestDeadlineIndexAgainstADict = DeadlineIndexAgainstADict.TestCase


@given(
    dues=st.dictionaries(NUMBERS, INSTANTS, min_size=1),
    cut=INSTANTS,
    later=INSTANTS,
)
def test_popping_at_any_instant_splits_the_tickets_at_that_instant(
    dues: dict[str, datetime], cut: datetime, later: datetime
) -> None:
    index = DeadlineIndex()
    for number, due in dues.items():
        index.update(number, due)
    assert index.pop_due(cut) == [
        n for n, _ in sorted(dues.items(), key=lambda kv: (kv[1], kv[0])) if dues[n] <= cut
    ]
    assert index.pop_due(cut) == []  # a repeated pop finds nothing
    rest = {n: d for n, d in dues.items() if d > cut}
    assert index.next_due() == min(rest.values(), default=None)
    assert index.pop_due(min(later, cut)) == []  # an earlier instant finds nothing either
    assert sorted(index.pop_due(max(later, *dues.values()))) == sorted(rest)
    assert len(index) == 0 and index.next_due() is None


def test_updating_to_none_removes_the_ticket_even_with_its_heap_entry_still_there() -> None:
    index = DeadlineIndex()
    index.update("INC-000001", T0)
    index.update("INC-000002", T0 + timedelta(seconds=5))
    index.update("INC-000001", None)
    assert len(index) == 1
    assert index.next_due() == T0 + timedelta(seconds=5)
    assert index.pop_due(T0 + timedelta(hours=1)) == ["INC-000002"]
    # Re-adding at the very instant of the stale entry is one entry, popped once.
    index.update("INC-000001", T0)
    index.update("INC-000001", T0)
    assert index.pop_due(T0) == ["INC-000001"]
    assert index.pop_due(T0) == []


# -- the engine drives the index ---------------------------------------------------------------

POLICY = {
    "name": "round-the-clock",
    "calendars": {"24x7": {"timezone": "UTC", "always_open": True}},
    "targets": {
        p: {"calendar": "24x7", "response_minutes": 10, "resolution_minutes": 60}
        for p in ("P1", "P2", "P3", "P4")
    },
}


@pytest.fixture
def engine(backend: Settings) -> Iterator[Engine]:
    e = Engine(backend, clock=FixedClock(T0))
    try:
        e.define_policy(POLICY, actor="sla-admin", at=T0)
        yield e
    finally:
        e.close()


def test_tick_fires_only_what_is_due_across_many_tickets(engine: Engine) -> None:
    # Twenty tickets opened a minute apart from 09:00: each has a 10 min response clock
    # (50 % at +5, 75 % at +7:30, 90 % at +9, breach after +10) and a 60 min resolution.
    numbers = [
        engine.open_incident(f"disk full {i}", actor="monitor", at=T0 + timedelta(minutes=i)).number
        for i in range(20)
    ]
    engine.acknowledge(numbers[0], actor="agent", at=T0 + timedelta(minutes=20))
    # numbers[0]: acknowledging at 09:20 first caught it up (4 response events), then met it.
    assert len(engine.deadlines()) == 20
    # At 09:15: ticket i (opened 09:0i) is 15 - i minutes in. Response events due by then:
    # breach for i <= 4 (past 10 min: 4 events each, i = 1..4), 90 % for i = 5, 6 (3 each),
    # 75 % for i = 7 (2), 50 % for i = 8, 9, 10 (1 each). 16 + 6 + 2 + 3 = 27. Ticket 0 is
    # already caught up, and its resolution 50 % (09:30) is not due.
    assert engine.tick(T0 + timedelta(minutes=15)) == 27
    assert engine.tick(T0 + timedelta(minutes=15)) == 0
    assert engine.tick(T0 + timedelta(minutes=12)) == 0
    # Resolving every ticket empties the index: nothing is left to fire.
    for number in numbers:
        engine.resolve(number, code="fixed", actor="agent", at=T0 + timedelta(minutes=25))
    assert len(engine.deadlines()) == 0 and engine.deadlines().next_due() is None
    assert engine.tick(T0 + timedelta(days=1)) == 0


def test_index_built_from_the_store_knows_every_open_clock(backend: Settings) -> None:
    first = Engine(backend, clock=FixedClock(T0))
    try:
        first.define_policy(POLICY, actor="sla-admin", at=T0)
        a = first.open_incident("a", actor="monitor", at=T0).number
        b = first.open_incident("b", actor="monitor", at=T0 + timedelta(minutes=3)).number
        first.resolve(a, code="fixed", actor="agent", at=T0 + timedelta(minutes=4))
    finally:
        first.close()
    second = Engine(backend, clock=FixedClock(T0))
    try:
        index = second.deadlines()
        # Only b is open: its response 50 % is due 09:03 + 5 min.
        assert len(index) == 1 and index.next_due() == T0 + timedelta(minutes=8)
        assert second.tick(T0 + timedelta(minutes=8)) == 1
        assert [e.event for e in second.history(b)][-1] == "WarningReached"
    finally:
        second.close()


def test_a_tick_that_fails_half_way_leaves_the_unreached_tickets_due(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = engine.open_incident("a", actor="monitor", at=T0).number
    second = engine.open_incident("b", actor="monitor", at=T0).number
    real = engine.execute

    def conflicting_once(command: c.Command) -> Outcome:
        if isinstance(command, c.TickClocks):
            monkeypatch.setattr(engine, "execute", real)
            raise ConflictError("another worker kept writing the same ticket")
        return real(command)

    monkeypatch.setattr(engine, "execute", conflicting_once)
    with pytest.raises(ConflictError):
        engine.tick(T0 + 5 * M)  # both response clocks reach 50 % at 09:05
    # Neither ticket was caught up, and neither was forgotten: the next tick records both.
    assert engine.tick(T0 + 5 * M) == 2
    assert [h.event for h in engine.history(first)][-1] == "WarningReached"
    assert [h.event for h in engine.history(second)][-1] == "WarningReached"


def test_tick_fires_clocks_of_tickets_another_engine_opened(tmp_path: Path) -> None:
    """Workers share one store: each engine's index must learn the others' tickets."""
    import orjson

    from tests.core.test_batch import POLICY

    db = str(tmp_path / "shared.db")
    ticker = Engine(Settings(db_path=db), clock=FixedClock(T0))
    other = Engine(Settings(db_path=db), clock=FixedClock(T0))
    try:
        other.define_policy(orjson.loads(orjson.dumps(POLICY)), actor="admin", at=T0 - M)
        assert ticker.tick(T0) == 0  # builds the index while the store holds no ticket
        # P1 round the clock: response 15 minutes, so 50 % is reached at T0 + 7.5 minutes
        number = other.open_incident("db down", actor="mon", impact="high", urgency="high").number
        assert ticker.tick(T0 + 8 * M) == 1
        assert [e.event for e in ticker.history(number)][-1] == "WarningReached"
    finally:
        ticker.close()
        other.close()
