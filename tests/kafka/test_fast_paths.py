"""The Kafka path's shortcuts (taken for throughput, see benchmarks/bench_kafka.py) store and
publish exactly what the general path does: same events, same bytes, same partitions."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner, murmur2
from opsledger.adapters.kafka.bus import KafkaBus
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import Envelope, decode, encode
from opsledger.adapters.kafka.publisher import KeyHashPartitioner, Publisher
from opsledger.adapters.kafka.worker import Worker
from opsledger.core import commands as c
from opsledger.core.codec import OrjsonTranscoder, TypedMapper
from opsledger.core.idempotency import CommandRecord

from opsledger import Engine
from tests.conftest import T0
from tests.kafka.test_worker import drain, read_all

M = timedelta(minutes=1)


def alerts() -> list[c.Command]:
    """The monitoring path: alerts fire, fire again, are acknowledged and clear; one fires
    again after clearing (a reopen), and one report is delivered twice (a no-op)."""
    out: list[c.Command] = []
    for a in range(4):
        for step, state in enumerate(("open", "open", "acknowledge", "resolve")):
            out.append(
                c.IngestInbound(
                    source="am",
                    external_id=f"fp-{a}",
                    state=state,
                    summary=f"disk full on host {a}",
                    occurred_at=T0 - 60 * M + a * M,
                    actor="am",
                    at=T0 - 60 * M + (a + step) * M,
                    idempotency_key=f"fp-{a}-{step}",
                )
            )
    refire = c.IngestInbound(
        source="am", external_id="fp-0", state="open", summary="disk full on host 0",
        actor="am", at=T0 - 30 * M, idempotency_key="fp-0-again",
    )  # fmt: skip
    return [*out, refire, refire]


def stored(engine: Engine) -> dict[UUID, list[tuple[int, str, bytes]]]:
    """Every aggregate's events as stored (version, topic, state bytes)."""
    out: dict[UUID, list[tuple[int, str, bytes]]] = {}
    for n in engine.app.recorder.select_notifications(start=0, limit=100_000):
        out.setdefault(n.originator_id, []).append((n.originator_version, n.topic, n.state))
    return out


def test_commands_through_kafka_store_the_very_events_of_direct_calls(
    kafka_config: Callable[..., KafkaConfig], engines: Callable[[str], Engine]
) -> None:
    config = kafka_config(partitions=1)  # one partition: numbered in the order sent
    direct, bridged = engines("direct"), engines("bridged")
    for command in alerts():
        direct.execute(command)
    bus = KafkaBus(config)
    worker = Worker(bridged, config, tick_interval_s=0, retry_interval_s=0)
    try:
        bus.submit(alerts())
        drain(worker, lambda: worker.stats.recorded + worker.stats.duplicates == len(alerts()))
    finally:
        worker.close()
        bus.close()
    assert (worker.stats.duplicates, worker.stats.dead_letters) == (1, 0)
    assert gc.isenabled()  # paused only while a poll's batches are recorded
    # tickets, correlations, counters and idempotency records: event for event, byte for byte
    assert stored(bridged) == stored(direct)
    topics = {topic for events in stored(bridged).values() for _, topic, _ in events}
    assert "opsledger.core.idempotency:CommandRecord.CommandAccepted" in topics


def test_the_lean_idempotency_record_is_the_one_eventsourcing_would_make() -> None:
    fields: dict[str, Any] = {
        "key": "mail-42",
        "command": "IngestInbound",
        "result": {"number": "INC-000001", "version": 2, "events": [{"event": "Opened"}]},
        "actor": "am",
        "timestamp": T0,
    }
    made, lean = CommandRecord(**fields), CommandRecord.accepted(**fields)

    def state(record: CommandRecord) -> dict[str, Any]:
        return {k: v for k, v in vars(record).items() if k != "_pending_events"}

    assert type(lean) is CommandRecord and state(lean) == state(made)
    (event,), (lean_event,) = made.pending_events, lean.pending_events
    assert type(lean_event) is type(event)
    assert list(vars(lean_event).items()) == list(vars(event).items())  # order: stored alike
    mapper = TypedMapper(transcoder=OrjsonTranscoder())
    assert mapper.to_stored_event(lean_event) == mapper.to_stored_event(event)
    assert lean.collect_events() == [lean_event] and lean.version == 1


def test_published_events_are_the_documented_envelopes_on_the_default_partitions(
    kafka_config: Callable[..., KafkaConfig], engines: Callable[[str], Engine]
) -> None:
    config = kafka_config(partitions=3)
    engine = engines("e")
    for command in alerts():
        engine.execute(command)
    publisher = Publisher(engine, config, everything=True)
    while publisher.publish_once():
        pass
    publisher.close()
    log = engine.app.recorder.select_notifications(start=0, limit=100_000)
    messages = read_all(config, config.events_topic)
    assert len(messages) == len(log)
    by_position = {decode(m.value).payload["position"]: m for m in messages}
    for n in log:
        message = by_position[n.id]
        env = decode(message.value)
        state = orjson.loads(n.state)
        # the envelope as docs/kafka.md describes it, built the long way round
        expected = Envelope(
            kind="event",
            name=n.topic.rsplit(".", 1)[-1],
            message_id=f"{n.originator_id}:{n.originator_version}",
            correlation_id=env.payload["record"] or str(n.originator_id),
            produced_at=env.produced_at,
            occurred_at=datetime.fromisoformat(state["timestamp"]),
            payload={
                "position": n.id,
                "aggregate_id": str(n.originator_id),
                "version": n.originator_version,
                "topic": n.topic,
                "record": env.payload["record"],
                "state": state,
            },
        )
        assert message.value == encode(expected)
        assert message.key == str(n.originator_id).encode()
        assert message.partition == (murmur2(message.key) & 0x7FFFFFFF) % 3


class _Cluster:
    """The two questions a partitioner asks of kafka-python's cluster metadata."""

    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


@settings(max_examples=200)
@given(keys=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=20))
def test_remembered_key_hashes_give_the_default_partitions(keys: list[bytes]) -> None:
    default, remembering = DefaultPartitioner(), KeyHashPartitioner()
    for partitions in (1, 3, 6):
        cluster = _Cluster(partitions)
        for key in keys + keys:  # the second time from memory
            assert remembering.partition("t", key, key, None, None, cluster) == (
                default.partition("t", key, key, None, None, cluster)
            )
