"""Ticket numbers: gapless and unique under concurrent threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, FixedClock, Settings

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def expected(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:06d}" for n in range(1, count + 1)]


def test_threads_allocate_gapless_unique_numbers(engine: Engine) -> None:
    threads, per_thread = 8, 25  # 8 x 25 = 200 incidents
    start = threading.Barrier(threads)

    def open_many(worker: int) -> list[str]:
        start.wait()
        return [
            engine.open_incident(f"worker {worker} ticket {i}", actor=f"w{worker}").number
            for i in range(per_thread)
        ]

    with ThreadPoolExecutor(threads) as pool:
        numbers = [n for batch in pool.map(open_many, range(threads)) for n in batch]

    assert len(numbers) == len(set(numbers)) == 200
    assert sorted(numbers) == expected("INC", 200)
    assert engine.last_number(RecordKind.INCIDENT) == 200
    assert list(engine.numbers(RecordKind.INCIDENT)) == expected("INC", 200)
    # each number resolves to the ticket that was opened with it
    assert engine.get("INC-000200")["number"] == "INC-000200"
    assert engine.verify_chain().ok


def test_each_kind_keeps_its_own_sequence(engine: Engine) -> None:
    opened = [
        engine.open_incident("a").number,
        engine.open_request("b").number,
        engine.open_incident("c").number,
        engine.open_problem("d").number,
        engine.open_change("e").number,
        engine.register_ci("server", "f").number,
        engine.open_request("g").number,
    ]
    assert opened == [
        "INC-000001", "REQ-000001", "INC-000002", "PRB-000001", "CHG-000001", "CI-000001",
        "REQ-000002",
    ]  # fmt: skip
    assert {kind: engine.last_number(kind) for kind in RecordKind} == {
        RecordKind.INCIDENT: 2,
        RecordKind.SERVICE_REQUEST: 2,
        RecordKind.PROBLEM: 1,
        RecordKind.CHANGE: 1,
        RecordKind.CONFIGURATION_ITEM: 1,
    }


def test_concurrent_mixed_kinds_stay_gapless_per_kind(engine: Engine) -> None:
    kinds = ["incident", "service_request", "problem", "change"]
    start = threading.Barrier(8)

    def open_many(worker: int) -> list[str]:
        start.wait()
        kind = kinds[worker % 4]  # two threads per kind, 10 tickets each
        return [engine.open_ticket(kind, f"{kind} {i}").number for i in range(10)]

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for batch in pool.map(open_many, range(8)) for n in batch]

    for prefix in ("INC", "REQ", "PRB", "CHG"):
        assert sorted(n for n in numbers if n.startswith(prefix)) == expected(prefix, 20)


def _open_in_another_process(
    database_url: str, worker: int, count: int, start: Any, results: Any
) -> None:
    """Runs in a spawned process: its own interpreter, its own Engine, the same schema."""
    # The engines start together on an empty schema (creating the tables concurrently is part
    # of what is tested), then all processes allocate at the same time.
    start.wait(timeout=60)
    engine = Engine(Settings(database_url=database_url), clock=FixedClock(T0))
    try:
        start.wait(timeout=60)
        results.put([engine.open_incident(f"process {worker} #{i}").number for i in range(count)])
    finally:
        engine.close()


@pytest.mark.postgres
def test_processes_allocate_gapless_unique_numbers_on_postgres(pg_schema: Settings) -> None:
    assert pg_schema.database_url is not None
    processes, per_process = 3, 30  # 3 x 30 = 90 incidents
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(
            target=_open_in_another_process,
            args=(pg_schema.database_url, worker, per_process, start, results),
        )
        for worker in range(processes)
    ]
    for process in workers:
        process.start()
    try:
        numbers = [n for _ in workers for n in results.get(timeout=120)]
    finally:
        for process in workers:
            process.join(timeout=30)
    assert [process.exitcode for process in workers] == [0] * processes

    assert len(numbers) == len(set(numbers)) == 90
    assert sorted(numbers) == expected("INC", 90)
    with Engine(pg_schema, clock=FixedClock(T0)) as engine:
        assert engine.last_number(RecordKind.INCIDENT) == 90
        assert engine.verify_chain().ok
