"""The KPI page: a month's KPIs for all services or one, as charts over the months before it
and as numbers in tables.

The figures are ``opsledger.projections.kpis`` over the ticket facts (docs/kpis.md defines
each); the charts are the quality report's own SVG charts (report_charts), inlined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsledger.adapters.http.dashboard_html import attr, esc, table
from opsledger.core.domain.errors import InputError
from opsledger.projections import kpis as K
from opsledger.projections.report import month_before
from opsledger.projections.report_charts import PALETTE, Series, bar_chart, line_chart
from opsledger.projections.report_i18n import duration, pct, score

#: How many months the trend charts show by default, and at most.
TREND_MONTHS, MAX_MONTHS = 6, 24


@dataclass(frozen=True, slots=True)
class KpiView:
    """The KPIs of one month and scope, and of the months leading up to it."""

    window: K.Window
    tz: str
    service: str | None
    #: (month label, KPIs); None where the service had no tickets that month
    trend: list[tuple[str, K.Kpis | None]]
    by_service: dict[str, K.Kpis]
    services: list[str]

    @property
    def month(self) -> K.Kpis | None:
        return self.trend[-1][1]

    @property
    def shows_services(self) -> bool:
        """All services chosen, and some ticket of the month has one (not only ``(none)``)."""
        return not self.service and any(name != K.UNSET for name in self.by_service)


def build_view(
    facts: Iterable[Mapping[str, Any]],
    month: str,
    *,
    tz: str = "UTC",
    service: str | None = None,
    months: int = TREND_MONTHS,
    as_of: datetime | None = None,
) -> KpiView:
    """The KPI view of ``month`` (``2025-05``, in time zone ``tz``) as known at ``as_of``."""
    if not 1 <= months <= MAX_MONTHS:
        raise InputError("months", f"must be from 1 to {MAX_MONTHS}")
    window = K.month(month, tz)
    facts = list(facts)
    first = K.month(month_before(window.label, months - 1), tz)
    periods = K.series(
        facts,
        first.start,
        window.end,
        tz=tz,
        group_by="service" if service else None,
        as_of=as_of,
    )
    trend = [(p.window.label, p.groups.get(service) if service else p.total) for p in periods]
    by_service = K.kpis_by(
        facts, window.start, window.end, "service", as_of=as_of, label=window.label
    )
    services = sorted({str(f["service"]) for f in facts if f.get("service")})
    return KpiView(window, tz, service, trend, by_service, services)


# -- charts ----------------------------------------------------------------------------------


def _values(
    trend: Sequence[tuple[str, K.Kpis | None]], get: Callable[[K.Kpis], float | None], scale: float
) -> list[float | None]:
    out: list[float | None] = []
    for _, k in trend:
        value = get(k) if k is not None else None
        out.append(None if value is None else value * scale)
    return out


Legend = list[tuple[str, str, bool]]


def _figure(name: str, title: str, svg: str, legend: Legend) -> str:
    keys = "".join(
        f"<span><span class={attr('swatch dashed' if dashed else 'swatch')} "
        f"style={attr(('border-color:' if dashed else 'background:') + colour)}></span>"
        f"{esc(label)}</span>"
        for label, colour, dashed in legend
    )
    return (
        f"<figure class=chart data-chart={attr(name)}><figcaption>{esc(title)}</figcaption>"
        f"<div role=img aria-label={attr(title)}>{svg}</div>"
        f"<div class=legend>{keys}</div></figure>"
    )


def charts(view: KpiView) -> str:
    """SLA attainment, MTTA, MTTR and volume per month; attainment per service for one month."""
    labels = [label for label, _ in view.trend]
    blue, orange, green = PALETTE[:3]
    t = view.trend
    figures = [
        _figure(
            "sla",
            "SLA attainment (%)",
            line_chart(
                labels,
                [
                    Series(_values(t, lambda k: k.sla.response.rate, 100), blue),
                    Series(_values(t, lambda k: k.sla.resolution.rate, 100), orange),
                ],
                ceiling=100,
            ),
            [("response", blue, False), ("resolution", orange, False)],
        ),
        _figure(
            "mtta",
            "MTTA (minutes)",
            line_chart(
                labels,
                [
                    Series(_values(t, lambda k: k.mtta.mean_s, 1 / 60), blue),
                    Series(_values(t, lambda k: k.mtta.median_s, 1 / 60), orange),
                ],
                floor=0,
            ),
            [("mean", blue, False), ("median", orange, False)],
        ),
        _figure(
            "mttr",
            "MTTR (hours)",
            line_chart(
                labels,
                [
                    Series(_values(t, lambda k: k.mttr.mean_s, 1 / 3600), blue),
                    Series(_values(t, lambda k: k.mttr.median_s, 1 / 3600), orange),
                    Series(_values(t, lambda k: k.mttr.p90_s, 1 / 3600), green),
                ],
                floor=0,
            ),
            [("mean", blue, False), ("median", orange, False), ("90th pct", green, False)],
        ),
        _figure(
            "volume",
            "Opened, resolved and backlog (tickets)",
            bar_chart(
                labels,
                [
                    Series(_values(t, lambda k: k.opened, 1), blue),
                    Series(_values(t, lambda k: k.resolved, 1), orange),
                    Series(_values(t, lambda k: k.backlog.open, 1), green),
                ],
            ),
            [("opened", blue, False), ("resolved", orange, False), ("backlog", green, False)],
        ),
    ]
    if view.shows_services:
        names = list(view.by_service)
        groups = list(view.by_service.values())

        def rates(metric: str) -> list[float | None]:
            out: list[float | None] = []
            for k in groups:
                rate = getattr(k.sla, metric).rate
                out.append(None if rate is None else rate * 100)
            return out

        figures.append(
            _figure(
                "by-service",
                f"SLA attainment by service, {view.window.label} (%)",
                bar_chart(
                    names, [Series(rates("response"), blue), Series(rates("resolution"), orange)]
                ),
                [("response", blue, False), ("resolution", orange, False)],
            )
        )
    return "".join(figures)


# -- tables ----------------------------------------------------------------------------------


def _cell(text: str, key: str) -> str:
    return f"<td class=num data-kpi={attr(key)}>{esc(text)}</td>"


def _month_rows(k: K.Kpis) -> list[str]:
    """(measure, value) rows; ``data-kpi`` is the figure's path in ``Kpis.to_dict()``."""
    sla = k.sla
    figures = [
        ("Opened", str(k.opened), "opened"),
        ("Resolved", str(k.resolved), "resolved"),
        ("Backlog at month end", str(k.backlog.open), "backlog.open"),
        ("MTTA, mean", duration(k.mtta.mean_s, "en"), "mtta.mean_s"),
        ("MTTA, median", duration(k.mtta.median_s, "en"), "mtta.median_s"),
        ("MTTR, mean", duration(k.mttr.mean_s, "en"), "mttr.mean_s"),
        ("MTTR, median", duration(k.mttr.median_s, "en"), "mttr.median_s"),
        ("MTTR, 90th percentile", duration(k.mttr.p90_s, "en"), "mttr.p90_s"),
        (
            f"Response SLA attainment ({sla.response.met} met, {sla.response.breached} breached)",
            pct(sla.response.rate),
            "sla.response.rate",
        ),
        (
            f"Resolution SLA attainment ({sla.resolution.met} met, "
            f"{sla.resolution.breached} breached)",
            pct(sla.resolution.rate),
            "sla.resolution.rate",
        ),
        ("Solved within 24 h", pct(k.solved_24h.rate), "solved_24h.rate"),
        ("First-contact resolution", pct(k.fcr.rate), "fcr.rate"),
        ("Reopen rate", pct(k.reopen.rate), "reopen.rate"),
        ("Escalation rate", pct(k.escalation.rate), "escalation.rate"),
        ("Satisfaction (1-5)", score(k.satisfaction.average), "satisfaction.average"),
        ("Complaints", str(k.complaints.count), "complaints.count"),
        ("MTBF (outages)", duration(k.mtbf.mtbf_s, "en"), "mtbf.mtbf_s"),
    ]
    return [f"<tr><th scope=row>{esc(m)}</th>{_cell(v, key)}</tr>" for m, v, key in figures]


