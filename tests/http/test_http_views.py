"""Queues, KPIs, the report, the inbound event and the audit tools over HTTP."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import pytest
from opsledger.projections.service import Projections

from opsledger import FixedClock
from tests.http.desk import Desk

V = "/api/v1"


def test_queue_filters_as_the_cli_does(desk: Desk) -> None:
    a = desk.open_incident("db slow", impact="high", urgency="high")
    b = desk.open_incident("printer jam")
    c = desk.open_incident("vpn flaps")
    desk.post(f"{V}/tickets/{a}/assign", {"group": "dba", "assignee": "bob"})
    desk.post(f"{V}/tickets/{b}/assign", {"group": "desk"})
    desk.post(f"{V}/tickets/{b}/hold", {"reason": "awaiting_customer"})
    numbers = lambda **q: [e["number"] for e in desk.get(f"{V}/queue", params=q).json()]  # noqa: E731
    assert sorted(numbers()) == [a, b, c]
    assert numbers(group="dba") == [a]
    assert numbers(assignee="bob") == [a]
    assert numbers(unassigned="true") == [c]
    assert numbers(on_hold="awaiting_customer") == [b]
    assert len(numbers(limit=2)) == 2
    with Projections(desk.engine, ["work_queue"]) as views:
        assert desk.get(f"{V}/queue").json() == views.work_queue()


def test_kpis_of_a_month_and_a_service(desk: Desk, clock: FixedClock) -> None:
    # T0 is Monday 2024-03-04 09:00 UTC; two payments incidents and one erp incident
    pay1 = desk.open_incident("card declines", service="payments")
    desk.open_incident("refund stuck", service="payments")
    desk.open_incident("ledger slow", service="erp")
    clock.advance(timedelta(minutes=30))
    desk.post(f"{V}/tickets/{pay1}/acknowledge")
    clock.advance(timedelta(hours=1, minutes=30))
    desk.post(f"{V}/tickets/{pay1}/resolve", {"code": "fixed"})  # at T0 + 2 h

    body = desk.get(f"{V}/kpis", params={"month": "2024-03", "service": "payments"}).json()
    assert (body["month"], body["service"], body["kinds"]) == ("2024-03", "payments", ["incident"])
    total = body["total"]
    assert (total["opened"], total["resolved"]) == (2, 1)
    assert total["mtta"]["mean_s"] == 1800.0  # acknowledged 30 minutes after opening
    assert total["mttr"]["mean_s"] == 7200.0  # resolved 2 hours after opening
    everyone = desk.get(f"{V}/kpis", params={"group_by": "service"}).json()  # the clock's month
    assert everyone["month"] == "2024-03" and everyone["total"]["opened"] == 3
    assert {k: v["opened"] for k, v in everyone["groups"].items()} == {"payments": 2, "erp": 1}
    bad = desk.get(f"{V}/kpis", params={"month": "March"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "month"
    zone = desk.get(f"{V}/kpis", params={"tz": "Mars/Olympus"})
    assert zone.status_code == 400


@pytest.mark.parametrize(
    ("fmt", "lang", "kind", "marker"),
    [
        ("md", "en", "text/markdown", "# Monthly service quality report"),
        ("html", "en", "text/html", "<!doctype html>"),
        ("json", "zh", "application/json", '"month": "2024-03"'),
    ],
)
def test_the_monthly_report(desk: Desk, fmt: str, lang: str, kind: str, marker: str) -> None:
    desk.open_incident(service="payments")
    response = desk.get(f"{V}/report", params={"month": "2024-03", "format": fmt, "lang": lang})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    assert marker.lower() in response.text.lower()
    if fmt == "json":
        assert json.loads(response.text)["month"] == "2024-03"


def test_report_targets_and_bad_options(desk: Desk) -> None:
    ok = desk.get(f"{V}/report", params={"month": "2024-03", "format": "json",
                                         "target": ["response=99", "reopen=2"]})  # fmt: skip
    assert ok.status_code == 200, ok.text
    bad = desk.get(f"{V}/report", params={"month": "2024-03", "target": "speed=9"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "target"
    assert desk.get(f"{V}/report", params={"format": "pdf"}).status_code == 400


def test_inbound_event_opens_deduplicates_and_resolves(desk: Desk) -> None:
    alert = {"source": "alertmanager", "external_id": "fp-1", "state": "open",
             "summary": "disk full on db-1", "impact": "high",
             "occurred_at": "2024-03-04T08:58:00Z",
             "details": {"labels": {"job": "node"}}}  # fmt: skip
    first = desk.post(f"{V}/inbound", alert, role="integration")
    assert first.status_code == 200, first.text
    number = first.json()["number"]
    resent = desk.post(f"{V}/inbound", alert, role="integration")
    assert resent.json()["duplicate"] is True  # same source instant: the default key
    repeat = desk.post(f"{V}/inbound", alert | {"occurred_at": "2024-03-04T09:00:00Z"},
                       role="integration")  # fmt: skip
    assert repeat.json()["number"] == number
    assert desk.engine.record(number).occurrences == 2  # type: ignore[attr-defined]
    resolved = desk.post(f"{V}/inbound", {"source": "alertmanager", "external_id": "fp-1",
                                           "state": "resolve"}, role="integration")  # fmt: skip
    assert resolved.status_code == 200
    assert desk.engine.get(number)["state"] == "resolved"
    assert desk.engine.get(number)["opened_at"] == "2024-03-04T08:58:00+00:00"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"source": "x", "external_id": "1", "state": "explode"}, "state"),
        ({"source": "x", "external_id": "1", "state": "open"}, "summary"),
        ({"source": " x", "external_id": "1", "state": "open", "summary": "s"}, "source"),
        ({"external_id": "1", "state": "open"}, "source"),
        ({"source": "x", "external_id": "1", "state": "open", "summary": "s", "reopen": "no"},
         "reopen"),
        ({"source": "x", "external_id": "1", "state": "open", "summary": "s", "labels": {}},
         "labels"),
    ],
)  # fmt: skip
def test_inbound_event_refusals_name_the_field(
    desk: Desk, event: dict[str, object], field: str
) -> None:
    response = desk.post(f"{V}/inbound", event, role="integration")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_audit_verify_and_export(desk: Desk) -> None:
    desk.open_incident()
    verified = desk.get(f"{V}/audit/verify", role="auditor")
    assert verified.status_code == 200 and verified.json()["ok"] is True
    export = desk.get(
        f"{V}/audit/export", role="auditor",
        params={"from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z"},
    )  # fmt: skip
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in export.text.splitlines()]
    manifest = json.loads(export.headers["x-opsledger-manifest"])
    assert manifest["rows"] == len(rows) > 0
    csv = desk.get(f"{V}/audit/export", role="auditor", params={
        "from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z", "format": "csv"})  # fmt: skip
    assert csv.headers["content-type"].startswith("text/csv")
    backwards = desk.get(f"{V}/audit/export", role="auditor", params={
        "from": "2024-04-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"})  # fmt: skip
    assert backwards.status_code == 400 and backwards.json()["error"]["field"] == "to"


def test_timeline_reads_in_words(desk: Desk) -> None:
    number = desk.open_incident()
    entries = desk.get(f"{V}/tickets/{number}/timeline").json()
    assert [e["event"] for e in entries] == ["Opened"]
    assert entries[0]["actor"] == "agent-1" and entries[0]["text"]


def test_audit_answers_501_while_the_tools_are_missing(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opsledger.core.audit", None)  # as if never written
    response = desk.get(f"{V}/audit/verify", role="auditor")
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "not_implemented"


@pytest.mark.parametrize("path", [f"{V}/kpis", f"{V}/report"])
def test_months_at_the_edge_of_the_calendar_are_400(desk: Desk, path: str) -> None:
    # 9999-12 ends in year 10000, which Python's dates do not reach
    response = desk.get(path, params={"month": "9999-12", "tz": "Etc/GMT-14"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "month"


def test_kpis_of_an_unknown_kind_is_400_naming_kinds(desk: Desk) -> None:
    response = desk.get("/api/v1/kpis?month=2024-03&kinds=incident,bogus")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "kinds"
