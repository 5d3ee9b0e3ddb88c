"""JIRA fixtures: the REST stand-in (tests/jira/standin/) on a free loopback port, and a sink.

The stand-in reads time from the shared ``clock`` fixture (a FixedClock at T0), so JIRA's
``created``/``updated`` and webhook ``timestamp`` values are hand-computable; advance the clock
between changes when a test needs them to differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from opsledger.adapters.kafka.devbroker import free_port

from opsledger import FixedClock
from tests.jira.standin import JiraStandin, WebhookSink


class MakeJiraStandin(Protocol):
    def __call__(self, **options: Any) -> JiraStandin: ...


@pytest.fixture
def make_jira_standin(clock: FixedClock) -> Iterator[MakeJiraStandin]:
    """Start stand-ins with any ``JiraStandin`` options (clock defaults to ``clock``)."""
    started: list[JiraStandin] = []

    def make(**options: Any) -> JiraStandin:
        options.setdefault("clock", clock)
        standin = JiraStandin(port=free_port(), **options).start()
        started.append(standin)
        return standin

    yield make
    for standin in started:
        standin.stop()


@pytest.fixture
def jira_standin(make_jira_standin: MakeJiraStandin) -> JiraStandin:
    """JIRA Cloud: project PROJ (Task, Bug, Story), the bot authenticated, Alice the human."""
    return make_jira_standin()


@pytest.fixture
def jira_server_standin(make_jira_standin: MakeJiraStandin) -> JiraStandin:
    """The same, as JIRA Server/Data Center (users by name and key, Bearer PAT)."""
    return make_jira_standin(deployment="Server")


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A loopback endpoint that records every webhook POSTed to ``webhook_sink.url``."""
    with WebhookSink(port=free_port()) as sink:
        yield sink
