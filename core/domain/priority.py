"""Priority from impact x urgency: the one table every desk argues about, so it is configurable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from opsledger.core.domain.errors import InputError


class Impact(StrEnum):
    """How much of the business is affected."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Urgency(StrEnum):
    """How fast the business needs it back."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(StrEnum):
    """P1 (critical) to P4 (low)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


def _default_table() -> dict[tuple[Impact, Urgency], Priority]:
    h, m, low = Impact.HIGH, Impact.MEDIUM, Impact.LOW
    uh, um, ul = Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW
    p = Priority
    return {
        (h, uh): p.P1, (h, um): p.P2, (h, ul): p.P3,
        (m, uh): p.P2, (m, um): p.P3, (m, ul): p.P4,
        (low, uh): p.P3, (low, um): p.P4, (low, ul): p.P4,
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class PriorityMatrix:
    """Maps every (impact, urgency) pair to a priority; a partial table is rejected."""

    table: Mapping[tuple[Impact, Urgency], Priority] = field(default_factory=_default_table)

    def __post_init__(self) -> None:
        missing = [(i, u) for i in Impact for u in Urgency if (i, u) not in self.table]
        if missing:
            names = ", ".join(f"{i.value}/{u.value}" for i, u in missing)
            raise InputError("priority_matrix", f"no priority for {names}")

    def priority(self, impact: Impact | str, urgency: Urgency | str) -> Priority:
        """Look up the priority; unknown levels raise InputError naming the field."""
        return self.table[(parse_impact(impact), parse_urgency(urgency))]

    @classmethod
    def from_rows(cls, rows: Mapping[str, Mapping[str, str]]) -> PriorityMatrix:
        """Build from ``{"high": {"high": "P1", ...}, ...}`` (impact -> urgency -> priority)."""
        table: dict[tuple[Impact, Urgency], Priority] = {}
        for impact, row in rows.items():
            for urgency, prio in row.items():
                table[(parse_impact(impact), parse_urgency(urgency))] = parse_priority(prio)
        return cls(table)

    def to_rows(self) -> dict[str, dict[str, str]]:
        """The JSON-native form accepted by :meth:`from_rows`."""
        rows: dict[str, dict[str, str]] = {}
        for (impact, urgency), prio in self.table.items():
            rows.setdefault(impact.value, {})[urgency.value] = prio.value
        return rows


E = TypeVar("E", bound=StrEnum)


def _parse(kind: type[E], value: object, fieldname: str) -> E:
    try:
        return kind(str(value).lower() if kind is not Priority else str(value).upper())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InputError(fieldname, f"{value!r} is not one of {allowed}") from None


def parse_impact(value: object) -> Impact:
    """Impact from text, or InputError naming ``impact``."""
    return _parse(Impact, value, "impact")


def parse_urgency(value: object) -> Urgency:
    """Urgency from text, or InputError naming ``urgency``."""
    return _parse(Urgency, value, "urgency")


def parse_priority(value: object) -> Priority:
    """Priority from text, or InputError naming ``priority``."""
    return _parse(Priority, value, "priority")
