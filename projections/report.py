"""The monthly service quality report: the month's KPIs against targets, trends and findings.

``build`` computes every figure from the ticket facts with ``opsledger.projections.kpis`` (so
the report says what docs/kpis.md defines, nothing of its own); ``render`` turns a report into
HTML (charts embedded), Markdown or JSON in English or Chinese; ``generate`` does both for an
Engine. Attainment targets are report options: SLA policies say how fast, not how often.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.sla import Agreement, SlaPolicy
from opsledger.projections import kpis as K
from opsledger.projections import report_pages
from opsledger.projections.report_i18n import Lang, check_lang, duration, finding, pct, score

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

Format = Literal["html", "md", "json"]
#: The name a report shows for a CI number (the engine's registered name).
NameOf = Callable[[str], str]
FORMATS: tuple[Format, ...] = ("html", "md", "json")
METRICS = ("response", "resolution")
TICKET_KINDS = ("incident", "service_request", "problem", "change")
#: A month-on-month drop of attainment by this much (absolute) is a finding.
ATTAINMENT_DROP = 0.05
#: A month-on-month rise of mean MTTR by this share is a finding.
MTTR_RISE = 0.20


@dataclass(frozen=True, slots=True)
class ReportTargets:
    """What the report compares against. Rates are fractions; satisfaction an average score."""

    response: float = 0.95
    resolution: float = 0.90
    fcr: float = 0.70
    solved_24h: float = K.SOLVED_TARGET
    #: reopen rate: the most that is acceptable
    reopen: float = 0.05
    satisfaction: float = 4.0
    #: satisfaction call-backs done within their OLA target (24 h at most desks)
    callback: float = 0.90

    @classmethod
    def parse(cls, items: Iterable[str], base: ReportTargets | None = None) -> ReportTargets:
        """``NAME=VALUE`` overrides: rates in percent (``response=97.5``), satisfaction 1-5."""
        changes: dict[str, float] = {}
        names = [f.name for f in fields(cls)]
        for item in items:
            name, _, raw = item.partition("=")
            name = name.strip()
            if name not in names:
                raise InputError("target", f"{name!r} is not one of {', '.join(names)}")
            try:
                value = float(raw.strip().rstrip("%"))
            except ValueError:
                raise InputError(f"target.{name}", f"{raw!r} is not a number") from None
            if name == "satisfaction":
                if not 1 <= value <= 5:
                    raise InputError("target.satisfaction", "must be a score from 1 to 5")
                changes[name] = value
            elif 0 <= value <= 100:
                changes[name] = value / 100
            else:
                raise InputError(f"target.{name}", "must be a percentage from 0 to 100")
        return replace(base or cls(), **changes)

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Ranked(K.Result):
    """A service or CI with its SLA outcomes, for the most-breached lists."""

    derived = ("breached", "decided", "rate")

    key: str
    name: str
    response: K.Attainment
    resolution: K.Attainment

    @property
    def breached(self) -> int:
        return self.response.breached + self.resolution.breached

    @property
    def decided(self) -> int:
        return self.breached + self.response.met + self.resolution.met

    @property
    def rate(self) -> float | None:
        return (self.decided - self.breached) / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class Finding(K.Result):
    """One observation; ``params`` are the raw figures, worded by report_i18n per edition."""

    code: str
    severity: Literal["warning", "info", "ok"]
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: Lang) -> str:
        shown = {key: _show(self.code, key, value, lang) for key, value in self.params.items()}
        return finding(lang, self.code, shown)


def _show(code: str, key: str, value: Any, lang: Lang) -> str:
    if code == "mttr_rising" and key in ("before", "after"):
        return duration(value, lang)
    if code == "satisfaction_below" and key in ("score", "target"):
        return score(value)
    if key in ("rate", "target", "before") and isinstance(value, float):
        return pct(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Report:
    """Every figure of one month's report; ``to_dict`` is the JSON edition."""

    window: K.Window
    tz: str
    kinds: tuple[str, ...]
    as_of: datetime | None
    targets: ReportTargets
    total: K.Kpis
    by_priority: dict[str, K.Kpis]
    by_service: dict[str, K.Kpis]
    mtbf_by_service: dict[str, K.Mtbf]
    worst_services: list[Ranked]
    worst_cis: list[Ranked]
    trend: list[K.PeriodKpis]
    policies: list[dict[str, Any]]
    findings: list[Finding]

    @property
    def month(self) -> str:
        return self.window.label

    def to_dict(self, lang: Lang = "en") -> dict[str, Any]:
        return {
            "month": self.month,
            "timezone": self.tz,
            "kinds": list(self.kinds),
            "start": self.window.start.isoformat(),
            "end": self.window.end.isoformat(),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "targets": self.targets.to_dict(),
            "kpis": self.total.to_dict(),
            "by_priority": {k: v.to_dict() for k, v in self.by_priority.items()},
            "by_service": {k: v.to_dict() for k, v in self.by_service.items()},
            "mtbf_by_service": {k: v.to_dict() for k, v in self.mtbf_by_service.items()},
            "worst_services": [r.to_dict() for r in self.worst_services],
            "worst_cis": [r.to_dict() for r in self.worst_cis],
            "trend": [p.total.to_dict() for p in self.trend],
            "policies": self.policies,
            "findings": [{**f.to_dict(), "text": f.text(lang)} for f in self.findings],
        }


