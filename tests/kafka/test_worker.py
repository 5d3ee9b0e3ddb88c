"""The worker and the publisher against a real broker (tansu, or OPSLEDGER_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from opsledger.adapters.kafka.bus import KafkaBus, LocalBus
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import (
    command_envelope,
    decode,
    encode,
    read_dead_letter_headers,
)
from opsledger.adapters.kafka.publisher import PUBLISHED_TOPICS, Publisher
from opsledger.adapters.kafka.worker import Worker
from opsledger.core import commands as c
from opsledger.core.commands import Command

from opsledger import Engine, FixedClock
from tests.conftest import T0

M = timedelta(minutes=1)
MakeConfig = Callable[..., KafkaConfig]


def scenario() -> list[Command]:
    """Three incidents through their lifecycle, the commands of one ticket interleaved."""
    out: list[Command] = []
    for i in range(3):
        out.append(
            c.OpenTicket(
                kind="incident", summary=f"disk {i}", impact="high", actor="mon", at=T0 + i * M
            )
        )
    for i in range(3):
        n = f"INC-00000{i + 1}"
        out += [
            c.AssignTicket(
                ticket=n, group="ops", assignee="ann", actor="lead", at=T0 + (5 + i) * M
            ),
            c.AcknowledgeTicket(ticket=n, actor="ann", at=T0 + (10 + i) * M),
            c.AddComment(ticket=n, body="looking", actor="ann", at=T0 + (11 + i) * M),
        ]
    out.append(c.ResolveTicket(ticket="INC-000002", code="fixed", actor="ann", at=T0 + 30 * M))
    return out


def histories(engine: Engine, numbers: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        n: [(h.event, h.at, h.actor, orjson.dumps(h.details)) for h in engine.history(n)]
        for n in numbers
    }


def drain(worker: Worker, done: Callable[[], bool], timeout_s: float = 60) -> None:
    """Poll until ``done()`` (a group join takes a few seconds on first poll)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"worker did not finish: {worker.stats}"
        worker.run_once()


def read_topic(config: KafkaConfig, topic: str, count: int, timeout_s: float = 30) -> list[Any]:
    consumer = KafkaConsumer(
        topic,
        **{**config.client_kwargs(), "auto_offset_reset": "earliest", "enable_auto_commit": False},
    )
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < count and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                got.extend(messages)
    finally:
        consumer.close()
    return got


