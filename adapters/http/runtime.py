"""One engine shared by a thread pool: writes in turn, reads side by side, housekeeping behind.

FastAPI runs each synchronous endpoint on a worker thread. The Engine was built for one
writer per process: its deadline index, policy cache and batch working copies are not guarded.
So every write (a command batch, a tick, a plugin retry) takes :class:`Gate`'s one lock, and
reads do not: they go through eventsourcing's repository, whose LRU cache and per-aggregate
fast-forward locks are thread-safe, and the recorders' connection pools (SQLite in WAL mode,
psycopg's pool), and each reader gets a private copy of an aggregate. Read models are caught
up under a lock of their own (:class:`SerializedProjections`), so a long catch-up never holds
up commands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from opsledger.adapters.kafka.bus import CommandBus, Receipt
from opsledger.core.commands import Command
from opsledger.projections.base import Progress
from opsledger.projections.service import Projections

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

log = logging.getLogger(__name__)
#: How often ``serve`` catches the read models up between requests (requests catch up too).
CATCH_UP_INTERVAL_S = 1.0


class Gate:
    """The engine's write lock (re-entrant: a locked bus may be called under it)."""

    def __init__(self) -> None:
        self.write = threading.RLock()


class LockedBus:
    """A bus whose ``submit`` and ``set_aside`` take the gate's write lock first.

    What the app and the adapters it hosts submit to, so an adapter's own threads and the
    request threads never run the engine at the same time.
    """

    def __init__(self, bus: CommandBus, gate: Gate) -> None:
        self.bus = bus
        self.gate = gate

    def submit(
        self,
        commands: Sequence[Command],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        key: str | None = None,
    ) -> list[Receipt]:
        with self.gate.write:
            return self.bus.submit(
                commands, correlation_id=correlation_id, causation_id=causation_id, key=key
            )

    def set_aside(
        self,
        *,
        source: str,
        body: bytes,
        reason: str,
        field: str | None = None,
        message_id: str | None = None,
    ) -> None:
        with self.gate.write:
            self.bus.set_aside(
                source=source, body=body, reason=reason, field=field, message_id=message_id
            )

    def close(self) -> None:
        self.bus.close()


class SerializedProjections(Projections):
    """Read models that any thread may catch up: one catch-up or rebuild at a time.

    The read models keep folded records and committed documents in memory, which two
    catch-ups at once would interleave. Queries read the store and need no lock.
    """

    def __init__(self, engine: Engine, names: Sequence[str] | None = None) -> None:
        super().__init__(engine, names)
        self._lock = threading.Lock()

    def catch_up(self, progress: Progress | None = None, *, page: int = 1000) -> dict[str, int]:
        with self._lock:
            return super().catch_up(progress, page=page)

    def rebuild_all(
        self,
        names: Sequence[str] | None = None,
        progress: Progress | None = None,
        *,
        page: int = 1000,
    ) -> dict[str, int]:
        with self._lock:
            return super().rebuild_all(names, progress, page=page)


class Housekeeper(threading.Thread):
    """``opsledger serve``'s background work: fire due SLA clocks, retry plugin reactions
    that failed, keep the read models caught up. A failure is logged and tried next round."""

    def __init__(
        self,
        engine: Engine,
        gate: Gate,
        projections: Projections | None,
        stop: threading.Event,
        *,
        tick_interval_s: float = 1.0,
        retry_interval_s: float = 60.0,
    ) -> None:
        super().__init__(name="opsledger-housekeeper", daemon=True)
        self.engine, self.gate, self.projections, self.stop = engine, gate, projections, stop
        self.tick_interval_s = tick_interval_s
        self.retry_interval_s = retry_interval_s
        self.ticks = self.fired = self.retries = self.failures = 0

    def run(self) -> None:
        every = {
            self._tick: self.tick_interval_s,
            self._retry: self.retry_interval_s,
            self._catch_up: CATCH_UP_INTERVAL_S if self.projections is not None else 0.0,
        }
        tasks = {work: interval for work, interval in every.items() if interval > 0}
        start = time.monotonic()
        # plugin retries wait one interval: a fresh start has nothing new to retry
        due = {work: start + (interval if work == self._retry else 0.0)
               for work, interval in tasks.items()}  # fmt: skip
        while tasks and not self.stop.is_set():
            for work, interval in tasks.items():
                if time.monotonic() >= due[work]:
                    self._guard(work)
                    due[work] = time.monotonic() + interval
            self.stop.wait(max(0.01, min(due.values()) - time.monotonic()))

    def _tick(self) -> None:
        with self.gate.write:
            self.fired += self.engine.tick()
        self.ticks += 1

    def _retry(self) -> None:
        with self.gate.write:  # plugin reactions may run commands of their own
            self.engine.retry_dead_letters()
        self.retries += 1

    def _catch_up(self) -> None:
        assert self.projections is not None
        self.projections.catch_up()

    def _guard(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            self.failures += 1
            log.exception(
                "housekeeping failed; tried again next round", extra={"work": work.__name__}
            )

    def stats(self) -> dict[str, int]:
        return {
            "ticks": self.ticks,
            "fired": self.fired,
            "retries": self.retries,
            "failures": self.failures,
        }