def _trend_row(label: str, k: K.Kpis | None) -> str:
    if k is None:
        return (
            f"<tr data-month={attr(label)}><th scope=row>{esc(label)}</th>"
            + ("<td class=num>–</td>" * 7)
            + "</tr>"
        )
    cells = [
        (str(k.opened), "opened"),
        (str(k.resolved), "resolved"),
        (str(k.backlog.open), "backlog.open"),
        (duration(k.mtta.mean_s, "en"), "mtta.mean_s"),
        (duration(k.mttr.mean_s, "en"), "mttr.mean_s"),
        (pct(k.sla.response.rate), "sla.response.rate"),
        (pct(k.sla.resolution.rate), "sla.resolution.rate"),
    ]
    body = "".join(_cell(text, key) for text, key in cells)
    return f"<tr data-month={attr(label)}><th scope=row>{esc(label)}</th>{body}</tr>"


_TREND_HEAD = [
    "Month",
    "Opened",
    "Resolved",
    "Backlog",
    "MTTA mean",
    "MTTR mean",
    "Response SLA",
    "Resolution SLA",
]


def render_kpis(view: KpiView, *, action: str) -> str:
    """The page body: the month/service form, charts, then the tables of numbers."""
    scope = view.service or "all services"
    options = "".join(
        f"<option value={attr(s)}{' selected' if s == view.service else ''}>{esc(s)}</option>"
        for s in view.services
    )
    form = (
        f"<form class=filters method=get action={attr(action)}>"
        f"<label>Month<input type=month name=month id=month value={attr(view.window.label)}>"
        f"</label><label>Service<select name=service id=service><option value=''>all services"
        f"</option>{options}</select></label>"
        f"<label>Time zone<input name=tz value={attr(view.tz)} size=16></label>"
        f"<button type=submit>Show</button></form>"
    )
    k = view.month
    month_table = (
        f"<table class=kpis id=month-kpis data-month={attr(view.window.label)}>"
        f"<thead><tr><th scope=col>Measure</th><th class=num scope=col>{esc(view.window.label)}"
        f"</th></tr></thead><tbody>{''.join(_month_rows(k))}</tbody></table>"
        if k is not None
        else f"<p class=muted>No tickets for {esc(scope)} in {esc(view.window.label)}.</p>"
    )
    trend = table(
        _TREND_HEAD, (_trend_row(label, kp) for label, kp in view.trend), cls="trend", numeric=7
    )
    service_rows = (
        f"<tr data-service={attr(name)}><th scope=row>{esc(name)}</th>"
        + _cell(str(kp.opened), "opened")
        + _cell(str(kp.resolved), "resolved")
        + _cell(pct(kp.sla.response.rate), "sla.response.rate")
        + _cell(pct(kp.sla.resolution.rate), "sla.resolution.rate")
        + _cell(duration(kp.mttr.mean_s, "en"), "mttr.mean_s")
        + "</tr>"
        for name, kp in view.by_service.items()
    )
    by_service = (
        "<h2>By service</h2>"
        + table(
            ["Service", "Opened", "Resolved", "Response SLA", "Resolution SLA", "MTTR mean"],
            service_rows,
            cls="by-service",
            numeric=5,
        )
        if view.shows_services
        else ""
    )
    return (
        f"<h1>KPIs · {esc(view.window.label)} · {esc(scope)}</h1>{form}"
        f"<p class=muted>Incidents; month {esc(view.window.label)} in {esc(view.tz)} "
        f"(from {esc(view.window.start.isoformat())} to {esc(view.window.end.isoformat())})."
        f"</p><h2>{esc(view.window.label)}</h2>{month_table}"
        f"<h2>Trend</h2><div class=charts>{charts(view)}</div>{trend}{by_service}"
    )
