"""Two-way sync with another tracker (JIRA) as facts on the ticket: what we pushed, what came
back and applied, and when each field was last written on either side.

Echo prevention and out-of-order delivery are questions this history answers: a change is
applied only when it is newer than the field's last write, a comment only once per its
id, and a sync that failed is an event that a retry later follows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event
from opsledger.core.domain.contact import ContactFacts
from opsledger.core.domain.errors import InputError

#: What one outbound attempt came to.
SYNC_OUTCOMES = ("done", "failed")
#: The fields two-way sync writes on either side (last writer wins, by the change's instant).
SYNC_FIELDS = ("state", "priority", "summary")


class SyncFacts(ContactFacts):
    """Outbound sync results and applied inbound changes, per outside system."""

    def _sync_state(self, system: str) -> dict[str, Any]:
        systems: dict[str, dict[str, Any]] = vars(self).setdefault("_sync", {})
        return systems.setdefault(system, {"written": {}, "comments": {}, "failed": 0})

    def field_written_at(self, system: str, field: str) -> datetime | None:
        """When ``field`` was last written through sync with ``system`` (either direction)."""
        value = vars(self).get("_sync", {}).get(system, {}).get("written", {}).get(field)
        return datetime.fromisoformat(value) if value else None

    def _wrote(self, field: str, before: Any, after: Any, actor: str, at: datetime) -> None:
        """Called by the ticket's own events: a synced field changed here. A change made by a
        system this ticket syncs with (actor ``jira:...``) is that system's write, already
        kept at its own instant; any other is a local write, which a later-arriving older
        change from outside must not undo."""
        if before == after:
            return
        system, colon, _ = actor.partition(":")
        refs = vars(self).get("external_refs", [])
        synced = system in vars(self).get("_sync", {}) or any(r["system"] == system for r in refs)
        if colon and synced:
            return
        vars(self).setdefault("_local_writes", {})[field] = at

    def local_write_at(self, field: str) -> datetime | None:
        """When ``field`` last changed here, not through sync (None: never)."""
        found: datetime | None = vars(self).get("_local_writes", {}).get(field)
        return found

    def external_comment(self, system: str, comment_id: str) -> str | None:
        """The body last applied for an outside comment (None: never seen)."""
        comments = vars(self).get("_sync", {}).get(system, {}).get("comments", {})
        found = comments.get(comment_id)
        return str(found) if found is not None else None

    # -- outbound ------------------------------------------------------------------------

    def record_sync(
        self,
        *,
        system: str,
        action: str,
        outcome: str,
        reference: str | None,
        fields: list[str],
        detail: str,
        attempts: int,
        actor: str,
        at: datetime,
    ) -> None:
        """One outbound change to ``system`` (create, transition, comment, priority) done, or
        failed after its retries (the outbox keeps it and tries again later)."""
        if outcome not in SYNC_OUTCOMES:
            raise InputError("outcome", f"{outcome!r} is not one of {', '.join(SYNC_OUTCOMES)}")
        if not action.strip():
            raise InputError("action", "must not be empty")
        unknown = sorted(set(fields) - set(SYNC_FIELDS))
        if unknown:
            raise InputError("fields", f"{unknown[0]!r} is not one of {', '.join(SYNC_FIELDS)}")
        self._sync_recorded(
            system=system, action=action, outcome=outcome, reference=reference,
            fields=list(fields), detail=detail, attempts=attempts, actor=actor, timestamp=at,
        )  # fmt: skip

    @event("SyncRecorded")
    def _sync_recorded(
        self,
        system: str,
        action: str,
        outcome: str,
        reference: str | None,
        fields: list[str],
        detail: str,
        attempts: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        state = self._sync_state(system)
        if outcome == "done":
            for name in fields:
                state["written"][name] = timestamp.isoformat()
        else:
            state["failed"] += 1

    # -- inbound -------------------------------------------------------------------------

    def apply_external(
        self,
        *,
        system: str,
        reference: str,
        delivery: str,
        occurred_at: datetime,
        fields: list[str],
        comment_id: str | None,
        comment_body: str | None,
        actor: str,
        at: datetime,
    ) -> None:
        """Record that an outside change was applied (the ticket's own events carry what it
        changed); its fields are now written as of the outside instant."""
        self._external_change_applied(
            system=system, reference=reference, delivery=delivery, occurred_at=occurred_at,
            fields=list(fields), comment_id=comment_id, comment_body=comment_body,
            actor=actor, timestamp=at,
        )  # fmt: skip

    @event("ExternalChangeApplied")
    def _external_change_applied(
        self,
        system: str,
        reference: str,
        delivery: str,
        occurred_at: datetime,
        fields: list[str],
        comment_id: str | None,
        comment_body: str | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        state = self._sync_state(system)
        for name in fields:
            state["written"][name] = occurred_at.isoformat()
        if comment_id is not None:
            state["comments"][comment_id] = comment_body or ""

    def sync_dict(self) -> dict[str, Any]:
        """Per system: fields' last writes, comments applied and failed attempts."""
        return {
            system: {
                "written": dict(state["written"]),
                "comments": len(state["comments"]),
                "failed": state["failed"],
            }
            for system, state in vars(self).get("_sync", {}).items()
        }
