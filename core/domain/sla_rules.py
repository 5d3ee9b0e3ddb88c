"""How ticket events drive SLA clocks: the start, pause and stop conditions of the policies.

``react`` looks at the events a command just recorded on a ticket and records the clock events
that follow from them, at the same instant. It never reads the wall clock; policy versions come
from a :class:`PolicySource`, and a running clock keeps the rules of the version it started under.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from opsledger.core.domain.clocks import SLA_ACTOR, PolicySource
from opsledger.core.domain.sla import Agreement, Metric, SlaPolicy, choose_sla
from opsledger.core.domain.ticket import Ticket, TicketState

_TICKET_METRICS = (Metric.RESPONSE, Metric.RESOLUTION, Metric.UPDATE)


def clock_key(policy: SlaPolicy, metric: Metric, scope: str = "", cycle: int = 1) -> str:
    """``sla/gold/response``; OLA clocks add the group (``ola/net/network-l2/resolution``) and
    later cycles a suffix (``sla/gold/update#3``), so every cycle keeps its own state."""
    middle = f"/{scope}" if scope else ""
    suffix = f"#{cycle}" if cycle > 1 else ""
    return f"{policy.agreement.value}/{policy.name}{middle}/{metric.value}{suffix}"


def _start_all(
    ticket: Ticket,
    policy: SlaPolicy,
    at: datetime,
    scope: str = "",
    cycle: int = 1,
    metrics: Iterable[Metric] = _TICKET_METRICS,
) -> None:
    targets = policy.targets.get(ticket.priority)
    if targets is None:
        return
    # A clock that starts while the ticket waits on a pausing hold (a new update cycle, a new
    # group's OLA, a priority change from_change) waits for the resume like the others.
    # UC clocks are the exception: the hold is what they measure.
    held = (
        ticket.state == TicketState.ON_HOLD
        and ticket.hold_reason in policy.pause_on
        and policy.agreement is not Agreement.UC
    )
    for metric in metrics:
        target = targets.get(metric)
        if target is not None:
            key = clock_key(policy, metric, scope, cycle)
            ticket.start_clock(
                key=key,
                policy=policy,
                metric=metric,
                target=target,
                calendar=policy.calendars[targets.calendar],
                at=at,
                cycle=cycle,
            )
            if held:
                ticket.pause_clock(key, reason=str(ticket.hold_reason), at=at)


def _policy_of(ticket: Ticket, key: str, policies: PolicySource) -> SlaPolicy:
    clock = ticket.clocks[key]
    return policies.version(clock["policy"], clock["version"])


def _open(ticket: Ticket, *, agreement: Agreement | None = None) -> list[str]:
    return [
        k
        for k in ticket.open_clocks()
        if agreement is None or ticket.clocks[k]["agreement"] == agreement.value
    ]


def _stop(ticket: Ticket, keys: Iterable[str], at: datetime) -> None:
    for key in keys:
        if ticket.clocks[key]["status"] in ("running", "paused"):
            ticket.stop_clock(key, at=at)


def _metric(ticket: Ticket, key: str) -> str:
    return str(ticket.clocks[key]["metric"])


def _scope(ticket: Ticket, key: str) -> str:
    """The group or vendor of an OLA/UC clock, read exactly (a policy may share its name)."""
    clock = ticket.clocks[key]
    middle = key[len(f"{clock['agreement']}/{clock['policy']}/") :]
    return middle.rpartition("/")[0]


def _selects(policy: SlaPolicy, ticket: Ticket) -> bool:
    return policy.selects(
        kind=ticket.kind.value,
        priority=ticket.priority,
        service=ticket.service,
        customer=ticket.customer,
    )


def _customer_sla(ticket: Ticket, policies: PolicySource) -> SlaPolicy | None:
    """The SLA that governs the ticket as it is now: the most specific match."""
    return choose_sla(
        policies.current(),
        kind=ticket.kind.value,
        priority=ticket.priority,
        service=ticket.service,
        customer=ticket.customer,
    )


def _cycles(ticket: Ticket, policy: SlaPolicy, scope: str) -> list[str]:
    """Keys of every clock ``policy`` ever started for ``scope``, whatever their metric."""
    return [
        k
        for k, c in ticket.clocks.items()
        if c["agreement"] == policy.agreement.value
        and c["policy"] == policy.name
        and _scope(ticket, k) == scope
    ]


def _next_cycle(ticket: Ticket, keys: list[str]) -> int:
    return 1 + max((int(ticket.clocks[k]["cycle"]) for k in keys), default=0)


def _ola_policies(ticket: Ticket, group: str | None, policies: PolicySource) -> list[SlaPolicy]:
    if group is None:
        return []
    return [
        p
        for p in policies.current()
        if p.agreement is Agreement.OLA and group in p.groups and _selects(p, ticket)
    ]


def _group_changed(ticket: Ticket, group: str | None, policies: PolicySource, at: datetime) -> None:
    """OLA clocks follow the ticket from group to group."""
    for key in _open(ticket, agreement=Agreement.OLA):
        if _scope(ticket, key) != group:
            _stop(ticket, [key], at)
    for policy in _ola_policies(ticket, group, policies):
        cycles = _cycles(ticket, policy, group or "")
        if not any(k in _open(ticket) for k in cycles):
            metrics = (Metric.RESPONSE, Metric.RESOLUTION)
            cycle = _next_cycle(ticket, cycles)
            _start_all(ticket, policy, at, scope=group or "", cycle=cycle, metrics=metrics)


def _vendor_awaited(ticket: Ticket, vendor: str, policies: PolicySource, at: datetime) -> None:
    """Underpinning contracts: the vendor's clocks run while the ticket waits on them."""
    for policy in policies.current():
        if (
            policy.agreement is Agreement.UC
            and vendor in policy.vendors
            and _selects(policy, ticket)
        ):
            cycle = _next_cycle(ticket, _cycles(ticket, policy, vendor))
            metrics = (Metric.RESPONSE, Metric.RESOLUTION)
            _start_all(ticket, policy, at, scope=vendor, cycle=cycle, metrics=metrics)


def react(ticket: Ticket, events: Iterable[Any], policies: PolicySource, at: datetime) -> None:
    """Record the clock events implied by ``events`` (a command's events on ``ticket``)."""
    for e in events:
        name = type(e).__name__
        if name == "Opened":
            policy = _customer_sla(ticket, policies)
            if policy is not None:
                _start_all(ticket, policy, e.timestamp)
        elif name == "Acknowledged":
            _stop(ticket, [k for k in _open(ticket) if _metric(ticket, k) == "response"], at)
        elif name == "PublicCommentAdded" and e.actor != ticket.reporter:
            _stop(ticket, [k for k in _open(ticket) if _metric(ticket, k) == "response"], at)
            for key in [k for k in _open(ticket) if _metric(ticket, k) == "update"]:
                clock = ticket.clocks[key]
                ticket.stop_clock(key, at=at)
                policy = _policy_of(ticket, key, policies)
                _start_all(ticket, policy, at, cycle=clock["cycle"] + 1, metrics=[Metric.UPDATE])
        elif name == "PutOnHold":
            for key in _open(ticket):
                clock = ticket.clocks[key]
                if (
                    clock["status"] == "running"
                    and e.reason in _policy_of(ticket, key, policies).pause_on
                ):
                    ticket.pause_clock(key, reason=e.reason, at=at)
            vendor = getattr(e, "vendor", None)
            if vendor is not None:
                _vendor_awaited(ticket, vendor, policies, at)
        elif name == "Resumed":
            _stop(ticket, _open(ticket, agreement=Agreement.UC), at)  # the vendor delivered
            for key in _open(ticket):
                if ticket.clocks[key]["status"] == "paused":
                    ticket.resume_clock(key, at=at)
        elif name == "Resolved":
            _stop(ticket, _open(ticket), at)
            _request_callback(ticket, policies, at)
        elif name == "CallbackRecorded":
            _stop(ticket, _callbacks(ticket), at)
        elif name in ("Cancelled", "Closed"):
            # a closed ticket still owes its customer the call-back; a cancelled one does not
            keep = set(_callbacks(ticket)) if name == "Closed" else set()
            for key in _open(ticket):
                if key not in keep:
                    ticket.cancel_clock(key, reason=name.lower(), at=at)
        elif name == "Reopened":
            for key in _callbacks(ticket):
                ticket.cancel_clock(key, reason="reopened", at=at)
            _reopened(ticket, policies, at)
        elif name == "PriorityChanged":
            _priority_changed(ticket, policies, at)
        elif name in ("Assigned", "EscalatedFunctionally"):
            _group_changed(ticket, ticket.group, policies, at)


def _callbacks(ticket: Ticket) -> list[str]:
    return [k for k in _open(ticket) if _metric(ticket, k) == Metric.CALLBACK.value]


def _request_callback(ticket: Ticket, policies: PolicySource, at: datetime) -> None:
    """A resolution under an OLA with a call-back target: that group calls the customer back
    within it. One call-back per resolution: the first such policy in force decides."""
    for policy in policies.current():
        if policy.agreement is not Agreement.OLA or not policy.groups:
            continue
        targets = policy.targets.get(ticket.priority)
        if targets is None or targets.callback is None or not _selects(policy, ticket):
            continue
        group = policy.groups[0]
        ticket.request_callback(group=group, actor=SLA_ACTOR, at=at)
        cycle = _next_cycle(ticket, _cycles(ticket, policy, group))
        _start_all(ticket, policy, at, scope=group, cycle=cycle, metrics=[Metric.CALLBACK])
        return


def _latest(ticket: Ticket, agreement: Agreement, metric: Metric) -> str | None:
    keys = [
        k
        for k, c in ticket.clocks.items()
        if c["agreement"] == agreement.value and c["metric"] == metric.value
    ]
    return keys[-1] if keys else None


def _reopened(ticket: Ticket, policies: PolicySource, at: datetime) -> None:
    key = _latest(ticket, Agreement.SLA, Metric.RESOLUTION)
    if key is None:
        return
    clock = ticket.clocks[key]
    if clock["status"] == "cancelled":  # the ticket left this SLA (a priority it does not cover)
        return
    policy = _policy_of(ticket, key, policies)
    if policy.on_reopen == "resume":
        ticket.resume_clock(key, at=at)
    else:
        _start_all(ticket, policy, at, cycle=clock["cycle"] + 1, metrics=[Metric.RESOLUTION])
    # the customer is owed updates again while the ticket is open again
    update = _latest(ticket, Agreement.SLA, Metric.UPDATE)
    if update is not None and ticket.clocks[update]["status"] not in ("running", "paused"):
        cycle = ticket.clocks[update]["cycle"] + 1
        _start_all(ticket, policy, at, cycle=cycle, metrics=[Metric.UPDATE])


def _priority_changed(ticket: Ticket, policies: PolicySource, at: datetime) -> None:
    if not _open(ticket, agreement=Agreement.SLA) and not any(
        c["agreement"] == Agreement.SLA.value and c["status"] in ("met", "breached")
        for c in ticket.clocks.values()
    ):
        # no SLA ran (the old priority was not covered, or every clock was cancelled by a
        # change to one that was not): a priority the policies cover starts its clocks now
        policy = _customer_sla(ticket, policies)
        if policy is not None:
            _start_all(ticket, policy, at, cycle=_next_cycle(ticket, _cycles(ticket, policy, "")))
        return
    for key in _open(ticket, agreement=Agreement.SLA):
        clock = ticket.clocks[key]
        policy = _policy_of(ticket, key, policies)
        targets = policy.targets.get(ticket.priority)
        target = targets.get(Metric(clock["metric"])) if targets else None
        if targets is None or target is None:
            ticket.cancel_clock(key, reason="priority changed", at=at)
            continue
        calendar = policy.calendars[targets.calendar]
        if policy.on_priority_change == "retroactive":
            ticket.change_target(
                key, target=target, calendar=calendar, reason="priority changed", at=at
            )
        else:
            ticket.cancel_clock(key, reason="priority changed", at=at)
            _start_all(
                ticket, policy, at, cycle=clock["cycle"] + 1, metrics=[Metric(clock["metric"])]
            )
