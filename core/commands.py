"""Commands: plain typed orders. Adapters, the CLI and the HTTP API only ever build these."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import datetime
from typing import Any

from opsledger.core.clock import ensure_utc, parse_instant
from opsledger.core.domain.errors import InputError

_FIELD_NAMES: dict[type[Command], tuple[str, ...]] = {}


def _field_names(cls: type[Command]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _check_text(name: str, value: object) -> None:
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(name, "is not valid Unicode text (lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(name, key)
            _check_text(f"{name}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_text(f"{name}[{index}]", item)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Who asks, when it happened (None: the engine's clock), and an optional idempotency key."""

    actor: str = "system"
    at: datetime | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        # A lone surrogate (a JSON "\ud800" escape, undecodable argv bytes) cannot be stored
        # as UTF-8: refuse it here, naming the field, rather than fail deep inside the save.
        for name in _field_names(type(self)):
            value = getattr(self, name)
            # inline fast path: most values are ASCII text, numbers, instants or None
            if isinstance(value, str):
                if not value.isascii():
                    _check_text(name, value)
            elif isinstance(value, dict | list | tuple):
                _check_text(name, value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (datetimes as ISO text), for idempotency records and the bus."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCommand(Command):
    ticket: str


# -- opening ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenTicket(Command):
    """Open any kind of ticket; priority comes from the matrix unless overridden with a reason."""

    kind: str
    summary: str
    description: str = ""
    impact: str = "medium"
    urgency: str = "medium"
    priority_override: str | None = None
    service: str | None = None
    ci: str | None = None
    reporter: str = ""
    customer: str | None = None
    channel: str = "api"
    received_at: datetime | None = None
    group: str | None = None
    assignee: str | None = None
    external_system: str | None = None
    external_id: str | None = None
    change_type: str = "normal"
    risk: str = "medium"
    planned_start: datetime | None = None
    planned_end: datetime | None = None


# -- lifecycle ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignTicket(TicketCommand):
    group: str
    assignee: str | None = None
    tier: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgeTicket(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class AddComment(TicketCommand):
    body: str
    public: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordCustomerReply(TicketCommand):
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldTicket(TicketCommand):
    """``vendor`` names who is awaited (awaiting_vendor): their underpinning contract runs."""

    reason: str
    note: str = ""
    vendor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeTicket(TicketCommand):
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalateTicket(TicketCommand):
    """``functional``: to the next tier's group (``to``); ``hierarchical``: to a manager."""

    mode: str
    to: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveTicket(TicketCommand):
    code: str
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseTicket(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ReopenTicket(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTicket(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangePriority(TicketCommand):
    impact: str
    urgency: str
    reason: str
    override: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRecords(Command):
    """Link two records; the inverse link is recorded on the target in the same transaction."""

    source: str
    relation: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordExternalReference(TicketCommand):
    system: str
    reference: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSatisfaction(TicketCommand):
    score: int
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordComplaint(TicketCommand):
    text: str


# -- inbound sources -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestInbound(Command):
    """What an outside system says about a thing it identifies (docs/inbound.md).

    ``external_id`` is the source's own identity of the thing (alert fingerprint, dedup key,
    mail thread, JIRA key): the correlation key. ``state`` is open, acknowledge, resolve or
    update. ``occurred_at`` is the source's own instant; ``at`` the instant it reached us.
    ``details`` (labels, links) are recorded as they came and never interpreted.
    ``flap_changes`` open/resolve changes of one key within ``flap_window_s`` seconds are
    flapping (0: never), ``storm_threshold`` is how many tickets one source may open within
    ``storm_window_s`` seconds before a storm is declared (0: never); the adapter sets them.
    """

    source: str
    external_id: str
    state: str
    kind: str = "incident"
    summary: str = ""
    description: str = ""
    impact: str = "medium"
    urgency: str = "medium"
    service: str | None = None
    ci: str | None = None
    reporter: str = ""
    customer: str | None = None
    occurred_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    resolve_code: str = "auto-resolved by source"
    reopen: bool = True
    flap_changes: int = 0
    flap_window_s: int = 3600
    storm_threshold: int = 0
    storm_window_s: int = 300


# -- incidents and problems -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclareMajorIncident(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearMajorIncident(TicketCommand):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordRootCause(TicketCommand):
    root_cause: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordKnownError(TicketCommand):
    workaround: str
    root_cause: str | None = None


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitChangeForApproval(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveChange(TicketCommand):
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectChange(TicketCommand):
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartChangeImplementation(TicketCommand):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteChangeImplementation(TicketCommand):
    succeeded: bool
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewChange(TicketCommand):
    notes: str


# -- configuration items --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterCI(Command):
    ci_type: str
    name: str
    owner: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "live"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCIAttributes(Command):
    ci: str
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCIOwner(Command):
    ci: str
    owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCIStatus(Command):
    ci: str
    status: str


# -- SLA -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DefineSlaPolicy(Command):
    """Record a new version of an SLA, OLA or underpinning-contract policy."""

    definition: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetireSlaPolicy(Command):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TickClocks(TicketCommand):
    """Record the clock events of one ticket that are due by ``at`` (the scheduler sends it)."""


def _all_commands() -> dict[str, type[Command]]:
    return {
        name: value
        for name, value in globals().items()
        if isinstance(value, type)
        and issubclass(value, Command)
        and value not in (Command, TicketCommand)
    }


COMMANDS: dict[str, type[Command]] = _all_commands()


def command_from_dict(name: str, data: Mapping[str, Any]) -> Command:
    """Build a command from JSON-native data (the bus, CLI and HTTP path), naming bad fields.

    Each value must have its field's type: the JSON path is where outsiders' typos arrive, and
    ``{"public": "yes"}`` would otherwise be recorded, or fail deep inside a handler. Commands
    built in Python are typed by mypy and not checked again.
    """
    cls = COMMANDS.get(name)
    if cls is None:
        raise InputError("command", f"unknown command {name!r}")
    if not isinstance(data, Mapping):
        raise InputError("command", f"expected an object, got {_json_type(data)}")
    checks, required = _schema(cls)
    if not checks.keys() >= data.keys():
        first = str(min(data.keys() - checks.keys(), key=str))
        raise InputError(first if first.strip() else repr(first), f"not a field of {name}")
    values = {key: checks[key](key, value) for key, value in data.items()}
    for key in required:
        if key not in values:
            raise InputError(key, f"is required by {name}")
    return cls(**values)


# -- field types on the JSON path ------------------------------------------------------------

#: Checks one field's value (given the field's name for the error) and gives what to construct.
_Check = Callable[[str, Any], Any]
_SCHEMAS: dict[type[Command], tuple[dict[str, _Check], tuple[str, ...]]] = {}


def _schema(cls: type[Command]) -> tuple[dict[str, _Check], tuple[str, ...]]:
    """Each field's check and the required fields, from the annotations resolved once."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        hints = typing.get_type_hints(cls)
        specs = fields(cls)
        checks = {f.name: _check_for(hints[f.name], f"{cls.__name__}.{f.name}") for f in specs}
        schema = _SCHEMAS[cls] = (checks, tuple(f.name for f in specs if _required(f)))
    return schema


def _required(spec: Field[Any]) -> bool:
    return spec.default is MISSING and spec.default_factory is MISSING


def _json_type(value: object) -> str:
    """What a value is, in JSON's words (the sender wrote JSON, not Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a Python {type(value).__name__}"


def _wrong(name: str, expected: str, value: object) -> InputError:
    return InputError(name, f"expected {expected}, got {_json_type(value)}")


def _any(name: str, value: Any) -> Any:
    return value


def _text(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _wrong(name, "text", value)


def _flag(name: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise _wrong(name, "true/false", value)


def _whole(name: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # JSON has one number type: 4.0 is the whole number 4, 4.5 is not one
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        raise InputError(name, f"expected a whole number, got {value!r}")
    raise _wrong(name, "a whole number", value)


def _instant(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return parse_instant(value, name)
    if isinstance(value, datetime):  # the Kafka envelope's own instants
        return ensure_utc(value, name)
    raise _wrong(name, "an ISO 8601 instant as text", value)


def _check_for(annotation: Any, where: str) -> _Check:
    """The check for one resolved annotation; one it does not know is a bug, said at once."""
    simple = {str: _text, bool: _flag, int: _whole, datetime: _instant}.get(annotation)
    if simple is not None:
        return simple
    if annotation is Any:
        return _any
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and types.NoneType in args:
        inner = next(a for a in args if a is not types.NoneType)
        check = _check_for(inner, where)

        def optional(name: str, value: Any) -> Any:
            return None if value is None else check(name, value)

        return optional
    if origin is dict and args == (str, Any):
        return _object
    raise TypeError(f"{where}: command_from_dict cannot check {annotation!r}")


def _object(name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise _wrong(name, "an object", value)
    for key in value:
        if not isinstance(key, str):
            raise InputError(name, f"expected an object, got the key {key!r}")
    return value
