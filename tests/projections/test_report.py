"""The monthly quality report: every figure it shows is the KPI module's, in every format.

The HTML is read back with html.parser: each figure cell names its KPI (``data-kpi``), and its
text is compared with the value the KPI functions compute from the same facts. The month
built by hand has its arithmetic written next to the expectations.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opsledger.core.domain.errors import InputError
from opsledger.projections import kpis as K
from opsledger.projections.report import ReportTargets, build, generate, render
from opsledger.projections.report_charts import HEIGHT, WIDTH, Series, bar_chart, line_chart
from opsledger.projections.service import Projections

from opsledger import Engine, Settings, cli, cli_report
from opsledger.demo import run_demo
from opsledger.demo_desk import DEMO_TZ

MARCH = "2024-03"
APRIL_1 = datetime(2024, 4, 1, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
ITSS_TERMS = ("服务级别协议达成率", "平均修复时间", "一次解决率", "客户满意度")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def flat_policy() -> dict[str, Any]:
    """Round the clock, every priority: respond in 30 min, resolve in 4 h (calendar time)."""
    targets = {"calendar": "24x7", "response_minutes": 30, "resolution_minutes": 240}
    return {
        "name": "flat",
        "calendars": {"24x7": {"timezone": "UTC", "always_open": True}},
        "targets": {p: dict(targets) for p in ("P1", "P2", "P3", "P4")},
    }


# -- reading the HTML back ---------------------------------------------------------------------


class Page(HTMLParser):
    """The figures (data-kpi -> text), findings (code, text) and image sources of a page."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.figures: dict[str, list[str]] = {}
        self.classes: dict[str, str] = {}
        self.findings: list[tuple[str, str]] = []
        self.images: list[str] = []
        self._open: tuple[str, str] | None = None
        self._text: list[str] = []
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a["src"])
        elif "data-kpi" in a:
            self._open, self._text = ("kpi", a["data-kpi"]), []
            if a.get("class"):
                self.classes[a["data-kpi"]] = a["class"]
        elif "data-finding" in a:
            self._open, self._text = ("finding", a["data-finding"]), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is None or tag not in ("td", "li"):
            return
        kind, key = self._open
        shown = "".join(self._text)
        if kind == "kpi":
            self.figures.setdefault(key, []).append(shown)
        else:
            self.findings.append((key, shown))
        self._open = None

    def one(self, key: str) -> str:
        values = set(self.figures[key])
        assert len(values) == 1, (key, values)  # a figure shown twice shows the same text
        return values.pop()


#: unit -> (seconds, the step it is shown in: whole minutes, tenths of hours and days)
UNITS = {"min": (60, 1.0), "h": (3600, 0.1), "d": (86400, 0.1),
         "分钟": (60, 1.0), "小时": (3600, 0.1), "天": (86400, 0.1)}  # fmt: skip


def shows(text: str, value: Any, key: str) -> bool:
    """Whether ``text`` is ``value`` as the report formats that kind of figure."""
    last = key.rsplit(".", 1)[-1]
    if value is None:
        return text == "—"
    if last in ("label", "name"):
        return bool(text == value)
    if last.endswith("rate"):  # one decimal of a percentage
        return text.endswith("%") and abs(float(text[:-1]) / 100 - float(value)) <= 0.0005 + 1e-12
    if last.endswith("_s"):
        number, unit = text.split(" ")
        seconds, step = UNITS[unit]
        return abs(float(number) - float(value) / seconds) <= step / 2 + 1e-9
    if last == "average":
        return abs(float(text) - float(value)) <= 0.005 + 1e-12
    return bool(text == str(value))


def resolve(data: Any, key: str) -> Any:
    """``by_service.shop.sla.response.rate`` in the nested figures; list items by index."""
    node = data
    for part in _parts(key, data):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _parts(key: str, data: dict[str, Any]) -> Iterator[str]:
    """Split a key on dots, keeping group names (which may hold dots) whole."""
    head, _, rest = key.partition(".")
    yield head
    if head in ("by_priority", "by_service", "mtbf_by_service"):
        group = next(g for g in data[head] if rest == g or rest.startswith(g + "."))
        yield group
        rest = rest[len(group) + 1 :]
    if rest:
        yield from rest.split(".")


