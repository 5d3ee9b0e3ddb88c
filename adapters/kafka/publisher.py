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
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import Envelope, encode
from opsledger.core.domain.records import DOMAIN_TOPICS

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
        self.producer = producer or KafkaProducer(**config.producer_kwargs())
        self.published = 0
        self._numbers: OrderedDict[UUID, str | None] = OrderedDict()

    @property
    def position(self) -> int:
        """The last log position known to be on the topic (0: none yet)."""
        return self.engine.tracked_position(self.upstream) or 0

    def publish_once(self) -> int:
        """Publish the next page of the log; returns how many events were sent."""
        recorder: ProcessRecorder = self.engine.app.recorder  # type: ignore[assignment]
        page = recorder.select_notifications(
            start=self.position, limit=self.page, inclusive_of_start=False
        )
        if not page:
            return 0
        now = self.engine.clock.now()
        futures = [
            self.producer.send(
                self.config.events_topic,
                key=str(n.originator_id).encode(),
                value=encode(self.envelope(n, now)),
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

    def envelope(self, n: Notification, produced_at: datetime) -> Envelope:
        """The documented event envelope (docs/kafka.md): the stored state, as recorded."""
        state = orjson.loads(n.state)
        number = self._number(n, state)
        name = n.topic.rsplit(".", 1)[-1]
        return Envelope(
            kind="event",
            name=name,
            message_id=event_id(cast(UUID, n.originator_id), n.originator_version),
            correlation_id=number or str(n.originator_id),
            produced_at=produced_at,
            occurred_at=_instant(state.get("timestamp")),
            payload={
                "position": n.id,
                "aggregate_id": str(n.originator_id),
                "version": n.originator_version,
                "topic": n.topic,
                "record": number,
                "state": state,
            },
        )

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


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
