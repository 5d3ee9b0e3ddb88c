"""The handler of ``IngestInbound``: an outside system's report decided against its ticket.

Kept apart from the ticket handlers because it is the adapters' one way in (monitoring, mail,
JIRA): correlation, repeats, reopening, flapping, storms and configuration-item lookup.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from opsledger.core import commands as c
from opsledger.core.domain.ci import CIStatus
from opsledger.core.domain.correlation import Correlation, InboundState, correlation_id
from opsledger.core.domain.errors import NotFoundError
from opsledger.core.domain.records import RecordKind, Relation
from opsledger.core.domain.storms import SourceActivity, source_activity_id
from opsledger.core.domain.ticket import ALLOWED_FROM, Ticket, TicketState
from opsledger.core.handlers import Unit, _link, _open_ticket, _optional_instant, handles
from opsledger.core.inbound import validate_inbound


@handles(c.IngestInbound)
def ingest_inbound(cmd: c.IngestInbound, u: Unit) -> str:
    """One report of an outside system, decided against the ticket its own id is linked to."""
    state = validate_inbound(cmd)
    occurred = _optional_instant(cmd.occurred_at, "occurred_at")

    def start() -> Correlation:
        return Correlation(
            source=cmd.source, external_id=cmd.external_id, actor=u.actor, timestamp=u.at
        )

    # Read once: a second look at the store could see a rival's correlation that this
    # decision did not take into account. Started here, it collides with the rival's instead.
    found = u.find(
        correlation_id(cmd.source, cmd.external_id), start if state is InboundState.OPEN else None
    )
    if found is not None and not isinstance(found, Correlation):
        raise TypeError(f"{found.id} is a {type(found).__name__}, not a Correlation")
    ticket = found.ticket if found is not None else None
    current = u.load(ticket, Ticket) if ticket is not None else None
    if found is not None and state is InboundState.OPEN:
        changed = _state_changed(cmd, u, found, state)
        target, new = _inbound_open(cmd, u, found, current, occurred)
        if new and cmd.storm_threshold:
            _count_opening(cmd, u, target, occurred)
        if changed:
            _check_flapping(cmd, u, found, target)
        return target.number
    if found is None or current is None:
        raise NotFoundError("correlation", f"{cmd.source}:{cmd.external_id}")
    if _state_changed(cmd, u, found, state):
        _check_flapping(cmd, u, found, current)
    if state is InboundState.ACKNOWLEDGE:
        if current.acknowledged_at is None and current.state in ALLOWED_FROM["acknowledge"]:
            current.acknowledge(actor=u.actor, at=u.at)
    elif state is InboundState.RESOLVE:
        if current.is_open and current.auto_resolve_suspended:
            note = f"{cmd.source} reports it cleared; auto-resolve suspended: flapping"
            current.add_comment(body=note, public=False, actor=u.actor, at=u.at)
        elif current.is_open:
            current.resolve(code=cmd.resolve_code, notes=cmd.description, actor=u.actor, at=u.at)
    else:
        current.add_comment(body=cmd.description, public=False, actor=u.actor, at=u.at)
    return current.number


def _inbound_open(
    cmd: c.IngestInbound,
    u: Unit,
    correlation: Correlation,
    current: Ticket | None,
    occurred: datetime | None,
) -> tuple[Ticket, bool]:
    """A repeat is counted, a recent resolution reopened, anything else opens a new ticket
    (then True)."""
    if current is not None:
        if current.is_open:
            current.record_occurrence(
                source=cmd.source,
                occurred_at=occurred,
                details=cmd.details,
                actor=u.actor,
                at=u.at,
            )
            return current, False
        if (
            cmd.reopen
            and current.state == TicketState.RESOLVED
            and current.resolved_at is not None
            and u.at <= current.resolved_at + u.reopen_window
        ):
            reason = f"{cmd.source} reports it again"
            current.reopen(reason=reason, window=u.reopen_window, actor=u.actor, at=u.at)
            return current, False
    # The source's own instant opens the ticket (MTTR from when it started), never later than
    # it reached us: a source clock running ahead cannot open a ticket in our future.
    opened = min(occurred, u.at) if occurred is not None else u.at
    # The classifiers (plugins) win over what the adapter mapped; the host dropped bad keys.
    classified = u.classify(_inbound_item(cmd, occurred)) or {}
    # An alert naming a CI nobody registered still opens its incident: the CI is left out
    # and the description says so (an outage must never be lost to a stale label).
    ci = classified.get("ci", cmd.ci)
    description = cmd.description
    if ci and not u.ci_exists(ci):
        description = f"{description}\n\n({cmd.source} named {ci}, which is not registered)"
        ci = None
    elif not ci and cmd.ci_names:
        ci, note = _ci_by_name(u, cmd.ci_names)
        if note:
            description = f"{description}\n\n({cmd.source}: {note})"
    request = c.OpenTicket(
        kind=classified.get("kind", cmd.kind),
        summary=cmd.summary,
        description=description.strip(),
        impact=classified.get("impact", cmd.impact),
        urgency=classified.get("urgency", cmd.urgency),
        service=classified.get("service", cmd.service),
        ci=ci,
        reporter=cmd.reporter,
        customer=cmd.customer,
        channel=cmd.source,
        received_at=u.at,
        external_system=cmd.source,
        external_id=cmd.external_id,
        actor=u.actor,
        at=opened,
    )
    ticket = _open_ticket(request, u, opened)
    if current is not None:
        _link(u, ticket, Relation.FOLLOW_UP_OF, current, source_at=opened)
    correlation.link(
        ticket.number, actor=u.actor, at=u.at, occurred_at=occurred, details=cmd.details
    )
    return ticket, True


def _state_changed(
    cmd: c.IngestInbound, u: Unit, correlation: Correlation, state: InboundState
) -> bool:
    """Whether this report flips the key between open and resolve (only watched with
    ``flap_changes``; the correlation then remembers the recent flips)."""
    if not cmd.flap_changes:
        return False
    return correlation.report_state(
        state, window_s=cmd.flap_window_s, keep=cmd.flap_changes, actor=u.actor, at=u.at
    )


def _check_flapping(
    cmd: c.IngestInbound, u: Unit, correlation: Correlation, ticket: Ticket
) -> None:
    """The ``flap_changes``-th flip within the window suspends the ticket's auto-resolve."""
    changes = len(correlation.changes)
    if ticket.is_open and changes >= cmd.flap_changes and not ticket.auto_resolve_suspended:
        ticket.record_flapping(
            source=cmd.source,
            changes=changes,
            window_s=cmd.flap_window_s,
            actor=u.actor,
            at=u.at,
        )