# -- building --------------------------------------------------------------------------------


def month_before(label: str, months: int) -> str:
    """``2026-11`` minus ``months`` months, as a label."""
    year, number = (int(part) for part in label.split("-"))
    index = year * 12 + number - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def policy_rows(policies: Iterable[SlaPolicy]) -> list[dict[str, Any]]:
    """The customer-facing policies and their time targets per priority, in seconds."""
    return [
        {
            "name": p.name,
            "version": p.version,
            "services": list(p.services),
            "customers": list(p.customers),
            "targets": {
                prio: {
                    "response_s": t.response.total_seconds() if t.response else None,
                    "resolution_s": t.resolution.total_seconds() if t.resolution else None,
                }
                for prio, t in sorted(p.targets.items())
            },
        }
        for p in policies
        if p.agreement is Agreement.SLA
    ]


def _ranked(groups: Mapping[str, K.Kpis], top: int, name: NameOf | None = None) -> list[Ranked]:
    """The ``top`` groups with the most breaches (then the lowest attainment), named."""
    ranked = [
        Ranked(key, key, k.sla.response, k.sla.resolution)
        for key, k in groups.items()
        if key != K.UNSET
    ]
    ranked = [r for r in ranked if r.breached]
    ranked.sort(key=lambda r: (-r.breached, r.rate if r.rate is not None else 1.0, r.key))
    return [replace(r, name=name(r.key)) if name else r for r in ranked[:top]]


def check(
    month: str,
    *,
    tz: str = "UTC",
    kinds: Sequence[str] = K.DEFAULT_KINDS,
    trend_months: int = 6,
    **_: Any,
) -> K.Window:
    """The month's window, once the options are known to be good (each error names its field)."""
    window = K.month(month, tz)
    if trend_months < 1:
        raise InputError("trend_months", "must be at least 1")
    for kind in kinds:
        if kind not in TICKET_KINDS:
            raise InputError("kinds", f"{kind!r} is not one of {', '.join(TICKET_KINDS)}")
    return window


def build(
    facts: Iterable[Mapping[str, Any]],
    month: str,
    *,
    tz: str = "UTC",
    kinds: Sequence[str] = K.DEFAULT_KINDS,
    targets: ReportTargets | None = None,
    policies: Iterable[SlaPolicy] = (),
    ci_name: NameOf | None = None,
    as_of: datetime | None = None,
    trend_months: int = 6,
    top: int = 5,
) -> Report:
    """The report of ``month`` (``2026-11``, in time zone ``tz``) from the ticket facts."""
    window = check(month, tz=tz, kinds=kinds, trend_months=trend_months)
    facts = list(facts)
    targets = targets or ReportTargets()
    span = (window.start, window.end)
    common: dict[str, Any] = {"kinds": tuple(kinds), "as_of": as_of}
    total = K.kpis(facts, *span, label=window.label, **common)
    by_priority = K.kpis_by(facts, *span, "priority", label=window.label, **common)
    by_service = K.kpis_by(facts, *span, "service", label=window.label, **common)
    by_ci = K.kpis_by(facts, *span, "ci", label=window.label, **common)
    first = K.month(month_before(window.label, trend_months - 1), tz)
    trend = K.series(facts, first.start, window.end, tz=tz, **common)
    report = Report(
        window=window,
        tz=tz,
        kinds=tuple(kinds),
        as_of=as_of,
        targets=targets,
        total=total,
        by_priority=by_priority,
        by_service=by_service,
        mtbf_by_service=K.mtbf(facts, *span, "service", as_of=as_of),
        worst_services=_ranked(by_service, top),
        worst_cis=_ranked(by_ci, top, ci_name),
        trend=trend,
        policies=policy_rows(policies),
        findings=[],
    )
    return replace(report, findings=findings(report, top=top))


def _below(metric: str, a: K.Attainment, target: float, **where: str) -> dict[str, Any] | None:
    if a.rate is None or a.rate >= target:
        return None
    decided = a.met + a.breached
    return {**where, "metric": metric, "rate": a.rate, "target": target,
            "breached": a.breached, "decided": decided}  # fmt: skip


