"""Recorders that add the hash chain to eventsourcing's SQLite and PostgreSQL process recorders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
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


class ChainedSQLiteRecorder(SQLiteProcessRecorder):
    """SQLite events + tracking + chain links, all in one transaction."""

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