def expected(
    facts: list[dict[str, Any]], month: str, first: str, tz: str = "UTC"
) -> dict[str, Any]:
    """Every figure straight from the KPI functions (``first``: the first trend month)."""
    w, start = K.month(month, tz), K.month(first, tz).start
    by = {
        "priority": K.kpis_by(facts, w.start, w.end, "priority", label=w.label),
        "service": K.kpis_by(facts, w.start, w.end, "service", label=w.label),
    }
    return {
        "kpis": K.kpis(facts, w.start, w.end, label=w.label).to_dict(),
        "by_priority": {p: k.to_dict() for p, k in by["priority"].items()},
        "by_service": {s: k.to_dict() for s, k in by["service"].items()},
        "mtbf_by_service": {s: m.to_dict() for s, m in K.mtbf(facts, w.start, w.end).items()},
        "trend": [p.total.to_dict() for p in K.series(facts, start, w.end, tz=tz)],
    }


def check_figures(
    page: Page, data: dict[str, Any], facts: list[dict[str, Any]], month: str, tz: str = "UTC"
) -> None:
    """Every figure the page shows is the KPI functions' value; none of the main ones missing."""
    for key in page.figures:
        if key.startswith(("worst_services", "worst_cis")):
            continue
        assert shows(page.one(key), resolve(data, key), key), (
            key,
            page.one(key),
            resolve(data, key),
        )
    for required in ("kpis.sla.response.rate", "kpis.sla.resolution.rate", "kpis.mttr.mean_s",
                     "kpis.mttr.median_s", "kpis.mttr.p90_s", "kpis.mtbf.mtbf_s", "kpis.fcr.rate",
                     "kpis.reopen.rate", "kpis.satisfaction.average", "kpis.complaints.count",
                     "kpis.satisfaction.response_rate", "kpis.backlog.open"):  # fmt: skip
        assert required in page.figures, required
    for group in ("by_priority", "by_service"):
        for name in data[group]:
            assert f"{group}.{name}.sla.resolution.rate" in page.figures
    assert len([k for k in page.figures if k.endswith("window.label")]) == len(data["trend"])
    w = K.month(month, tz)
    for prio, a in K.attainment_by_priority(facts, w.start, w.end).items():
        for metric in ("response", "resolution"):
            key = f"by_priority.{prio}.sla.{metric}.rate"
            assert shows(page.one(key), getattr(a, metric).rate, key)
    # the most breached services, worst first, with their counts
    breaches = {
        s: k["sla"]["response"]["breached"] + k["sla"]["resolution"]["breached"]
        for s, k in data["by_service"].items()
        if s != K.UNSET
    }
    shown = [
        page.one(f"worst_services.{i}.name")
        for i in range(5)
        if f"worst_services.{i}.name" in page.figures
    ]
    assert [breaches[s] for s in shown] == sorted(
        (n for n in breaches.values() if n), reverse=True
    )[: len(shown)]
    assert len(shown) == min(5, sum(1 for n in breaches.values() if n))
    for i, name in enumerate(shown):
        assert page.one(f"worst_services.{i}.breached") == str(breaches[name])


def check_images(page: Page) -> None:
    """Three charts, each a valid SVG whose only text is numbers and month labels."""
    assert len(page.images) == 3
    for src in page.images:
        prefix = "data:image/svg+xml;base64,"
        assert src.startswith(prefix)
        root = ET.fromstring(base64.b64decode(src[len(prefix) :]))
        assert root.tag == f"{SVG}svg"
        for node in root.iter(f"{SVG}text"):
            assert re.fullmatch(r"[0-9.\-]+", node.text or ""), node.text


# -- scenarios -----------------------------------------------------------------------------------


def facts_of(engine: Engine) -> list[dict[str, Any]]:
    with Projections(engine) as projections:
        projections.catch_up()
        return projections.facts()