def findings(report: Report, *, top: int = 5) -> list[Finding]:
    """The short list: what missed its target (worst first), what got worse, then context."""
    k, t = report.total, report.targets
    found: list[Finding] = []

    def warn(code: str, params: dict[str, Any] | None) -> None:
        if params is not None:
            found.append(Finding(code, "warning", params))

    if not (k.opened or k.resolved or k.backlog.open):
        return [Finding("no_tickets", "info", {"month": report.month})]
    for metric in METRICS:
        goal = getattr(t, metric)
        warn("overall_below", _below(metric, getattr(k.sla, metric), goal))
        for prio, pk in report.by_priority.items():
            warn("priority_below", _below(metric, getattr(pk.sla, metric), goal, priority=prio))
        services = [
            p for name, sk in report.by_service.items()
            if (p := _below(metric, getattr(sk.sla, metric), goal, service=name)) is not None
        ]  # fmt: skip
        services.sort(key=lambda p: (p["rate"], -p["breached"], p["service"]))
        for params in services[:top]:
            warn("service_below", params)
    if k.fcr.rate is not None and k.fcr.rate < t.fcr:
        warn("fcr_below", {"rate": k.fcr.rate, "target": t.fcr})
    if k.solved_24h.rate is not None and k.solved_24h.rate < t.solved_24h:
        warn("solved_24h_below", {"rate": k.solved_24h.rate, "target": t.solved_24h})
    if k.reopen.rate is not None and k.reopen.rate > t.reopen:
        warn("reopen_above", {"rate": k.reopen.rate, "target": t.reopen})
    c = k.callbacks
    if c.within_target_rate is not None and c.within_target_rate < t.callback:
        warn("callback_below", {"rate": c.within_target_rate, "target": t.callback,
                                "breached": c.breached,
                                "decided": c.within_target + c.breached})  # fmt: skip
    average = k.satisfaction.average
    if average is not None and average < t.satisfaction:
        warn("satisfaction_below", {"score": average, "target": t.satisfaction,
                                    "surveyed": k.satisfaction.surveyed})  # fmt: skip
    found.extend(_trend_findings(report))
    if k.complaints.count:
        found.append(Finding("complaints", "info", {"count": k.complaints.count,
                                                    "tickets": k.complaints.tickets}))  # fmt: skip
    if not any(f.severity == "warning" for f in found):
        found.insert(0, Finding("all_on_target", "ok"))
    return found


def _trend_findings(report: Report) -> list[Finding]:
    """Month-on-month: attainment that fell, backlog that kept rising, MTTR that rose."""
    if len(report.trend) < 2:
        return []
    now, before = report.trend[-1].total, report.trend[-2].total
    previous = before.window.label
    found: list[Finding] = []
    for metric in METRICS:
        rate, was = getattr(now.sla, metric).rate, getattr(before.sla, metric).rate
        if rate is not None and was is not None and was - rate >= ATTAINMENT_DROP:
            found.append(Finding("attainment_fell", "warning",
                                 {"metric": metric, "before": was, "rate": rate,
                                  "previous": previous}))  # fmt: skip
    backlog = [p.total.backlog.open for p in report.trend]
    rises = 0
    while rises + 1 < len(backlog) and backlog[-1 - rises] > backlog[-2 - rises]:
        rises += 1
    if rises:
        found.append(Finding("backlog_rising", "warning", {
            "months": rises, "before": backlog[-1 - rises], "after": backlog[-1]}))  # fmt: skip
    after, was_mean = now.mttr.mean_s, before.mttr.mean_s
    if after is not None and was_mean and after > was_mean * (1 + MTTR_RISE):
        params = {"before": was_mean, "after": after, "previous": previous}
        found.append(Finding("mttr_rising", "info", params))
    return found


# -- rendering and the engine ----------------------------------------------------------------


def render(report: Report, fmt: str = "html", lang: str = "en") -> str:
    """The report as one document: ``html`` (charts embedded), ``md`` or ``json``."""
    edition = check_lang(lang)
    if fmt == "json":
        return json.dumps(report.to_dict(edition), ensure_ascii=False, indent=2) + "\n"
    if fmt == "html":
        return report_pages.html(report, edition)
    if fmt == "md":
        return report_pages.markdown(report, edition)
    raise InputError("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")


def generate(
    engine: Engine,
    month: str,
    *,
    fmt: str = "html",
    lang: str = "en",
    as_of: datetime | None = None,
    **options: Any,
) -> str:
    """Catch the read models up, then build and render ``month``'s report for ``engine``.

    ``as_of`` defaults to the engine's clock, so the current month's backlog is not aged into
    the future; ``options`` are :func:`build`'s (tz, kinds, targets, trend_months, top).
    """
    from opsledger.projections.service import Projections

    check_lang(lang)
    if fmt not in FORMATS:
        raise InputError("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    check(month, **options)  # before any work
    with Projections(engine, ["ticket_facts"]) as projections:
        projections.catch_up()
        facts = projections.facts()

    def ci_name(number: str) -> str:
        try:
            return str(engine.get(number).get("name") or number)
        except NotFoundError:  # a CI number that was never registered: show the number
            return number

    report = build(
        facts,
        month,
        policies=engine.policies().current(),
        ci_name=ci_name,
        as_of=as_of if as_of is not None else engine.clock.now(),
        **options,
    )
    return render(report, fmt, lang)
