"""``opsledger publish`` killed with SIGKILL and started again leaves no gap on the events topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import decode
from opsledger.core import commands as c

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.kafka.test_worker import read_all
from tests.kafka.test_worker_failover import store_flags, wait_until


def _publisher(store: Settings, config: KafkaConfig, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "opsledger",
        "publish",
        *store_flags(store),
        "--bootstrap",
        config.bootstrap_servers,
        "--events-topic",
        config.events_topic,
        "--all-events",  # every position, so a gap anywhere would show
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def _position(reader: Engine, config: KafkaConfig) -> int:
    return reader.tracked_position(f"publisher:{config.events_topic}") or 0


def test_a_publisher_killed_mid_log_resumes_without_a_gap(
    kafka_config: Callable[..., KafkaConfig], tmp_path: Path
) -> None:
    config = kafka_config(partitions=3)
    store = Settings(db_path=str(tmp_path / "events.db"))
    with Engine(store, clock=FixedClock(T0)) as engine:
        for start in range(0, 6000, 500):
            engine.execute_batch(
                [
                    c.OpenTicket(kind="incident", summary=f"s{i}", actor="mon", at=T0)
                    for i in range(start, start + 500)
                ]
            )
        last = engine.app.recorder.max_notification_id() or 0
    reader = Engine(store)  # one open engine: looking must be quicker than publishing
    first = _publisher(store, config, tmp_path / "first.log")
    try:
        wait_until(lambda: _position(reader, config) > 0, 60, "the first page to be published")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = _position(reader, config)
    assert 0 < at_kill < last, "killed before or after the log: nothing was proven"

    second = _publisher(store, config, tmp_path / "second.log")
    try:
        wait_until(lambda: _position(reader, config) == last, 120, "the restart to catch up")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        reader.close()
    assert second.returncode == 0, (tmp_path / "second.log").read_text()

    messages = read_all(config, config.events_topic)
    positions = [decode(m.value).payload["position"] for m in messages]
    # every position is there (duplicates of the page in flight at the kill are allowed)
    assert set(positions) == set(range(1, last + 1))
    # and each aggregate's events keep their order on its partition
    by_partition: dict[int, list[int]] = {}
    for m, position in zip(messages, positions, strict=True):
        by_partition.setdefault(m.partition, []).append(position)
    for seen in by_partition.values():
        firsts = list(dict.fromkeys(seen))
        assert firsts == sorted(firsts)
