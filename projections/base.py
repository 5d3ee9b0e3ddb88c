"""Read models folded from the notification log, exactly once, with eventsourcing's machinery.

A read model does not re-implement the ticket lifecycle. It folds each event into the
record it belongs to with the domain's own mutators (``event.mutate``), then derives its
documents from the record's state after the event. So a read model can never disagree with
the domain about what a ticket's state is, and "rebuilt" and "incremental" are the same fold.

Catching up reads the log in pages (once for all the models caught up together) and commits
each page's document changes with the tracking record of the page's last event, provided the
tracking record is still where the page started (see :mod:`opsledger.projections.store`); if
another worker got there first, the page changes nothing and catching up carries on from the
other worker's position. Following live uses eventsourcing's ``ApplicationSubscription`` and
``Projection.process_event``, one commit per event.
"""

from __future__ import annotations

import gc
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import ApplicationSubscription, Projection
from opsledger.projections.store import DocumentView

Progress = Callable[[int, int], None]
Key = tuple[str, str]


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one page of events is folded.

    A page allocates many short-lived objects beside the many long-lived records held here,
    so the collector runs every few events and frees nothing that reference counting does
    not free anyway. Paused per page (so at most one page of cyclic garbage waits), rebuilds
    of the demo month ran up to a fifth faster (``benchmarks/bench_projections.py``).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
        held = self._held
        record = held.pop(rid, None)
        if record is None or record.version != version - 1:
            record = None if version == 1 else self.app.repository.get(rid, version=version - 1)
        record = event.mutate(record)
        held[rid] = record
        if len(held) > self.capacity:
            held.popitem(last=False)  # the least recently folded
        return cast(Aggregate, record)

    def forget(self) -> None:
        self._held.clear()


class Docs:
    """One batch of document changes, read through to the store (pending changes first)."""

    def __init__(
        self,
        view: DocumentView,
        projection: str,
        cache: OrderedDict[Key, dict[str, Any] | None] | None = None,
        *,
        complete: bool = False,
    ) -> None:
        self.view, self.projection = view, projection
        self.changes: dict[Key, dict[str, Any] | None] = {}
        self._cache = cache if cache is not None else OrderedDict()
        #: the cache holds every document there is, so a miss is an absent document
        self._complete = complete

    def get(self, collection: str, key: str) -> dict[str, Any] | None:
        if (collection, key) in self.changes:
            return self.changes[collection, key]
        if (collection, key) in self._cache:
            return self._cache[collection, key]
        if self._complete:
            return None
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
        # True while _committed holds every document of the target: from a catch-up that
        # started at position 0 (no tracking row, so no documents: they are only ever
        # written with it) until the first eviction or failed commit. A rebuild then never
        # asks the store for a document it has not written itself.
        self._complete = False

    def _docs(self) -> Docs:
        return Docs(self.view, self.target, self._committed, complete=self._complete)

    def _commit(self, docs: Docs, tracking: Tracking, after: int | None = None) -> None:
        try:
            self.view.commit(self.target, tracking, docs.changes, after=after)
        except Exception:
            self.records.forget()  # another worker got there first: our fold is stale
            self._committed.clear()
            self._complete = False
            raise
        self._committed.update(docs.changes)
        for key in docs.changes:
            self._committed.move_to_end(key)
        while len(self._committed) > self.records.capacity:
            self._committed.popitem(last=False)
            self._complete = False

    @abstractmethod
    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        """Change ``docs`` for ``event``, given ``record`` as it is after the event."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """eventsourcing's live path: one event, one commit with its tracking record.

        The commit is refused (``IntegrityError``, nothing changed) unless the event is after
        the model's position: a subscription hands over every event in order, so a single
        event cannot overlap what another worker applied.
        """
        docs = self._docs()
        self.apply(domain_event, self.records.fold(domain_event), docs)
        self._commit(docs, tracking)

    # -- catching up -------------------------------------------------------------------------

    def position(self) -> int:
        return int(self.view.position(self.target, self.app.name))

    def catch_up(self, *, page: int = 1000, progress: Progress | None = None) -> int:
        """Apply every event after this model's position; returns how many were applied."""
        return catch_up_together([self], page=page, progress=progress)[0]

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


def catch_up_together(
    models: Sequence[ReadModel], *, page: int = 1000, progress: Progress | None = None
) -> list[int]:
    """Bring read models of one application to the head of its log in one pass.

    Each event is read, decoded and folded into its record once, then applied to every model
    that has not applied it yet. Each page is committed model by model, each commit with that
    model's tracking record and on condition that the record is still where the model's page
    started; if another worker got there first, the commit changes nothing and that model
    carries on from the other worker's position. After a crash between two models' commits
    they stand at different positions: the pass starts at the lowest, and each model skips
    what it has applied. Returns how many events each model applied, in order.
    """
    if not models:
        return []
    app = models[0].app
    recorder, decode, records = app.recorder, app.mapper.to_domain_event, models[0].records
    head = recorder.max_notification_id() or 0
    positions = [model.position() for model in models]
    applied = [0] * len(models)
    for model, position in zip(models, positions, strict=True):
        if position == 0:
            model._committed.clear()
            model._complete = True
    while (start := min(positions)) < head:
        notifications = recorder.select_notifications(
            start=start, limit=page, inclusive_of_start=False
        )
        if not notifications:
            break
        last = notifications[-1].id
        batch = [(i, m, m._docs()) for i, m in enumerate(models) if positions[i] < last]
        # models that need every event of the page, and models already part-way into it
        whole = [(m.apply, docs) for i, m, docs in batch if positions[i] <= start]
        rest = [(m.apply, docs, positions[i]) for i, m, docs in batch if positions[i] > start]
        with cyclic_gc_paused():
            for notification in notifications:
                event = decode(notification)
                record = records.fold(event)
                for apply, docs in whole:
                    apply(event, record, docs)
                for apply, docs, after in rest:
                    if notification.id > after:
                        apply(event, record, docs)
        for i, model, docs in batch:
            try:
                model._commit(docs, Tracking(app.name, last), after=positions[i])
            except IntegrityError:
                moved = model.position()
                if moved == positions[i]:
                    raise
                positions[i] = moved  # the page changed nothing for this model
                continue
            applied[i] += sum(1 for n in notifications if n.id > positions[i])
            positions[i] = last
        if progress is not None:
            progress(min(positions), max(head, min(positions)))
    return applied
