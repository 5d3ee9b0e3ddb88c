"""The demo's service desk: how one incident or service request unfolds, step by step.

Each story is a generator of ``(instant, command)`` steps that receives each command's
Outcome; it keeps its own clock (``Story.t``), which only moves forwards.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from opsledger import Outcome
from opsledger.core import commands as c
from opsledger.core.domain.calendar import BusinessCalendar
from opsledger.demo_alerts import alert_command
from opsledger.demo_data import (
    CALENDARS,
    CHANNELS,
    CUSTOMERS,
    DUTY_MANAGER,
    FEEDBACK,
    FIRST_NAMES,
    IMPACTS,
    L1_DAY_AGENTS,
    L1_DAY_GROUP,
    L1_NIGHT_AGENTS,
    L1_NIGHT_GROUP,
    L3_AGENTS,
    LAST_NAMES,
    RESOLUTION_CODES,
    RESOLUTION_NOTES,
    SATISFACTION,
    URGENCIES,
    WORK_NOTES,
    Service,
)

if TYPE_CHECKING:
    from opsledger.demo import World

#: The desk's local time zone: business hours, nights, weekends and CAB days are judged here.
DEMO_TZ = ZoneInfo("Europe/Amsterdam")
#: Working hours of the teams, the same calendars the SLA policies count business time on.
HOURS = {
    name: BusinessCalendar.from_dict({"name": name, **spec}) for name, spec in CALENDARS.items()
}
DESK_HOURS = HOURS["amsterdam-office"]
Step = tuple[datetime, c.Command]
Process = Generator[Step, Outcome, None]
T = TypeVar("T")

ON_CALL = frozenset({"P1", "P2"})  # worked round the clock; P3/P4 wait for business hours
PACE = {"P1": 0.1, "P2": 0.3, "P3": 1.0, "P4": 1.6}  # delays relative to P3
RESOLVE_MINUTES = {"P1": 120, "P2": 420, "P3": 900, "P4": 1800}
UNNOTICED = 0.08  # share of tickets that sit unnoticed in a busy queue before anyone owns them
ESCALATE = {"P1": 0.8, "P2": 0.55, "P3": 0.3, "P4": 0.15}
BUMP = {"low": "medium", "medium": "high"}


# -- time and chance --------------------------------------------------------------------------


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, clock_time(0), tzinfo=DEMO_TZ).astimezone(UTC)


def is_business(t: datetime, hours: BusinessCalendar = DESK_HOURS) -> bool:
    return hours.is_working(t)


def next_business(
    t: datetime, rng: random.Random, hours: BusinessCalendar = DESK_HOURS
) -> datetime:
    """``t`` if the team is at work then, else a little after it next opens (after weekends,
    public holidays and lunch breaks, and on make-up working days)."""
    if hours.is_working(t):
        return t
    return hours.next_opening(t) + timedelta(minutes=rng.uniform(0, 50))


def _next_slot(t: datetime, slots: dict[int, int]) -> datetime:
    """The first ``weekday -> local hour`` slot at or after ``t``."""
    day = t.astimezone(DEMO_TZ).date()
    while True:
        if day.weekday() in slots:
            at = datetime.combine(day, clock_time(slots[day.weekday()]), tzinfo=DEMO_TZ)
            if at >= t:
                return at.astimezone(UTC)
        day += timedelta(days=1)


def next_cab(t: datetime) -> datetime:
    """The change advisory board meets Tuesdays and Thursdays at 14:00."""
    return _next_slot(t, {1: 14, 3: 14})


def maintenance_window(t: datetime) -> datetime:
    """Changes go in Tuesday to Thursday at 22:00, or early on Saturday."""
    return _next_slot(t, {1: 22, 2: 22, 3: 22, 5: 6})


def minutes(rng: random.Random, mean: float) -> timedelta:
    return timedelta(minutes=rng.expovariate(1 / mean))


def pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"


def desk(t: datetime) -> tuple[str, tuple[str, ...]]:
    """Who answers at ``t``: the day desk or the night desk."""
    return (L1_DAY_GROUP, L1_DAY_AGENTS) if is_business(t) else (L1_NIGHT_GROUP, L1_NIGHT_AGENTS)


@dataclass(slots=True)
class Story:
    """One ticket's private clock and cast; ``do`` builds its next step."""

    rng: random.Random
    t: datetime
    prio: str = "P3"
    number: str = ""
    owner: str = ""
    reporter: str = ""
    hours: BusinessCalendar = DESK_HOURS  # whose working hours the work waits for

    def after(self, mean_minutes: float, *, work: bool = False) -> datetime:
        """Move this story's clock on; work on P3/P4 waits for the team's working hours."""
        self.t += timedelta(seconds=30) + minutes(self.rng, mean_minutes)
        if work and self.prio not in ON_CALL:
            self.t = next_business(self.t, self.rng, self.hours)
        return self.t

    def do(
        self,
        mean_minutes: float | None,
        command: type[c.TicketCommand],
        *,
        work: bool = False,
        by: str | None = None,
        **fields: Any,
    ) -> Step:
        """The next step on this ticket (by its owner unless ``by``); None: at ``t`` itself."""
        at = self.t if mean_minutes is None else self.after(mean_minutes, work=work)
        return at, command(ticket=self.number, actor=by or self.owner, **fields)

    @property
    def pace(self) -> float:
        return PACE.get(self.prio, 1.0)


