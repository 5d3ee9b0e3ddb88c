"""``opsledger audit export|verify`` end to end: files, exit codes, progress bars, bad input."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from audit_story import T0, record_story

from opsledger import Engine, FixedClock, Settings
from opsledger.cli import main

Run = Callable[..., tuple[int, str, str]]
PERIOD = ["--from", "2024-03-03T00:00:00Z", "--to", "2024-03-05T00:00:00Z"]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """``main`` on a database holding the audit story; returns (status, stdout, stderr)."""
    db = tmp_path / "events.db"
    with Engine(Settings(db_path=str(db)), clock=FixedClock(T0)) as engine:
        record_story(engine)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["--db", str(db), *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


@pytest.fixture
def offline(capsys: pytest.CaptureFixture[str]) -> Run:
    """``main`` pointed at a database that cannot exist: export checks must not need one."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(["--db", "/nonexistent/dir/none.db", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_verify_offline_then_tamper(
    run: Run, offline: Run, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"march.{fmt}"
    code, stdout, err = run("audit", "export", *PERIOD, "--format", fmt, "--out", str(out))
    assert (code, err) == (0, "")
    n = stored_events(tmp_path)  # the whole story falls in the period
    assert stdout.startswith(
        f"exported {n} events (positions 1-{n}, 0 stamped outside the period) to {out}\n"
    )
    manifest = json.loads(Path(f"{out}.manifest.json").read_text(encoding="utf-8"))
    assert (manifest["format"], manifest["rows"], manifest["positions"]) == (
        fmt, n, {"first": 1, "last": n},
    )  # fmt: skip
    assert not list(tmp_path.glob("*.part"))

    code, stdout, _ = offline("audit", "verify", "--export", str(out))
    assert code == 0 and "verified" in stdout

    out.write_text(out.read_text(encoding="utf-8").replace("looking into it", "fine"), "utf-8")
    code, stdout, _ = offline("audit", "verify", "--export", str(out), "--format", "json")
    assert code == 6
    report = json.loads(stdout)
    assert {(f["kind"], f["record"]) for f in report["faults"]} == {
        ("changed", "INC-000001"),
        ("file", None),
    }


def stored_events(folder: Path) -> int:
    with closing(sqlite3.connect(folder / "events.db")) as conn:
        return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def test_export_to_stdout_needs_a_manifest_file_and_keeps_stdout_clean(
    run: Run, offline: Run, tmp_path: Path
) -> None:
    code, _, err = run("audit", "export", *PERIOD)
    assert code == 2 and "--manifest: events go to stdout" in err
    manifest = tmp_path / "m.json"
    code, stdout, err = run("audit", "export", *PERIOD, "--manifest", str(manifest))
    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    n = stored_events(tmp_path)
    assert [r["position"] for r in rows] == list(range(1, n + 1))
    assert f"exported {n} events" in err
    events = tmp_path / "events.jsonl"
    events.write_text(stdout, encoding="utf-8")
    assert offline("audit", "verify", "--export", str(events), "--manifest", str(manifest))[0] == 0


def test_store_verify_against_an_earlier_manifest(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    assert run("audit", "export", *PERIOD, "--out", str(out))[0] == 0
    code, stdout, _ = run("audit", "verify", "--manifest", f"{out}.manifest.json")
    assert code == 0 and "verified" in stdout


def test_progress_bar_goes_to_stderr_only_when_asked_off_a_terminal(run: Run) -> None:
    code, stdout, err = run("audit", "verify", "--format", "json")
    assert code == 0 and err == ""
    code, stdout, err = run("audit", "verify", "--format", "json", "--progress")
    assert code == 0 and json.loads(stdout)["ok"] is True
    assert "verify" in err and "100%" in err
    code, stdout, err = run(
        "audit", "replay", "--as-of", "2024-03-04T12:00:00Z", "--format", "json", "--progress"
    )
    assert code == 0 and len(json.loads(stdout)) == 2 and "replay" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--from", "2024-03-05T00:00:00Z", "--to", "2024-03-04T00:00:00Z",
          "--manifest", "m.json"], "--to: 2024-03-04T00:00:00Z is not after --from"),
        (["export", "--from", "2024-03-04", "--to", "2024-03-05T00:00:00Z", "--manifest", "m"],
         "--from: 2024-03-04T00:00:00 has no time zone"),
        (["export", "--from", "soon", "--to", "2024-03-05T00:00:00Z", "--manifest", "m"],
         "--from: 'soon' is not an ISO 8601 instant"),
        (["export", *PERIOD, "--format", "xml", "--manifest", "m"],
         "--format: 'xml' is not one of jsonl, csv"),
        (["export", *PERIOD, "--out", "/nonexistent/dir/e.jsonl"],
         "--out: directory /nonexistent/dir does not exist"),
        (["verify", "--export", "/nowhere/e.jsonl"], "--export: /nowhere/e.jsonl: no such file"),
        (["verify", "--manifest", "/nowhere/m.json"], "--manifest: /nowhere/m.json: no such file"),
    ],
)  # fmt: skip
def test_bad_input_names_the_option(run: Run, argv: list[str], message: str) -> None:
    code, stdout, err = run("audit", *argv)
    assert code == 2 and stdout == ""
    assert f"opsledger: error: {message}" in err


def test_export_file_without_its_manifest_names_the_manifest(run: Run, tmp_path: Path) -> None:
    events = tmp_path / "lonely.jsonl"
    events.write_text("", encoding="utf-8")
    code, _, err = run("audit", "verify", "--export", str(events))
    assert code == 2
    assert f"--manifest: {events}.manifest.json: no such file" in err
    code, _, err = run("--format", "json", "audit", "export", *PERIOD, "--manifest", "m")
    assert code == 2 and "--format: 'json' is not one of jsonl, csv" in err
