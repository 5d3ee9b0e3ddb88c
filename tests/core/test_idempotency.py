"""Idempotency keys: a retried command is recorded once, across restarts and racing threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opsledger.core.domain.records import RecordKind

from opsledger import ConflictError, Engine, FixedClock, InputError, Outcome, Settings


def recorded(engine: Engine) -> int:
    return engine.app.recorder.max_notification_id() or 0


def test_same_key_twice_records_once_and_returns_the_first_outcome(engine: Engine) -> None:
    first = engine.open_incident("Mail queue stuck", idempotency_key="alert-7781")
    before = (recorded(engine), len(engine.history(first.number)))

    again = engine.open_incident("Mail queue stuck", idempotency_key="alert-7781")

    assert (again.number, again.version, again.events) == (
        first.number,
        first.version,
        first.events,
    )
    assert (first.duplicate, again.duplicate) == (False, True)
    assert (recorded(engine), len(engine.history(first.number))) == before
    assert engine.last_number(RecordKind.INCIDENT) == 1


def test_a_retry_with_changed_content_still_returns_the_first_result(engine: Engine) -> None:
    number = engine.open_incident("Printer jam").number
    first = engine.assign(number, "desk", "bob", idempotency_key="jira-PRJ-1:assign")
    again = engine.assign(number, "network", "chen", idempotency_key="jira-PRJ-1:assign")
    assert again == Outcome(first.number, first.version, first.events, duplicate=True)
    assert (engine.get(number)["group"], engine.get(number)["assignee"]) == ("desk", "bob")


def test_key_survives_closing_and_reopening_the_database(
    backend: Settings, clock: FixedClock
) -> None:
    with Engine(backend, clock=clock) as engine:
        first = engine.open_incident("Disk full on db-01", idempotency_key="monitor:disk:db-01")
        number = first.number
        engine.acknowledge(number, actor="bob", idempotency_key="ack-1")
        before = recorded(engine)

    with Engine(backend, clock=clock) as restarted:
        again = restarted.open_incident("Disk full on db-01", idempotency_key="monitor:disk:db-01")
        ack = restarted.acknowledge(number, actor="bob", idempotency_key="ack-1")
        assert (again.number, again.duplicate) == (number, True)
        assert again.events == first.events
        assert ack.duplicate
        assert recorded(restarted) == before
        assert restarted.last_number(RecordKind.INCIDENT) == 1
        assert [h.event for h in restarted.history(number)] == ["Opened", "Acknowledged"]


def test_key_reused_for_another_command_type_is_a_conflict(engine: Engine) -> None:
    number = engine.open_incident("Login page blank", idempotency_key="k-42").number
    before = recorded(engine)
    with pytest.raises(ConflictError) as refusal:
        engine.comment(number, "looking", idempotency_key="k-42")
    assert "OpenTicket" in str(refusal.value) and "AddComment" in str(refusal.value)
    assert recorded(engine) == before


def test_blank_key_is_refused(engine: Engine) -> None:
    with pytest.raises(InputError) as refusal:
        engine.open_incident("Anything", idempotency_key="  ")
    assert refusal.value.field == "idempotency_key"
    assert recorded(engine) == 0


def test_concurrent_duplicates_record_exactly_once(engine: Engine) -> None:
    threads = 8
    start = threading.Barrier(threads)

    def deliver(_: int) -> Outcome:
        start.wait()  # all threads submit the same retried message at the same moment
        return engine.open_incident("Checkout 500s", idempotency_key="kafka:orders:17:4711")

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(deliver, range(threads)))

    assert {o.number for o in outcomes} == {"INC-000001"}
    assert sorted(o.duplicate for o in outcomes) == [False] + [True] * (threads - 1)
    assert engine.last_number(RecordKind.INCIDENT) == 1
    assert len(engine.history("INC-000001")) == 1
    assert engine.verify_chain().ok


def test_concurrent_duplicates_from_separate_engines_record_exactly_once(
    backend: Settings, clock: FixedClock
) -> None:
    threads = 4
    engines = [Engine(backend, clock=clock) for _ in range(threads)]
    start = threading.Barrier(threads)

    def deliver(engine: Engine) -> Outcome:
        start.wait()
        return engine.open_incident("Checkout 500s", idempotency_key="webhook:abc")

    try:
        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(deliver, engines))
        assert {o.number for o in outcomes} == {"INC-000001"}
        assert [o.duplicate for o in outcomes].count(False) == 1
        assert engines[0].last_number(RecordKind.INCIDENT) == 1
    finally:
        for engine in engines:
            engine.close()
