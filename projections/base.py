"""Read models folded from the notification log, exactly once, with eventsourcing's machinery.

A read model does not re-implement the ticket lifecycle. It folds each event into the
record it belongs to with the domain's own mutators (``event.mutate``), then derives its
documents from the record's state after the event. So a read model can never disagree with
the domain about what a ticket's state is, and "rebuilt" and "incremental" are the same fold.

Catching up reads the log in pages and commits each page's document changes with the
tracking record of the page's last event (see :mod:`opsledger.projections.store`); following
live uses eventsourcing's ``ApplicationSubscription`` and ``Projection.process_event``, one
commit per event.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking
from eventsourcing.projection import ApplicationSubscription, Projection
from opsledger.projections.store import DocumentView

Progress = Callable[[int, int], None]
Key = tuple[str, str]


class Records:
    """The records the log's events belong to, folded forward with the domain's mutators.

    Keeps recently used records in memory; a record it does not hold (a restart, an
    eviction) is loaded from the event store at the version just before the event.
    """

    def __init__(self, app: Application[UUID], capacity: int = 20_000) -> None:
        self.app = app
        self.capacity = capacity
        self._held: OrderedDict[UUID, Aggregate] = OrderedDict()

    def fold(self, event: Any) -> Aggregate:
        rid, version = event.originator_id, event.originator_version
        record = self._held.pop(rid, None)
        if record is None or record.version != version - 1:
            record = None if version == 1 else self.app.repository.get(rid, version=version - 1)
        record = event.mutate(record)
        assert isinstance(record, Aggregate)
        self._held[rid] = record
        if len(self._held) > self.capacity:
            self._held.popitem(last=False)
        return record

    def forget(self) -> None:
        self._held.clear()


class Docs:
    """One batch of document changes, read through to the store (pending changes first)."""

    def __init__(
        self,
        view: DocumentView,
        projection: str,
        cache: OrderedDict[Key, dict[str, Any] | None] | None = None,
    ) -> None:
        self.view, self.projection = view, projection
        self.changes: dict[Key, dict[str, Any] | None] = {}
        self._cache = cache if cache is not None else OrderedDict()

    def get(self, collection: str, key: str) -> dict[str, Any] | None:
        if (collection, key) in self.changes:
            return self.changes[collection, key]
        if (collection, key) in self._cache:
            return self._cache[collection, key]
        return self.view.get(self.projection, collection, key)

    def put(self, collection: str, key: str, doc: dict[str, Any]) -> None:
        self.changes[collection, key] = doc

    def delete(self, collection: str, key: str) -> None:
        self.changes[collection, key] = None


class ReadModel(Projection[Any]):
    """One read model: its name, its collections, and how an event changes its documents."""

    name: str = ""
    collections: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(self, view: DocumentView, app: Application[UUID], target: str = "") -> None:
        super().__init__(view)
        self.app = app
        #: where the documents go: the model's name, or a shadow name while rebuilding
        self.target = target or self.name
        self.records = Records(app)
        # documents as committed, so a page rarely reads the store back (this model is the
        # only writer of its target; a failed commit clears it)
        self._committed: OrderedDict[Key, dict[str, Any] | None] = OrderedDict()

    def _commit(self, docs: Docs, tracking: Tracking) -> None:
        try:
            self.view.commit(self.target, tracking, docs.changes)
        except Exception:
            self.records.forget()  # another worker got there first: our fold is stale
            self._committed.clear()
            raise
        self._committed.update(docs.changes)
        for key in docs.changes:
            self._committed.move_to_end(key)
        while len(self._committed) > self.records.capacity:
            self._committed.popitem(last=False)

    @abstractmethod
    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        """Change ``docs`` for ``event``, given ``record`` as it is after the event."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """eventsourcing's live path: one event, one commit with its tracking record."""
        docs = Docs(self.view, self.target, self._committed)
        self.apply(domain_event, self.records.fold(domain_event), docs)
        self._commit(docs, tracking)

    # -- catching up -------------------------------------------------------------------------

    def position(self) -> int:
        return int(self.view.position(self.target, self.app.name))

    def catch_up(self, *, page: int = 1000, progress: Progress | None = None) -> int:
        """Apply every event after this model's position; returns how many were applied."""
        recorder = self.app.recorder
        head = recorder.max_notification_id() or 0
        position, applied = self.position(), 0
        while position < head:
            notifications = recorder.select_notifications(
                start=position, limit=page, inclusive_of_start=False
            )
            if not notifications:
                break
            docs = Docs(self.view, self.target, self._committed)
            for notification in notifications:
                event = self.app.mapper.to_domain_event(notification)
                self.apply(event, self.records.fold(event), docs)
            last = notifications[-1].id
            self._commit(docs, Tracking(self.app.name, last))
            applied += len(notifications)
            position = last
            if progress is not None:
                progress(position, max(head, position))
        return applied

    def follow(self, subscription_gt: int | None = None) -> ApplicationSubscription[UUID]:
        """A live subscription from this model's position (iterate it; stop() to end)."""
        gt = self.position() if subscription_gt is None else subscription_gt
        return ApplicationSubscription(self.app, gt=gt)

    # -- reading -----------------------------------------------------------------------------

    def documents(self, collection: str) -> dict[str, dict[str, Any]]:
        return dict(self.view.scan(self.target, collection))

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every document of every collection: what equality of two builds compares."""
        return {c: self.documents(c) for c in self.collections}