def hand_month(engine: Engine) -> None:
    """February: one quick fix. March: shop misses its targets, wiki one, mail meets them."""
    engine.define_policy(flat_policy(), actor="slm", at=at(1, 15, 9))
    desk = {"group": "desk", "urgency": "medium", "impact": "medium"}  # P3 at the L1 desk

    def opened(service: str, when: datetime) -> str:
        return engine.open_incident("down", service=service, at=when, **desk).number

    f1 = opened("shop", at(2, 12, 9))
    engine.acknowledge(f1, at=at(2, 12, 9, 10))
    engine.resolve(f1, "fixed", at=at(2, 12, 10))  # met, met; 1 h
    s1 = opened("shop", at(3, 4, 9))
    engine.acknowledge(s1, at=at(3, 4, 9, 10))
    engine.resolve(s1, "fixed", at=at(3, 4, 11))  # met, met; 2 h
    engine.record_satisfaction(s1, 2, at=at(3, 4, 12))
    s2 = opened("shop", at(3, 5, 9))
    engine.acknowledge(s2, at=at(3, 5, 9, 45))  # response due 09:30: breached
    engine.record_complaint(s2, "slow", at=at(3, 5, 12))
    engine.resolve(s2, "fixed", at=at(3, 5, 15))  # due 13:00: breached; 6 h
    s3 = opened("shop", at(3, 6, 9))
    engine.acknowledge(s3, at=at(3, 6, 9, 5))
    engine.resolve(s3, "fixed", at=at(3, 6, 14))  # met, breached; 5 h
    m1 = opened("mail", at(3, 7, 9))
    engine.acknowledge(m1, at=at(3, 7, 9, 5))
    engine.resolve(m1, "fixed", at=at(3, 7, 10))  # met, met; 1 h
    engine.record_satisfaction(m1, 5, at=at(3, 7, 11))
    w1 = opened("wiki", at(3, 8, 9))
    engine.acknowledge(w1, at=at(3, 8, 9, 40))  # breached
    engine.resolve(w1, "fixed", at=at(3, 8, 10))  # met; 1 h
    s4 = opened("shop", at(3, 31, 21))
    engine.acknowledge(s4, at=at(3, 31, 21, 10))  # met; resolution due Apr 1 01:00: running
    engine.tick(APRIL_1)


def test_hand_built_month_shows_the_hand_computed_figures_and_findings(engine: Engine) -> None:
    hand_month(engine)
    document = generate(engine, MARCH, as_of=APRIL_1)
    page = Page(document)
    facts = facts_of(engine)

    # shop response: met s1 s3 s4, breached s2 -> 3/4; resolution: met s1, breached s2 s3
    # (s4 running) -> 1/3; mail: m1 met both -> 100 %; wiki: w1 response breached -> 0 %
    assert page.one("by_service.shop.sla.response.rate") == "75.0%"
    assert page.one("by_service.shop.sla.resolution.rate") == "33.3%"
    assert page.one("by_service.mail.sla.resolution.rate") == "100.0%"
    assert page.classes["by_service.shop.sla.resolution.rate"] == "bad"
    assert page.classes["by_service.mail.sla.resolution.rate"] == "good"
    assert page.one("by_service.wiki.sla.response.rate") == "0.0%"
    # overall: response 4 met / 2 breached = 66.7 %; resolution 3 met / 2 breached = 60 %
    assert page.one("kpis.sla.response.rate") == "66.7%"
    assert page.one("kpis.sla.resolution.rate") == "60.0%"
    # MTTR of s1 2 h, s2 6 h, s3 5 h, m1 1 h, w1 1 h: mean 15 h / 5 = 3.0 h, median 2 h,
    # p90 at rank ceil(4.5) = 5: 6 h
    assert (page.one("kpis.mttr.mean_s"), page.one("kpis.mttr.median_s")) == ("3.0 h", "2.0 h")
    assert page.one("kpis.mttr.p90_s") == "6.0 h"
    assert page.one("kpis.satisfaction.average") == "3.50"  # (2 + 5) / 2
    assert page.one("kpis.backlog.open") == "1"  # s4
    # worst services: shop with 3 breaches of 7 decided (4 response + 3 resolution), then
    # wiki with 1 of 2 (50 %); mail had none
    worst = [
        tuple(page.one(f"worst_services.{i}.{f}") for f in ("name", "breached", "decided", "rate"))
        for i in range(2)
    ]
    assert worst == [("shop", "3", "7", "57.1%"), ("wiki", "1", "2", "50.0%")]
    assert "worst_services.2.name" not in page.figures
    trend = [page.one(f"trend.{i}.window.label") for i in range(6)]
    assert trend == ["2023-10", "2023-11", "2023-12", "2024-01", "2024-02", "2024-03"]

    codes = [code for code, _ in page.findings]
    below = [text for code, text in page.findings if code == "service_below"]
    # response: wiki 0 % before shop 75 % (worst first); resolution: shop; mail met its targets
    assert [t.split(":")[0] for t in below] == ["Service wiki", "Service shop", "Service shop"]
    assert "Service shop: Resolution SLA attainment 33.3%, below the 90.0% target" in below[2]
    # February: 100 % both -> March 66.7 % and 60 %; mean MTTR 1 h -> 3 h; backlog 0 -> 1
    assert codes.count("attainment_fell") == 2
    assert {"overall_below", "mttr_rising", "backlog_rising", "satisfaction_below",
            "complaints"} <= set(codes)  # fmt: skip
    assert "all_on_target" not in codes
    check_figures(page, expected(facts, MARCH, "2023-10"), facts, MARCH)
    check_images(page)


