"""The adapter's mapping is only a default: the classify and route hooks have the last word."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from opsledger.adapters.http.app import create_app, mount_adapters
from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.plugins import hookimpl
from opsledger.plugins.manager import build_manager

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.monitoring.test_monitoring_receivers import AM, MONITORING, firing, group


class Triage:
    """What an integrator's plugin would do: its own CMDB knows better than the labels."""

    @hookimpl
    def opsledger_classify(self, item: Mapping[str, Any]) -> Mapping[str, Any] | None:
        labels = item.get("details", {}).get("labels", {})
        if labels.get("instance") == "db-1":
            return {"service": "ledger", "impact": "low", "urgency": "low"}
        return None

    @hookimpl
    def opsledger_route(self, ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
        return ("dba", "dora") if ticket.get("service") == "ledger" else None


def test_classify_and_route_hooks_override_the_alert_mapping(tmp_path: Path) -> None:
    pm = build_manager()
    pm.register(Triage(), name="triage")
    engine = Engine(Settings(db_path=str(tmp_path / "e.db")), clock=FixedClock(T0), plugins=pm)
    app = create_app(engine)
    mount_adapters(app, [MonitoringAdapter(MONITORING)])
    with TestClient(app) as client:
        body = group(
            firing("aaaa", "2024-03-04T08:58:00Z", severity="critical", service="payments"),
            firing("bbbb", "2024-03-04T08:58:00Z", severity="critical", service="payments")
            | {"labels": {"alertname": "X", "instance": "web-1", "severity": "critical",
                          "service": "payments"}},
        )  # fmt: skip
        response = client.post("/hooks/monitoring/alertmanager", json=body, headers=AM)
        assert response.status_code == 200, response.text
    classified, mapped = engine.get("INC-000001"), engine.get("INC-000002")
    # db-1: the classifier's service and levels win over the labels; its router assigns it
    assert (classified["service"], classified["priority"]) == ("ledger", "P4")
    assert (classified["group"], classified["assignee"]) == ("dba", "dora")
    # web-1: nobody overrides, so the adapter's mapping stands (critical: high/high = P1)
    assert (mapped["service"], mapped["priority"]) == ("payments", "P1")
    engine.close()
