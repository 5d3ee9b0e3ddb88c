"""Finding the real peers the tests run (Alertmanager, Dovecot): one rule for every binary.

An ``OPSLEDGER_*_BIN`` variable names it, else Debian's path, else the first on PATH. A
missing one skips the test with a reason outside CI and fails it under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import in_ci


def find_binary(variable: str, default: str, name: str) -> str | None:
    """``$variable``, ``default`` (Debian's path) or ``name`` on PATH; None if none."""
    given = os.environ.get(variable, "").strip()
    for candidate in (given,) if given else (default, name):
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
        found = shutil.which(candidate)
        if found:
            return found
    return None


def require_binary(variable: str, default: str, name: str, package: str) -> str:
    """The binary's path; skip outside CI, fail inside it, when it is not installed."""
    binary = find_binary(variable, default, name)
    if binary is None:
        given = os.environ.get(variable, "").strip() or default
        reason = f"{given} not found (apt-get install {package})"
        if in_ci():
            pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(reason)
    return binary
