"""The monitoring adapter's one typed settings object, from ``OPSLEDGER_MONITORING_*`` or JSON.

Built at the entry point (the plugin, ``opsledger serve``) and passed down: the receivers and
the mapping never read the environment themselves. Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from opsledger.core.domain.errors import InputError
from opsledger.core.domain.priority import parse_impact, parse_urgency
from opsledger.core.inbound import THRESHOLD_FIELDS
from opsledger.core.settings import adapter_config, parse_flag

PREFIX = "OPSLEDGER_MONITORING_"
#: The receivers, each a source with its own secrets: the path under /hooks/monitoring.
SOURCES = ("alertmanager", "grafana", "pagerduty", "inbound")
RESOLVE_RULES = ("resolve", "annotate")
#: Alertmanager/Grafana correlation: per alert, per webhook group, or ``labels:<l1>,<l2>``.
CORRELATE_BY = ("fingerprint", "group")
LABELS_PREFIX = "labels:"
#: A group of 1,000 Alertmanager alerts is about 1.5 MB; the API's 1 MiB is too small.
DEFAULT_MAX_BODY_BYTES = 8 * 1_048_576
#: severity -> (impact, urgency); issue 9's defaults.
DEFAULT_SEVERITY: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "critical": ("high", "high"),
        "error": ("high", "medium"),
        "major": ("high", "medium"),
        "warning": ("medium", "medium"),
        "info": ("low", "low"),
    }
)
#: The flapping and storm settings, passed on with every inbound command.
THRESHOLDS = THRESHOLD_FIELDS


@dataclass(frozen=True, slots=True, repr=False)
class SourceAuth:
    """How one source proves itself: a bearer token, an HMAC-SHA256 secret, or both (then
    both are checked). A source with neither is refused: receivers fail closed."""

    token: str | None = None
    hmac_secret: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.token) or bool(self.hmac_secret)

    def __repr__(self) -> str:  # never the secrets themselves
        token = "***" if self.token else None
        secret = "***" if self.hmac_secret else None
        return f"SourceAuth(token={token}, hmac_secret={secret})"


@dataclass(frozen=True, slots=True)
class MonitoringSettings:
    """Everything the monitoring adapter is told; see docs/monitoring.md for each key."""

    enabled: bool = False
    sources: Mapping[str, SourceAuth] = field(default_factory=dict)
    severity: Mapping[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    #: the severity of an alert that names none (or an unknown one)
    default_severity: str = "warning"
    #: what a resolved alert does: resolve the incident, or only add a work note
    resolve_rule: str = "resolve"
    #: what one incident stands for (Alertmanager and Grafana): ``fingerprint`` (one alert),
    #: ``group`` (the webhook's groupKey) or ``labels:<l1>,<l2>`` (those labels' values)
    correlate_by: str = "fingerprint"
    #: labels read for the service, first present wins
    service_labels: tuple[str, ...] = ("service", "job")
    #: labels read for a configuration item: a CI number is used as it is, any other value
    #: (and a ``host:port`` value's host) is a name the engine looks the CI up by
    ci_labels: tuple[str, ...] = ("ci", "instance", "job", "service")
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: flapping: this many open/resolve changes of one alert within flap_window_s seconds
    #: suspend its incident's auto-resolve (0: off)
    flap_changes: int = 0
    flap_window_s: int = 3600
    #: storms: more incidents than this from one source within storm_window_s seconds are
    #: linked to one parent incident (0: off)
    storm_threshold: int = 0
    storm_window_s: int = 300

    def __post_init__(self) -> None:
        if self.resolve_rule not in RESOLVE_RULES:
            raise InputError(
                "resolve_rule", f"{self.resolve_rule!r} is not one of resolve, annotate"
            )
        _ = self.correlation_labels  # refuses a bad correlate_by, naming it
        for name, (impact, urgency) in self.severity.items():
            parse_impact(impact)
            parse_urgency(urgency)
            if name != name.lower():
                raise InputError(f"severity.{name}", "severity names are lower case")
        if self.default_severity not in self.severity:
            raise InputError("default_severity", f"{self.default_severity!r} is not in the table")
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise InputError(f"sources.{unknown[0]}", f"not one of {', '.join(SOURCES)}")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1024:
            raise InputError("max_body_bytes", "must be an integer of at least 1024")
        for name in THRESHOLDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(name, "must be a whole number, 0 or more")
        if self.flap_changes == 1:
            raise InputError("flap_changes", "must be 0 (off) or at least 2")
        for name in ("flap_window_s", "storm_window_s"):
            if getattr(self, name) < 1:
                raise InputError(name, "must be at least 1 second")

    @property
    def correlation_labels(self) -> tuple[str, ...]:
        """The label names of a ``labels:`` rule; () for ``fingerprint`` and ``group``."""
        rule = self.correlate_by
        if not isinstance(rule, str):
            raise InputError("correlate_by", "must be a string")
        if rule in CORRELATE_BY:
            return ()
        if not rule.startswith(LABELS_PREFIX):
            raise InputError(
                "correlate_by", f"{rule!r} is not fingerprint, group or labels:<l1>,<l2>"
            )
        names = tuple(name.strip() for name in rule[len(LABELS_PREFIX) :].split(","))
        if not all(names):
            raise InputError("correlate_by", "labels: needs label names separated by commas")
        if len(set(names)) != len(names):
            raise InputError("correlate_by", "names a label twice")
        return names

    def auth(self, source: str) -> SourceAuth:
        return self.sources.get(source, SourceAuth())

    def impact_urgency(self, severity: str | None) -> tuple[str, str]:
        """The table's row for ``severity`` (case-insensitive), else the default row."""
        row = self.severity.get((severity or "").strip().lower())
        return row if row is not None else self.severity[self.default_severity]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MonitoringSettings:
        """From a JSON object (the config file): the keys are this class's fields;
        ``sources`` maps a source to ``{"token": ..., "hmac_secret": ...}``."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InputError(unknown[0], "not a monitoring setting")
        values: dict[str, Any] = dict(data)
        if "enabled" in values:
            values["enabled"] = parse_flag("enabled", values["enabled"])
        if "sources" in values:
            values["sources"] = _sources(values["sources"])
        if "severity" in values:
            values["severity"] = _severity(values["severity"])
        for name in ("service_labels", "ci_labels"):
            if name in values:
                labels = values[name]
                if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                    raise InputError(name, "must be a list of label names")
                values[name] = tuple(labels)
        for name in ("default_severity", "resolve_rule", "correlate_by"):
            if name in values and not isinstance(values[name], str):
                raise InputError(name, "must be a string")
        for name in ("max_body_bytes", *THRESHOLDS):
            if name in values and (
                isinstance(values[name], bool) or not isinstance(values[name], int)
            ):
                raise InputError(name, "must be an integer")
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MonitoringSettings:
        """``OPSLEDGER_MONITORING_CONFIG`` (a JSON file) first, then single variables over it:
        ``ENABLED``, ``RESOLVE_RULE``, ``CORRELATE_BY``, ``DEFAULT_SEVERITY``, ``MAX_BODY_BYTES``,
        ``SEVERITY`` (JSON), ``FLAP_CHANGES``, ``FLAP_WINDOW_S``, ``STORM_THRESHOLD``,
        ``STORM_WINDOW_S``, and per source ``<SOURCE>_TOKEN`` and ``<SOURCE>_HMAC_SECRET``."""
        env = os.environ if environ is None else environ
        data = adapter_config(env, PREFIX)
        for suffix, name in (
            ("RESOLVE_RULE", "resolve_rule"),
            ("CORRELATE_BY", "correlate_by"),
            ("DEFAULT_SEVERITY", "default_severity"),
        ):
            if PREFIX + suffix in env:
                data[name] = env[PREFIX + suffix].strip()
        for name in ("max_body_bytes", *THRESHOLDS):
            variable = PREFIX + name.upper()
            if variable in env:
                text = env[variable].strip()
                if not text.isascii() or not text.isdigit():
                    raise InputError(variable, "must be a whole number")
                data[name] = int(text)
        if PREFIX + "SEVERITY" in env:
            try:
                data["severity"] = json.loads(env[PREFIX + "SEVERITY"])
            except ValueError:
                raise InputError(PREFIX + "SEVERITY", "is not valid JSON") from None
        raw = data.get("sources", {})
        if not isinstance(raw, dict):
            raise InputError("sources", "must be an object of source -> secrets")
        sources = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
        for source in SOURCES:
            for suffix, key in (("TOKEN", "token"), ("HMAC_SECRET", "hmac_secret")):
                value = env.get(f"{PREFIX}{source.upper()}_{suffix}")
                if value:
                    sources.setdefault(source, {})[key] = value
        if sources:
            data["sources"] = sources
        return cls.from_mapping(data)


def _sources(value: object) -> dict[str, SourceAuth]:
    if not isinstance(value, dict):
        raise InputError("sources", "must be an object of source -> secrets")
    out: dict[str, SourceAuth] = {}
    for source, spec in value.items():
        if isinstance(spec, SourceAuth):
            out[source] = spec
            continue
        if not isinstance(spec, dict) or set(spec) - {"token", "hmac_secret"}:
            raise InputError(f"sources.{source}", "must be {token, hmac_secret}")
        for key, secret in spec.items():
            if secret is not None and (not isinstance(secret, str) or not secret.strip()):
                raise InputError(f"sources.{source}.{key}", "must be a non-empty string")
        out[source] = SourceAuth(token=spec.get("token"), hmac_secret=spec.get("hmac_secret"))
    return out


def _severity(value: object) -> dict[str, tuple[str, str]]:
    if not isinstance(value, dict):
        raise InputError("severity", "must be an object of severity -> [impact, urgency]")
    table = dict(DEFAULT_SEVERITY)
    for name, row in value.items():
        if (
            not isinstance(row, list | tuple)
            or len(row) != 2
            or not all(isinstance(x, str) for x in row)
        ):
            raise InputError(f"severity.{name}", "must be [impact, urgency]")
        table[str(name).lower()] = (row[0], row[1])
    return table
