"""An alert report to the generic inbound event, per :class:`MonitoringSettings`.

Severity to impact and urgency through the settings' table; labels to service and CI;
annotations to description; runbook and dashboard links into ``details``. The classify and
route hooks see the result and may override any of it (docs/plugins.md). Validation of the
event itself is ``inbound_command``'s, written once in core/inbound.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from opsledger.adapters.monitoring.parsers import (
    AlertReport,
    parse_alertmanager,
    parse_grafana,
    parse_pagerduty,
)
from opsledger.adapters.monitoring.settings import THRESHOLDS, MonitoringSettings
from opsledger.core.commands import IngestInbound
from opsledger.core.domain.errors import InputError
from opsledger.core.inbound import inbound_command, inbound_key

#: What ``ci`` takes from a label: only a configuration item number. Anything else (a host
#: name, ``db-1:9100``) stays in the details for a classify hook to look up.
CI_NUMBER = re.compile(r"CI-\d{6,}")
#: Annotation keys that are links, copied into ``details`` under their own name.
LINK_ANNOTATIONS = ("runbook_url", "dashboard_url", "dashboard")


def to_command(
    report: AlertReport, settings: MonitoringSettings, *, at: datetime | None = None
) -> IngestInbound:
    """The inbound command for one report; an ``InputError`` names the alert's path."""
    state = report.state
    description = report.description
    if state == "resolve" and settings.resolve_rule == "annotate":
        state = "update"
        when = report.occurred_at.isoformat() if report.occurred_at else "an unknown instant"
        description = f"{report.source} reports it resolved at {when}"
    impact, urgency = settings.impact_urgency(report.severity)
    event: dict[str, Any] = {
        "source": report.source,
        "external_id": report.external_id,
        "state": state,
        "description": description,
        "details": _details(report),
    }
    if state == "open":
        event |= {
            "summary": report.summary,
            "impact": impact,
            "urgency": urgency,
            "service": _first(report.labels, settings.service_labels),
            "ci": _ci(report.labels, settings.ci_labels),
        }
    if report.occurred_at is not None:
        event["occurred_at"] = report.occurred_at.isoformat()
    try:
        # None when the source gave no instant: inbound_command then derives none either
        key = inbound_key(report.source, report.external_id, state, report.key_instant)
        return with_thresholds(inbound_command(event, at=at, idempotency_key=key), settings)
    except InputError as error:
        where = f"{report.path}." if report.path else ""
        raise InputError(where + _vendor_name(report, error.field), error.message) from None


def commands_for(
    kind: str, payload: object, settings: MonitoringSettings, *, at: datetime | None = None
) -> list[IngestInbound]:
    """Parse and map one decoded body of receiver ``kind``: alertmanager, grafana, pagerduty
    or inbound (the generic event, or a list of them)."""
    if kind == "inbound":
        return _generic(payload, settings, at)
    reports: Sequence[AlertReport]
    if kind == "alertmanager":
        reports = parse_alertmanager(payload)
    elif kind == "grafana":
        reports = parse_grafana(payload)
    elif kind == "pagerduty":
        reports = [parse_pagerduty(payload)]
    else:
        raise ValueError(f"unknown receiver {kind!r}")
    return [to_command(r, settings, at=at) for r in reports]


def with_thresholds(command: IngestInbound, settings: MonitoringSettings) -> IngestInbound:
    """The settings' flapping and storm thresholds on the command: the core decides both
    (docs/inbound.md), the adapter's settings say when."""
    return replace(command, **{name: getattr(settings, name) for name in THRESHOLDS})


def _generic(
    payload: object, settings: MonitoringSettings, at: datetime | None
) -> list[IngestInbound]:
    def command(item: Any) -> IngestInbound:
        return with_thresholds(inbound_command(item, at=at), settings)

    if isinstance(payload, list):
        commands = []
        for i, item in enumerate(payload):
            try:
                commands.append(command(item))
            except InputError as error:
                raise InputError(f"[{i}].{error.field}", error.message) from None
        return commands
    return [command(payload)]


def _details(report: AlertReport) -> dict[str, Any]:
    details: dict[str, Any] = {"labels": report.labels}
    if report.annotations:
        details["annotations"] = report.annotations
    for key in LINK_ANNOTATIONS:
        link = report.annotations.get(key)
        if isinstance(link, str) and link:
            details[key] = link
    if report.links:
        details["links"] = report.links
    if report.severity is not None:
        details["severity"] = report.severity
    if report.extra:
        details["extra"] = report.extra
    return details


def _first(labels: dict[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = labels.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _ci(labels: dict[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = labels.get(name)
        if isinstance(value, str) and CI_NUMBER.fullmatch(value):
            return value
    return None


def _vendor_name(report: AlertReport, field: str) -> str:
    """The inbound field's name as the vendor's payload spells it, where one maps to one."""
    if report.source == "pagerduty":
        names = {"external_id": "dedup_key", "occurred_at": "payload.timestamp",
                 "summary": "payload.summary", "details": "payload"}  # fmt: skip
    else:
        names = {"external_id": "fingerprint", "summary": "annotations.summary"}
    head, dot, rest = field.partition(".")
    if head == "details" and dot:  # details.labels.x -> labels.x, as the vendor sent it
        return rest
    return names.get(field, field)
