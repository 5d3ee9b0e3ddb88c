"""The desk KPIs of one window: timing, SLA attainment, resolution quality, backlog, MTBF.

One pass over the tickets that can count in the window builds every figure of ``Kpis``,
so a total and each of its groups are computed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from opsledger.projections.kpis_facts import Ticket, micros
from opsledger.projections.kpis_feedback import callbacks, complaints, satisfaction
from opsledger.projections.kpis_periods import measured_until
from opsledger.projections.kpis_types import (
    Attainment,
    Backlog,
    Changes,
    Durations,
    Escalation,
    Kpis,
    Mtbf,
    Problems,
    Rate,
    SlaAttainment,
    Window,
)

SOLVED_WITHIN = timedelta(hours=24)
SOLVED_TARGET = 0.80
#: the channels (and external reference systems) of incidents a monitoring source reported
MONITORING_SOURCES = frozenset({"alertmanager", "grafana", "pagerduty"})
#: Backlog age buckets: label and exclusive upper bound of the age (None: no bound).
AGEING: tuple[tuple[str, timedelta | None], ...] = (
    ("<1d", timedelta(days=1)),
    ("1-3d", timedelta(days=3)),
    ("3-7d", timedelta(days=7)),
    ("7-30d", timedelta(days=30)),
    ("30d+", None),
)
_METRICS = ("response", "resolution")


def sla(desk: Sequence[Ticket], window: Window) -> SlaAttainment:
    counts = {m: [0, 0, 0] for m in _METRICS}
    for t in desk:
        for metric in _METRICS:
            state = t.doc.get("sla", {}).get(metric)
            if state in ("met", "breached") and window.contains(t.sla_at.get(metric)):
                counts[metric][state == "breached"] += 1
            elif state == "running" and window.contains(t.opened):
                counts[metric][2] += 1
    return SlaAttainment(*(Attainment(*counts[m]) for m in _METRICS))


#: the priorities whose incidents are outages; a P3/P4 is a degradation, not a failure
OUTAGE_PRIORITIES = frozenset({"P1", "P2"})


def _monitored(t: Ticket) -> bool:
    """An incident a monitoring source reported: its channel, or an external reference."""
    systems = {t.doc.get("channel"), *t.doc.get("external_systems", ())}
    return t.kind == "incident" and not MONITORING_SOURCES.isdisjoint(systems)


def _is_outage(t: Ticket) -> bool:
    return t.doc["priority"] in OUTAGE_PRIORITIES or bool(t.doc.get("major"))


def mtbf_of(tickets: Sequence[Ticket], start: datetime, until: datetime) -> Mtbf:
    """Failures are the outages opened in ``[start, until)``; down while any of them is open."""
    incidents = [
        t
        for t in tickets
        if t.kind == "incident" and t.doc["state"] != "cancelled" and _is_outage(t)
    ]
    spans = sorted(
        (max(a, start), min(b or until, until))
        for t in incidents
        for a, b in t.open_intervals
        if a < until and (b is None or b > start)
    )
    down, reach = 0, start
    for a, b in spans:  # the length of the union of the outages, each counted once
        if b > reach:
            down += micros(b - max(a, reach))
            reach = b
    failures = sum(1 for t in incidents if start <= t.opened < until)
    return Mtbf(failures, (micros(until - start) - down) / 1e6, down / 1e6)


def _backlog(desk: Sequence[Ticket], at: datetime) -> Backlog:
    ageing = dict.fromkeys((label for label, _ in AGEING), 0)
    open_ = [t for t in desk if t.open_at(at)]
    for t in open_:
        age = at - t.opened
        label = next(lab for lab, bound in AGEING if bound is None or age < bound)
        ageing[label] += 1
    return Backlog(len(open_), ageing)


def compute(
    tickets: Sequence[Ticket], window: Window, kinds: Sequence[str], as_of: datetime | None
) -> Kpis:
    until = measured_until(window, as_of)
    inside = window.contains
    tickets = [t for t in tickets if t.counts_in(window)]
    desk = [t for t in tickets if t.kind in kinds]
    resolved = [t for t in desk if inside(t.resolved)]
    acked = [t for t in desk if inside(t.acknowledged)]
    solved = [
        t for t in resolved
        if t.resolved and t.first_response and t.resolved - t.first_response <= SOLVED_WITHIN
    ]  # fmt: skip
    fcr = [
        t for t in resolved
        if t.doc.get("resolved_tier") == "L1" and not t.doc["reassignment_count"]
        and not t.doc["functional_escalations"] and not t.doc["reopen_count"]
    ]  # fmt: skip
    first_resolved = [t for t in desk if inside(t.first_resolved)]
    functional = {t.doc["number"] for t in resolved if t.doc["functional_escalations"]}
    hierarchical = {t.doc["number"] for t in resolved if t.doc["escalation_level"]}
    changes = [t for t in tickets if t.kind == "change" and inside(t.implemented)]
    succeeded = sum(1 for t in changes if t.doc["change_outcome"] == "succeeded")
    caused = [
        t for t in tickets
        if t.kind == "incident" and inside(t.opened) and t.doc.get("caused_by_change")
    ]  # fmt: skip
    problems = [t for t in tickets if t.kind == "problem"]
    return Kpis(
        window=window,
        opened=sum(1 for t in desk if inside(t.opened)),
        resolved=len(resolved),
        mtta=Durations.of(micros(t.acknowledged - t.opened) for t in acked if t.acknowledged),
        mttr=Durations.of(micros(t.resolved - t.opened) for t in resolved if t.resolved),
        sla=sla(desk, window),
        solved_24h=Rate(len(solved), len(resolved), SOLVED_TARGET),
        fcr=Rate(len(fcr), len(resolved)),
        reopen=Rate(sum(1 for t in first_resolved if t.doc["reopen_count"]), len(first_resolved)),
        escalation=Escalation(
            len(resolved), len(functional), len(hierarchical), len(functional | hierarchical)
        ),
        backlog=_backlog(desk, until),
        satisfaction=satisfaction(resolved),
        complaints=complaints(desk, window),
        callbacks=callbacks(desk, window),
        changes=Changes(
            implemented=len(changes),
            succeeded=succeeded,
            failed=len(changes) - succeeded,
            incidents_caused=len(caused),
            causing_changes=len({n for t in caused for n in t.doc["caused_by_change"]}),
        ),
        problems=Problems(
            opened=sum(1 for t in problems if inside(t.opened)),
            known_errors=sum(1 for t in problems if inside(t.known_error)),
        ),
        mtbf=mtbf_of(tickets, window.start, until),
        detected_to_restored=Durations.of(
            micros(t.resolved - t.opened)
            for t in tickets
            if t.resolved and inside(t.resolved) and _monitored(t)
        ),
    )
