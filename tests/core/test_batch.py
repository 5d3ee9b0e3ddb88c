"""A batch of commands records exactly what running them one at a time records, in one go."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import Tracking
from hypothesis import given
from hypothesis import strategies as st
from opsledger.core import commands as c
from opsledger.core.batch import Rejected, TrackingConflict
from opsledger.core.commands import Command
from opsledger.core.domain.errors import DomainError, InputError

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0

TICKETS = ["INC-000001", "INC-000002", "INC-000003"]
#: Short office-hours targets (P2: respond in 30 minutes), so clocks warn and breach while the
#: commands of a plan (7 minutes apart) run, and loading a ticket records clock events first.
POLICY = orjson.loads((Path(__file__).parents[2] / "examples/policies/default.json").read_bytes())


def _command(op: str, ticket: str, i: int) -> Command:
    at = T0 + timedelta(minutes=7 * i)
    common: dict[str, Any] = {"actor": "agent", "at": at}
    match op:
        case "open":
            return c.OpenTicket(kind="incident", summary=f"s{i}", impact="high", **common)
        case "assign":
            return c.AssignTicket(ticket=ticket, group="ops", assignee="ann", **common)
        case "ack":
            return c.AcknowledgeTicket(ticket=ticket, **common)
        case "comment":
            return c.AddComment(ticket=ticket, body=f"note {i}", **common)
        case "hold":
            return c.HoldTicket(ticket=ticket, reason="awaiting_customer", **common)
        case "resume":
            return c.ResumeTicket(ticket=ticket, **common)
        case "resolve":
            return c.ResolveTicket(ticket=ticket, code="fixed", **common)
        case "reopen":
            return c.ReopenTicket(ticket=ticket, reason="again", **common)
        case "close":
            return c.CloseTicket(ticket=ticket, **common)
        case "priority":
            return c.ChangePriority(
                ticket=ticket, impact="low", urgency="low", reason="calmer", **common
            )
        case "policy":  # changed mid-batch: later commands of the batch must use it
            faster = {
                **POLICY,
                "targets": {
                    **POLICY["targets"],
                    "P2": {**POLICY["targets"]["P2"], "response_minutes": 10},
                },
            }
            return c.DefineSlaPolicy(definition=faster, **common)
        case "keyed":  # the same key twice in one batch: the second is a duplicate
            return c.AddComment(ticket=ticket, body="once", idempotency_key=f"k-{ticket}", **common)
    raise AssertionError(op)


OPS = ["open", "assign", "ack", "comment", "hold", "resume", "resolve", "reopen", "close"]
steps = st.lists(
    st.tuples(st.sampled_from([*OPS, "priority", "keyed", "policy"]), st.sampled_from(TICKETS)),
    min_size=1,
    max_size=30,
).map(lambda plan: [("open", ""), ("open", ""), *plan])


def _fresh(tmp: Path, name: str) -> Engine:
    engine = Engine(Settings(db_path=str(tmp / f"{name}.db")), clock=FixedClock(T0))
    engine.define_policy(POLICY, actor="admin", at=T0 - timedelta(days=1))
    return engine


def _seen(result: Any) -> tuple[Any, ...]:
    if isinstance(result, Exception):
        return ("rejected", type(result).__name__, str(result))
    return (result.number, result.version, result.events, result.duplicate)


def _histories(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for number in TICKETS:
        try:
            out[number] = [entry.to_dict() for entry in engine.history(number)]
        except Exception:
            out[number] = []
    return out


@given(steps)
def test_a_batch_records_what_one_command_at_a_time_records(
    tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[str, str]]
) -> None:
    tmp = tmp_path_factory.mktemp("batch")
    commands = [_command(op, ticket, i) for i, (op, ticket) in enumerate(plan)]
    with _fresh(tmp, "one") as one, _fresh(tmp, "many") as many:
        singly = []
        for command in commands:
            try:
                singly.append(_seen(one.execute(command)))
            except Exception as error:
                singly.append(_seen(error))
        batched = [
            _seen(r.error if isinstance(r, Rejected) else r) for r in many.execute_batch(commands)
        ]
        assert batched == singly
        assert _histories(many) == _histories(one)
        assert many.verify_chain().ok


def test_a_failed_command_leaves_the_rest_of_its_batch_intact(tmp_path: Path) -> None:
    with _fresh(tmp_path, "e") as engine:
        results = engine.execute_batch(
            [
                _command("open", "", 0),
                _command("resolve", "INC-000001", 1),
                _command("ack", "INC-000001", 2),  # resolved: cannot acknowledge now
                _command("comment", "INC-000001", 3),
                c.OpenTicket(kind="incident", summary="  ", actor="a", at=T0),  # blank summary
                _command("open", "", 4),
            ]
        )
        assert [type(r).__name__ for r in results] == [
            "Outcome",
            "Outcome",
            "Rejected",
            "Outcome",
            "Rejected",
            "Outcome",
        ]
        assert isinstance(results[2], Rejected) and isinstance(results[2].error, DomainError)
        assert isinstance(results[4], Rejected) and results[4].field == "summary"
        # the rejected open allocated no number: numbers stay gapless
        assert [r.number for r in results if not isinstance(r, Rejected)][-1] == "INC-000002"
        events = [entry.event for entry in engine.history("INC-000001")]
        assert "Acknowledged" not in events
        assert events[-1] == "PublicCommentAdded"


def test_tracking_is_saved_with_the_batch_and_a_repeat_position_is_refused(
    tmp_path: Path,
) -> None:
    with _fresh(tmp_path, "e") as engine:
        engine.execute_batch([_command("open", "", 0)], tracking=Tracking("cmds:0", 5))
        assert engine.tracked_position("cmds:0") == 5
        with pytest.raises(TrackingConflict):
            engine.execute_batch([_command("open", "", 1)], tracking=Tracking("cmds:0", 5))
        assert engine.last_number(engine.record("INC-000001").kind) == 1  # type: ignore[attr-defined]
        # a batch in which every command was rejected still moves the position on
        results = engine.execute_batch(
            [_command("ack", "INC-000009", 2)], tracking=Tracking("cmds:0", 6)
        )
        assert isinstance(results[0], Rejected)
        assert engine.tracked_position("cmds:0") == 6  # type: ignore[attr-defined]


def test_bad_actor_is_rejected_naming_the_field(tmp_path: Path) -> None:
    with _fresh(tmp_path, "e") as engine:
        (result,) = engine.execute_batch(
            [c.OpenTicket(kind="incident", summary="x", actor=" ", at=T0)]
        )
        assert isinstance(result, Rejected)
        assert isinstance(result.error, InputError) and result.field == "actor"


def test_existing_names_exactly_the_records_in_the_store(engine: Engine) -> None:
    """The batch's one-query lookup must agree with loading each record (both stores)."""
    from uuid import uuid4

    from opsledger.core.domain.records import record_id
    from opsledger.core.idempotency import command_record_id

    engine.execute(_command("open", "", 0))
    engine.execute(_command("keyed", "INC-000001", 1))
    recorded = {record_id("INC-000001"), command_record_id("k-INC-000001")}
    missing = {record_id("INC-000002"), command_record_id("k-INC-000002"), uuid4()}
    assert engine.app.recorder.existing([*recorded, *missing]) == recorded  # type: ignore[attr-defined]