def test_every_format_and_edition_renders_the_same_figures(engine: Engine) -> None:
    hand_month(engine)
    facts = facts_of(engine)
    data = expected(facts, MARCH, "2023-10")
    for lang in ("en", "zh"):
        page = Page(generate(engine, MARCH, fmt="html", lang=lang, as_of=APRIL_1))
        check_figures(page, data, facts, MARCH)
        check_images(page)
        as_json = json.loads(generate(engine, MARCH, fmt="json", lang=lang, as_of=APRIL_1))
        for key in ("kpis", "by_priority", "by_service", "mtbf_by_service", "trend"):
            assert as_json[key] == data[key], key
        assert [f["code"] for f in as_json["findings"]] == [c for c, _ in page.findings]
        markdown = generate(engine, MARCH, fmt="md", lang=lang, as_of=APRIL_1)
        assert re.search(r"^\| shop \| 4 \| 3 \| 3 \| 1 \| \*\*75\.0%\*\* \|", markdown, re.M)
        assert "data:image" not in markdown and "2023-10" in markdown
    zh = generate(engine, MARCH, fmt="html", lang="zh", as_of=APRIL_1)
    assert '<html lang="zh-CN">' in zh
    assert all(term in zh for term in ITSS_TERMS)
    assert all(
        term in generate(engine, MARCH, fmt="md", lang="zh", as_of=APRIL_1) for term in ITSS_TERMS
    )


def test_an_empty_month_renders_in_every_format_and_edition(engine: Engine) -> None:
    for lang in ("en", "zh"):
        page = Page(generate(engine, "2026-11", fmt="html", lang=lang))
        assert page.one("kpis.opened") == "0" and page.one("kpis.sla.response.rate") == "—"
        assert page.one("kpis.mttr.mean_s") == "—"
        assert [code for code, _ in page.findings] == ["no_tickets"]
        check_images(page)
        as_json = json.loads(generate(engine, "2026-11", fmt="json", lang=lang))
        assert as_json["kpis"]["sla"]["response"]["rate"] is None
        assert as_json["findings"][0]["code"] == "no_tickets"
        assert "2026-11" in generate(engine, "2026-11", fmt="md", lang=lang)


