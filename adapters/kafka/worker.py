"""``opsledger worker``: a consumer-group member that records the commands topic exactly once.

Each poll's messages of one partition become one batch: decoded, run through
``Engine.execute_batch`` and saved in one transaction together with the partition's next
offset as eventsourcing tracking (upstream ``"<topic>:<partition>"``). The store, not Kafka,
is the truth about what was applied: on assignment the worker seeks each partition to its
tracked offset, and a batch whose offset another worker recorded first is dropped
(``TrackingConflict``). Kafka's committed offsets follow the store and only save re-reading.

Anything that cannot be recorded (bytes that are not an envelope, an unknown command, an
invalid field, a command the domain refuses) goes to the dead-letter topic as its original
bytes with the reason in headers, acknowledged by the broker before the batch commits, while
the partition keeps flowing. The worker that holds partition 0 also drives the SLA scheduler
and retries plugin reactions that failed (dead letters).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from eventsourcing.persistence import Tracking
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import command_of, dead_letter_headers, decode
from opsledger.core.batch import Rejected, TrackingConflict
from opsledger.core.commands import Command
from opsledger.core.domain.errors import InputError
from opsledger.projections.base import cyclic_gc_paused

if TYPE_CHECKING:
    from opsledger.core.engine import Engine, Outcome

log = logging.getLogger(__name__)
ACK_TIMEOUT_S = 30.0


def upstream_name(tp: TopicPartition) -> str:
    """The tracking name of one partition of the commands topic."""
    return f"{tp.topic}:{tp.partition}"


@dataclass(slots=True)
class WorkerStats:
    """What a worker did since it started (for logs, the CLI and the benchmark)."""

    batches: int = 0
    recorded: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    skipped: int = 0
    ticks: int = 0
    reactions_retried: int = 0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        for tp in revoked:
            self.worker.positions.pop(tp, None)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        for tp in assigned:
            self.worker.resume_from_store(tp)


class Worker:
    """One consumer-group member; run several (processes or hosts) to share the partitions."""

    def __init__(
        self,
        engine: Engine,
        config: KafkaConfig,
        *,
        tick_interval_s: float = 1.0,
        retry_interval_s: float = 60.0,
        consumer: KafkaConsumer | None = None,
        producer: KafkaProducer | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.tick_interval_s = tick_interval_s
        #: How often failed plugin reactions are retried (0: never; ``opsledger plugins retry``).
        self.retry_interval_s = retry_interval_s
        self.positions: dict[TopicPartition, int] = {}
        self.stats = WorkerStats()
        self._last_run: dict[str, float] = {}  # periodic chores: when each last ran
        self.consumer = consumer or KafkaConsumer(**config.consumer_kwargs())
        self.producer = producer or KafkaProducer(**config.producer_kwargs())
        self.consumer.subscribe([config.commands_topic], listener=_Rebalance(self))

    # -- positions ---------------------------------------------------------------------------

    def resume_from_store(self, tp: TopicPartition) -> None:
        """Start a partition where the store says it was left (not where Kafka thinks)."""
        position = self.engine.tracked_position(upstream_name(tp))
        if position is not None:
            self.consumer.seek(tp, position)
            self.positions[tp] = position
        else:
            self.positions.pop(tp, None)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> WorkerStats:
        """Poll and record until ``stop`` is set; then leave the group cleanly."""
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                self.run_once()
        finally:
            self.close()
        return self.stats

    def run_once(self) -> int:
        """One poll: record each partition's messages as one batch. Returns messages seen."""
        polled = self.consumer.poll(
            timeout_ms=self.config.poll_timeout_ms, max_records=self.config.batch_size
        )
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        seen = 0
        with cyclic_gc_paused():
            for tp, messages in polled.items():
                seen += len(messages)
                upto = self._record(tp, messages)
                if upto is not None:
                    offsets[tp] = OffsetAndMetadata(upto, "", -1)
        if offsets:
            try:
                self.consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as e:
                # Harmless: the store holds the positions; a new owner seeks from there.
                log.info("offset commit skipped", extra={"error": str(e)})
        self._maybe_tick()
        self._maybe_retry_reactions()
        return seen

    def _record(self, tp: TopicPartition, messages: Sequence[Any]) -> int | None:
        known = self.positions.get(tp)
        fresh = [m for m in messages if known is None or m.offset >= known]
        self.stats.skipped += len(messages) - len(fresh)
        if not fresh:
            return None
        commands: list[Command] = []
        origins: list[Any] = []
        letters: list[tuple[Any, str, str | None, str | None]] = []
        for message in fresh:
            try:
                command = command_of(decode(message.value or b""))
            except InputError as e:
                letters.append((message, str(e), e.field, _message_id(message.value)))
                continue
            commands.append(command)
            origins.append(message)
        upto: int = fresh[-1].offset + 1

        def set_aside(results: list[Outcome | Rejected]) -> None:
            refused = [
                (m, r.reason, r.field, r.command.idempotency_key)
                for m, r in zip(origins, results, strict=True)
                if isinstance(r, Rejected)
            ]
            self._dead_letter(tp, letters + refused)

        try:
            results = self.engine.execute_batch(
                commands,
                tracking=Tracking(upstream_name(tp), upto),
                before_save=set_aside,
                from_outside=True,
            )
        except TrackingConflict:
            # Another member recorded these offsets first (we had lost the partition).
            log.warning("batch already recorded elsewhere", extra={"partition": str(tp)})
            self.resume_from_store(tp)
            return None
        self.positions[tp] = upto
        self.stats.batches += 1
        for result in results:
            if isinstance(result, Rejected):
                self.stats.dead_letters += 1
            elif result.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.recorded += 1
        self.stats.dead_letters += len(letters)
        return upto

    def _dead_letter(
        self, tp: TopicPartition, letters: Sequence[tuple[Any, str, str | None, str | None]]
    ) -> None:
        """Put each refused message aside, original bytes and reason, acknowledged by Kafka."""
        if not letters:
            return
        now = self.engine.clock.now()
        futures = []
        for message, reason, field, message_id in letters:
            log.warning(
                "command set aside",
                extra={"partition": str(tp), "offset": message.offset, "reason": reason},
            )
            headers = dead_letter_headers(
                reason=reason,
                field=field,
                source_topic=tp.topic,
                partition=tp.partition,
                offset=message.offset,
                failed_at=now,
                message_id=message_id,
            )
            futures.append(
                self.producer.send(
                    self.config.dead_letter_topic,
                    key=message.key,
                    value=message.value or b"",
                    headers=headers,
                )
            )
        self.producer.flush(timeout=ACK_TIMEOUT_S)
        for future in futures:
            future.get(timeout=ACK_TIMEOUT_S)  # a failure here aborts the batch: redelivered

    def _due(self, chore: str, interval_s: float) -> bool:
        """Whether a periodic chore is due now, for the one member that holds partition 0."""
        if interval_s <= 0:
            return False
        now = time.monotonic()
        if now - self._last_run.get(chore, 0.0) < interval_s:
            return False
        self._last_run[chore] = now
        return TopicPartition(self.config.commands_topic, 0) in self.consumer.assignment()

    def _maybe_tick(self) -> None:
        """The SLA scheduler (one ticker per group)."""
        if self._due("tick", self.tick_interval_s):
            try:
                self.stats.ticks += self.engine.tick()
            except Exception:  # the due tickets stay due: the next tick retries
                log.exception("tick failed")

    def _maybe_retry_reactions(self) -> None:
        """Dead letters of plugin reactions, retried (one retrier per group)."""
        if self._due("retry", self.retry_interval_s):
            try:
                self.stats.reactions_retried += self.engine.retry_dead_letters().succeeded
            except Exception:  # a broken store or plugin must not stop the worker
                log.exception("retrying plugin reactions failed")

    def close(self) -> None:
        try:
            self.consumer.close()
        finally:
            self.producer.close(timeout=ACK_TIMEOUT_S)


def _message_id(value: bytes | None) -> str | None:
    """The envelope's id, when the bytes are JSON enough to carry one."""
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    message_id = doc.get("id") if isinstance(doc, dict) else None
    return message_id if isinstance(message_id, str) else None
