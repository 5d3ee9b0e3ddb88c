"""The facts documents parsed once into tickets, and the tickets split by group.

Every KPI reads the same few instants of each ticket, and a series reads them once per
period, so the ISO strings are parsed here a single time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from opsledger.core.domain.errors import InputError
from opsledger.projections.kpis_types import Facts, GroupBy, Window

#: The group key of tickets without a value for the grouping field.
UNSET = "(none)"
_PRIORITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(slots=True)
class Ticket:
    doc: Mapping[str, Any]
    kind: str
    opened: datetime
    acknowledged: datetime | None
    resolved: datetime | None
    first_resolved: datetime | None
    open_intervals: list[tuple[datetime, datetime | None]]
    sla_at: dict[str, datetime]
    complaints: list[datetime]
    implemented: datetime | None
    known_error: datetime | None
    #: the latest call-back unless cancelled: its requested, done and decided instants
    callback: dict[str, datetime | None] | None = None
    #: the last instant any KPI reads from this ticket; None while it is open (no bound)
    horizon: datetime | None = None

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> Ticket:
        t = cls(
            doc=doc,
            kind=doc["kind"],
            opened=datetime.fromisoformat(doc["opened_at"]),
            acknowledged=_at(doc.get("acknowledged_at")),
            resolved=_at(doc.get("resolved_at")),
            first_resolved=_at(doc.get("first_resolved_at")),
            open_intervals=[(datetime.fromisoformat(s), _at(e)) for s, e in doc["open_intervals"]],
            sla_at={m: datetime.fromisoformat(v) for m, v in doc.get("sla_at", {}).items()},
            complaints=[datetime.fromisoformat(v) for v in doc.get("complaint_times", [])],
            implemented=_at(doc.get("implemented_at")),
            known_error=_at(doc.get("known_error_at")),
        )
        callback = doc.get("callback")
        if callback and callback["state"] != "cancelled":
            t.callback = {k: _at(callback[f"{k}_at"]) for k in ("requested", "done", "decided")}
        if all(end is not None for _, end in t.open_intervals):
            instants = [t.opened, t.acknowledged, t.resolved, t.first_resolved, t.implemented,
                        t.known_error, *t.sla_at.values(), *t.complaints,
                        *(end for _, end in t.open_intervals),
                        *(t.callback or {}).values()]  # fmt: skip
            t.horizon = max(i for i in instants if i is not None)
        return t

    def counts_in(self, window: Window) -> bool:
        """Whether the ticket can count in ``window``: opened before its end, not done before."""
        return self.opened < window.end and (self.horizon is None or self.horizon >= window.start)

    def key(self, group_by: str) -> str:
        value = self.doc.get(group_by)
        return str(value) if value else UNSET

    def open_at(self, at: datetime) -> bool:
        """Open once every event before ``at`` happened."""
        return any(s < at and (e is None or e >= at) for s, e in self.open_intervals)

    @property
    def first_response(self) -> datetime | None:
        """The first acknowledgement, or the first resolution if that came earlier."""
        known = [t for t in (self.acknowledged, self.first_resolved) if t is not None]
        return min(known) if known else None


def prepare(facts: Facts) -> list[Ticket]:
    return [Ticket.parse(doc) for doc in facts]


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def grouped(tickets: Sequence[Ticket], window: Window, group_by: str) -> dict[str, list[Ticket]]:
    """Tickets per group value, of the tickets that can count in the window."""
    if group_by not in get_args(GroupBy):
        raise InputError("group_by", f"{group_by!r} is not one of service, ci, group, priority")
    found: dict[str, list[Ticket]] = {}
    for t in tickets:
        if t.counts_in(window):
            found.setdefault(t.key(group_by), []).append(t)
    order = (lambda k: (_PRIORITY_ORDER.get(k, 9), k)) if group_by == "priority" else None
    return {key: found[key] for key in sorted(found, key=order)}