def test_the_demo_writes_its_months_report_beside_the_database(tmp_path: Path) -> None:
    month = "2025-05"
    with Engine(Settings(db_path=str(tmp_path / "demo.db"))) as engine:
        summary = run_demo(engine, datetime(2025, 5, 1).date(), seed=7, scale=0.05)
        facts = facts_of(engine)
    assert summary.report == str(tmp_path / f"demo-report-{month}.html")
    assert summary.to_dict()["report"] == summary.report
    page = Page(Path(summary.report).read_text(encoding="utf-8"))
    data = expected(facts, month, "2024-12", DEMO_TZ.key)
    check_figures(page, data, facts, month, DEMO_TZ.key)
    check_images(page)
    assert page.one("kpis.opened") == str(data["kpis"]["opened"]) != "0"
    for i in range(5):  # CIs by their registered names, not their numbers
        if f"worst_cis.{i}.name" in page.figures:
            assert not re.fullmatch(r"CI-\d+", page.one(f"worst_cis.{i}.name"))


def test_a_service_below_target_is_a_finding_and_one_on_target_is_not() -> None:
    """Facts built directly: the findings are a function of the figures and the targets."""
    facts = [
        fact("INC-1", "a", "met"), fact("INC-2", "a", "breached"),  # a: 50 %
        fact("INC-3", "b", "met"), fact("INC-4", "b", "met"),  # b: 100 %
    ]  # fmt: skip
    report = build(facts, MARCH)
    below = [f.params["service"] for f in report.findings if f.code == "service_below"]
    assert below == ["a"]
    relaxed = build(facts, MARCH, targets=ReportTargets.parse(["resolution=50"]))
    assert "service_below" not in {f.code for f in relaxed.findings}
    html = render(report, "html", "en")
    assert "Service a: Resolution SLA attainment 50.0%, below the 90.0% target" in html


def fact(number: str, service: str, resolution: str) -> dict[str, Any]:
    """The facts of an incident opened and resolved on March 4 with that SLA outcome."""
    return {
        "number": number, "kind": "incident", "priority": "P3", "service": service, "ci": None,
        "group": "desk", "state": "resolved", "opened_at": "2024-03-04T09:00:00+00:00",
        "acknowledged_at": "2024-03-04T09:10:00+00:00",
        "resolved_at": "2024-03-04T12:00:00+00:00",
        "first_resolved_at": "2024-03-04T12:00:00+00:00", "resolved_tier": "L1",
        "reopen_count": 0, "reassignment_count": 0, "functional_escalations": 0,
        "escalation_level": 0, "satisfaction": None, "sla": {"resolution": resolution},
        "sla_at": {"resolution": "2024-03-04T12:00:00+00:00"},
        "open_intervals": [["2024-03-04T09:00:00+00:00", "2024-03-04T12:00:00+00:00"]],
        "complaint_times": [], "caused_by_change": [],
    }  # fmt: skip


# -- options and charts --------------------------------------------------------------------------


@given(st.sampled_from(["response", "resolution", "fcr", "solved_24h", "reopen"]),
       st.decimals(min_value=0, max_value=100, places=2))  # fmt: skip
def test_rate_targets_are_given_in_percent(name: str, percent: Any) -> None:
    targets = ReportTargets.parse([f"{name}={percent}"])
    assert getattr(targets, name) == float(percent) / 100


@pytest.mark.parametrize(
    ("item", "field"),
    [("speed=9", "target"), ("fcr=x", "target.fcr"), ("fcr=101", "target.fcr"),
     ("satisfaction=6", "target.satisfaction")],
)  # fmt: skip
def test_bad_targets_name_the_field(item: str, field: str) -> None:
    with pytest.raises(InputError) as error:
        ReportTargets.parse([item])
    assert error.value.field == field


@pytest.mark.parametrize(
    ("month", "options", "field"),
    [("2024-13", {}, "month"), ("March", {}, "month"), (MARCH, {"tz": "Mars/Base"}, "tz"),
     (MARCH, {"kinds": ("incidents",)}, "kinds"), (MARCH, {"trend_months": 0}, "trend_months")],
)  # fmt: skip
def test_bad_report_options_name_the_field(month: str, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as error:
        build([], month, **options)
    assert error.value.field == field


values = st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=1, max_size=12)


