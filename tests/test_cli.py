"""The command line, driven through ``main([...])`` and once through the installed script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, Settings
from opsledger.cli import main

Run = Callable[..., tuple[int, str, str]]
T0 = "2024-03-04T09:00:00Z"  # a Monday morning


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite path, chosen through OPSLEDGER_DB as a user would; a fixed actor."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("OPSLEDGER_DB", str(path))
    monkeypatch.delenv("OPSLEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPSLEDGER_ACTOR", "tester")
    return path


@pytest.fixture
def run(db: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


def ok(run: Run, *argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 0, err
    return out


def as_json(run: Run, *argv: str) -> object:
    return json.loads(ok(run, *argv, "--format", "json"))


def open_incident(run: Run, *extra: str) -> str:
    return ok(run, "incident", "open", "--summary", "Checkout returns 502", *extra).strip()


# -- round trips --------------------------------------------------------------------------------


def test_open_prints_the_new_number_and_show_reads_it_back(run: Run) -> None:
    number = open_incident(run, "--impact", "high", "--urgency", "high", "--service", "checkout")
    assert number == "INC-000001"
    table = ok(run, "ticket", "show", number)
    assert table.startswith("INC-000001  Checkout returns 502")
    assert "P1 (impact high, urgency high)" in table  # default matrix: high x high -> P1
    data = as_json(run, "ticket", "show", number)
    assert isinstance(data, dict)
    assert (data["state"], data["priority"], data["service"]) == ("new", "P1", "checkout")
    assert data["opened_by"] == "tester"  # from OPSLEDGER_ACTOR


def test_transitions_print_what_they_recorded_and_history_lists_it(run: Run) -> None:
    n = open_incident(run)
    steps = [
        (["assign", "--group", "web-l2", "--assignee", "carol"], "v2  Assigned"),
        (["acknowledge", "--actor", "carol"], "v3  Acknowledged"),
        (["comment", "--body", "looking at the logs", "--internal"], "v4  WorkNoteAdded"),
        (["hold", "--reason", "awaiting_customer"], "v5  PutOnHold"),
        (["reply", "--body", "still broken"], "v6  CustomerReplied"),  # and resumes (v7)
        (["resolve", "--code", "fixed", "--notes", "rolled back"], "v8  Resolved"),
        (["close"], "v9  Closed"),
    ]
    for args, line in steps:
        assert f"{n}  {line}" in ok(run, "ticket", "transition", n, *args)
    history = as_json(run, "ticket", "history", n)
    assert isinstance(history, list)
    assert [e["event"] for e in history] == [
        "Opened", "Assigned", "Acknowledged", "WorkNoteAdded", "PutOnHold",
        "CustomerReplied", "Resumed", "Resolved", "Closed",
    ]  # fmt: skip
    assert history[2]["actor"] == "carol"
    table = ok(run, "ticket", "history", n).splitlines()
    assert table[0].split() == ["VER", "TIME", "(UTC)", "EVENT", "ACTOR", "DETAILS"]
    assert len(table) == 1 + 9
    assert "code=fixed" in table[8]


def test_transition_json_is_the_outcome(run: Run) -> None:
    n = open_incident(run)
    data = as_json(run, "ticket", "transition", n, "assign", "--group", "desk")
    assert data == {
        "number": n,
        "version": 2,
        "events": [{"record": n, "version": 2, "event": "Assigned"}],
        "duplicate": False,
    }


def test_global_options_work_before_and_after_the_command(run: Run, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    assert ok(run, "--db", str(other), "incident", "open", "--summary", "a") == "INC-000001\n"
    assert ok(run, "incident", "open", "--summary", "b", "--db", str(other)) == "INC-000002\n"
    before = json.loads(ok(run, "--format", "json", "--db", str(other), "ticket", "show", "INC-2"))
    assert before["summary"] == "b"
    # the default store (OPSLEDGER_DB) was never touched
    code, _, err = run("ticket", "show", "INC-000001")
    assert code == 3 and "database" in err


def test_as_of_and_version_show_the_ticket_as_it_was(run: Run) -> None:
    n = open_incident(run, "--at", T0)
    ok(run, "ticket", "transition", n, "assign", "--group", "desk", "--at", "2024-03-04T10:00:00Z")
    ok(run, "ticket", "transition", n, "resolve", "--code", "fixed", "--at", "2024-03-04T11:00:00Z")
    then = as_json(run, "ticket", "show", n, "--as-of", "2024-03-04T09:30:00Z")
    assert isinstance(then, dict) and (then["state"], then["version"]) == ("new", 1)
    second = as_json(run, "ticket", "show", n, "--version", "2")
    assert isinstance(second, dict) and second["state"] == "assigned"
    assert "resolved" in ok(run, "ticket", "show", n).split("state", 1)[1].splitlines()[0]
    code, _, err = run("ticket", "show", n, "--as-of", "2024-03-04T08:00:00Z")
    assert code == 3 and n in err  # nothing existed yet


def test_change_goes_through_cab_and_a_failed_implementation(run: Run) -> None:
    n = ok(
        run, "change", "open", "--summary", "Upgrade db", "--type", "normal", "--risk", "high",
        "--planned-start", "2024-03-05T22:00:00Z", "--planned-end", "2024-03-06T00:00:00Z",
    ).strip()  # fmt: skip
    assert n == "CHG-000001"
    for action in (["submit"], ["approve", "--note", "ok"], ["implement"]):
        ok(run, "ticket", "transition", n, *action)
    out = ok(run, "ticket", "transition", n, "complete", "--failed", "--notes", "rolled back")
    assert "ImplementationFailed" in out
    ok(run, "ticket", "transition", n, "review", "--notes", "needs a rehearsal")
    ok(run, "ticket", "transition", n, "resolve", "--code", "backed_out")
    data = as_json(run, "ticket", "show", n)
    assert isinstance(data, dict)
    assert (data["phase"], data["state"], data["change_type"]) == ("reviewed", "resolved", "normal")


def test_ci_register_parses_attributes_and_links_show_on_both_sides(run: Run) -> None:
    ci = ok(run, "ci", "register", "--type", "server", "--name", "web-01", "--attr", "cores=8",
            "--attr", "os=linux", "--attr", "ha=true").strip()  # fmt: skip
    assert ci == "CI-000001"
    data = as_json(run, "ticket", "show", ci)
    assert isinstance(data, dict)
    assert data["attributes"] == {"cores": 8, "os": "linux", "ha": True}
    n = open_incident(run, "--ci", ci)
    ok(run, "problem", "open", "--summary", "502s recur")
    out = ok(run, "ticket", "link", n, "has-problem", "PRB-000001")
    assert out.splitlines() == ["INC-000001  v3  Linked", "PRB-000001  v2  Linked"]
    shown = ok(run, "ticket", "show", n)
    assert "affects_ci CI-000001, has_problem PRB-000001" in shown


# -- idempotency and listing ---------------------------------------------------------------------


def test_idempotency_key_through_the_cli_records_once(run: Run, db: Path) -> None:
    first = ok(run, "incident", "open", "--summary", "x", "--idempotency-key", "alert-42")
    code, again, err = run("incident", "open", "--summary", "x", "--idempotency-key", "alert-42")
    assert (code, again) == (0, first)
    assert "alert-42" in err and "nothing new" in err
    with Engine(Settings(db_path=str(db))) as engine:
        assert engine.last_number(RecordKind.INCIDENT) == 1


def test_list_filters_by_kind_and_state_newest_first(run: Run) -> None:
    for summary in ("one", "two", "three"):
        ok(run, "incident", "open", "--summary", summary)
    ok(run, "problem", "open", "--summary", "cause")
    ok(run, "ticket", "transition", "INC-000002", "resolve", "--code", "fixed")

    def numbers(*args: str) -> list[str]:
        data = as_json(run, "ticket", "list", *args)
        assert isinstance(data, list)
        return [d["number"] for d in data]

    assert numbers("--kind", "incident", "--state", "open") == ["INC-000003", "INC-000001"]
    assert numbers("--state", "resolved") == ["INC-000002"]
    assert numbers("--kind", "problem") == ["PRB-000001"]
    assert numbers("--kind", "incident", "--limit", "1") == ["INC-000003"]
    assert len(numbers()) == 4
    table = ok(run, "ticket", "list", "--state", "new,resolved").splitlines()
    assert table[0].split()[:3] == ["NUMBER", "STATE", "PRI"]
    assert len(table) == 1 + 4


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "status", "names"),
    [
        (["incident", "open", "--summary", "x", "--impact", "huge"], 2, "impact"),
        (["incident", "open", "--summary", "  "], 2, "summary"),
        (["ticket", "transition", "INC-1", "priority", "--impact", "high", "--urgency", "soon",
          "--reason", "r"], 2, "urgency"),
        (["ticket", "transition", "INC-1", "satisfaction", "--score", "9"], 4, "INC-000001"),
        (["ticket", "list", "--state", "sleeping"], 2, "state"),
        (["ticket", "show", "banana"], 2, "ticket"),
        (["ticket", "show", "INC-1", "--as-of", "yesterday"], 2, "as_of"),
        (["ticket", "show", "INC-000042"], 3, "INC-000042"),
        (["ticket", "transition", "INC-1", "close"], 4, "INC-000001: cannot close while new"),
        (["ticket", "transition", "INC-1", "root-cause", "--text", "x"], 2, "not a problem"),
        (["--database-url", "mysql://x/y", "ticket", "list"], 2, "OPSLEDGER_DATABASE_URL"),
    ],
)  # fmt: skip
def test_errors_exit_with_their_status_and_name_what_was_wrong(
    run: Run, argv: list[str], status: int, names: str
) -> None:
    open_incident(run)
    code, out, err = run(*argv)
    assert code == status
    assert out == ""
    assert err.startswith("opsledger: error: ") and names in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_usage_errors_exit_2(run: Run) -> None:
    code, _, err = run("incident", "open")
    assert code == 2 and "--summary" in err
    code, _, err = run("ticket", "transition", "INC-1", "escalate", "--to", "x")
    assert code == 2 and "--functional" in err
    code, _, err = run("ticket", "transition", "INC-1", "teleport")
    assert code == 2 and "teleport" in err


def test_reusing_an_idempotency_key_for_another_command_is_a_conflict(run: Run) -> None:
    n = open_incident(run, "--idempotency-key", "k-1")
    code, _, err = run(
        "ticket", "transition", n, "assign", "--group", "g", "--idempotency-key", "k-1"
    )
    assert code == 5
    assert "k-1" in err and "OpenTicket" in err


def test_unexpected_errors_exit_1_with_a_traceback_only_under_debug(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = open_incident(run)

    def boom(self: Engine, number: str) -> dict[str, object]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Engine, "get", boom)
    code, _, err = run("ticket", "show", n)
    assert code == 1 and "disk on fire" in err and "Traceback" not in err and "--debug" in err
    code, _, err = run("--debug", "ticket", "show", n)
    assert code == 1 and "Traceback" in err


# -- the installed console script ----------------------------------------------------------------


def _script() -> str:
    found = shutil.which("opsledger", path=str(Path(sys.executable).parent))
    assert found, "the opsledger console script is not installed next to this Python"
    return found


def test_installed_script_and_python_m_work_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "OPSLEDGER_DB": str(tmp_path / "smoke.db"), "OPSLEDGER_ACTOR": "smoke"}
    env.pop("OPSLEDGER_DATABASE_URL", None)

    def call(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    opened = call(_script(), "incident", "open", "--summary", "VPN drops", "--urgency", "high")
    assert (opened.returncode, opened.stdout) == (0, "INC-000001\n"), opened.stderr
    shown = call(
        sys.executable, "-m", "opsledger", "ticket", "show", "INC-000001", "--format", "json"
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["priority"] == "P2"  # medium impact x high urgency -> P2
    missing = call(_script(), "ticket", "history", "INC-000009")
    assert missing.returncode == 3
    assert missing.stderr == "opsledger: error: ticket INC-000009 not found\n"
