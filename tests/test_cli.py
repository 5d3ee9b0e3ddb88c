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
from opsledger.core.domain.sla import SlaPolicy, default_policy

from opsledger import Engine, Settings
from opsledger.cli import main
from opsledger.demo_data import ERP_SLA

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


# -- SLA: policies, clocks, the scheduler ---------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
DEFAULT_POLICY = str(EXAMPLES / "default.json")  # office calendar: Mon-Fri 09:00-17:00 UTC
SHANGHAI_POLICY = str(EXAMPLES / "shanghai.json")


def policy_file(tmp_path: Path, name: str, **targets: dict[str, object]) -> str:
    """The default example policy under another name, with some targets replaced."""
    data = json.loads(Path(DEFAULT_POLICY).read_text())
    data["name"] = name
    for prio, changes in targets.items():
        data["targets"][prio].update(changes)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_example_policies_are_what_they_say(run: Run) -> None:
    assert SlaPolicy.from_dict(json.loads(Path(DEFAULT_POLICY).read_text())) == default_policy()
    shanghai = SlaPolicy.from_dict(json.loads(Path(SHANGHAI_POLICY).read_text()))
    assert shanghai == SlaPolicy.from_dict(ERP_SLA)  # the demo runs the shipped example
    office = shanghai.calendars["shanghai-office"]
    assert (office.timezone, office.country) == ("Asia/Shanghai", "CN")
    assert ok(run, "policy", "define", DEFAULT_POLICY) == "default v1\n"
    assert ok(run, "policy", "define", SHANGHAI_POLICY) == "erp-shanghai v1\n"


def test_policies_are_versioned_listed_shown_and_retired(run: Run, tmp_path: Path) -> None:
    at = "2024-03-01T00:00:00Z"
    assert ok(run, "policy", "define", DEFAULT_POLICY, "--at", at) == "default v1\n"
    assert ok(run, "policy", "define", DEFAULT_POLICY) == (
        "default v1 (identical to the current version)\n"
    )
    tighter = policy_file(tmp_path, "default", P3={"resolution_minutes": 480})
    assert as_json(run, "policy", "define", tighter, "--actor", "slm") == {
        "name": "default",
        "version": 2,
        "recorded": True,
        "duplicate": False,
    }
    ok(run, "policy", "define", SHANGHAI_POLICY, "--at", "2024-03-02T00:00:00Z")
    listed = as_json(run, "policy", "list")
    assert isinstance(listed, list)
    assert [(p["name"], p["agreement"], p["version"], p["retired"]) for p in listed] == [
        ("default", "sla", 2, False),
        ("erp-shanghai", "sla", 1, False),
    ]
    assert (listed[0]["defined_by"], listed[1]["defined_at"]) == (
        "slm",
        "2024-03-02T00:00:00+00:00",
    )
    first = as_json(run, "policy", "show", "default", "--version", "1")
    latest = as_json(run, "policy", "show", "default")
    assert isinstance(first, dict) and isinstance(latest, dict)
    assert (first["version"], first["versions"], first["defined_at"]) == (
        1,
        2,
        "2024-03-01T00:00:00+00:00",
    )
    assert first["definition"] == default_policy().to_dict()
    assert latest["definition"]["targets"]["P3"]["resolution_minutes"] == 480
    # what show prints is a policy file: defining it again records nothing
    again = tmp_path / "again.json"
    again.write_text(json.dumps(latest["definition"]))
    assert ok(run, "policy", "define", str(again)).endswith("(identical to the current version)\n")
    table = ok(run, "policy", "show", "erp-shanghai")
    assert "Asia/Shanghai, mon-fri 09:00-12:00,13:00-18:00, CN public holidays" in table
    assert "P3        shanghai-office  4h        24h" in table
    assert ok(run, "policy", "retire", "erp-shanghai").startswith("erp-shanghai v1 retired")
    listed = as_json(run, "policy", "list")
    assert isinstance(listed, list) and [p["retired"] for p in listed] == [False, True]
    assert "erp-shanghai  sla        v1       retired" in ok(run, "policy", "list")


def test_a_retried_policy_definition_records_once(run: Run) -> None:
    assert ok(run, "policy", "define", DEFAULT_POLICY, "--idempotency-key", "p-1") == "default v1\n"
    code, out, err = run("policy", "define", DEFAULT_POLICY, "--idempotency-key", "p-1")
    assert (code, out) == (0, "default v1\n") and "'p-1' was used before" in err
    code, out, err = run("policy", "define", SHANGHAI_POLICY, "--idempotency-key", "p-1")
    assert (code, out) == (5, "") and "erp-shanghai was not recorded" in err
    listed = as_json(run, "policy", "list")
    assert isinstance(listed, list) and [p["name"] for p in listed] == ["default"]


