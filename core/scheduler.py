"""The deadline index: open clocks ordered by their next due instant.

A binary heap with lazy deletion: an update pushes a new entry and leaves the old one to be
skipped when it surfaces, so both updates and pops are O(log n) however many clocks are open.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class DeadlineIndex:
    """Which tickets have a clock event due, and when."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._due)

    def update(self, number: str, due: datetime | None) -> None:
        """Record a ticket's next due instant (None: nothing pending)."""
        if due is None:
            self._due.pop(number, None)
            return
        if self._due.get(number) == due:
            return
        self._due[number] = due
        heapq.heappush(self._heap, (due, number))
        if len(self._heap) > 4 * len(self._due) + 64:
            self._compact()

    def next_due(self) -> datetime | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[str]:
        """Remove and return the tickets due at or before ``now``, earliest first."""
        out: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, number = heapq.heappop(heap)
            if self._due.get(number) == due:
                del self._due[number]
                out.append(number)
        return out

    def _compact(self) -> None:
        self._heap = [(due, number) for number, due in self._due.items()]
        heapq.heapify(self._heap)
