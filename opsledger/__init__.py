"""opsledger: an event-sourced incident and SLA engine. ``from opsledger import Engine``."""

from opsledger.core.clock import Clock, FixedClock, SteppingClock, SystemClock
from opsledger.core.domain.errors import (
    ConflictError,
    DomainError,
    InputError,
    NotFoundError,
    OpsledgerError,
)
from opsledger.core.engine import HistoryEntry, Outcome
from opsledger.core.settings import Settings
from opsledger.facade import Engine

__all__ = [
    "Clock",
    "ConflictError",
    "DomainError",
    "Engine",
    "FixedClock",
    "HistoryEntry",
    "InputError",
    "NotFoundError",
    "OpsledgerError",
    "Outcome",
    "Settings",
    "SteppingClock",
    "SystemClock",
]
