"""What the host lends plugins besides the event itself: read-only views and side tables.

A reaction that sends a notification needs the ticket as it stands (who reported it, its
group), and an outbox that survives a crash needs a table beside the events. Plugins get
both through this narrow object rather than the engine, so they can read and keep their
own state but never record an event except through a command on the bus.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from opsledger.core.domain.errors import NotFoundError
from opsledger.plugins.deadletters import SideTables

if TYPE_CHECKING:
    from opsledger.core.clock import Clock
    from opsledger.core.engine import Engine
    from opsledger.core.settings import Settings

T = TypeVar("T", bound=SideTables)


class HostContext:
    """The engine's read side and storage, as a plugin may use them (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tables: dict[type[SideTables], SideTables] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self._engine.settings

    @property
    def clock(self) -> Clock:
        """The engine's clock: a plugin's "now" agrees with the commands' (tests step it)."""
        return self._engine.clock

    def ticket(self, number: str) -> dict[str, Any] | None:
        """A ticket (or CI) as ``Engine.get`` shows it now; None when there is none."""
        try:
            return self._engine.get(number)
        except NotFoundError:
            return None

    def ticket_as_of(self, number: str, at: datetime) -> dict[str, Any] | None:
        """The record as it stood at ``at`` (what a notification about that event says)."""
        try:
            return self._engine.get_as_of(number, at=at)
        except NotFoundError:
            return None

    def number_of(self, originator_id: UUID) -> str | None:
        """The number of the record an event belongs to (events carry only its id)."""
        try:
            record = self._engine.app.repository.get(originator_id)
        except Exception:  # not a record (a correlation, a counter) or not there
            return None
        number = getattr(record, "number", None)
        return number if isinstance(number, str) else None

    def tables(self, kind: type[T]) -> T:
        """The plugin's own ``SideTables`` subclass beside the events, opened once."""
        with self._lock:
            found = self._tables.get(kind)
            if found is None:
                found = self._tables[kind] = kind.for_settings(self._engine.settings)
            return found  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            for tables in self._tables.values():
                tables.close()
            self._tables.clear()
