"""The hash chain on PostgreSQL; imported only when a PostgreSQL URL is configured."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from opsledger.core.chain import GENESIS, link_hash
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


@contextmanager
def schema_lock(env: Mapping[str, str]) -> Iterator[None]:
    """Hold a session advisory lock on the schema while an engine creates its tables.

    PostgreSQL's ``CREATE TABLE/TYPE IF NOT EXISTS`` is not atomic in the catalog and
    eventsourcing reads its tracking-table migration state before creating; engines that
    start together (workers, test processes) would otherwise fail on each other's half-made
    schema.
    """
    conninfo = {
        "dbname": env["POSTGRES_DBNAME"],
        "host": env["POSTGRES_HOST"],
        "port": env["POSTGRES_PORT"],
        "user": env["POSTGRES_USER"],
    }
    if env.get("POSTGRES_PASSWORD"):
        conninfo["password"] = env["POSTGRES_PASSWORD"]
    key = "opsledger-schema:" + env.get("POSTGRES_SCHEMA", "public")
    with psycopg.connect(psycopg.conninfo.make_conninfo(**conninfo), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


class ChainedPostgresRecorder(PostgresProcessRecorder):
    """PostgreSQL events + tracking + chain links in one transaction.

    eventsourcing takes an EXCLUSIVE lock on the events table before inserting, so the
    chain head read after our insert cannot be moved by another writer before we commit.
    """

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(
            datastore,
            events_table_name=events_table_name,
            tracking_table_name=tracking_table_name,
        )
        self.chain_table = Identifier(events_table_name.rsplit("_", 1)[0] + "_chain")
        schema = Identifier(datastore.schema)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.{1} ("
                "notification_id bigint PRIMARY KEY, hash bytea NOT NULL)"
            ).format(schema, self.chain_table)
        )
        self._select_head = SQL(
            "SELECT hash FROM {0}.{1} ORDER BY notification_id DESC LIMIT 1"
        ).format(schema, self.chain_table)
        self._insert_link = SQL("INSERT INTO {0}.{1} VALUES (%s, %s)").format(
            schema, self.chain_table
        )
        self._select_existing = SQL(
            "SELECT originator_id FROM {0}.{1} "
            "WHERE originator_version = 1 AND originator_id = ANY(%s)"
        ).format(schema, Identifier(events_table_name))
        self._select_links = SQL(
            "SELECT notification_id, hash FROM {0}.{1} WHERE notification_id > %s "
            "ORDER BY notification_id LIMIT %s"
        ).format(schema, self.chain_table)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            curs.execute(self._select_head, prepare=True)
            row = curs.fetchone()
            previous = bytes(row["hash"]) if row else GENESIS
            links = []
            for nid, s in zip(ids, stored_events, strict=True):
                previous = link_hash(
                    previous, s.originator_id, s.originator_version, s.topic, s.state
                )
                links.append((nid, previous))
            curs.executemany(self._insert_link, links)
        return ids

    def existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregates have events: one query for a whole batch's keys."""
        if not originator_ids:
            return set()
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_existing, (list(originator_ids),))
            return {UUID(str(row["originator_id"])) for row in curs.fetchall()}

    def select_links(self, gt: int, limit: int) -> list[tuple[int, bytes]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_links, (gt, limit), prepare=True)
            return [(row["notification_id"], bytes(row["hash"])) for row in curs.fetchall()]
