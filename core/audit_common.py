"""What every audit tool shares: the fault and report they return, and raw-state readers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from opsledger.core.chain import ChainedEvent

#: ``progress(done, total)``: called now and then by long walks; ``total`` may grow.
Progress = Callable[[int, int], None]
Row = tuple[int, ChainedEvent | None, bytes | None]


@dataclass(frozen=True, slots=True)
class AuditFault:
    """One place where the log (or an export) cannot be trusted, and whose record it touches.

    ``kind`` is one of: ``changed`` (the stored link does not match: edited here, or events
    were inserted, removed or reordered just before), ``deleted`` (a link whose event is gone),
    ``unlinked`` (an event without a link: inserted behind the recorder's back), ``missing``
    (a record's version is gone together with its link), ``out_of_order``, ``anchor`` (a link
    published earlier no longer matches), ``manifest``, ``file``, ``column``, ``malformed``.
    """

    position: int | None
    kind: str
    problem: str
    record: str | None = None  # the ticket or CI number, when the fault belongs to one
    label: str = ""  # what a person reads: the number, or e.g. "number counter INC"
    originator_id: str | None = None
    version: int | None = None
    event: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind,
            "problem": self.problem,
            "record": self.record,
            "label": self.label,
            "originator_id": self.originator_id,
            "version": self.version,
            "event": self.event,
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of verifying the store or an export: what was checked and every fault."""

    source: str
    checked: int
    first_position: int | None
    last_position: int | None
    head: str  # hex of the last link walked (the chain head of the store)
    faults: tuple[AuditFault, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "checked": self.checked,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "head": self.head,
            "faults": [f.to_dict() for f in self.faults],
        }


def sorted_faults(faults: Iterable[AuditFault]) -> tuple[AuditFault, ...]:
    """Faults in log order; those without a position (a whole record's, the file's) last."""
    return tuple(sorted(faults, key=lambda f: (f.position is None, f.position or 0)))


def event_name(topic: str) -> str:
    """``Class.Event`` from an eventsourcing topic (``module:Class.Event``)."""
    return topic.partition(":")[2] or topic


def link_hex(link: bytes | None) -> str | None:
    """A link as reports and exports write it."""
    return link.hex() if link is not None else None


def json_object(state: bytes) -> dict[str, Any] | None:
    """A stored state's JSON object, or None when it is not one (never raises)."""
    try:
        data = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def timestamp_text(state: bytes) -> str | None:
    """The stored ``timestamp`` text; our events start with it, so most need no JSON parse."""
    prefix = b'{"timestamp":"'
    if state.startswith(prefix):
        end = state.find(b'"', len(prefix))
        if end > 0:
            return state[len(prefix) : end].decode("utf-8", "replace")
    data = json_object(state)
    value = data.get("timestamp") if data else None
    return value if isinstance(value, str) else None
