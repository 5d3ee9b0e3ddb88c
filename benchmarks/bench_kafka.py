"""Commands per second end to end through Kafka, against a pass-through of the same messages.

Produce -> ``opsledger worker`` -> event store -> ``opsledger publish`` -> events topic, with one
and two workers, on SQLite and (when it answers) PostgreSQL; then the end-to-end latency of
single commands at a steady rate. The baseline moves the same messages from the commands topic
to another topic through a consumer-group member that does nothing else (the transport's own
ceiling on this machine). See README.md here. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsledger.adapters.kafka.config import KafkaConfig, ensure_topics
from opsledger.adapters.kafka.devbroker import DevBroker, wait_until_ready
from opsledger.adapters.kafka.envelope import command_envelope, decode, encode, partition_key
from opsledger.core.commands import Command, IngestInbound

from opsledger import Engine, Settings

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PARTITIONS = 6


def alert_commands(first: int, alerts: int, tag: str) -> list[Command]:
    """Per alert: it fires, fires again (a repeat), is acknowledged, then clears.

    Four commands keyed by the alert's correlation key, so they stay in order on one
    partition: the monitoring adapter's path (docs/inbound.md).
    """
    out: list[Command] = []
    for a in range(first, first + alerts):
        ext = f"{tag}-alert-{a}"
        for step, state in enumerate(("open", "open", "acknowledge", "resolve")):
            out.append(
                IngestInbound(
                    source="bench",
                    external_id=ext,
                    state=state,
                    summary=f"disk full on host {a}",
                    impact="medium",
                    urgency="high",
                    occurred_at=T0 + timedelta(seconds=a),
                    actor="bench",
                    at=T0 + timedelta(seconds=a, minutes=step),
                    idempotency_key=f"{tag}-{a}-{step}",
                )
            )
    return out


def encoded(commands: list[Command]) -> list[tuple[bytes, bytes]]:
    out = []
    for command in commands:
        env = command_envelope(command, produced_at=T0)
        out.append((partition_key(command), encode(env)))
    return out


# -- processes ------------------------------------------------------------------------------------


def _produce(
    config: KafkaConfig, messages: list[tuple[bytes, bytes]], ready: Any = None, go: Any = None
) -> None:
    """A producer process, as fast as kafka-python sends; with events, it waits for ``go``
    after connecting, so the timing leaves out starting a Python process."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**config.producer_kwargs())
    if ready is not None:
        producer.partitions_for(config.commands_topic)  # metadata fetched before the clock
        ready.set()
        go.wait()
    for key, value in messages:
        producer.send(config.commands_topic, key=key, value=value)
    producer.flush()
    producer.close()


@contextmanager
def producing(config: KafkaConfig, messages: list[tuple[bytes, bytes]]) -> Iterator[float]:
    """Start a producer process, connected and waiting; yields the instant it was let go."""
    context = mp.get_context("spawn")
    ready, go = context.Event(), context.Event()
    process = context.Process(target=_produce, args=(config, messages, ready, go))
    process.start()
    try:
        if not ready.wait(120):
            raise TimeoutError("the producer process did not connect")
        start = time.monotonic()
        go.set()
        yield start
    finally:
        process.join()


def _passthrough(config: KafkaConfig, stop: Any) -> None:
    """The baseline member: read a batch, forward every message, commit, nothing else."""
    from kafka import KafkaConsumer, KafkaProducer

    consumer = KafkaConsumer(config.commands_topic, **config.consumer_kwargs())
    producer = KafkaProducer(**config.producer_kwargs())
    while not stop.is_set():
        polled = consumer.poll(timeout_ms=200, max_records=config.batch_size)
        for messages in polled.values():
            for m in messages:
                producer.send(config.events_topic, key=m.key, value=m.value)
        if polled:
            producer.flush()
            consumer.commit()
    consumer.close()
    producer.close()


