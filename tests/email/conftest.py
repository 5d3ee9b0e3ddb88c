"""Real peers for the email adapter's tests, started once per session on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.email.dovecot import DovecotServer, run_dovecot


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A Dovecot IMAP server (plain and implicit TLS) shared by the session; tests keep to
    mailboxes of their own. Skips outside CI, fails in CI, when Dovecot is not installed."""
    with run_dovecot(tmp_path_factory.mktemp("dovecot"), tls=True) as server:
        yield server
