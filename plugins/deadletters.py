"""Where failed plugin reactions wait for a retry; plugin warnings and rejected messages too.

Tables beside the events: in the engine's SQLite file, or in the configured PostgreSQL schema.
The store has its own connection, so a failing plugin never touches the event transactions.
:class:`SideTables` is that connection, shared with other tables beside the events (the HTTP
API's tokens).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from opsledger.core.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS opsledger_dead_letters (
    id {id},
    plugin TEXT NOT NULL,
    hook TEXT NOT NULL,
    position BIGINT NOT NULL,
    topic TEXT NOT NULL,
    error TEXT NOT NULL,
    traceback TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    first_failed TEXT NOT NULL,
    last_failed TEXT NOT NULL,
    UNIQUE (plugin, hook, position)
);
CREATE TABLE IF NOT EXISTS opsledger_plugin_warnings (
    id {id},
    plugin TEXT NOT NULL,
    hook TEXT NOT NULL,
    subject TEXT NOT NULL,
    error TEXT NOT NULL,
    traceback TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS opsledger_rejected_messages (
    id {id},
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    field TEXT,
    body {blob} NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (source, message_id)
);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One event a plugin failed to react to: enough to call that plugin again."""

    id: int
    plugin: str
    hook: str
    position: int
    topic: str
    error: str
    traceback: str
    attempts: int
    first_failed: datetime
    last_failed: datetime

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__slots__}
        data["first_failed"] = self.first_failed.isoformat()
        data["last_failed"] = self.last_failed.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    """An inbound message that could not become a recorded command: its bytes and why."""

    source: str
    message_id: str
    reason: str
    field: str | None
    body: bytes
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__slots__}
        data["body"] = self.body.decode("utf-8", "replace")
        data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class PluginWarning:
    """A router or classifier that raised and was skipped."""

    plugin: str
    hook: str
    subject: str
    error: str
    traceback: str
    at: datetime


