"""``opsledger callback`` and ``opsledger callbacks``, driven through ``main([...])``."""

# The CLI tests' fixtures are imported, so the tests' parameters shadow them by design.
# ruff: noqa: F811

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_contact import CALLBACK_OLA
from tests.test_cli import Run, db, ok, run  # noqa: F401 (fixtures: a fresh db, `run`)


@pytest.fixture
def resolved(run: Run, tmp_path: Path) -> str:
    """An incident resolved at Mon 2024-03-04 10:00 under a 24 h call-back OLA."""
    policy = tmp_path / "callback.json"
    policy.write_text(json.dumps(CALLBACK_OLA), encoding="utf-8")
    ok(run, "policy", "define", str(policy), "--at", "2024-03-01T00:00:00Z")
    number = ok(run, "incident", "open", "--summary", "VPN times out", "--customer", "li.wei",
                "--at", "2024-03-04T09:00:00Z").strip()  # fmt: skip
    ok(run, "ticket", "transition", number, "resolve", "--code", "fixed",
       "--at", "2024-03-04T10:00:00Z")  # fmt: skip
    return number


def test_callbacks_lists_what_is_due_and_callback_records_the_outcome(
    run: Run, resolved: str
) -> None:
    [entry] = json.loads(ok(run, "callbacks", "--as-of", "2024-03-04T12:30:00Z", "--json"))
    # resolved 10:00 + 24 h = Tue 10:00; at 12:30 that is 21.5 h away
    assert (entry["number"], entry["due"], entry["remaining_s"]) == (
        resolved, "2024-03-05T10:00:00+00:00", 21.5 * 3600,
    )  # fmt: skip
    table = ok(run, "callbacks", "--as-of", "2024-03-04T12:30:00Z").splitlines()
    assert table[0].split() == ["number", "prio", "group", "requested", "due", "remaining",
                                "customer", "summary"]  # fmt: skip
    assert resolved in table[1] and "2024-03-05 10:00:00" in table[1] and "in 21.5 h" in table[1]
    late = ok(run, "callbacks", "--as-of", "2024-03-05T10:30:00Z")
    assert "overdue 30 min" in late
    assert json.loads(ok(run, "callbacks", "--group", "network", "--format", "json")) == []

    out = ok(run, "callback", resolved, "--reached", "--score", "5", "--comment", "all good",
             "--at", "2024-03-04T13:00:00Z")  # fmt: skip
    assert [line.split()[2] for line in out.splitlines()] == [
        "CallbackRecorded", "SatisfactionRecorded", "ClockMet",
    ]  # fmt: skip
    assert json.loads(ok(run, "callbacks", "--json")) == []
    shown = json.loads(ok(run, "ticket", "show", resolved, "--format", "json"))
    assert shown["satisfaction"] == {"score": 5, "comment": "all good"}
    assert shown["callback"]["outcome"]["by"] == "tester"  # OPSLEDGER_ACTOR


def test_a_complaint_through_the_transition_opens_a_request_for_the_lead(
    run: Run, resolved: str
) -> None:
    result = json.loads(ok(run, "ticket", "transition", resolved, "callback", "--reached",
                           "--score", "2", "--format", "json"))  # fmt: skip
    opened = sorted({e["record"] for e in result["events"]} - {resolved})
    assert opened == ["REQ-000001"]
    complaint = json.loads(ok(run, "ticket", "show", "REQ-000001", "--format", "json"))
    assert (complaint["group"], complaint["assignee"]) == ("service-desk", "service-desk-lead")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--reached", "--score", "7"], "score: 7 is not a whole number from 1 to 5"),
        (["--not-reached", "--score", "3"], "score: a customer not reached gave no score"),
    ],
)
def test_bad_outcomes_exit_2_naming_the_field(
    run: Run, resolved: str, flags: list[str], message: str
) -> None:
    code, out, err = run("callback", resolved, *flags)
    assert (code, out) == (2, "")
    assert err.strip() == f"opsledger: error: {message}"
    shown = json.loads(ok(run, "ticket", "show", resolved, "--format", "json"))
    assert shown["callback"]["outcome"] is None


def test_reached_or_not_must_be_said_and_the_ticket_must_owe_a_call_back(
    run: Run, resolved: str
) -> None:
    code, _, err = run("callback", resolved, "--score", "4")
    assert code == 2 and "--reached" in err and "--not-reached" in err
    code, _, err = run("callback", resolved, "--reached", "--not-reached")
    assert code == 2 and "not allowed with argument" in err
    other = ok(run, "incident", "open", "--summary", "printer").strip()
    code, _, err = run("callback", other, "--reached")
    assert code == 4 and "no call-back was requested" in err
    code, _, err = run("callbacks", "--limit", "0")
    assert code == 2 and "limit: must be 1 or more" in err