@given(st.lists(values, min_size=1, max_size=4), st.booleans())
def test_charts_are_valid_svg_with_every_mark_inside_the_picture(
    columns: list[list[float | None]], bars: bool
) -> None:
    n = len(columns[0])
    series = [Series((c + [None] * n)[:n], "#000") for c in columns]
    labels = [f"2024-{i:02d}" for i in range(1, n + 1)]
    if bars:
        series = [Series([None if v is None else abs(v) for v in s.values], "#000") for s in series]
    root = ET.fromstring(bar_chart(labels, series) if bars else line_chart(labels, series))
    for node in root.iter():
        for name, bound in (("cx", WIDTH), ("cy", HEIGHT), ("x", WIDTH), ("y", HEIGHT)):
            if name in node.attrib and node.attrib[name][-1] != "%":
                assert -0.05 <= float(node.attrib[name]) <= bound + 0.05, (name, node.attrib)
    assert len(list(root.iter(f"{SVG}circle" if not bars else f"{SVG}rect"))) >= (
        sum(v is not None for s in series for v in s.values) + (1 if bars else 0)
    )


# -- the command line ----------------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``opsledger ...`` with the report command registered as the CLI registers it."""
    build_parser = cli.build_parser

    def with_report() -> argparse.ArgumentParser:
        parser = build_parser()
        nouns = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "report" not in nouns.choices:  # until cli.py registers it itself
            common = [
                cli._parent(o) for o in (cli.OUTPUT_OPTIONS, cli.STORE_OPTIONS, cli.WRITE_OPTIONS)
            ]
            cli_report.add_parsers(nouns, common, cli._engine)
        return parser

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "build_parser", with_report)
        code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_command_writes_each_format_and_names_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "events.db"
    with Engine(Settings(db_path=str(db))) as engine:
        hand_month(engine)
    base = ["report", "--db", str(db), "--month", MARCH]
    out = tmp_path / "march.html"
    code, printed, _ = run_cli([*base, "--out", str(out)], capsys)
    assert (code, printed.strip()) == (0, str(out))
    assert (
        Page(out.read_text(encoding="utf-8")).one("by_service.shop.sla.resolution.rate") == "33.3%"
    )
    code, printed, _ = run_cli([*base, "--format", "md", "--lang", "zh"], capsys)
    assert code == 0 and all(term in printed for term in ITSS_TERMS)
    code, printed, _ = run_cli(["--format", "json", *base], capsys)
    assert code == 0 and json.loads(printed)["month"] == MARCH
    code, printed, _ = run_cli([*base, "--format", "json", "--target", "resolution=30"], capsys)
    assert "service_below" not in {f["code"] for f in json.loads(printed)["findings"]
                                   if f["params"].get("metric") == "resolution"}  # fmt: skip
    for argv, field in (
        (["report", "--db", str(db), "--month", "2024-13"], "month"),
        (["report", "--db", str(db), "--month", "11/2026"], "month"),
        ([*base, "--tz", "Mars/Base"], "tz"),
        ([*base, "--target", "fcr=lots"], "target.fcr"),
        ([*base, "--out", str(tmp_path / "no" / "such.html")], "out"),
    ):
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and err.startswith(f"opsledger: error: {field}:"), (argv, err)
    code, _, err = run_cli(["report", "--db", str(tmp_path / "missing.db")], capsys)
    assert code == 3, err


def test_detected_to_restored_is_shown_only_with_monitoring_incidents(engine: Engine) -> None:
    hand_month(engine)
    assert (
        "kpis.detected_to_restored.count"
        not in Page(generate(engine, MARCH, as_of=APRIL_1)).figures
    )
    # an alert that started at 08:00, reached us at 08:30 and was restored at 10:00: 2 h
    engine.ingest("alertmanager", "fp-1", "open", summary="disk", occurred_at=at(3, 12, 8),
                  at=at(3, 12, 8, 30))  # fmt: skip
    engine.ingest("alertmanager", "fp-1", "resolve", at=at(3, 12, 10))
    page = Page(generate(engine, MARCH, as_of=APRIL_1))
    assert page.one("kpis.detected_to_restored.count") == "1"
    assert page.one("kpis.detected_to_restored.mean_s") == "2.0 h"
    assert page.one("kpis.detected_to_restored.median_s") == "2.0 h"
    assert "从告警到恢复" in generate(engine, MARCH, lang="zh", as_of=APRIL_1)
