"""Vendor payloads to inbound commands: the documented fixtures, worked out by hand."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.monitoring.mapping import commands_for
from opsledger.adapters.monitoring.parsers import labels_fingerprint, parse_pagerduty
from opsledger.adapters.monitoring.settings import MonitoringSettings, SourceAuth
from opsledger.core.inbound import inbound_key

from opsledger import InputError

PAYLOADS = Path(__file__).parent / "payloads"
SETTINGS = MonitoringSettings()


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def test_alertmanager_group_becomes_one_command_per_alert() -> None:
    disk, data, gone = commands_for("alertmanager", payload("alertmanager"), SETTINGS)
    # alert 0: severity critical -> (high, high); service label wins over job; the instance
    # "db-1:9100" is no CI number, so no ci; startsAt's nanoseconds cut to microseconds
    assert (disk.source, disk.external_id, disk.state) == (
        "alertmanager",
        "6f1a1e6c2d3b9c41",
        "open",
    )
    assert disk.summary == "Disk /var almost full on db-1"
    assert disk.description == "95% of /var used"
    assert (disk.impact, disk.urgency, disk.service, disk.ci) == ("high", "high", "payments", None)
    assert disk.occurred_at == datetime(2024, 3, 4, 8, 58, 0, 739266, tzinfo=UTC)
    assert disk.details["runbook_url"] == "https://runbooks.example.org/disk-full"
    assert disk.details["labels"]["instance"] == "db-1:9100"
    assert disk.details["links"]["generatorURL"].startswith("http://prometheus.example.org")
    assert disk.idempotency_key == inbound_key(
        "alertmanager", "6f1a1e6c2d3b9c41", "open", disk.occurred_at
    )
    # alert 1: warning -> (medium, medium); no service label, so the job; instance CI-000042
    # is a CI number; 08:55:30+01:00 is 07:55:30Z
    assert (data.impact, data.urgency, data.service, data.ci) == (
        "medium",
        "medium",
        "node",
        "CI-000042",
    )
    assert data.occurred_at == datetime(2024, 3, 4, 7, 55, 30, tzinfo=UTC)
    # alert 2: resolved -> resolve at endsAt (08:50Z); keyed by startsAt (07:10Z) + status
    assert (gone.state, gone.occurred_at) == ("resolve", datetime(2024, 3, 4, 8, 50, tzinfo=UTC))
    started = datetime(2024, 3, 4, 7, 10, tzinfo=UTC)
    assert gone.idempotency_key == inbound_key(
        "alertmanager", "0c2f9d1e77aa3b10", "resolve", started
    )
    assert gone.resolve_code == "auto-resolved by source"
    # newer senders' keys are kept, not refused (Alertmanager 0.32's notification_reason)
    assert disk.details["extra"]["group"]["extra"] == {"notification_reason": "new alerts"}
    assert disk.details["extra"]["group"]["groupKey"].endswith('{alertname="DiskAlmostFull"}')


def test_grafana_alerts_carry_links_and_values() -> None:
    memory, cpu = commands_for("grafana", payload("grafana"), SETTINGS)
    # 09:51:03.157076+02:00 is 07:51:03.157076Z; severity error -> (high, medium)
    assert memory.source == "grafana" and memory.external_id == "c6eadffa33fcdf37"
    assert memory.occurred_at == datetime(2024, 3, 4, 7, 51, 3, 157076, tzinfo=UTC)
    assert (memory.impact, memory.urgency) == ("high", "medium")
    assert memory.summary == "This alert was triggered for zone us-1"
    assert memory.details["links"]["panelURL"] == "https://grafana.example.org/d/mem?viewPanel=2"
    assert memory.details["extra"]["values"] == {"B": 44.23943737541908, "C": 1}
    # no severity label: the default row (warning: medium, medium); no summary annotation:
    # the alert name; empty dashboard links are left out
    assert (cpu.impact, cpu.urgency, cpu.summary) == ("medium", "medium", "High CPU usage")
    assert "dashboardURL" not in cpu.details["links"]
    assert "message" not in memory.details["extra"]["group"]  # repeats every alert: not copied


def test_pagerduty_trigger_maps_payload_and_keeps_no_routing_key() -> None:
    [event] = commands_for("pagerduty", payload("pagerduty"), SETTINGS)
    at = datetime(2024, 3, 4, 8, 42, 58, 315000, tzinfo=UTC)  # 08:42:58.315+0000
    assert (event.source, event.external_id, event.state) == ("pagerduty", "srv01/mysql", "open")
    assert (event.impact, event.urgency, event.occurred_at) == ("high", "high", at)
    assert event.summary == "DISK at 99% on machine prod-datapipe03.example.com"
    assert event.idempotency_key == inbound_key("pagerduty", "srv01/mysql", "open", at)
    assert event.details["labels"]["component"] == "mysql"
    assert event.details["extra"]["custom_details"]["free space"] == "1%"
    assert "e93facc04764012d7bfb002500d5d1a6" not in json.dumps(event.to_dict())


def test_pagerduty_acknowledge_needs_only_the_dedup_key() -> None:
    body = {"routing_key": "r" * 32, "event_action": "acknowledge", "dedup_key": "srv01/mysql"}
    [event] = commands_for("pagerduty", body, SETTINGS)
    assert (event.state, event.occurred_at, event.idempotency_key) == ("acknowledge", None, None)
    with pytest.raises(InputError) as caught:
        commands_for("pagerduty", {**body, "dedup_key": None}, SETTINGS)
    assert caught.value.field == "dedup_key"


def test_pagerduty_trigger_without_dedup_key_gets_a_stable_one() -> None:
    body = payload("pagerduty")
    del body["dedup_key"]
    first, again = parse_pagerduty(body), parse_pagerduty(copy.deepcopy(body))
    assert first.external_id == again.external_id and first.external_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("alertmanager", lambda p: p["alerts"][2].pop("startsAt"), "alerts[2].startsAt"),
        (
            "alertmanager",
            lambda p: p["alerts"][1].update(startsAt="yesterday"),
            "alerts[1].startsAt",
        ),
        ("alertmanager", lambda p: p["alerts"][0].update(status="firin"), "alerts[0].status"),
        ("alertmanager", lambda p: p["alerts"][2].pop("endsAt"), "alerts[2].endsAt"),
        ("alertmanager", lambda p: p["alerts"][0]["labels"].update(job=7), "alerts[0].labels.job"),
        (
            "alertmanager",
            lambda p: p["alerts"][1].update(fingerprint=" x"),
            "alerts[1].fingerprint",
        ),
        ("alertmanager", lambda p: p.update(alerts={}), "alerts"),
        ("alertmanager", lambda p: p.update(version="5"), "version"),
        ("grafana", lambda p: p["alerts"].append("oops"), "alerts[2]"),
        ("pagerduty", lambda p: p["payload"].update(severity="fatal"), "payload.severity"),
        ("pagerduty", lambda p: p["payload"].pop("summary"), "payload.summary"),
        ("pagerduty", lambda p: p.update(event_action="snooze"), "event_action"),
        ("pagerduty", lambda p: p.update(dedup_key="k" * 256), "dedup_key"),
        ("pagerduty", lambda p: p["payload"].update(timestamp=12), "payload.timestamp"),
    ],
)
def test_wrong_shapes_name_the_field_path(name: str, change: Any, field: str) -> None:
    body = payload(name)
    change(body)
    with pytest.raises(InputError) as caught:
        commands_for(name, body, SETTINGS)
    assert caught.value.field == field


def test_missing_fingerprint_is_computed_from_the_labels() -> None:
    body = payload("alertmanager")
    labels = body["alerts"][0]["labels"]
    del body["alerts"][0]["fingerprint"]
    first = commands_for("alertmanager", body, SETTINGS)[0]
    shuffled = dict(reversed(list(labels.items())))
    assert first.external_id == labels_fingerprint(shuffled) == labels_fingerprint(labels)


def test_annotate_rule_turns_a_resolved_alert_into_a_work_note() -> None:
    settings = MonitoringSettings(resolve_rule="annotate")
    gone = commands_for("alertmanager", payload("alertmanager"), settings)[2]
    assert gone.state == "update"
    assert gone.description == "alertmanager reports it resolved at 2024-03-04T08:50:00+00:00"
    started = datetime(2024, 3, 4, 7, 10, tzinfo=UTC)
    assert gone.idempotency_key == inbound_key(
        "alertmanager", "0c2f9d1e77aa3b10", "update", started
    )


def test_generic_inbound_event_stays_strict() -> None:
    event = {"source": "nagios", "external_id": "web-1/http", "state": "open", "summary": "down"}
    [command] = commands_for("inbound", event, SETTINGS)
    assert command.source == "nagios"
    with pytest.raises(InputError) as caught:
        commands_for("inbound", [event, {**event, "colour": "red"}], SETTINGS)
    assert caught.value.field == "[1].colour"


def test_settings_from_env_and_file(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.json"
    config.write_text(
        json.dumps(
            {
                "enabled": True,
                "severity": {"page": ["high", "high"]},
                "sources": {"grafana": {"hmac_secret": "g-secret"}},
            }
        )
    )
    env = {
        "OPSLEDGER_MONITORING_CONFIG": str(config),
        "OPSLEDGER_MONITORING_ALERTMANAGER_TOKEN": "am-token",
        "OPSLEDGER_MONITORING_RESOLVE_RULE": "annotate",
    }
    settings = MonitoringSettings.from_env(env)
    assert settings.enabled and settings.resolve_rule == "annotate"
    assert settings.impact_urgency("PAGE") == ("high", "high")
    assert settings.impact_urgency("critical") == ("high", "high")  # defaults kept
    assert settings.impact_urgency("nonsense") == ("medium", "medium")  # the warning row
    assert settings.auth("alertmanager") == SourceAuth(token="am-token")
    assert settings.auth("grafana").hmac_secret == "g-secret"
    assert "am-token" not in repr(settings) and "g-secret" not in repr(settings)
    assert not MonitoringSettings.from_env({}).enabled
    with pytest.raises(InputError) as caught:
        MonitoringSettings.from_env({"OPSLEDGER_MONITORING_RESOLVE_RULE": "ignore"})
    assert caught.value.field == "resolve_rule"
    with pytest.raises(InputError) as caught:
        MonitoringSettings.from_mapping({"severity": {"page": ["huge", "high"]}})
    assert caught.value.field == "impact"
