"""Two ``opsledger worker`` processes share the partitions; one is killed with SIGKILL mid-run.

Every command must be recorded exactly once: none lost with the dead member's uncommitted
batch, none doubled when its partitions are handed to the survivor and redelivered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import command_envelope, encode, partition_key
from opsledger.core import commands as c
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, Settings
from tests.conftest import T0

N = 1500


def store_flags(settings: Settings) -> list[str]:
    if settings.database_url:
        return ["--database-url", settings.database_url]
    return ["--db", settings.db_path]


def _worker(store: Settings, config: KafkaConfig, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "opsledger",
        "worker",
        *store_flags(store),
        "--bootstrap",
        config.bootstrap_servers,
        "--commands-topic",
        config.commands_topic,
        "--dead-letter-topic",
        config.dead_letter_topic,
        "--group-id",
        config.group_id,
        "--batch-size",
        "25",
        "--session-timeout-ms",
        str(config.session_timeout_ms),
        "--heartbeat-interval-ms",
        str(config.heartbeat_interval_ms),
        "--max-poll-interval-ms",
        str(config.max_poll_interval_ms),
        "--tick-interval",
        "0",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def _recorded(store: Settings) -> int:
    with Engine(store) as reader:
        return reader.last_number(RecordKind.INCIDENT)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition (a process's progress in the store) until true, or fail the test."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_killed_worker_hands_over_its_partitions_with_nothing_lost_or_doubled(
    kafka_config: Callable[..., KafkaConfig], backend: Settings, tmp_path: Path
) -> None:
    config = kafka_config(partitions=4)
    db = backend  # a shared SQLite file, or a PostgreSQL schema
    Engine(db).close()  # create the store before both workers race
    producer = KafkaProducer(**config.producer_kwargs())
    for i in range(N):
        command = c.OpenTicket(
            kind="incident",
            summary=f"alert {i}",
            actor="monitoring",
            at=T0,
            external_system="test",
            external_id=f"a{i}",
        )
        env = command_envelope(command, produced_at=T0, message_id=f"m{i}")
        producer.send(config.commands_topic, key=partition_key(command), value=encode(env))
    producer.flush()
    producer.close()

    victim = _worker(db, config, tmp_path / "victim.log")
    survivor = _worker(db, config, tmp_path / "survivor.log")
    try:
        wait_until(lambda: _recorded(db) >= 150, 60, "the workers to start recording")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        at_kill = _recorded(db)
        wait_until(lambda: _recorded(db) >= N, 120, "the survivor to take over")
        time.sleep(2)  # anything redelivered late would show up as an extra number now
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        survivor.wait(timeout=30)
    assert at_kill < N, "the victim was killed after everything was done: nothing was proven"
    assert survivor.returncode == 0, (tmp_path / "survivor.log").read_text()

    with Engine(db) as engine:
        assert engine.last_number(RecordKind.INCIDENT) == N
        summaries = [engine.get(n)["summary"] for n in engine.numbers(RecordKind.INCIDENT)]
        assert sorted(summaries) == sorted(f"alert {i}" for i in range(N))
        # Every partition's tracked position is its end: nothing left over, nothing skipped.
        positions = [engine.tracked_position(f"{config.commands_topic}:{p}") for p in range(4)]
        assert sum(p or 0 for p in positions) == N
        assert engine.verify_chain().ok
