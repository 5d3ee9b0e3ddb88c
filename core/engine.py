"""The Engine: the application service that runs commands against the event store.

It loads aggregates, lets the handler decide, and saves everything one command touched in
one transaction, together with the idempotency record. Conflicts between concurrent writers
are retried a bounded number of times. Reads (a ticket now, at a version, at an instant, its
history) come straight from the stored events.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self, TypeVar, cast
from uuid import UUID

import pluggy
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    ProcessRecorder,
    RecordConflictError,
    Recording,
    Tracking,
)
from eventsourcing.utils import strtobool
from opsledger.core.batch import Batch, Rejected, TrackingConflict
from opsledger.core.chain import ChainReport
from opsledger.core.clock import Clock, SystemClock, ensure_utc
from opsledger.core.codec import OrjsonTranscoder, TypedMapper
from opsledger.core.commands import Command
from opsledger.core.domain.correlation import Correlation
from opsledger.core.domain.errors import ConflictError, InputError, NotFoundError
from opsledger.core.domain.priority import PriorityMatrix
from opsledger.core.domain.records import LedgerRecord, RecordKind, format_number, record_id
from opsledger.core.domain.records import normalise_number as _normalise
from opsledger.core.domain.storms import SourceActivity
from opsledger.core.idempotency import CommandRecord, command_record_id
from opsledger.core.numbering import TicketCounter, counter_id
from opsledger.core.persistence import LedgerRepository, verify_recorder
from opsledger.core.settings import Settings, postgres_env
from opsledger.core.sla_service import SlaService
from opsledger.plugins.deadletters import DeadLetter, PluginWarning, RejectedMessage
from opsledger.plugins.host import PluginHost, RetryReport

log = logging.getLogger(__name__)
R = TypeVar("R", bound=LedgerRecord)
_META = ("originator_id", "originator_version", "timestamp", "actor", "originator_topic")


class Ledger(Application[UUID]):
    """eventsourcing application: orjson codec, chained process recorder, counter snapshots."""

    name = "opsledger"
    # Counters, correlations and source activity take an event per ticket or per report for
    # ever: snapshots keep loading them cheap however long a source has been reporting.
    snapshotting_intervals = {  # noqa: RUF012 (eventsourcing's API)
        TicketCounter: 250,
        Correlation: 100,
        SourceActivity: 100,
    }

    def construct_mapper(self) -> TypedMapper:
        return TypedMapper(transcoder=OrjsonTranscoder())

    def construct_recorder(self) -> ApplicationRecorder:
        # A process recorder, so the Kafka worker can save tracking with the events.
        return cast(ApplicationRecorder, self.factory.process_recorder())

    def construct_repository(self) -> LedgerRepository:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return LedgerRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    @property
    def repository(self) -> LedgerRepository:
        return cast(LedgerRepository, self._repository)

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        tracking: Tracking | None = None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """eventsourcing's ``save``, collecting aggregates without its runtime protocol checks.

        Those checks cost more than the rest of collecting on the engine's path (measured).
        """
        if not all(isinstance(obj, Aggregate) for obj in objs):
            assert tracking is None, "tracking is only saved with aggregates"
            return super().save(*objs, **kwargs)
        processing = ProcessingEvent[UUID](tracking)
        for aggregate in cast(tuple[Aggregate, ...], objs):
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # deprecated hook, still called by eventsourcing
        return recordings


def ledger_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's configuration for the chosen store."""
    env = {
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
        "CREATE_TABLE": "y",
    }
    if settings.database_url:
        env |= postgres_env(settings.database_url)
        env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
        env["PROCESS_RECORDER_TOPIC"] = "opsledger.core.persistence_pg:ChainedPostgresRecorder"
    else:
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        env["SQLITE_DBNAME"] = settings.db_path
        env["SQLITE_LOCK_TIMEOUT"] = "30"
        env["PROCESS_RECORDER_TOPIC"] = "opsledger.core.persistence:ChainedSQLiteRecorder"
    return env


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: the record it was about and the events it recorded."""

    number: str
    version: int
    events: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "version": self.version, "events": self.events}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, duplicate: bool) -> Outcome:
        return cls(data["number"], data["version"], list(data["events"]), duplicate)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded event, as a person or an auditor reads it."""

    version: int
    event: str
    at: datetime
    actor: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "event": self.event,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "details": self.details,
        }


