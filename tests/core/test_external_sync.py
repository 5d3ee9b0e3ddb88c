"""Two-way sync decided by the ticket's history: last writer wins per field, comments once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from opsledger.core.commands import ApplyExternalChange, RecordExternalReference, RecordSync

from opsledger import Engine, FixedClock, InputError, NotFoundError

M = timedelta(minutes=1)


@pytest.fixture
def desk(engine: Engine) -> Engine:
    """The shared engine fixture (tests/conftest.py), under this module's name for it."""
    return engine


def linked(engine: Engine, kind: str = "problem") -> str:
    number = engine.open_ticket(kind, "Checkout times out", impact="high", urgency="medium").number
    engine.execute(RecordExternalReference(ticket=number, system="jira", reference="OPS-7"))
    return number


def change(engine: Engine, at: datetime, delivery: str, **fields: Any) -> Any:
    return engine.execute(
        ApplyExternalChange(
            system="jira",
            reference="OPS-7",
            delivery=delivery,
            occurred_at=at,
            idempotency_key=f"jira:{delivery}",
            actor="jira:alice",
            **fields,
        )
    )


def test_a_change_in_the_tracker_moves_the_linked_ticket(desk: Engine, clock: FixedClock) -> None:
    number = linked(desk)
    change(desk, clock.now(), "d1", state="in_progress", priority="P1")
    ticket = desk.get(number)
    assert (ticket["state"], ticket["priority"]) == ("in_progress", "P1")
    assert ticket["sync"]["jira"]["written"] == {
        "state": clock.now().isoformat(),
        "priority": clock.now().isoformat(),
    }


def test_an_older_change_than_the_last_write_is_not_applied(
    desk: Engine, clock: FixedClock
) -> None:
    number = linked(desk)
    desk.acknowledge(number, actor="amy")
    t0 = clock.now()
    change(desk, t0 + 2 * M, "d2", state="on_hold")
    # delivered late: made before the hold, so the hold stands
    outcome = change(desk, t0 + M, "d1", state="in_progress")
    assert outcome.events == []
    assert desk.get(number)["state"] == "on_hold"


def test_an_echo_of_our_own_push_is_older_than_its_record_and_changes_nothing(
    desk: Engine, clock: FixedClock
) -> None:
    number = linked(desk)
    made_in_tracker = clock.now()
    clock.advance(M)  # the push is recorded once the tracker acknowledged it
    desk.execute(RecordSync(ticket=number, system="jira", action="transition", outcome="done",
                            reference="OPS-7", fields=("state",), actor="jira-sync"))  # fmt: skip
    outcome = change(desk, made_in_tracker, "echo", state="in_progress")
    assert outcome.events == []
    assert desk.get(number)["state"] == "new"


def test_comments_are_applied_once_and_an_edit_is_kept_as_a_note(
    desk: Engine, clock: FixedClock
) -> None:
    number = linked(desk)
    change(desk, clock.now(), "c1", comment_id="10001", comment_body="Found the cause")
    change(desk, clock.now(), "c1-again", comment_id="10001", comment_body="Found the cause")
    change(desk, clock.now(), "c1-edit", comment_id="10001", comment_body="Found the cause: DNS")
    ticket = desk.get(number)
    assert (ticket["public_comments"], ticket["work_notes"]) == (0, 2)
    history = [e.details.get("body") for e in desk.history(number) if e.event == "WorkNoteAdded"]
    assert history == ["Found the cause", "comment 10001 edited in jira: Found the cause: DNS"]


def test_resolved_as_fixed_records_a_known_error_on_a_problem_when_asked(
    desk: Engine, clock: FixedClock
) -> None:
    number = linked(desk)
    change(desk, clock.now(), "r1", state="resolved", known_error="restart the gateway")
    ticket = desk.get(number)
    assert ticket["state"] == "new" and ticket["known_error"] is True


def test_a_transition_that_cannot_apply_leaves_a_note(desk: Engine, clock: FixedClock) -> None:
    number = linked(desk, kind="incident")
    desk.resolve(number, "fixed", actor="amy")
    desk.close_ticket(number, actor="amy")
    clock.advance(M)
    change(desk, clock.now(), "x", state="cancelled")
    assert desk.get(number)["state"] == "closed"
    # written as of the tracker's instant all the same: an older delivery cannot win later
    assert desk.get(number)["sync"]["jira"]["written"]["state"] == clock.now().isoformat()


def test_unknown_references_and_bad_values_are_refused_by_name(
    desk: Engine, clock: FixedClock
) -> None:
    linked(desk)
    with pytest.raises(NotFoundError):
        desk.execute(
            ApplyExternalChange(
                system="jira",
                reference="OPS-999",
                delivery="z",
                occurred_at=clock.now(),
                state="resolved",
            )
        )
    with pytest.raises(InputError) as caught:
        change(desk, clock.now(), "b1", state="done")
    assert caught.value.field == "state"
    with pytest.raises(InputError) as caught:
        change(desk, clock.now(), "b2", priority="urgent")
    assert caught.value.field == "priority"
