"""The broker fixture and the client settings together: keys and per-partition order survive."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer
from opsledger.adapters.kafka.config import KafkaConfig


def test_group_consumer_reads_back_every_record_in_key_order(
    kafka_config: Callable[..., KafkaConfig],
) -> None:
    config = kafka_config(partitions=3)
    keys = [b"INC-000001", b"INC-000002", b"CHG-000003", b"policy-book"]
    sent = [(keys[i % len(keys)], f"{i:03d}".encode()) for i in range(40)]

    producer = KafkaProducer(**config.producer_kwargs())
    try:
        for key, value in sent:
            producer.send(config.commands_topic, key=key, value=value)
        producer.flush(timeout=20)
    finally:
        producer.close(timeout=10)

    consumer = KafkaConsumer(**config.consumer_kwargs())
    received: list[tuple[int, bytes, bytes]] = []
    try:
        consumer.subscribe([config.commands_topic])
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=config.poll_timeout_ms)
            for tp, records in batches.items():
                received.extend((tp.partition, r.key, r.value) for r in records)
        consumer.commit()
    finally:
        consumer.close()

    assert len(received) == len(sent), f"got {len(received)} of {len(sent)} records in 30 s"
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    values_of: dict[bytes, list[bytes]] = defaultdict(list)
    for partition, key, value in received:
        partitions_of[key].add(partition)
        values_of[key].append(value)
    assert set(values_of) == set(keys)
    for key in keys:
        # one key, one partition, and the order it was sent in
        assert len(partitions_of[key]) == 1, (key, partitions_of[key])
        assert values_of[key] == [v for k, v in sent if k == key]
