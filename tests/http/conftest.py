"""Fixtures of the HTTP tests: a desk (app, client, a token per role) on a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsledger import FixedClock, Settings
from tests.http.desk import Desk, make_desk


@pytest.fixture
def desk(tmp_path: Path, clock: FixedClock) -> Iterator[Desk]:
    """On SQLite: most HTTP behaviour does not depend on the store."""
    yield from make_desk(Settings(db_path=str(tmp_path / "events.db")), clock)


@pytest.fixture
def any_desk(backend: Settings, clock: FixedClock) -> Iterator[Desk]:
    """On each backend (SQLite, PostgreSQL)."""
    yield from make_desk(backend, clock)
