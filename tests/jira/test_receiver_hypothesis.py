"""Mutated JIRA webhooks through the whole receiver: never a 5xx, never an unhandled error,
and every refused body kept with its reason."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from opsledger.adapters.http.app import create_app, mount_adapters
from opsledger.adapters.jira.plugin import JiraAdapter
from opsledger.adapters.jira.sync import JiraSync

from opsledger import Engine, FixedClock, Settings
from tests.jira.test_jira_sync import SECRET, jira_settings
from tests.jira.test_webhooks_hypothesis import mutated


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Engine]]:
    from tests.conftest import T0

    path = Path(tmp_path_factory.mktemp("jira-receiver")) / "events.db"
    engine = Engine(Settings(db_path=str(path)), clock=FixedClock(T0))
    settings = jira_settings("http://127.0.0.1:9")  # never called: nothing is synced out
    app = create_app(engine)
    mount_adapters(app, [JiraAdapter(settings, JiraSync(settings))])
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client, engine
    engine.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(body=mutated())
def test_mutated_webhooks_get_an_answer_below_500(
    client: tuple[TestClient, Engine], body: Any
) -> None:
    test_client, engine = client
    raw = json.dumps(body, default=str).encode()
    answer = test_client.post(
        f"/hooks/jira/main?secret={SECRET}",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code < 500, answer.text
    if answer.status_code == 400:  # kept once per distinct body, named by its hash
        kept = {m.message_id for m in engine.rejected_messages("jira:main")}
        assert f"sha256:{hashlib.sha256(raw).hexdigest()}" in kept