def read_all(config: KafkaConfig, topic: str, timeout_s: float = 60) -> list[Any]:
    """Every message on a topic, up to its end offsets as they are now."""
    from kafka import TopicPartition

    consumer = KafkaConsumer(
        **{**config.client_kwargs(), "auto_offset_reset": "earliest", "enable_auto_commit": False},
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        got: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"{topic}: read {len(got)} messages only"
            for messages in consumer.poll(timeout_ms=500).values():
                got.extend(messages)
        return got
    finally:
        consumer.close()


def test_commands_through_kafka_record_what_direct_calls_record(
    kafka_config: MakeConfig, engines: Callable[[str], Engine]
) -> None:
    config = kafka_config(partitions=3)
    direct, bridged = engines("direct"), engines("bridged")
    for command in scenario():
        direct.execute(command)
    bus = KafkaBus(config, clock=FixedClock(T0))
    worker = Worker(bridged, config, tick_interval_s=0)
    try:
        # The opens share one key, so they are numbered in the order sent. A ticket's later
        # commands are keyed by its number, so they may sit on another partition than its
        # open: they are sent once it is recorded (adapters key both by a correlation key).
        opens, rest = scenario()[:3], scenario()[3:]
        assert all(r.queued for r in bus.submit(opens, key="opens"))
        drain(worker, lambda: worker.stats.recorded == len(opens))
        receipts = bus.submit(rest)
        assert len({r.key for r in receipts}) == 3  # one key per ticket
        drain(worker, lambda: worker.stats.recorded == len(opens) + len(rest))
    finally:
        worker.close()
        bus.close()
    numbers = ["INC-000001", "INC-000002", "INC-000003"]
    assert histories(bridged, numbers) == histories(direct, numbers)
    assert worker.stats.dead_letters == 0

    # The publisher puts every recorded event on the events topic, in log order.
    publisher = Publisher(bridged, config)
    while publisher.publish_once():
        pass
    publisher.close()
    logged = [
        n
        for n in bridged.app.recorder.select_notifications(start=0, limit=10_000)
        if n.topic.startswith(PUBLISHED_TOPICS)  # not the engine's bookkeeping records
    ]
    assert {n.topic.split(":")[0] for n in logged} == {
        "opsledger.core.domain.tickets",
        "opsledger.core.domain.ticket",
    }
    messages = read_topic(config, config.events_topic, len(logged))
    envelopes = [decode(m.value) for m in messages]
    assert sorted(e.payload["position"] for e in envelopes) == [n.id for n in logged]
    for env, message in zip(envelopes, messages, strict=True):
        assert message.key == env.payload["aggregate_id"].encode()
    per_aggregate: dict[str, list[int]] = {}
    for env in envelopes:
        per_aggregate.setdefault(env.payload["aggregate_id"], []).append(env.payload["version"])
    assert all(v == sorted(v) for v in per_aggregate.values())
    opened = [e for e in envelopes if e.name == "Opened"]
    assert sorted(e.payload["record"] for e in opened) == numbers


def test_duplicate_redelivered_and_reordered_messages_record_nothing_new(
    kafka_config: MakeConfig, engines: Callable[[str], Engine]
) -> None:
    config = kafka_config(partitions=1)
    engine = engines("e")
    open_ = command_envelope(
        c.OpenTicket(kind="incident", summary="x", actor="mon", at=T0), produced_at=T0
    )
    ack = command_envelope(
        c.AcknowledgeTicket(ticket="INC-000001", actor="ann", at=T0 + M), produced_at=T0
    )
    producer = KafkaProducer(**config.producer_kwargs())
    for env in (open_, ack, open_, ack, open_):  # duplicates, and an old one after a newer
        producer.send(config.commands_topic, key=b"INC-000001", value=encode(env))
    producer.flush()
    worker = Worker(engine, config, tick_interval_s=0)
    try:
        drain(worker, lambda: worker.stats.recorded + worker.stats.duplicates == 5)
    finally:
        worker.close()
    assert (worker.stats.recorded, worker.stats.duplicates) == (2, 3)
    before = [h.event for h in engine.history("INC-000001")]
    assert before.count("Opened") == 1 and before.count("Acknowledged") == 1

    # A member of a new group starts at offset 0 in Kafka's view: the store's tracking skips
    # everything already recorded, even though Kafka would deliver it again.
    again = Worker(
        engine, kafka_config_like(config, group_id=config.group_id + "-b"), tick_interval_s=0
    )
    try:
        producer.send(config.commands_topic, key=b"INC-000001", value=encode(ack))
        producer.flush()
        drain(again, lambda: again.stats.duplicates == 1)
    finally:
        again.close()
        producer.close()
    assert again.stats.skipped == 0  # positions came from the store: Kafka never re-sent them
    assert again.stats.recorded == 0
    assert [h.event for h in engine.history("INC-000001")] == before
    assert engine.last_number(engine.record("INC-000001").kind) == 1  # type: ignore[attr-defined]


def kafka_config_like(config: KafkaConfig, **changes: Any) -> KafkaConfig:
    from dataclasses import replace

    return replace(config, **changes)


def test_malformed_messages_go_to_dead_letters_while_the_partition_keeps_flowing(
    kafka_config: MakeConfig, engines: Callable[[str], Engine]
) -> None:
    config = kafka_config(partitions=1)
    engine = engines("e")
    good = command_envelope(
        c.OpenTicket(kind="incident", summary="real", actor="mon", at=T0), produced_at=T0
    )
    bad_field = orjson.loads(encode(good))
    bad_field["id"] = "m-bad-impact"
    bad_field["payload"]["impact"] = "enormous"
    unknown = {**orjson.loads(encode(good)), "id": "m-unknown", "name": "LaunchRocket"}
    refused = command_envelope(
        c.AcknowledgeTicket(ticket="INC-000042", actor="ann", at=T0), produced_at=T0
    )
    sent = [
        b"{not json",
        orjson.dumps(unknown),
        orjson.dumps(bad_field),
        encode(refused),
        encode(good),
    ]
    producer = KafkaProducer(**config.producer_kwargs())
    for value in sent:
        producer.send(config.commands_topic, key=b"k", value=value)
    producer.flush()
    producer.close()
    worker = Worker(engine, config, tick_interval_s=0)
    try:
        drain(worker, lambda: worker.stats.recorded == 1)
    finally:
        worker.close()
    assert engine.get("INC-000001")["summary"] == "real"
    letters = read_topic(config, config.dead_letter_topic, 4)
    assert [m.value for m in letters] == sent[:4]  # the original bytes, in order
    why = [read_dead_letter_headers(m.headers) for m in letters]
    assert why[0]["offset"] == "0" and why[0]["source"] == config.commands_topic
    assert "message_id" not in why[0]
    assert why[1]["field"] == "name" and "LaunchRocket" in why[1]["reason"]
    assert why[2]["field"] == "impact" and why[2]["message_id"] == "m-bad-impact"
    assert "INC-000042" in why[3]["reason"]
    assert engine.tracked_position(f"{config.commands_topic}:0") == 5


def test_local_bus_records_at_once_and_keeps_what_it_refused(
    engines: Callable[[str], Engine],
) -> None:
    engine = engines("e")
    bus = LocalBus(engine, source="test")
    receipts = bus.submit(
        [
            c.OpenTicket(kind="incident", summary="a", actor="mon", at=T0),
            c.AcknowledgeTicket(ticket="INC-000007", actor="ann", at=T0),
        ]
    )
    assert receipts[0].outcome is not None and receipts[0].outcome.number == "INC-000001"
    assert not receipts[1].queued and "INC-000007" in (receipts[1].error or "")
    (kept,) = engine.rejected_messages("test")
    assert kept.message_id == receipts[1].message_id
    assert decode(kept.body).name == "AcknowledgeTicket"
    (late,) = bus.submit(
        [c.AddComment(ticket="INC-000001", body="x", actor="a", at=T0 + 900 * 24 * M)]
    )
    assert not late.queued and late.exception is not None
    assert getattr(late.exception, "field", None) == "at"  # dated far ahead: refused
    bus.set_aside(source="webhook", body=b"\xff garbage", reason="not JSON", field="body")
    assert [m.body for m in engine.rejected_messages("webhook")] == [b"\xff garbage"]


def test_the_member_holding_partition_zero_fires_due_sla_clocks(
    kafka_config: MakeConfig, engines: Callable[[str], Engine]
) -> None:
    from tests.core.test_batch import POLICY

    config = kafka_config(partitions=1)
    engine = engines("e")
    engine.define_policy(POLICY, actor="admin", at=T0 - M)
    # P1 round the clock: respond within 15 minutes, so 50 % is reached at T0 + 7.5 minutes
    number = engine.open_incident("db down", actor="mon", impact="high", urgency="high").number
    engine.clock.set(T0 + 8 * M)  # type: ignore[attr-defined]
    worker = Worker(engine, config, tick_interval_s=0.01, retry_interval_s=0)
    try:
        drain(worker, lambda: worker.stats.ticks >= 1, timeout_s=15)
    finally:
        worker.close()
    assert [h.event for h in engine.history(number)][-1] == "WarningReached"
