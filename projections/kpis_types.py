"""The KPI result types: frozen values whose ``to_dict`` is the JSON the report and API serve.

Kept apart from the arithmetic so the report, dashboard and CLI can name a figure's type
without reading how it is computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Literal

Facts = Iterable[Mapping[str, Any]]
Period = Literal["day", "week", "month"]
GroupBy = Literal["service", "ci", "group", "priority"]


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _json(value: Any) -> Any:
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _json(v) for key, v in value.items()}
    return value


class Result:
    """JSON-native ``to_dict``: the fields, then the ``derived`` rates, nested results as dicts."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]
    derived: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        names = [f.name for f in fields(self)] + list(self.derived)
        return {name: _json(getattr(self, name)) for name in names}


@dataclass(frozen=True, slots=True)
class Window(Result):
    """A half-open interval ``[start, end)`` of UTC instants, with a label such as 2026-11."""

    start: datetime
    end: datetime
    label: str

    def contains(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Durations(Result):
    """Calendar durations in seconds: count, mean, median, 90th percentile (nearest rank)."""

    count: int
    mean_s: float | None
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, micros: Iterable[int]) -> Durations:
        values = sorted(micros)
        n = len(values)
        if n == 0:
            return cls(0, None, None, None)
        middle = values[n // 2] * 2 if n % 2 else values[n // 2 - 1] + values[n // 2]
        # one correctly rounded division each, so whole-second inputs give exact results
        return cls(
            n,
            sum(values) / (n * 1_000_000),
            middle / 2_000_000,
            values[(9 * n + 9) // 10 - 1] / 1e6,
        )


@dataclass(frozen=True, slots=True)
class Attainment(Result):
    """SLA outcomes of one metric: met and breached decide the rate; running is excluded."""

    derived = ("rate",)

    met: int = 0
    breached: int = 0
    running: int = 0

    @property
    def rate(self) -> float | None:
        return _ratio(self.met, self.met + self.breached)


@dataclass(frozen=True, slots=True)
class SlaAttainment(Result):
    response: Attainment
    resolution: Attainment


@dataclass(frozen=True, slots=True)
class Rate(Result):
    """``count`` of ``total`` tickets; ``on_target`` when a target is set and the rate known."""

    derived = ("rate", "on_target")

    count: int
    total: int
    target: float | None = None

    @property
    def rate(self) -> float | None:
        return _ratio(self.count, self.total)

    @property
    def on_target(self) -> bool | None:
        rate = self.rate
        return None if rate is None or self.target is None else rate >= self.target


@dataclass(frozen=True, slots=True)
class Escalation(Result):
    """Of ``total`` resolved tickets: escalated functionally, hierarchically, either."""

    derived = ("rate",)

    total: int
    functional: int
    hierarchical: int
    escalated: int

    @property
    def rate(self) -> float | None:
        return _ratio(self.escalated, self.total)


@dataclass(frozen=True, slots=True)
class Backlog(Result):
    """Tickets open at the end of the window, and how long they had been open (``AGEING``)."""

    open: int
    ageing: dict[str, int]


@dataclass(frozen=True, slots=True)
class Satisfaction(Result):
    """Survey scores (1-5) of the tickets resolved in the window."""

    derived = ("average", "response_rate")

    resolved: int
    surveyed: int
    score_total: int

    @property
    def average(self) -> float | None:
        return _ratio(self.score_total, self.surveyed)

    @property
    def response_rate(self) -> float | None:
        return _ratio(self.surveyed, self.resolved)


@dataclass(frozen=True, slots=True)
class Complaints(Result):
    count: int
    tickets: int


@dataclass(frozen=True, slots=True)
class Callbacks(Result):
    """Satisfaction call-backs: requested, done, and done within their OLA target or not."""

    derived = ("within_target_rate",)

    requested: int = 0
    done: int = 0
    reached: int = 0
    within_target: int = 0
    breached: int = 0
    pending: int = 0

    @property
    def within_target_rate(self) -> float | None:
        return _ratio(self.within_target, self.within_target + self.breached)


@dataclass(frozen=True, slots=True)
class Changes(Result):
    """Implementations completed in the window, and incidents opened in it blamed on a change."""

    derived = ("success_rate",)

    implemented: int
    succeeded: int
    failed: int
    incidents_caused: int
    causing_changes: int

    @property
    def success_rate(self) -> float | None:
        return _ratio(self.succeeded, self.implemented)


@dataclass(frozen=True, slots=True)
class Problems(Result):
    opened: int
    known_errors: int


@dataclass(frozen=True, slots=True)
class Mtbf(Result):
    """Mean time between failures: time without an open incident / incidents opened."""

    derived = ("mtbf_s",)

    failures: int
    uptime_s: float
    downtime_s: float

    @property
    def mtbf_s(self) -> float | None:
        return _ratio(self.uptime_s, self.failures)


@dataclass(frozen=True, slots=True)
class Kpis(Result):
    """Every KPI of one window (and one group, when grouped); see docs/kpis.md."""

    window: Window
    opened: int
    resolved: int
    mtta: Durations
    mttr: Durations
    sla: SlaAttainment
    solved_24h: Rate
    fcr: Rate
    reopen: Rate
    escalation: Escalation
    backlog: Backlog
    satisfaction: Satisfaction
    complaints: Complaints
    callbacks: Callbacks
    changes: Changes
    problems: Problems
    mtbf: Mtbf
    #: monitoring incidents only: the alert's start (``opened_at``) to the last resolution
    detected_to_restored: Durations


@dataclass(frozen=True, slots=True)
class PeriodKpis(Result):
    """One period of a series: the total, and per group when a grouping was asked for."""

    derived = ("window",)

    total: Kpis
    group_by: str | None = None
    groups: dict[str, Kpis] = field(default_factory=dict)

    @property
    def window(self) -> Window:
        return self.total.window
