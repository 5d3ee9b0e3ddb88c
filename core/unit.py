"""One attempt at one command: what a handler may load, create and number (``handlers.Unit``).

The engine gives each command a unit; within a batch the units share working copies, so a
later command sees what an earlier one did (see ``core/batch.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from opsledger.core.domain.ci import CiNameIndex, ConfigurationItem, ci_name_id
from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.priority import PriorityMatrix
from opsledger.core.domain.records import LedgerRecord, RecordKind, record_id
from opsledger.core.domain.records import normalise_number as _normalise
from opsledger.core.domain.sla_rules import react
from opsledger.core.domain.ticket import Ticket
from opsledger.core.handlers import POLICY_BOOK
from opsledger.core.numbering import TicketCounter, counter_id
from opsledger.core.policies import POLICY_BOOK_ID, PolicyBook, PolicyView

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

R = TypeVar("R", bound=LedgerRecord)


class CommandUnit:
    """One attempt at one command: the records it loaded or created, numbered on demand."""

    def __init__(
        self,
        engine: Engine,
        at: datetime,
        actor: str,
        workspace: dict[UUID, Aggregate] | None = None,
        *,
        fresh: bool = True,
        absent: set[UUID] | None = None,
    ) -> None:
        self.engine = engine
        #: Records the batch looked up in one query and found missing: no store round trip.
        self.absent = absent if absent is not None else set()
        #: Ask the store for newer events of cached records (else trust the cache: a stale
        #: copy fails its save on the version conflict, and the retry reads fresh).
        self.fresh = fresh
        self.at = at
        self.actor = actor
        self.matrix: PriorityMatrix = engine.matrix
        self.reopen_window: timedelta = engine.settings.reopen_window
        self.complaints_to: tuple[str, str | None] = (
            engine.settings.complaint_group,
            engine.settings.complaint_assignee,
        )
        #: Working copies left by the earlier commands of a batch (see core/batch.py).
        self.workspace: dict[UUID, Aggregate] = workspace if workspace is not None else {}
        self.touched: dict[UUID, Aggregate] = {}
        self.by_number: dict[str, Aggregate] = {}
        #: Per record: pending events before this command (what it recorded starts there)...
        self.starts: dict[UUID, int] = {}
        #: ...and after catching its clocks up (what the SLA rules react to starts there).
        self.marks: dict[UUID, int] = {}

    def _take(self, aggregate: Aggregate) -> Aggregate:
        self.touched[aggregate.id] = aggregate
        self.starts.setdefault(aggregate.id, len(aggregate.pending_events))
        return aggregate

    def _fetch(self, aggregate_id: UUID) -> Aggregate | None:
        """A record this command may change: its working copy, or a fresh copy from the store."""
        record = self.touched.get(aggregate_id)
        if record is not None:
            return record
        record = self.workspace.get(aggregate_id)
        if record is None and aggregate_id in self.absent:
            return None
        if record is None and not self.fresh:
            record = self.engine.app.repository.cached(aggregate_id)
        if record is None:
            try:
                record = self.engine.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        return self._take(record)

    def load(self, number: str, kind: type[R]) -> R:
        rid = record_id(number)
        record = self.touched.get(rid)
        if record is None:
            record = self._fetch(rid)
            if record is None:
                raise NotFoundError("ticket", _normalise(number))
            if isinstance(record, Ticket):
                # Clock events due before this command are recorded first, at their own
                # instants, so the ticket's history stays in time order.
                record.catch_up(self.at)
                self.marks[rid] = len(record.pending_events)
        if not isinstance(record, kind):
            expected = getattr(kind, "kind", None)
            what = expected.value.replace("_", " ") if expected else "record"
            raise InputError("ticket", f"{record.number} is not a {what}")  # type: ignore[attr-defined]
        self.touched[rid] = record
        self.by_number[record.number] = record
        return record

    def policy_book(self) -> PolicyBook:
        book = self._fetch(POLICY_BOOK_ID)
        if book is None:
            book = self._take(PolicyBook(timestamp=self.at))
            self.starts[POLICY_BOOK_ID] = 0
        self.by_number[POLICY_BOOK] = book
        return cast(PolicyBook, book)

    def policies(self) -> PolicyView:
        """The policies in force, counting a book changed earlier in this batch."""
        book = self.touched.get(POLICY_BOOK_ID) or self.workspace.get(POLICY_BOOK_ID)
        if book is not None and book.pending_events:
            return PolicyView(cast(PolicyBook, book))
        return self.engine.policies()

    def react(self) -> None:
        """Let the SLA rules answer what the handler just recorded on each ticket."""
        policies = self.policies()
        for rid, record in self.touched.items():
            if isinstance(record, Ticket):
                new = record.pending_events[self.marks.get(rid, 0) :]
                if new:
                    react(record, list(new), policies, self.at)

    def route(self, ticket: Ticket) -> tuple[str, str | None] | None:
        """Ask the routing plugins (a failing one is skipped with a warning)."""
        return self.engine.plugins.route(ticket.as_dict())

    def classify(self, item: Mapping[str, Any]) -> dict[str, str] | None:
        """Ask the classifiers; a ``ci`` must name a configuration item this command can see."""
        return self.engine.plugins.classify(item, ci_exists=self.ci_exists)

    def ci_exists(self, number: str) -> bool:
        """Without touching it: a record loaded here would be saved with the command."""
        try:
            rid = record_id(number)
        except InputError:
            return False
        return isinstance(self._peek(rid), ConfigurationItem)

    def ci_named(self, name: str) -> list[ConfigurationItem]:
        """The CIs registered under ``name``, read through its index without touching either."""
        index = self._peek(ci_name_id(name))
        if not isinstance(index, CiNameIndex):
            return []
        found = (self._peek(record_id(number)) for number in index.numbers)
        return [ci for ci in found if isinstance(ci, ConfigurationItem)]

    def _peek(self, aggregate_id: UUID) -> Aggregate | None:
        """An aggregate as this command sees it, not taken: reading it saves nothing."""
        found = self.touched.get(aggregate_id) or self.workspace.get(aggregate_id)
        if found is None:
            try:
                found = self.engine.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        return found

    def allocate(self, kind: RecordKind) -> str:
        cid = counter_id(kind)
        counter = self._fetch(cid)
        if counter is None:
            counter = self._take(TicketCounter(kind=kind.value, timestamp=self.at))
            self.starts[cid] = 0
        return cast(TicketCounter, counter).allocate(self.at)

    def add(self, record: LedgerRecord) -> None:
        self.touched[record.id] = record
        self.starts[record.id] = self.marks[record.id] = 0
        self.by_number[record.number] = record

    def primary(self, number: str) -> Aggregate:
        """The record a handler answered with (its number is canonical: no id to derive)."""
        record = self.by_number.get(number)
        return record if record is not None else self.touched[record_id(number)]

    def find(
        self, aggregate_id: UUID, new: Callable[[], Aggregate] | None = None
    ) -> Aggregate | None:
        """An aggregate without a number (a correlation), or ``new()`` when there is none yet.

        Whatever it answers is saved with the command's other records.
        """
        found = self._fetch(aggregate_id)
        if found is None and new is not None:
            found = self._take(new())
            self.starts[found.id] = 0  # its creation is this command's doing
        return found
