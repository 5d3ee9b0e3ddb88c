"""Built-in behaviour, written as an ordinary plugin: the default matrix and service routing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsledger.core.domain.priority import PriorityMatrix
from opsledger.plugins.hookspecs import hookimpl


class ServiceMapRouter:
    """Route a ticket to the group that owns its service; register one with your own map.

    ``pm.register(ServiceMapRouter({"payments": "payments-oncall"}))``: registered after the
    built-ins, it is asked before the module-level default below.
    """

    def __init__(self, groups: Mapping[str, str]) -> None:
        self.groups = {k.strip().lower(): v for k, v in groups.items()}

    @hookimpl
    def opsledger_route(self, ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
        service = ticket.get("service")
        group = self.groups.get(service.strip().lower()) if isinstance(service, str) else None
        return (group, None) if group else None


#: The built-in service map: empty, so an unconfigured desk leaves tickets unassigned.
DEFAULT_SERVICE_MAP: dict[str, str] = {}
_default_router = ServiceMapRouter(DEFAULT_SERVICE_MAP)


@hookimpl(trylast=True)
def opsledger_route(ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """The fallback router: the built-in service map (every other router is asked first)."""
    return _default_router.opsledger_route(ticket)


@hookimpl(trylast=True)
def opsledger_priority_matrix() -> PriorityMatrix:
    """The ITIL-style default matrix (any other plugin's matrix is asked first)."""
    return PriorityMatrix()
