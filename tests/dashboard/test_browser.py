"""End to end: the dashboard served by uvicorn over a demo month, read in headless Chromium.

What each page should show is worked out here through other paths than the page's own code
(``Engine.sla_status`` for clock health, ``projections.kpis`` for the numbers, the demo's own
summary for the month's volume), then compared with what the browser displays.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.core.domain.calendar import BusinessCalendar
from opsledger.projections import kpis as K
from opsledger.projections.report_i18n import duration, pct
from opsledger.projections.service import Projections
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from opsledger import Engine, FixedClock, Settings

Shot = Callable[[str], Path]
Serve = Callable[[Engine, Projections], AbstractContextManager[str]]
#: As the demo fixtures' ``demo_now``: Monday 2 June 2025, 14:00 in Amsterdam.
DEMO_NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _same_now(demo_now: datetime) -> None:
    assert demo_now == DEMO_NOW


def expected_health(engine: Engine, number: str) -> str:
    """The queue's rule, from the clocks as ``sla_status`` rebuilds them as of now."""
    clocks = [c for c in engine.sla_status(number, as_of=DEMO_NOW) if c.agreement == "sla"]
    counted = [c for c in clocks if c.state != "cancelled"]
    live = [c for c in counted if c.state in ("running", "paused")]
    if any(c.breached for c in counted):
        return "breached"
    if any(c.elapsed >= c.target * 0.75 for c in live):
        return "at-risk"
    return "ok" if live else "none"


def seconds_left(text: str) -> int:
    match = re.fullmatch(r"(overdue by )?(\d+)h (\d\d)m (\d\d)s( left)?", text)
    assert match is not None, text
    total = int(match[2]) * 3600 + int(match[3]) * 60 + int(match[4])
    return -total if match[1] else total


def test_queue_shows_every_open_ticket_with_its_sla_health(
    browser: Any,
    demo_url: str,
    demo_engine: Engine,
    demo_projections: Projections,
    screenshot: Shot,
) -> None:
    browser.get(demo_url + "/queues")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.ticket")
    shown = {r.get_attribute("data-number"): r for r in rows}
    assert set(shown) == {e["number"] for e in demo_projections.work_queue()}
    seen: dict[str, int] = {}
    for number, row in shown.items():
        health = expected_health(demo_engine, number)
        assert row.get_attribute("data-sla") == health, number
        assert health in row.get_attribute("class").split()
        marker = row.find_element(By.CSS_SELECTOR, ".marker").text
        assert marker.startswith(
            {
                "breached": "BREACHED",
                "at-risk": "AT RISK",
                "ok": "on track",
                "none": "no SLA clock",
            }[health]
        )
        seen[health] = seen.get(health, 0) + 1
    # DEMO_NOW is chosen so the month's leftovers show every kind of row
    assert seen.get("breached", 0) >= 1 and seen.get("at-risk", 0) >= 1 and seen.get("ok", 0) >= 1
    summary = browser.find_element(By.CSS_SELECTOR, "p.summary").text
    assert f"{seen['breached']} BREACHED" in summary and f"{seen['at-risk']} AT RISK" in summary
    screenshot("queues")


def dropped(countdowns: list[Any]) -> Callable[[Any], bool]:
    """Whether any of the countdowns now shows less time left than it first did."""
    first = [seconds_left(c.text) for c in countdowns]
    return lambda _: any(seconds_left(c.text) < f for c, f in zip(countdowns, first, strict=True))


def test_countdowns_tick_while_the_desk_is_open(browser: Any, demo_url: str) -> None:
    browser.get(demo_url + "/queues")
    ticking = browser.find_elements(By.CSS_SELECTOR, "tr.ok .countdown[data-open]")
    assert ticking, "no running clock on the page"
    # DEMO_NOW is a Monday afternoon in Amsterdam office hours: business time passes there
    # (not on the Shanghai calendar, closed in its evening), so some countdown drops
    WebDriverWait(browser, 10).until(dropped(ticking))
    overdue = browser.find_elements(By.CSS_SELECTOR, "tr.breached .countdown.overdue")
    assert overdue and overdue[0].text.startswith("overdue by ")


def test_filters_narrow_the_queue(
    browser: Any, demo_url: str, demo_projections: Projections, screenshot: Shot
) -> None:
    browser.get(demo_url + "/queues")
    Select(browser.find_element(By.ID, "filter-group")).select_by_value("service-desk")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 10).until(lambda b: "group=service-desk" in b.current_url)
    groups = {
        s.get_attribute("data-group")
        for s in browser.find_elements(By.CSS_SELECTOR, "section.group")
    }
    assert groups == {"service-desk"}
    expected = demo_projections.work_queue(group="service-desk")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.ticket")) == len(expected)
    assignee = expected[0]["assignee"]
    Select(browser.find_element(By.ID, "filter-assignee")).select_by_value(assignee)
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 10).until(lambda b: f"assignee={assignee}" in b.current_url)
    cells = browser.find_elements(By.CSS_SELECTOR, "tr.ticket td.assignee")
    mine = demo_projections.work_queue(group="service-desk", assignee=assignee)
    assert [c.text for c in cells] == [assignee] * len(mine)
    screenshot("service-desk-" + assignee)


