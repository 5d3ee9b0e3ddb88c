"""The policy book: every SLA/OLA/UC policy version ever defined, recorded as events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.records import NUMBER_NAMESPACE
from opsledger.core.domain.sla import SlaPolicy

POLICY_BOOK_ID = uuid5(NUMBER_NAMESPACE, "sla-policy-book")


class PolicyBook(Aggregate):
    """One aggregate for all policies: defining or changing one is a versioned event."""

    @staticmethod
    def create_id() -> UUID:
        return POLICY_BOOK_ID

    @event("Opened")
    def __init__(self, timestamp: datetime) -> None:
        self.definitions: dict[str, list[dict[str, Any]]] = {}
        self.retired: list[str] = []

    def define(self, definition: dict[str, Any], *, actor: str, at: datetime) -> int:
        """Record a new version unless it is identical to the current one; returns the version."""
        policy = SlaPolicy.from_dict(definition)  # validates, naming the bad field
        canonical = policy.to_dict()
        versions = self.definitions.get(policy.name, [])
        if versions and versions[-1] == canonical and policy.name not in self.retired:
            return len(versions)
        self._defined(
            name=policy.name,
            version=len(versions) + 1,
            definition=canonical,
            actor=actor,
            timestamp=at,
        )
        return len(versions) + 1

    @event("PolicyDefined")
    def _defined(
        self, name: str, version: int, definition: dict[str, Any], actor: str, timestamp: datetime
    ) -> None:
        self.definitions.setdefault(name, []).append(definition)
        if name in self.retired:
            self.retired.remove(name)

    def retire(self, name: str, *, actor: str, at: datetime) -> None:
        if name not in self.definitions or name in self.retired:
            raise InputError("name", f"no policy {name!r} in force")
        self._retired(name=name, actor=actor, timestamp=at)

    @event("PolicyRetired")
    def _retired(self, name: str, actor: str, timestamp: datetime) -> None:
        self.retired.append(name)


class PolicyView:
    """Parsed policies from a book, cached by version: what the SLA reactor reads."""

    def __init__(self, book: PolicyBook | None) -> None:
        self._book = book
        self._parsed: dict[tuple[str, int], SlaPolicy] = {}

    def version(self, name: str, version: int) -> SlaPolicy:
        key = (name, version)
        if key not in self._parsed:
            if self._book is None or not 1 <= version <= len(self._book.definitions.get(name, [])):
                raise NotFoundError("policy", f"{name} v{version}")
            definition = self._book.definitions[name][version - 1]
            self._parsed[key] = SlaPolicy.from_dict(definition, version=version)
        return self._parsed[key]

    def current(self) -> Sequence[SlaPolicy]:
        if self._book is None:
            return []
        return [
            self.version(name, len(versions))
            for name, versions in self._book.definitions.items()
            if name not in self._book.retired
        ]


class OverridePolicies(PolicyView):
    """The recorded book with one policy replaced: for what-if runs, never saved."""

    def __init__(self, book: PolicyBook | None, override: SlaPolicy) -> None:
        super().__init__(book)
        self._override = override

    def version(self, name: str, version: int) -> SlaPolicy:
        if name == self._override.name:
            return self._override
        return super().version(name, version)

    def current(self) -> Sequence[SlaPolicy]:
        # First, so the proposal wins a tie in specificity even under a name of its own.
        others = [p for p in super().current() if p.name != self._override.name]
        return [self._override, *others]