class Engine(SlaService):
    """The public embedding API: ``Engine().open_incident(...)``, ``engine.get("INC-000001")``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        plugins: pluggy.PluginManager | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.clock: Clock = clock if clock is not None else SystemClock()
        env = ledger_env(self.settings)
        if self.settings.database_url:
            from opsledger.core.persistence_pg import schema_lock

            with schema_lock(env):
                self.app = Ledger(env=env)
        else:
            self.app = Ledger(env=env)
        self._listeners: list[Callable[[Sequence[Recording[UUID]]], None]] = []
        self._init_sla()
        # -- plugins (opsledger.plugins): hooks are called through the host, never the domain
        self.plugins = PluginHost(self, plugins)
        self.matrix: PriorityMatrix = self.plugins.matrix(self.settings.matrix)
        self.subscribe(self.plugins.on_recorded)

    # -- lifecycle of the engine itself ----------------------------------------------------

    def close(self) -> None:
        self.app.close()
        self.plugins.close()

    def __enter__(self) -> Self:  # the facade's verbs stay visible inside ``with``
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self, listener: Callable[[Sequence[Recording[UUID]]], None]) -> None:
        """Call ``listener`` with each command's recordings after they are committed.

        A failing listener is logged and never fails the command that was already recorded.
        """
        self._listeners.append(listener)

    # -- plugins ---------------------------------------------------------------------------

    def retry_dead_letters(self) -> RetryReport:
        """Call each plugin whose reaction failed again, with the event it failed on."""
        return self.plugins.retry_dead_letters()

    def define_plugin_policies(self, *, actor: str, at: datetime | None = None) -> list[Outcome]:
        """Record the SLA policies plugins ship (unchanged ones record nothing)."""
        return [self.define_policy(p, actor=actor, at=at) for p in self.plugins.sla_policies()]

    def set_aside(
        self,
        *,
        source: str,
        message_id: str,
        reason: str,
        body: bytes,
        field: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Keep an inbound message that could not be recorded, with why (embedded mode's
        dead letters; Kafka's go to the dead-letter topic). True unless already kept."""
        return self.plugins.store.reject(
            source=source,
            message_id=message_id,
            reason=reason,
            field=field,
            body=body,
            at=at if at is not None else self.clock.now(),
        )

    def rejected_messages(self, source: str | None = None) -> list[RejectedMessage]:
        """Inbound messages set aside, oldest first."""
        return self.plugins.store.rejected(source)

    def dead_letters(self) -> list[DeadLetter]:
        """Plugin reactions waiting for a retry (plugin, event position, traceback)."""
        return self.plugins.dead_letters()

    def plugin_warnings(self) -> list[PluginWarning]:
        """Routers and classifiers that raised and were skipped."""
        return self.plugins.warnings()

    # -- commands --------------------------------------------------------------------------

    def execute(self, command: Command) -> Outcome:
        """Run one command: recorded completely and once, or not at all."""
        result = self.execute_batch([command])[0]
        if isinstance(result, Rejected):
            raise result.error
        return result

    def execute_batch(
        self,
        commands: Sequence[Command],
        *,
        tracking: Tracking | None = None,
        before_save: Callable[[list[Outcome | Rejected]], None] | None = None,
        from_outside: bool = False,
    ) -> list[Outcome | Rejected]:
        """Run commands in order and record them all in one transaction, with ``tracking``.

        A command that fails comes back :class:`Rejected` with its error, having recorded
        nothing; the others are unaffected. ``tracking`` (an upstream position, such as a
        Kafka offset) is saved in the same transaction, even when nothing else is; if that
        position was already recorded, :class:`TrackingConflict` is raised and nothing is.
        ``before_save`` sees the results before they are committed (the Kafka worker sets
        rejected commands aside there, so none is lost if the process dies after the commit);
        a conflict runs the batch again, and calls it again. ``from_outside`` (the bus, the
        HTTP API, the Kafka worker) refuses commands dated more than ``Settings.future_skew``
        ahead of the clock: a ticket refuses anything dated before its last change, so one
        far-future date would block it.
        """
        retries = max(1, self.settings.conflict_retries)
        for attempt in range(retries):
            batch = Batch(self, fresh=attempt > 0, from_outside=from_outside)
            batch.prefetch(commands)
            results: list[Outcome | Rejected] = []
            for command in commands:
                try:
                    results.append(batch.run(command))
                except Exception as error:
                    results.append(Rejected(command, error))
            if before_save is not None:
                before_save(results)
            changed = batch.changed()
            if not changed and tracking is None:
                return results
            try:
                recordings = self.app.save(*changed, tracking=tracking)
            except RecordConflictError as error:  # eventsourcing's IntegrityError, too
                if tracking is not None and self._tracked(tracking):
                    raise TrackingConflict(
                        f"{tracking.application_name} position {tracking.notification_id} "
                        "was already recorded"
                    ) from error
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                continue
            # Our copies are exactly what was just recorded: cache them, rather than have
            # the next command replay these events onto the older cached version. Not the
            # idempotency records: read again only for a duplicate, they would crowd the
            # tickets out of the cache (one per command).
            self.app.repository.remember(a for a in changed if not isinstance(a, CommandRecord))
            self._after_save(batch.workspace.values())
            self._notify(recordings)
            return results
        raise ConflictError(
            f"{', '.join(sorted({type(c).__name__ for c in commands}))}: gave up after "
            f"{retries} attempts; concurrent writers kept changing the same records"
        )

    def _tracked(self, tracking: Tracking) -> bool:
        """Whether an upstream position is already recorded (by us, or by a rival worker)."""
        done = self.tracked_position(tracking.application_name)
        return done is not None and done >= tracking.notification_id

    def tracked_position(self, upstream: str) -> int | None:
        """The last position recorded for an upstream (a Kafka partition, say), or None."""
        recorder = cast(ProcessRecorder, self.app.recorder)
        return recorder.max_tracking_id(upstream)

    def _prior(self, key: str, name: str) -> Outcome | None:
        try:
            record = cast(CommandRecord, self.app.repository.get(command_record_id(key)))
        except AggregateNotFoundError:
            return None
        if record.command != name:
            raise ConflictError(
                f"idempotency key {key!r} was already used for {record.command}, not {name}"
            )
        return Outcome.from_dict(record.result, duplicate=True)

    def _notify(self, recordings: Sequence[Recording[UUID]]) -> None:
        for listener in self._listeners:
            try:
                listener(recordings)
            except Exception:
                log.exception("event listener failed", extra={"listener": repr(listener)})

    def _load(self, rid: UUID, number: str) -> LedgerRecord:
        try:
            return cast(LedgerRecord, self.app.repository.get(rid))
        except AggregateNotFoundError:
            raise NotFoundError("ticket", _normalise(number)) from None

    # -- reads -----------------------------------------------------------------------------

    def record(self, number: str) -> LedgerRecord:
        """The aggregate itself (a private copy): for embedding code that wants attributes."""
        return self._load(record_id(number), number)

    def get(self, number: str) -> dict[str, Any]:
        """Current state of a ticket or CI as JSON-native data."""
        return cast(dict[str, Any], self.record(number).as_dict())  # type: ignore[attr-defined]

    def get_as_of(
        self, number: str, *, version: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """The record as it was at a version, or at an instant (the last event at or before it)."""
        return cast(dict[str, Any], self.record_as_of(number, version=version, at=at).as_dict())  # type: ignore[attr-defined]

    def record_as_of(
        self, number: str, *, version: int | None = None, at: datetime | None = None
    ) -> LedgerRecord:
        """The aggregate rebuilt from its events up to a version or an instant."""
        if (version is None) == (at is None):
            raise InputError("as_of", "give exactly one of version or at")
        rid = record_id(number)
        if at is not None:
            at = ensure_utc(at, "at")
            version = None
            for e in self.app.events.get(rid):
                if e.timestamp > at:  # type: ignore[attr-defined]
                    break
                version = e.originator_version
            if version is None:
                self._load(rid, number)  # not found at all -> NotFoundError
                raise NotFoundError("ticket", f"{_normalise(number)} as of {at.isoformat()}")
        elif version is not None and version < 1:
            raise InputError("version", "must be 1 or more")
        try:
            record = cast(LedgerRecord, self.app.repository.get(rid, version=version))
        except AggregateNotFoundError:
            raise NotFoundError("ticket", _normalise(number)) from None
        if version is not None and record.version < version:
            raise NotFoundError("version", f"{version} of {record.number}")
        return record

    def history(self, number: str) -> list[HistoryEntry]:
        """Every event of a record, oldest first."""
        rid = record_id(number)
        entries = [
            HistoryEntry(
                version=e.originator_version,
                event=type(e).__name__,
                at=e.timestamp,  # type: ignore[attr-defined]
                actor=getattr(e, "actor", ""),
                details={
                    k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in vars(e).items()
                    if k not in _META
                },
            )
            for e in self.app.events.get(rid)
        ]
        if not entries:
            raise NotFoundError("ticket", _normalise(number))
        return entries

    def last_number(self, kind: RecordKind) -> int:
        """How many records of a kind were ever numbered (numbers are gapless from 1)."""
        try:
            counter = cast(TicketCounter, self.app.repository.get(counter_id(kind)))
        except AggregateNotFoundError:
            return 0
        return counter.last

    def numbers(self, kind: RecordKind) -> Iterator[str]:
        """Every number of a kind, in order."""
        for sequence in range(1, self.last_number(kind) + 1):
            yield format_number(kind, sequence)

    def verify_chain(self) -> ChainReport:
        """Walk the whole event log and check its hash chain (the audit tools build on this)."""
        return verify_recorder(self.app.recorder)
