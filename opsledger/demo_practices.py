"""The demo's practices behind the desk: major incidents, problem management, changes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from opsledger.core import commands as c
from opsledger.demo_alerts import alert_command
from opsledger.demo_data import (
    CAB_CHAIR,
    DUTY_MANAGER,
    HEAD_OF_OPERATIONS,
    L3_AGENTS,
    NORMAL_CHANGES,
    ROOT_CAUSES,
    STANDARD_CHANGES,
    WORKAROUNDS,
    Service,
)
from opsledger.demo_desk import (
    Desk,
    Process,
    Story,
    desk,
    maintenance_window,
    next_business,
    next_cab,
)

FAIL_RATE = {"standard": 0.05, "normal": 0.15, "emergency": 0.25}


class Stories(Desk):
    """Every story the demo tells: the desk's, plus majors, problems and changes."""

    def major(self, rng: random.Random, t: datetime, svc: Service) -> Process:
        """A customer-facing outage: declared major, escalated both ways, users pile in."""
        w = self.w
        s = Story(rng, t, "P1", reporter="monitoring")
        outcome = yield t, alert_command(
            at=t, alertname="ServiceUnavailable",
            summary=f"{svc.name} unavailable for all customers",
            description="Synthetic checks failing from every region.", impact="high",
            urgency="high", service=svc.name, instance=svc.cis[-1].name,
            ci=w.ci[svc.cis[-1].name],
        )  # fmt: skip
        n = s.number = outcome.number
        w.incidents[svc.name].append(n)
        w.notable.setdefault("major incident", n)
        end = t + timedelta(minutes=rng.uniform(90, 300))
        group, agents = desk(t)
        s.owner = rng.choice(agents)
        yield s.do(2, c.AssignTicket, group=group, assignee=s.owner)
        yield s.do(3, c.AcknowledgeTicket)
        for _ in range(rng.randint(3, 7)):  # users notice and call in
            arrives = s.t + timedelta(minutes=rng.uniform(5, 80))
            w.spawn(self.incident(w.fork(), arrives, svc, parent=n, parent_end=end))
        why = f"{svc.name} down for all customers"
        yield s.do(3, c.DeclareMajorIncident, by=DUTY_MANAGER, reason=why)
        yield s.do(
            5, c.EscalateTicket, by=DUTY_MANAGER, mode="hierarchical", to=HEAD_OF_OPERATIONS,
            reason="major incident declared",
        )  # fmt: skip
        for group, agents, why in (
            (svc.l2_group, svc.l2_agents, "service team on the bridge"),
            (svc.l3_group, L3_AGENTS[svc.l3_group], "engineering bridge opened"),
        ):
            yield s.do(5, c.EscalateTicket, mode="functional", to=group, reason=why)
            yield from self._take(s, group, rng.choice(agents))
        update = f"Update: engineers are restoring {svc.name}; next update in 30 minutes."
        while s.t + timedelta(minutes=30) < end:
            s.t += timedelta(minutes=30)
            yield s.do(None, c.AddComment, by=DUTY_MANAGER, body=update)
        s.t = max(s.t, end)
        notes = "Service restored; the root cause is followed up in a problem record."
        yield s.do(None, c.ResolveTicket, code="workaround", notes=notes)
        w.spawn(self.problem(w.fork(), next_business(s.t + timedelta(days=1), rng), svc, major=n))
        yield from self._aftercare(s, reopen=0.0, survey=0.0)  # no one to survey: monitoring

    def problem(
        self, rng: random.Random, t: datetime, svc: Service, *, major: str | None = None
    ) -> Process:
        """Problem management: link the incidents, find the root cause, publish a known error."""
        w = self.w
        s = Story(rng, t, owner=rng.choice(L3_AGENTS[svc.l3_group]), reporter="problem-manager")
        if major is not None:
            linked = [major, *w.children.get(major, [])]
            summary, impact = f"Root cause of major incident {major} ({svc.name} outage)", "high"
        else:
            recent = w.incidents[svc.name][-12:]
            linked = sorted(rng.sample(recent, min(len(recent), rng.randint(2, 5))))
            summary, impact = f"Recurring on {svc.name}: {rng.choice(svc.symptoms)}", "medium"
        outcome = yield t, c.OpenTicket(
            kind="problem", summary=summary, impact=impact, urgency="medium",
            description=f"{len(linked)} related incidents so far.", service=svc.name,
            reporter=s.reporter, channel="internal", actor=s.reporter,
        )  # fmt: skip
        p = s.number = outcome.number
        for incident in linked:
            link = c.LinkRecords(
                source=incident, relation="has_problem", target=p, actor=s.reporter
            )
            yield s.after(1), link
        yield s.do(30, c.AssignTicket, group=svc.l3_group, assignee=s.owner, tier="L3")
        yield s.do(60, c.AcknowledgeTicket, work=True)
        note = "Correlated logs and metrics across the linked incidents."
        yield s.do(1440, c.AddComment, work=True, body=note, public=False)
        if major is None and rng.random() < 0.15:
            return  # the analysis carries on into next month
        cause = rng.choice(ROOT_CAUSES)
        yield s.do(2880, c.RecordRootCause, work=True, root_cause=cause)
        if major is not None or rng.random() < 0.7:
            workaround = rng.choice(WORKAROUNDS)
            yield s.do(240, c.RecordKnownError, work=True, workaround=workaround)
            w.notable.setdefault("known error", p)
        if major is not None or rng.random() < 0.6:
            kind = "emergency" if major is not None and rng.random() < 0.5 else "normal"
            w.spawn(self.change(w.fork(), s.after(60, work=True), svc, kind, fixes=p))

    def change(
        self,
        rng: random.Random,
        t: datetime,
        svc: Service,
        kind: str,
        *,
        fixes: str | None = None,
        must_fail: bool = False,
    ) -> Process:
        """A change through CAB (standard ones are pre-approved), implementation and review."""
        w = self.w
        engineer = rng.choice(L3_AGENTS[svc.l3_group])
        s = Story(rng, t, owner=engineer, reporter=engineer)
        cab: datetime | None = None
        if kind == "emergency":  # ECAB within the hour, in right after
            cab = t + timedelta(minutes=45)
            start = cab + timedelta(hours=1)
        elif kind == "normal":
            cab = next_cab(t + timedelta(days=1))
            start = maintenance_window(cab + timedelta(days=1))
        else:
            start = maintenance_window(t + timedelta(days=1))
        target = rng.choice(svc.cis)
        titles = STANDARD_CHANGES if kind == "standard" else NORMAL_CHANGES
        summary = f"Permanent fix for {fixes}" if fixes else f"{rng.choice(titles)}: {target.name}"
        outcome = yield t, c.OpenTicket(
            kind="change", summary=summary, change_type=kind, impact="medium",
            risk=rng.choice(("low", "medium", "high")),
            urgency="high" if kind == "emergency" else "low", service=svc.name,
            ci=w.ci[target.name], planned_start=start, planned_end=start + timedelta(hours=2),
            reporter=engineer, channel="internal", actor=engineer,
        )  # fmt: skip
        ch = s.number = outcome.number
        if fixes is not None:
            link = c.LinkRecords(
                source=fixes, relation="fixed_by_change", target=ch, actor=engineer
            )
            yield s.after(1), link
        yield s.do(5, c.AssignTicket, group=svc.l3_group, assignee=engineer, tier="L3")
        if cab is not None:
            yield s.do(20, c.SubmitChangeForApproval)
            s.t = max(s.t + timedelta(minutes=5), cab)
            if kind == "normal" and not (must_fail or fixes) and rng.random() < 0.2:
                note = "Back-out plan incomplete; resubmit with a tested rollback."
                yield s.do(None, c.RejectChange, by=CAB_CHAIR, note=note)
                w.notable.setdefault("change rejected by CAB", ch)
                yield s.do(60, c.CancelTicket, work=True, reason="rejected by CAB")
                return
            note = "ECAB approval by phone" if kind == "emergency" else "approved at CAB"
            yield s.do(None, c.ApproveChange, by=CAB_CHAIR, note=note)
        s.t = max(s.t + timedelta(minutes=10), start)
        yield s.do(None, c.StartChangeImplementation)
        succeeded = not must_fail and rng.random() >= FAIL_RATE[kind]
        s.t += timedelta(minutes=rng.uniform(20, 100))
        notes = "Deployed and verified." if succeeded else "Health checks failed; rolled back."
        yield s.do(None, c.CompleteChangeImplementation, succeeded=succeeded, notes=notes)
        if not succeeded:
            w.notable.setdefault("failed change", ch)
            for _ in range(rng.randint(2, 3)):
                arrives = s.t + timedelta(minutes=rng.uniform(5, 60))
                w.spawn(self.incident(w.fork(), arrives, svc, caused_by=ch))
        if kind != "standard" or not succeeded:
            notes = "Went to plan." if succeeded else "Rollback worked; test coverage to improve."
            yield s.do(600, c.ReviewChange, work=True, by=CAB_CHAIR, notes=notes)
        code = "implemented" if succeeded else "backed_out"
        yield s.do(30, c.ResolveTicket, work=True, code=code)
        if fixes is not None and succeeded:
            yield (
                s.after(60, work=True),
                c.ResolveTicket(
                    ticket=fixes, code="permanent_fix", notes=f"Fixed by {ch}.", actor=engineer
                ),
            )
            w.notable.setdefault("problem fixed by a change", fixes)
        yield s.do(2880, c.CloseTicket, work=True)
        if fixes is not None and succeeded:
            yield s.after(60), c.CloseTicket(ticket=fixes, actor="problem-manager")
