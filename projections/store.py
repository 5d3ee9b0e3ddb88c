"""Where read models live: documents and tracking records, written in one transaction.

A read model is a set of JSON documents addressed by ``(collection, key)``. Each batch of
document changes is committed together with the tracking record of the last event it applied
(eventsourcing's tracking table, one row per projection), so after a crash a projection
resumes exactly where its last commit left off: no event is applied twice or skipped. A batch
names the position it started from (``after``) and commits only if the tracking row is still
there, so a second worker that applied some of the same events first makes the batch fail as
a whole and change nothing: a row that merely moved forward is not enough (the second worker
may have stopped inside the batch's range). Without ``after`` (eventsourcing's live path, one
event per commit) the row only has to move forward.

The same tables serve SQLite (in the event store's own file) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import orjson
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment

DOCS = "opsledger_view_docs"
Changes = Mapping[tuple[str, str], dict[str, Any] | None]


def split_changes(
    projection: str, changes: Changes
) -> tuple[list[tuple[str, str, str, bytes]], list[tuple[str, str, str]]]:
    """Rows to write (encoded) and keys to delete, as both stores' statements take them."""
    upserts = [
        (projection, c, k, orjson.dumps(d)) for (c, k), d in changes.items() if d is not None
    ]
    deletes = [(projection, c, k) for (c, k), d in changes.items() if d is None]
    return upserts, deletes


def tracking_name(projection: str, application: str) -> str:
    """Tracking rows are per projection: ``work_queue@opsledger``."""
    return f"{projection}@{application}"


def moved_away(name: str, after: int, notification_id: int) -> IntegrityError:
    return IntegrityError(
        f"tracking of {name} is no longer at {after}: another worker applied events first, "
        f"so the batch up to {notification_id} was not committed"
    )


class DocumentView(Protocol):
    """What a projection needs from its store."""

    def commit(
        self, projection: str, tracking: Tracking, changes: Changes, *, after: int | None = None
    ) -> None:
        """Documents and tracking in one transaction; ``after``: where the batch started."""

    def get(self, projection: str, collection: str, key: str) -> dict[str, Any] | None: ...

    def scan(self, projection: str, collection: str) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def position(self, projection: str, application: str) -> int: ...

    def promote(self, shadow: str, projection: str, application: str) -> None: ...

    def drop(self, projection: str, application: str) -> None: ...

    def close(self) -> None: ...


class SQLiteDocumentView(SQLiteTrackingRecorder):
    """Documents in the event store's SQLite file, beside eventsourcing's tracking table."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {DOCS} (projection TEXT, collection TEXT, key TEXT, "
            "doc BLOB NOT NULL, PRIMARY KEY (projection, collection, key)) WITHOUT ROWID",
        ]

    def commit(
        self, projection: str, tracking: Tracking, changes: Changes, *, after: int | None = None
    ) -> None:
        upserts, deletes = split_changes(projection, changes)
        name = tracking_name(projection, tracking.application_name)
        new = tracking.notification_id
        with self.datastore.transaction(commit=True) as c:
            if after is None:
                self._insert_tracking(c, Tracking(name, new))
            else:
                if after == 0:
                    c.execute(
                        "INSERT INTO tracking VALUES (?, ?) ON CONFLICT (application_name) "
                        "DO NOTHING RETURNING notification_id",
                        (name, new),
                    )
                else:
                    c.execute(
                        "UPDATE tracking SET notification_id=? "
                        "WHERE application_name=? AND notification_id=? RETURNING notification_id",
                        (new, name, after),
                    )
                if c.fetchone() is None:
                    raise moved_away(name, after, new)
            if upserts:
                c.executemany(f"INSERT OR REPLACE INTO {DOCS} VALUES (?, ?, ?, ?)", upserts)
            if deletes:
                c.executemany(
                    f"DELETE FROM {DOCS} WHERE projection=? AND collection=? AND key=?", deletes
                )

    def get(self, projection: str, collection: str, key: str) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT doc FROM {DOCS} WHERE projection=? AND collection=? AND key=?",
                (projection, collection, key),
            )
            row = c.fetchone()
        return orjson.loads(row[0]) if row else None

    def scan(self, projection: str, collection: str) -> Iterator[tuple[str, dict[str, Any]]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT key, doc FROM {DOCS} WHERE projection=? AND collection=? ORDER BY key",
                (projection, collection),
            )
            rows = c.fetchall()
        for key, doc in rows:
            yield key, orjson.loads(doc)

    def position(self, projection: str, application: str) -> int:
        return self.max_tracking_id(tracking_name(projection, application)) or 0

    def promote(self, shadow: str, projection: str, application: str) -> None:
        """Replace ``projection`` by its rebuilt ``shadow`` in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {DOCS} WHERE projection=?", (projection,))
            c.execute(f"UPDATE {DOCS} SET projection=? WHERE projection=?", (projection, shadow))
            c.execute(
                "DELETE FROM tracking WHERE application_name=?",
                (tracking_name(projection, application),),
            )
            c.execute(
                "UPDATE tracking SET application_name=? WHERE application_name=?",
                (tracking_name(projection, application), tracking_name(shadow, application)),
            )

    def drop(self, projection: str, application: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {DOCS} WHERE projection=?", (projection,))
            c.execute(
                "DELETE FROM tracking WHERE application_name=?",
                (tracking_name(projection, application),),
            )

    def close(self) -> None:
        """Close this view's own connections (the event store's are the engine's)."""
        self.datastore.close()


def open_view(env: Mapping[str, str]) -> DocumentView:
    """The document store for the event store that ``env`` configures (eventsourcing's keys)."""
    factory = InfrastructureFactory[TrackingRecorder].construct(
        env=Environment("OPSLEDGER_VIEWS", dict(env))
    )
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        from opsledger.projections.store_pg import PostgresDocumentView

        return factory.tracking_recorder(PostgresDocumentView)  # type: ignore[return-value]
    return factory.tracking_recorder(SQLiteDocumentView)  # type: ignore[return-value]