def test_clocks_through_tick_status_and_explain(run: Run) -> None:
    ok(run, "policy", "define", DEFAULT_POLICY, "--at", "2024-03-01T00:00:00Z")
    # P3 (medium x medium), opened Monday 09:00 UTC, office hours Mon-Fri 09-17 UTC:
    # response 4 h -> due 13:00; warnings at 50/75/90 % = 11:00, 12:00, 12:36.
    # resolution 24 business hours = three office days -> due Wednesday 17:00.
    n = open_incident(run, "--impact", "medium", "--urgency", "medium", "--at", T0)
    assert ok(run, "tick", "--at", "2024-03-04T12:00:00Z") == (
        "2 clock events recorded (due by 2024-03-04 12:00:00 UTC)\n"
    )  # the 50 % and 75 % warnings; a warning fires at its instant
    assert ok(run, "tick", "--at", "2024-03-04T12:00:00Z").startswith("0 clock events")
    assert ok(run, "tick", "--at", "2024-03-04T11:00:00Z").startswith("0 clock events")
    statuses = as_json(run, "sla", "status", n, "--as-of", "2024-03-04T12:30:00Z")
    assert isinstance(statuses, list)
    by_metric = {s["metric"]: s for s in statuses}
    response, resolution = by_metric["response"], by_metric["resolution"]
    assert (response["state"], response["elapsed_seconds"], response["remaining_seconds"]) == (
        "running",
        3.5 * 3600,  # 09:00-12:30
        0.5 * 3600,
    )
    assert (response["due"], response["warnings_reached"]) == (
        "2024-03-04T13:00:00+00:00",
        [50, 75],
    )
    assert (resolution["elapsed_seconds"], resolution["remaining_seconds"]) == (
        3.5 * 3600,
        (24 - 3.5) * 3600,
    )
    assert resolution["due"] == "2024-03-06T17:00:00+00:00"
    # the 90 % warning (12:36) and the breach (13:00), both noticed at 14:00
    fired = as_json(run, "tick", "--at", "2024-03-04T14:00:00Z")
    assert fired == {"at": "2024-03-04T14:00:00+00:00", "fired": 2}
    ok(run, "ticket", "transition", n, "acknowledge", "--at", "2024-03-04T15:00:00Z")
    explained = ok(run, "sla", "explain", n)
    assert (
        "2024-03-04T13:00:00+00:00    sla/default/response: BREACHED, due was "
        "2024-03-04T13:00:00+00:00 (noticed 2024-03-04T14:00:00+00:00)" in explained
    )
    assert "sla/default/response: stopped after breach, 06:00:00 used of 04:00:00" in explained
    table = ok(run, "sla", "status", n, "--as-of", "2024-03-04T15:00:00Z")
    assert table.startswith(f"{n}  SLA clocks as of 2024-03-04 15:00:00 UTC")
    assert "sla/default/response    default v1  breached  4:00:00   6:00:00" in table
    assert "sla/default/resolution  default v1  running   24:00:00  6:00:00  18:00:00" in table


def test_shanghai_clocks_skip_national_day_and_work_the_make_up_saturday(run: Run) -> None:
    ok(run, "policy", "define", SHANGHAI_POLICY)
    # Tuesday 2025-09-30 17:00 in Shanghai (09:00 UTC); one office hour is left that day.
    # 1-8 October are holidays; Thursday 9th and Friday 10th are 8-hour days (09-12, 13-18);
    # Saturday 11th is an official make-up working day.
    # response 4 h: 1 h on the 30th + 09:00-12:00 on the 9th -> 9 Oct 12:00 CST = 04:00 UTC
    # resolution 24 h: 1 + 8 + 8 = 17 h by Friday, 7 more on Saturday -> 17:00 CST = 09:00 UTC
    n = open_incident(
        run, "--impact", "medium", "--urgency", "medium", "--service", "erp",
        "--at", "2025-09-30T09:00:00Z",
    )  # fmt: skip
    statuses = as_json(run, "sla", "status", n, "--as-of", "2025-10-08T12:00:00Z")
    assert isinstance(statuses, list)
    assert [(s["clock"], s["elapsed_seconds"], s["due"]) for s in statuses] == [
        ("sla/erp-shanghai/response", 3600.0, "2025-10-09T04:00:00+00:00"),
        ("sla/erp-shanghai/resolution", 3600.0, "2025-10-11T09:00:00+00:00"),
    ]
    assert ok(run, "tick", "--at", "2025-10-08T12:00:00Z").startswith("0 clock events")


