"""Service desk KPIs per period and group, computed from the per-ticket facts documents alone.

Pure functions over what ``Projections.facts()`` returns: no store, no wall clock. Every
definition (the events that start and stop a measure, calendar or business time, which period
a ticket counts in, how reopened tickets count) is written in docs/kpis.md; this module is
that document in code. Durations are calendar time in seconds; SLA attainment is the outcome
of the SLA clocks, which run in the business time of their policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError

Facts = Iterable[Mapping[str, Any]]
Period = Literal["day", "week", "month"]
GroupBy = Literal["service", "ci", "group", "priority"]

#: The ticket kinds the desk KPIs (MTTA ... complaints) cover unless told otherwise.
DEFAULT_KINDS: tuple[str, ...] = ("incident",)
#: The group key of tickets without a value for the grouping field.
UNSET = "(none)"
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
_PRIORITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


# -- results ---------------------------------------------------------------------------------


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


# -- periods ---------------------------------------------------------------------------------


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("tz", f"{tz!r} is not an IANA time zone") from None


def _period(period: str) -> Period:
    if period not in get_args(Period):
        raise InputError("period", f"{period!r} is not one of day, week, month")
    return period  # type: ignore[return-value]


def _first_day(day: date, period: Period) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def _next_day(day: date, period: Period) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _label(day: date, period: Period) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def _window(day: date, period: Period, zone: ZoneInfo) -> Window:
    """The period starting on local ``day``: local midnight to local midnight, in UTC."""
    end = _next_day(day, period)
    return Window(
        datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC),
        datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC),
        _label(day, period),
    )


def window_of(at: datetime, period: Period = "month", tz: str = "UTC") -> Window:
    """The day, ISO week or month (in time zone ``tz``) that contains the instant ``at``."""
    zone, kind = _zone(tz), _period(period)
    local = ensure_utc(at, "at").astimezone(zone)
    return _window(_first_day(local.date(), kind), kind, zone)


def windows(
    start: datetime, end: datetime, period: Period = "month", tz: str = "UTC"
) -> list[Window]:
    """The whole periods that overlap ``[start, end)``, in order."""
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise InputError("end", "must be after start")
    zone, kind = _zone(tz), _period(period)
    day = _first_day(start.astimezone(zone).date(), kind)
    found: list[Window] = []
    while not found or found[-1].end < end:
        found.append(_window(day, kind, zone))
        day = _next_day(day, kind)
    return found


def month(label: str, tz: str = "UTC") -> Window:
    """The month ``2026-11`` in time zone ``tz`` (what ``report --month`` names)."""
    try:
        year, number = (int(part) for part in label.split("-"))
        first = date(year, number, 1)
    except ValueError:
        raise InputError("month", f"{label!r} is not a month like 2026-11") from None
    if not 1 <= year <= 9998:  # the window ends a month later, within datetime's range
        raise InputError("month", f"{label!r} is outside the years 0001 to 9998")
    return _window(first, "month", _zone(tz))


# -- the facts, parsed once ------------------------------------------------------------------


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(slots=True)
class _Ticket:
    doc: Mapping[str, Any]
    kind: str
    opened: datetime
    acknowledged: datetime | None
    resolved: datetime | None
    first_resolved: datetime | None
    open_intervals: list[tuple[datetime, datetime | None]]
    sla_at: dict[str, datetime]
    complaints: list[datetime]
    implemented: datetime | None
    known_error: datetime | None
    #: the latest call-back unless cancelled: its requested, done and decided instants
    callback: dict[str, datetime | None] | None = None
    #: the last instant any KPI reads from this ticket; None while it is open (no bound)
    horizon: datetime | None = None

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> _Ticket:
        t = cls(
            doc=doc,
            kind=doc["kind"],
            opened=datetime.fromisoformat(doc["opened_at"]),
            acknowledged=_at(doc.get("acknowledged_at")),
            resolved=_at(doc.get("resolved_at")),
            first_resolved=_at(doc.get("first_resolved_at")),
            open_intervals=[(datetime.fromisoformat(s), _at(e)) for s, e in doc["open_intervals"]],
            sla_at={m: datetime.fromisoformat(v) for m, v in doc.get("sla_at", {}).items()},
            complaints=[datetime.fromisoformat(v) for v in doc.get("complaint_times", [])],
            implemented=_at(doc.get("implemented_at")),
            known_error=_at(doc.get("known_error_at")),
        )
        callback = doc.get("callback")
        if callback and callback["state"] != "cancelled":
            t.callback = {k: _at(callback[f"{k}_at"]) for k in ("requested", "done", "decided")}
        if all(end is not None for _, end in t.open_intervals):
            instants = [t.opened, t.acknowledged, t.resolved, t.first_resolved, t.implemented,
                        t.known_error, *t.sla_at.values(), *t.complaints,
                        *(end for _, end in t.open_intervals),
                        *(t.callback or {}).values()]  # fmt: skip
            t.horizon = max(i for i in instants if i is not None)
        return t

    def counts_in(self, window: Window) -> bool:
        """Whether the ticket can count in ``window``: opened before its end, not done before."""
        return self.opened < window.end and (self.horizon is None or self.horizon >= window.start)

    def key(self, group_by: str) -> str:
        value = self.doc.get(group_by)
        return str(value) if value else UNSET

    def open_at(self, at: datetime) -> bool:
        """Open once every event before ``at`` happened."""
        return any(s < at and (e is None or e >= at) for s, e in self.open_intervals)

    @property
    def first_response(self) -> datetime | None:
        """The first acknowledgement, or the first resolution if that came earlier."""
        known = [t for t in (self.acknowledged, self.first_resolved) if t is not None]
        return min(known) if known else None


def _prepare(facts: Facts) -> list[_Ticket]:
    return [_Ticket.parse(doc) for doc in facts]


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- computing -------------------------------------------------------------------------------


def _sla(desk: Sequence[_Ticket], window: Window) -> SlaAttainment:
    counts = {m: [0, 0, 0] for m in _METRICS}
    for t in desk:
        for metric in _METRICS:
            state = t.doc.get("sla", {}).get(metric)
            if state in ("met", "breached") and window.contains(t.sla_at.get(metric)):
                counts[metric][state == "breached"] += 1
            elif state == "running" and window.contains(t.opened):
                counts[metric][2] += 1
    return SlaAttainment(*(Attainment(*counts[m]) for m in _METRICS))


def _callbacks(desk: Sequence[_Ticket], window: Window) -> Callbacks:
    """Each counts in the window holding its own instant (docs/kpis.md, call-backs)."""
    counts = dict.fromkeys(("requested", "done", "reached", "within_target", "breached",
                            "pending"), 0)  # fmt: skip
    for t in desk:
        if t.callback is None:
            continue
        doc = t.doc["callback"]
        if window.contains(t.callback["requested"]):
            counts["requested"] += 1
            counts["pending"] += doc["state"] == "due" and not doc["breached"]
        if window.contains(t.callback["done"]):
            counts["done"] += 1
            counts["reached"] += bool(doc["reached"])
        if window.contains(t.callback["decided"]):
            counts["breached" if doc["breached"] else "within_target"] += 1
    return Callbacks(**counts)


#: the priorities whose incidents are outages; a P3/P4 is a degradation, not a failure
OUTAGE_PRIORITIES = frozenset({"P1", "P2"})


def _monitored(t: _Ticket) -> bool:
    """An incident a monitoring source reported: its channel, or an external reference."""
    systems = {t.doc.get("channel"), *t.doc.get("external_systems", ())}
    return t.kind == "incident" and not MONITORING_SOURCES.isdisjoint(systems)


def _is_outage(t: _Ticket) -> bool:
    return t.doc["priority"] in OUTAGE_PRIORITIES or bool(t.doc.get("major"))


def _mtbf(tickets: Sequence[_Ticket], start: datetime, until: datetime) -> Mtbf:
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
            down += _us(b - max(a, reach))
            reach = b
    failures = sum(1 for t in incidents if start <= t.opened < until)
    return Mtbf(failures, (_us(until - start) - down) / 1e6, down / 1e6)


def _backlog(desk: Sequence[_Ticket], at: datetime) -> Backlog:
    ageing = dict.fromkeys((label for label, _ in AGEING), 0)
    open_ = [t for t in desk if t.open_at(at)]
    for t in open_:
        age = at - t.opened
        label = next(lab for lab, bound in AGEING if bound is None or age < bound)
        ageing[label] += 1
    return Backlog(len(open_), ageing)


def _measured_until(window: Window, as_of: datetime | None) -> datetime:
    if as_of is None:
        return window.end
    return max(window.start, min(window.end, ensure_utc(as_of, "as_of")))


def _compute(
    tickets: Sequence[_Ticket], window: Window, kinds: Sequence[str], as_of: datetime | None
) -> Kpis:
    until = _measured_until(window, as_of)
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
    scores = [t.doc["satisfaction"]["score"] for t in resolved if t.doc.get("satisfaction")]
    complaint_counts = [sum(1 for c in t.complaints if inside(c)) for t in desk]
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
        mtta=Durations.of(_us(t.acknowledged - t.opened) for t in acked if t.acknowledged),
        mttr=Durations.of(_us(t.resolved - t.opened) for t in resolved if t.resolved),
        sla=_sla(desk, window),
        solved_24h=Rate(len(solved), len(resolved), SOLVED_TARGET),
        fcr=Rate(len(fcr), len(resolved)),
        reopen=Rate(sum(1 for t in first_resolved if t.doc["reopen_count"]), len(first_resolved)),
        escalation=Escalation(
            len(resolved), len(functional), len(hierarchical), len(functional | hierarchical)
        ),
        backlog=_backlog(desk, until),
        satisfaction=Satisfaction(len(resolved), len(scores), sum(scores)),
        complaints=Complaints(sum(complaint_counts), sum(1 for n in complaint_counts if n)),
        callbacks=_callbacks(desk, window),
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
        mtbf=_mtbf(tickets, window.start, until),
        detected_to_restored=Durations.of(
            _us(t.resolved - t.opened)
            for t in tickets
            if t.resolved and inside(t.resolved) and _monitored(t)
        ),
    )


def _groups(tickets: Sequence[_Ticket], window: Window, group_by: str) -> dict[str, list[_Ticket]]:
    """Tickets per group value, of the tickets that can count in the window."""
    if group_by not in get_args(GroupBy):
        raise InputError("group_by", f"{group_by!r} is not one of service, ci, group, priority")
    found: dict[str, list[_Ticket]] = {}
    for t in tickets:
        if t.counts_in(window):
            found.setdefault(t.key(group_by), []).append(t)
    order = (lambda k: (_PRIORITY_ORDER.get(k, 9), k)) if group_by == "priority" else None
    return {key: found[key] for key in sorted(found, key=order)}


def _span(start: datetime, end: datetime, label: str = "") -> Window:
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise InputError("end", "must be after start")
    return Window(start, end, label or f"{start.isoformat()}/{end.isoformat()}")


# -- the API ---------------------------------------------------------------------------------


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
    return _compute(_prepare(facts), _span(start, end, label), kinds, as_of)


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
    window = _span(start, end, label)
    return {
        key: _compute(group, window, kinds, as_of)
        for key, group in _groups(_prepare(facts), window, group_by).items()
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
    tickets = _prepare(facts)
    result = []
    for window in windows(start, end, period, tz):
        groups = (
            {
                k: _compute(g, window, kinds, as_of)
                for k, g in _groups(tickets, window, group_by).items()
            }
            if group_by is not None
            else {}
        )
        result.append(PeriodKpis(_compute(tickets, window, kinds, as_of), group_by, groups))
    return result


def attainment_by_priority(
    facts: Facts, start: datetime, end: datetime, *, kinds: Sequence[str] = DEFAULT_KINDS
) -> dict[str, SlaAttainment]:
    """SLA attainment for response and resolution per priority, P1 first."""
    window = _span(start, end)
    tickets = [t for t in _prepare(facts) if t.kind in kinds]
    return {key: _sla(group, window) for key, group in _groups(tickets, window, "priority").items()}


def mtbf(
    facts: Facts,
    start: datetime,
    end: datetime,
    by: Literal["service", "ci"] = "service",
    *,
    as_of: datetime | None = None,
) -> dict[str, Mtbf]:
    """MTBF per service or CI that had an incident before ``end`` (tickets without one left out)."""
    window = _span(start, end)
    until = _measured_until(window, as_of)
    incidents = [t for t in _prepare(facts) if t.kind == "incident"]
    return {
        key: _mtbf(group, window.start, until)
        for key, group in _groups(incidents, window, by).items()
        if key != UNSET
    }
