"""Time is injected: the engine asks a Clock, tests hand it a fixed or stepping one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from opsledger.core.domain.errors import InputError


class Clock(Protocol):
    """Anything that can say what time it is now (timezone-aware)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock; only entry points construct one."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """Always the same instant, until a test moves it."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at, "at")

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_utc(at, "at")

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at


class SteppingClock:
    """Moves forward by ``step`` every time it is read: distinct, ordered instants for demos."""

    def __init__(self, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        self._next = ensure_utc(start, "start")
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            at, self._next = self._next, self._next + self._step
            return at


def ensure_utc(value: datetime, field: str) -> datetime:
    """Instants inside opsledger are aware and in UTC; naive input is an error, not a guess."""
    if not isinstance(value, datetime):
        raise InputError(field, f"{value!r} is not a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(field, f"{value.isoformat()} has no time zone")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InputError(field, f"{value.isoformat()} is outside the representable range") from None


def parse_instant(text: str, field: str = "at") -> datetime:
    """ISO 8601 with an offset (``Z`` allowed) to an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InputError(field, f"{text!r} is not an ISO 8601 instant") from None
    return ensure_utc(value, field)
