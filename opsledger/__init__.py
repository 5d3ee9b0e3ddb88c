"""opsledger: an event-sourced incident and SLA engine. ``from opsledger import Engine``."""

import os as _os

# In a source checkout, ``python -m ...`` puts the checkout first on sys.path and finds this
# folder without the subpackages that pyproject maps from core/, adapters/, projections/ and
# plugins/. Let those top-level folders answer for ``opsledger.*`` there too.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "pyproject.toml")) and _os.path.isdir(
    _os.path.join(_checkout, "core", "domain")
):
    __path__.append(_checkout)

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
