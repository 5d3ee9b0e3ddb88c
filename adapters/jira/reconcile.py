"""``opsledger jira reconcile``: compare every linked ticket/issue pair and repair drift.

Drift is what webhooks and the outbox should have prevented but did not (a webhook JIRA
never sent, an issue edited while its webhook was disabled). The same rule as live sync
decides each field: the side that wrote it last wins (JIRA's ``updated`` against the
ticket's last write of that field); comments are never lost: a JIRA comment the ticket
has not taken in is applied. Failed outbox rows are put back in the queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from opsledger.adapters.jira.rest import IssueView, SyncError
from opsledger.adapters.jira.settings import JiraSettings, Rule
from opsledger.adapters.jira.sync import ACTOR, CHANNEL, SYSTEM, JiraSync, jira_key
from opsledger.core.commands import ApplyExternalChange, RecordSync
from opsledger.core.engine import Engine
from opsledger.plugins.outbox import Outbox


@dataclass(frozen=True, slots=True)
class Repair:
    """One difference found, and what was (or, dry, would be) done about it."""

    ticket: str
    issue: str
    field: str
    opsledger: str
    jira: str
    action: str

    def line(self) -> str:
        return (
            f"{self.ticket} {self.issue}: {self.field} opsledger={self.opsledger!r} "
            f"jira={self.jira!r} -> {self.action}"
        )


def linked_pairs(engine: Engine) -> Iterator[tuple[str, str]]:
    """(ticket, issue key) for every reference to JIRA the log holds, latest per ticket."""
    pairs: dict[str, str] = {}
    start = 1
    while True:
        page = engine.app.recorder.select_notifications(start=start, limit=1000)
        if not page:
            break
        for n in page:
            if n.topic.endswith(".ExternalReferenceRecorded"):
                state = orjson.loads(n.state)
                if state.get("system") == SYSTEM:
                    number = engine.app.repository.get(UUID(str(n.originator_id))).number
                    pairs[number] = str(state["reference"])
        start = page[-1].id + 1
    yield from pairs.items()


def reconcile(
    engine: Engine, settings: JiraSettings, sync: JiraSync, *, dry_run: bool
) -> list[Repair]:
    repairs: list[Repair] = []
    outbox = engine.plugins.context.tables(Outbox)
    # each pair belongs to the rule (and so the site) that made its issue, else the first
    # rule that selects the ticket; a pair of no rule of any site is left alone
    ruled = {t: (_rule(settings, engine.get(t), outbox), k) for t, k in linked_pairs(engine)}
    for site in settings.sites:
        tickets = {t: (r, k) for t, (r, k) in ruled.items() if r is not None and r.site == site}
        if not tickets:
            continue
        keys = sorted({k for _, k in tickets.values()})
        views = {v.key: v for v in sync.rest(site).issues(keys)}
        for ticket, (rule, key) in sorted(tickets.items()):
            view = engine.get(ticket)
            issue = views.get(key)
            if issue is None:
                repairs.append(Repair(ticket, key, "issue", "linked", "missing", "reported"))
                continue
            repairs += _fields(engine, sync, rule, view, issue, dry_run=dry_run)
            repairs += _comments(engine, rule, view, issue, dry_run=dry_run)
    repairs += _requeue(engine, dry_run=dry_run)
    return repairs


def _rule(settings: JiraSettings, view: dict[str, Any], outbox: Outbox) -> Rule | None:
    created = outbox.find(CHANNEL, f"create:{view['number']}")
    if created is not None:
        return settings.rule_named(str(created.payload["rule"]))
    return settings.rule_for(view)


def _jira_time(issue: IssueView) -> datetime | None:
    if not issue.updated:
        return None
    text = issue.updated
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # 2024-03-04T09:58:00.000+0000
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _fields(
    engine: Engine,
    sync: JiraSync,
    rule: Rule,
    view: dict[str, Any],
    issue: IssueView,
    *,
    dry_run: bool,
) -> list[Repair]:
    found: list[Repair] = []
    written = view.get("sync", {}).get(SYSTEM, {}).get("written", {})
    updated = _jira_time(issue)
    checks = (
        ("state", str(view["state"]), rule.status_out.get(str(view["state"])), issue.status),
        (
            "priority",
            str(view["priority"]),
            rule.priority_out.get(str(view["priority"])),
            issue.priority,
        ),
    )
    for field, ours, expected, theirs in checks:
        if expected is None or theirs is None or expected.casefold() == theirs.casefold():
            continue
        last = written.get(field)
        jira_newer = updated is not None and (
            last is None or updated > datetime.fromisoformat(last)
        )
        mapped = rule.state_of(theirs) if field == "state" else rule.priority_of(theirs)
        if jira_newer and mapped is not None:
            action = f"take JIRA's {theirs!r} ({mapped})"
            if not dry_run:
                assert updated is not None
                engine.execute(
                    ApplyExternalChange(
                        system=SYSTEM,
                        reference=issue.key,
                        delivery=f"reconcile:{issue.key}:{field}:{issue.updated}",
                        occurred_at=updated,
                        actor="jira:reconcile",
                        state=mapped if field == "state" else None,
                        priority=mapped if field == "priority" else None,
                    )
                )
        else:
            action = f"push {expected!r} to JIRA"
            if not dry_run:
                action += _push(engine, sync, rule, view["number"], issue.key, field, expected)
        found.append(Repair(view["number"], issue.key, field, ours, theirs, action))
    return found


def _push(
    engine: Engine, sync: JiraSync, rule: Rule, ticket: str, key: str, field: str, value: str
) -> str:
    rest = sync.rest(rule.site)
    try:
        if field == "state":
            rest.transition_to(key, value)
        else:
            rest.set_priority(key, value)
    except SyncError as error:
        return f" (failed: {error})"
    engine.execute(
        RecordSync(
            ticket=ticket,
            system=SYSTEM,
            action=f"reconcile {field}",
            outcome="done",
            reference=key,
            fields=(field,),
            actor=ACTOR,
        )
    )
    return ""


def _comments(
    engine: Engine, rule: Rule, view: dict[str, Any], issue: IssueView, *, dry_run: bool
) -> list[Repair]:
    """JIRA comments the ticket never took in (and that are not our own pushes)."""
    if rule.comments_in == "none":
        return []
    ours = {
        str(row.result.get("comment"))
        for row in engine.plugins.context.tables(Outbox).rows(CHANNEL, view["number"])
        if row.result.get("comment")
    }
    record = engine.record(view["number"])
    found: list[Repair] = []
    for comment_id, body in issue.comments:
        if comment_id in ours or record.external_comment(SYSTEM, comment_id) is not None:  # type: ignore[attr-defined]
            continue
        found.append(
            Repair(
                view["number"],
                issue.key,
                f"comment {comment_id}",
                "missing",
                body[:60],
                "apply as a work note",
            )
        )
        if not dry_run:
            engine.execute(
                ApplyExternalChange(
                    system=SYSTEM,
                    reference=issue.key,
                    delivery=f"reconcile:{issue.key}:c{comment_id}",
                    occurred_at=engine.clock.now(),
                    comment_id=comment_id,
                    comment_body=f"JIRA: {body}",
                    actor="jira:reconcile",
                )
            )
    return found


def _requeue(engine: Engine, *, dry_run: bool) -> list[Repair]:
    """Outbox rows that gave up (a permanent error): back in the queue, due now."""
    outbox = engine.plugins.context.tables(Outbox)
    found: list[Repair] = []
    for row in outbox.rows(CHANNEL):
        if row.status != "failed":
            continue
        key = jira_key(engine.get(row.ticket)) or "-"
        found.append(
            Repair(
                row.ticket,
                key,
                str(row.payload.get("op")),
                "queued",
                "failed",
                f"retry ({row.last_error[:80]})",
            )
        )
        if not dry_run:
            outbox.requeue(row, engine.clock.now())
    return found
