"""A worked opsledger plugin, written as an integrator would: classifying, routing, a pager
reaction and a small inbound adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsledger.core.inbound import inbound_command
from opsledger.plugins import hookimpl

#: Which group owns which service (an integrator would read this from their CMDB).
OWNERS = {"payments": "payments-oncall", "email": "messaging"}

#: What the pager was asked to send: (ticket id, event version). A real plugin calls an API.
PAGED: list[tuple[str, int]] = []


@hookimpl
def opsledger_classify(item: Mapping[str, Any]) -> dict[str, str] | None:
    """Alerts labelled ``team: payments`` concern the payments service, and hurt: impact high."""
    details = item["details"]  # the source's labels and links, as it sent them
    labels = details.get("labels")
    team = (labels.get("team") if isinstance(labels, Mapping) else None) or details.get("team")
    if team != "payments":
        return None  # not ours: the next classifier (or the adapter's mapping) decides
    return {"service": "payments", "impact": "high"}


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


class StartupProbe:
    """The smallest inbound adapter: on start, it reports that its source is connected.

    A real one (an IMAP poller, a queue consumer) would start a thread in ``start`` that
    translates what it sees into inbound events and submits them; ``stop`` joins it.
    """

    name = "example-probe"

    def __init__(self) -> None:
        self.receipts: list[Any] = []

    def start(self, bus: Any) -> None:
        """``bus`` is a CommandBus: the commands topic in ``opsledger worker``, or LocalBus."""
        event = {
            "source": "example",
            "external_id": "probe",
            "state": "open",
            "summary": "example source connected",
            "impact": "low",
            "urgency": "low",
            "details": {"labels": {"team": "payments"}},
        }
        # A repeated start counts an occurrence on the open ticket (same external id).
        self.receipts = bus.submit([inbound_command(event)], key="example:probe")

    def stop(self) -> None:
        self.receipts = []


@hookimpl
def opsledger_adapters() -> list[Any]:
    """Cheap to build and connects nowhere: ``opsledger plugins list`` calls this too."""
    return [StartupProbe()]