class Desk:
    """Incident and request stories over one :class:`World` (its CMDB, incident lists, queue)."""

    def __init__(self, world: World) -> None:
        self.w = world

    def _priority(self, impact: str, urgency: str) -> str:
        return self.w.matrix.priority(impact, urgency).value

    def incident(
        self,
        rng: random.Random,
        t: datetime,
        svc: Service,
        *,
        parent: str | None = None,
        parent_end: datetime | None = None,
        caused_by: str | None = None,
    ) -> Process:
        """A user or a monitor reports something broken; the desk works it through."""
        w = self.w
        related = parent is not None or caused_by is not None
        impact = "medium" if related else pick(rng, IMPACTS)
        urgency = "high" if related else pick(rng, URGENCIES)
        channel = pick(rng, CHANNELS)
        group, agents = desk(t)
        s = Story(rng, t, self._priority(impact, urgency), reporter=person(rng))
        customer = rng.choice(CUSTOMERS)
        opener = {"monitoring": "monitoring", "portal": s.reporter}.get(channel, rng.choice(agents))
        spec = rng.choice(svc.cis) if rng.random() < 0.7 else None  # the draws as before
        ci = w.ci[spec.name] if spec is not None else None
        summary = rng.choice(svc.symptoms)
        opening: c.Command
        if channel == "monitoring":  # through the Alertmanager receiver's parser and mapping
            opening = alert_command(
                at=t, alertname="SymptomDetected", summary=summary,
                description=f"{summary} ({svc.name}), seen by the synthetic checks.",
                impact=impact, urgency=urgency, service=svc.name,
                instance=spec.name if spec is not None else None, ci=ci,
            )  # fmt: skip
        else:
            opening = c.OpenTicket(
                kind="incident", summary=summary, impact=impact, urgency=urgency,
                description=f"Reported by {s.reporter} ({customer}) via {channel}.",
                service=svc.name, ci=ci, reporter=s.reporter, customer=customer,
                channel=channel, actor=opener,
            )  # fmt: skip
        outcome = yield t, opening
        s.number = outcome.number
        w.incidents[svc.name].append(s.number)
        s.owner = rng.choice(agents)
        yield s.do(8 * s.pace, c.AssignTicket, group=group, assignee=s.owner, tier="L1")
        slow = 20 if rng.random() < UNNOTICED else 1
        yield s.do(12 * s.pace * slow, c.AcknowledgeTicket, work=slow > 1)
        if parent is not None and parent_end is not None:
            yield from self._child_of_major(s, parent, parent_end)
            return
        if caused_by is not None:
            link = c.LinkRecords(
                source=s.number, relation="caused_by_change", target=caused_by, actor=s.owner
            )
            yield s.after(20), link
            w.notable.setdefault("incident caused by a failed change", s.number)
        if rng.random() < 0.03:
            reason = rng.choice(("duplicate of an earlier report", "raised in error"))
            yield s.do(30, c.CancelTicket, reason=reason)
            return
        if rng.random() < 0.06 and (impact, urgency) != ("high", "high"):
            impact, urgency = (BUMP[impact], urgency) if impact in BUMP else (impact, BUMP[urgency])
            why = "more users affected than first reported"
            yield s.do(60 * s.pace, c.ChangePriority, impact=impact, urgency=urgency, reason=why)
            s.prio = self._priority(impact, urgency)
            w.notable.setdefault("re-prioritised incident", s.number)
        if rng.random() < ESCALATE[s.prio]:
            yield from self._escalate(s, svc)
        if rng.random() < (0.3 if s.prio in ON_CALL else 0.02):
            yield s.do(
                90 * s.pace, c.EscalateTicket, mode="hierarchical", to=DUTY_MANAGER,
                reason="resolution target at risk",
            )  # fmt: skip
        if rng.random() < 0.5:
            note = rng.choice(WORK_NOTES)
            yield s.do(60 * s.pace, c.AddComment, work=True, body=note, public=False)
        if rng.random() < 0.15:
            ask = "Could you send a screenshot and the time it happened?"
            yield s.do(30 * s.pace, c.AddComment, work=True, body=ask)
            yield s.do(1, c.HoldTicket, reason="awaiting_customer")
            if rng.random() >= 0.8:
                s.t += timedelta(days=3)
                why = "No reply from the customer after three days."
                yield s.do(None, c.ResolveTicket, code="no_response", notes=why)
                yield from self._aftercare(s, reopen=0.0, survey=0.1)
                return
            answer = "Screenshot attached; it happened just after ten."
            yield s.do(300, c.RecordCustomerReply, by=s.reporter, body=answer)
        code = pick(rng, RESOLUTION_CODES)
        resolve = RESOLVE_MINUTES[s.prio]
        yield s.do(resolve, c.ResolveTicket, work=True, code=code, notes=RESOLUTION_NOTES[code])
        yield from self._aftercare(s, reopen=0.07, survey=0.35)

    def _escalate(self, s: Story, svc: Service) -> Process:
        """Functional escalation to the service's L2 team, maybe a vendor hold, maybe L3."""
        rng, pace = s.rng, s.pace
        yield s.do(
            30 * pace, c.EscalateTicket, work=True, mode="functional", to=svc.l2_group,
            reason="needs the service team",
        )  # fmt: skip
        yield from self._take(s, svc.l2_group, rng.choice(svc.l2_agents), HOURS[svc.l2_hours])
        if svc.vendor and rng.random() < 0.25:
            note = f"case opened with the {svc.name} vendor"
            yield s.do(60 * pace, c.HoldTicket, work=True, reason="awaiting_vendor", note=note)
            yield s.do(900 * pace, c.ResumeTicket, work=True, note="vendor supplied a fix")
        elif rng.random() < 0.05:
            note = "the fix needs a change"
            yield s.do(60 * pace, c.HoldTicket, work=True, reason="awaiting_change", note=note)
            yield s.do(2880, c.ResumeTicket, work=True, note="change implemented")
        if rng.random() < (0.35 if s.prio in ON_CALL else 0.15):
            yield s.do(
                120 * pace, c.EscalateTicket, work=True, mode="functional", to=svc.l3_group,
                reason="needs engineering",
            )  # fmt: skip
            yield from self._take(s, svc.l3_group, rng.choice(L3_AGENTS[svc.l3_group]))

    def _take(
        self, s: Story, group: str, agent: str, hours: BusinessCalendar = DESK_HOURS
    ) -> Process:
        """Someone in the new group picks the ticket up (in its working hours) and acknowledges."""
        s.owner, s.hours = agent, hours
        yield s.do(15 * s.pace, c.AssignTicket, work=True, group=group, assignee=agent)
        yield s.do(10 * s.pace, c.AcknowledgeTicket)

    def _child_of_major(self, s: Story, parent: str, parent_end: datetime) -> Process:
        """A user hit by a major incident: linked under it, resolved when it is."""
        yield (
            s.after(5),
            c.LinkRecords(source=parent, relation="parent_of", target=s.number, actor=s.owner),
        )
        self.w.children.setdefault(parent, []).append(s.number)
        yield s.do(1, c.AddComment, body=f"Part of major incident {parent}; updates follow there.")
        s.t = max(s.t, parent_end)
        notes = f"Resolved with major incident {parent}."
        yield s.do(20, c.ResolveTicket, code="fixed", notes=notes)
        yield from self._aftercare(s, reopen=0.0, survey=0.2)

    def _aftercare(self, s: Story, *, reopen: float, survey: float) -> Process:
        """After resolution: maybe reopened, maybe a survey (and a complaint), then closed."""
        rng, resolved = s.rng, s.t
        reopened = rng.random() < reopen
        if reopened:
            s.t = resolved + timedelta(hours=rng.uniform(1, 72))  # inside the 7-day window
            why = "customer reports the problem is back"
            yield s.do(None, c.ReopenTicket, by=s.reporter, reason=why)
            self.w.notable.setdefault("reopened ticket", s.number)
            note = "Reproduced; the first fix did not cover every case."
            yield s.do(120 * s.pace, c.AddComment, work=True, body=note, public=False)
            notes = "Second fix deployed and verified."
            resolve = RESOLVE_MINUTES[s.prio] / 2
            yield s.do(resolve, c.ResolveTicket, work=True, code="fixed", notes=notes)
            resolved = s.t
        if rng.random() < survey:
            score = pick(rng, SATISFACTION)
            score = max(1, score - 2) if reopened else score
            comment = FEEDBACK[score]
            yield s.do(240, c.RecordSatisfaction, by=s.reporter, score=score, comment=comment)
            if score <= 2 and rng.random() < 0.35:
                text = f"Formal complaint: {comment}"
                yield s.do(60, c.RecordComplaint, by=s.reporter, text=text)
                self.w.notable.setdefault("ticket with a complaint", s.number)
        if rng.random() < 0.9:
            s.t = max(s.t, resolved + timedelta(days=3, minutes=rng.uniform(0, 600)))
            yield s.do(None, c.CloseTicket, by="auto-close")

    def request(self, rng: random.Random, t: datetime, svc: Service) -> Process:
        """Someone asks for something standard; the desk (or the service team) fulfils it."""
        impact = pick(rng, (("low", 0.7), ("medium", 0.3)))
        urgency = pick(rng, (("low", 0.5), ("medium", 0.5)))
        s = Story(rng, t, self._priority(impact, urgency), reporter=person(rng))
        customer = rng.choice(CUSTOMERS)
        outcome = yield t, c.OpenTicket(
            kind="service_request", summary=rng.choice(svc.requests), impact=impact,
            urgency=urgency, description=f"Requested by {s.reporter} for {customer}.",
            service=svc.name, reporter=s.reporter, customer=customer, channel="portal",
            actor=s.reporter,
        )  # fmt: skip
        s.number = outcome.number
        group, agents = desk(s.after(20, work=True))
        s.owner = rng.choice(agents)
        yield s.do(None, c.AssignTicket, group=group, assignee=s.owner, tier="L1")
        yield s.do(20, c.AcknowledgeTicket, work=True)
        if rng.random() < 0.3:
            yield s.do(
                30, c.EscalateTicket, work=True, mode="functional", to=svc.l2_group,
                reason="fulfilled by the service team",
            )  # fmt: skip
            yield from self._take(s, svc.l2_group, rng.choice(svc.l2_agents), HOURS[svc.l2_hours])
        if rng.random() < 0.25:
            note = "waiting for the line manager's approval"
            yield s.do(30, c.HoldTicket, work=True, reason="awaiting_customer", note=note)
            yield s.do(600, c.RecordCustomerReply, by=s.reporter, body="Approved by my manager.")
        rejected = rng.random() < 0.05
        code = "rejected" if rejected else "fulfilled"
        notes = "Not permitted by the access policy." if rejected else "Done; please check."
        yield s.do(600, c.ResolveTicket, work=True, code=code, notes=notes)
        yield from self._aftercare(s, reopen=0.02, survey=0.25)
