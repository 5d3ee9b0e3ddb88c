"""Which record each aggregate id is, from raw stored events, so a fault names its ticket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsledger.core.audit_common import AuditFault, event_name, json_object
from opsledger.core.chain import ChainedEvent
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import RecordKind, format_number, parse_number, record_id
from opsledger.core.numbering import counter_id
from opsledger.core.policies import POLICY_BOOK_ID

_COUNTERS = {str(counter_id(kind)): kind for kind in RecordKind}
_GENERIC = {
    "TicketCounter": "number counter",
    "PolicyBook": "SLA policy book",
    "CommandRecord": "idempotency record",
    "Correlation": "correlation",
}


def looks_like_number(text: str) -> bool:
    """Whether ``text`` is spelled like a record number (``INC-000042``)."""
    try:
        parse_number(text)
    except InputError:
        return False
    return True


def is_number_of(number: Any, originator_id: str) -> bool:
    """A number is trusted only if the aggregate id derives from it (ids are uuid5 of it)."""
    try:
        return isinstance(number, str) and str(record_id(number)) == originator_id
    except InputError:
        return False


@dataclass(frozen=True, slots=True)
class Gap:
    """Versions of one record absent from the log between two positions (0: from the start)."""

    originator_id: str
    first: int
    last: int
    after: int
    before: int


class RecordIndex:
    """Which record each aggregate id is, learnt from raw stored events (nothing decoded).

    A ticket's number comes from its first event's raw JSON, checked against the id that
    derives from it, or else from the counter event that allocated it; bookkeeping aggregates
    get a readable label. It also notes gaps and backward steps in each record's versions.
    """

    def __init__(self) -> None:
        self.numbers: dict[str, str] = {}
        self.labels: dict[str, str] = {
            oid: f"number counter {k.prefix}" for oid, k in _COUNTERS.items()
        }
        self.labels[str(POLICY_BOOK_ID)] = "SLA policy book"
        self.classes: dict[str, str] = {}
        self.gaps: list[Gap] = []
        self.backwards: list[tuple[int, str, int, int]] = []  # position, id, version, after
        self._last: dict[str, tuple[int, int]] = {}

    def observe(self, position: int, event: ChainedEvent) -> None:
        oid, version = str(event.originator_id), event.originator_version
        self.classes.setdefault(oid, event_name(event.topic).partition(".")[0])
        last = self._last.get(oid)
        if last is None and version > 1:
            self.gaps.append(Gap(oid, 1, version - 1, 0, position))
        elif last is not None and version <= last[0]:
            self.backwards.append((position, oid, version, last[0]))
        elif last is not None and version > last[0] + 1:
            self.gaps.append(Gap(oid, last[0] + 1, version - 1, last[1], position))
        if last is None or version > last[0]:
            self._last[oid] = (version, position)
        if version == 1 or oid in _COUNTERS:
            self._learn(oid, bytes(event.state))

    def _learn(self, oid: str, state: bytes) -> None:
        data = json_object(state)
        if data is None:
            return
        kind = _COUNTERS.get(oid)
        if kind is not None and isinstance(data.get("sequence"), int):
            number = format_number(kind, data["sequence"])
            self.numbers.setdefault(str(record_id(number)), number)
        elif is_number_of(data.get("number"), oid):
            self.numbers[oid] = data["number"]
        elif self.classes.get(oid) == "CommandRecord" and "key" in data:
            self.labels[oid] = f"idempotency record {data['key']}"
        elif self.classes.get(oid) == "Correlation" and "source" in data:
            self.labels[oid] = f"correlation {data['source']}:{data.get('external_id')}"

    def learn_number(self, oid: str, number: str) -> None:
        """A number from elsewhere (an export's record column), kept only if the id proves it."""
        if is_number_of(number, oid):
            self.numbers.setdefault(oid, number)

    def fault(
        self,
        position: int | None,
        kind: str,
        problem: str,
        oid: str,
        event: ChainedEvent | int | None = None,
    ) -> AuditFault:
        """A fault on aggregate ``oid``, named; ``event`` is the row, or just a version."""
        if isinstance(event, int) or event is None:
            number, label = self.describe(oid)
            return AuditFault(position, kind, problem, number, label, oid, event)
        number, label = self.describe(oid, event.topic)
        name = event_name(event.topic)
        return AuditFault(
            position, kind, problem, number, label, oid, event.originator_version, name
        )

    def describe(self, oid: str, topic: str | None = None) -> tuple[str | None, str]:
        """(number or None, readable label) for an aggregate id."""
        number = self.numbers.get(oid)
        if number is not None:
            return number, number
        if oid in self.labels:
            return None, self.labels[oid]
        cls = self.classes.get(oid) or (event_name(topic).partition(".")[0] if topic else "")
        if cls in _GENERIC:
            return None, f"{_GENERIC[cls]} {oid}"
        return None, f"unknown record {oid}" + (f" ({cls})" if cls else "")
