"""The engine's SLA side: policies in force, the deadline scheduler, status, explain, what-if."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording
from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import DOMAIN_TOPICS, RecordKind, record_id
from opsledger.core.domain.sla import SlaPolicy
from opsledger.core.domain.ticket import Ticket
from opsledger.core.policies import POLICY_BOOK_ID, OverridePolicies, PolicyBook, PolicyView
from opsledger.core.scheduler import DeadlineIndex
from opsledger.core.sla_status import ClockStatus, clock_statuses, explain
from opsledger.core.whatif import Attainment, WhatIfReport, replay_without_clocks

if TYPE_CHECKING:
    from opsledger.core.engine import Engine, Outcome

TICKET_KINDS = (
    RecordKind.INCIDENT,
    RecordKind.SERVICE_REQUEST,
    RecordKind.PROBLEM,
    RecordKind.CHANGE,
)
#: Another process may define a policy; re-read the book at most this often (seconds).
POLICY_REFRESH = 5.0


class SlaService:
    """Mixed into :class:`~opsledger.core.engine.Engine`."""

    def _init_sla(self) -> None:
        self._policy_view: PolicyView | None = None
        self._policy_loaded = 0.0
        self._deadlines: DeadlineIndex | None = None
        self._indexed_upto = 0  # the log position the deadline index has seen
        self._own_positions: set[int] = set()  # saved here, so already re-filed
        cast("Engine", self).subscribe(self._saw_own)

    def _saw_own(self, recordings: Sequence[Recording[UUID]]) -> None:
        if self._deadlines is not None:
            self._own_positions.update(r.notification.id for r in recordings)

    def _follow_log(self, index: DeadlineIndex) -> None:
        """Re-file the tickets other processes changed since the index last looked.

        Several workers (or a worker and the CLI) share one store; each engine only sees its
        own saves, so before ticking it reads the log for the rest.
        """
        engine = cast("Engine", self)
        while True:
            page = engine.app.recorder.select_notifications(
                start=self._indexed_upto, limit=1000, inclusive_of_start=False
            )
            if not page:
                return
            own = self._own_positions
            touched = dict.fromkeys(
                n.originator_id
                for n in page
                if n.id not in own and n.topic.startswith(DOMAIN_TOPICS)
            )
            own.difference_update(n.id for n in page)
            for originator in touched:
                record = engine.app.repository.get(cast(UUID, originator))
                if isinstance(record, Ticket):
                    index.update(record.number, record.next_due())
            self._indexed_upto = page[-1].id

    # -- policies ----------------------------------------------------------------------------

    def policies(self) -> PolicyView:
        """The policy book as the SLA rules read it (all versions; current ones in force)."""
        engine = cast("Engine", self)
        now = time.monotonic()
        if self._policy_view is None or now - self._policy_loaded > POLICY_REFRESH:
            try:
                book = cast(PolicyBook, engine.app.repository.get(POLICY_BOOK_ID))
            except AggregateNotFoundError:
                book = None
            self._policy_view = PolicyView(book)
            self._policy_loaded = now
        return self._policy_view

    def define_policy(self, policy: SlaPolicy | dict[str, Any], **kw: Any) -> Outcome:
        """Record a policy version (identical re-definitions record nothing)."""
        from opsledger.core.commands import DefineSlaPolicy

        definition = policy.to_dict() if isinstance(policy, SlaPolicy) else dict(policy)
        return cast("Engine", self).execute(DefineSlaPolicy(definition=definition, **kw))

    def _after_save(self, records: Iterable[Aggregate]) -> None:
        for record in records:
            if record.id == POLICY_BOOK_ID:
                self._policy_view = None
            elif self._deadlines is not None and isinstance(record, Ticket):
                self._deadlines.update(record.number, record.next_due())

    # -- scheduler ---------------------------------------------------------------------------

    def deadlines(self) -> DeadlineIndex:
        """The index of open clocks, built from the store on first use, then kept current."""
        if self._deadlines is None:
            engine = cast("Engine", self)
            self._indexed_upto = engine.app.recorder.max_notification_id() or 0
            index = DeadlineIndex()
            for kind in TICKET_KINDS:
                for number in engine.numbers(kind):
                    ticket = engine.record(number)
                    if isinstance(ticket, Ticket):
                        index.update(number, ticket.next_due())
            self._deadlines = index
        return self._deadlines

    def tick(self, now: datetime | None = None) -> int:
        """Fire every clock event due by ``now``; returns how many events were recorded.

        Each due ticket is caught up in its own command. Repeated, late or out-of-order ticks
        record nothing twice: the ticket's clocks know what has fired.
        """
        from opsledger.core.commands import TickClocks

        engine = cast("Engine", self)
        at = ensure_utc(now, "now") if now is not None else engine.clock.now()
        index = self.deadlines()
        self._follow_log(index)
        fired = done = 0
        due = index.pop_due(at)
        try:
            for number in due:
                outcome = engine.execute(TickClocks(ticket=number, at=at, actor="sla"))
                fired += len(outcome.events)
                if not outcome.events:  # nothing recorded, so _after_save did not re-index it
                    index.update(number, engine.record(number).next_due())  # type: ignore[attr-defined]
                done += 1
        finally:
            # A failed catch-up (a conflict, a lost connection) must not drop the tickets it
            # did not reach from the index: they stay due, and the next tick tries again.
            for number in due[done:]:
                index.update(number, at)
        return fired

    # -- reading -----------------------------------------------------------------------------

    def sla_status(self, number: str, as_of: datetime | None = None) -> list[ClockStatus]:
        """Each clock's state, business time used and left, and due instant as of ``as_of``.

        Computed from the ticket's events up to ``as_of`` alone.
        """
        engine = cast("Engine", self)
        at = ensure_utc(as_of, "as_of") if as_of is not None else engine.clock.now()
        ticket = engine.record_as_of(number, at=at)
        if not isinstance(ticket, Ticket):
            raise InputError("ticket", f"{ticket.number} is not a ticket")
        return clock_statuses(ticket, at)

    def sla_explain(self, number: str) -> list[str]:
        """A timeline of the ticket's clocks that an auditor can check by hand."""
        engine = cast("Engine", self)
        rid = record_id(number)
        record = engine.record(number)
        return explain(record.number, engine.app.events.get(rid))

    def whatif(
        self, policy: SlaPolicy | dict[str, Any], start: datetime, end: datetime
    ) -> WhatIfReport:
        """Recompute the clocks of tickets opened in [start, end) under ``policy``; no writes."""
        engine = cast("Engine", self)
        start, end = ensure_utc(start, "from"), ensure_utc(end, "to")
        if end <= start:
            raise InputError("to", "must be after from")
        proposed = policy if isinstance(policy, SlaPolicy) else SlaPolicy.from_dict(policy)
        book: PolicyBook | None
        try:
            book = cast(PolicyBook, engine.app.repository.get(POLICY_BOOK_ID))
        except AggregateNotFoundError:
            book = None
        alternative = OverridePolicies(book, proposed)
        actual, recomputed = Attainment(), Attainment()
        count = 0
        until = engine.clock.now()
        for kind in TICKET_KINDS:
            for number in engine.numbers(kind):
                events = list(engine.app.events.get(record_id(number)))
                opened = events[0].timestamp  # type: ignore[attr-defined]
                if not start <= opened < end:
                    continue
                count += 1
                current = engine.record(number)  # a private copy: catching up is not saved
                assert isinstance(current, Ticket)
                current.catch_up(until)
                actual.add(current)
                recomputed.add(replay_without_clocks(events, alternative, until))
        return WhatIfReport(count, actual, recomputed)
