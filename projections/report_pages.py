"""The quality report laid out as pages: one list of tables, written as HTML or Markdown.

Both formats come from the same tables, so they show the same figures. Each figure's HTML
cell carries ``data-kpi``, the path of the figure in the JSON edition, so a reader (or a test)
can tell which number is which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, NamedTuple

from opsledger.projections import kpis as K
from opsledger.projections.report_charts import trend_charts
from opsledger.projections.report_i18n import NONE, Lang, duration, pct, score, text

if TYPE_CHECKING:
    from opsledger.projections.report import Ranked, Report

METRICS = ("response", "resolution")


class Cell(NamedTuple):
    text: str
    key: str | None = None
    #: "bad" when the figure misses its target, "good" when it meets it
    status: str | None = None


@dataclass(slots=True)
class Table:
    anchor: str
    title: str
    head: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    empty: str = ""


class _Page:
    """The tables of one report in one edition: the words, and each figure in its cell."""

    def __init__(self, report: Report, lang: Lang) -> None:
        self.r, self.lang, self.goal = report, lang, report.targets

    def t(self, key: str, **params: Any) -> str:
        return text(self.lang, key, **params)

    def dur(self, seconds: float | None, key: str) -> Cell:
        return Cell(duration(seconds, self.lang), key)

    @staticmethod
    def n(value: int, key: str) -> Cell:
        return Cell(str(value), key)

    @staticmethod
    def rate(rate: float | None, key: str, target: float | None = None, most: bool = False) -> Cell:
        """A rate against a target it should reach (or, with ``most``, not exceed)."""
        status = None
        if rate is not None and target is not None:
            status = "bad" if (rate > target if most else rate < target) else "good"
        return Cell(pct(rate), key, status)

    def tables(self) -> list[Table]:
        r = self.r
        return [
            self.summary(),
            self.sla_table("priority", "by_priority", "priority", r.by_priority, total=True),
            self.sla_table("service", "by_service", "service", r.by_service),
            self.trend(),
            self.worst("worst_services", "service", r.worst_services),
            self.worst("worst_cis", "ci", r.worst_cis),
            self.times(),
            self.mtbf(),
            self.quality(),
            self.customer(),
            self.policies(),
        ]

    def summary(self) -> Table:
        k, goal, t = self.r.total, self.goal, self.t
        table = Table("summary", t("summary"), [t("measure"), t("value"), t("target")])
        for metric in METRICS:
            target = getattr(goal, metric)
            rate = getattr(k.sla, metric).rate
            table.rows.append([
                Cell(f"{t('sla')} · {t(metric)}"),
                self.rate(rate, f"kpis.sla.{metric}.rate", target), Cell(pct(target)),
            ])  # fmt: skip
        if self.has_callbacks():
            table.rows.append([
                Cell(t("callback_ola")),
                self.rate(k.callbacks.within_target_rate, "kpis.callbacks.within_target_rate",
                          goal.callback), Cell(pct(goal.callback)),
            ])  # fmt: skip
        table.rows += [
            [Cell(t("mttr")), self.dur(k.mttr.mean_s, "kpis.mttr.mean_s"), Cell(NONE)],
            [Cell(t("fcr")), self.rate(k.fcr.rate, "kpis.fcr.rate", goal.fcr), Cell(pct(goal.fcr))],
            [Cell(t("satisfaction")), self.score(), Cell(score(goal.satisfaction))],
            [Cell(t("opened")), self.n(k.opened, "kpis.opened"), Cell(NONE)],
            [Cell(t("resolved")), self.n(k.resolved, "kpis.resolved"), Cell(NONE)],
            [Cell(t("backlog")), self.n(k.backlog.open, "kpis.backlog.open"), Cell(NONE)],
        ]
        return table

    def has_callbacks(self) -> bool:
        """Whether the month saw a call-back (a desk without a call-back OLA shows none)."""
        c = self.r.total.callbacks
        return bool(c.requested or c.done or c.within_target or c.breached)

    def score(self) -> Cell:
        average = self.r.total.satisfaction.average
        status = None if average is None else "bad" if average < self.goal.satisfaction else "good"
        return Cell(score(average), "kpis.satisfaction.average", status)

    def sla_table(
        self, anchor: str, title: str, what: str, groups: dict[str, K.Kpis], total: bool = False
    ) -> Table:
        """Volume and SLA outcomes against the targets per group; MTTR (and MTBF per service)."""
        t, k = self.t, self.r.total
        head = [t(what), t("opened"), t("resolved")]
        for metric in METRICS:
            rate = t("with_target", label=t("rate"), value=pct(getattr(self.goal, metric)))
            head += [f"{t(metric)} · {t('met')}", f"{t(metric)} · {t('breached')}",
                     f"{t(metric)} · {rate}"]  # fmt: skip
        by_service = anchor == "service"
        head.append(f"{t('mttr_short')} · {t('mean' if by_service else 'median')}")
        head += [t("mtbf_short")] if by_service else []
        table = Table(anchor, t(title), head)
        rows = [(name, kp, f"{title}.{name}") for name, kp in groups.items()]
        rows += [(t("total"), k, "kpis")] if total else []
        for name, kp, prefix in rows:
            cells = [Cell(name), self.n(kp.opened, f"{prefix}.opened"),
                     self.n(kp.resolved, f"{prefix}.resolved")]  # fmt: skip
            for metric in METRICS:
                a: K.Attainment = getattr(kp.sla, metric)
                key = f"{prefix}.sla.{metric}"
                cells += [self.n(a.met, f"{key}.met"), self.n(a.breached, f"{key}.breached"),
                          self.rate(a.rate, f"{key}.rate", getattr(self.goal, metric))]  # fmt: skip
            if by_service:
                mtbf = self.r.mtbf_by_service.get(name)
                cells.append(self.dur(kp.mttr.mean_s, f"{prefix}.mttr.mean_s"))
                cells.append(self.dur(mtbf.mtbf_s if mtbf else None,
                                      f"mtbf_by_service.{name}.mtbf_s"))  # fmt: skip
            else:
                cells.append(self.dur(kp.mttr.median_s, f"{prefix}.mttr.median_s"))
            table.rows.append(cells)
        return table

    def trend(self) -> Table:
        t, goal = self.t, self.goal
        head = [t("month"), t("opened"), t("resolved"), t("backlog")]
        head += [f"{t('sla')} · {t(metric)}" for metric in METRICS]
        head += [f"{t('mttr_short')} · {t(c)}" for c in ("mean", "median")]
        table = Table("trend", t("trends", n=len(self.r.trend)), head)
        for i, p in enumerate(self.r.trend):
            k, key = p.total, f"trend.{i}"
            table.rows.append([
                Cell(p.window.label, f"{key}.window.label"),
                self.n(k.opened, f"{key}.opened"), self.n(k.resolved, f"{key}.resolved"),
                self.n(k.backlog.open, f"{key}.backlog.open"),
                self.rate(k.sla.response.rate, f"{key}.sla.response.rate", goal.response),
                self.rate(k.sla.resolution.rate, f"{key}.sla.resolution.rate", goal.resolution),
                self.dur(k.mttr.mean_s, f"{key}.mttr.mean_s"),
                self.dur(k.mttr.median_s, f"{key}.mttr.median_s"),
            ])  # fmt: skip
        return table

    def worst(self, anchor: str, what: str, ranked: Sequence[Ranked]) -> Table:
        t = self.t
        head = ["#", t(what), t("breaches"), t("decided"), t("rate")]
        table = Table(anchor, t(anchor), head, empty=t("none_breached"))
        for i, w in enumerate(ranked):
            key = f"{anchor}.{i}"
            table.rows.append([
                Cell(str(i + 1)), Cell(w.name, f"{key}.name"),
                self.n(w.breached, f"{key}.breached"), self.n(w.decided, f"{key}.decided"),
                self.rate(w.rate, f"{key}.rate"),
            ])  # fmt: skip
        return table

    def times(self) -> Table:
        t = self.t
        table = Table(
            "times", t("times"), [t(c) for c in ("measure", "count", "mean", "median", "p90")]
        )
        names = ["mtta", "mttr"]
        if self.r.total.detected_to_restored.count:  # only with monitoring incidents
            names.append("detected_to_restored")
        for name in names:
            d: K.Durations = getattr(self.r.total, name)
            key = f"kpis.{name}"
            table.rows.append([
                Cell(t(name)), self.n(d.count, f"{key}.count"), self.dur(d.mean_s, f"{key}.mean_s"),
                self.dur(d.median_s, f"{key}.median_s"), self.dur(d.p90_s, f"{key}.p90_s"),
            ])  # fmt: skip
        return table

    def mtbf(self) -> Table:
        t = self.t
        table = Table(
            "mtbf", t("mtbf"), [t(c) for c in ("service", "failures", "downtime", "mtbf_short")]
        )
        rows = [(t("estate"), self.r.total.mtbf, "kpis.mtbf")]
        rows += [(name, m, f"mtbf_by_service.{name}") for name, m in self.r.mtbf_by_service.items()]
        for name, m, key in rows:
            table.rows.append([
                Cell(name), self.n(m.failures, f"{key}.failures"),
                self.dur(m.downtime_s, f"{key}.downtime_s"), self.dur(m.mtbf_s, f"{key}.mtbf_s"),
            ])  # fmt: skip
        return table

    def quality(self) -> Table:
        t, k, goal = self.t, self.r.total, self.goal
        table = Table(
            "quality", t("quality"), [t(c) for c in ("measure", "value", "count", "target")]
        )
        for name, value, target, most in (
            ("fcr", k.fcr, goal.fcr, False),
            ("reopen", k.reopen, goal.reopen, True),
            ("solved_24h", k.solved_24h, goal.solved_24h, False),
        ):
            table.rows.append([
                Cell(t(name)), self.rate(value.rate, f"kpis.{name}.rate", target, most),
                Cell(f"{value.count}/{value.total}"), Cell(("≤ " if most else "") + pct(target)),
            ])  # fmt: skip
        e = k.escalation
        table.rows.append([Cell(t("escalation")), self.rate(e.rate, "kpis.escalation.rate"),
                           Cell(f"{e.escalated}/{e.total}"), Cell(NONE)])  # fmt: skip
        return table

    def customer(self) -> Table:
        t, k = self.t, self.r.total
        table = Table("customer", t("customer"), [t("measure"), t("value")], [
            [Cell(t("satisfaction")), self.score()],
            [Cell(t("response_rate")),
             self.rate(k.satisfaction.response_rate, "kpis.satisfaction.response_rate")],
            [Cell(t("complaints")), self.n(k.complaints.count, "kpis.complaints.count")],
            [Cell(t("complaint_tickets")), self.n(k.complaints.tickets, "kpis.complaints.tickets")],
        ])  # fmt: skip
        if self.has_callbacks():
            c = k.callbacks
            table.rows += [
                [Cell(t(f"callbacks_{name}")), self.n(getattr(c, name), f"kpis.callbacks.{name}")]
                for name in ("requested", "done", "reached", "pending")
            ]
            table.rows.append([
                Cell(t("callback_ola")),
                self.rate(c.within_target_rate, "kpis.callbacks.within_target_rate",
                          self.goal.callback),
            ])  # fmt: skip
        table.rows.append([Cell(t("backlog")), self.n(k.backlog.open, "kpis.backlog.open")])
        for age, count in k.backlog.ageing.items():
            table.rows.append([Cell(f"{t('ageing')} · {age}"),
                               self.n(count, f"kpis.backlog.ageing.{age}")])  # fmt: skip
        return table

    def policies(self) -> Table:
        t = self.t
        head = [t(c) for c in ("policy", "scope", "priority", "response_time", "resolution_time")]
        table = Table("policies", t("policies"), head)
        for p in self.r.policies:
            scope = ", ".join(p["services"] + p["customers"]) or t("all")
            for prio, target in p["targets"].items():
                table.rows.append([
                    Cell(f"{p['name']} v{p['version']}"), Cell(scope), Cell(prio),
                    Cell(duration(target["response_s"], self.lang)),
                    Cell(duration(target["resolution_s"], self.lang)),
                ])  # fmt: skip
        return table


# -- writers ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC",sans-serif;color:#222;max-width:1100px;margin:2em auto;padding:0 1em}
h1{margin-bottom:.2em}.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
td.bad{color:#b00020;font-weight:600}td.good{color:#1b7a3a}
ul.findings li.warning{color:#b00020}ul.findings li.ok{color:#1b7a3a}
figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}
.legend{font-size:.85em;color:#444;margin:.2em 0 0}.legend span{margin-right:1.2em}
.legend i{display:inline-block;width:1.4em;height:0;border-top:3px solid;vertical-align:middle;
margin-right:.4em}.legend i.dash{border-top-style:dashed}
"""


