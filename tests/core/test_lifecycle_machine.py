"""Any sequence of lifecycle commands agrees with a small reference model and replays exactly.

The model below is written from the issue's lifecycle description, not from the engine's
tables: each rule predicts whether the command is allowed and what the ticket looks like
afterwards. Allowed commands must succeed with exactly the predicted events; refused ones
must raise and record nothing at all. After every step each ticket read from the engine must
equal the model, equal a replica rebuilt only from stored events, and the hash chain must hold.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from opsledger.core import commands as c

from opsledger import DomainError, Engine, FixedClock, InputError, Outcome, Settings

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)  # Settings' default reopen window
PREFIX = {"incident": "INC", "service_request": "REQ", "problem": "PRB", "change": "CHG"}
LEVELS = ["high", "medium", "low"]
# The default matrix, written out by hand: impact row, urgency column.
MATRIX = {
    ("high", "high"): "P1", ("high", "medium"): "P2", ("high", "low"): "P3",
    ("medium", "high"): "P2", ("medium", "medium"): "P3", ("medium", "low"): "P4",
    ("low", "high"): "P3", ("low", "medium"): "P4", ("low", "low"): "P4",
}  # fmt: skip
OPEN = {"new", "assigned", "in_progress", "on_hold"}
FINAL = {"closed", "cancelled"}
HOLD_REASONS = ["awaiting_customer", "awaiting_vendor", "awaiting_change"]
NEXT_TIER = {"L1": "L2", "L2": "L3", "L3": None}
GROUPS = ["service-desk", "network", "database"]
PEOPLE = ["alice", "bob", "chen", "dana"]
# Phases from which a change may be resolved (a standard change needs no review).
RESOLVABLE = {
    "standard": {"succeeded", "failed", "reviewed", "rejected"},
    "normal": {"reviewed", "rejected"},
    "emergency": {"reviewed", "rejected"},
}
Ticket = dict[str, Any]


def new_ticket(number: str, kind: str, impact: str, urgency: str, at: str) -> Ticket:
    """The model of a just-opened ticket: the fields the engine must agree on."""
    return {
        "number": number, "kind": kind, "version": 1, "state": "new", "group": None,
        "assignee": None, "tier": "L1", "hold_reason": None, "impact": impact,
        "urgency": urgency, "priority": MATRIX[(impact, urgency)], "escalation_level": 0,
        "functional_escalations": 0, "reassignment_count": 0, "acknowledged_by": None,
        "acknowledged_at": None, "resolved_at": None, "resolution_code": None,
        "closed_at": None, "reopen_count": 0, "public_comments": 0, "work_notes": 0,
        "customer_replies": 0, "satisfaction": None, "complaints": 0, "opened_at": at,
        "modified_on": at,
    }  # fmt: skip


class LifecycleMachine(RuleBasedStateMachine):
    """One Engine on a throwaway SQLite file per run, driven alongside the reference model."""

    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="opsledger-machine-"))
        self.settings = Settings(db_path=str(self.dir / "events.db"))
        self.clock = FixedClock(T0)
        self.engine = Engine(self.settings, clock=self.clock)
        # A second engine that never shares memory with the writer: it only reads events.
        self.replica = Engine(self.settings, clock=self.clock)
        self.model: dict[str, Ticket] = {}
        self.opened = dict.fromkeys(PREFIX, 0)

    # -- the harness ---------------------------------------------------------------------

    @property
    def now(self) -> str:
        return self.clock.now().isoformat()

    def _recorded(self) -> int:
        return self.engine.app.recorder.max_notification_id() or 0

    def expect(
        self,
        number: str,
        call: Callable[[], Outcome],
        *,
        command: str,
        state_ok: bool,
        bad_fields: Iterable[str] = (),
        refused: bool = False,
        events: Iterable[str] = (),
        apply: Callable[[Ticket], None] | None = None,
        elsewhere: bool = False,
        at: datetime | None = None,
    ) -> Outcome | None:
        """Run ``call`` and hold the engine to the model's verdict.

        ``state_ok``: the command may start in the ticket's state. ``bad_fields``: input the
        model considers malformed. ``refused``: another rule forbids it (a no-op, a passed
        window, the last tier). Otherwise it must succeed, recording exactly ``events``.
        """
        ticket, bad = self.model[number], set(bad_fields)
        allowed = state_ok and not bad and not refused
        verdict = "done" if allowed else "refused (rule)" if state_ok and not bad else "refused"
        event(f"{command} {ticket['state']}: {verdict}")
        if allowed:
            outcome = call()
            names = list(events)
            assert not outcome.duplicate
            # ``elsewhere``: the command may also record on other records (checked by the rule)
            mine = [e["event"] for e in outcome.events if not elsewhere or e["record"] == number]
            assert mine == names
            ticket["version"] += len(names)
            ticket["modified_on"] = (at or self.clock.now()).isoformat()
            assert (outcome.number, outcome.version) == (number, ticket["version"])
            if apply is not None:
                apply(ticket)
            return outcome
        before = (self._recorded(), len(self.engine.history(number)))
        expected: tuple[type[Exception], ...] = (DomainError,)
        if bad:  # a malformed input is reported first, or the state, when both are wrong
            expected = (InputError,) if state_ok else (DomainError, InputError)
        with pytest.raises(expected) as refusal:
            call()
        error = refusal.value
        if isinstance(error, DomainError):
            assert (error.ticket, error.state, error.command) == (number, ticket["state"], command)
        else:
            assert isinstance(error, InputError) and error.field in bad, error
        # Nothing recorded anywhere: not on the ticket, not in the log, no version moved.
        assert (self._recorded(), len(self.engine.history(number))) == before
        assert self.engine.get(number)["version"] == ticket["version"]
        return None

    # -- opening -------------------------------------------------------------------------

    OPEN_ARGS = {  # noqa: RUF012 (strategies, read once by the decorators below)
        "kind": st.sampled_from(list(PREFIX)),
        "impact": st.sampled_from(LEVELS),
        "urgency": st.sampled_from(LEVELS),
        "group": st.none() | st.sampled_from(GROUPS),
        "change_type": st.sampled_from(list(RESOLVABLE)),
    }

    @initialize(target=tickets, **OPEN_ARGS)
    def open_first_ticket(
        self, kind: str, impact: str, urgency: str, group: str | None, change_type: str
    ) -> str:
        return self.open_ticket(kind, impact, urgency, group, change_type)

    @precondition(lambda self: len(self.model) < 3)  # few tickets, so each one goes far
    @rule(target=tickets, **OPEN_ARGS)
    def open_ticket(
        self, kind: str, impact: str, urgency: str, group: str | None, change_type: str
    ) -> str:
        extra = {"change_type": change_type} if kind == "change" else {}
        outcome = self.engine.open_ticket(
            kind, f"{kind} #{self.opened[kind] + 1}", impact=impact, urgency=urgency,
            group=group, actor="desk", **extra,
        )  # fmt: skip
        self.opened[kind] += 1
        number = f"{PREFIX[kind]}-{self.opened[kind]:06d}"
        ticket = new_ticket(number, kind, impact, urgency, self.now)
        if kind == "change":
            ticket["phase"] = "approved" if change_type == "standard" else "draft"
            ticket["change_type"] = change_type
        names = ["Opened"]
        if group is not None:
            names.append("Assigned")
            ticket.update(state="assigned", group=group, version=2)
        assert outcome.number == number
        assert [e["event"] for e in outcome.events] == names
        self.model[number] = ticket
        return number

    @rule(bad=st.sampled_from([("outage", "high"), ("incident", "huge"), ("change", "")]))
    def open_malformed_ticket_spends_no_number(self, bad: tuple[str, str]) -> None:
        kind, impact = bad
        before = self._recorded()
        with pytest.raises(InputError) as refusal:
            self.engine.open_ticket(kind, "bad input", impact=impact)
        assert refusal.value.field in {"kind", "impact"}
        assert self._recorded() == before

    # -- the shared lifecycle ------------------------------------------------------------

    @rule(
        ticket=tickets,
        group=st.sampled_from([*GROUPS, " "]),
        assignee=st.none() | st.sampled_from(PEOPLE),
        tier=st.none() | st.sampled_from(["L1", "L2", "L3", "L9"]),
    )
    def assign(self, ticket: str, group: str, assignee: str | None, tier: str | None) -> None:
        t = self.model[ticket]
        bad = {"group"} if not group.strip() else set()
        bad |= {"tier"} if tier == "L9" else set()
        new_tier = tier or t["tier"]

        def apply(t: Ticket) -> None:
            if t["group"] is not None:
                t["reassignment_count"] += 1
            t.update(group=group, assignee=assignee, tier=new_tier)
            if t["state"] == "on_hold":
                t["_resumes_to"] = "assigned"
            else:
                t["state"] = "assigned"

        self.expect(
            ticket,
            lambda: self.engine.assign(ticket, group, assignee, tier=tier, actor="lead"),
            command="assign",
            state_ok=t["state"] in OPEN,
            bad_fields=bad,
            refused=(group, assignee, new_tier) == (t["group"], t["assignee"], t["tier"]),
            events=["Assigned"],
            apply=apply,
        )

    @rule(ticket=tickets, agent=st.sampled_from(PEOPLE))
    def acknowledge(self, ticket: str, agent: str) -> None:
        def apply(t: Ticket) -> None:
            if t["acknowledged_at"] is None:
                t.update(acknowledged_at=self.now, acknowledged_by=agent)
            if t["assignee"] is None:
                t["assignee"] = agent
            t["state"] = "in_progress"

        self.expect(
            ticket,
            lambda: self.engine.acknowledge(ticket, actor=agent),
            command="acknowledge",
            state_ok=self.model[ticket]["state"] in {"new", "assigned"},
            events=["Acknowledged"],
            apply=apply,
        )

    @rule(ticket=tickets, reason=st.sampled_from([*HOLD_REASONS, "lunch"]))
    def hold(self, ticket: str, reason: str) -> None:
        self.expect(
            ticket,
            lambda: self.engine.hold(ticket, reason, actor="bob"),
            command="hold",
            state_ok=self.model[ticket]["state"] in {"assigned", "in_progress"},
            bad_fields={"reason"} if reason not in HOLD_REASONS else (),
            events=["PutOnHold"],
            apply=lambda t: t.update(state="on_hold", hold_reason=reason, _resumes_to=t["state"]),
        )

    @rule(ticket=tickets)
    def resume(self, ticket: str) -> None:
        # Back to the state the hold interrupted: a ticket never picked up stays in the queue.
        self.expect(
            ticket,
            lambda: self.engine.resume(ticket, actor="bob"),
            command="resume",
            state_ok=self.model[ticket]["state"] == "on_hold",
            events=["Resumed"],
            apply=lambda t: t.update(state=t["_resumes_to"], hold_reason=None),
        )

    @rule(ticket=tickets)
    def customer_reply(self, ticket: str) -> None:
        t = self.model[ticket]
        waiting = t["state"] == "on_hold" and t["hold_reason"] == "awaiting_customer"

        def apply(t: Ticket) -> None:
            t["customer_replies"] += 1
            if waiting:
                t.update(state=t["_resumes_to"], hold_reason=None)

        self.expect(
            ticket,
            lambda: self.engine.customer_reply(ticket, "here is the log you asked for"),
            command="customer_reply",
            state_ok=t["state"] not in FINAL,
            events=["CustomerReplied", "Resumed"] if waiting else ["CustomerReplied"],
            apply=apply,
        )

    @rule(ticket=tickets, to=st.sampled_from(GROUPS))
    def escalate_functionally(self, ticket: str, to: str) -> None:
        t = self.model[ticket]

        def apply(t: Ticket) -> None:
            t.update(group=to, tier=NEXT_TIER[t["tier"]], assignee=None)
            t["functional_escalations"] += 1
            if t["state"] == "on_hold":
                t["_resumes_to"] = "assigned"
            else:
                t["state"] = "assigned"

        self.expect(
            ticket,
            lambda: self.engine.escalate(ticket, "functional", to, actor="bob"),
            command="escalate",
            state_ok=t["state"] in OPEN,
            refused=NEXT_TIER[t["tier"]] is None,
            events=["EscalatedFunctionally"],
            apply=apply,
        )

    @rule(ticket=tickets, manager=st.sampled_from(["ops-manager", "cio"]))
    def escalate_hierarchically(self, ticket: str, manager: str) -> None:
        self.expect(
            ticket,
            lambda: self.engine.escalate(ticket, "hierarchical", manager, actor="bob"),
            command="escalate",
            state_ok=self.model[ticket]["state"] in OPEN,
            events=["EscalatedHierarchically"],
            apply=lambda t: t.update(escalation_level=t["escalation_level"] + 1),
        )

    @rule(ticket=tickets, impact=st.sampled_from(LEVELS), urgency=st.sampled_from(LEVELS))
    def change_priority(self, ticket: str, impact: str, urgency: str) -> None:
        t = self.model[ticket]
        priority, previous = MATRIX[(impact, urgency)], t["priority"]
        outcome = self.expect(
            ticket,
            lambda: self.engine.change_priority(ticket, impact, urgency, "re-rated", actor="lead"),
            command="change_priority",
            state_ok=t["state"] in OPEN,
            refused=(impact, urgency) == (t["impact"], t["urgency"]),
            events=["PriorityChanged"],
            apply=lambda t: t.update(impact=impact, urgency=urgency, priority=priority),
        )
        if outcome is not None:
            recorded = self.engine.history(ticket)[-1].details
            assert (recorded["previous_priority"], recorded["priority"]) == (previous, priority)
            assert recorded["reason"] == "re-rated"

    @rule(ticket=tickets, public=st.booleans())
    def comment(self, ticket: str, public: bool) -> None:
        counter = "public_comments" if public else "work_notes"
        self.expect(
            ticket,
            lambda: self.engine.comment(ticket, "looking into it", public=public, actor="bob"),
            command="comment",
            state_ok=self.model[ticket]["state"] not in FINAL,
            events=["PublicCommentAdded" if public else "WorkNoteAdded"],
            apply=lambda t: t.update({counter: t[counter] + 1}),
        )

    @rule(ticket=tickets)
    def comment_dated_before_the_last_event(self, ticket: str) -> None:
        # History must read forwards: one second ago is refused if the ticket changed since.
        at = self.clock.now() - timedelta(seconds=1)
        last_change = datetime.fromisoformat(self.model[ticket]["modified_on"])
        self.expect(
            ticket,
            lambda: self.engine.comment(ticket, "late note", public=False, at=at),
            command="comment",
            state_ok=self.model[ticket]["state"] not in FINAL,
            bad_fields={"at"} if at < last_change else (),
            events=["WorkNoteAdded"],
            apply=lambda t: t.update(work_notes=t["work_notes"] + 1),
            at=at,
        )

    @rule(ticket=tickets, code=st.sampled_from(["fixed", "Workaround", "no_fault_found"]))
    def resolve(self, ticket: str, code: str) -> None:
        t = self.model[ticket]
        unfinished_change = t["kind"] == "change" and t["phase"] not in RESOLVABLE[t["change_type"]]
        self.expect(
            ticket,
            lambda: self.engine.resolve(ticket, code, "done", actor="bob"),
            command="resolve",
            state_ok=t["state"] in OPEN,
            refused=unfinished_change,
            events=["Resolved"],
            apply=lambda t: t.update(
                state="resolved",
                hold_reason=None,
                resolved_at=self.now,
                resolution_code=code.lower(),
            ),
        )

    @rule(ticket=tickets)
    def close(self, ticket: str) -> None:
        self.expect(
            ticket,
            lambda: self.engine.close_ticket(ticket, actor="bob"),
            command="close",
            state_ok=self.model[ticket]["state"] == "resolved",
            events=["Closed"],
            apply=lambda t: t.update(state="closed", closed_at=self.now),
        )

    @rule(delta=st.sampled_from([timedelta(minutes=5), timedelta(hours=20), timedelta(days=8)]))
    def time_passes(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    @rule(ticket=tickets, wait=st.sampled_from([timedelta(0), timedelta(days=1), 2 * WINDOW]))
    def reopen(self, ticket: str, wait: timedelta) -> None:
        self.clock.advance(wait)
        t = self.model[ticket]
        resolved = t["resolved_at"]
        late = resolved is not None and self.clock.now() > datetime.fromisoformat(resolved) + WINDOW

        def apply(t: Ticket) -> None:
            t["reopen_count"] += 1
            t.update(resolved_at=None, resolution_code=None)
            t["state"] = "in_progress" if t["assignee"] else "assigned" if t["group"] else "new"

        self.expect(
            ticket,
            lambda: self.engine.reopen(ticket, "still broken", actor="alice"),
            command="reopen",
            state_ok=t["state"] == "resolved",
            refused=late,
            events=["Reopened"],
            apply=apply,
        )

    @rule(ticket=tickets, now=st.integers(min_value=0, max_value=3))
    def cancel(self, ticket: str, now: int) -> None:
        if now:  # cancelling ends a ticket's story: do it in one draw out of four
            return
        self.expect(
            ticket,
            lambda: self.engine.cancel(ticket, "raised in error", actor="desk"),
            command="cancel",
            state_ok=self.model[ticket]["state"] in OPEN,
            events=["Cancelled"],
            apply=lambda t: t.update(state="cancelled", hold_reason=None),
        )

    @rule(ticket=tickets, score=st.integers(min_value=-1, max_value=7))
    def record_satisfaction(self, ticket: str, score: int) -> None:
        self.expect(
            ticket,
            lambda: self.engine.record_satisfaction(ticket, score, "thanks", actor="alice"),
            command="record_satisfaction",
            state_ok=self.model[ticket]["state"] in {"resolved", "closed"},
            bad_fields={"score"} if not 1 <= score <= 5 else (),
            events=["SatisfactionRecorded"],
            apply=lambda t: t.update(satisfaction={"score": score, "comment": "thanks"}),
        )

    @rule(ticket=tickets)
    def record_complaint(self, ticket: str) -> None:
        # A complaint may arrive at any time, even about a closed ticket. It is a service
        # request of its own, routed to the complaint group and linked to the ticket.
        self.opened["service_request"] += 1
        raised = f"REQ-{self.opened['service_request']:06d}"
        self.expect(
            ticket,
            lambda: self.engine.record_complaint(ticket, "took far too long", actor="alice"),
            command="record_complaint",
            state_ok=True,
            events=["ComplaintRecorded", "Linked"],
            apply=lambda t: t.update(complaints=t["complaints"] + 1),
            elsewhere=True,
        )
        complaint = self.engine.get(raised)
        assert (complaint["group"], complaint["channel"]) == ("service-desk", "complaint")
        assert {"relation": "relates_to", "target": ticket} in [
            {"relation": link["relation"], "target": link["target"]} for link in complaint["links"]
        ]

    # -- the change advisory board: only changes have phases ---------------------------

    def change_step(
        self, ticket: str, command: c.Command, name: str, phases: set[str], recorded: str, to: str
    ) -> None:
        """A CAB step: allowed from ``phases`` of an unfinished change, recording one event."""
        t = self.model[ticket]
        if t["kind"] != "change":
            before = self._recorded()
            with pytest.raises(InputError) as refusal:
                self.engine.execute(command)
            assert refusal.value.field == "ticket"
            assert self._recorded() == before
            return

        def apply(t: Ticket) -> None:
            t["phase"] = to
            if to == "implementing" and t["state"] in {"new", "assigned"}:
                t["state"] = "in_progress"

        self.expect(
            ticket,
            lambda: self.engine.execute(command),
            command=name,
            state_ok=t["state"] not in FINAL,
            refused=t["phase"] not in phases,
            events=[recorded],
            apply=apply,
        )

    @rule(ticket=tickets)
    def submit_change(self, ticket: str) -> None:
        cmd = c.SubmitChangeForApproval(ticket=ticket, actor="requester")
        self.change_step(
            ticket, cmd, "submit_for_approval", {"draft"}, "SubmittedForApproval",
            "awaiting_approval",
        )  # fmt: skip

    @rule(ticket=tickets, approve=st.booleans())
    def cab_decides(self, ticket: str, approve: bool) -> None:
        if approve:
            cmd: c.Command = c.ApproveChange(ticket=ticket, note="ok", actor="cab")
            self.change_step(ticket, cmd, "approve", {"awaiting_approval"}, "Approved", "approved")
        else:
            cmd = c.RejectChange(ticket=ticket, note="too risky", actor="cab")
            self.change_step(ticket, cmd, "reject", {"awaiting_approval"}, "Rejected", "rejected")

    @rule(ticket=tickets)
    def start_change(self, ticket: str) -> None:
        cmd = c.StartChangeImplementation(ticket=ticket, actor="ops")
        self.change_step(
            ticket, cmd, "start_implementation", {"approved"}, "ImplementationStarted",
            "implementing",
        )  # fmt: skip

    @rule(ticket=tickets, succeeded=st.booleans())
    def complete_change(self, ticket: str, succeeded: bool) -> None:
        cmd = c.CompleteChangeImplementation(ticket=ticket, succeeded=succeeded, actor="ops")
        recorded, to = (
            ("ImplementationSucceeded", "succeeded")
            if succeeded
            else ("ImplementationFailed", "failed")
        )
        self.change_step(ticket, cmd, "complete_implementation", {"implementing"}, recorded, to)

    @rule(ticket=tickets)
    def review_change(self, ticket: str) -> None:
        cmd = c.ReviewChange(ticket=ticket, notes="went as planned", actor="cab")
        self.change_step(ticket, cmd, "review", {"succeeded", "failed"}, "Reviewed", "reviewed")

    @rule(ticket=tickets, succeeded=st.booleans())
    def change_takes_its_next_step(self, ticket: str, succeeded: bool) -> None:
        """The next CAB step for the change's phase, so long flows happen often enough."""
        phase = self.model[ticket].get("phase")
        if phase == "draft":
            self.submit_change(ticket)
        elif phase == "awaiting_approval":
            self.cab_decides(ticket, approve=succeeded)
        elif phase == "approved":
            self.start_change(ticket)
        elif phase == "implementing":
            self.complete_change(ticket, succeeded)
        elif phase in {"succeeded", "failed"}:
            self.review_change(ticket)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def engine_agrees_with_model_and_with_replay(self) -> None:
        for number, ticket in self.model.items():
            got = self.engine.get(number)
            public = {k: v for k, v in ticket.items() if not k.startswith("_")}
            assert {k: got[k] for k in public} == public
            assert len(self.engine.history(number)) == got["version"]
            # Built only from stored events by an engine that never saw the commands.
            assert self.replica.get(number) == got

    @invariant()
    def hash_chain_holds(self) -> None:
        report = self.engine.verify_chain()
        assert report.ok, report.faults
        assert report.checked == self._recorded()

    def teardown(self) -> None:
        try:
            final = {number: self.engine.get(number) for number in self.model}
            self.engine.close()
            self.replica.close()
            with Engine(self.settings, clock=self.clock) as fresh:
                assert {number: fresh.get(number) for number in self.model} == final
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


TestTicketLifecycleAgreesWithReferenceModel = LifecycleMachine.TestCase
# Runs are cheap (a few ms a step), so the machine gets five times the profile's budget.
TestTicketLifecycleAgreesWithReferenceModel.settings = settings(
    max_examples=settings().max_examples * 5,
    stateful_step_count=max(60, settings().stateful_step_count),
)
