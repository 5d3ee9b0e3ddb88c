"""Service desk KPIs per period and group, computed from the per-ticket facts documents alone.

Pure functions over what ``Projections.facts()`` returns: no store, no wall clock. Every
definition (the events that start and stop a measure, calendar or business time, which period
a ticket counts in, how reopened tickets count) is written in docs/kpis.md; this module is
that document in code. Durations are calendar time in seconds; SLA attainment is the outcome
of the SLA clocks, which run in the business time of their policy.

This module is the API and the one import its users need; the parts live beside it in
``kpis_types`` (results), ``kpis_periods`` (windows), ``kpis_facts`` (parsed tickets),
``kpis_desk`` (desk KPIs) and ``kpis_feedback`` (call-backs, satisfaction, complaints).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from opsledger.projections.kpis_desk import (
    AGEING,
    MONITORING_SOURCES,
    OUTAGE_PRIORITIES,
    SOLVED_TARGET,
    SOLVED_WITHIN,
    compute,
    mtbf_of,
    sla,
)
from opsledger.projections.kpis_facts import UNSET, grouped, prepare
from opsledger.projections.kpis_periods import measured_until, month, span, window_of, windows
from opsledger.projections.kpis_types import (
    Attainment,
    Backlog,
    Callbacks,
    Changes,
    Complaints,
    Durations,
    Escalation,
    Facts,
    GroupBy,
    Kpis,
    Mtbf,
    Period,
    PeriodKpis,
    Problems,
    Rate,
    Result,
    Satisfaction,
    SlaAttainment,
    Window,
)

__all__ = [
    "AGEING",
    "DEFAULT_KINDS",
    "MONITORING_SOURCES",
    "OUTAGE_PRIORITIES",
    "SOLVED_TARGET",
    "SOLVED_WITHIN",
    "UNSET",
    "Attainment",
    "Backlog",
    "Callbacks",
    "Changes",
    "Complaints",
    "Durations",
    "Escalation",
    "Facts",
    "GroupBy",
    "Kpis",
    "Mtbf",
    "Period",
    "PeriodKpis",
    "Problems",
    "Rate",
    "Result",
    "Satisfaction",
    "SlaAttainment",
    "Window",
    "attainment_by_priority",
    "kpis",
    "kpis_by",
    "month",
    "mtbf",
    "series",
    "window_of",
    "windows",
]

#: The ticket kinds the desk KPIs (MTTA ... complaints) cover unless told otherwise.
DEFAULT_KINDS: tuple[str, ...] = ("incident",)


def kpis(
    facts: Facts,
    start: datetime,
    end: datetime,
    *,
    kinds: Sequence[str] = DEFAULT_KINDS,
    as_of: datetime | None = None,
    label: str = "",
) -> Kpis:
    """Every KPI for ``[start, end)``; ``as_of`` caps backlog and MTBF at what is known."""
    return compute(prepare(facts), span(start, end, label), kinds, as_of)


def kpis_by(
    facts: Facts,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    *,
    kinds: Sequence[str] = DEFAULT_KINDS,
    as_of: datetime | None = None,
    label: str = "",
) -> dict[str, Kpis]:
    """Every KPI per value of ``group_by`` (a ticket's current value; ``UNSET`` when none)."""
    window = span(start, end, label)
    return {
        key: compute(group, window, kinds, as_of)
        for key, group in grouped(prepare(facts), window, group_by).items()
    }


def series(
    facts: Facts,
    start: datetime,
    end: datetime,
    *,
    period: Period = "month",
    tz: str = "UTC",
    group_by: GroupBy | None = None,
    kinds: Sequence[str] = DEFAULT_KINDS,
    as_of: datetime | None = None,
) -> list[PeriodKpis]:
    """The KPIs of each whole period (in time zone ``tz``) overlapping ``[start, end)``."""
    tickets = prepare(facts)
    result = []
    for window in windows(start, end, period, tz):
        groups = (
            {
                k: compute(g, window, kinds, as_of)
                for k, g in grouped(tickets, window, group_by).items()
            }
            if group_by is not None
            else {}
        )
        result.append(PeriodKpis(compute(tickets, window, kinds, as_of), group_by, groups))
    return result


def attainment_by_priority(
    facts: Facts, start: datetime, end: datetime, *, kinds: Sequence[str] = DEFAULT_KINDS
) -> dict[str, SlaAttainment]:
    """SLA attainment for response and resolution per priority, P1 first."""
    window = span(start, end)
    tickets = [t for t in prepare(facts) if t.kind in kinds]
    return {key: sla(group, window) for key, group in grouped(tickets, window, "priority").items()}


def mtbf(
    facts: Facts,
    start: datetime,
    end: datetime,
    by: Literal["service", "ci"] = "service",
    *,
    as_of: datetime | None = None,
) -> dict[str, Mtbf]:
    """MTBF per service or CI that had an incident before ``end`` (tickets without one left out)."""
    window = span(start, end)
    until = measured_until(window, as_of)
    incidents = [t for t in prepare(facts) if t.kind == "incident"]
    return {
        key: mtbf_of(group, window.start, until)
        for key, group in grouped(incidents, window, by).items()
        if key != UNSET
    }
