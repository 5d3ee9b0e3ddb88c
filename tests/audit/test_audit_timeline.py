"""``timeline`` and ``ticket timeline``: every event of a ticket in words, who, when and why."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from audit_story import T0
from eventsourcing.domain import Aggregate
from opsledger.core.audit import sentence, timeline
from opsledger.core.domain.ci import ConfigurationItem
from opsledger.core.domain.sla import default_policy
from opsledger.core.domain.tickets import Change, Incident, Problem, ServiceRequest

from opsledger import Engine, FixedClock, NotFoundError, Settings
from opsledger.cli import main

M = timedelta(minutes=1)


def record_life(engine: Engine) -> tuple[str, str]:
    """An incident through most of its lifecycle, and one opened by an alert that repeats."""
    engine.define_policy(default_policy(), actor="slm", at=T0 - 1440 * M)
    n = engine.open_incident(
        "Mail queue stuck\nsecond line", actor="desk", impact="high", urgency="medium",
        service="mail", at=T0,
    ).number  # fmt: skip
    problem = engine.open_problem("Mail relay bug", actor="prb", at=T0).number
    steps = [
        lambda at: engine.assign(n, "service-desk", "dara", actor="lead", at=at),
        lambda at: engine.acknowledge(n, actor="dara", at=at),
        lambda at: engine.comment(n, "Restarting the relay.\nDetails below", actor="dara", at=at),
        lambda at: engine.comment(n, "relay v2 suspected", public=False, actor="dara", at=at),
        lambda at: engine.hold(n, "awaiting_vendor", vendor="relayco", note="case RC-9",
                               actor="dara", at=at),
        lambda at: engine.resume(n, actor="dara", at=at + 55 * M),
        lambda at: engine.escalate(n, "functional", "mail-l2", reason="relay expertise",
                                   actor="dara", at=at + 60 * M),
        lambda at: engine.escalate(n, "hierarchical", "head-of-ops", reason="VIP affected",
                                   actor="dara", at=at + 60 * M),
        lambda at: engine.change_priority(n, "high", "high", "whole company affected",
                                          actor="lead", at=at + 60 * M),
        lambda at: engine.link(n, "has_problem", problem, actor="dara", at=at + 60 * M),
        lambda at: engine.resolve(n, "workaround", "relay restarted on v1", actor="ines",
                                  at=at + 110 * M),
        lambda at: engine.reopen(n, "queue stuck again", actor="customer", at=at + 120 * M),
        lambda at: engine.resolve(n, "fixed", actor="ines", at=at + 130 * M),
        lambda at: engine.record_satisfaction(n, 4, "quick", actor="customer", at=at + 140 * M),
        lambda at: engine.record_complaint(n, "took two tries", actor="customer", at=at + 140 * M),
        lambda at: engine.close_ticket(n, actor="desk", at=at + 150 * M),
    ]  # fmt: skip
    for minute, step in enumerate(steps, 1):
        step(T0 + minute * M)
    alert = engine.ingest("alertmanager", "fp-1", "open", summary="Disk full", at=T0 + 200 * M)
    engine.ingest("alertmanager", "fp-1", "open", summary="Disk full", at=T0 + 210 * M)
    engine.tick(T0 + 600 * M)
    return n, alert.number


@pytest.fixture
def life(engine: Engine) -> tuple[str, str]:
    return record_life(engine)


def texts(engine: Engine, number: str) -> list[tuple[str, str, str]]:
    return [(e.at.isoformat(), e.actor, e.text) for e in timeline(engine, number)]


def test_each_event_says_who_when_and_why(engine: Engine, life: tuple[str, str]) -> None:
    number, _ = life
    got = texts(engine, number)

    assert len(got) == len(engine.history(number))  # nothing is left out
    expected = [
        ("2024-03-04T09:00:00+00:00", "desk",
         "opened as P2 (impact high, urgency medium) for service mail via api: Mail queue stuck…"),
        ("2024-03-04T09:01:00+00:00", "lead", "assigned to group service-desk, assignee dara (L1)"),
        ("2024-03-04T09:02:00+00:00", "dara", "acknowledged"),
        ("2024-03-04T09:02:00+00:00", "sla", "SLA clock sla/default/response met after 2m"),
        ("2024-03-04T09:03:00+00:00", "dara", "commented (public): Restarting the relay.…"),
        ("2024-03-04T09:04:00+00:00", "dara", "added a work note: relay v2 suspected"),
        ("2024-03-04T09:05:00+00:00", "dara",
         "put on hold (awaiting_vendor, vendor relayco): case RC-9"),
        ("2024-03-04T09:05:00+00:00", "sla",
         "SLA clock sla/default/resolution paused (awaiting_vendor) after 5m"),
        ("2024-03-04T10:01:00+00:00", "dara", "resumed"),
        ("2024-03-04T10:07:00+00:00", "dara", "escalated functionally from service-desk (L1) to "
         "mail-l2 (L2) (reason: relay expertise)"),
        ("2024-03-04T10:08:00+00:00", "dara",
         "escalated hierarchically to head-of-ops (level 1) (reason: VIP affected)"),
        ("2024-03-04T10:09:00+00:00", "lead",
         "priority changed P2 -> P1 (impact high, urgency high): whole company affected"),
        ("2024-03-04T10:10:00+00:00", "dara", "linked: has problem PRB-000001"),
        ("2024-03-04T11:01:00+00:00", "ines",
         "resolved with code workaround: relay restarted on v1"),
        ("2024-03-04T11:12:00+00:00", "customer", "reopened: queue stuck again"),
        ("2024-03-04T11:23:00+00:00", "ines", "resolved with code fixed"),
        ("2024-03-04T11:34:00+00:00", "customer", "customer satisfaction 4/5: quick"),
        ("2024-03-04T11:35:00+00:00", "customer", "complaint recorded: took two tries"),
        # the complaint is a service request of its own, linked both ways
        ("2024-03-04T11:35:00+00:00", "customer", "linked: relates to REQ-000001"),
        ("2024-03-04T11:46:00+00:00", "desk", "closed"),
    ]  # fmt: skip
    people = [line for line in got if line[1] != "sla"]
    assert people == [line for line in expected if line[1] != "sla"]
    for line in expected:
        assert line in got
    assert any(
        text.startswith("SLA clock sla/default/resolution target now 4h") for *_, text in got
    )


def test_alerts_repeats_and_warnings_read_as_sentences(
    engine: Engine, life: tuple[str, str]
) -> None:
    _, alert = life
    got = [text for _, _, text in texts(engine, alert)]
    assert "external reference recorded: alertmanager fp-1" in got
    assert "occurrence #2 reported by alertmanager" in got
    # P3 response: 4 h in office hours from 12:20; the tick at 19:00 noticed them late
    assert (
        "SLA warning: sla/default/response reached 50% of its target (due "
        "2024-03-04T14:20:00Z, noticed 2024-03-04T19:00:00Z)" in got
    )
    assert (
        "SLA breach: sla/default/response passed 100% of its target (was due "
        "2024-03-04T16:20:00Z, noticed 2024-03-04T19:00:00Z)" in got
    )


def test_every_domain_event_has_its_own_sentence() -> None:
    names = {
        attr.__name__
        for cls in (Incident, ServiceRequest, Problem, Change, ConfigurationItem)
        for attr in vars_of(cls)
        if isinstance(attr, type) and issubclass(attr, Aggregate.Event)
    } - {"Event", "Created"}  # eventsourcing's own bases, never recorded by opsledger
    generic = {name for name in names if sentence(name, {}).startswith(name)}
    assert generic == set(), "give these events a sentence in core/audit_timeline.py"


def vars_of(cls: type) -> list[object]:
    return [getattr(cls, name) for name in dir(cls)]


def test_an_unknown_event_still_shows_all_its_fields() -> None:
    text = sentence("VendorPinged", {"vendor": "relayco", "note": "line 1\nline 2", "x": None})
    assert text == "VendorPinged: vendor=relayco, note=line 1…"
    assert sentence("Resolved", {"code": None}) == "resolved with code None"
    assert sentence("ClockStarted", {"clock": "c", "target_us": "?", "due": "not a date"}) == (
        "ClockStarted: clock=c, target_us=?, due=not a date"
    )


# -- through the command line -----------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> tuple[list[str], str]:
    path = tmp_path / "cli.db"
    with Engine(Settings(db_path=str(path)), clock=FixedClock(T0)) as engine:
        number, _ = record_life(engine)
    return ["--db", str(path)], number


def test_cli_timeline_prints_one_line_per_event(
    db: tuple[list[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, number = db
    assert main([*store, "ticket", "timeline", number.lower()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2024-03-04T09:00:00Z  v1   desk      opened as P2")
    assert "2024-03-04T09:05:00Z  v" in lines[8] and "put on hold (awaiting_vendor" in lines[8]
    assert main([*store, "ticket", "history", number, "--format", "json"]) == 0
    assert len(lines) == len(json.loads(capsys.readouterr().out))


def test_cli_timeline_json_has_the_sentence_and_the_details(
    db: tuple[list[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, number = db
    assert main([*store, "ticket", "timeline", number, "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)[0]
    assert first["event"] == "Opened" and first["actor"] == "desk"
    assert first["text"].startswith("opened as P2")
    assert first["details"]["summary"] == "Mail queue stuck\nsecond line"


def test_cli_timeline_of_an_unknown_ticket_is_not_found(
    db: tuple[list[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = db
    assert main([*store, "ticket", "timeline", "INC-000099"]) == 3
    assert main([*store, "ticket", "timeline", "banana"]) == 2
    assert "error: ticket: 'banana' is not a ticket number" in capsys.readouterr().err


def test_timeline_of_an_unknown_ticket_raises(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        timeline(engine, "INC-000001")
