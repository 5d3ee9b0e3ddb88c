"""A durable outbox beside the events for plugins whose reactions call the outside world.

A reaction must be fast and idempotent, and an outside call must survive a crash and never
block a command. So the reaction only adds a row (unique per channel and dedup key: a
retried reaction adds nothing), and a worker thread of the plugin performs due rows,
retrying with backoff, then records the outcome through a command. The JIRA sync and the
mail notifications share this one table, each under its own ``channel``.

A row's life: ``pending`` (due at ``next_attempt``) -> ``done`` or ``failed``; ``recorded``
once its outcome is an event on the ticket (a row done while the bus was down is only
recorded again, never performed again). Several processes may share the outbox: a worker
:meth:`Outbox.claim` s a row for a lease before performing it, so each row is performed by
one, and a worker that dies mid-attempt leaves it due again when the lease ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from opsledger.plugins.deadletters import SideTables

STATUSES = ("pending", "done", "failed")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: pending, due and not leased to a worker (parameters: now, now)
_FREE = (
    "status = 'pending' AND next_attempt_us <= ?"
    " AND (claimed_until_us IS NULL OR claimed_until_us < ?)"
)


def _us(at: datetime) -> int:
    """An instant as whole microseconds since the epoch: compared alike on both databases."""
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One piece of work: what the channel's plugin queued (``payload``) and how it went."""

    id: int
    channel: str
    dedup: str
    ticket: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt: datetime
    last_error: str
    result: dict[str, Any]
    recorded: bool


