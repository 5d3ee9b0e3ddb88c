"""Configuration items: what the services run on, so incidents and changes can point at it."""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.core.domain.errors import DomainError, InputError
from opsledger.core.domain.records import NUMBER_NAMESPACE, LedgerRecord, RecordKind


class CIStatus(StrEnum):
    PLANNED = "planned"
    LIVE = "live"
    RETIRED = "retired"


_NEXT_STATUS = {
    CIStatus.PLANNED: {CIStatus.LIVE, CIStatus.RETIRED},
    CIStatus.LIVE: {CIStatus.RETIRED},
    CIStatus.RETIRED: set(),
}


_INT64 = range(-(2**63), 2**63)


def _scalar_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """JSON scalars only, and only ones that read back as the same value after a replay."""
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise InputError("attributes", f"attribute name {key!r} must be a non-empty string")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise InputError(f"attributes.{key}", "must be a string, number, boolean or null")
        # JSON has no NaN or infinity (they would be stored as null) and the codec stops at
        # 64-bit integers: refuse both rather than record a value that replays differently.
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"attributes.{key}", f"{value!r} is not a finite number")
        if isinstance(value, int) and value not in _INT64:
            raise InputError(f"attributes.{key}", "integer outside the 64-bit range")
    return dict(attributes)


class ConfigurationItem(LedgerRecord):
    """A CI: type, name, owner, free attributes, relations and a planned/live/retired status."""

    kind = RecordKind.CONFIGURATION_ITEM

    @event("Registered")
    def __init__(
        self,
        *,
        number: str,
        ci_type: str,
        name: str,
        owner: str | None,
        attributes: dict[str, Any],
        status: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self._init_record(number, actor)
        self.ci_type = ci_type
        self.name = name
        self.owner = owner
        self.attributes = dict(attributes)
        self.status = status

    @classmethod
    def check_new(
        cls, *, ci_type: str, name: str, attributes: dict[str, Any], status: str
    ) -> tuple[str, str, dict[str, Any], str]:
        """Validate registration input before a number is spent on it."""
        if not ci_type.strip():
            raise InputError("ci_type", "must not be empty")
        if not name.strip():
            raise InputError("name", "must not be empty")
        try:
            status = CIStatus(status).value
        except ValueError:
            raise InputError("status", f"{status!r} is not planned, live or retired") from None
        return ci_type.strip(), name.strip(), _scalar_attributes(attributes), status

    def update_attributes(self, *, changes: dict[str, Any], actor: str, at: datetime) -> None:
        """Set attributes (a None value removes one); a no-op update records nothing."""
        changes = _scalar_attributes(changes)
        effective = {k: v for k, v in changes.items() if self._would_change(k, v)}
        if effective:
            self._attributes_updated(changes=effective, actor=actor, timestamp=at)

    def _would_change(self, key: str, value: Any) -> bool:
        if key not in self.attributes:
            return value is not None  # removing an absent attribute is a no-op
        old = self.attributes[key]
        # 1, 1.0 and True are equal in Python but distinct JSON values: a change of type counts.
        return value is None or type(old) is not type(value) or old != value

    @event("AttributesUpdated")
    def _attributes_updated(self, changes: dict[str, Any], actor: str, timestamp: datetime) -> None:
        for key, value in changes.items():
            if value is None:
                self.attributes.pop(key, None)
            else:
                self.attributes[key] = value

    def change_owner(self, *, owner: str, actor: str, at: datetime) -> None:
        if not owner.strip():
            raise InputError("owner", "must not be empty")
        if owner != self.owner:
            self._owner_changed(owner=owner.strip(), actor=actor, timestamp=at)

    @event("OwnerChanged")
    def _owner_changed(self, owner: str, actor: str, timestamp: datetime) -> None:
        self.owner = owner

    def change_status(self, *, status: str, actor: str, at: datetime) -> None:
        """planned -> live -> retired; a retired CI stays retired."""
        try:
            new = CIStatus(status)
        except ValueError:
            raise InputError("status", f"{status!r} is not planned, live or retired") from None
        if new not in _NEXT_STATUS[CIStatus(self.status)]:
            raise DomainError(self.number, self.status, f"change status to {new.value}")
        self._status_changed(status=new.value, actor=actor, timestamp=at)

    @event("StatusChanged")
    def _status_changed(self, status: str, actor: str, timestamp: datetime) -> None:
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        data = self.base_dict()
        data.update(
            ci_type=self.ci_type,
            name=self.name,
            owner=self.owner,
            attributes=dict(self.attributes),
            status=self.status,
            opened_by=self.opened_by,
        )
        return data


def ci_name_key(name: str) -> str:
    """A CI name as lookups compare it: case and surrounding spaces do not matter."""
    return " ".join(name.split()).casefold()


def ci_name_id(name: str) -> UUID:
    return uuid5(NUMBER_NAMESPACE, f"ci-name:{json.dumps(ci_name_key(name), ensure_ascii=False)}")


class CiNameIndex(Aggregate):
    """Which configuration items carry a name, so that an alert's ``instance`` or ``job``
    label can find its CI without a read model (one aggregate per name: the decision reads
    it inside the command, as consistent as the CI it points at)."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return ci_name_id(name)

    @event("CiNameIndexStarted")
    def __init__(self, name: str, actor: str, timestamp: datetime) -> None:
        self.name = ci_name_key(name)
        self.numbers: list[str] = []

    def add(self, number: str, *, actor: str, at: datetime) -> None:
        if number not in self.numbers:
            self._ci_named(number=number, actor=actor, timestamp=at)

    @event("CiNamed")
    def _ci_named(self, number: str, actor: str, timestamp: datetime) -> None:
        self.numbers.append(number)
