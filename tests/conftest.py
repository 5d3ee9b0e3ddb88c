"""Shared fixtures: hypothesis profiles and a fresh event store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from opsledger import Engine, FixedClock, Settings

# -- hypothesis ------------------------------------------------------------------------------

# "ci" keeps `.ci/run` fast; "deep" is for a long local hunt:
#   OPSLEDGER_HYPOTHESIS_PROFILE=deep pytest tests/core
hypothesis_settings.register_profile(
    "ci",
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "deep",
    max_examples=1_000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("OPSLEDGER_HYPOTHESIS_PROFILE", "ci"))

# -- PostgreSQL ------------------------------------------------------------------------------

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: A fixed instant tests start from (a Monday morning), so expectations can be hand-computed.
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _server_url() -> str:
    return os.environ.get("OPSLEDGER_TEST_DATABASE_URL") or DEFAULT_PG_URL


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=""))


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """The server URL when PostgreSQL answers within two seconds, else None (decided once)."""
    try:
        import psycopg

        with psycopg.connect(_without_query(_server_url()), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception:
        return None
    return _server_url()


def require_postgres(url: str | None) -> str:
    """Skip outside CI, fail inside it: CI must never pass by silently skipping PostgreSQL."""
    if url is None:
        parts = urlsplit(_server_url())
        where = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
        reason = f"PostgreSQL not reachable at {where} (set OPSLEDGER_TEST_DATABASE_URL)"
        if in_ci():
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_schema(postgres_url: str | None) -> Iterator[Settings]:
    """Settings for a fresh, uniquely named PostgreSQL schema, dropped afterwards."""
    import psycopg
    from psycopg import sql

    url = require_postgres(postgres_url)
    schema = f"opsledger_test_{uuid.uuid4().hex[:12]}"
    admin = _without_query(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Settings(database_url=_with_schema(url, schema))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty store: SQLite in tmp_path, or a new PostgreSQL schema."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_schema")  # type: ignore[no-any-return]
    return Settings(db_path=str(tmp_path / "events.db"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def engine(backend: Settings, clock: FixedClock) -> Iterator[Engine]:
    """An Engine on the fresh store, reading time from ``clock``; closed afterwards."""
    e = Engine(backend, clock=clock)
    try:
        yield e
    finally:
        e.close()


# -- raw access, for tests that tamper with the store behind the engine's back -------------


class RawStore:
    """Plain SQL on the tables behind an Engine; placeholders are written ``?`` for both."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.database_url:
            parts = urlsplit(settings.database_url)
            self._url = _without_query(settings.database_url)
            schema = dict(parse_qsl(parts.query))["schema"]
            self.events = f'"{schema}".opsledger_events'
            self.chain = f'"{schema}".opsledger_chain'
            self.nid = "notification_id"
        else:
            self.events, self.chain, self.nid = "stored_events", "opsledger_chain", "rowid"

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement in its own committed transaction; rows if it returned any."""
        if self.settings.database_url:
            import psycopg

            with psycopg.connect(self._url, autocommit=True) as conn:
                cur = conn.execute(statement.replace("?", "%s"), tuple(params))  # type: ignore[arg-type]
                return list(cur.fetchall()) if cur.description else []
        conn = sqlite3.connect(self.settings.db_path)
        try:
            with conn:
                rows = conn.execute(statement, tuple(params)).fetchall()
            return [tuple(r) for r in rows]
        finally:
            conn.close()


@pytest.fixture
def raw_store(backend: Settings) -> RawStore:
    return RawStore(backend)
