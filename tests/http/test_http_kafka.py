"""``serve --kafka``: writes are queued on the commands topic (202); the worker records them."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opsledger.adapters.kafka.config import KafkaConfig, ensure_topics
from opsledger.adapters.kafka.devbroker import BrokerUnavailable, DevBroker, wait_until_ready
from opsledger.adapters.kafka.worker import Worker

from opsledger import Engine, NotFoundError, Settings
from opsledger.cli import main
from tests.http.desk import serve_process


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker that answers: OPSLEDGER_KAFKA_BOOTSTRAP, else a fresh tansu (skipped outside
    CI when neither can be had, a failure in CI)."""
    given = os.environ.get("OPSLEDGER_KAFKA_BOOTSTRAP", "").strip()
    ci = os.environ.get("CI", "").strip().lower() == "true"
    if given:
        why = wait_until_ready(given)
        if why is not None:
            (pytest.fail if ci else pytest.skip)(f"Kafka at {given} does not answer ({why})")
        yield given
        return
    try:
        broker = DevBroker.start(tmp_path_factory.mktemp("tansu"))
    except BrokerUnavailable as e:
        (pytest.fail if ci else pytest.skip)(str(e))
        return
    with broker:
        yield broker.bootstrap


def test_writes_are_queued_and_the_worker_records_them(
    bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = uuid.uuid4().hex[:10]
    config = KafkaConfig(
        bootstrap_servers=bootstrap,
        commands_topic=f"http.commands.{suffix}",
        events_topic=f"http.events.{suffix}",
        dead_letter_topic=f"http.dead-letters.{suffix}",
        group_id=f"http-worker-{suffix}",
        partitions=1,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=10000,
    )
    ensure_topics(config)
    db = tmp_path / "kafka.db"
    assert main(["--db", str(db), "api-token", "create", "--name", "ops", "--role", "agent"]) == 0
    token = capsys.readouterr().out.strip()
    env = {
        "OPSLEDGER_KAFKA_BOOTSTRAP": bootstrap,
        "OPSLEDGER_KAFKA_COMMANDS_TOPIC": config.commands_topic,
        "OPSLEDGER_KAFKA_EVENTS_TOPIC": config.events_topic,
        "OPSLEDGER_KAFKA_DEAD_LETTER_TOPIC": config.dead_letter_topic,
    }
    auth = {"Authorization": f"Bearer {token}", "Idempotency-Key": "console-1"}
    with serve_process(db, token, "--kafka", env=env) as served:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            queued = client.post("/api/v1/incidents", json={"summary": "queued"}, headers=auth)
            assert queued.status_code == 202, queued.text
            assert queued.json()["queued"] is True and queued.json()["number"] is None
            stop = threading.Event()
            with Engine(Settings(db_path=str(db))) as engine:
                worker = Worker(engine, config, tick_interval_s=0, retry_interval_s=0)
                thread = threading.Thread(target=worker.run, args=(stop,))
                thread.start()
                try:
                    shown = _wait(client, "/api/v1/tickets/INC-000001", auth, lambda r: r)
                    assert shown.json()["summary"] == "queued"
                    # a resend with the same key, then a step: one partition keeps the order,
                    # so once the step is recorded the resend was seen (and recorded nothing)
                    again = client.post(
                        "/api/v1/incidents", json={"summary": "queued"}, headers=auth
                    )
                    assert again.status_code == 202
                    step = client.post(
                        "/api/v1/tickets/INC-000001/acknowledge",
                        headers={"Authorization": auth["Authorization"]},
                    )
                    assert step.status_code == 202
                    history = _wait(
                        client, "/api/v1/tickets/INC-000001/history", auth,
                        lambda r: "Acknowledged" in [e["event"] for e in r.json()],
                    )  # fmt: skip
                finally:
                    stop.set()
                    thread.join(timeout=30)
                assert [e["event"] for e in history.json()] == ["Opened", "Acknowledged"]
                with pytest.raises(NotFoundError):
                    engine.get("INC-000002")
        served.process.send_signal(signal.SIGTERM)
        served.process.communicate(timeout=20)
        assert served.process.returncode == 0


def _wait(
    client: httpx.Client, path: str, headers: dict[str, str], done: Callable[[Any], Any]
) -> httpx.Response:
    """GET ``path`` until it answers 200 and ``done(response)``, for up to 30 seconds."""
    deadline = time.monotonic() + 30
    while True:
        response = client.get(path, headers=headers)
        if (response.status_code == 200 and done(response)) or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response
        time.sleep(0.1)
