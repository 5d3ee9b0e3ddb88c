"""Fixtures for the audit tests (helpers live in audit_story.py)."""

from __future__ import annotations

import pytest
from audit_story import Story, record_story

from opsledger import Engine


@pytest.fixture
def story(engine: Engine) -> Story:
    return record_story(engine)
