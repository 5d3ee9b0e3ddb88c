"""An alert report to the generic inbound event, per :class:`MonitoringSettings`.

Severity to impact and urgency through the settings' table; labels to service and CI;
annotations to description; runbook and dashboard links into ``details``. The classify and
route hooks see the result and may override any of it (docs/plugins.md). Validation of the
event itself is ``inbound_command``'s, written once in core/inbound.py.
"""

from __future__ import annotations

import hashlib
import json
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
from opsledger.core.inbound import (
    CI_NAMES_LIMIT,
    EXTERNAL_ID_LIMIT,
    inbound_command,
    inbound_key,
)

#: What ``ci`` takes from a label: only a configuration item number. Anything else (a host
#: name, ``db-1:9100``) becomes a name the engine looks the CI up by (``ci_names``).
CI_NUMBER = re.compile(r"CI-\d{6,}")
#: Annotation keys that are links, copied into ``details`` under their own name.
LINK_ANNOTATIONS = ("runbook_url", "dashboard_url", "dashboard")


def to_command(
    report: AlertReport,
    settings: MonitoringSettings,
    *,
    at: datetime | None = None,
    correlation: str | None = None,
    may_resolve: bool = True,
) -> IngestInbound:
    """The inbound command for one report; an ``InputError`` names the alert's path.

    ``correlation`` replaces the report's own id as ``external_id`` (one incident for many
    alerts); ``may_resolve`` False turns a resolve into a work note (an alert of a group that
    still fires). The idempotency key stays the alert's own either way, so a resend is a no-op.
    """
    state = report.state
    description = report.description
    external_id = report.external_id if correlation is None else correlation
    if state == "resolve" and (settings.resolve_rule == "annotate" or not may_resolve):
        state = "update"
        when = report.occurred_at.isoformat() if report.occurred_at else "an unknown instant"
        what = "it" if correlation is None else f"alert {report.external_id} ({report.summary})"
        description = f"{report.source} reports {what} resolved at {when}"
    impact, urgency = settings.impact_urgency(report.severity)
    event: dict[str, Any] = {
        "source": report.source,
        "external_id": external_id,
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
        names = ci_names(report.labels, settings.ci_labels)
        if names and event["ci"] is None:
            event["ci_names"] = names
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
        return [to_command(parse_pagerduty(payload), settings, at=at)]
    else:
        raise ValueError(f"unknown receiver {kind!r}")
    if settings.correlate_by == "fingerprint":
        return [to_command(r, settings, at=at) for r in reports]
    keys = [correlation_key(r, settings, payload) for r in reports]
    if settings.correlate_by == "group":
        # the group's incident resolves with the group, not with one of its alerts
        resolved = isinstance(payload, dict) and payload.get("status") == "resolved"
        may_resolve = [resolved] * len(reports)
    else:
        # a key still firing in this delivery is not resolved by another alert of it
        firing = {k for k, r in zip(keys, reports, strict=True) if r.state == "open"}
        may_resolve = [k not in firing for k in keys]
    return [
        to_command(r, settings, at=at, correlation=k, may_resolve=m)
        for r, k, m in zip(reports, keys, may_resolve, strict=True)
    ]


def correlation_key(report: AlertReport, settings: MonitoringSettings, payload: object) -> str:
    """The incident an Alertmanager or Grafana alert reports on, per ``correlate_by``:
    the webhook's ``groupKey``, or ``labels:`` and the named labels' values as JSON (a
    missing label is null). One longer than an external id may be is hashed."""
    labels = settings.correlation_labels
    if labels:
        values = {name: report.labels.get(name) for name in labels}
        key = "labels:" + json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    else:
        group_key = payload.get("groupKey") if isinstance(payload, dict) else None
        if not isinstance(group_key, str) or not group_key.strip():
            raise InputError("groupKey", "is required by correlate_by group: a non-empty string")
        key = group_key.strip()
    if len(key) > EXTERNAL_ID_LIMIT:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        key = key.partition(":")[0] + ":sha256:" + digest if labels else "sha256:" + digest
    return key


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


def ci_names(labels: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Names a CI may be registered under, in label order: each value, and for a
    ``host:port`` value (Prometheus' ``instance``) the host alone after it."""
    found: list[str] = []
    for name in names:
        value = labels.get(name)
        if not isinstance(value, str) or not value.strip() or CI_NUMBER.fullmatch(value):
            continue
        for candidate in (value.strip(), _host(value.strip())):
            if candidate and candidate not in found and len(found) < CI_NAMES_LIMIT:
                found.append(candidate[:EXTERNAL_ID_LIMIT])
    return found


def _host(value: str) -> str | None:
    """``db-1:9100`` -> ``db-1``; ``[::1]:9100`` -> ``::1``; anything else -> None."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


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
