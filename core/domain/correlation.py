"""Which ticket an outside system's own identity (alert fingerprint, dedup key) belongs to.

One aggregate per (source, external id), its id derived from that pair, so that two first
deliveries racing each other collide on version 1 and the loser, retried, sees the winner's
ticket. It remembers every ticket the key was linked to, in order; the current one is the last,
and, when flapping is watched, the recent instants its state changed between open and resolve.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.core.domain.records import NUMBER_NAMESPACE


class InboundState(StrEnum):
    """What the source says about the thing it identifies."""

    OPEN = "open"  # firing, new, still happening
    ACKNOWLEDGE = "acknowledge"  # someone at the source took it
    RESOLVE = "resolve"  # cleared at the source
    UPDATE = "update"  # a note about it


def correlation_key(source: str, external_id: str) -> str:
    """Unambiguous text of the pair (``a:b`` + ``c`` must not equal ``a`` + ``b:c``)."""
    return json.dumps([source, external_id], ensure_ascii=False)


@lru_cache(maxsize=65_536)  # pure; asked for by the batch's lookup and by the handler
def correlation_id(source: str, external_id: str) -> UUID:
    return uuid5(NUMBER_NAMESPACE, f"correlation:{correlation_key(source, external_id)}")


class Correlation(Aggregate):
    """The tickets one outside identity was linked to over time."""

    #: datetimes inside the state, restored from a snapshot (core/codec.py)
    snapshot_instants: ClassVar[tuple[str, ...]] = ("changes",)

    @staticmethod
    def create_id(source: str, external_id: str) -> UUID:
        return correlation_id(source, external_id)

    @event("CorrelationStarted")
    def __init__(self, source: str, external_id: str, actor: str, timestamp: datetime) -> None:
        self.source = source
        self.external_id = external_id
        self.tickets: list[str] = []
        #: the last open or resolve the source reported (a correlation starts with an open)
        self.reported = InboundState.OPEN.value
        #: instants of the recent changes between open and resolve, within the flap window
        self.changes: list[datetime] = []

    @property
    def ticket(self) -> str | None:
        """The ticket the key belongs to now (the last one linked), or None before any."""
        return self.tickets[-1] if self.tickets else None

    def link(
        self,
        ticket: str,
        *,
        actor: str,
        at: datetime,
        occurred_at: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """From now on the key means ``ticket``; linking the current ticket again records nothing.

        ``details`` (labels, links) are the source's, kept as they came with the report that
        linked the ticket; ``occurred_at`` is the source's own instant of that report.
        """
        if ticket != self.ticket:
            self._linked(
                ticket=ticket,
                occurred_at=occurred_at,
                details=dict(details or {}),
                actor=actor,
                timestamp=at,
            )

    @event("CorrelationLinked")
    def _linked(
        self,
        ticket: str,
        occurred_at: datetime | None,
        details: dict[str, Any],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.tickets.append(ticket)

    def report_state(
        self, state: InboundState, *, window_s: int, keep: int, actor: str, at: datetime
    ) -> bool:
        """Remember an open after a resolve, or a resolve after an open: True when it was one.

        Only the last ``keep`` changes within ``window_s`` seconds of this one are kept, all
        that flapping (``keep`` changes within the window) needs to be decided.
        """
        if state not in (InboundState.OPEN, InboundState.RESOLVE) or state == self.reported:
            return False
        self._state_changed(
            state=state.value, window_s=window_s, keep=keep, actor=actor, timestamp=at
        )
        return True

    @event("CorrelationStateChanged")
    def _state_changed(
        self, state: str, window_s: int, keep: int, actor: str, timestamp: datetime
    ) -> None:
        since = timestamp - timedelta(seconds=window_s)
        recent = [t for t in self.changes if t > since] + [timestamp]
        self.reported, self.changes = state, recent[-keep:]
