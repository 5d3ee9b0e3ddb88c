"""Several commands recorded in one transaction: what the Kafka worker needs for throughput.

Commands run one after another against shared working copies, so a later command sees what
an earlier one did, exactly as if each had been saved on its own. A command that fails is
taken back by rebuilding the records it touched from their events (the events are the
state), so the rest of the batch is unaffected and one pass is enough. Everything the batch
recorded, its idempotency records and the caller's tracking position are then saved at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate
from opsledger.core.clock import ensure_utc
from opsledger.core.commands import Command, IngestInbound
from opsledger.core.domain.correlation import correlation_id
from opsledger.core.domain.errors import ConflictError, InputError, OpsledgerError
from opsledger.core.handlers import HANDLERS
from opsledger.core.idempotency import CommandRecord, command_record_id
from opsledger.core.numbering import TicketCounter
from opsledger.core.unit import CommandUnit

if TYPE_CHECKING:
    from opsledger.core.engine import Engine, Outcome


@dataclass(frozen=True, slots=True)
class Rejected:
    """A command of a batch that recorded nothing, and why (the caller dead-letters it)."""

    command: Command
    error: Exception

    @property
    def field(self) -> str | None:
        return getattr(self.error, "field", None)

    @property
    def reason(self) -> str:
        if isinstance(self.error, OpsledgerError):
            return str(self.error)
        return f"internal error: {type(self.error).__name__}: {self.error}"


class Batch:
    """One attempt at a list of commands; :meth:`run` each, then save everything once."""

    def __init__(self, engine: Engine, *, fresh: bool = True, from_outside: bool = False) -> None:
        self.engine = engine
        self.fresh = fresh
        #: Commands from the bus (HTTP, Kafka, adapters) may not date themselves far ahead.
        self.from_outside = from_outside
        self.workspace: dict[UUID, Aggregate] = {}
        self.keys: dict[str, tuple[str, Outcome]] = {}
        self.unused: set[str] = set()  # idempotency keys the store is known not to hold
        self.absent: set[UUID] = set()  # records the store is known not to hold

    def prefetch(self, commands: Sequence[Command]) -> None:
        """Look up, in one query, what each command would otherwise look up on its own:
        its idempotency record, and the correlation of an inbound event."""
        wanted: dict[UUID, str | None] = {}
        for c in commands:
            if isinstance(c.idempotency_key, str):
                wanted[command_record_id(c.idempotency_key)] = c.idempotency_key
            if (
                isinstance(c, IngestInbound)
                and isinstance(c.source, str)
                and isinstance(c.external_id, str)
            ):
                wanted[correlation_id(c.source, c.external_id)] = None
        if len(wanted) < 2:
            return
        existing = self.engine.app.recorder.existing(list(wanted))  # type: ignore[attr-defined]
        self.absent = {i for i in wanted if i not in existing}
        self.unused = {k for i, k in wanted.items() if k is not None and i in self.absent}

    def run(self, command: Command) -> Outcome:
        """Apply one command to the working copies; on any error they are as before it."""
        from opsledger.core.engine import Outcome

        engine = self.engine
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise InputError("command", f"no handler for {type(command).__name__}")
        now = engine.clock.now()
        at = ensure_utc(command.at, "at") if command.at is not None else now
        if self.from_outside and at > now + engine.settings.future_skew:
            raise InputError(
                "at",
                f"{at.isoformat()} is more than {engine.settings.future_skew} ahead of now "
                f"({now.isoformat()})",
            )
        actor = command.actor.strip() if isinstance(command.actor, str) else ""
        if not actor:
            raise InputError("actor", "must be a non-empty string")
        key = command.idempotency_key
        name = type(command).__name__
        if key is not None:
            if not key.strip():
                raise InputError("idempotency_key", "must not be blank")
            prior = self._prior(key, name)
            if prior is not None:
                return prior
        unit = CommandUnit(engine, at, actor, self.workspace, fresh=self.fresh, absent=self.absent)
        try:
            number = handler(command, unit)
            unit.react()
            events = [
                {
                    "record": getattr(a, "number", None),
                    "version": e.originator_version,
                    "event": type(e).__name__,
                }
                for rid, a in unit.touched.items()
                if not isinstance(a, TicketCounter)
                for e in a.pending_events[unit.starts.get(rid, 0) :]
            ]
            outcome = Outcome(number, unit.primary(number).version, events)
        except BaseException:
            self._take_back(unit)
            raise
        self.workspace.update(unit.touched)
        if key is not None:
            record = CommandRecord.accepted(
                key=key, command=name, result=outcome.to_dict(), actor=actor, timestamp=at
            )
            self.workspace[record.id] = record
            self.keys[key] = (name, outcome)
        return outcome

    def _prior(self, key: str, name: str) -> Outcome | None:
        from opsledger.core.engine import Outcome

        seen = self.keys.get(key)
        if seen is None:
            return None if key in self.unused else self.engine._prior(key, name)
        if seen[0] != name:
            raise ConflictError(
                f"idempotency key {key!r} was already used for {seen[0]}, not {name}"
            )
        return Outcome.from_dict(seen[1].to_dict(), duplicate=True)

    def _take_back(self, unit: CommandUnit) -> None:
        """Rebuild each working copy the failed command changed, from the events it kept."""
        for rid in unit.touched:
            kept = self.workspace.get(rid)
            if kept is not None and len(kept.pending_events) != unit.starts[rid]:
                self.workspace[rid] = self._rebuilt(kept, unit.starts[rid])

    def _rebuilt(self, aggregate: Aggregate, keep: int) -> Aggregate:
        pending = list(aggregate.pending_events)
        first = pending[0].originator_version
        base: Any = None
        if first > 1:
            base = self.engine.app.repository.get(aggregate.id, version=first - 1)
        for e in pending[:keep]:
            base = e.mutate(base)
        base._pending_events = pending[:keep]
        return cast(Aggregate, base)

    def changed(self) -> list[Aggregate]:
        """What the batch recorded, in the order first touched."""
        return [a for a in self.workspace.values() if a.pending_events]

    def forget(self) -> None:
        """Drop everything (a conflict: the batch is run again from the store)."""
        self.workspace.clear()
        self.keys.clear()


class TrackingConflict(ConflictError):
    """The position given as tracking was already recorded: someone else applied it first."""
