"""The demo's monitoring incidents as Alertmanager webhooks, through the adapter's own path.

Where the simulated month has a monitor report an outage, it builds the webhook Alertmanager
would send and runs it through the monitoring adapter's parser and mapping, so the incident
opens from an ``IngestInbound`` as a real alert's does (its fingerprint recorded as the
external reference, its ``startsAt`` as the opened instant). No random numbers are drawn
here: a seed gives the same month as before, story for story.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from opsledger.adapters.monitoring.mapping import commands_for
from opsledger.adapters.monitoring.settings import MonitoringSettings
from opsledger.core.commands import IngestInbound

#: The demo's severity table (settings, as an operator would write it): one severity per
#: impact and urgency pair, so that an alert opens with the priority the story chose.
DEMO_SEVERITY: dict[str, tuple[str, str]] = {
    "critical": ("high", "high"),
    "major": ("high", "medium"),
    "degraded": ("high", "low"),
    "error": ("medium", "high"),
    "warning": ("medium", "medium"),
    "minor": ("medium", "low"),
    "notice": ("low", "high"),
    "low": ("low", "medium"),
    "info": ("low", "low"),
}
SEVERITY_OF = {row: name for name, row in DEMO_SEVERITY.items()}
SETTINGS = MonitoringSettings(enabled=True, severity=DEMO_SEVERITY)
EXTERNAL_URL = "http://alertmanager.demo.example:9093"


def alert_webhook(
    *,
    at: datetime,
    alertname: str,
    summary: str,
    description: str,
    impact: str,
    urgency: str,
    service: str,
    instance: str | None = None,
    ci: str | None = None,
) -> dict[str, Any]:
    """An Alertmanager v4 webhook with one firing alert that started at ``at``.

    The fingerprint hashes the labels with the start instant (to the microsecond): two
    stories never share one, so each opens its own incident, as distinct alerts do.
    """
    severity = SEVERITY_OF[(impact, urgency)]
    labels = {"alertname": alertname, "service": service, "severity": severity, "job": "blackbox"}
    if instance is not None:
        labels["instance"] = instance
    if ci is not None:
        labels["ci"] = ci
    identity = json.dumps([labels, at.isoformat(), description], sort_keys=True)
    started = at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"https://runbooks.demo.example/{alertname.lower()}",
        },
        "startsAt": started,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.demo.example:9090/graph?g0.expr={alertname}",
        "fingerprint": hashlib.sha256(identity.encode()).hexdigest()[:16],
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "opsledger",
        "groupLabels": {"alertname": alertname, "service": service},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": EXTERNAL_URL,
        "alerts": [alert],
    }


def alert_command(**alert: Any) -> IngestInbound:
    """The command the Alertmanager receiver would submit for :func:`alert_webhook`'s
    delivery (the keyword arguments are its), received at the alert's start."""
    payload = alert_webhook(**alert)
    (command,) = commands_for("alertmanager", payload, SETTINGS, at=alert["at"])
    return command
