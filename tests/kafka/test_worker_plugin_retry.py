"""The worker's plugin duties, against a real broker: it retries failed reactions by itself,
and ``opsledger worker`` runs the plugins' adapters on the commands topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from opsledger.adapters.kafka.bus import KafkaBus
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.worker import Worker
from opsledger.core import commands as c
from opsledger.core.domain.records import RecordKind
from opsledger.plugins.manager import build_manager

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.kafka.test_worker import drain
from tests.plugins.test_plugin_hooks import FlakyPager

EXAMPLE = Path(__file__).parents[1] / "plugins" / "example_plugin"


def test_worker_retries_a_failed_reaction_without_being_asked(
    kafka_config: Callable[..., KafkaConfig], tmp_path: Path
) -> None:
    config = kafka_config(partitions=1)  # one partition: this worker holds partition 0
    pager = FlakyPager()  # fails on Opened until told otherwise
    pm = build_manager()
    pm.register(pager, name="pager")
    engine = Engine(Settings(db_path=str(tmp_path / "w.db")), clock=FixedClock(T0), plugins=pm)
    bus = KafkaBus(config, clock=FixedClock(T0))
    worker = Worker(engine, config, tick_interval_s=0, retry_interval_s=0.1)
    try:
        open_ = c.OpenTicket(kind="incident", summary="db down", actor="mon", at=T0)
        assert all(r.queued for r in bus.submit([open_]))
        drain(worker, lambda: worker.stats.recorded == 1)
        [letter] = engine.dead_letters()  # recorded all the same; the reaction waits
        assert (letter.plugin, letter.topic.rpartition(".")[2]) == ("pager", "Opened")
        assert pager.handled == []

        pager.broken = False  # the pager API is back: no one runs `opsledger plugins retry`
        drain(worker, lambda: not engine.dead_letters(), timeout_s=30)
        assert pager.handled == [("INC-000001", 1, letter.position)]
        assert worker.stats.reactions_retried == 1
    finally:
        worker.close()
        bus.close()
        engine.close()


def _install_example(site: Path) -> None:
    """The worked example as pip would leave it (dist-info with its entry point), on a path
    only the worker process sees."""
    info = site / "opsledger_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: opsledger-example\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[opsledger]\nexample = opsledger_example\n")


def test_opsledger_worker_runs_the_plugins_adapters_and_stops_them_on_sigterm(
    kafka_config: Callable[..., KafkaConfig], tmp_path: Path
) -> None:
    config = kafka_config(partitions=1)
    _install_example(tmp_path / "site")
    store = Settings(db_path=str(tmp_path / "w.db"))
    Engine(store).close()
    argv = [
        *(sys.executable, "-m", "opsledger", "worker", "--db", store.db_path),
        *("--bootstrap", config.bootstrap_servers, "--group-id", config.group_id),
        *("--commands-topic", config.commands_topic),
        *("--dead-letter-topic", config.dead_letter_topic),
        *("--session-timeout-ms", str(config.session_timeout_ms)),
        *("--heartbeat-interval-ms", str(config.heartbeat_interval_ms)),
        *("--tick-interval", "0", "--retry-interval", "0.5"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    paths = [str(tmp_path / "site"), str(EXAMPLE), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    out, log = tmp_path / "worker.out", tmp_path / "worker.log"
    worker = subprocess.Popen(argv, stdout=out.open("wb"), stderr=log.open("wb"), env=env)
    try:

        def opened() -> bool:
            with Engine(store) as reader:
                return reader.last_number(RecordKind.INCIDENT) >= 1

        deadline = time.monotonic() + 60
        while not opened():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the probe's ticket never came: {log.read_text()}"
            time.sleep(0.1)
        # The example's adapter submitted its event to the commands topic; this worker
        # recorded it, asking the example's classifier on the way (payments, impact high).
        with Engine(store) as reader:
            ticket = reader.get("INC-000001")
        assert (ticket["summary"], ticket["service"], ticket["impact"]) == (
            "example source connected",
            "payments",
            "high",
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert orjson.loads(out.read_bytes())["worker"]["recorded"] == 1