def _meta(r: Report, lang: Lang) -> list[tuple[str, str]]:
    kinds = ", ".join(text(lang, k) if k in ("incident", "service_request") else k for k in r.kinds)
    rows = [(text(lang, "month"), r.month), (text(lang, "timezone"), r.tz),
            (text(lang, "kinds"), kinds)]  # fmt: skip
    if r.as_of is not None and r.as_of < r.window.end:
        rows.append((text(lang, "as_of"), r.as_of.isoformat(timespec="seconds")))
    return rows


def html(r: Report, lang: Lang) -> str:
    esc = html_escape
    tables = _Page(r, lang).tables()
    out = [
        f'<!doctype html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>',
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{esc(text(lang, 'title'))} {esc(r.month)}</title><style>{_CSS}</style>",
        "</head>\n<body>",
        f"<h1>{esc(text(lang, 'title'))}</h1>",
        '<p class="meta">' + " · ".join(f"{esc(a)}: {esc(b)}" for a, b in _meta(r, lang)) + "</p>",
        f'<section id="findings"><h2>{esc(text(lang, "findings"))}</h2><ul class="findings">',
        *(f'<li class="{f.severity}" data-finding="{esc(f.code)}">{esc(f.text(lang))}</li>'
          for f in r.findings),
        "</ul></section>",
    ]  # fmt: skip
    for table in tables:
        out.append(f'<section id="{table.anchor}"><h2>{esc(table.title)}</h2>')
        if table.anchor == "trend":
            for title, uri, legend in trend_charts(r, lang):
                keys = "".join(
                    f'<span><i class="{"dash" if dashed else ""}" style="border-color:{colour}">'
                    f"</i>{esc(label)}</span>"
                    for label, colour, dashed in legend
                )
                out.append(
                    f'<figure><figcaption>{esc(title)}</figcaption><img src="{uri}" '
                    f'alt="{esc(title)}" width="640" height="220"><p class="legend">{keys}</p>'
                    "</figure>"
                )
        if table.rows or not table.empty:
            out.append(_html_table(table))
        else:
            out.append(f"<p>{esc(table.empty)}</p>")
        out.append("</section>")
    out.append(f'<footer><p class="meta">{esc(text(lang, "footer"))}</p></footer>')
    out.append("</body>\n</html>\n")
    return "\n".join(out)


