"""The hash chain: every recorded event links to the one before it, so edits cannot hide.

Each link is ``sha256(previous link || originator id || version || topic || state)``. The
chain runs over the application's notification log in recorded order; it is computed inside
the same transaction that records the events, while the recorder holds its write lock, so
concurrent writers cannot fork it. Notification ids are not hashed: an export re-imported
elsewhere (with other ids) still verifies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

GENESIS = bytes(32)


def link_hash(
    previous: bytes, originator_id: UUID | str, version: int, topic: str, state: bytes
) -> bytes:
    """The next link of the chain; the encoding is fixed forever (exports depend on it)."""
    h = hashlib.sha256(previous)
    h.update(str(originator_id).encode())
    h.update(b"\x00")
    h.update(str(version).encode())
    h.update(b"\x00")
    h.update(topic.encode())
    h.update(b"\x00")
    h.update(state)
    return h.digest()


class ChainedEvent(Protocol):
    """A recorded event as the chain sees it (eventsourcing's Notification fits)."""

    @property
    def id(self) -> int: ...
    @property
    def originator_id(self) -> UUID | str: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ChainFault:
    """One place where the log and its chain disagree."""

    position: int
    originator_id: str
    problem: str


@dataclass(slots=True)
class ChainReport:
    """Outcome of walking the chain: how far it got, the head, and every fault found."""

    checked: int = 0
    head: bytes = GENESIS
    faults: list[ChainFault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults


def verify_chain(
    rows: Iterable[tuple[int, ChainedEvent | None, bytes | None]],
    *,
    anchor: bytes = GENESIS,
) -> ChainReport:
    """Check ``(position, event, stored link)`` rows in log order (either side may be missing).

    ``anchor`` is the link before the first row: GENESIS for a whole log, the link just
    before a slice of it (an export) otherwise. After a fault the walk re-anchors on the
    stored link, so one edit is reported once rather than poisoning every later event.
    """
    report = ChainReport()
    previous = anchor
    for position, event, stored in rows:
        if event is None:
            report.faults.append(ChainFault(position, "", "chain link without an event (deleted)"))
            previous = stored if stored is not None else previous
            continue
        report.checked += 1
        expected = link_hash(
            previous, event.originator_id, event.originator_version, event.topic, event.state
        )
        where = str(event.originator_id)
        if stored is None:
            report.faults.append(ChainFault(position, where, "event without a chain link"))
            previous = expected
            continue
        if stored != expected:
            report.faults.append(
                ChainFault(position, where, "hash mismatch (edited, inserted or reordered)")
            )
        previous = stored
    report.head = previous
    return report


def pair_rows(
    events: Iterator[ChainedEvent], links: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, ChainedEvent | None, bytes | None]]:
    """Merge two id-ordered streams into rows keyed by notification id (an outer join)."""
    event = next(events, None)
    link = next(links, None)
    while event is not None or link is not None:
        if link is None or (event is not None and event.id < link[0]):
            assert event is not None
            yield event.id, event, None
            event = next(events, None)
        elif event is None or link[0] < event.id:
            yield link[0], None, link[1]
            link = next(links, None)
        else:
            yield event.id, event, link[1]
            event, link = next(events, None), next(links, None)
