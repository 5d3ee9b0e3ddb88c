"""Alert storms: how many tickets one source opened lately, and the storm that makes.

One aggregate per source, its id derived from the source's name, so that every command that
opens a ticket for the source counts on the same record (concurrent writers collide on its
version and the engine runs the loser again). Its state stays small: the instants of the
last ``threshold + 1`` openings within the window, and the parent of the storm under way.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from opsledger.core.domain.records import NUMBER_NAMESPACE


def source_activity_id(source: str) -> UUID:
    return uuid5(NUMBER_NAMESPACE, f"source-activity:{json.dumps(source, ensure_ascii=False)}")


class SourceActivity(Aggregate):
    """Recent openings of one source; more than the threshold within the window is a storm."""

    #: datetimes inside the state, restored from a snapshot (core/codec.py)
    snapshot_instants: ClassVar[tuple[str, ...]] = ("opened",)

    @staticmethod
    def create_id(source: str) -> UUID:
        return source_activity_id(source)

    @event("SourceActivityStarted")
    def __init__(self, source: str, actor: str, timestamp: datetime) -> None:
        self.source = source
        #: instants of the recent openings, at most threshold + 1, all within the window
        self.opened: list[datetime] = []
        #: the parent ticket of the storm under way, or None
        self.storm: str | None = None
        self.storms = 0

    def count_opening(
        self, ticket: str, *, threshold: int, window_s: int, actor: str, at: datetime
    ) -> int:
        """Count one ticket the source opened; answers how many it opened within the window
        ending now (at most ``threshold + 1``: more is still a storm). A count back at or
        under the threshold ends the storm under way."""
        self._opening_counted(
            ticket=ticket, threshold=threshold, window_s=window_s, actor=actor, timestamp=at
        )
        return len(self.opened)

    @event("OpeningCounted")
    def _opening_counted(
        self, ticket: str, threshold: int, window_s: int, actor: str, timestamp: datetime
    ) -> None:
        since = timestamp - timedelta(seconds=window_s)
        recent = [t for t in self.opened if t > since] + [timestamp]
        self.opened = recent[-(threshold + 1) :]
        if len(self.opened) <= threshold:
            self.storm = None

    def declare_storm(
        self, parent: str, *, count: int, threshold: int, window_s: int, actor: str, at: datetime
    ) -> None:
        """More than ``threshold`` openings within ``window_s`` seconds: recorded once per
        storm; the tickets opened while it lasts are linked to ``parent``."""
        if self.storm is None:
            self._storm_declared(
                parent=parent,
                count=count,
                threshold=threshold,
                window_s=window_s,
                actor=actor,
                timestamp=at,
            )

    @event("StormDeclared")
    def _storm_declared(
        self,
        parent: str,
        count: int,
        threshold: int,
        window_s: int,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.storm = parent
        self.storms += 1
