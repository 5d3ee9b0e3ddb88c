"""Reading SLA clocks: status as of an instant, a timeline an auditor can check by hand."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opsledger.core.domain.clocks import calendar_of, is_clock_event, used_at
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.ticket import Ticket


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """One clock as it stood at ``as_of``."""

    clock: str
    agreement: str
    policy: str
    version: int
    metric: str
    state: str  # running, paused, met, breached, cancelled
    breached: bool
    target: timedelta
    elapsed: timedelta
    remaining: timedelta
    due: datetime | None
    warnings_reached: tuple[int, ...]
    as_of: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "agreement": self.agreement,
            "policy": self.policy,
            "version": self.version,
            "metric": self.metric,
            "state": self.state,
            "breached": self.breached,
            "target_seconds": self.target.total_seconds(),
            "elapsed_seconds": self.elapsed.total_seconds(),
            "remaining_seconds": self.remaining.total_seconds(),
            "due": self.due.isoformat() if self.due else None,
            "warnings_reached": list(self.warnings_reached),
            "as_of": self.as_of.isoformat(),
        }


#: How far past a ticket's last change a status may be asked for: business time is counted
#: day by day up to ``as_of``, so a date centuries ahead would cost seconds per clock.
AS_OF_HORIZON = timedelta(days=3660)


def clock_statuses(ticket: Ticket, as_of: datetime) -> list[ClockStatus]:
    """Each clock of ``ticket`` (rebuilt as of ``as_of``) with business time up to ``as_of``."""
    if ticket.clocks and as_of > ticket.modified_on + AS_OF_HORIZON:
        raise InputError(
            "as_of",
            f"{as_of.isoformat()} is more than ten years after {ticket.number}'s last change",
        )
    out = []
    for key, c in ticket.clocks.items():
        elapsed = used_at(c, as_of)
        target = timedelta(microseconds=c["target_us"])
        over = elapsed > target
        breached = bool(c["breached"]) or over
        due: datetime | None = None
        if c["status"] == "running":
            remaining_us = max(0, c["target_us"] - c["used_us"])
            due = calendar_of(c).add(c["segment_start"], timedelta(microseconds=remaining_us))
        reached = tuple(w for w in c["warnings"] if elapsed >= target * w / 100)
        state = c["status"]
        out.append(
            ClockStatus(
                clock=key,
                agreement=c["agreement"],
                policy=c["policy"],
                version=c["version"],
                metric=c["metric"],
                state=state,
                breached=breached,
                target=target,
                elapsed=elapsed,
                remaining=max(timedelta(0), target - elapsed),
                due=due,
                warnings_reached=reached,
                as_of=as_of,
            )
        )
    return out


def _fmt(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)  # business hours, not calendar days
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def explain(number: str, events: Iterable[Any]) -> list[str]:
    """A readable timeline of a ticket's clocks from its events (no state beyond them)."""
    lines: list[str] = []
    paused_at: dict[str, datetime] = {}
    targets: dict[str, int] = {}
    for e in events:
        name = type(e).__name__
        at = e.timestamp.isoformat()
        if not is_clock_event(name):
            if name in (
                "Opened",
                "Acknowledged",
                "PutOnHold",
                "Resumed",
                "Resolved",
                "Reopened",
                "PriorityChanged",
                "Assigned",
                "EscalatedFunctionally",
                "Closed",
                "Cancelled",
                "PublicCommentAdded",
            ):
                lines.append(f"{at}  {number} {name} by {getattr(e, 'actor', '')}")
            continue
        clock = e.clock
        if name == "ClockStarted":
            targets[clock] = e.target_us
            lines.append(
                f"{at}    {clock}: started under {e.policy} v{e.version}, target "
                f"{_fmt(timedelta(microseconds=e.target_us))} business time on calendar "
                f"'{e.calendar.get('name')}' ({e.calendar.get('timezone')}), "
                f"due {e.due.isoformat()}"
            )
        elif name == "ClockPaused":
            paused_at[clock] = e.timestamp
            lines.append(
                f"{at}    {clock}: paused ({e.reason}) after "
                f"{_fmt(timedelta(microseconds=e.used_us))} used"
            )
        elif name == "ClockResumed":
            since = paused_at.pop(clock, None)
            held = f" after {_fmt(e.timestamp - since)} on hold" if since else ""
            lines.append(f"{at}    {clock}: resumed{held}, now due {e.due.isoformat()}")
        elif name == "WarningReached":
            late = f" (noticed {e.noticed_at.isoformat()})" if e.noticed_at else ""
            lines.append(f"{at}    {clock}: {e.threshold}% of target reached{late}")
        elif name == "BreachRecorded":
            late = f" (noticed {e.noticed_at.isoformat()})" if e.noticed_at else ""
            lines.append(f"{at}    {clock}: BREACHED, due was {e.due.isoformat()}{late}")
        elif name in ("ClockMet", "ClockStopped"):
            used = timedelta(microseconds=e.used_us)
            target = timedelta(microseconds=targets.get(clock, 0))
            verdict = "met" if name == "ClockMet" else "stopped after breach"
            lines.append(
                f"{at}    {clock}: {verdict}, {_fmt(used)} used of {_fmt(target)} "
                f"(margin {_fmt(target - used)})"
            )
        elif name == "ClockCancelled":
            lines.append(f"{at}    {clock}: cancelled ({e.reason})")
        elif name == "TargetChanged":
            targets[clock] = e.target_us
            lines.append(
                f"{at}    {clock}: target now {_fmt(timedelta(microseconds=e.target_us))} "
                f"({e.reason}), due {e.due.isoformat()}"
            )
    return lines
