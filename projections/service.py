"""The read models of one engine's store: status, catch up, rebuild, follow, and queries."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import InputError
from opsledger.core.engine import ledger_env
from opsledger.projections.base import Progress, ReadModel, catch_up_together
from opsledger.projections.callbacks import callbacks_due
from opsledger.projections.models import MODELS
from opsledger.projections.store import DocumentView, open_view

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

_PRIORITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
SHADOW = "~rebuild"


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "position": self.position, "head": self.head, "lag": self.lag}


class Projections:
    """Every read model over ``engine``'s store, in the same database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, names: Sequence[str] | None = None) -> None:
        self.engine = engine
        self.view: DocumentView = open_view(ledger_env(engine.settings))
        self.models: dict[str, ReadModel] = {
            name: MODELS[name](self.view, engine.app) for name in self._names(names)
        }

    def close(self) -> None:
        """Release the document store's connections; the engine stays open."""
        self.view.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _names(names: Iterable[str] | None) -> list[str]:
        chosen = list(names) if names is not None else list(MODELS)
        for name in chosen:
            if name not in MODELS:
                raise InputError("projection", f"{name!r} is not one of {', '.join(MODELS)}")
        return chosen

    def model(self, name: str) -> ReadModel:
        if name not in self.models:
            raise InputError("projection", f"{name!r} is not one of {', '.join(self.models)}")
        return self.models[name]

    # -- running -------------------------------------------------------------------------------

    def status(self) -> list[ProjectionStatus]:
        head = self.engine.app.recorder.max_notification_id() or 0
        return [ProjectionStatus(n, m.position(), head) for n, m in self.models.items()]

    def catch_up(self, progress: Progress | None = None, *, page: int = 1000) -> dict[str, int]:
        """Bring every read model up to the end of the log; returns events applied per model.

        ``page`` events are applied per transaction (with the tracking record of the last).
        """
        applied = catch_up_together(list(self.models.values()), page=page, progress=progress)
        return dict(zip(self.models, applied, strict=True))

    def rebuild(self, name: str, progress: Progress | None = None, *, page: int = 1000) -> int:
        """Fold the whole log again into a shadow copy, then swap it in atomically.

        Readers see the old documents until the swap; events recorded during the rebuild are
        applied by the shadow (its position moves with it) or by the next catch-up.
        """
        return self.rebuild_all([name], progress, page=page)[name]

    def rebuild_all(
        self,
        names: Sequence[str] | None = None,
        progress: Progress | None = None,
        *,
        page: int = 1000,
    ) -> dict[str, int]:
        """:meth:`rebuild` several read models (default: all) in one pass over the log.

        Each is swapped in on its own once the pass is over.
        """
        app_name = self.engine.app.name
        chosen = [self.model(name) for name in (names if names is not None else self.models)]
        shadows = [type(m)(self.view, self.engine.app, target=m.name + SHADOW) for m in chosen]
        for shadow in shadows:
            self.view.drop(shadow.target, app_name)
        applied = catch_up_together(shadows, page=page, progress=progress)
        for model in chosen:
            self.view.promote(model.name + SHADOW, model.name, app_name)
            self.models[model.name] = type(model)(self.view, self.engine.app)
        return {model.name: count for model, count in zip(chosen, applied, strict=True)}

    def follow(self, stop: threading.Event, poll: float = 0.5) -> None:
        """Catch up, then apply new events as they are recorded until ``stop`` is set."""
        while not stop.is_set():
            self.catch_up()
            stop.wait(poll)

    # -- queries -------------------------------------------------------------------------------

    def work_queue(
        self,
        *,
        group: str | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        on_hold: str | None = None,
        include_resolved: bool = False,
    ) -> list[dict[str, Any]]:
        """Open tickets by SLA due instant (none last), then priority, then age."""
        entries = []
        for entry in self.model("work_queue").documents("tickets").values():
            if entry["state"] == "resolved" and not include_resolved:
                continue
            if group is not None and entry["group"] != group:
                continue
            if assignee is not None and entry["assignee"] != assignee:
                continue
            if unassigned and entry["group"] is not None:
                continue
            if on_hold is not None and entry["hold_reason"] != on_hold:
                continue
            entries.append(entry)
        entries.sort(
            key=lambda e: (
                e["due"] is None,
                e["due"] or "",
                _PRIORITY_ORDER.get(e["priority"], 9),
                e["opened_at"] or "",
            )
        )
        return entries

    def facts(self) -> list[dict[str, Any]]:
        return list(self.model("ticket_facts").documents("tickets").values())

    def callbacks(self, now: datetime, *, group: str | None = None) -> list[dict[str, Any]]:
        """The satisfaction call-backs still owed, by due instant (``callbacks_due``)."""
        return callbacks_due(self.facts(), ensure_utc(now, "now"), group=group)
