"""The dashboard's pages through HTTP (FastAPI's TestClient), on a small desk worked out by hand.

The desk's SLA counts office hours in UTC, 09:00-17:00 Monday to Friday (8 business hours a
day); P3 targets are 4 h response and 16 h resolution. "Now" is Monday 2024-03-11 10:00 UTC,
from a FixedClock, so every countdown below is exact.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from opsledger.adapters.http.dashboard import dashboard_router
from opsledger.projections.service import Projections

from opsledger import Engine, FixedClock, Settings

NOW = datetime(2024, 3, 11, 10, 0, tzinfo=UTC)  # a Monday
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
POLICY: dict[str, Any] = {
    "name": "desk",
    "calendars": {
        "office": {"timezone": "UTC", "hours": {d: [["09:00", "17:00"]] for d in WORKDAYS}},
        "24x7": {"timezone": "UTC", "always_open": True},
    },
    "targets": {
        "P1": {"calendar": "24x7", "response_minutes": 15, "resolution_minutes": 240},
        "P2": {"calendar": "office", "response_minutes": 60, "resolution_minutes": 480},
        "P3": {"calendar": "office", "response_minutes": 240, "resolution_minutes": 960},
        "P4": {"calendar": "office", "response_minutes": 480, "resolution_minutes": 1920},
    },
}
SCRIPT = '<script>window.__xss=1</script> & "quotes"'
ODD_GROUP = 'ops"<b>'


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Desk:
    engine: Engine
    projections: Projections
    late: str  # INC-000001
    done: str  # INC-000002
    risky: str  # INC-000003
    held: str  # INC-000004
    fine: str  # INC-000005


def build_desk(path: Path) -> Desk:
    """Five incidents; nothing ticks the SLA scheduler, so no warning or breach is recorded:
    what the pages say about them is computed as of now."""
    clock = FixedClock(utc("2024-03-01 08:00"))
    engine = Engine(Settings(db_path=str(path)), clock=clock)
    engine.define_policy(POLICY, actor="slm")
    # late, P3, Mon 03-04 09:00, never acknowledged: response due 13:00 that day. By now it has
    # used Mon-Fri 5 x 8 h + Mon 09:00-10:00 = 41 h of 4 h: overdue by 37 h.
    late = engine.open_incident("Printer on fire", actor="ann", at=utc("2024-03-04 09:00")).number
    engine.assign(late, "desk", "bob", actor="ann", at=utc("2024-03-04 09:01"))
    # done, P3, Tue 03-05 10:00, acknowledged after 30 min, resolved after 2 h: both met.
    done = engine.open_incident("Mouse lost", actor="ann", at=utc("2024-03-05 10:00")).number
    engine.assign(done, "desk", "bob", actor="ann", at=utc("2024-03-05 10:00"))
    engine.acknowledge(done, actor="bob", at=utc("2024-03-05 10:30"))
    engine.resolve(done, "fixed", actor="bob", at=utc("2024-03-05 12:00"))
    # risky, P3, Fri 03-08 15:00: Fri 15-17 (2 h) + Mon 09-10 (1 h) = 3 h of 4 h used (75 %),
    # 1 h left, due Mon 11:00.
    risky = engine.open_incident("VPN flaps", actor="ann", at=utc("2024-03-08 15:00")).number
    engine.assign(risky, "network", "ann", actor="ann", at=utc("2024-03-08 15:00"))
    # held, P3, Mon 03-11 09:00, on hold awaiting the customer at 09:30: both clocks paused
    # with 30 min used; response 3 h 30 min left, due at 13:30 if resumed now.
    held = engine.open_incident(SCRIPT, actor="ann", at=utc("2024-03-11 09:00")).number
    engine.assign(held, ODD_GROUP, None, actor="ann", at=utc("2024-03-11 09:00"))
    engine.hold(held, "awaiting_customer", actor="ann", at=utc("2024-03-11 09:30"))
    # fine, P4 (medium impact, low urgency), Mon 03-11 09:30, acknowledged after 10 min:
    # resolution 32 h, 30 min used, 31 h 30 min left.
    fine = engine.open_incident(
        "Wallpaper", urgency="low", actor="ann", at=utc("2024-03-11 09:30")
    ).number
    engine.assign(fine, "desk", "bob", actor="ann", at=utc("2024-03-11 09:30"))
    engine.acknowledge(fine, actor="bob", at=utc("2024-03-11 09:40"))
    clock.set(NOW)
    return Desk(engine, Projections(engine), late, done, risky, held, fine)


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = build_desk(tmp_path / "desk.db")
    try:
        yield d
    finally:
        d.projections.close()
        d.engine.close()


@pytest.fixture
def client(desk: Desk) -> TestClient:
    app = FastAPI()
    app.include_router(dashboard_router(engine=desk.engine, projections=desk.projections))
    return TestClient(app)


def rows(html: str) -> dict[str, str]:
    """Queue rows by ticket number (each row's HTML)."""
    found = re.findall(r'(<tr class="ticket [^"]*" data-number="([^"]+)".*?</tr>)', html, re.S)
    return {number: row for row, number in found}


def text(html: str) -> str:
    """The visible text, tags dropped and whitespace collapsed (entities kept)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- work queues -----------------------------------------------------------------------------


def test_queue_lists_open_tickets_per_group_with_health_and_countdown(
    client: TestClient, desk: Desk
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    queue = rows(page.text)
    assert set(queue) == {desk.late, desk.risky, desk.held, desk.fine}  # done is resolved
    assert 'data-sla="breached"' in queue[desk.late]
    assert "BREACHED (response, resolution)" in text(queue[desk.late])
    assert "response: overdue by 37h 00m 00s" in text(queue[desk.late])
    assert 'data-sla="at-risk"' in queue[desk.risky]
    assert "AT RISK (response)" in text(queue[desk.risky])
    assert "response: 1h 00m 00s left" in text(queue[desk.risky])
    assert "2024-03-11 11:00:00 UTC" in text(queue[desk.risky])  # the due instant
    assert 'data-sla="ok"' in queue[desk.held]
    assert "response (paused): 3h 30m 00s left" in text(queue[desk.held])
    assert "data-open" not in queue[desk.held]  # a paused clock does not tick
    assert "resolution: 31h 30m 00s left" in text(queue[desk.fine])
    for group in ("desk", "network"):
        assert f'<section class=group data-group="{group}">' in page.text
    assert "1 BREACHED" in text(page.text) and "1 AT RISK" in text(page.text)
    assert "<script>(function" in page.text  # the countdown script comes with countdowns


def test_countdown_carries_the_open_business_time_ahead(client: TestClient, desk: Desk) -> None:
    row = rows(client.get("/queues").text)[desk.risky]
    match = re.search(r'data-now="([\d.]+)" data-remaining="([\d.-]+)" data-open="([^"]+)"', row)
    assert match is not None
    now, remaining = float(match[1]), float(match[2])
    assert now == NOW.timestamp() and remaining == 3600
    spans = [tuple(pair) for pair in __import__("json").loads(match[3].replace("&quot;", '"'))]
    # from now (Mon 10:00) to the office's close, then each later weekday 09:00-17:00
    assert spans[0] == (NOW.timestamp(), utc("2024-03-11 17:00").timestamp())
    assert spans[1] == (utc("2024-03-12 09:00").timestamp(), utc("2024-03-12 17:00").timestamp())


def test_queue_filters_by_group_and_assignee(client: TestClient, desk: Desk) -> None:
    assert set(rows(client.get("/queues", params={"group": "network"}).text)) == {desk.risky}
    by_bob = client.get("/queues", params={"assignee": "bob"}).text
    assert set(rows(by_bob)) == {desk.late, desk.fine}
    both = client.get("/queues", params={"group": "desk", "assignee": "bob"}).text
    assert set(rows(both)) == {desk.late, desk.fine}
    assert '<option value="bob" selected>' in both
    nobody = client.get("/queues", params={"group": "desk", "assignee": "ann"}).text
    assert rows(nobody) == {} and "No open tickets match." in nobody
    assert set(rows(client.get("/queues", params={"group": ""}).text)) == {
        desk.late,
        desk.risky,
        desk.held,
        desk.fine,
    }


def test_user_input_is_escaped_everywhere(client: TestClient, desk: Desk) -> None:
    escaped = "&lt;script&gt;window.__xss=1&lt;/script&gt; &amp;"
    for url in ("/", f"/tickets/{desk.held}", "/queues?group=" + ODD_GROUP):
        html = client.get(url).text
        assert "<script>window" not in html
        assert escaped in html
    queue = client.get("/").text
    assert 'data-group="ops&quot;&lt;b&gt;"' in queue
    assert '<option value="ops&quot;&lt;b&gt;">' in queue
    hostile = client.get("/queues", params={"assignee": '"><script>x()</script>'}).text
    assert "<script>x()" not in hostile and "&quot;&gt;&lt;script&gt;x()" in hostile


def test_dependencies_guard_every_page(desk: Desk) -> None:
    def token(x_token: str | None = Header(default=None)) -> None:
        if x_token != "secret":
            raise HTTPException(status_code=401, detail="token required")

    from fastapi import Depends

    app = FastAPI()
    router = dashboard_router(
        engine=desk.engine, projections=desk.projections, dependencies=[Depends(token)]
    )
    app.include_router(router)
    client = TestClient(app)
    urls = ["/", "/queues", "/kpis", f"/tickets/{desk.late}", "/tickets/INC-999999"]
    for url in urls:
        assert client.get(url).status_code == 401, url
    assert [client.get(u, headers={"X-Token": "secret"}).status_code for u in urls] == [
        200,
        200,
        200,
        200,
        404,
    ]


def test_links_follow_the_prefix_the_router_is_mounted_at(desk: Desk) -> None:
    app = FastAPI()
    app.include_router(
        dashboard_router(engine=desk.engine, projections=desk.projections), prefix="/dash"
    )
    client = TestClient(app)
    queue = client.get("/dash/").text
    assert f'href="/dash/tickets/{desk.late}"' in queue
    assert 'href="/dash/kpis"' in queue
    assert client.get(f"/dash/tickets/{desk.late}").status_code == 200


# -- KPIs ------------------------------------------------------------------------------------


def kpi(html: str, key: str) -> str:
    match = re.search(
        rf'<table class=kpis id=month-kpis.*?data-kpi="{re.escape(key)}">([^<]*)<', html, re.S
    )
    assert match is not None, key
    return match[1]


def test_kpi_page_shows_the_month_in_charts_and_numbers(client: TestClient) -> None:
    html = client.get("/kpis").text  # the month of the engine's clock: 2024-03
    assert "<h1>KPIs · 2024-03 · all services</h1>" in html
    # opened in March: all five; resolved: one. Acknowledged: done after 30 min and fine after
    # 10 min, so MTTA mean (30 + 10) / 2 = 20 min; MTTR: done, 10:00 -> 12:00 = 2.0 h.
    assert kpi(html, "opened") == "5"
    assert kpi(html, "resolved") == "1"
    assert kpi(html, "mtta.mean_s") == "20 min"
    assert kpi(html, "mttr.mean_s") == "2.0 h"
    # decided SLA outcomes only: done's and fine's responses met, done's resolution met; the
    # late clocks ran out but no breach is recorded until the scheduler ticks
    assert kpi(html, "sla.response.rate") == "100.0%"
    assert kpi(html, "sla.resolution.rate") == "100.0%"
    # the backlog as of now (the month is not over): late, risky, held, fine
    assert kpi(html, "backlog.open") == "4"
    charts = re.findall(r"<figure class=chart data-chart=\"([^\"]+)\">.*?<svg ", html, re.S)
    assert charts == ["sla", "mtta", "mttr", "volume"]  # no service, no by-service chart
    assert html.count("<tr data-month=") == 6  # six months of trend, October to March


def test_kpi_page_for_another_month_and_a_service(desk: Desk, client: TestClient) -> None:
    desk.engine.open_incident("Mail down", service="mail", actor="ann", at=NOW)
    html = client.get("/kpis", params={"month": "2024-03", "service": "mail", "months": "3"}).text
    assert "<h1>KPIs · 2024-03 · mail</h1>" in html
    assert kpi(html, "opened") == "1"
    assert '<option value="mail" selected>' in html
    assert html.count("<tr data-month=") == 3
    february = client.get("/kpis", params={"month": "2024-02"}).text
    assert kpi(february, "opened") == "0"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"month": "March"}, "month"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"months": "x"}, "months"),
        ({"months": "99"}, "months"),
        ({"service": "s" * 300}, "service"),
    ],
)
def test_bad_kpi_queries_are_400_pages_naming_the_field(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    page = client.get("/kpis", params=query)
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert f"{field}: " in page.text


# -- ticket pages ----------------------------------------------------------------------------


def marks(html: str, cls: str) -> list[str]:
    return re.findall(rf'<g class="{cls}" data-at="([^"]+)"', html)


def spans(html: str, cls: str) -> list[tuple[str, str]]:
    return re.findall(rf'<rect class="{cls}" data-start="([^"]+)" data-end="([^"]+)"', html)


def clock_svg(html: str, key: str) -> str:
    match = re.search(rf'<svg [^>]*data-clock="{re.escape(key)}".*?</svg>', html, re.S)
    assert match is not None, key
    return match[0]


def test_ticket_page_draws_each_clock_against_business_hours(
    client: TestClient, desk: Desk
) -> None:
    html = client.get(f"/tickets/{desk.risky}").text
    response = clock_svg(html, "sla/desk/response")
    assert 'data-health="at-risk"' in response
    # counted: Fri 15:00-17:00 and Mon 09:00-now (10:00); the weekend is closed
    assert spans(response, "counted") == [
        ("2024-03-08T15:00:00Z", "2024-03-08T17:00:00Z"),
        ("2024-03-11T09:00:00Z", "2024-03-11T10:00:00Z"),
    ]
    for start, end in spans(response, "open-hours"):
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        assert a.weekday() < 5 and a.date() == (b - timedelta(microseconds=1)).date()
        assert a.hour >= 9 and (b.hour, b.minute) <= (17, 0)
    # thresholds of 4 h: 50 % = 2 h -> Fri 17:00; 75 % = 3 h -> Mon 10:00; 90 % = 3 h 36 min
    # -> Mon 10:36; target runs out Mon 11:00
    assert marks(response, "threshold") == [
        "2024-03-08T17:00:00Z",
        "2024-03-11T10:00:00Z",
        "2024-03-11T10:36:00Z",
    ]
    assert marks(response, "due") == ["2024-03-11T11:00:00Z"]
    assert marks(response, "now") == ["2024-03-11T10:00:00Z"]
    assert marks(response, "breach") == []
    assert 'class="used" data-seconds="10800"' in response  # 3 h used


def test_ticket_page_marks_pauses_and_breaches(client: TestClient, desk: Desk) -> None:
    held = client.get(f"/tickets/{desk.held}").text
    response = clock_svg(held, "sla/desk/response")
    assert spans(response, "paused") == [("2024-03-11T09:30:00Z", "2024-03-11T10:00:00Z")]
    assert spans(response, "counted") == [("2024-03-11T09:00:00Z", "2024-03-11T09:30:00Z")]
    assert marks(response, "due") == ["2024-03-11T13:30:00Z"]  # if resumed now: 10:00 + 3.5 h
    assert "Due if resumed now" in held
    late = client.get(f"/tickets/{desk.late}").text
    response = clock_svg(late, "sla/desk/response")
    assert 'data-health="breached"' in response
    # ran out Mon 03-04 13:00, an open instant, so breached then (not recorded: no tick yet)
    assert marks(response, "due") == marks(response, "breach") == ["2024-03-04T13:00:00Z"]
    assert "overdue by 37h 00m 00s" in text(late)


def test_ticket_page_shows_header_and_every_event(client: TestClient, desk: Desk) -> None:
    html = client.get(f"/tickets/{desk.done}").text
    assert f"<span id=number>{desk.done}</span>" in html
    assert '<dd data-field="state">resolved</dd>' in html
    assert '<dd data-field="resolved"><time datetime="2024-03-05T12:00:00Z">' in html
    events = re.findall(r'<tr class=event data-event="([^"]+)">', html)
    assert events == [e.event for e in desk.engine.history(desk.done)]
    assert "ClockMet" in events and "Resolved" in events
    met = clock_svg(html, "sla/desk/resolution")
    assert 'data-health="met"' in met and marks(met, "now") == []


def test_timeline_comes_from_the_audit_module_when_there_is_one(
    client: TestClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dataclass
    class Entry:  # the shape of opsledger.core.audit.TimelineEntry.to_dict()
        at: datetime
        actor: str
        event: str
        text: str

        def to_dict(self) -> dict[str, Any]:
            return {
                "version": 1,
                "at": self.at.isoformat(),
                "actor": self.actor,
                "event": self.event,
                "text": self.text,
                "details": {"code": "x<y"},
            }

    audit = types.ModuleType("opsledger.core.audit")
    audit.timeline = lambda engine, number: [  # type: ignore[attr-defined]
        Entry(NOW, "bob", "Opened", f"{number} <b>reported</b> by bob")
    ]
    monkeypatch.setitem(sys.modules, "opsledger.core.audit", audit)
    html = client.get(f"/tickets/{desk.late}").text
    assert "(1 events, audit timeline)" in html
    assert "<div class=says>INC-000001 &lt;b&gt;reported&lt;/b&gt; by bob</div>" in html
    assert "<b>code</b>: x&lt;y" in html


def test_timeline_falls_back_to_the_history_without_the_audit_module(
    client: TestClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opsledger.core.audit", None)  # import fails: not there
    html = client.get(f"/tickets/{desk.late}").text
    history = desk.engine.history(desk.late)
    assert f"({len(history)} events, event history)" in html
    assert re.findall(r'<tr class=event data-event="([^"]+)">', html) == [e.event for e in history]


@pytest.mark.parametrize("number", ["INC-999999", "not-a-number", "CI-000001", "x" * 500])
def test_unknown_ticket_is_a_404_page(client: TestClient, desk: Desk, number: str) -> None:
    if number == "CI-000001":
        desk.engine.register_ci("server", "db-1", actor="ann")
    page = client.get(f"/tickets/{number}")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    assert "text/html" in page.headers["content-type"]


def test_ticket_numbers_are_read_in_any_spelling(client: TestClient, desk: Desk) -> None:
    page = client.get("/tickets/inc-3")  # INC-000003
    assert page.status_code == 200 and f"<span id=number>{desk.risky}</span>" in page.text
