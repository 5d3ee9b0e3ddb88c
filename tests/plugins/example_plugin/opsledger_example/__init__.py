"""A worked opsledger plugin, written as an integrator would: routing and a pager reaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsledger.plugins import hookimpl

#: Which group owns which service (an integrator would read this from their CMDB).
OWNERS = {"payments": "payments-oncall", "email": "messaging"}

#: What the pager was asked to send: (ticket id, event version). A real plugin calls an API.
PAGED: list[tuple[str, int]] = []


@hookimpl
def opsledger_route(ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """Send tickets of a known service to its owners; P1s go to the incident manager too."""
    group = OWNERS.get(str(ticket.get("service") or ""))
    if group is None:
        return None
    return group, ("incident-manager" if ticket.get("priority") == "P1" else None)


@hookimpl
def opsledger_event_recorded(event: Any, record: Any) -> None:
    """Page when a P1 is opened; keyed by the event's position, so a retry pages once."""
    if type(event).__name__ == "Opened" and getattr(event, "priority", None) == "P1":
        key = (str(record.originator_id), record.version)
        if key not in PAGED:
            PAGED.append(key)
