"""Change enablement through the public Engine: CAB approval, implementation, review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opsledger.core import commands as c
from opsledger.core.domain.records import RecordKind

from opsledger import DomainError, Engine, FixedClock, InputError

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def events_of(engine: Engine, number: str) -> list[str]:
    return [entry.event for entry in engine.history(number)]


def recorded(engine: Engine) -> int:
    """How many events the whole log holds: a refused command must leave it unchanged."""
    return engine.app.recorder.max_notification_id() or 0


def links_of(engine: Engine, number: str) -> list[tuple[str, str]]:
    return [(link["relation"], link["target"]) for link in engine.get(number)["links"]]


def cab(engine: Engine, change: str, *steps: str) -> None:
    """Run CAB steps by name (submit, approve, reject, start, succeed, fail, review)."""
    build = {
        "submit": lambda: c.SubmitChangeForApproval(ticket=change, actor="requester"),
        "approve": lambda: c.ApproveChange(ticket=change, note="go", actor="cab-chair"),
        "reject": lambda: c.RejectChange(ticket=change, note="no backout plan", actor="cab"),
        "start": lambda: c.StartChangeImplementation(ticket=change, actor="ops"),
        "succeed": lambda: c.CompleteChangeImplementation(
            ticket=change, succeeded=True, actor="ops"
        ),
        "fail": lambda: c.CompleteChangeImplementation(
            ticket=change, succeeded=False, notes="rolled back", actor="ops"
        ),
        "review": lambda: c.ReviewChange(ticket=change, notes="PIR held", actor="cab"),
    }
    for step in steps:
        engine.execute(build[step]())


def test_normal_change_goes_through_cab_implementation_and_review(
    engine: Engine, clock: FixedClock
) -> None:
    start = clock.now() + DAY
    change = engine.open_change(
        "Upgrade PostgreSQL 15 -> 16",
        change_type="normal",
        risk="high",
        planned_start=start,
        planned_end=start + 2 * HOUR,
    ).number
    assert engine.get(change)["phase"] == "draft"
    cab(engine, change, "submit", "approve", "start")
    assert (engine.get(change)["phase"], engine.get(change)["state"]) == (
        "implementing",
        "in_progress",
    )
    cab(engine, change, "succeed")

    with pytest.raises(DomainError) as refusal:  # a normal change needs its review first
        engine.resolve(change, "implemented")
    assert (refusal.value.command, refusal.value.state) == ("resolve", "in_progress")

    cab(engine, change, "review")
    engine.resolve(change, "implemented", actor="ops")
    engine.close_ticket(change, actor="ops")

    data = engine.get(change)
    assert (data["state"], data["phase"], data["risk"]) == ("closed", "reviewed", "high")
    assert data["approvals"] == [{"decision": "approved", "by": "cab-chair", "note": "go"}]
    assert data["review"] == "PIR held"
    assert data["planned_end"] == (start + 2 * HOUR).isoformat()
    assert events_of(engine, change) == [
        "Opened", "SubmittedForApproval", "Approved", "ImplementationStarted",
        "ImplementationSucceeded", "Reviewed", "Resolved", "Closed",
    ]  # fmt: skip


def test_rejected_change_cannot_be_implemented_but_can_be_resolved(engine: Engine) -> None:
    change = engine.open_change("Move DNS to a new provider").number
    cab(engine, change, "submit", "reject")
    assert engine.get(change)["phase"] == "rejected"
    before = recorded(engine)

    with pytest.raises(DomainError) as refusal:
        cab(engine, change, "start")

    assert refusal.value.command == "start_implementation"
    assert "rejected" in str(refusal.value)
    assert recorded(engine) == before
    engine.resolve(change, "rejected")
    assert engine.get(change)["state"] == "resolved"


def test_emergency_change_still_needs_approval_before_implementation(engine: Engine) -> None:
    change = engine.open_change("Patch actively exploited CVE", change_type="emergency").number
    with pytest.raises(DomainError):
        cab(engine, change, "start")
    cab(engine, change, "submit", "approve", "start", "succeed", "review")
    engine.resolve(change, "implemented")
    data = engine.get(change)
    assert (data["change_type"], data["phase"], data["state"]) == (
        "emergency",
        "reviewed",
        "resolved",
    )


def test_standard_change_is_pre_approved_and_needs_no_review(engine: Engine) -> None:
    change = engine.open_change("Add a user to the VPN group", change_type="standard").number
    assert engine.get(change)["phase"] == "approved"
    with pytest.raises(DomainError) as refusal:
        cab(engine, change, "submit")
    assert refusal.value.command == "submit_for_approval"

    cab(engine, change, "start", "succeed")
    engine.resolve(change, "implemented")

    assert engine.get(change)["state"] == "resolved"
    assert "SubmittedForApproval" not in events_of(engine, change)


@pytest.mark.parametrize("steps", [(), ("submit",)], ids=["draft", "awaiting-approval"])
def test_unapproved_change_cannot_be_implemented(engine: Engine, steps: tuple[str, ...]) -> None:
    change = engine.open_change("Rewire the core switch").number
    cab(engine, change, *steps)
    before = (recorded(engine), engine.get(change))

    with pytest.raises(DomainError) as refusal:
        cab(engine, change, "start")

    assert (refusal.value.ticket, refusal.value.command) == (change, "start_implementation")
    assert (recorded(engine), engine.get(change)) == before


def test_change_window_must_end_after_it_starts(engine: Engine, clock: FixedClock) -> None:
    with pytest.raises(InputError) as refusal:
        engine.open_change("Backwards", planned_start=clock.now(), planned_end=clock.now())
    assert refusal.value.field == "planned_end"
    assert engine.last_number(RecordKind.CHANGE) == 0


def test_incident_caused_by_a_failed_change(engine: Engine) -> None:
    change = engine.open_change("Rotate TLS certificates").number
    cab(engine, change, "submit", "approve", "start", "fail")
    incident = engine.open_incident("Mobile app cannot connect", impact="high").number

    engine.link(incident, "caused_by_change", change, actor="major-incident-mgr")

    assert engine.get(change)["phase"] == "failed"
    assert links_of(engine, incident) == [("caused_by_change", change)]
    assert links_of(engine, change) == [("caused_incident", incident)]
    cab(engine, change, "review")
    engine.resolve(change, "backed_out")
    assert engine.get(change)["resolution_code"] == "backed_out"