def _count_opening(
    cmd: c.IngestInbound, u: Unit, ticket: Ticket, occurred: datetime | None
) -> None:
    """More than ``storm_threshold`` tickets from one source within the window: a storm.

    The command that crosses the threshold opens the storm's parent incident and records
    the storm once; it and every ticket opened while the storm lasts are linked to it.
    """

    def start() -> SourceActivity:
        return SourceActivity(source=cmd.source, actor=u.actor, timestamp=u.at)

    activity = u.find(source_activity_id(cmd.source), start)
    if not isinstance(activity, SourceActivity):
        raise TypeError(f"the activity of {cmd.source!r} is not a SourceActivity")
    count = activity.count_opening(
        ticket.number,
        threshold=cmd.storm_threshold,
        window_s=cmd.storm_window_s,
        actor=u.actor,
        at=u.at,
    )
    if count <= cmd.storm_threshold:
        return
    if activity.storm is None:
        request = c.OpenTicket(
            kind=RecordKind.INCIDENT.value,
            summary=f"Alert storm from {cmd.source}",
            description=(
                f"More than {cmd.storm_threshold} tickets opened from {cmd.source} within "
                f"{cmd.storm_window_s} s; those opened during the storm are linked to this one."
            ),
            impact=ticket.impact,
            urgency=ticket.urgency,
            channel=cmd.source,
            actor=u.actor,
        )
        storm = _open_ticket(request, u, u.at)
        activity.declare_storm(
            storm.number,
            count=count,
            threshold=cmd.storm_threshold,
            window_s=cmd.storm_window_s,
            actor=u.actor,
            at=u.at,
        )
    assert activity.storm is not None  # declared above, or under way
    parent = u.load(activity.storm, Ticket)
    relation = Relation.CHILD_OF if ticket.kind is parent.kind else Relation.RELATES_TO
    opened = min(occurred, u.at) if occurred is not None else u.at
    ticket.link(relation, parent.number, actor=u.actor, at=max(opened, ticket.modified_on))
    # a batch's commands need not come in time order: the parent's history still reads forwards
    parent.link(relation.inverse, ticket.number, actor=u.actor, at=max(u.at, parent.modified_on))


def _inbound_item(cmd: c.IngestInbound, occurred: datetime | None) -> dict[str, Any]:
    """What a classifier sees: the command as JSON-native data, a copy it may not spoil."""
    return {
        "source": cmd.source,
        "external_id": cmd.external_id,
        "kind": cmd.kind,
        "summary": cmd.summary,
        "description": cmd.description,
        "impact": cmd.impact,
        "urgency": cmd.urgency,
        "service": cmd.service,
        "ci": cmd.ci,
        "ci_names": list(cmd.ci_names),
        "reporter": cmd.reporter,
        "customer": cmd.customer,
        "details": copy.deepcopy(cmd.details),
        "occurred_at": occurred.isoformat() if occurred is not None else None,
    }


def _ci_by_name(u: Unit, names: tuple[str, ...] | list[str]) -> tuple[str | None, str]:
    """The first name that points at exactly one CI in service; else None and why not.

    A name two CIs share is ambiguous: picking one would pin the incident on a guess.
    """
    ambiguous: list[str] = []
    for name in names:
        found = [ci for ci in u.ci_named(name) if ci.status != CIStatus.RETIRED]
        if len(found) == 1:
            return found[0].number, ""
        if found:
            numbers = ", ".join(sorted(ci.number for ci in found))
            ambiguous.append(f"{name!r} names {numbers}")
    listed = ", ".join(repr(n) for n in names)
    if ambiguous:
        return None, f"no single configuration item: {'; '.join(ambiguous)}"
    return None, f"no configuration item registered as {listed}"
