"""Aggregates that take an event per report for ever are snapshotted, and a snapshot reads
back as the same state the events make (datetimes included)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from opsledger.core.domain.correlation import Correlation, correlation_id
from opsledger.core.domain.storms import SourceActivity, source_activity_id

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0

S = timedelta(seconds=1)


def state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def from_events(engine: Engine, aggregate_id: UUID) -> Aggregate:
    """The aggregate replayed from its events alone, ignoring any snapshot."""
    events = list(engine.app.events.get(aggregate_id))
    aggregate: Aggregate | None = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert aggregate is not None
    return aggregate


def test_long_lived_correlation_and_source_activity_read_back_from_snapshots(
    backend: Settings, clock: FixedClock
) -> None:
    engine = Engine(backend, clock=clock)
    try:
        at = T0
        # one flapping alert (an open/resolve pair per step) and a new alert per step, so the
        # correlation and the source's activity each pass their snapshot interval (100)
        for i in range(110):
            for state_ in ("open", "resolve"):
                at += S
                engine.ingest(
                    "am", "flappy", state_, summary="flaps", at=at, flap_changes=500,
                    flap_window_s=3600,
                )  # fmt: skip
            at += S
            engine.ingest(
                "am", f"fp-{i}", "open", summary="new", at=at, storm_threshold=1000,
                storm_window_s=60,
            )  # fmt: skip
        for aggregate_id, cls in (
            (correlation_id("am", "flappy"), Correlation),
            (source_activity_id("am"), SourceActivity),
        ):
            snapshots = list(engine.app.snapshots.get(aggregate_id))  # type: ignore[union-attr]
            assert snapshots, f"no snapshot of the {cls.__name__}"
            restored = Engine(backend, clock=clock)  # a cold cache: the snapshot is read
            try:
                loaded = restored.app.repository.get(aggregate_id)
                assert isinstance(loaded, cls)
                assert state(loaded) == state(from_events(engine, aggregate_id))
                instants = loaded.changes if isinstance(loaded, Correlation) else loaded.opened
                assert instants and all(t.tzinfo is not None for t in instants)
            finally:
                restored.close()
    finally:
        engine.close()