def html_escape(value: str) -> str:
    return escape(value, quote=True)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html_escape(h)}</th>" for h in table.head)
    rows = []
    for row in table.rows:
        cells = []
        for c in row:
            attrs = f' data-kpi="{html_escape(c.key)}"' if c.key else ""
            attrs += f' class="{c.status}"' if c.status else ""
            cells.append(f"<td{attrs}>{html_escape(c.text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _md(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def markdown(r: Report, lang: Lang) -> str:
    """The same tables as Markdown; the trend charts appear as their table."""
    out = [f"# {text(lang, 'title')}", ""]
    out += [f"- {a}: {_md(b)}" for a, b in _meta(r, lang)]
    out += ["", f"## {text(lang, 'findings')}", ""]
    out += [f"- {_md(f.text(lang))}" for f in r.findings]
    for table in _Page(r, lang).tables():
        out += ["", f"## {table.title}", ""]
        if not table.rows and table.empty:
            out.append(table.empty)
            continue
        out.append("| " + " | ".join(_md(h) for h in table.head) + " |")
        out.append("|" + "|".join("---" for _ in table.head) + "|")
        for row in table.rows:
            shown = (f"**{_md(c.text)}**" if c.status == "bad" else _md(c.text) for c in row)
            out.append("| " + " | ".join(shown) + " |")
    out += ["", text(lang, "footer"), ""]
    return "\n".join(out)
