"""Vendor payloads (Alertmanager v4, Grafana, PagerDuty Events v2) to neutral alert reports.

Pure functions, no I/O: a decoded JSON value in, :class:`AlertReport` values out, or an
``InputError`` naming the field path (``alerts[3].startsAt``). Vendors add keys over time
(Alertmanager 0.32's ``notification_reason``), so unknown keys are kept in ``extra`` and never
refused. :mod:`.mapping` turns a report into the generic inbound event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsledger.core.clock import parse_instant
from opsledger.core.domain.errors import InputError
from opsledger.core.inbound import EXTERNAL_ID_LIMIT

ALERTMANAGER_VERSION = "4"
_AM_ALERT_KEYS = frozenset(
    {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
)
_GRAFANA_LINKS = ("silenceURL", "dashboardURL", "panelURL", "imageURL")
_GRAFANA_ALERT_KEYS = _AM_ALERT_KEYS | set(_GRAFANA_LINKS) | {"values", "valueString"}
#: Group keys copied beside every alert of the group (large ones, like Grafana's
#: ``message``, which repeats every alert, are left out).
_GROUP_KEYS = ("receiver", "groupKey", "status", "externalURL", "truncatedAlerts", "orgId", "title")
PAGERDUTY_ACTIONS = {"trigger": "open", "acknowledge": "acknowledge", "resolve": "resolve"}
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
PAGERDUTY_DEDUP_LIMIT = 255
_PD_KEYS = frozenset(
    {
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "links",
        "images",
        "client",
        "client_url",
    }
)


@dataclass(frozen=True, slots=True)
class AlertReport:
    """One alert as a source reported it, before mapping: what every parser produces.

    ``state`` is the inbound state (open, acknowledge, resolve). ``key_instant`` is the
    source's instant that, with source, id and state, makes one delivery's idempotency key
    (None: every delivery counts). ``path`` names the alert in the payload, for errors.
    """

    source: str
    external_id: str
    state: str
    path: str
    summary: str = ""
    description: str = ""
    severity: str | None = None
    occurred_at: datetime | None = None
    key_instant: datetime | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def parse_alertmanager(payload: object) -> list[AlertReport]:
    """An Alertmanager webhook (version 4): one report per alert of the group.

    Correlation key: the alert's ``fingerprint`` (a hash of its labels; computed the same way
    from the labels when an old sender leaves it out). Idempotency: fingerprint + ``startsAt``
    + status, so the group resent every group interval changes nothing. ``occurred_at``:
    ``startsAt`` when firing, ``endsAt`` when resolved.
    """
    group = _object(payload, "body")
    version = group.get("version", ALERTMANAGER_VERSION)
    if version != ALERTMANAGER_VERSION:
        raise InputError("version", f"only version {ALERTMANAGER_VERSION!r} is understood")
    return _alert_group(group, "alertmanager", _AM_ALERT_KEYS, ())


def parse_grafana(payload: object) -> list[AlertReport]:
    """A Grafana (unified alerting) webhook: Alertmanager's shape plus ``orgId``, ``title``,
    ``state``, ``message``, and per alert the silence, dashboard and panel links, ``values``
    and ``valueString``."""
    group = _object(payload, "body")
    return _alert_group(group, "grafana", _GRAFANA_ALERT_KEYS, _GRAFANA_LINKS)


def _alert_group(
    group: Mapping[str, Any], source: str, known: frozenset[str] | set[str], links: tuple[str, ...]
) -> list[AlertReport]:
    alerts = group.get("alerts")
    if not isinstance(alerts, list):
        raise InputError(
            "alerts", "is required: a list of alerts" if alerts is None else "must be a list"
        )
    shared = {k: group[k] for k in _GROUP_KEYS if k in group}
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        if name in group:
            _object(group[name], name)
    unknown_group = {k: v for k, v in group.items() if k not in _KNOWN_GROUP_KEYS}
    if unknown_group:
        shared["extra"] = unknown_group
    return [_alert(a, f"alerts[{i}]", source, shared, known, links) for i, a in enumerate(alerts)]


_KNOWN_GROUP_KEYS = frozenset(
    {*_GROUP_KEYS, "version", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
     "state", "message"}
)  # fmt: skip


def _alert(
    value: object,
    path: str,
    source: str,
    group: dict[str, Any],
    known: frozenset[str] | set[str],
    link_keys: tuple[str, ...],
) -> AlertReport:
    alert = _object(value, path)
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise InputError(f"{path}.status", "must be 'firing' or 'resolved'")
    labels = _labels(alert.get("labels"), f"{path}.labels")
    annotations = _object(alert.get("annotations", {}), f"{path}.annotations")
    starts = _instant(alert.get("startsAt"), f"{path}.startsAt")
    occurred = starts
    if status == "resolved":
        occurred = _instant(alert.get("endsAt"), f"{path}.endsAt")
    fingerprint = alert.get("fingerprint")
    if fingerprint is None:
        fingerprint = labels_fingerprint(labels)
    fingerprint = _identity(fingerprint, f"{path}.fingerprint", EXTERNAL_ID_LIMIT)
    links: dict[str, Any] = {}
    for key in ("generatorURL", *link_keys):
        link = alert.get(key)
        if link is not None and not isinstance(link, str):
            raise InputError(f"{path}.{key}", "must be a string")
        if link:
            links[key] = link
    extra = {k: v for k, v in alert.items() if k not in known}
    for key in ("values", "valueString"):
        if key in alert and key in known:
            extra[key] = alert[key]
    if group:
        extra["group"] = group
    state = "open" if status == "firing" else "resolve"
    summary = _text(annotations.get("summary")) or labels.get("alertname") or f"alert {fingerprint}"
    return AlertReport(
        source=source,
        external_id=fingerprint,
        state=state,
        path=path,
        summary=summary,
        description=_text(annotations.get("description")) or _text(annotations.get("message")),
        severity=labels.get("severity"),
        occurred_at=occurred,
        key_instant=starts,
        labels=labels,
        annotations=annotations,
        links=links,
        extra=extra,
    )


def parse_pagerduty(payload: object) -> AlertReport:
    """A PagerDuty Events API v2 event (``POST /v2/enqueue``): trigger, acknowledge, resolve.

    Correlation key: ``dedup_key`` (a trigger without one gets a key derived from the event,
    so a resend is still the same alert). Idempotency: dedup_key + action + ``timestamp``
    (without a timestamp every delivery counts). ``routing_key`` is required as PagerDuty
    requires it, and never kept: to PagerDuty it is a credential.
    """
    event = _object(payload, "body")
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        raise InputError("routing_key", "is required: a non-empty string")
    action = event.get("event_action")
    if not isinstance(action, str) or action not in PAGERDUTY_ACTIONS:
        raise InputError("event_action", "must be 'trigger', 'acknowledge' or 'resolve'")
    state = PAGERDUTY_ACTIONS[action]
    body = event.get("payload")
    body = _object(body, "payload") if action == "trigger" or body is not None else {}
    dedup = event.get("dedup_key")
    if dedup is None and action == "trigger":
        dedup = "sha256:" + _digest({k: v for k, v in event.items() if k != "routing_key"})[:32]
    elif dedup is None:
        raise InputError("dedup_key", f"is required to {action}")
    dedup = _identity(dedup, "dedup_key", PAGERDUTY_DEDUP_LIMIT)
    summary = severity = None
    if action == "trigger":
        summary = _required_text(body, "summary", "payload")
        _required_text(body, "source", "payload")
        severity = body.get("severity")
        if severity not in PAGERDUTY_SEVERITIES:
            raise InputError(
                "payload.severity", f"must be one of {', '.join(PAGERDUTY_SEVERITIES)}"
            )
    timestamp = body.get("timestamp")
    occurred = _instant(timestamp, "payload.timestamp") if timestamp is not None else None
    labels: dict[str, Any] = {}
    for key in ("source", "component", "group", "class"):
        item = body.get(key)
        if item is not None and not isinstance(item, str):
            raise InputError(f"payload.{key}", "must be a string")
        if item:
            labels[key] = item
    details = body.get("custom_details")
    links: dict[str, Any] = {}
    for key in ("links", "images"):
        if key in event:
            if not isinstance(event[key], list):
                raise InputError(key, "must be a list")
            links[key] = event[key]
    extra = {k: v for k, v in event.items() if k not in _PD_KEYS}
    for key in ("client", "client_url"):
        if key in event:
            extra[key] = event[key]
    if details is not None:
        extra["custom_details"] = details
    return AlertReport(
        source="pagerduty",
        external_id=dedup,
        state=state,
        path="",
        summary=summary or "",
        description=_text(details) if isinstance(details, str) else "",
        severity=severity,
        occurred_at=occurred,
        key_instant=occurred,
        labels=labels,
        links=links,
        extra=extra,
    )


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity of a label set, for senders that send no fingerprint."""
    return "labels:" + _digest(dict(sorted(labels.items())))[:16]


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(path, "must be a JSON object")
    return value


def _labels(value: object, path: str) -> dict[str, str]:
    labels = _object(value, path)
    for key, item in labels.items():
        if not isinstance(item, str):
            raise InputError(f"{path}.{key}", "label values must be strings")
    return labels


def _instant(value: object, path: str) -> datetime:
    if not isinstance(value, str):
        raise InputError(
            path,
            "is required: an ISO 8601 instant"
            if value is None
            else "must be an ISO 8601 instant as text",
        )
    return parse_instant(value, path)


def _identity(value: object, path: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, "must be a non-empty string")
    if value != value.strip():
        raise InputError(path, "must not start or end with spaces")
    if len(value) > limit:
        raise InputError(path, f"longer than {limit} characters")
    return value


def _required_text(body: Mapping[str, Any], key: str, where: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}.{key}", "is required: a non-empty string")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
