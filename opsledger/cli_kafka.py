"""``opsledger worker`` and ``opsledger publish``: the Kafka bridge as long-running processes."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from opsledger.adapters.kafka.config import KafkaConfig, ensure_topics
from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.render import print_json

Opener = Callable[..., Engine]
log = logging.getLogger(__name__)


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register ``worker`` and ``publish``; every Kafka setting also reads OPSLEDGER_KAFKA_*."""
    kafka = argparse.ArgumentParser(add_help=False)
    group = kafka.add_argument_group("Kafka (flags win over OPSLEDGER_KAFKA_* variables)")
    group.add_argument("--bootstrap", dest="bootstrap_servers", metavar="HOST:PORT[,…]")
    group.add_argument("--commands-topic", metavar="TOPIC")
    group.add_argument("--events-topic", metavar="TOPIC")
    group.add_argument("--dead-letter-topic", metavar="TOPIC")
    group.add_argument("--group-id", metavar="GROUP")
    group.add_argument("--batch-size", type=int, metavar="N")
    group.add_argument("--session-timeout-ms", type=int, metavar="MS")
    group.add_argument("--max-poll-interval-ms", type=int, metavar="MS")
    group.add_argument("--heartbeat-interval-ms", type=int, metavar="MS")
    group.add_argument(
        "--create-topics",
        action="store_true",
        help="create missing topics first (partitions "
        "from --partitions or OPSLEDGER_KAFKA_PARTITIONS)",
    )
    group.add_argument("--partitions", type=int, metavar="N")
    group.add_argument(
        "--all-events",
        action="store_true",
        help="publish the engine's bookkeeping records too (counters, idempotency records, "
        "correlations), not only tickets', CIs' and policies' events",
    )
    stores = common[1:2]

    worker = nouns.add_parser(
        "worker",
        parents=[*stores, kafka],
        help="record the commands topic (a consumer-group member); drives the SLA scheduler "
        "and runs the plugins' adapters",
    )
    worker.add_argument(
        "--tick-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often the member holding partition 0 fires due SLA clocks (0: never)",
    )
    worker.add_argument(
        "--retry-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how often the member holding partition 0 retries failed plugin reactions "
        "(0: never; see `opsledger plugins retry`)",
    )
    worker.add_argument(
        "--publish", action="store_true", help="also run the event publisher in this process"
    )
    worker.set_defaults(run=lambda args, settings: _worker(args, settings, open_engine))
    publish = nouns.add_parser(
        "publish",
        parents=[*stores, kafka],
        help="publish the event log to the events topic, in order, from its tracked position",
    )
    publish.set_defaults(run=lambda args, settings: _publish(args, settings, open_engine))


def _config(args: argparse.Namespace) -> KafkaConfig:
    names = (
        "bootstrap_servers",
        "commands_topic",
        "events_topic",
        "dead_letter_topic",
        "group_id",
        "batch_size",
        "session_timeout_ms",
        "max_poll_interval_ms",
        "heartbeat_interval_ms",
        "partitions",
    )
    config = KafkaConfig.from_env(**{n: getattr(args, n, None) for n in names})
    if args.create_topics:
        ensure_topics(config)
    return config


@contextmanager
def _until_signalled() -> Iterator[threading.Event]:
    """SIGTERM and SIGINT ask the loops to finish their batch and leave cleanly."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _worker(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    from opsledger.adapters.kafka.bus import KafkaBus
    from opsledger.adapters.kafka.publisher import Publisher
    from opsledger.adapters.kafka.worker import Worker
    from opsledger.plugins.adapters import Adapter, start_adapters, stop_adapters

    config = _config(args)
    with _until_signalled() as stop, open_engine(settings) as engine:
        publisher_thread = None
        if args.publish:
            publisher_engine = open_engine(settings)
            publisher = Publisher(publisher_engine, config, everything=args.all_events)

            def publish() -> None:
                try:
                    publisher.run(stop)
                finally:
                    publisher_engine.close()

            publisher_thread = threading.Thread(target=publish, name="opsledger-publisher")
            publisher_thread.start()
        started: list[Adapter] = []
        bus: KafkaBus | None = None
        try:
            worker = Worker(
                engine,
                config,
                tick_interval_s=args.tick_interval,
                retry_interval_s=args.retry_interval,
            )
            # The plugins' adapters submit to the commands topic, like any outside producer.
            adapters = engine.plugins.adapters()
            if adapters:
                bus = KafkaBus(config, clock=engine.clock)
                started = start_adapters(adapters, bus, host=engine.plugins)
            log.info("worker started", extra={"kafka": config.describe(), "adapters": len(started)})
            stats = worker.run(stop)
        finally:
            stop.set()
            stop_adapters(started, host=engine.plugins)
            if bus is not None:
                bus.close()
            if publisher_thread is not None:
                publisher_thread.join()
    print_json({"worker": asdict(stats)})
    return 0


def _publish(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    from opsledger.adapters.kafka.publisher import Publisher

    config = _config(args)
    with _until_signalled() as stop, open_engine(settings) as engine:
        published = Publisher(engine, config, everything=args.all_events).run(stop)
    print_json({"published": published})
    return 0
