"""A record's events in sentences a person reads: who, when, what and why (``ticket timeline``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError

if TYPE_CHECKING:
    from opsledger.core.engine import Engine


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of a ticket in words: when (UTC), who, and a sentence saying what and why."""

    version: int
    at: datetime
    actor: str
    event: str
    text: str
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "event": self.event,
            "text": self.text,
            "details": dict(self.details),
        }


def timeline(engine: Engine, number: str) -> list[TimelineEntry]:
    """Every event of a record, oldest first, each with a sentence a person can read."""
    return [
        TimelineEntry(e.version, e.at, e.actor, e.event, sentence(e.event, e.details), e.details)
        for e in engine.history(number)
    ]


def utc_text(value: datetime | str | None) -> str:
    """``2024-03-04T09:00:00Z``: the same text wherever the reader is."""
    if value is None or value == "":
        return "-"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return ensure_utc(at, "at").strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_text(microseconds: Any) -> str:
    """Business time as people say it: ``4h``, ``1h 30m``, ``45m``, ``30s``."""
    if not isinstance(microseconds, int):
        return "?"
    seconds = int(timedelta(microseconds=microseconds).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return " ".join(parts) or "0s"


def _line(text: Any, limit: int = 120) -> str:
    """The first line of free text, cut short; a person reads the rest in ``--format json``."""
    value = str(text or "").strip()
    first = value.splitlines()[0] if value else ""
    more = first != value or len(first) > limit
    return first[:limit].rstrip() + ("…" if more else "")


def _noticed(d: Mapping[str, Any]) -> str:
    """A clock event recorded late (the scheduler was down) says when it was noticed."""
    return f", noticed {utc_text(d['noticed_at'])}" if d.get("noticed_at") else ""


def _why(label: str, text: Any) -> str:
    return f" ({label}{_line(text)})" if text else ""


def _then(text: Any) -> str:
    """``: <first line>`` after a sentence, when there is free text to add."""
    return f": {_line(text)}" if text else ""


_SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "Opened": lambda d: (
        f"opened as {d.get('priority')} (impact {d.get('impact')}, urgency {d.get('urgency')})"
        + (f" for service {d['service']}" if d.get("service") else "")
        + (f" via {d['channel']}" if d.get("channel") else "")
        + f": {_line(d.get('summary'))}"
    ),
    "Registered": lambda d: (
        f"registered {d.get('ci_type')} {_line(d.get('name'))} ({d.get('status')}), owner "
        f"{d.get('owner') or '-'}"
    ),
    "Assigned": lambda d: (
        f"assigned to group {d.get('group')}"
        + (f", assignee {d['assignee']}" if d.get("assignee") else "")
        + f" ({d.get('tier')})"
    ),
    "Acknowledged": lambda d: "acknowledged",
    "PutOnHold": lambda d: (
        f"put on hold ({d.get('reason')}"
        + (f", vendor {d['vendor']}" if d.get("vendor") else "")
        + ")"
        + _then(d.get("note"))
    ),
    "Resumed": lambda d: "resumed" + _then(d.get("note")),
    "EscalatedFunctionally": lambda d: (
        f"escalated functionally from {d.get('from_group') or '-'} ({d.get('from_tier')}) to "
        f"{d.get('to_group')} ({d.get('to_tier')})" + _why("reason: ", d.get("reason"))
    ),
    "EscalatedHierarchically": lambda d: (
        f"escalated hierarchically to {d.get('to')} (level {d.get('level')})"
        + _why("reason: ", d.get("reason"))
    ),
    "PublicCommentAdded": lambda d: f"commented (public): {_line(d.get('body'))}",
    "WorkNoteAdded": lambda d: f"added a work note: {_line(d.get('body'))}",
    "CustomerReplied": lambda d: f"customer replied: {_line(d.get('body'))}",
    "PriorityChanged": lambda d: (
        f"priority changed {d.get('previous_priority')} -> {d.get('priority')} (impact "
        f"{d.get('impact')}, urgency {d.get('urgency')}): {_line(d.get('reason'))}"
    ),
    "Resolved": lambda d: f"resolved with code {d.get('code')}" + _then(d.get("notes")),
    "Closed": lambda d: "closed",
    "Reopened": lambda d: f"reopened: {_line(d.get('reason'))}",
    "Cancelled": lambda d: f"cancelled: {_line(d.get('reason'))}",
    "SatisfactionRecorded": lambda d: (
        f"customer satisfaction {d.get('score')}/5" + _then(d.get("comment"))
    ),
    "ComplaintRecorded": lambda d: f"complaint recorded: {_line(d.get('text'))}",
    "MailReceived": lambda d: (
        ("out-of-office reply" if d.get("kind") == "out_of_office" else "mail received")
        + f" from {d.get('sender')}: {_line(d.get('subject'))} ({d.get('message_id')}"
        + (f", {len(d['attachments'])} attachment(s)" if d.get("attachments") else "")
        + ")"
    ),
    "NotificationRecorded": lambda d: (
        f"notification {d.get('template')} {d.get('outcome')}"
        + (f" to {', '.join(d['recipients'])}" if d.get("recipients") else "")
        + (f" ({d['message_id']})" if d.get("message_id") else "")
        + _why("reason: ", d.get("reason"))
    ),
    "SyncRecorded": lambda d: (
        f"sync to {d.get('system')}: {d.get('action')} {d.get('outcome')}"
        + (f" ({d['reference']})" if d.get("reference") else "")
        + (f" after {d['attempts']} attempts" if (d.get("attempts") or 1) > 1 else "")
        + _then(d.get("detail"))
    ),
    "ExternalChangeApplied": lambda d: (
        f"applied a change from {d.get('system')} {d.get('reference')}"
        + (f" ({', '.join(d['fields'])})" if d.get("fields") else "")
        + (f", comment {d['comment_id']}" if d.get("comment_id") else "")
        + (f", made {utc_text(d['occurred_at'])}" if d.get("occurred_at") else "")
    ),
    "CallbackRequested": lambda d: f"satisfaction call-back requested from {d.get('group')}",
    "CallbackRecorded": lambda d: (
        "call-back: customer "
        + ("reached" if d.get("reached") else "not reached")
        + (f", score {d['score']}/5" if d.get("score") is not None else "")
        + (", complaint" if d.get("complaint") else "")
        + _then(d.get("comment"))
    ),
    "OccurrenceRecorded": lambda d: (
        f"occurrence #{d.get('count')} reported by {d.get('source')}"
        + (f" (happened {utc_text(d['occurred_at'])})" if d.get("occurred_at") else "")
    ),
    "FlappingDetected": lambda d: (
        f"flapping: {d.get('changes')} changes reported by {d.get('source')} within "
        f"{d.get('window_s')} s; auto-resolve suspended"
    ),
    "Linked": lambda d: f"linked: {str(d.get('relation')).replace('_', ' ')} {d.get('target')}",
    "ExternalReferenceRecorded": lambda d: (
        f"external reference recorded: {d.get('system')} {d.get('reference')}"
    ),
    "MajorIncidentDeclared": lambda d: f"declared a major incident: {_line(d.get('reason'))}",
    "MajorIncidentCleared": lambda d: f"major incident cleared: {_line(d.get('reason'))}",
    "RootCauseRecorded": lambda d: f"root cause recorded: {_line(d.get('root_cause'))}",
    "KnownErrorRecorded": lambda d: (
        f"known error recorded, workaround: {_line(d.get('workaround'))}"
    ),
    "SubmittedForApproval": lambda d: "submitted to CAB for approval",
    "Approved": lambda d: "change approved" + _then(d.get("note")),
    "Rejected": lambda d: f"change rejected: {_line(d.get('note'))}",
    "ImplementationStarted": lambda d: "implementation started",
    "ImplementationSucceeded": lambda d: "implementation succeeded" + _then(d.get("notes")),
    "ImplementationFailed": lambda d: "implementation FAILED" + _then(d.get("notes")),
    "Reviewed": lambda d: f"post-implementation review: {_line(d.get('notes'))}",
    "AttributesUpdated": lambda d: (
        "attributes updated: "
        + ", ".join(
            f"{k} removed" if v is None else f"{k}={v}"
            for k, v in dict(d.get("changes") or {}).items()
        )
    ),
    "OwnerChanged": lambda d: f"owner changed to {d.get('owner')}",
    "StatusChanged": lambda d: f"status changed to {d.get('status')}",
    "ClockStarted": lambda d: (
        f"SLA clock {d.get('clock')} started: target {duration_text(d.get('target_us'))} "
        f"business time, due {utc_text(d.get('due'))}"
    ),
    "ClockPaused": lambda d: (
        f"SLA clock {d.get('clock')} paused ({d.get('reason')}) after "
        f"{duration_text(d.get('used_us'))}"
    ),
    "ClockResumed": lambda d: f"SLA clock {d.get('clock')} resumed, due {utc_text(d.get('due'))}",
    "WarningReached": lambda d: (
        f"SLA warning: {d.get('clock')} reached {d.get('threshold')}% of its target (due "
        f"{utc_text(d.get('due'))}{_noticed(d)})"
    ),
    "BreachRecorded": lambda d: (
        f"SLA breach: {d.get('clock')} passed 100% of its target (was due "
        f"{utc_text(d.get('due'))}{_noticed(d)})"
    ),
    "ClockMet": lambda d: f"SLA clock {d.get('clock')} met after {duration_text(d.get('used_us'))}",
    "ClockStopped": lambda d: (
        f"SLA clock {d.get('clock')} stopped after its breach, "
        f"{duration_text(d.get('used_us'))} used"
    ),
    "ClockCancelled": lambda d: f"SLA clock {d.get('clock')} cancelled ({d.get('reason')})",
    "TargetChanged": lambda d: (
        f"SLA clock {d.get('clock')} target now {duration_text(d.get('target_us'))} "
        f"({_line(d.get('reason'))}), due {utc_text(d.get('due'))}"
    ),
}


def sentence(event: str, details: Mapping[str, Any]) -> str:
    """What an event says, in words; an event type not known here still shows all its fields."""
    words = _SENTENCES.get(event)
    if words is not None:
        try:
            return words(details)
        except (TypeError, ValueError, AttributeError, InputError):
            pass  # an upcast or odd payload: fall through to the generic sentence
    fields = ", ".join(
        f"{k}={_line(v, 60)}" for k, v in details.items() if v not in (None, "", [], {})
    )
    return event + (f": {fields}" if fields else "")
