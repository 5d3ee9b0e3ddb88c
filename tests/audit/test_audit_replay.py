"""``replay`` and ``audit replay``: tickets and their SLA clocks as they stood at an instant.

The scenario runs under the default policy (P3: office hours 09:00-17:00 UTC, Mon-Fri,
response 4 h, resolution 24 h; P1: round the clock, response 15 min, resolution 4 h, update
30 min) from Monday 2024-03-04 09:00 UTC. No scheduler ticks: breaches are what the clocks
say at the instant, recorded or not.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from audit_story import T0
from opsledger.core.audit import ReplayedTicket, replay
from opsledger.core.domain.sla import default_policy

from opsledger import Engine, FixedClock, InputError, NotFoundError, Settings
from opsledger.cli import main

H = timedelta(hours=1)


def record_day(engine: Engine) -> None:
    engine.define_policy(default_policy(), actor="slm", at=T0 - 24 * H)
    one = engine.open_incident("Invoice PDFs are blank", actor="desk", at=T0).number  # P3
    engine.assign(one, "billing", "bob", actor="lead", at=T0 + H / 2)
    engine.acknowledge(one, actor="bob", at=T0 + H)  # response met after 1 h
    engine.hold(one, "awaiting_customer", actor="bob", at=T0 + 2 * H)  # resolution paused at 2 h
    engine.resume(one, actor="bob", at=T0 + 4 * H)  # 13:00
    engine.open_incident(
        "Checkout down", actor="monitoring", impact="high", urgency="high", at=T0 + 5 * H
    )  # P1 at 14:00


@pytest.fixture
def day(engine: Engine) -> Engine:
    record_day(engine)
    return engine


def clocks(ticket: ReplayedTicket) -> dict[str, tuple[str, bool, float, float, str | None]]:
    """clock -> (state, breached, used h, left h, due) as of the replay instant."""
    return {
        c.clock.rsplit("/", 1)[-1]: (
            c.state,
            c.breached,
            c.elapsed / H,
            c.remaining / H,
            c.due.isoformat() if c.due else None,
        )
        for c in ticket.clocks
    }


def test_every_ticket_and_its_clocks_as_they_stood_at_the_instant(day: Engine) -> None:
    one, two = replay(day, T0 + 6 * H)  # Monday 15:00

    assert (one.number, one.state, one.priority, one.group, one.assignee) == (
        "INC-000001", "in_progress", "P3", "billing", "bob",
    )  # fmt: skip
    assert clocks(one) == {
        "response": ("met", False, 1.0, 3.0, None),
        # used 09:00-11:00 and 13:00-15:00 = 4 h of 24; 22 h left at 13:00: Mon 13-17 (4),
        # Tue (8), Wed (8), Thu 09-11 (2): due Thursday 11:00
        "resolution": ("running", False, 4.0, 20.0, "2024-03-07T11:00:00+00:00"),
    }
    assert (two.number, two.state, two.priority) == ("INC-000002", "new", "P1")
    assert clocks(two) == {
        "response": ("running", True, 1.0, 0.0, "2024-03-04T14:15:00+00:00"),  # 15 min target
        "resolution": ("running", False, 1.0, 3.0, "2024-03-04T18:00:00+00:00"),
        "update": ("running", True, 1.0, 0.0, "2024-03-04T14:30:00+00:00"),  # 30 min target
    }
    assert one.as_of == two.as_of == T0 + 6 * H


def test_tickets_not_yet_opened_are_absent_and_paused_clocks_stay_paused(day: Engine) -> None:
    (one,) = replay(day, T0 + 3 * H)  # Monday 12:00: on hold since 11:00; INC-000002 not open
    assert (one.number, one.state) == ("INC-000001", "on_hold")
    assert clocks(one)["resolution"] == ("paused", False, 2.0, 22.0, None)
    assert replay(day, T0 - H) == []


def test_one_ticket_is_replayed_alone_and_one_not_yet_opened_is_not_found(day: Engine) -> None:
    (two,) = replay(day, T0 + 6 * H, ticket="inc-2")
    assert two.number == "INC-000002"
    with pytest.raises(NotFoundError):
        replay(day, T0 + 4 * H, ticket="INC-000002")


def test_replay_is_what_the_sla_status_and_as_of_reads_say(day: Engine) -> None:
    at = T0 + 6 * H
    for ticket in replay(day, at):
        assert list(ticket.clocks) == day.sla_status(ticket.number, as_of=at)
        assert dict(ticket.record) == day.get_as_of(ticket.number, at=at)


def test_replay_reports_progress_and_refuses_a_naive_instant(day: Engine) -> None:
    seen: list[tuple[int, int]] = []
    replay(day, T0 + 6 * H, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2, 2)
    with pytest.raises(InputError) as e:
        replay(day, (T0 + 6 * H).replace(tzinfo=None))
    assert e.value.field == "as_of"


# -- through the command line -----------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    path = tmp_path / "cli.db"
    with Engine(Settings(db_path=str(path)), clock=FixedClock(T0)) as engine:
        record_day(engine)
    return ["--db", str(path)]


def test_cli_replay_table_shows_each_ticket_and_clock(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*db, "audit", "replay", "--as-of", "2024-03-04T15:00:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0] == "2 tickets as of 2024-03-04T15:00:00Z (business time used and left per SLA clock)"
    )
    table = [line.split() for line in out[2:]]
    assert table[0][:6] == [
        "INC-000001",
        "in_progress",
        "P3",
        "billing",
        "bob",
        "sla/default/response",
    ]
    assert table[1] == [
        "sla/default/resolution",
        "running",
        "4:00:00",
        "20:00:00",
        "2024-03-07T11:00:00Z",
    ]
    assert table[2][:6] == ["INC-000002", "new", "P1", "-", "-", "sla/default/response"]
    assert table[2][6:] == ["running,", "breached", "1:00:00", "0:00:00", "2024-03-04T14:15:00Z"]


def test_cli_replay_json_and_one_ticket(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*db, "audit", "replay", "--as-of", "2024-03-04T12:00:00+00:00", "--format", "json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(t["number"], t["state"]) for t in data] == [("INC-000001", "on_hold")]
    resolution = next(c for c in data[0]["clocks"] if c["metric"] == "resolution")
    assert (resolution["state"], resolution["elapsed_seconds"]) == ("paused", 7200.0)

    assert (
        main([*db, "audit", "replay", "--as-of", "2024-03-04T15:00:00Z", "--ticket", "INC-2"]) == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("INC-000002  Checkout down")
    assert "SLA clocks as of 2024-03-04 15:00:00 UTC" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--as-of", "2024-03-04T15:00:00"], 2, "--as-of: 2024-03-04T15:00:00 has no time zone"),
        (["--as-of", "yesterday"], 2, "--as-of: 'yesterday' is not an ISO 8601 instant"),
        (["--as-of", "2024-03-04T15:00:00Z", "--ticket", "nope"], 2, "--ticket:"),
        (["--as-of", "2024-03-04T10:00:00Z", "--ticket", "INC-2"], 3, "INC-000002 as of"),
    ],
)
def test_cli_replay_bad_input_names_the_option(
    db: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    assert main([*db, "audit", "replay", *argv]) == code
    assert message in capsys.readouterr().err
