"""SLA clocks as events on the ticket: started, paused, resumed, warnings, breach, met, cancelled.

All arithmetic is in business time through the clock's own recorded calendar, in whole
microseconds, so a ticket's clocks can be recomputed from its events alone at any instant.
Thresholds fire in time order; each event is stamped with the instant it was due, and carries
``noticed_at`` when whoever fired it (a tick or a later command) came after that instant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from eventsourcing.domain import event
from opsledger.core.domain.calendar import BusinessCalendar
from opsledger.core.domain.records import LedgerRecord
from opsledger.core.domain.sla import Agreement, Metric, SlaPolicy

SLA_ACTOR = "sla"
BREACH = 100


class PolicySource(Protocol):
    """Where the reactor finds policies: the ones in force, and any recorded version."""

    def current(self) -> Sequence[SlaPolicy]: ...

    def version(self, name: str, version: int) -> SlaPolicy: ...


@lru_cache(maxsize=256)
def _calendar(spec: str) -> BusinessCalendar:
    return BusinessCalendar.from_dict(json.loads(spec))


def calendar_of(clock: dict[str, Any]) -> BusinessCalendar:
    """The calendar a clock runs on, rebuilt once per distinct definition."""
    return _calendar(json.dumps(clock["calendar"], sort_keys=True))


def _us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def used_at(clock: dict[str, Any], at: datetime) -> timedelta:
    """Business time a clock has consumed by ``at`` (frozen while paused or stopped)."""
    used = timedelta(microseconds=clock["used_us"])
    if clock["status"] == "running" and at > clock["segment_start"]:
        used += calendar_of(clock).elapsed(clock["segment_start"], at)
    return used


def threshold_instant(clock: dict[str, Any], percent: int) -> datetime:
    """When a running clock reaches ``percent`` of its target (in the past if already beyond)."""
    goal = clock["target_us"] * percent // 100 - clock["used_us"]
    if goal <= 0:
        return clock["segment_start"]  # type: ignore[no-any-return]
    return calendar_of(clock).add(clock["segment_start"], timedelta(microseconds=goal))


def pending(clock: dict[str, Any]) -> list[tuple[datetime, int]]:
    """Thresholds (warnings, then 100 = breach) still to fire on a running clock."""
    if clock["status"] != "running":
        return []
    todo = [w for w in clock["warnings"] if w not in clock["fired"]]
    found = [(threshold_instant(clock, p), p) for p in todo]
    if not clock["breached"]:
        # Breached once business time beyond the target has passed: a target that runs out at
        # closing time is breached when work could next resume, not in the closed hours.
        found.append((calendar_of(clock).next_opening(threshold_instant(clock, BREACH)), BREACH))
    return found


class SlaClocks(LedgerRecord):
    """Ticket base that owns the clocks; ``Ticket`` builds on it."""

    def _init_clocks(self) -> None:
        self.clocks: dict[str, dict[str, Any]] = {}

    # -- queries ---------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """The earliest instant a clock event becomes due (for the scheduler's index)."""
        instants = [at for clock in self.clocks.values() for at, _ in pending(clock)]
        return min(instants) if instants else None

    def open_clocks(self, metric: Metric | None = None) -> list[str]:
        return [
            key
            for key, c in self.clocks.items()
            if c["status"] in ("running", "paused") and (metric is None or c["metric"] == metric)
        ]

    # -- firing due thresholds ---------------------------------------------------------------

    def catch_up(self, now: datetime) -> int:
        """Record every warning reached by ``now`` and every breach passed before ``now``.

        Idempotent and order-insensitive: a repeated or earlier ``now`` records nothing new.
        A clock is breached only once its target is exceeded, so a stop exactly at the due
        instant is met. At one instant, warnings come before breaches: a tick at exactly that
        instant records the warnings and not yet the breaches, and a late catch-up must
        record them in the same order.
        """
        fired = 0
        while True:
            due = sorted(
                (at, p == BREACH, key, p)
                for key, clock in self.clocks.items()
                for at, p in pending(clock)
                if at < now or (at == now and p != BREACH)
            )
            if not due:
                return fired
            at, _, key, percent = due[0]
            stamp = max(at, self.modified_on)
            noticed = now if now > at else None
            if percent == BREACH:
                target_end = threshold_instant(self.clocks[key], BREACH)
                self._breach_recorded(
                    clock=key, due=target_end, noticed_at=noticed, actor=SLA_ACTOR, timestamp=stamp
                )
            else:
                self._warning_reached(
                    clock=key,
                    threshold=percent,
                    due=at,
                    noticed_at=noticed,
                    actor=SLA_ACTOR,
                    timestamp=stamp,
                )
            fired += 1

    # -- transitions (called by the SLA reactor) ---------------------------------------------

    def start_clock(
        self,
        *,
        key: str,
        policy: SlaPolicy,
        metric: Metric,
        target: timedelta,
        calendar: BusinessCalendar,
        at: datetime,
        cycle: int = 1,
    ) -> None:
        self._clock_started(
            clock=key,
            agreement=policy.agreement.value,
            policy=policy.name,
            version=policy.version,
            metric=metric.value,
            cycle=cycle,
            target_us=_us(target),
            calendar=calendar.to_dict(),
            warnings=list(policy.warnings),
            due=calendar.add(at, target),
            actor=SLA_ACTOR,
            timestamp=at,
        )

    def pause_clock(self, key: str, *, reason: str, at: datetime) -> None:
        used = used_at(self.clocks[key], at)
        self._clock_paused(
            clock=key, reason=reason, used_us=_us(used), actor=SLA_ACTOR, timestamp=at
        )

    def resume_clock(self, key: str, *, at: datetime) -> None:
        clock = self.clocks[key]
        remaining = timedelta(microseconds=max(0, clock["target_us"] - clock["used_us"]))
        due = calendar_of(clock).add(at, remaining)
        self._clock_resumed(clock=key, due=due, actor=SLA_ACTOR, timestamp=at)

    def stop_clock(self, key: str, *, at: datetime) -> None:
        """Met when within target, otherwise stopped as breached."""
        clock = self.clocks[key]
        used = _us(used_at(clock, at))
        if clock["breached"] or used > clock["target_us"]:
            self._clock_stopped(clock=key, used_us=used, actor=SLA_ACTOR, timestamp=at)
        else:
            self._clock_met(clock=key, used_us=used, actor=SLA_ACTOR, timestamp=at)

    def cancel_clock(self, key: str, *, reason: str, at: datetime) -> None:
        used = _us(used_at(self.clocks[key], at))
        self._clock_cancelled(clock=key, reason=reason, used_us=used, actor=SLA_ACTOR, timestamp=at)

    def change_target(
        self, key: str, *, target: timedelta, calendar: BusinessCalendar, reason: str, at: datetime
    ) -> None:
        """Retroactive re-target: time already used counts against the new target."""
        clock = self.clocks[key]
        used = used_at(clock, at)
        remaining = max(timedelta(0), target - used)
        self._target_changed(
            clock=key,
            target_us=_us(target),
            calendar=calendar.to_dict(),
            used_us=_us(used),
            due=calendar.add(at, remaining),
            reason=reason,
            actor=SLA_ACTOR,
            timestamp=at,
        )

    # -- events ------------------------------------------------------------------------------

    @event("ClockStarted")
    def _clock_started(
        self,
        clock: str,
        agreement: str,
        policy: str,
        version: int,
        metric: str,
        cycle: int,
        target_us: int,
        calendar: dict[str, Any],
        warnings: list[int],
        due: datetime,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.clocks[clock] = {
            "agreement": agreement,
            "policy": policy,
            "version": version,
            "metric": metric,
            "cycle": cycle,
            "target_us": target_us,
            "calendar": calendar,
            "warnings": list(warnings),
            "status": "running",
            "started_at": timestamp,
            "segment_start": timestamp,
            "used_us": 0,
            "due": due,
            "fired": [],
            "breached": False,
            "paused_reason": None,
            "stopped_at": None,
        }

    @event("ClockPaused")
    def _clock_paused(
        self, clock: str, reason: str, used_us: int, actor: str, timestamp: datetime
    ) -> None:
        c = self.clocks[clock]
        c.update(status="paused", used_us=used_us, paused_reason=reason, due=None)

    @event("ClockResumed")
    def _clock_resumed(self, clock: str, due: datetime, actor: str, timestamp: datetime) -> None:
        c = self.clocks[clock]
        c.update(
            status="running", segment_start=timestamp, paused_reason=None, due=due, stopped_at=None
        )

    @event("WarningReached")
    def _warning_reached(
        self,
        clock: str,
        threshold: int,
        due: datetime,
        noticed_at: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.clocks[clock]["fired"].append(threshold)

    @event("BreachRecorded")
    def _breach_recorded(
        self,
        clock: str,
        due: datetime,
        noticed_at: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.clocks[clock]["breached"] = True

    @event("ClockMet")
    def _clock_met(self, clock: str, used_us: int, actor: str, timestamp: datetime) -> None:
        self.clocks[clock].update(status="met", used_us=used_us, stopped_at=timestamp, due=None)

    @event("ClockStopped")
    def _clock_stopped(self, clock: str, used_us: int, actor: str, timestamp: datetime) -> None:
        """A breached clock reaching its stop condition: late, but finished."""
        self.clocks[clock].update(
            status="breached", used_us=used_us, stopped_at=timestamp, due=None
        )

    @event("ClockCancelled")
    def _clock_cancelled(
        self, clock: str, reason: str, used_us: int, actor: str, timestamp: datetime
    ) -> None:
        self.clocks[clock].update(
            status="cancelled", used_us=used_us, stopped_at=timestamp, due=None
        )

    @event("TargetChanged")
    def _target_changed(
        self,
        clock: str,
        target_us: int,
        calendar: dict[str, Any],
        used_us: int,
        due: datetime,
        reason: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        c = self.clocks[clock]
        c.update(target_us=target_us, calendar=calendar, used_us=used_us, due=due)
        if c["status"] == "running":
            c["segment_start"] = timestamp


def is_clock_event(name: str) -> bool:
    return name in _CLOCK_EVENTS


_CLOCK_EVENTS = frozenset(
    {
        "ClockStarted", "ClockPaused", "ClockResumed", "WarningReached", "BreachRecorded",
        "ClockMet", "ClockStopped", "ClockCancelled", "TargetChanged",
    }
)  # fmt: skip

__all__ = ["Agreement", "PolicySource", "SlaClocks", "is_clock_event"]
