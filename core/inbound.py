"""The generic inbound event: the one shape every adapter translates its source's payload into.

Monitoring, mail and JIRA adapters only translate; deduplication, acknowledging, resolving and
reopening are decided once, by the ``IngestInbound`` handler, from the rules checked here.
See docs/inbound.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.core.clock import ensure_utc, parse_instant
from opsledger.core.commands import IngestInbound
from opsledger.core.domain.correlation import InboundState
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.priority import parse_impact, parse_urgency

#: Kinds an inbound event may open. A change needs a plan, a risk and an approval, which no
#: source's event carries; it is opened through ``OpenTicket``.
INBOUND_KINDS = ("incident", "service_request", "problem")
SOURCE_LIMIT = 100
EXTERNAL_ID_LIMIT = 1_000
#: at most this many names to look a configuration item up by
CI_NAMES_LIMIT = 20
#: JSON nesting deeper than this in ``details`` is refused rather than walked.
DETAILS_DEPTH = 32
#: Bounds of the flapping and storm settings: the aggregates keep that many instants.
FLAP_CHANGES_LIMIT = 1_000
STORM_THRESHOLD_LIMIT = 100_000
WINDOW_LIMIT_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class InboundField:
    """One key of the inbound JSON event: its JSON type, whether it must be there, its meaning."""

    name: str
    type: str  # text, optional text, instant, boolean, object, text list
    required: bool
    doc: str


INBOUND_FIELDS: tuple[InboundField, ...] = (
    InboundField("source", "text", True, "the sending system, e.g. alertmanager, pagerduty"),
    InboundField(
        "external_id", "text", True,
        "the source's own identity of the thing: the correlation key (fingerprint, dedup_key, "
        "thread id, JIRA key)",
    ),
    InboundField("state", "text", True, "open, acknowledge, resolve or update"),
    InboundField("kind", "text", False, "incident (default), service_request or problem"),
    InboundField("summary", "text", False, "one line; required when state is open"),
    InboundField(
        "description", "text", False,
        "open: the ticket's description; resolve: resolution notes; update: the work note "
        "(required)",
    ),
    InboundField("impact", "text", False, "high, medium (default) or low"),
    InboundField("urgency", "text", False, "high, medium (default) or low"),
    InboundField("service", "optional text", False, "the affected service"),
    InboundField("ci", "optional text", False, "a configuration item number, e.g. CI-000042"),
    InboundField(
        "ci_names", "text list", False,
        "names to look a configuration item up by when ci is not given, e.g. an alert's "
        "instance or job: the first that names exactly one CI not retired is used",
    ),
    InboundField("reporter", "text", False, "who reported it (default: the actor)"),
    InboundField("customer", "optional text", False, "the customer it concerns"),
    InboundField(
        "occurred_at", "instant", False,
        "the source's own instant (alert startsAt): a new ticket's opened instant",
    ),
    InboundField("details", "object", False, "labels, links: recorded as they are, never read"),
    InboundField("resolve_code", "text", False, "resolution code of a resolve"),
    InboundField(
        "reopen", "boolean", False,
        "true (default): firing again within the reopen window reopens the resolved ticket; "
        "false: a new ticket is opened, linked to the old one",
    ),
)  # fmt: skip
_BY_NAME = {f.name: f for f in INBOUND_FIELDS}
#: Fields of the command that are not the event's: the adapter's flapping and storm settings
#: (``IngestInbound``), set in Python by the adapter that builds the command.
THRESHOLD_FIELDS = ("flap_changes", "flap_window_s", "storm_threshold", "storm_window_s")


def inbound_command(
    payload: Mapping[str, Any],
    *,
    at: datetime | None = None,
    idempotency_key: str | None = None,
    actor: str | None = None,
) -> IngestInbound:
    """Build the command from a JSON-native event, naming the first bad field.

    ``at`` is the receipt instant (None: the engine's clock when it runs). The actor defaults
    to the source's name and the idempotency key to :func:`inbound_key`.
    """
    if not isinstance(payload, Mapping):
        raise InputError("event", f"expected a JSON object, not {type(payload).__name__}")
    unknown = sorted(str(k) for k in payload if k not in _BY_NAME)
    if unknown:
        first = unknown[0] if unknown[0].strip() else repr(unknown[0])
        listed = ", ".join(repr(k) for k in unknown)
        raise InputError(first, f"not a field of the inbound event (unknown: {listed})")
    for spec in INBOUND_FIELDS:
        if spec.required and spec.name not in payload:
            raise InputError(spec.name, "is required")
    values = {name: _typed(_BY_NAME[name], value) for name, value in payload.items()}
    source = values["source"]
    cmd = IngestInbound(
        **values,
        actor=actor if actor is not None else source,
        at=at,
        idempotency_key=(
            idempotency_key
            if idempotency_key is not None
            else inbound_key(
                source, values["external_id"], values["state"], values.get("occurred_at")
            )
        ),
    )
    validate_inbound(cmd)
    return cmd


def _typed(spec: InboundField, value: Any) -> Any:
    if spec.type == "instant":
        if value is None:
            return None
        if not isinstance(value, str):
            raise InputError(spec.name, "must be an ISO 8601 instant as text")
        return parse_instant(value, spec.name)
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise InputError(spec.name, "must be true or false")
        return value
    if spec.type == "text list":
        if not isinstance(value, list):
            raise InputError(spec.name, "must be a JSON array of strings")
        return tuple(value)
    if spec.type == "object":
        if not isinstance(value, dict):
            raise InputError(spec.name, "must be a JSON object")
        return value
    if value is None and spec.type == "optional text":
        return None
    if not isinstance(value, str):
        raise InputError(spec.name, "must be a string")
    return value


def inbound_key(
    source: str, external_id: str, state: str, occurred_at: datetime | None
) -> str | None:
    """The default idempotency key: one delivery is (source, external id, state, source instant).

    A resent report (Alertmanager resends the whole group every group interval, with the same
    startsAt) is then a duplicate and changes nothing. Without the source's instant nothing
    tells a resend from a genuine repeat, so there is no default key (None) and every
    delivery counts. Adapters with a better delivery id (a Message-ID, a webhook id) pass it.
    """
    if occurred_at is None:
        return None
    instant = ensure_utc(occurred_at, "occurred_at").isoformat()
    return "inbound:" + json.dumps([source, external_id, state, instant], ensure_ascii=False)


def validate_inbound(cmd: IngestInbound) -> InboundState:
    """Check what the handler relies on, naming the field; returns the state."""
    _identity("source", cmd.source, SOURCE_LIMIT)
    _identity("external_id", cmd.external_id, EXTERNAL_ID_LIMIT)
    if not isinstance(cmd.state, str):
        raise InputError("state", "must be a string")
    try:
        state = InboundState(cmd.state)
    except ValueError:
        allowed = ", ".join(s.value for s in InboundState)
        raise InputError("state", f"{cmd.state!r} is not one of {allowed}") from None
    if cmd.kind not in INBOUND_KINDS:
        raise InputError("kind", f"{cmd.kind!r} is not one of {', '.join(INBOUND_KINDS)}")
    parse_impact(cmd.impact)
    parse_urgency(cmd.urgency)
    for name in ("summary", "description", "reporter"):
        if not isinstance(getattr(cmd, name), str):
            raise InputError(name, "must be a string")
    for name in ("service", "ci", "customer"):
        if getattr(cmd, name) is not None and not isinstance(getattr(cmd, name), str):
            raise InputError(name, "must be a string or null")
    if not isinstance(cmd.ci_names, tuple | list) or len(cmd.ci_names) > CI_NAMES_LIMIT:
        raise InputError("ci_names", f"must be a list of at most {CI_NAMES_LIMIT} names")
    for i, name in enumerate(cmd.ci_names):
        if not isinstance(name, str) or not name.strip() or len(name) > EXTERNAL_ID_LIMIT:
            raise InputError(f"ci_names[{i}]", "must be a non-empty string, not too long")
    if not isinstance(cmd.resolve_code, str) or not cmd.resolve_code.strip():
        raise InputError("resolve_code", "must be a non-empty string")
    if not isinstance(cmd.reopen, bool):
        raise InputError("reopen", "must be true or false")
    _whole("flap_changes", cmd.flap_changes, 0, FLAP_CHANGES_LIMIT)
    if cmd.flap_changes == 1:
        raise InputError("flap_changes", "must be 0 (off) or at least 2: one change is no flap")
    _whole("flap_window_s", cmd.flap_window_s, 1, WINDOW_LIMIT_S)
    _whole("storm_threshold", cmd.storm_threshold, 0, STORM_THRESHOLD_LIMIT)
    _whole("storm_window_s", cmd.storm_window_s, 1, WINDOW_LIMIT_S)
    if cmd.occurred_at is not None:
        ensure_utc(cmd.occurred_at, "occurred_at")
    if not isinstance(cmd.details, dict):
        raise InputError("details", "must be a JSON object")
    _json_native("details", cmd.details, 0)
    if state is InboundState.OPEN and not cmd.summary.strip():
        raise InputError("summary", "must be a non-empty string when state is open")
    if state is InboundState.UPDATE and not cmd.description.strip():
        raise InputError("description", "must be a non-empty string when state is update")
    return state


def _identity(name: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(name, "must be a non-empty string")
    if value != value.strip():
        raise InputError(name, "must not start or end with spaces")
    if len(value) > limit:
        raise InputError(name, f"longer than {limit} characters")


def _whole(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, "must be a whole number")
    if not low <= value <= high:
        raise InputError(name, f"{value} is not from {low} to {high}")


def _json_native(where: str, value: object, depth: int) -> None:
    """Refuse what the event log could not store as plain JSON, naming the path."""
    if depth > DETAILS_DEPTH:
        raise InputError(where, f"nested deeper than {DETAILS_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:  # what the event log's JSON codec can store
            raise InputError(where, "is outside the 64-bit integer range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(where, f"{value} is not a JSON number")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _json_native(f"{where}[{i}]", item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(where, f"key {key!r} is not a string")
            _json_native(f"{where}.{key}", item, depth + 1)
        return
    raise InputError(where, f"{type(value).__name__} is not a JSON value")
