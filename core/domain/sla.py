"""SLA, OLA and underpinning-contract policies: which tickets a policy governs and its targets.

A policy is data (JSON-native ``to_dict``/``from_dict``) so it can be recorded as an event,
versioned, and loaded from a file for what-if runs. Clocks record the policy name and version
they run under; a later version never changes a clock that already started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from opsledger.core.domain.calendar import BusinessCalendar
from opsledger.core.domain.errors import InputError


class Metric(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"
    UPDATE = "update"
    #: the satisfaction call-back after a resolution: an OLA of the group that calls back
    CALLBACK = "callback"


class Agreement(StrEnum):
    SLA = "sla"  # with the customer
    OLA = "ola"  # between internal groups: runs while the ticket sits with a group
    UC = "uc"  # underpinning contract with a vendor: runs while awaiting that vendor


PRIORITIES = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True, slots=True)
class Targets:
    """Targets for one priority; ``None`` means no clock of that metric."""

    calendar: str
    response: timedelta | None = None
    resolution: timedelta | None = None
    update: timedelta | None = None
    callback: timedelta | None = None

    def get(self, metric: Metric) -> timedelta | None:
        value: timedelta | None = getattr(self, metric.value)
        return value


def _seconds(value: Any, field_name: str) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(field_name, f"{value!r} is not a positive number of minutes")
    try:
        return timedelta(minutes=value)
    except (OverflowError, ValueError):  # inf, nan, or beyond ~2.7 million years
        raise InputError(field_name, f"{value!r} minutes is not a usable target") from None


def _names(value: Any, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InputError(field_name, "must be a list of names")
    items = tuple(value)
    if not all(isinstance(v, str) and v for v in items):
        raise InputError(field_name, "must be a list of non-empty names")
    return items


def _percentages(value: Any, field_name: str) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InputError(field_name, "must be a list of percentages")
    items = tuple(value)
    for w in items:
        whole = isinstance(w, int) or (isinstance(w, float) and w.is_integer())
        if isinstance(w, bool) or not whole:
            raise InputError(field_name, f"{w!r} is not a whole percentage")
    return tuple(int(w) for w in items)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """One agreement: selection, targets per priority, calendars, and the clock rules."""

    name: str
    targets: Mapping[str, Targets]
    calendars: Mapping[str, BusinessCalendar]
    agreement: Agreement = Agreement.SLA
    kinds: tuple[str, ...] = ("incident", "service_request")
    services: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    pause_on: tuple[str, ...] = ("awaiting_customer", "awaiting_vendor")
    on_reopen: str = "resume"
    on_priority_change: str = "retroactive"
    warnings: tuple[int, ...] = (50, 75, 90)
    description: str = ""
    version: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InputError("name", "a policy needs a name")
        for prio, targets in self.targets.items():
            if prio not in PRIORITIES:
                raise InputError("targets", f"{prio!r} is not one of {', '.join(PRIORITIES)}")
            if targets.calendar not in self.calendars:
                raise InputError(f"targets.{prio}.calendar", f"no calendar {targets.calendar!r}")
        if self.on_reopen not in ("resume", "new_cycle"):
            raise InputError("on_reopen", "must be resume or new_cycle")
        if self.on_priority_change not in ("retroactive", "from_change"):
            raise InputError("on_priority_change", "must be retroactive or from_change")
        if any(not 0 < w < 100 for w in self.warnings) or list(self.warnings) != sorted(
            set(self.warnings)
        ):
            raise InputError("warnings", "must be increasing percentages between 0 and 100")
        if self.agreement is Agreement.OLA and not self.groups:
            raise InputError("groups", "an OLA names the assignment groups it binds")
        if self.agreement is Agreement.UC and not self.vendors:
            raise InputError("vendors", "an underpinning contract names its vendors")

    def selects(
        self, *, kind: str, priority: str, service: str | None, customer: str | None
    ) -> bool:
        """Whether this policy governs a ticket with these facts (groups/vendors aside)."""
        return (
            kind in self.kinds
            and priority in self.targets
            and (not self.services or service in self.services)
            and (not self.customers or customer in self.customers)
        )

    @property
    def specificity(self) -> int:
        """More specific SLA policies win: a customer contract beats a service default."""
        return 2 * bool(self.customers) + bool(self.services)

    def calendar_for(self, priority: str) -> BusinessCalendar:
        return self.calendars[self.targets[priority].calendar]

    def to_dict(self) -> dict[str, Any]:
        def minutes(d: timedelta | None) -> float | None:
            return None if d is None else d.total_seconds() / 60

        return {
            "name": self.name,
            "agreement": self.agreement.value,
            "description": self.description,
            "kinds": list(self.kinds),
            "services": list(self.services),
            "customers": list(self.customers),
            "groups": list(self.groups),
            "vendors": list(self.vendors),
            "pause_on": list(self.pause_on),
            "on_reopen": self.on_reopen,
            "on_priority_change": self.on_priority_change,
            "warnings": list(self.warnings),
            "calendars": {name: cal.to_dict() for name, cal in self.calendars.items()},
            "targets": {
                prio: {
                    "calendar": t.calendar,
                    "response_minutes": minutes(t.response),
                    "resolution_minutes": minutes(t.resolution),
                    "update_minutes": minutes(t.update),
                }
                | ({"callback_minutes": minutes(t.callback)} if t.callback else {})
                for prio, t in self.targets.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, version: int = 0) -> SlaPolicy:
        """Parse a policy definition (a policy file or a recorded event), naming bad fields."""
        if not isinstance(data, Mapping):
            raise InputError("policy", "must be an object")
        try:
            agreement = Agreement(data.get("agreement", "sla"))
        except ValueError:
            raise InputError("agreement", "must be sla, ola or uc") from None
        raw_cals = data.get("calendars") or {}
        if not isinstance(raw_cals, Mapping) or not raw_cals:
            raise InputError("calendars", "a policy needs at least one calendar")
        calendars = {}
        for name, spec in raw_cals.items():
            spec = dict(spec) if isinstance(spec, Mapping) else spec
            if isinstance(spec, dict):
                spec.setdefault("name", name)
            try:
                calendars[name] = BusinessCalendar.from_dict(spec)
            except InputError as e:
                raise InputError(f"calendars.{name}.{e.field}", e.message) from None
        raw_targets = data.get("targets") or {}
        if not isinstance(raw_targets, Mapping) or not raw_targets:
            raise InputError("targets", "a policy needs targets for at least one priority")
        targets = {}
        for prio, spec in raw_targets.items():
            if not isinstance(spec, Mapping):
                raise InputError(f"targets.{prio}", "must be an object")
            targets[str(prio)] = Targets(
                calendar=str(spec.get("calendar") or next(iter(calendars))),
                response=_seconds(spec.get("response_minutes"), f"targets.{prio}.response"),
                resolution=_seconds(spec.get("resolution_minutes"), f"targets.{prio}.resolution"),
                update=_seconds(spec.get("update_minutes"), f"targets.{prio}.update"),
                callback=_seconds(spec.get("callback_minutes"), f"targets.{prio}.callback"),
            )
        warnings = _percentages(data.get("warnings", (50, 75, 90)), "warnings")
        return cls(
            name=str(data.get("name") or ""),
            agreement=agreement,
            description=str(data.get("description", "")),
            kinds=_names(data.get("kinds", ("incident", "service_request")), "kinds"),
            services=_names(data.get("services"), "services"),
            customers=_names(data.get("customers"), "customers"),
            groups=_names(data.get("groups"), "groups"),
            vendors=_names(data.get("vendors"), "vendors"),
            pause_on=_names(
                data.get("pause_on", ("awaiting_customer", "awaiting_vendor")), "pause_on"
            ),
            on_reopen=str(data.get("on_reopen", "resume")),
            on_priority_change=str(data.get("on_priority_change", "retroactive")),
            warnings=warnings,
            calendars=calendars,
            targets=targets,
            version=version,
        )


def choose_sla(
    policies: Sequence[SlaPolicy],
    *,
    kind: str,
    priority: str,
    service: str | None,
    customer: str | None,
) -> SlaPolicy | None:
    """The customer-facing policy for a ticket: the most specific match, then the first defined."""
    best: SlaPolicy | None = None
    for policy in policies:
        if (
            policy.agreement is Agreement.SLA
            and policy.selects(kind=kind, priority=priority, service=service, customer=customer)
            and (best is None or policy.specificity > best.specificity)
        ):
            best = policy
    return best


def default_policy() -> SlaPolicy:
    """A sensible starting point: P1 round the clock, the rest in office hours (UTC)."""
    return SlaPolicy.from_dict(
        {
            "name": "default",
            "description": "Default service desk SLA",
            "calendars": {
                "24x7": {"timezone": "UTC", "always_open": True},
                "office": {
                    "timezone": "UTC",
                    "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                },
            },
            "targets": {
                "P1": {
                    "calendar": "24x7",
                    "response_minutes": 15,
                    "resolution_minutes": 240,
                    "update_minutes": 30,
                },
                "P2": {"calendar": "office", "response_minutes": 30, "resolution_minutes": 480},
                "P3": {"calendar": "office", "response_minutes": 240, "resolution_minutes": 1440},
                "P4": {"calendar": "office", "response_minutes": 480, "resolution_minutes": 2400},
            },
        }
    )
