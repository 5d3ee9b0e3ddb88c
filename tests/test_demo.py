"""``opsledger demo``: what it reports is what the store holds, and a seed fixes the month."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, Settings
from opsledger.cli import main
from opsledger.demo import run_demo
from opsledger.render import ProgressLine

MAY = date(2025, 5, 1)  # 31 days, starting on a Thursday
SMALL = "0.05"  # about 26 incidents and 10 requests: every kind of story, fast


#: The last word on a clock, from its recorded events (a breach is never taken back).
LAST_WORD = {
    "ClockStarted": "running", "ClockPaused": "paused", "ClockResumed": "running",
    "ClockMet": "met", "ClockStopped": "stopped", "ClockCancelled": "cancelled",
}  # fmt: skip
Attainment = tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, int]]]


def recorded_attainment(engine: Engine) -> Attainment:
    """SLA outcomes per metric and priority, and OLA outcomes per metric, worked out from each
    ticket's recorded clock events alone (not through sla_status, which the demo uses)."""
    sla: dict[str, dict[str, Counter[str]]] = {}
    ola: dict[str, Counter[str]] = {}
    for kind in (RecordKind.INCIDENT, RecordKind.SERVICE_REQUEST):
        for number in engine.numbers(kind):
            priority = engine.get(number)["priority"]
            clocks: dict[str, dict[str, Any]] = {}
            for entry in engine.history(number):
                key = entry.details.get("clock")
                if entry.event == "ClockStarted":
                    clocks[key] = {**entry.details, "last": "running", "breached": False}
                elif entry.event == "BreachRecorded":
                    clocks[key]["breached"] = True
                elif entry.event in LAST_WORD:
                    clocks[key]["last"] = LAST_WORD[entry.event]
            for clock in clocks.values():
                metric, last = clock["metric"], clock["last"]
                if last == "cancelled" or metric not in ("response", "resolution"):
                    continue
                outcome = "breached" if clock["breached"] else "met" if last == "met" else "open"
                if clock["agreement"] == "sla":
                    sla.setdefault(metric, {}).setdefault(priority, Counter())[outcome] += 1
                elif clock["agreement"] == "ola":
                    ola.setdefault(metric, Counter())[outcome] += 1
    return (
        {m: {p: dict(c) for p, c in rows.items()} for m, rows in sla.items()},
        {m: dict(c) for m, c in ola.items()},
    )


def read_back(path: Path) -> dict[str, dict[str, Any]]:
    """Every record in the store, by number, through a fresh Engine."""
    with Engine(Settings(db_path=str(path))) as engine:
        return {n: engine.get(n) for kind in RecordKind for n in engine.numbers(kind)}


