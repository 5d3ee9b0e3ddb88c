"""What tickets and configuration items share: a human number, links and external references."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.core.domain.errors import InputError

#: Namespace for deterministic aggregate ids: a ticket number always resolves to the same id.
NUMBER_NAMESPACE = UUID("4f1c1d8e-6b0a-5d43-9a57-0e6a2f1f7c11")


class RecordKind(StrEnum):
    """The kinds of record the ledger numbers, with their number prefixes."""

    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"
    PROBLEM = "problem"
    CHANGE = "change"
    CONFIGURATION_ITEM = "configuration_item"

    @property
    def prefix(self) -> str:
        return _PREFIX[self]


_PREFIX = {
    RecordKind.INCIDENT: "INC",
    RecordKind.SERVICE_REQUEST: "REQ",
    RecordKind.PROBLEM: "PRB",
    RecordKind.CHANGE: "CHG",
    RecordKind.CONFIGURATION_ITEM: "CI",
}
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in _PREFIX.items()}


def format_number(kind: RecordKind, sequence: int) -> str:
    """``INC-000123``: six digits, growing past a million rather than wrapping."""
    return f"{kind.prefix}-{sequence:06d}"


#: More significant digits than any counter will reach; ``int`` refuses over 4,300 anyway.
_MAX_DIGITS = 18


def parse_number(text: str, field: str = "ticket") -> tuple[RecordKind, int]:
    """Split ``INC-000123`` (case-insensitive) into kind and sequence, or raise InputError.

    ASCII only: ``str.isdigit`` is also true for ``²`` (which ``int`` refuses) and ``١٢``
    (which ``int`` reads as 12), and ``"ınc".upper()`` is ``"INC"``.
    """
    stripped = text.strip() if isinstance(text, str) else ""
    prefix, _, digits = stripped.upper().partition("-")
    significant = digits.lstrip("0")
    if (
        not stripped.isascii()
        or prefix not in _KIND_BY_PREFIX
        or not digits.isdigit()
        or len(significant) > _MAX_DIGITS
    ):
        raise InputError(field, f"{text!r} is not a ticket number like INC-000123")
    return _KIND_BY_PREFIX[prefix], int(significant or "0")


def normalise_number(text: str, field: str = "ticket") -> str:
    """Canonical spelling of a number, so ``inc-42`` and ``INC-000042`` are the same ticket."""
    kind, sequence = parse_number(text, field)
    return format_number(kind, sequence)


#: The prefix of every domain event's topic (tickets, configuration items and the domain's
#: own bookkeeping aggregates): what log readers filter on before loading a record.
DOMAIN_TOPICS = "opsledger.core.domain."


@lru_cache(maxsize=65_536)  # a pure function, asked for on every load
def record_id(number: str) -> UUID:
    """The aggregate id of a numbered record: a pure function of its canonical number."""
    return uuid5(NUMBER_NAMESPACE, normalise_number(number))


class Relation(StrEnum):
    """Typed links between records; each has an inverse recorded on the other side."""

    HAS_PROBLEM = "has_problem"
    HAS_INCIDENT = "has_incident"
    CAUSED_BY_CHANGE = "caused_by_change"
    CAUSED_INCIDENT = "caused_incident"
    AFFECTS_CI = "affects_ci"
    AFFECTED_BY = "affected_by"
    FIXED_BY_CHANGE = "fixed_by_change"
    FIXES_PROBLEM = "fixes_problem"
    DEPENDS_ON = "depends_on"
    DEPENDED_ON_BY = "depended_on_by"
    RUNS_ON = "runs_on"
    HOSTS = "hosts"
    PARENT_OF = "parent_of"
    CHILD_OF = "child_of"
    FOLLOW_UP_OF = "follow_up_of"
    FOLLOWED_UP_BY = "followed_up_by"
    RELATES_TO = "relates_to"

    @property
    def inverse(self) -> Relation:
        return _INVERSE[self]


_PAIRS = [
    (Relation.HAS_PROBLEM, Relation.HAS_INCIDENT),
    (Relation.CAUSED_BY_CHANGE, Relation.CAUSED_INCIDENT),
    (Relation.AFFECTS_CI, Relation.AFFECTED_BY),
    (Relation.FIXED_BY_CHANGE, Relation.FIXES_PROBLEM),
    (Relation.DEPENDS_ON, Relation.DEPENDED_ON_BY),
    (Relation.RUNS_ON, Relation.HOSTS),
    (Relation.PARENT_OF, Relation.CHILD_OF),
    (Relation.FOLLOW_UP_OF, Relation.FOLLOWED_UP_BY),
    (Relation.RELATES_TO, Relation.RELATES_TO),
]
_INVERSE = {a: b for a, b in _PAIRS} | {b: a for a, b in _PAIRS}

_I, _R, _P, _C, _CI = (
    RecordKind.INCIDENT,
    RecordKind.SERVICE_REQUEST,
    RecordKind.PROBLEM,
    RecordKind.CHANGE,
    RecordKind.CONFIGURATION_ITEM,
)
_TICKETS = {_I, _R, _P, _C}
#: Which (source kind, target kind) pairs each forward relation admits.
_ALLOWED: dict[Relation, set[tuple[RecordKind, RecordKind]]] = {
    Relation.HAS_PROBLEM: {(_I, _P)},
    Relation.CAUSED_BY_CHANGE: {(_I, _C)},
    Relation.AFFECTS_CI: {(k, _CI) for k in _TICKETS},
    Relation.FIXED_BY_CHANGE: {(_P, _C)},
    Relation.DEPENDS_ON: {(_CI, _CI)},
    Relation.RUNS_ON: {(_CI, _CI)},
    Relation.PARENT_OF: {(a, a) for a in _TICKETS},
    Relation.FOLLOW_UP_OF: {(a, b) for a in _TICKETS for b in _TICKETS},
    Relation.RELATES_TO: {(a, b) for a in _TICKETS for b in _TICKETS},
}
for _fwd, _inv in _PAIRS:
    if _inv not in _ALLOWED:
        _ALLOWED[_inv] = {(b, a) for a, b in _ALLOWED[_fwd]}


def check_relation(relation: Relation, source: RecordKind, target: RecordKind) -> None:
    """Reject nonsense links such as a problem 'caused by' a configuration item."""
    if (source, target) not in _ALLOWED[relation]:
        raise InputError(
            "relation", f"{relation.value} cannot link a {source.value} to a {target.value}"
        )


@dataclass(frozen=True, slots=True)
class Link:
    """One end of a link as seen from the record that holds it."""

    relation: str
    target: str


class LedgerRecord(Aggregate):
    """Base of every numbered aggregate; subclasses record an ``Opened``/``Registered`` event."""

    kind: ClassVar[RecordKind]

    @staticmethod
    def create_id(number: str) -> UUID:
        return record_id(number)

    def _init_record(self, number: str, actor: str) -> None:
        self.number = number
        self.opened_by = actor
        self.links: list[dict[str, str]] = []
        self.external_refs: list[dict[str, str]] = []

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Every change goes through here: refuse an instant earlier than the last event.

        History must read forwards, or as-of queries and SLA clocks would be ambiguous.
        """
        at = kwargs.get("timestamp")
        if at is not None and at < self.modified_on:
            raise InputError(
                "at",
                f"{at.isoformat()} is before {self.number}'s last change "
                f"at {self.modified_on.isoformat()}",
            )
        super().trigger_event(event_class, **kwargs)

    def has_link(self, relation: Relation, target: str) -> bool:
        """True when this exact link is already recorded (links are idempotent)."""
        return {"relation": relation.value, "target": target} in self.links

    def link(self, relation: Relation, target: str, *, actor: str, at: datetime) -> None:
        """Record one end of a link; repeating an existing link records nothing."""
        if not self.has_link(relation, target):
            self._linked(relation=relation.value, target=target, actor=actor, timestamp=at)

    @event("Linked")
    def _linked(self, relation: str, target: str, actor: str, timestamp: datetime) -> None:
        self.links.append({"relation": relation, "target": target})

    def linked(self, relation: Relation) -> list[str]:
        """Numbers of the records linked by ``relation``, in the order they were linked."""
        return [link["target"] for link in self.links if link["relation"] == relation.value]

    def external_ref(self, system: str) -> list[str]:
        """References this record carries for an outside system (alert fingerprint, JIRA key...)."""
        return [ref["reference"] for ref in self.external_refs if ref["system"] == system]

    def record_external_reference(
        self, system: str, reference: str, *, actor: str, at: datetime
    ) -> None:
        """Remember an outside identity so dedup, threading and echo checks can ask the log."""
        if not system.strip():
            raise InputError("system", "must not be empty")
        if not reference.strip():
            raise InputError("reference", "must not be empty")
        if reference not in self.external_ref(system):
            self._external_reference_recorded(
                system=system, reference=reference, actor=actor, timestamp=at
            )

    @event("ExternalReferenceRecorded")
    def _external_reference_recorded(
        self, system: str, reference: str, actor: str, timestamp: datetime
    ) -> None:
        self.external_refs.append({"system": system, "reference": reference})

    def base_dict(self) -> dict[str, Any]:
        """JSON-native view shared by every record kind."""
        return {
            "number": self.number,
            "kind": self.kind.value,
            "version": self.version,
            "created_on": self.created_on.isoformat(),
            "modified_on": self.modified_on.isoformat(),
            "links": [dict(link) for link in self.links],
            "external_refs": [dict(ref) for ref in self.external_refs],
        }