def test_kpi_page_charts_and_numbers_for_the_month(
    browser: Any,
    demo_url: str,
    demo: dict[str, Any],
    demo_projections: Projections,
    screenshot: Shot,
) -> None:
    tz = "Europe/Amsterdam"
    browser.get(f"{demo_url}/kpis?month=2025-05&tz={tz}")
    window = K.month("2025-05", tz)
    facts = demo_projections.facts()
    k = K.kpis(facts, window.start, window.end, as_of=DEMO_NOW)
    assert k.opened == demo["per_kind"]["incident"]  # every demo incident opened in May

    def figure(key: str) -> str:
        cell = browser.find_element(By.CSS_SELECTOR, f'#month-kpis [data-kpi="{key}"]')
        return str(cell.text)

    assert figure("opened") == str(k.opened)
    assert figure("resolved") == str(k.resolved)
    assert figure("backlog.open") == str(k.backlog.open)
    assert figure("mtta.mean_s") == duration(k.mtta.mean_s, "en")
    assert figure("mttr.median_s") == duration(k.mttr.median_s, "en")
    assert figure("sla.response.rate") == pct(k.sla.response.rate)
    assert figure("sla.resolution.rate") == pct(k.sla.resolution.rate)
    for chart in ("sla", "mtta", "mttr", "volume", "by-service"):
        svg = browser.find_element(By.CSS_SELECTOR, f'figure[data-chart="{chart}"] svg')
        assert svg.size["width"] > 300 and svg.size["height"] > 100, chart
    bars = browser.find_elements(By.CSS_SELECTOR, 'figure[data-chart="by-service"] svg rect')
    services = {f["service"] for f in facts if f.get("service")}
    assert len(bars) >= 2 * len(services)  # response and resolution per service (+ background)
    screenshot("all-services")

    Select(browser.find_element(By.ID, "service")).select_by_value("erp")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 10).until(lambda b: "service=erp" in b.current_url)
    erp = K.kpis_by(facts, window.start, window.end, "service", as_of=DEMO_NOW)["erp"]
    assert "erp" in browser.find_element(By.TAG_NAME, "h1").text
    assert figure("opened") == str(erp.opened)
    assert figure("sla.resolution.rate") == pct(erp.sla.resolution.rate)
    assert not browser.find_elements(By.CSS_SELECTOR, 'figure[data-chart="by-service"]')
    screenshot("erp")


def test_ticket_page_shows_timeline_and_clock_bars(
    browser: Any, demo_url: str, demo: dict[str, Any], demo_engine: Engine, screenshot: Shot
) -> None:
    number = demo["notable"]["resolution SLA breached"]
    browser.get(f"{demo_url}/tickets/{number}")
    assert browser.find_element(By.ID, "number").text == number
    history = demo_engine.history(number)
    source = browser.find_element(By.CSS_SELECTOR, "h2 .muted").text
    events = browser.find_elements(By.CSS_SELECTOR, "table.timeline tr.event")
    if "event history" in source:
        assert [e.get_attribute("data-event") for e in events] == [h.event for h in history]
    else:  # the audit tools' timeline: one line per event too
        assert len(events) == len(history)
    clocks = {c.clock: c for c in demo_engine.sla_status(number, as_of=DEMO_NOW)}
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.clock-bar")
    assert {b.get_attribute("data-clock") for b in bars} == set(clocks)
    breached = [b for b in bars if clocks[b.get_attribute("data-clock")].breached]
    assert breached and all(b.get_attribute("data-health") == "breached" for b in breached)
    bar = breached[0]
    key = bar.get_attribute("data-clock")
    recorded = next(h for h in history if h.event == "BreachRecorded" and h.details["clock"] == key)
    breach = bar.find_element(By.CSS_SELECTOR, "g.breach").get_attribute("data-at")
    assert breach == recorded.at.isoformat().replace("+00:00", "Z")
    assert bar.find_elements(By.CSS_SELECTOR, "rect.open-hours")
    assert bar.find_elements(By.CSS_SELECTOR, "rect.counted")
    screenshot(number)


def test_running_clock_ticks_on_the_ticket_page(
    browser: Any, demo_url: str, demo_projections: Projections
) -> None:
    number = next(e["number"] for e in demo_projections.work_queue() if e["due"])
    browser.get(f"{demo_url}/tickets/{number}")
    now = browser.find_elements(By.CSS_SELECTOR, "svg.clock-bar g.now")
    assert now and now[0].get_attribute("data-at") == "2025-06-02T12:00:00Z"
    countdowns = browser.find_elements(By.CSS_SELECTOR, ".countdown[data-open]")
    assert countdowns
    WebDriverWait(browser, 10).until(dropped(countdowns))


def test_unknown_ticket_is_a_not_found_page(browser: Any, demo_url: str, screenshot: Shot) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{demo_url}/tickets/INC-999999", timeout=10)
    assert raised.value.code == 404
    browser.get(f"{demo_url}/tickets/INC-999999")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "INC-999999" in browser.find_element(By.CSS_SELECTOR, "p.error").text
    screenshot("404")


def test_markup_in_a_summary_is_shown_as_text(
    browser: Any, tmp_path: Path, dashboard: Serve, screenshot: Shot
) -> None:
    summary = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
    clock = FixedClock(DEMO_NOW - timedelta(hours=1))
    with Engine(Settings(db_path=str(tmp_path / "x.db")), clock=clock) as engine:
        engine.define_policy(
            {
                "name": "any",
                "calendars": {"all": BusinessCalendar.twenty_four_seven().to_dict()},
                "targets": {"P3": {"calendar": "all", "response_minutes": 60}},
            },
            actor="slm",
        )
        number = engine.open_incident(summary, actor="mallory").number
        clock.set(DEMO_NOW)
        with Projections(engine) as projections, dashboard(engine, projections) as url:
            for path in ("/queues", f"/tickets/{number}"):
                browser.get(url + path)
                assert browser.execute_script("return window.__xss") is None
                assert summary in browser.find_element(By.TAG_NAME, "main").text
            screenshot("escaped")