def _count_topic(config: KafkaConfig, topic: str, expected: int, timeout_s: float) -> float:
    """Read a topic from the start until ``expected`` messages; the instant of the last."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        **{**config.client_kwargs(), "auto_offset_reset": "earliest", "enable_auto_commit": False},
    )
    seen = 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {seen} of {expected} messages")
            for messages in consumer.poll(timeout_ms=200).values():
                seen += len(messages)
        return time.monotonic()
    finally:
        consumer.close()


def _cli(store: Settings, config: KafkaConfig, verb: str, log: Path, *extra: str) -> Any:
    flags = (
        ["--database-url", store.database_url] if store.database_url else ["--db", store.db_path]
    )
    argv = [
        sys.executable, "-m", "opsledger", verb, *flags,
        "--bootstrap", config.bootstrap_servers,
        "--commands-topic", config.commands_topic,
        "--events-topic", config.events_topic,
        "--dead-letter-topic", config.dead_letter_topic,
        "--group-id", config.group_id,
        *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def _stop(*procs: Any) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


# -- one measurement -------------------------------------------------------------------------------


def fresh_config(bootstrap: str, batch: int) -> KafkaConfig:
    suffix = uuid.uuid4().hex[:10]
    config = KafkaConfig(
        bootstrap_servers=bootstrap,
        commands_topic=f"bench.commands.{suffix}",
        events_topic=f"bench.events.{suffix}",
        dead_letter_topic=f"bench.dead.{suffix}",
        group_id=f"bench-{suffix}",
        partitions=PARTITIONS,
        batch_size=batch,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_interval_ms=60000,
    )
    ensure_topics(config)
    return config


class Progress:
    """Reads the workers' and the publisher's tracked positions through one open engine
    (opening an engine per look would cost the pipeline a core)."""

    def __init__(self, store: Settings, config: KafkaConfig) -> None:
        self.engine = Engine(store)
        self.config = config

    def recorded(self) -> int:
        """Commands the workers have recorded (the sum of their partitions' positions)."""
        topic = self.config.commands_topic
        return sum(self.engine.tracked_position(f"{topic}:{p}") or 0 for p in range(PARTITIONS))

    def settled(self) -> bool:
        """Whether everything in the log has been examined by the publisher."""
        published = self.engine.tracked_position(f"publisher:{self.config.events_topic}") or 0
        return published == (self.engine.app.recorder.max_notification_id() or 0)

    def close(self) -> None:
        self.engine.close()


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def run_engine(
    bootstrap: str, store: Settings, workers: int, alerts: int, batch: int, logdir: Path
) -> float:
    """Commands/s from the first send until the last command's events are on the topic."""
    config = fresh_config(bootstrap, batch)
    Engine(store).close()
    warm = encoded(alert_commands(0, 25, "warm"))
    load = encoded(alert_commands(0, alerts, "load"))
    procs = [
        _cli(store, config, "worker", logdir / f"w{i}.log", "--batch-size", str(batch),
             "--tick-interval", "0")
        for i in range(workers)
    ]  # fmt: skip
    procs.append(_cli(store, config, "publish", logdir / "publisher.log"))
    progress = Progress(store, config)
    try:
        # Warm up: every member has joined and recorded something, the publisher caught up.
        _produce(config, warm)
        _wait(lambda: progress.recorded() >= len(warm), 120, "warm-up recorded")
        _wait(progress.settled, 60, "warm-up published")
        total = len(warm) + len(load)
        with producing(config, load) as start:
            _wait(lambda: progress.recorded() >= total, 600, "load recorded")
            _wait(progress.settled, 600, "load published")
            elapsed = time.monotonic() - start
    finally:
        progress.close()
        _stop(*procs)
    return len(load) / elapsed


def run_baseline(bootstrap: str, alerts: int, batch: int) -> float:
    config = fresh_config(bootstrap, batch)
    load = encoded(alert_commands(0, alerts, "load"))
    warm = encoded(alert_commands(0, 25, "warm"))
    context = mp.get_context("spawn")
    stop = context.Event()
    member = context.Process(target=_passthrough, args=(config, stop))
    member.start()
    try:
        _produce(config, warm)
        _count_topic(config, config.events_topic, len(warm), 120)
        with producing(config, load) as start:
            end = _count_topic(config, config.events_topic, len(warm) + len(load), 600)
    finally:
        stop.set()
        member.join(timeout=30)
    return len(load) / (end - start)


def run_latency(
    bootstrap: str, store: Settings, alerts: int, rate: float, logdir: Path
) -> list[float]:
    """Milliseconds from each send to its idempotency record on the events topic (1 worker)."""
    from kafka import KafkaConsumer

    config = fresh_config(bootstrap, 500)
    Engine(store).close()
    commands = alert_commands(0, alerts, "lat")
    sent_keys = [c.idempotency_key for c in commands]
    procs = [
        _cli(store, config, "worker", logdir / "lw.log", "--tick-interval", "0"),
        # idempotency records mark each command's commit: publish them for this run
        _cli(store, config, "publish", logdir / "lp.log", "--all-events"),
    ]
    progress = Progress(store, config)
    reader = KafkaConsumer(
        config.events_topic,
        **config.client_kwargs(),
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    try:
        warm = encoded(alert_commands(0, 10, "lwarm"))
        _produce(config, warm)
        _wait(lambda: progress.recorded() >= len(warm), 120, "latency warm-up")
        _wait(progress.settled, 60, "latency warm-up published")
        while reader.poll(timeout_ms=200):
            pass  # assigned, and past the warm-up
        producer = mp.get_context("spawn").Process(
            target=_produce_timed, args=(config, encoded(commands), rate, str(logdir / "sent.json"))
        )
        producer.start()
        arrived: dict[str, float] = {}
        deadline = time.monotonic() + 300
        while len(arrived) < len(sent_keys) and time.monotonic() < deadline:
            for messages in reader.poll(timeout_ms=100).values():
                now = time.time()
                for m in messages:
                    env = decode(m.value)
                    if env.name == "CommandAccepted":
                        arrived.setdefault(env.payload["state"]["key"], now)
        producer.join()
    finally:
        reader.close()
        progress.close()
        _stop(*procs)
    sent = json.loads((logdir / "sent.json").read_text())
    missing = [k for k in sent_keys if k not in arrived]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(sent_keys)} commands never reached the topic")
    return [(arrived[k] - sent[k]) * 1000 for k in sent_keys]


def _produce_timed(
    config: KafkaConfig, messages: list[tuple[bytes, bytes]], rate: float, out: str
) -> None:
    """Send at a steady rate, each flushed at once; write each key's send instant."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**{**config.producer_kwargs(), "linger_ms": 0})
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i, (key, value) in enumerate(messages):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent[decode(value).payload["idempotency_key"]] = time.time()
        producer.send(config.commands_topic, key=key, value=value)
    producer.flush()
    producer.close()
    Path(out).write_text(json.dumps(sent))


@contextmanager
def broker(logdir: Path) -> Iterator[str]:
    given = os.environ.get("OPSLEDGER_KAFKA_BOOTSTRAP", "").strip()
    if given:
        why = wait_until_ready(given)
        if why:
            raise SystemExit(f"OPSLEDGER_KAFKA_BOOTSTRAP={given} does not answer: {why}")
        yield given
        return
    with DevBroker.start(logdir) as running:
        yield running.bootstrap


@contextmanager
def pg_store() -> Iterator[Settings | None]:
    try:
        import psycopg

        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=2)
    except Exception:
        yield None
        return
    schema = f"bench_kafka_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Settings(database_url=f"{PG_URL}?schema={schema}")
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=5000, help="4 commands each")
    parser.add_argument("--batch", type=int, default=1000, help="worker batch size")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-alerts", type=int, default=500)
    parser.add_argument("--latency-rate", type=float, default=500.0, help="commands/s")
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {"alerts": args.alerts, "commands": 4 * args.alerts}
    with tempfile.TemporaryDirectory() as tmp, broker(Path(tmp)) as bootstrap:
        base = Path(tmp)
        one, two, baseline = [], [], []
        for r in range(args.rounds):
            baseline.append(run_baseline(bootstrap, args.alerts, args.batch))
            for workers, into in ((1, one), (2, two)):
                store = Settings(db_path=str(base / f"r{r}w{workers}.db"))
                logdir = base / f"r{r}w{workers}"
                logdir.mkdir()
                into.append(run_engine(bootstrap, store, workers, args.alerts, args.batch, logdir))
            print(
                f"round {r}: pass-through {baseline[-1]:,.0f}/s, SQLite 1 worker "
                f"{one[-1]:,.0f}/s, 2 workers {two[-1]:,.0f}/s",
                flush=True,
            )
        figures |= {
            "commands_per_s_1w": round(statistics.median(one)),
            "commands_per_s_2w": round(statistics.median(two)),
            "baseline_passthrough_per_s": round(statistics.median(baseline)),
            "ratio_1w": round(
                statistics.median(o / b for o, b in zip(one, baseline, strict=True)), 3
            ),
            "ratio_2w": round(
                statistics.median(t / b for t, b in zip(two, baseline, strict=True)), 3
            ),
        }
        if args.skip_pg:
            figures["pg_skipped"] = "--skip-pg"
        else:
            for workers in (1, 2):
                with pg_store() as store:
                    if store is None:
                        figures["pg_skipped"] = f"PostgreSQL not reachable at {PG_URL}"
                        break
                    logdir = base / f"pg{workers}"
                    logdir.mkdir()
                    rate = run_engine(bootstrap, store, workers, args.alerts, args.batch, logdir)
                    figures[f"pg_commands_per_s_{workers}w"] = round(rate)
                    print(f"PostgreSQL {workers} worker(s): {rate:,.0f} commands/s", flush=True)
        logdir = base / "latency"
        logdir.mkdir()
        store = Settings(db_path=str(base / "latency.db"))
        lat = run_latency(bootstrap, store, args.latency_alerts, args.latency_rate, logdir)
        lat.sort()
        figures |= {
            "p50_ms": round(lat[len(lat) // 2], 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "latency_rate_per_s": args.latency_rate,
            "latency_samples": len(lat),
        }
        print(
            f"latency at {args.latency_rate:,.0f} commands/s (SQLite, 1 worker): "
            f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms over {len(lat)} commands"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
