"""A real Alertmanager notifying opsledger's receivers over HTTP (embedded mode).

Alerts are posted to Alertmanager's API v2; its webhook and PagerDuty Events v2 receivers
point at the app's /hooks/monitoring routes served by uvicorn on loopback. Incidents open,
a group resent with a new member changes nothing for the old one, and incidents resolve
when the alerts end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.http.app import create_app, mount_adapters
from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, Settings
from tests.dashboard.conftest import serve
from tests.monitoring.alertmanager import AlertmanagerProcess, run_alertmanager
from tests.monitoring.test_monitoring_receivers import AM_TOKEN, MONITORING, PD_TOKEN


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def alert(instance: str, starts: datetime, **labels: str) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "DiskAlmostFull",
            "instance": instance,
            "severity": "critical",
            "service": "payments",
            **labels,
        },
        "annotations": {"summary": f"disk almost full on {instance}"},
        "startsAt": starts.isoformat(),
    }


def notifying(tmp_path: Path, base: str) -> AlertmanagerProcess:
    """Alertmanager whose webhook and PagerDuty receivers point at the app at ``base``."""
    return run_alertmanager(
        tmp_path,
        webhook_url=f"{base}/hooks/monitoring/alertmanager",
        pagerduty_url=f"{base}/hooks/monitoring/v2/enqueue",
        bearer_token=AM_TOKEN,
        pagerduty_bearer_token=PD_TOKEN,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    engine = Engine(Settings(db_path=str(tmp_path / "events.db")))  # real time: alerts are
    app = create_app(engine)
    mount_adapters(app, [MonitoringAdapter(MONITORING)])
    with serve(app) as base:
        yield engine, base
    engine.close()


def test_alerts_open_deduplicate_and_resolve_incidents(
    served: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, base = served
    manager = notifying(tmp_path, base)
    opened = lambda: engine.last_number(RecordKind.INCIDENT)  # noqa: E731
    try:
        started = datetime.now(UTC).replace(microsecond=0)
        manager.post_alerts([alert("db-1", started)])
        wait_until(lambda: opened() == 1, "the first incident")
        first = engine.get("INC-000001")
        assert (first["priority"], first["service"], first["channel"]) == (
            "P1",
            "payments",
            "alertmanager",
        )
        assert first["opened_at"] == started.isoformat()  # the alert's own start

        # A second alert joins the group: Alertmanager resends the whole group, and the
        # first alert's copy (same fingerprint and start) records nothing new.
        manager.post_alerts([alert("db-2", started)])
        wait_until(lambda: opened() == 2, "the second incident")
        time.sleep(2.5)  # a few more group intervals: nothing may be doubled
        assert opened() == 2
        assert [e.event for e in engine.history("INC-000001")].count("OccurrenceRecorded") == 0

        # The first alert ends: its incident is resolved by the source.
        manager.post_alerts([{**alert("db-1", started), "endsAt": datetime.now(UTC).isoformat()}])
        wait_until(lambda: engine.get("INC-000001")["state"] == "resolved", "the resolution")
        assert engine.get("INC-000002")["state"] != "resolved"

        # Through the PagerDuty Events v2 receiver: trigger, then resolve.
        paged = datetime.now(UTC) - timedelta(seconds=5)
        manager.post_alerts([alert("db-9", paged, via="pagerduty", alertname="LoadHigh")])
        wait_until(lambda: opened() == 3, "the paged incident")
        assert engine.get("INC-000003")["channel"] == "pagerduty"
        ended = {
            **alert("db-9", paged, via="pagerduty", alertname="LoadHigh"),
            "endsAt": datetime.now(UTC).isoformat(),
        }
        manager.post_alerts([ended])
        wait_until(lambda: engine.get("INC-000003")["state"] == "resolved", "the paged resolve")
    finally:
        manager.stop()
    assert engine.rejected_messages() == []
