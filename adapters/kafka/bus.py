"""How adapters hand commands to the core: the commands topic, or straight into the engine.

An adapter (monitoring, email, JIRA, the HTTP API) builds commands and calls ``submit``; it
never knows whether a broker is configured. ``submit`` returns only once the commands are
durable (acknowledged by Kafka, or recorded by the embedded engine), so a receiver can answer
2xx after it and 503 on :class:`BusUnavailable`. Input that never became a command is kept
through ``set_aside`` with the reason, never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import (
    command_envelope,
    dead_letter_headers,
    encode,
    partition_key,
)
from opsledger.core.batch import Rejected
from opsledger.core.clock import Clock, SystemClock
from opsledger.core.commands import Command
from opsledger.core.domain.errors import OpsledgerError

if TYPE_CHECKING:
    from opsledger.core.engine import Engine, Outcome

#: How long ``submit`` waits for the broker's acknowledgement before answering unavailable.
ACK_TIMEOUT_S = 10.0


class BusUnavailable(OpsledgerError):
    """The commands could not be made durable (the broker is down): the sender should retry."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one submitted command.

    ``outcome`` is known at once in the embedded mode; through Kafka the worker records the
    command later (``queued`` then says it is safely on the topic). ``error`` says why an
    embedded command was refused (it was also set aside).
    """

    message_id: str
    key: str
    queued: bool
    outcome: Outcome | None = None
    error: str | None = None
    #: The error itself (embedded mode), so an HTTP edge can tell 404 from 409.
    exception: Exception | None = field(default=None, compare=False)


class CommandBus(Protocol):
    """What adapters submit to; :class:`LocalBus` and :class:`KafkaBus` answer it."""

    def submit(
        self,
        commands: Sequence[Command],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        key: str | None = None,
    ) -> list[Receipt]:
        """Make ``commands`` durable, in order. ``key`` (default: each command's own, see
        ``partition_key``) puts them on one partition, e.g. an alert's correlation key."""
        ...

    def set_aside(
        self,
        *,
        source: str,
        body: bytes,
        reason: str,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None: ...

    def close(self) -> None: ...


class LocalBus:
    """The embedded mode: the same path with no broker, one transaction per ``submit``."""

    def __init__(self, engine: Engine, *, source: str = "bus") -> None:
        self.engine = engine
        self.source = source

    def submit(
        self,
        commands: Sequence[Command],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        key: str | None = None,
    ) -> list[Receipt]:
        now = self.engine.clock.now()
        envelopes = [
            command_envelope(
                c, produced_at=now, correlation_id=correlation_id, causation_id=causation_id
            )
            for c in commands
        ]
        receipts: list[Receipt] = []
        results = self.engine.execute_batch(list(commands), from_outside=True)
        for command, env, result in zip(commands, envelopes, results, strict=True):
            chosen = key or partition_key(command, fallback=env.message_id).decode()
            if isinstance(result, Rejected):
                self.engine.set_aside(
                    source=self.source,
                    message_id=env.message_id,
                    reason=result.reason,
                    field=result.field,
                    body=encode(env),
                    at=now,
                )
                receipts.append(
                    Receipt(
                        env.message_id,
                        chosen,
                        False,
                        error=result.reason,
                        exception=result.error,
                    )
                )
            else:
                receipts.append(Receipt(env.message_id, chosen, True, outcome=result))
        return receipts

    def set_aside(
        self,
        *,
        source: str,
        body: bytes,
        reason: str,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        from hashlib import sha256

        self.engine.set_aside(
            source=source,
            message_id=message_id or "sha256:" + sha256(body).hexdigest(),
            reason=reason,
            field=field,
            body=body,
        )

    def close(self) -> None:
        """The engine belongs to the caller; nothing to release here."""


class KafkaBus:
    """Commands onto the commands topic, keyed so that one ticket's commands keep order."""

    def __init__(
        self, config: KafkaConfig, *, clock: Clock | None = None, producer: Any = None
    ) -> None:
        self.config = config
        self.clock = clock if clock is not None else SystemClock()
        if producer is None:
            from kafka import KafkaProducer

            producer = KafkaProducer(**config.producer_kwargs())
        self.producer = producer

    def submit(
        self,
        commands: Sequence[Command],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        key: str | None = None,
    ) -> list[Receipt]:
        now = self.clock.now()
        sent = []
        for command in commands:
            env = command_envelope(
                command, produced_at=now, correlation_id=correlation_id, causation_id=causation_id
            )
            chosen = key.encode() if key else partition_key(command, fallback=env.message_id)
            future = self.producer.send(self.config.commands_topic, key=chosen, value=encode(env))
            sent.append((env.message_id, chosen.decode(), future))
        self._wait([future for *_, future in sent])
        return [Receipt(message_id, key, True) for message_id, key, _ in sent]

    def set_aside(
        self,
        *,
        source: str,
        body: bytes,
        reason: str,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        headers = dead_letter_headers(
            reason=reason,
            field=field,
            source_topic=source,
            partition=-1,
            offset=-1,
            failed_at=self.clock.now(),
            message_id=message_id,
        )
        future = self.producer.send(self.config.dead_letter_topic, value=body, headers=headers)
        self._wait([future])

    def _wait(self, futures: Sequence[Any]) -> None:
        from kafka.errors import KafkaError

        try:
            self.producer.flush(timeout=ACK_TIMEOUT_S)
            for future in futures:
                future.get(timeout=ACK_TIMEOUT_S)
        except KafkaError as e:
            raise BusUnavailable(f"Kafka did not acknowledge: {e}") from e

    def close(self) -> None:
        self.producer.close(timeout=ACK_TIMEOUT_S)