class SideTables:
    """Tables beside the events, on a connection of their own: :meth:`sqlite` or :meth:`postgres`.

    A subclass names its tables in ``SCHEMA``: statements separated by ``;``, with ``{id}``
    (an identity primary key) and ``{blob}`` (a bytes type) filled in per database. Statements
    are written with ``?`` placeholders and each one commits on its own.
    """

    SCHEMA: ClassVar[str] = ""

    def __init__(self, db: Any, *, placeholder: str, identity: str, blob: str) -> None:
        self._db = db
        self._placeholder = placeholder
        self._lock = threading.Lock()
        for statement in self.SCHEMA.format(id=identity, blob=blob).split(";"):
            if statement.strip():
                self._run(statement)

    @classmethod
    def sqlite(cls, path: str) -> Self:
        """In the engine's SQLite file (``":memory:"`` keeps them for one process)."""
        db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        return cls(db, placeholder="?", identity="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB")

    @classmethod
    def postgres(cls, env: Mapping[str, str]) -> Self:
        """In the schema of eventsourcing's ``POSTGRES_*`` settings (which created it)."""
        import psycopg

        schema = env.get("POSTGRES_SCHEMA")
        db = psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            options=f"-c search_path={schema}" if schema else None,
            autocommit=True,
        )
        return cls(
            db,
            placeholder="%s",
            identity="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            blob="BYTEA",
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Self:
        """Beside the events ``settings`` name; on PostgreSQL, created under the schema lock
        (processes starting together must not race on ``CREATE TABLE``)."""
        from opsledger.core.settings import postgres_env

        if not settings.database_url:
            return cls.sqlite(settings.db_path)
        from opsledger.core.persistence_pg import schema_lock

        env = postgres_env(settings.database_url)
        with schema_lock(env):
            return cls.postgres(env)

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement, committed (SQLite: its own transaction; PostgreSQL: autocommit)."""
        sql = sql.replace("?", self._placeholder)
        with self._lock:
            cursor = self._db.cursor()
            try:
                cursor.execute(sql, tuple(params))
                rows = cursor.fetchall() if cursor.description else []
                if isinstance(self._db, sqlite3.Connection):
                    self._db.commit()
            finally:
                cursor.close()
        return [tuple(r) for r in rows]


class DeadLetterStore(SideTables):
    """The dead-letter, warning and rejected-message tables."""

    SCHEMA = _SCHEMA

    def add(
        self,
        *,
        plugin: str,
        hook: str,
        position: int,
        topic: str,
        error: str,
        tb: str,
        at: datetime,
    ) -> None:
        """Record a failure; the same plugin failing the same event again counts an attempt."""
        self._run(
            "INSERT INTO opsledger_dead_letters"
            " (plugin, hook, position, topic, error, traceback, first_failed, last_failed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (plugin, hook, position) DO UPDATE SET"
            " attempts = opsledger_dead_letters.attempts + 1, error = excluded.error,"
            " traceback = excluded.traceback, last_failed = excluded.last_failed",
            (plugin, hook, position, topic, error, tb, at.isoformat(), at.isoformat()),
        )

    def pending(self) -> list[DeadLetter]:
        """Every dead letter, oldest event first."""
        rows = self._run(
            "SELECT id, plugin, hook, position, topic, error, traceback, attempts,"
            " first_failed, last_failed FROM opsledger_dead_letters ORDER BY position, id"
        )
        return [
            DeadLetter(
                id=row[0],
                plugin=row[1],
                hook=row[2],
                position=row[3],
                topic=row[4],
                error=row[5],
                traceback=row[6],
                attempts=row[7],
                first_failed=datetime.fromisoformat(row[8]),
                last_failed=datetime.fromisoformat(row[9]),
            )
            for row in rows
        ]

    def remove(self, letter_id: int) -> None:
        self._run("DELETE FROM opsledger_dead_letters WHERE id = ?", (letter_id,))

    def warn(
        self, *, plugin: str, hook: str, subject: str, error: str, tb: str, at: datetime
    ) -> None:
        self._run(
            "INSERT INTO opsledger_plugin_warnings"
            " (plugin, hook, subject, error, traceback, at) VALUES (?, ?, ?, ?, ?, ?)",
            (plugin, hook, subject, error, tb, at.isoformat()),
        )

    def warnings(self) -> list[PluginWarning]:
        rows = self._run(
            "SELECT plugin, hook, subject, error, traceback, at"
            " FROM opsledger_plugin_warnings ORDER BY id"
        )
        return [
            PluginWarning(
                plugin=p, hook=h, subject=s, error=e, traceback=tb, at=datetime.fromisoformat(at)
            )
            for p, h, s, e, tb, at in rows
        ]

    def reject(
        self,
        *,
        source: str,
        message_id: str,
        reason: str,
        field: str | None,
        body: bytes,
        at: datetime,
    ) -> bool:
        """Keep a message that was refused; a redelivery of it is kept once. True if new."""
        rows = self._run(
            "INSERT INTO opsledger_rejected_messages"
            " (source, message_id, reason, field, body, at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, message_id) DO NOTHING RETURNING id",
            (source, message_id, reason, field, body, at.isoformat()),
        )
        return bool(rows)

    def rejected(self, source: str | None = None) -> list[RejectedMessage]:
        """Rejected messages, oldest first (of one source, or all)."""
        sql = "SELECT source, message_id, reason, field, body, at FROM opsledger_rejected_messages"
        params: tuple[str, ...] = ()
        if source is not None:
            sql += " WHERE source = ?"
            params = (source,)
        rows = self._run(sql + " ORDER BY id", params)
        return [
            RejectedMessage(
                source=r[0],
                message_id=r[1],
                reason=r[2],
                field=r[3],
                body=bytes(r[4]),
                at=datetime.fromisoformat(r[5]),
            )
            for r in rows
        ]
