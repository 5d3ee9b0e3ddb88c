"""Read-model documents on PostgreSQL; imported only when a PostgreSQL URL is configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from opsledger.projections.store import DOCS, Changes, moved_away, split_changes, tracking_name
from psycopg.sql import SQL, Identifier


class PostgresDocumentView(PostgresTrackingRecorder):
    """Documents beside eventsourcing's tracking table, in the event store's schema."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(datastore.schema)
        docs, tracking = Identifier(DOCS), Identifier(self.tracking_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.{1} (projection text, collection text, "
                "key text, doc bytea NOT NULL, PRIMARY KEY (projection, collection, key))"
            ).format(schema, docs)
        )
        self._upsert = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s, %s, %s) ON CONFLICT (projection, collection, "
            "key) DO UPDATE SET doc = EXCLUDED.doc"
        ).format(schema, docs)
        self._delete = SQL(
            "DELETE FROM {0}.{1} WHERE projection=%s AND collection=%s AND key=%s"
        ).format(schema, docs)
        self._get = SQL(
            "SELECT doc FROM {0}.{1} WHERE projection=%s AND collection=%s AND key=%s"
        ).format(schema, docs)
        self._scan = SQL(
            "SELECT key, doc FROM {0}.{1} WHERE projection=%s AND collection=%s ORDER BY key"
        ).format(schema, docs)
        self._drop_docs = SQL("DELETE FROM {0}.{1} WHERE projection=%s").format(schema, docs)
        self._rename_docs = SQL("UPDATE {0}.{1} SET projection=%s WHERE projection=%s").format(
            schema, docs
        )
        self._drop_tracking = SQL("DELETE FROM {0}.{1} WHERE application_name=%s").format(
            schema, tracking
        )
        self._start_tracking = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s) ON CONFLICT (application_name) DO NOTHING "
            "RETURNING notification_id"
        ).format(schema, tracking)
        self._move_tracking = SQL(
            "UPDATE {0}.{1} SET notification_id=%s WHERE application_name=%s "
            "AND notification_id=%s RETURNING notification_id"
        ).format(schema, tracking)
        self._rename_tracking = SQL(
            "UPDATE {0}.{1} SET application_name=%s WHERE application_name=%s"
        ).format(schema, tracking)

    def commit(
        self, projection: str, tracking: Tracking, changes: Changes, *, after: int | None = None
    ) -> None:
        """See :meth:`opsledger.projections.store.DocumentView.commit`."""
        upserts, deletes = split_changes(projection, changes)
        name = tracking_name(projection, tracking.application_name)
        new = tracking.notification_id
        with self.datastore.transaction(commit=True) as curs:
            if after is None:
                self._insert_tracking(curs, Tracking(name, new))
            else:
                if after == 0:
                    curs.execute(self._start_tracking, (name, new))
                else:
                    curs.execute(self._move_tracking, (new, name, after))
                if curs.fetchone() is None:
                    raise moved_away(name, after, new)
            if upserts:
                curs.executemany(self._upsert, upserts)
            if deletes:
                curs.executemany(self._delete, deletes)

    def get(self, projection: str, collection: str, key: str) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._get, (projection, collection, key))
            row = curs.fetchone()
        return orjson.loads(row["doc"]) if row else None

    def scan(self, projection: str, collection: str) -> Iterator[tuple[str, dict[str, Any]]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._scan, (projection, collection))
            rows = curs.fetchall()
        for row in rows:
            yield row["key"], orjson.loads(row["doc"])

    def position(self, projection: str, application: str) -> int:
        return self.max_tracking_id(tracking_name(projection, application)) or 0

    def promote(self, shadow: str, projection: str, application: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._drop_docs, (projection,))
            curs.execute(self._rename_docs, (projection, shadow))
            curs.execute(self._drop_tracking, (tracking_name(projection, application),))
            curs.execute(
                self._rename_tracking,
                (tracking_name(projection, application), tracking_name(shadow, application)),
            )

    def drop(self, projection: str, application: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._drop_docs, (projection,))
            curs.execute(self._drop_tracking, (tracking_name(projection, application),))

    def close(self) -> None:
        """Close this view's own connection pool (the event store's is the engine's)."""
        self.datastore.close()