def demo_json(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> dict[str, Any]:
    argv = ["demo", "--db", str(path), "--month", "2025-05", "--scale", SMALL, "--quiet", *extra]
    assert main([*argv, "--format", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_summary_counts_agree_with_what_the_engine_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    summary = demo_json(capsys, path)
    records = read_back(path)
    per_state: dict[str, Counter[str]] = {}
    per_priority: dict[str, Counter[str]] = {}
    for data in records.values():
        if data["kind"] != "configuration_item":
            per_state.setdefault(data["kind"], Counter())[data["state"]] += 1
            per_priority.setdefault(data["kind"], Counter())[data["priority"]] += 1
    assert summary["per_state"] == {k: dict(v) for k, v in per_state.items()}
    assert summary["per_priority"] == {k: dict(v) for k, v in per_priority.items()}
    assert summary["per_kind"] == {k: sum(v.values()) for k, v in per_state.items()}
    assert summary["configuration_items"] == sum(
        1 for d in records.values() if d["kind"] == "configuration_item"
    )
    with Engine(Settings(db_path=str(path))) as engine:
        assert summary["events"] == sum(len(engine.history(n)) for n in records)
        report = engine.verify_chain()
        sla, ola = recorded_attainment(engine)
    assert (summary["sla"], summary["ola"]) == (sla, ola)
    assert summary["policies"] == ["default", "erp-shanghai", "network-ola"]
    assert summary["ticks"] == 31 * 24 * 6 + 1  # every 10 minutes of May, both ends included
    assert summary["chain_ok"] is True and report.ok
    assert summary["log_entries"] == report.checked
    assert summary["database"] == str(path.resolve())


def test_same_seed_gives_the_same_month_and_another_seed_does_not(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        path = tmp_path / f"{name}.db"
        with Engine(Settings(db_path=str(path))) as engine:
            summary = run_demo(engine, MAY, seed=seed, scale=0.05)
        runs.append((summary, read_back(path)))
    (first, records_a), (second, records_b), (_, records_c) = runs
    assert first.per_state == second.per_state
    assert first.per_priority == second.per_priority
    assert records_a == records_b  # event for event: every instant was passed explicitly
    assert records_a != records_c
    # Monitoring incidents came through the Alertmanager receiver's parser and mapping: each
    # carries its alert's fingerprint (16 hex digits) as the external reference.
    alerts = [d for d in records_a.values() if d.get("channel") == "alertmanager"]
    assert alerts and all(
        [r["system"] for r in d["external_refs"]] == ["alertmanager"]
        and re.fullmatch(r"[0-9a-f]{16}", d["external_refs"][0]["reference"])
        for d in alerts
    )


def test_demo_replaces_its_own_file_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    first = demo_json(capsys, path)
    again = demo_json(capsys, path)
    assert (first["replaced"], again["replaced"]) == (False, True)
    assert again["per_kind"] == first["per_kind"]  # recreated, not appended to
    assert main(["demo", "--db", str(path), "--month", "2025-05", "--scale", SMALL]) == 0
    out = capsys.readouterr()
    assert "deleted and recreated" in out.out
    assert f"opsledger --db {path} ticket show INC-" in out.out
    assert "100% of the month" in out.err  # not a terminal: a few plain progress lines


def test_demo_refuses_to_delete_a_file_that_is_not_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    assert main(["demo", "--db", str(path), "--scale", SMALL, "--quiet"]) == 2
    assert "not an SQLite database" in capsys.readouterr().err
    assert path.read_text() == "my notes"


def test_bad_month_is_an_input_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--db", str(tmp_path / "d.db"), "--month", "May", "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("opsledger: error: month:")


def test_progress_draws_one_updating_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = ProgressLine(screen, width=10)
    progress(0.42, 1234)
    progress(1.0, 2000)
    progress.finish()
    # 0.42 x 10 cells rounds to 4 filled
    assert screen.getvalue() == (
        "\r[####......]  42% 1234 commands\r[##########] 100% 2000 commands\n"
    )


def test_a_full_month_tells_every_story_within_a_minute(tmp_path: Path) -> None:
    with Engine(Settings(db_path=str(tmp_path / "full.db"))) as engine:
        summary = run_demo(engine, MAY, seed=7)
        events: Counter[str] = Counter()
        policies: set[str] = set()
        opened_local: list[datetime] = []
        tz = ZoneInfo(summary.timezone)
        for kind in RecordKind:
            for number in engine.numbers(kind):
                for entry in engine.history(number):
                    events[entry.event] += 1
                    if entry.event == "ClockStarted":
                        policies.add(entry.details["policy"])
                if kind is RecordKind.INCIDENT:
                    opened = engine.get(number)["opened_at"]
                    opened_local.append(datetime.fromisoformat(opened).astimezone(tz))
    assert summary.elapsed_s < 60
    assert 400 <= summary.per_kind["incident"] <= 700
    assert summary.per_kind["service_request"] >= 100
    assert 8 <= summary.per_kind["problem"] <= 14
    assert 10 <= summary.per_kind["change"] <= 22
    for event in (
        "Acknowledged", "PutOnHold", "CustomerReplied", "Resumed", "EscalatedFunctionally",
        "EscalatedHierarchically", "PriorityChanged", "Resolved", "Closed", "Reopened",
        "Cancelled", "SatisfactionRecorded", "ComplaintRecorded", "MajorIncidentDeclared",
        "RootCauseRecorded", "KnownErrorRecorded", "SubmittedForApproval", "Approved",
        "Rejected", "ImplementationSucceeded", "ImplementationFailed", "Reviewed",
    ):  # fmt: skip
        assert events[event] > 0, event
    assert {"major incident", "failed change", "incident caused by a failed change"} <= set(
        summary.notable
    )
    # Service levels: every policy ran clocks; some targets were missed, most were met.
    assert {"default", "erp-shanghai", "network-ola"} <= policies
    for metric in ("response", "resolution"):
        rows = summary.sla[metric].values()
        met, breached = (sum(r.get(o, 0) for r in rows) for o in ("met", "breached"))
        assert breached > 0 and met / (met + breached) > 0.9, (metric, met, breached)
    assert sum(summary.ola["resolution"].values()) > 0
    # Weekly shape: May 2025 has 21 weekdays and 10 weekend days; per day, weekdays are busier.
    weekday = sum(1 for t in opened_local if t.weekday() < 5) / 21
    weekend = sum(1 for t in opened_local if t.weekday() >= 5) / 10
    assert weekday > 2 * weekend
    # Daily shape: the ten business hours (08-18) see more arrivals than the other fourteen.
    business = sum(1 for t in opened_local if 8 <= t.hour < 18)
    assert business > 2 * (len(opened_local) - business)


def test_printed_attainment_is_what_the_recorded_clock_events_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    argv = ["demo", "--db", str(path), "--month", "2025-05", "--scale", "0.1", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    with Engine(Settings(db_path=str(path))) as engine:
        sla, ola = recorded_attainment(engine)
    printed: dict[str, dict[str, dict[str, int]]] = {}
    lines = out.split("SLA attainment", 1)[1].splitlines()[1:]
    for line in lines:
        if not line.startswith(("response P", "resolution P")):
            break
        metric, prio, met, breached, opened, attained = line.split()
        row = {"met": int(met), "breached": int(breached), "open": int(opened)}
        decided = row["met"] + row["breached"]
        assert attained == f"{row['met'] / decided:.1%}" if decided else attained == "-"
        printed.setdefault(metric, {})[prio] = {k: v for k, v in row.items() if v}
    assert printed == sla
    assert sum(r.get("breached", 0) for rows in sla.values() for r in rows.values()) > 0
    for metric, row in ola.items():
        counts = ", ".join(f"{row.get(o, 0)} {o}" for o in ("met", "breached", "open"))
        assert f"OLA {metric}: {counts}" in out
    assert f"opsledger --db {path} sla explain INC-" in out


@pytest.mark.postgres
def test_demo_runs_on_an_empty_postgres_database_and_refuses_one_in_use(
    pg_schema: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSLEDGER_DB", raising=False)
    url = str(pg_schema.database_url)
    argv = ["demo", "--month", "2025-05", "--scale", "0.02", "--quiet", "--format", "json"]
    assert main([*argv, "--database-url", url]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["database"], summary["replaced"]) == (pg_schema.location, False)
    assert summary["per_kind"]["incident"] > 0 and summary["chain_ok"]
    assert list(tmp_path.iterdir()) == []  # no SQLite file anywhere
    with Engine(pg_schema) as engine:
        assert recorded_attainment(engine) == (summary["sla"], summary["ola"])
        incidents = engine.last_number(RecordKind.INCIDENT)
    monkeypatch.setenv("OPSLEDGER_DATABASE_URL", url)  # the variable works as the flag does
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("opsledger: error: database_url: ") and "already holds" in err
    with Engine(pg_schema) as engine:
        assert engine.last_number(RecordKind.INCIDENT) == incidents  # nothing added
