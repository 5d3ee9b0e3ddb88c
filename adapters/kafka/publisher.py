"""The event publisher: the notification log onto the events topic, in order, with no gap.

By default the domain's events (tickets, configuration items, SLA policies); with
``everything`` also the engine's bookkeeping records.

It reads the log after its tracked position (upstream ``"publisher:<events topic>"``),
sends each event keyed by its aggregate, waits until Kafka has acknowledged every one, and
only then records the new position. A crash in between publishes those events again when it
restarts, never skips one; consumers deduplicate by the envelope id, which is the event's
own identity (aggregate id and version).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification, ProcessRecorder, Tracking
from kafka import KafkaProducer
from kafka.partitioner.default import DefaultPartitioner, murmur2
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import SCHEMA_VERSION, Envelope, decode, instant_text
from opsledger.core.domain.records import DOMAIN_TOPICS
from opsledger.projections.base import cyclic_gc_paused

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

log = logging.getLogger(__name__)
ACK_TIMEOUT_S = 30.0
#: What is published by default: the tickets', CIs' and SLA policies' events. The engine's
#: bookkeeping (number counters, idempotency records, inbound correlations) stays in the
#: store, where the audit tools read it; ``everything=True`` publishes it too.
PUBLISHED_TOPICS = (
    "opsledger.core.domain.ticket:",
    "opsledger.core.domain.tickets:",
    "opsledger.core.domain.clocks:",
    "opsledger.core.domain.ci:",
    "opsledger.core.domain.records:",
    "opsledger.core.policies:",
)


#: Producer settings of the publisher's own: a page goes out in one batch per partition, not
#: in 16 KiB pieces that each wake the sender thread (a third of the publisher, measured).
PRODUCER_OVERRIDES = {"batch_size": 256 * 1024}
#: Keys whose partition hash is remembered (an aggregate's events come together).
KEY_HASHES = 65_536


class KeyHashPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner (murmur2 of the key), remembering each key's hash.

    The same partitions as the default, so an aggregate stays on its partition across
    restarts; the pure-Python murmur2 was a tenth of the publisher's time.
    """

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return cast(int, super().partition(topic, key, None, value, serialized_value, cluster))
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        hashed = self._hashes.get(serialized_key)
        if hashed is None:
            if len(self._hashes) >= KEY_HASHES:
                self._hashes.clear()
            hashed = self._hashes[serialized_key] = int(murmur2(serialized_key)) & 0x7FFFFFFF
        ordered: list[int] = sorted(partitions)
        return ordered[hashed % len(ordered)]


def event_id(originator_id: UUID, version: int) -> str:
    """An event's identity, stable across republishing: what consumers deduplicate by."""
    return f"{originator_id}:{version}"


class Publisher:
    """Publishes every recorded event once or more, in log order, never skipping one."""

    def __init__(
        self,
        engine: Engine,
        config: KafkaConfig,
        *,
        page: int = 1000,
        producer: KafkaProducer | None = None,
        everything: bool = False,
    ) -> None:
        self.engine = engine
        self.config = config
        self.page = page
        self.everything = everything
        self.upstream = f"publisher:{config.events_topic}"
        settings = {**config.producer_kwargs(), **PRODUCER_OVERRIDES}
        self.producer = producer or KafkaProducer(**settings, partitioner=KeyHashPartitioner())
        self.published = 0
        self._numbers: OrderedDict[UUID, str | None] = OrderedDict()

    @property
    def position(self) -> int:
        """The last log position known to be on the topic (0: none yet)."""
        return self.engine.tracked_position(self.upstream) or 0

    def publish_once(self) -> int:
        """Publish the next page of the log; returns how many events were sent."""
        with cyclic_gc_paused():
            return self._publish_page()

    def _publish_page(self) -> int:
        recorder: ProcessRecorder = self.engine.app.recorder  # type: ignore[assignment]
        page = recorder.select_notifications(
            start=self.position, limit=self.page, inclusive_of_start=False
        )
        if not page:
            return 0
        produced_at = instant_text(self.engine.clock.now())
        futures = [
            self.producer.send(
                self.config.events_topic,
                key=str(n.originator_id).encode(),
                value=self.encoded(n, produced_at),
            )
            for n in page
            if self.everything or n.topic.startswith(PUBLISHED_TOPICS)
        ]
        self.producer.flush(timeout=ACK_TIMEOUT_S)
        for future in futures:
            future.get(timeout=ACK_TIMEOUT_S)  # raises: the position is not moved on
        recorder.insert_tracking(Tracking(self.upstream, page[-1].id))
        self.published += len(page)
        return len(page)

    def run(self, stop: threading.Event | None = None, *, idle_s: float = 0.05) -> int:
        """Publish until ``stop`` is set, waiting ``idle_s`` whenever the log is drained."""
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                if self.publish_once() == 0:
                    stop.wait(idle_s)
        finally:
            self.close()
        return self.published

    def encoded(self, n: Notification, produced_at: str) -> bytes:
        """The event envelope's bytes (what ``encode`` makes of :meth:`envelope`), built
        straight from the stored row: the state goes in as the very bytes stored (an orjson
        fragment) rather than parsed and written again, and the envelope's checks are skipped,
        every value being the store's (a quarter of the publisher's time, measured).
        """
        state = orjson.loads(n.state)
        number = self._number(n, state)
        aggregate_id = str(n.originator_id)
        doc = {
            "schema": SCHEMA_VERSION,
            "type": "event",
            "id": event_id(cast(UUID, n.originator_id), n.originator_version),
            "correlation_id": number or aggregate_id,
            "causation_id": None,
            "produced_at": produced_at,
            "occurred_at": _wire_instant(state.get("timestamp")),
            "name": n.topic.rsplit(".", 1)[-1],
            "payload": {
                "position": n.id,
                "aggregate_id": aggregate_id,
                "version": n.originator_version,
                "topic": n.topic,
                "record": number,
                "state": orjson.Fragment(bytes(n.state)),
            },
        }
        return orjson.dumps(doc)

    def envelope(self, n: Notification, produced_at: datetime) -> Envelope:
        """The documented event envelope (docs/kafka.md): the stored state, as recorded."""
        return decode(self.encoded(n, instant_text(produced_at)))

    def _number(self, n: Notification, state: dict[str, Any]) -> str | None:
        """The ticket or CI number an event belongs to (remembered from its first event)."""
        if not n.topic.startswith(DOMAIN_TOPICS):
            return None
        oid = cast(UUID, n.originator_id)
        if isinstance(state.get("number"), str):
            self._numbers[oid] = state["number"]
        elif oid not in self._numbers:
            record = self.engine.app.repository.get(oid)
            self._numbers[oid] = getattr(record, "number", None)
        self._numbers.move_to_end(oid)
        if len(self._numbers) > 100_000:
            self._numbers.popitem(last=False)
        return self._numbers[oid]

    def close(self) -> None:
        self.producer.close(timeout=ACK_TIMEOUT_S)


def _wire_instant(value: Any) -> str | None:
    return instant_text(datetime.fromisoformat(value)) if isinstance(value, str) else None