def test_whatif_compares_recorded_and_recomputed_attainment(run: Run, tmp_path: Path) -> None:
    ok(run, "policy", "define", DEFAULT_POLICY, "--at", "2024-03-01T00:00:00Z")
    p3 = ("--impact", "medium", "--urgency", "medium")
    a = open_incident(run, *p3, "--at", T0)
    b = open_incident(run, *p3, "--at", T0)
    later = open_incident(run, *p3, "--at", "2024-03-11T09:00:00Z")  # outside the period
    for n, resolved in ((a, "2024-03-05T10:00:00Z"), (b, "2024-03-06T16:00:00Z")):
        ok(run, "ticket", "transition", n, "acknowledge", "--at", "2024-03-04T10:00:00Z")
        ok(run, "ticket", "transition", n, "resolve", "--code", "fixed", "--at", resolved)
    ok(run, "ticket", "transition", later, "acknowledge", "--at", "2024-03-11T09:05:00Z")
    # Recorded (P3: response 4 h, resolution 24 h): both met; responses took 1 h;
    # a was resolved after 9 business hours (Mon 8 + Tue 1), b after 23 (8 + 8 + 7).
    # A proposed version with response 30 min and resolution 10 h: both responses breach,
    # a is still met, b breaches.
    proposal = policy_file(
        tmp_path, "default", P3={"response_minutes": 30, "resolution_minutes": 600}
    )
    window = ("--from", "2024-03-01T00:00:00Z", "--to", "2024-03-08T00:00:00Z")
    report = as_json(run, "sla", "whatif", "--policy", proposal, *window)
    assert isinstance(report, dict) and (report["policy"], report["tickets"]) == ("default", 2)
    assert [
        (r["metric"], r["actual_met"], r["actual_breached"], r["whatif_met"], r["whatif_breached"])
        for r in report["rows"]
    ] == [("resolution", 2, 0, 1, 1), ("response", 2, 0, 0, 2)]
    assert [r["difference"] for r in report["rows"]] == [-0.5, -1.0]
    table = ok(run, "sla", "whatif", "--policy", proposal, *window)
    assert "over 2 tickets opened 2024-03-01 00:00:00 - 2024-03-08 00:00:00 UTC" in table
    assert "P3   resolution  2 met, 0 breached  100.0%      1 met, 1 breached  50.0%" in table
    assert table.rstrip().endswith("-100.0 pts")
    # nothing was written: the recorded clocks are as they were
    assert as_json(run, "sla", "whatif", "--policy", proposal, *window) == report
    assert "met, 09:00:00 used of 24:00:00" in ok(run, "sla", "explain", a)


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (None, "file: "),  # no such file
        ("{not json", "is not JSON"),
        ('{"name": "x", "calendars": {}, "targets": {}}', "calendars: "),
        (
            '{"name": "x", "calendars": {"c": {"always_open": true}},'
            ' "targets": {"P1": {"calendar": "c", "response_minutes": -5}}}',
            "targets.P1.response: ",
        ),
        (
            '{"name": "x", "calendars": {"c": {"always_open": true}},'
            ' "targets": {"P1": {"calendar": "office", "response_minutes": 5}}}',
            "targets.P1.calendar: no calendar 'office'",
        ),
        (
            '{"name": "x", "agreement": "ola", "calendars": {"c": {"always_open": true}},'
            ' "targets": {"P1": {"response_minutes": 5}}}',
            "groups: ",
        ),
    ],
)
def test_bad_policy_files_name_the_field_and_record_nothing(
    run: Run, tmp_path: Path, content: str | None, names: str
) -> None:
    open_incident(run)
    path = tmp_path / "policy.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run("policy", "define", str(path))
    assert (code, out) == (2, "")
    assert err.startswith("opsledger: error: ") and names in err and str(path) in err
    code, _, err = run("sla", "whatif", "--policy", str(path), "--from", T0, "--to", T0)
    assert code == 2 and names.replace("file: ", "policy: ") in err
    assert as_json(run, "policy", "list") == []


@pytest.mark.parametrize(
    ("argv", "status", "names"),
    [
        (["sla", "status", "INC-000009"], 3, "INC-000009"),
        (["sla", "status", "INC-1", "--as-of", "noon"], 2, "as_of"),
        (["sla", "explain", "INC-000009"], 3, "INC-000009"),
        (["sla", "whatif", "--policy", DEFAULT_POLICY, "--from", T0, "--to", T0], 2, "to: "),
        (["policy", "show", "gold"], 3, "policy gold"),
        (["policy", "show", "default", "--version", "2"], 3, "default v2"),
        (["policy", "show", "default", "--version", "0"], 2, "version"),
        (["policy", "retire", "gold"], 2, "name: "),
        (["tick", "--at", "2024-03-04 09:00"], 2, "at: "),
    ],
)
def test_sla_command_errors_name_what_was_wrong(
    run: Run, argv: list[str], status: int, names: str
) -> None:
    ok(run, "policy", "define", DEFAULT_POLICY)
    open_incident(run)
    code, out, err = run(*argv)
    assert (code, out) == (status, "")
    assert err.startswith("opsledger: error: ") and names in err, err


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
