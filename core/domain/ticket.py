"""The lifecycle every ITIL ticket shares: assign, acknowledge, hold, escalate, resolve, close."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event
from opsledger.core.domain.errors import DomainError, InputError
from opsledger.core.domain.priority import Impact, Priority, PriorityMatrix, Urgency
from opsledger.core.domain.sync import SyncFacts


class TicketState(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class HoldReason(StrEnum):
    AWAITING_CUSTOMER = "awaiting_customer"
    AWAITING_VENDOR = "awaiting_vendor"
    AWAITING_CHANGE = "awaiting_change"


class Tier(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"

    def next(self) -> Tier | None:
        order = list(Tier)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


S = TicketState
OPEN_STATES = frozenset({S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.ON_HOLD})
FINAL_STATES = frozenset({S.CLOSED, S.CANCELLED})

#: Where each lifecycle command may start; the single source the reference model mirrors.
ALLOWED_FROM: dict[str, frozenset[TicketState]] = {
    "assign": OPEN_STATES,
    "acknowledge": frozenset({S.NEW, S.ASSIGNED}),
    "hold": frozenset({S.ASSIGNED, S.IN_PROGRESS}),
    "resume": frozenset({S.ON_HOLD}),
    "escalate": OPEN_STATES,
    "resolve": OPEN_STATES,
    "close": frozenset({S.RESOLVED}),
    "reopen": frozenset({S.RESOLVED}),
    "cancel": OPEN_STATES,
    "comment": frozenset(set(S) - FINAL_STATES),
    "customer_reply": frozenset(set(S) - FINAL_STATES),
    "change_priority": OPEN_STATES,
    "record_satisfaction": frozenset({S.RESOLVED, S.CLOSED}),
    "record_callback": frozenset({S.RESOLVED, S.CLOSED}),
}


def _text(field: str, value: str, *, required: bool = True, limit: int = 100_000) -> str:
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or (required and not value):
        raise InputError(field, "must be a non-empty string" if required else "must be a string")
    if len(value) > limit:
        raise InputError(field, f"longer than {limit} characters")
    return value


def _tier(value: str) -> str:
    try:
        return Tier(value).value
    except ValueError:
        allowed = ", ".join(t.value for t in Tier)
        raise InputError("tier", f"{value!r} is not one of {allowed}") from None


class Ticket(SyncFacts):
    """Shared lifecycle. Public methods check the rules, then record one event each."""

    def _init_ticket(
        self,
        *,
        number: str,
        summary: str,
        description: str,
        impact: str,
        urgency: str,
        priority: str,
        service: str | None,
        ci: str | None,
        reporter: str,
        customer: str | None,
        channel: str,
        actor: str,
        timestamp: datetime,
        received_at: datetime | None,
    ) -> None:
        self._init_record(number, actor)
        self._init_clocks()
        self.summary = summary
        self.description = description
        self.impact = impact
        self.urgency = urgency
        self.priority = priority
        self.service = service
        self.ci = ci
        self.reporter = reporter
        self.customer = customer
        self.channel = channel
        self.opened_at = timestamp
        self.received_at = received_at
        self.state = S.NEW.value
        self.group: str | None = None
        self.assignee: str | None = None
        self.tier = Tier.L1.value
        self.hold_reason: str | None = None
        # where a resume returns: work that was never picked up goes back to the queue
        self.resumes_to: str = S.IN_PROGRESS.value
        self.awaited_vendor: str | None = None
        self.escalation_level = 0
        self.acknowledged_at: datetime | None = None
        self.acknowledged_by: str | None = None
        self.resolved_at: datetime | None = None
        self.resolution_code: str | None = None
        self.resolution_notes: str | None = None
        self.closed_at: datetime | None = None
        self.reopen_count = 0
        self.reassignment_count = 0
        self.functional_escalations = 0
        self.public_comments = 0
        self.work_notes = 0
        self.customer_replies = 0
        self.satisfaction: dict[str, Any] | None = None
        self.complaints = 0

    # -- rules ---------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def _require(self, command: str, reason: str = "") -> None:
        if self.state not in ALLOWED_FROM[command]:
            raise DomainError(self.number, self.state, command, reason)

    def _refuse(self, command: str, reason: str) -> DomainError:
        return DomainError(self.number, self.state, command, reason)

    # -- commands ------------------------------------------------------------

    def assign(
        self, *, group: str, assignee: str | None, actor: str, at: datetime, tier: str | None = None
    ) -> None:
        """Give the ticket to a group (and optionally a person); a reassignment is counted."""
        self._require("assign")
        group = _text("group", group)
        assignee = _text("assignee", assignee) if assignee is not None else None
        new_tier = _tier(tier) if tier is not None else self.tier
        if (group, assignee, new_tier) == (self.group, self.assignee, self.tier):
            raise self._refuse("assign", f"already assigned to {group}/{assignee or '-'}")
        self._assigned(group=group, assignee=assignee, tier=new_tier, actor=actor, timestamp=at)

    @event("Assigned")
    def _assigned(
        self, group: str, assignee: str | None, tier: str, actor: str, timestamp: datetime
    ) -> None:
        before = self.state
        if self.group is not None:
            self.reassignment_count += 1
        self.group, self.assignee, self.tier = group, assignee, tier
        if self.state == S.ON_HOLD:
            self.resumes_to = S.ASSIGNED.value
        else:
            self.state = S.ASSIGNED.value
        self._wrote("state", before, self.state, actor, timestamp)

    def acknowledge(self, *, actor: str, at: datetime) -> None:
        """An agent takes ownership: the first one stops the response clock."""
        self._require("acknowledge")
        self._acknowledged(actor=actor, timestamp=at)

    @event("Acknowledged")
    def _acknowledged(self, actor: str, timestamp: datetime) -> None:
        before = self.state
        if self.acknowledged_at is None:
            self.acknowledged_at, self.acknowledged_by = timestamp, actor
        if self.assignee is None:
            self.assignee = actor
        self.state = S.IN_PROGRESS.value
        self._wrote("state", before, self.state, actor, timestamp)

    def hold(
        self, *, reason: str, actor: str, at: datetime, note: str = "", vendor: str | None = None
    ) -> None:
        """Wait on someone else; awaiting customer or vendor pauses SLA clocks.

        Naming the ``vendor`` (awaiting vendor only) starts their underpinning-contract clocks.
        """
        self._require("hold")
        try:
            reason = HoldReason(reason).value
        except ValueError:
            allowed = ", ".join(r.value for r in HoldReason)
            raise InputError("reason", f"{reason!r} is not one of {allowed}") from None
        if vendor is not None:
            vendor = _text("vendor", vendor, limit=200)
            if reason != HoldReason.AWAITING_VENDOR:
                raise InputError(
                    "vendor", f"only a hold awaiting_vendor names a vendor, not {reason}"
                )
        self._put_on_hold(reason=reason, note=note, vendor=vendor, actor=actor, timestamp=at)

    @event("PutOnHold")
    def _put_on_hold(
        self, reason: str, note: str, actor: str, timestamp: datetime, vendor: str | None = None
    ) -> None:
        before = self.state
        self.resumes_to = self.state
        self.state, self.hold_reason, self.awaited_vendor = S.ON_HOLD.value, reason, vendor
        self._wrote("state", before, self.state, actor, timestamp)

    def resume(self, *, actor: str, at: datetime, note: str = "") -> None:
        """Back to the state the hold interrupted (assigned stays assigned until acknowledged)."""
        self._require("resume")
        self._resumed(note=note, actor=actor, timestamp=at)

    @event("Resumed")
    def _resumed(self, note: str, actor: str, timestamp: datetime) -> None:
        before = self.state
        self.state, self.hold_reason, self.awaited_vendor = self.resumes_to, None, None
        self._wrote("state", before, self.state, actor, timestamp)

    def escalate_functionally(
        self, *, to_group: str, actor: str, at: datetime, reason: str = ""
    ) -> None:
        """Hand over to the next support tier's group; the new group must acknowledge again."""
        self._require("escalate")
        next_tier = Tier(self.tier).next()
        if next_tier is None:
            raise self._refuse("escalate", f"already at the last tier {self.tier}")
        self._escalated_functionally(
            from_group=self.group,
            to_group=_text("to_group", to_group),
            from_tier=self.tier,
            to_tier=next_tier.value,
            reason=reason,
            actor=actor,
            timestamp=at,
        )

    @event("EscalatedFunctionally")
    def _escalated_functionally(
        self,
        from_group: str | None,
        to_group: str,
        from_tier: str,
        to_tier: str,
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        before = self.state
        self.group, self.tier, self.assignee = to_group, to_tier, None
        self.functional_escalations += 1
        if self.state == S.ON_HOLD:
            self.resumes_to = S.ASSIGNED.value
        else:
            self.state = S.ASSIGNED.value
        self._wrote("state", before, self.state, actor, timestamp)

    def escalate_hierarchically(
        self, *, to: str, actor: str, at: datetime, reason: str = ""
    ) -> None:
        """Bring management in; ownership and state do not change."""
        self._require("escalate")
        self._escalated_hierarchically(
            to=_text("to", to),
            level=self.escalation_level + 1,
            reason=reason,
            actor=actor,
            timestamp=at,
        )

    @event("EscalatedHierarchically")
    def _escalated_hierarchically(
        self, to: str, level: int, reason: str, actor: str, timestamp: datetime
    ) -> None:
        self.escalation_level = level

    def add_comment(self, *, body: str, public: bool, actor: str, at: datetime) -> None:
        """A public comment reaches the customer; a work note stays internal."""
        self._require("comment")
        body = _text("body", body)
        if public:
            self._public_comment_added(body=body, actor=actor, timestamp=at)
        else:
            self._work_note_added(body=body, actor=actor, timestamp=at)

    @event("PublicCommentAdded")
    def _public_comment_added(self, body: str, actor: str, timestamp: datetime) -> None:
        self.public_comments += 1

    @event("WorkNoteAdded")
    def _work_note_added(self, body: str, actor: str, timestamp: datetime) -> None:
        self.work_notes += 1

    def record_customer_reply(self, *, body: str, actor: str, at: datetime) -> None:
        """The customer answered; if we were waiting on them, work resumes at once."""
        self._require("customer_reply")
        self._customer_replied(body=_text("body", body), actor=actor, timestamp=at)
        if self.state == S.ON_HOLD and self.hold_reason == HoldReason.AWAITING_CUSTOMER:
            self._resumed(note="customer replied", actor=actor, timestamp=at)

    @event("CustomerReplied")
    def _customer_replied(self, body: str, actor: str, timestamp: datetime) -> None:
        self.customer_replies += 1

    def change_priority(
        self,
        *,
        impact: str,
        urgency: str,
        reason: str,
        matrix: PriorityMatrix,
        actor: str,
        at: datetime,
        override: str | None = None,
    ) -> None:
        """Re-rate impact and urgency; an override priority needs the reason just the same."""
        self._require("change_priority")
        reason = _text("reason", reason)
        priority = Priority(override).value if override else matrix.priority(impact, urgency).value
        impact, urgency = Impact(impact).value, Urgency(urgency).value
        if (impact, urgency, priority) == (self.impact, self.urgency, self.priority):
            raise self._refuse("change_priority", f"already {priority} ({impact}/{urgency})")
        self._priority_changed(
            impact=impact,
            urgency=urgency,
            priority=priority,
            previous_priority=self.priority,
            reason=reason,
            actor=actor,
            timestamp=at,
        )

    @event("PriorityChanged")
    def _priority_changed(
        self,
        impact: str,
        urgency: str,
        priority: str,
        previous_priority: str,
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        before = self.priority
        self.impact, self.urgency, self.priority = impact, urgency, priority
        self._wrote("priority", before, self.priority, actor, timestamp)

    def _check_can_resolve(self) -> None:
        """Kinds add their own preconditions (a change must be implemented or rejected)."""

    def resolve(self, *, code: str, notes: str, actor: str, at: datetime) -> None:
        self._require("resolve")
        self._check_can_resolve()
        self._resolved(
            code=_text("code", code, limit=100).lower(), notes=notes, actor=actor, timestamp=at
        )

    @event("Resolved")
    def _resolved(self, code: str, notes: str, actor: str, timestamp: datetime) -> None:
        before = self.state
        self.state, self.hold_reason, self.awaited_vendor = S.RESOLVED.value, None, None
        self.resolved_at, self.resolution_code, self.resolution_notes = timestamp, code, notes
        self._wrote("state", before, self.state, actor, timestamp)

    def close(self, *, actor: str, at: datetime) -> None:
        self._require("close")
        self._closed(actor=actor, timestamp=at)

    @event("Closed")
    def _closed(self, actor: str, timestamp: datetime) -> None:
        before = self.state
        self.state, self.closed_at = S.CLOSED.value, timestamp
        self._wrote("state", before, self.state, actor, timestamp)

    def reopen(self, *, reason: str, window: timedelta, actor: str, at: datetime) -> None:
        """Back to work if the resolution did not hold, within the reopen window only."""
        self._require("reopen")
        assert self.resolved_at is not None
        if at > self.resolved_at + window:
            raise self._refuse(
                "reopen", f"reopen window of {window} after {self.resolved_at.isoformat()} passed"
            )
        self._reopened(reason=_text("reason", reason), actor=actor, timestamp=at)

    @event("Reopened")
    def _reopened(self, reason: str, actor: str, timestamp: datetime) -> None:
        before = self.state
        self.reopen_count += 1
        self.resolved_at = self.resolution_code = self.resolution_notes = None
        if self.assignee is not None:
            self.state = S.IN_PROGRESS.value
        elif self.group is not None:
            self.state = S.ASSIGNED.value
        else:
            self.state = S.NEW.value
        self._wrote("state", before, self.state, actor, timestamp)

    def cancel(self, *, reason: str, actor: str, at: datetime) -> None:
        self._require("cancel")
        self._cancelled(reason=_text("reason", reason), actor=actor, timestamp=at)

    @event("Cancelled")
    def _cancelled(self, reason: str, actor: str, timestamp: datetime) -> None:
        before = self.state
        self.state, self.hold_reason, self.awaited_vendor = S.CANCELLED.value, None, None
        self._wrote("state", before, self.state, actor, timestamp)

    def record_satisfaction(self, *, score: int, comment: str, actor: str, at: datetime) -> None:
        """The customer's 1-5 survey score for this resolution."""
        self._require("record_satisfaction")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InputError("score", f"{score!r} is not a whole number from 1 to 5")
        self._satisfaction_recorded(score=score, comment=comment, actor=actor, timestamp=at)

    @event("SatisfactionRecorded")
    def _satisfaction_recorded(
        self, score: int, comment: str, actor: str, timestamp: datetime
    ) -> None:
        self.satisfaction = {"score": score, "comment": comment}

    def record_complaint(self, *, text: str, actor: str, at: datetime) -> None:
        self._complaint_recorded(text=_text("text", text), actor=actor, timestamp=at)

    @event("ComplaintRecorded")
    def _complaint_recorded(self, text: str, actor: str, timestamp: datetime) -> None:
        self.complaints += 1

    @property
    def occurrences(self) -> int:
        """How often the source reported what opened this ticket: 1 until a repeat is recorded."""
        return int(vars(self).get("occurrence_count", 1))

    def record_occurrence(
        self,
        *,
        source: str,
        occurred_at: datetime | None,
        details: dict[str, Any],
        actor: str,
        at: datetime,
    ) -> None:
        """The source reports it again while the ticket is open: counted; nothing else changes.

        No SLA rule reacts to it. ``occurred_at`` is the source's own instant of the repeat,
        ``last_seen`` the instant it reached us.
        """
        if not self.is_open:
            raise self._refuse("record_occurrence", "only an open ticket counts repeats")
        self._occurrence_recorded(
            source=_text("source", source, limit=200),
            count=self.occurrences + 1,
            last_seen=at,
            occurred_at=occurred_at,
            details=dict(details),
            actor=actor,
            timestamp=at,
        )

    @event("OccurrenceRecorded")
    def _occurrence_recorded(
        self,
        source: str,
        count: int,
        last_seen: datetime,
        occurred_at: datetime | None,
        details: dict[str, Any],
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.occurrence_count, self.last_seen = count, last_seen

    @property
    def auto_resolve_suspended(self) -> bool:
        """Flapping was detected since the ticket last (re)opened: a source's resolve only
        annotates it. An agent's resolve ends that; a later reopen starts afresh."""
        flapping = vars(self).get("flapping")
        return (
            flapping is not None and self.is_open and flapping["reopen_count"] == self.reopen_count
        )

    def record_flapping(
        self, *, source: str, changes: int, window_s: int, actor: str, at: datetime
    ) -> None:
        """The source's state for this ticket changed ``changes`` times within ``window_s``
        seconds: recorded once, and auto-resolve is suspended until an agent resolves it."""
        if not self.is_open:
            raise self._refuse("record_flapping", "only an open ticket can be flapping")
        if not self.auto_resolve_suspended:
            self._flapping_detected(
                source=_text("source", source, limit=200),
                changes=changes,
                window_s=window_s,
                actor=actor,
                timestamp=at,
            )

    @event("FlappingDetected")
    def _flapping_detected(
        self, source: str, changes: int, window_s: int, actor: str, timestamp: datetime
    ) -> None:
        self.flapping = {
            "source": source,
            "changes": changes,
            "window_s": window_s,
            "detected_at": timestamp,
            "reopen_count": self.reopen_count,
        }

    # -- views ---------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """JSON-native view of the current state, for the CLI, HTTP and tests."""
        data = self.base_dict()
        for name in (
            "summary", "description", "impact", "urgency", "priority", "service", "ci",
            "reporter", "customer", "channel", "state", "group", "assignee", "tier",
            "hold_reason", "awaited_vendor", "escalation_level", "acknowledged_by",
            "resolution_code", "resolution_notes", "reopen_count", "reassignment_count",
            "functional_escalations", "public_comments", "work_notes", "customer_replies",
            "satisfaction", "complaints",
            "opened_by",
        ):  # fmt: skip
            data[name] = getattr(self, name)
        for name in ("opened_at", "received_at", "acknowledged_at", "resolved_at", "closed_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value is not None else None
        data.update(self.contact_dict())
        data["sync"] = self.sync_dict()
        data.update(self.kind_dict())
        return data

    def kind_dict(self) -> dict[str, Any]:
        """Fields only one kind has; overridden per kind."""
        return {}
