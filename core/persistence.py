"""Recorders that add the hash chain to eventsourcing's SQLite and PostgreSQL process recorders.

Also the repository the engine loads aggregates through: eventsourcing's, with a cheaper
private copy of cached aggregates (measured in ``benchmarks/bench_commands.py``).
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Iterator, Sequence
from copy import deepcopy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from threading import Thread
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import ProjectorFunction, Repository, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    Notification,
    StoredEvent,
    Subscription,
)
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder
from opsledger.core.chain import (
    GENESIS,
    ChainedEvent,
    ChainReport,
    link_hash,
    pair_rows,
    verify_chain,
)

CHAIN_TABLE = "opsledger_chain"
PAGE = 1000


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    """eventsourcing's subscription for a store that cannot notify: look again every interval.

    SQLite has no LISTEN/NOTIFY, so projections following the embedded store live poll it;
    the pull itself (batches of 500, in order, from the last id seen) is eventsourcing's.
    """

    interval = 0.2

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder, gt=gt, topics=topics)
        self._poll_thread = Thread(target=self._poll, name="opsledger-poll", daemon=True)
        self._poll_thread.start()

    def _poll(self) -> None:
        while not self._has_been_stopped:
            _time.sleep(self.interval)
            self._has_been_notified.set()


class ChainedSQLiteRecorder(SQLiteProcessRecorder):
    """SQLite events + tracking + chain links, all in one transaction."""

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, hash BLOB NOT NULL)"
        )
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            # Our inserts above already hold SQLite's write lock: the head cannot move.
            c.execute(f"SELECT hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
            row = c.fetchone()
            previous = bytes(row[0]) if row else GENESIS
            links = []
            for nid, s in zip(ids, stored_events, strict=True):
                previous = link_hash(
                    previous, s.originator_id, s.originator_version, s.topic, s.state
                )
                links.append((nid, previous))
            c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?)", links)
        return ids

    def existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregates have events: one query for a whole batch's keys."""
        found: set[UUID] = set()
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(originator_ids), 500):
                chunk = [
                    i.hex for i in originator_ids[start : start + 500]
                ]  # as eventsourcing stores them
                c.execute(
                    f"SELECT originator_id FROM {self.events_table_name} "
                    f"WHERE originator_version = 1 AND originator_id IN "
                    f"({', '.join('?' * len(chunk))})",
                    chunk,
                )
                found.update(UUID(row[0]) for row in c.fetchall())
        return found

    def select_links(self, gt: int, limit: int) -> list[tuple[int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, hash FROM {CHAIN_TABLE} "
                "WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
                (gt, limit),
            )
            return [(row[0], bytes(row[1])) for row in c.fetchall()]


def _paged_events(recorder: Any) -> Iterator[ChainedEvent]:
    last = 0
    while True:
        page: Sequence[Notification] = recorder.select_notifications(
            start=last, limit=PAGE, inclusive_of_start=False
        )
        if not page:
            return
        yield from page
        last = page[-1].id


def _paged_links(recorder: Any) -> Iterator[tuple[int, bytes]]:
    last = 0
    while True:
        page: list[tuple[int, bytes]] = recorder.select_links(last, PAGE)
        if not page:
            return
        yield from page
        last = page[-1][0]


def verify_recorder(recorder: Any) -> ChainReport:
    """Walk the whole log of a chained recorder and prove (or disprove) its chain."""
    return verify_chain(pair_rows(_paged_events(recorder), _paged_links(recorder)))


# -- loading aggregates -----------------------------------------------------------------------

A = TypeVar("A")
#: Values that cannot change once made: a copy may share them (deepcopy would rebuild some).
_IMMUTABLE = frozenset(
    {str, int, float, bool, bytes, type(None), datetime, date, time, timedelta, Decimal, UUID}
)


def _copy_value(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is list or kind is dict:
        done = memo.get(id(value))
        if done is not None:
            return done  # shared within the aggregate: stays shared, as with deepcopy
        if kind is list:
            items: list[Any] = []
            memo[id(value)] = items
            items.extend(_copy_value(v, memo) for v in value)
            return items
        entries: dict[Any, Any] = {}
        memo[id(value)] = entries
        for k, v in value.items():
            entries[_copy_value(k, memo)] = _copy_value(v, memo)
        return entries
    return deepcopy(value, memo)


def private_copy(aggregate: A) -> A:
    """What ``copy.deepcopy`` makes of an aggregate, several times faster.

    Aggregate state is mostly text, numbers, instants and JSON-like lists and dicts; those
    are copied directly and anything else falls back to ``deepcopy`` (sharing one memo).
    """
    memo: dict[int, Any] = {}
    clone = object.__new__(type(aggregate))
    memo[id(aggregate)] = clone
    clone.__dict__.update(
        {name: _copy_value(value, memo) for name, value in vars(aggregate).items()}
    )
    return clone


def _project(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event runtime protocol check."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class LedgerRepository(Repository[UUID]):
    """eventsourcing's repository; cached aggregates are copied with :func:`private_copy`.

    Same contract: every caller gets its own copy, so a command that fails half-way cannot
    corrupt the cache.
    """

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        copy = deepcopy_from_cache and self.deepcopy_from_cache
        copy = copy and self.cache is not None and version is None
        aggregate = super().get(
            aggregate_id,
            version=version,
            projector_func=_project if projector_func is project_aggregate else projector_func,
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=False,
        )
        return private_copy(aggregate) if copy else aggregate

    def cached(self, aggregate_id: UUID) -> Any | None:
        """A private copy of the cached aggregate, without asking the store for newer events.

        Optimistic: a copy that another process has since moved on fails its save on the
        version conflict, and the engine then runs the command again with fresh reads.
        """
        if self.cache is None:
            return None
        try:
            aggregate = self.cache.get(aggregate_id)
        except KeyError:
            return None
        return private_copy(aggregate)

    def remember(self, aggregates: Iterable[Aggregate]) -> None:
        """Cache aggregates just saved, so the next command need not replay their events.

        Only for aggregates nobody will touch again (the engine's own private copies). A
        newer version saved elsewhere is still picked up by fast-forwarding on the next get.
        """
        if self.cache is not None:
            for aggregate in aggregates:
                self.cache.put(aggregate.id, aggregate)
