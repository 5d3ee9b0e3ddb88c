"""``opsledger projections …`` and ``opsledger queue`` through ``main([...])``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opsledger.core.domain.sla import default_policy

from opsledger import Engine, FixedClock, Settings
from opsledger.cli import main

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three tickets: a P1 on hold, an assigned P3, an unassigned P4; one closed P2."""
    path = tmp_path / "views.db"
    monkeypatch.setenv("OPSLEDGER_DB", str(path))
    monkeypatch.delenv("OPSLEDGER_DATABASE_URL", raising=False)
    with Engine(Settings(db_path=str(path)), clock=FixedClock(T0)) as e:
        e.define_policy(default_policy(), actor="admin")
        p1 = e.open_incident("core switch down", impact="high", urgency="high").number
        e.assign(p1, "network", "nina")
        e.acknowledge(p1, actor="nina")
        e.hold(p1, "awaiting_vendor", vendor="acme", actor="nina")
        p3 = e.open_incident("printer jam", impact="low", urgency="high").number
        e.assign(p3, "desk", "dan")
        e.open_incident("typo on intranet", impact="low", urgency="low")
        p2 = e.open_incident("vpn flaky", impact="medium", urgency="high").number
        e.resolve(p2, "fixed", "restarted", actor="dan")
        e.close_ticket(p2, actor="dan")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_status_catch_up_and_rebuild_report_positions(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "projections", "status", "--format", "json")
    assert code == 0
    before = json.loads(out)
    head = before[0]["head"]
    assert head > 0
    assert {(s["name"], s["position"], s["lag"]) for s in before} == {
        ("work_queue", 0, head),
        ("ticket_facts", 0, head),
    }
    code, out, _ = run(capsys, "projections", "catch-up", "--format", "json")
    assert (code, json.loads(out)) == (0, {"applied": {"work_queue": head, "ticket_facts": head}})
    code, out, _ = run(capsys, "projections", "rebuild", "work_queue", "--format", "json")
    assert (code, json.loads(out)) == (0, {"applied": {"work_queue": head}})
    code, out, _ = run(capsys, "projections", "status", "--format", "json")
    assert all(s["lag"] == 0 and s["position"] == head for s in json.loads(out))


def test_queue_orders_by_due_and_filters(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queue", "--format", "json")
    assert code == 0
    queue = json.loads(out)
    # P3 (office hours, response 4h) is due 13:00; P4 due 17:00; the P1 is paused: no due, last.
    assert [(e["number"], e["priority"], e["due"]) for e in queue] == [
        ("INC-000002", "P3", "2026-11-02T13:00:00+00:00"),
        ("INC-000003", "P4", "2026-11-02T17:00:00+00:00"),
        ("INC-000001", "P1", None),
    ]
    _, out, _ = run(capsys, "queue", "--unassigned", "--format", "json")
    assert [e["number"] for e in json.loads(out)] == ["INC-000003"]
    _, out, _ = run(capsys, "queue", "--on-hold", "awaiting_vendor", "--format", "json")
    assert [e["number"] for e in json.loads(out)] == ["INC-000001"]
    code, out, _ = run(capsys, "queue", "--group", "desk")
    assert code == 0 and "INC-000002" in out and "INC-000001" not in out


def test_unknown_projection_is_refused_naming_it(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "projections", "rebuild", "kpi_cube")
    assert code != 0
    assert "projection" in err and "kpi_cube" in err