class Outbox(SideTables):
    """``opsledger_outbox``: rows per ``channel`` (a plugin's name for its kind of work)."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS opsledger_outbox (
    id {id},
    channel TEXT NOT NULL,
    dedup TEXT NOT NULL,
    ticket TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL,
    claimed_until_us BIGINT,
    last_error TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '{{}}',
    created_at TEXT NOT NULL,
    recorded INTEGER NOT NULL DEFAULT 0,
    UNIQUE (channel, dedup)
);
CREATE INDEX IF NOT EXISTS opsledger_outbox_heads
    ON opsledger_outbox (channel, status, ticket, id);
CREATE INDEX IF NOT EXISTS opsledger_outbox_due
    ON opsledger_outbox (channel, status, next_attempt_us)
"""
    _COLUMNS = (
        "id, channel, dedup, ticket, payload, status, attempts, next_attempt_us, last_error,"
        " result, recorded"
    )

    def add(
        self, channel: str, dedup: str, ticket: str, payload: Mapping[str, Any], at: datetime
    ) -> bool:
        """Queue one piece of work, due at ``at``; False when ``dedup`` was queued before."""
        inserted = self._run(
            "INSERT INTO opsledger_outbox (channel, dedup, ticket, payload, next_attempt_us,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, dedup) DO NOTHING"
            " RETURNING id",
            (channel, dedup, ticket, orjson.dumps(dict(payload)).decode(), _us(at), at.isoformat()),
        )
        return bool(inserted)

    def find(self, channel: str, dedup: str) -> OutboxRow | None:
        rows = self._rows("WHERE channel = ? AND dedup = ?", (channel, dedup))
        return rows[0] if rows else None

    def due(
        self, channel: str, now: datetime, limit: int = 100, *, per_ticket: bool = True
    ) -> list[OutboxRow]:
        """Rows to perform by ``now`` (pending, due, not leased), oldest first.

        ``per_ticket``: only each ticket's oldest pending row, so a ticket's rows are performed
        in the order they were added (a JIRA transition never overtakes the create it depends
        on, however the create's retries are spaced); a later row waits while it is retried.
        Without it every due row counts, by next attempt: one row's retries hold up no other.
        """
        now_us = _us(now)
        if not per_ticket:
            return self._rows(
                f"WHERE channel = ? AND {_FREE} ORDER BY next_attempt_us, id LIMIT ?",
                (channel, now_us, now_us, limit),
            )
        return self._rows(
            "WHERE id IN (SELECT MIN(id) FROM opsledger_outbox"
            "  WHERE channel = ? AND status = 'pending' GROUP BY ticket)"
            f" AND {_FREE} ORDER BY id LIMIT ?",
            (channel, now_us, now_us, limit),
        )

    def claim(self, row: OutboxRow, lease: timedelta, now: datetime) -> bool:
        """Reserve ``row`` for one attempt until ``now + lease``; True when this caller got it.

        Atomic on both databases: of several workers claiming one row, one wins. A row changed
        since it was read (retried or finished by another worker) is not claimed.
        """
        taken = self._run(
            "UPDATE opsledger_outbox SET claimed_until_us = ?"
            f" WHERE id = ? AND attempts = ? AND {_FREE} RETURNING id",
            (_us(now + lease), row.id, row.attempts, _us(now), _us(now)),
        )
        return bool(taken)

    def retry_later(self, row: OutboxRow, error: str, at: datetime) -> None:
        """An attempt failed for now: count it, keep why, and release the row until ``at``."""
        self._run(
            "UPDATE opsledger_outbox SET attempts = attempts + 1, last_error = ?,"
            " next_attempt_us = ?, claimed_until_us = NULL WHERE id = ?",
            (error, _us(at), row.id),
        )

    def done(self, row: OutboxRow, result: Mapping[str, Any] | None = None) -> OutboxRow:
        """The last attempt succeeded; the row as it now stands (its outcome to record)."""
        return self._finish(row, "done", "", result or {})

    def failed(self, row: OutboxRow, error: str) -> OutboxRow:
        """Given up (a permanent error, or too many attempts); the row as it now stands."""
        return self._finish(row, "failed", error, {})

    def requeue(self, row: OutboxRow, at: datetime) -> bool:
        """A failed row back in the queue, due at ``at`` with a fresh count of attempts (an
        operator's repair once the cause is fixed); its next outcome is recorded anew. True
        when ``row`` had failed and is pending again."""
        requeued = self._run(
            "UPDATE opsledger_outbox SET status = 'pending', attempts = 0, next_attempt_us = ?,"
            " claimed_until_us = NULL, result = '{}', recorded = 0"
            " WHERE id = ? AND status = 'failed' RETURNING id",
            (_us(at), row.id),
        )
        return bool(requeued)

    def unrecorded(self, channel: str, limit: int | None = None) -> list[OutboxRow]:
        """Rows done or failed whose outcome is not yet an event, oldest first."""
        where = "WHERE channel = ? AND status <> 'pending' AND recorded = 0 ORDER BY id"
        if limit is None:
            return self._rows(where, (channel,))
        return self._rows(where + " LIMIT ?", (channel, limit))

    def mark_recorded(self, row: OutboxRow) -> None:
        self._run("UPDATE opsledger_outbox SET recorded = 1 WHERE id = ?", (row.id,))

    def rows(self, channel: str, ticket: str | None = None) -> list[OutboxRow]:
        """Every row of ``channel`` (of one ticket, or all) in the order they were added."""
        if ticket is None:
            return self._rows("WHERE channel = ? ORDER BY id", (channel,))
        return self._rows("WHERE channel = ? AND ticket = ? ORDER BY id", (channel, ticket))

    def _finish(
        self, row: OutboxRow, status: str, error: str, result: Mapping[str, Any]
    ) -> OutboxRow:
        (finished,) = self._run(
            "UPDATE opsledger_outbox SET status = ?, attempts = attempts + 1, last_error = ?,"
            f" result = ?, claimed_until_us = NULL WHERE id = ? RETURNING {self._COLUMNS}",
            (status, error, orjson.dumps(dict(result)).decode(), row.id),
        )
        return self._row(finished)

    def _rows(self, where: str, params: tuple[Any, ...]) -> list[OutboxRow]:
        found = self._run(f"SELECT {self._COLUMNS} FROM opsledger_outbox {where}", params)
        return [self._row(r) for r in found]

    @staticmethod
    def _row(r: tuple[Any, ...]) -> OutboxRow:
        return OutboxRow(
            id=int(r[0]),
            channel=r[1],
            dedup=r[2],
            ticket=r[3],
            payload=orjson.loads(r[4]),
            status=r[5],
            attempts=int(r[6]),
            next_attempt=_EPOCH + timedelta(microseconds=int(r[7])),
            last_error=r[8],
            result=orjson.loads(r[9]),
            recorded=bool(r[10]),
        )
