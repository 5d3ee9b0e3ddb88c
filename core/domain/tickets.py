"""The four ticket kinds: what each adds to the shared lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import RecordKind
from opsledger.core.domain.ticket import Ticket, TicketState, _text


class Incident(Ticket):
    """An unplanned interruption; may be major, affect a CI, be caused by a change."""

    kind = RecordKind.INCIDENT

    @event("Opened")
    def __init__(
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
        self._init_ticket(
            number=number, summary=summary, description=description, impact=impact,
            urgency=urgency, priority=priority, service=service, ci=ci, reporter=reporter,
            customer=customer, channel=channel, actor=actor, timestamp=timestamp,
            received_at=received_at,
        )  # fmt: skip
        self.major = False

    def declare_major(self, *, reason: str, actor: str, at: datetime) -> None:
        """Major incident procedure: its own flag, recorded with why."""
        if not self.is_open:
            raise self._refuse("declare_major", "only an open incident can be major")
        if self.major:
            raise self._refuse("declare_major", "already a major incident")
        self._major_declared(reason=_text("reason", reason), actor=actor, timestamp=at)

    @event("MajorIncidentDeclared")
    def _major_declared(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.major = True

    def clear_major(self, *, reason: str, actor: str, at: datetime) -> None:
        if not self.major:
            raise self._refuse("clear_major", "not a major incident")
        self._major_cleared(reason=_text("reason", reason), actor=actor, timestamp=at)

    @event("MajorIncidentCleared")
    def _major_cleared(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.major = False

    def kind_dict(self) -> dict[str, Any]:
        return {"major": self.major}


class ServiceRequest(Ticket):
    """A request for something standard (access, equipment, information)."""

    kind = RecordKind.SERVICE_REQUEST

    @event("Opened")
    def __init__(
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
        self._init_ticket(
            number=number, summary=summary, description=description, impact=impact,
            urgency=urgency, priority=priority, service=service, ci=ci, reporter=reporter,
            customer=customer, channel=channel, actor=actor, timestamp=timestamp,
            received_at=received_at,
        )  # fmt: skip


class Problem(Ticket):
    """The cause behind incidents: root-cause analysis, known error, permanent fix."""

    kind = RecordKind.PROBLEM

    @event("Opened")
    def __init__(
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
        self._init_ticket(
            number=number, summary=summary, description=description, impact=impact,
            urgency=urgency, priority=priority, service=service, ci=ci, reporter=reporter,
            customer=customer, channel=channel, actor=actor, timestamp=timestamp,
            received_at=received_at,
        )  # fmt: skip
        self.root_cause: str | None = None
        self.known_error = False
        self.workaround: str | None = None

    def record_root_cause(self, *, root_cause: str, actor: str, at: datetime) -> None:
        if self.state in (TicketState.CLOSED, TicketState.CANCELLED):
            raise self._refuse("record_root_cause", "the problem is no longer open")
        self._root_cause_recorded(
            root_cause=_text("root_cause", root_cause), actor=actor, timestamp=at
        )

    @event("RootCauseRecorded")
    def _root_cause_recorded(self, root_cause: str, actor: str, timestamp: datetime) -> None:
        self.root_cause = root_cause

    def record_known_error(
        self, *, workaround: str, actor: str, at: datetime, root_cause: str | None = None
    ) -> None:
        """A known error: the root cause is known and a workaround can be published."""
        if self.state in (TicketState.CLOSED, TicketState.CANCELLED):
            raise self._refuse("record_known_error", "the problem is no longer open")
        cause = root_cause if root_cause is not None else self.root_cause
        if not cause:
            raise InputError("root_cause", "a known error needs a root cause")
        self._known_error_recorded(
            root_cause=_text("root_cause", cause),
            workaround=_text("workaround", workaround),
            actor=actor,
            timestamp=at,
        )

    @event("KnownErrorRecorded")
    def _known_error_recorded(
        self, root_cause: str, workaround: str, actor: str, timestamp: datetime
    ) -> None:
        self.root_cause, self.workaround, self.known_error = root_cause, workaround, True

    def kind_dict(self) -> dict[str, Any]:
        return {
            "root_cause": self.root_cause,
            "known_error": self.known_error,
            "workaround": self.workaround,
        }


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangePhase(StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    IMPLEMENTING = "implementing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVIEWED = "reviewed"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


P = ChangePhase


class Change(Ticket):
    """A change: CAB approval (standard changes are pre-approved), implement, review."""

    kind = RecordKind.CHANGE

    @event("Opened")
    def __init__(
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
        change_type: str,
        risk: str,
        planned_start: datetime | None,
        planned_end: datetime | None,
    ) -> None:
        self._init_ticket(
            number=number, summary=summary, description=description, impact=impact,
            urgency=urgency, priority=priority, service=service, ci=ci, reporter=reporter,
            customer=customer, channel=channel, actor=actor, timestamp=timestamp,
            received_at=received_at,
        )  # fmt: skip
        self.change_type = change_type
        self.risk = risk
        self.planned_start = planned_start
        self.planned_end = planned_end
        self.phase = (P.APPROVED if change_type == ChangeType.STANDARD else P.DRAFT).value
        self.approvals: list[dict[str, str]] = []
        self.review: str | None = None

    def _in_phase(self, command: str, *phases: ChangePhase) -> None:
        if self.state in (TicketState.CLOSED, TicketState.CANCELLED) or self.phase not in phases:
            wanted = " or ".join(p.value for p in phases)
            raise self._refuse(command, f"change phase is {self.phase}, needs {wanted}")

    def submit_for_approval(self, *, actor: str, at: datetime) -> None:
        self._in_phase("submit_for_approval", P.DRAFT)
        self._submitted_for_approval(actor=actor, timestamp=at)

    @event("SubmittedForApproval")
    def _submitted_for_approval(self, actor: str, timestamp: datetime) -> None:
        self.phase = P.AWAITING_APPROVAL.value

    def approve(self, *, note: str, actor: str, at: datetime) -> None:
        """CAB (or ECAB for emergencies) approves."""
        self._in_phase("approve", P.AWAITING_APPROVAL)
        self._approved(note=note, actor=actor, timestamp=at)

    @event("Approved")
    def _approved(self, note: str, actor: str, timestamp: datetime) -> None:
        self.phase = P.APPROVED.value
        self.approvals.append({"decision": "approved", "by": actor, "note": note})

    def reject(self, *, note: str, actor: str, at: datetime) -> None:
        self._in_phase("reject", P.AWAITING_APPROVAL)
        self._rejected(note=_text("note", note), actor=actor, timestamp=at)

    @event("Rejected")
    def _rejected(self, note: str, actor: str, timestamp: datetime) -> None:
        self.phase = P.REJECTED.value
        self.approvals.append({"decision": "rejected", "by": actor, "note": note})

    def start_implementation(self, *, actor: str, at: datetime) -> None:
        self._in_phase("start_implementation", P.APPROVED)
        self._implementation_started(actor=actor, timestamp=at)

    @event("ImplementationStarted")
    def _implementation_started(self, actor: str, timestamp: datetime) -> None:
        self.phase = P.IMPLEMENTING.value
        if self.state in (TicketState.NEW, TicketState.ASSIGNED):
            self.state = TicketState.IN_PROGRESS.value

    def complete_implementation(
        self, *, succeeded: bool, notes: str, actor: str, at: datetime
    ) -> None:
        self._in_phase("complete_implementation", P.IMPLEMENTING)
        if succeeded:
            self._implementation_succeeded(notes=notes, actor=actor, timestamp=at)
        else:
            self._implementation_failed(notes=notes, actor=actor, timestamp=at)

    @event("ImplementationSucceeded")
    def _implementation_succeeded(self, notes: str, actor: str, timestamp: datetime) -> None:
        self.phase = P.SUCCEEDED.value

    @event("ImplementationFailed")
    def _implementation_failed(self, notes: str, actor: str, timestamp: datetime) -> None:
        self.phase = P.FAILED.value

    def review_implementation(self, *, notes: str, actor: str, at: datetime) -> None:
        """Post-implementation review (PIR)."""
        self._in_phase("review", P.SUCCEEDED, P.FAILED)
        self._reviewed(notes=_text("notes", notes), actor=actor, timestamp=at)

    @event("Reviewed")
    def _reviewed(self, notes: str, actor: str, timestamp: datetime) -> None:
        self.phase, self.review = P.REVIEWED.value, notes

    def _check_can_resolve(self) -> None:
        done = {P.SUCCEEDED, P.FAILED, P.REVIEWED, P.REJECTED}
        if self.change_type != ChangeType.STANDARD:
            done = {P.REVIEWED, P.REJECTED}
        if self.phase not in done:
            wanted = " or ".join(sorted(p.value for p in done))
            raise self._refuse("resolve", f"change phase is {self.phase}, needs {wanted}")

    def kind_dict(self) -> dict[str, Any]:
        return {
            "change_type": self.change_type,
            "risk": self.risk,
            "phase": self.phase,
            "planned_start": self.planned_start.isoformat() if self.planned_start else None,
            "planned_end": self.planned_end.isoformat() if self.planned_end else None,
            "approvals": [dict(a) for a in self.approvals],
            "review": self.review,
        }


#: Constructors by kind (each kind's ``Opened`` takes the shared fields, changes a few more).
TICKET_CLASSES: dict[RecordKind, Callable[..., Ticket]] = {
    RecordKind.INCIDENT: Incident,
    RecordKind.SERVICE_REQUEST: ServiceRequest,
    RecordKind.PROBLEM: Problem,
    RecordKind.CHANGE: Change,
}
