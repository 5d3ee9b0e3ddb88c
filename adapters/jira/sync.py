"""Outbound sync: ticket events become JIRA calls, queued in the outbox and performed in
order per ticket, each outcome recorded on the ticket through a command.

The reaction (``react``) only decides and queues; the sync thread (``drain_once``) calls
JIRA. Events the JIRA side caused (actor ``jira:...``) are not pushed back: that, and the
per-field write instants the core keeps, is the echo prevention in this direction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from opsledger.adapters.jira.rest import JiraRest, SyncError
from opsledger.adapters.jira.settings import JiraSettings, Rule
from opsledger.core.commands import Command, RecordExternalReference, RecordSync
from opsledger.core.retry import backoff_delays
from opsledger.plugins.context import HostContext
from opsledger.plugins.outbox import Outbox, OutboxRow

log = logging.getLogger(__name__)
CHANNEL = "jira"
#: how long one process holds a row it performs (longer than any REST call's timeout)
LEASE = timedelta(minutes=5)
SYSTEM = "jira"
ACTOR = "jira-sync"
#: the prefix of actors whose changes came from JIRA (ApplyExternalChange): never pushed back
FROM_JIRA = "jira:"
STATE_EVENTS = frozenset(
    {
        "Assigned",
        "Acknowledged",
        "PutOnHold",
        "Resumed",
        "Resolved",
        "Reopened",
        "Closed",
        "Cancelled",
    }
)
COMMENT_EVENTS = {
    "PublicCommentAdded": "public",
    "CustomerReplied": "public",
    "WorkNoteAdded": "all",
}
#: events that may make a ticket belong to a rule (its kind, service or group)
RULE_EVENTS = frozenset({"Opened", "Assigned", "EscalatedFunctionally"})


def jira_key(ticket: Mapping[str, Any] | None) -> str | None:
    if not ticket:
        return None
    refs = [r["reference"] for r in ticket.get("external_refs", []) if r["system"] == SYSTEM]
    return refs[-1] if refs else None


class JiraSync:
    """Decide (``react``), perform (``drain_once``) and record JIRA calls."""

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings
        self._rest: dict[str, JiraRest] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rest(self, site: str) -> JiraRest:
        if site not in self._rest:
            self._rest[site] = JiraRest(self.settings.sites[site])
        return self._rest[site]

    # -- deciding ------------------------------------------------------------------------

    def react(self, event: Any, record: Any, context: HostContext) -> None:
        name = type(event).__name__
        if str(getattr(event, "actor", "")).startswith(FROM_JIRA):
            return
        if name not in STATE_EVENTS | RULE_EVENTS | set(COMMENT_EVENTS) | {
            "PriorityChanged",
            "Linked",
        }:
            return
        number = context.number_of(event.originator_id)
        if number is None:
            return
        ticket = context.ticket_as_of(number, event.timestamp)
        if ticket is None:
            return
        outbox = context.tables(Outbox)
        created = outbox.find(CHANNEL, f"create:{number}")
        rule = self._rule_of(ticket, created)
        if rule is None:
            return
        at = context.clock.now()
        if created is None and jira_key(context.ticket(number)) is None:
            if name in RULE_EVENTS:
                outbox.add(
                    CHANNEL, f"create:{number}", number, {"op": "create", "rule": rule.name}, at
                )
            return
        for op in self._ops(name, event, ticket, rule):
            outbox.add(
                CHANNEL, f"{record.position}:{op['op']}", number, op | {"rule": rule.name}, at
            )

    def _rule_of(self, ticket: Mapping[str, Any], created: OutboxRow | None) -> Rule | None:
        if created is not None:  # the rule that created the issue keeps it
            return self.settings.rule_named(str(created.payload["rule"]))
        return self.settings.rule_for(ticket)

    def _ops(
        self, name: str, event: Any, ticket: Mapping[str, Any], rule: Rule
    ) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        if name in STATE_EVENTS:
            ops.append({"op": "transition", "state": ticket["state"]})
            if name == "Resolved":
                notes = f"Resolved in opsledger ({ticket.get('resolution_code')})"
                if ticket.get("resolution_notes"):
                    notes += f": {ticket['resolution_notes']}"
                ops.append({"op": "comment", "body": notes})
        elif name == "PriorityChanged":
            ops.append({"op": "priority", "priority": ticket["priority"]})
        elif name in COMMENT_EVENTS and rule.comments_out != "none":
            if COMMENT_EVENTS[name] == "public" or rule.comments_out == "all":
                body = str(getattr(event, "body", ""))
                ops.append({"op": "comment", "body": f"[{event.actor}] {body}"})
        elif name == "Linked":
            # both ends record the link: one issue link per pair, pushed from the lower number
            target = str(getattr(event, "target", ""))
            if str(ticket["number"]) < target:
                ops.append({"op": "link", "target": target})
        return ops

    # -- performing ----------------------------------------------------------------------

    def start(self, bus: Any, context: HostContext) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.drain_once(bus, context)
                except Exception:  # never let the thread die: the rows wait for next time
                    log.exception("JIRA sync pass failed")
                self._stop.wait(self.settings.poll_interval_s)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="opsledger-jira-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def drain_once(self, bus: Any, context: HostContext) -> int:
        """Perform the due rows (one per ticket), then record outcomes not yet recorded."""
        outbox = context.tables(Outbox)
        performed = 0
        for row in outbox.due(CHANNEL, context.clock.now()):
            # several processes run the sync on one outbox: a row is performed by one of them
            if not outbox.claim(row, LEASE, context.clock.now()):
                continue
            self._perform(row, outbox, context, bus)
            performed += 1
        for row in outbox.unrecorded(CHANNEL):
            try:
                bus.submit(self._records(row), key=row.ticket)
            except Exception as error:  # the bus is down: the outcome waits, the call is done
                log.warning("JIRA sync outcome not recorded yet: %s", error)
                break
            outbox.mark_recorded(row)
        return performed

    def _perform(self, row: OutboxRow, outbox: Outbox, context: HostContext, bus: Any) -> None:
        rule = self.settings.rule_named(str(row.payload["rule"]))
        if rule is None:
            outbox.failed(row, f"rule {row.payload['rule']!r} is no longer configured")
            return
        try:
            result = self._call(row, rule, outbox, context)
        except SyncError as error:
            if not error.transient:
                outbox.failed(row, str(error))
                return
            # the wait before try n+2 after n+1 failures: base * 2**n, capped
            delays = backoff_delays(
                row.attempts + 2, self.settings.base_delay_s, self.settings.max_delay_s
            )
            wait = max(delays[-1], error.retry_after or 0.0)
            outbox.retry_later(row, str(error), context.clock.now() + timedelta(seconds=wait))
            if row.attempts == 0:  # the first failure is a fact on the ticket; retries follow
                self._record_failure(row, str(error), bus)
            return
        outbox.done(row, result)

    def _call(
        self, row: OutboxRow, rule: Rule, outbox: Outbox, context: HostContext
    ) -> dict[str, Any]:
        rest = self.rest(rule.site)
        ticket = context.ticket(row.ticket)
        if ticket is None:
            raise SyncError(f"{row.ticket} is not in the store", transient=False)
        op = row.payload["op"]
        if op == "create":
            made = rest.find_by_ticket(rule, row.ticket) or rest.create(rule, ticket)
            # The issue exists from here on: what follows must not lose its key (a refused
            # transition would fail the row and leave the ticket without its issue).
            notes: list[str] = []
            try:
                if self.settings.ticket_url:
                    url = f"{self.settings.ticket_url.rstrip('/')}/{row.ticket}"
                    rest.remote_link(made, url, f"opsledger {row.ticket}")
                target = rule.status_out.get(str(ticket["state"]))
                if target:
                    rest.transition_to(made, target)
            except SyncError as error:  # reconcile or the next state change catches up
                notes.append(f"after create: {error}")
            return {"key": made, "note": "; ".join(notes)} if notes else {"key": made}
        key = jira_key(ticket) or self._created_key(outbox, row.ticket)
        if key is None:
            raise SyncError(f"{row.ticket} has no JIRA issue yet", transient=True)
        if op == "transition":
            target = rule.status_out.get(str(row.payload["state"]))
            moved = bool(target) and rest.transition_to(key, str(target))
            return {"key": key, "status": target, "moved": moved}
        if op == "comment":
            return {"key": key, "comment": rest.comment(key, str(row.payload["body"]))}
        if op == "priority":
            name = rule.priority_out.get(str(row.payload["priority"]))
            if name:
                rest.set_priority(key, name)
            return {"key": key, "priority": name}
        if op == "link":
            target = str(row.payload["target"])
            other = jira_key(context.ticket(target)) or self._created_key(outbox, target)
            if other is None and outbox.find(CHANNEL, f"create:{target}") is not None:
                raise SyncError(f"{target}'s issue is not created yet", transient=True)
            if other:
                rest.link(key, other)
            return {"key": key, "linked": other}
        raise SyncError(f"unknown operation {op!r}", transient=False)

    @staticmethod
    def _record_failure(row: OutboxRow, error: str, bus: Any) -> None:
        command = RecordSync(
            ticket=row.ticket,
            system=SYSTEM,
            action=str(row.payload["op"]),
            outcome="failed",
            detail=f"{error} (will retry)",
            attempts=1,
            actor=ACTOR,
            idempotency_key=f"jira-sync-failed:{row.id}",
        )
        try:
            bus.submit([command], key=row.ticket)
        except Exception as failure:  # the ledger is down too: the row itself still waits
            log.warning("JIRA sync failure not recorded: %s", failure)

    @staticmethod
    def _created_key(outbox: Outbox, ticket: str) -> str | None:
        created = outbox.find(CHANNEL, f"create:{ticket}")
        return str(created.result["key"]) if created and created.result.get("key") else None

    def _records(self, row: OutboxRow) -> list[Command]:
        """The commands that record what became of ``row``."""
        op = str(row.payload["op"])
        key = row.result.get("key")
        fields = {
            "create": ("state", "priority", "summary"),
            "transition": ("state",),
            "priority": ("priority",),
        }.get(op, ())
        commands: list[Command] = []
        if row.status == "done" and op == "create" and key:
            commands.append(
                RecordExternalReference(
                    ticket=row.ticket,
                    system=SYSTEM,
                    reference=str(key),
                    actor=ACTOR,
                    idempotency_key=f"jira-ref:{row.id}",
                )
            )
        commands.append(
            RecordSync(
                ticket=row.ticket,
                system=SYSTEM,
                action=op,
                outcome="done" if row.status == "done" else "failed",
                reference=str(key) if key else None,
                fields=fields if row.status == "done" else (),
                detail=row.last_error if row.status != "done" else _detail(row.result),
                attempts=max(1, row.attempts),
                actor=ACTOR,
                # a requeued row records its second outcome too
                idempotency_key=f"jira-sync:{row.id}:{row.status}:{row.attempts}",
            )
        )
        return commands


def _detail(result: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items() if k != "key" and v not in (None, ""))
