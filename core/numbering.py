"""Gapless ticket numbers: one counter aggregate per kind, saved with the ticket it numbers.

A number is spent only when the ticket that carries it is recorded in the same transaction;
two writers that race for the same number collide on the counter's next version, and the
loser retries with the next one. So numbers never skip and never repeat.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.core.domain.records import NUMBER_NAMESPACE, RecordKind, format_number


def counter_id(kind: RecordKind) -> UUID:
    return uuid5(NUMBER_NAMESPACE, f"counter:{kind.prefix}")


class TicketCounter(Aggregate):
    """Last number allocated for one kind of record."""

    @staticmethod
    def create_id(kind: str) -> UUID:
        return counter_id(RecordKind(kind))

    @event("Started")
    def __init__(self, kind: str, timestamp: datetime) -> None:
        self.kind = kind
        self.last = 0

    def allocate(self, at: datetime) -> str:
        """Take the next number; it is only real once saved together with its ticket."""
        self._allocated(sequence=self.last + 1, timestamp=at)
        return format_number(RecordKind(self.kind), self.last)

    @event("NumberAllocated")
    def _allocated(self, sequence: int, timestamp: datetime) -> None:
        self.last = sequence
