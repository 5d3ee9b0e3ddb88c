"""Request and response bodies of the API, derived from the commands so they cannot drift.

Each write's body model is built from its command's dataclass fields (core/commands.py): the
same names, types and defaults, minus what travels elsewhere (the ticket number in the path,
the idempotency key in a header). Fields with a closed set of values take the domain's own
enums, so the OpenAPI description lists them. A body is then turned back into the command with
``command_from_dict``, which checks what the types cannot (instants need a time zone).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from opsledger.core.commands import Command, EscalateTicket, HoldTicket, IngestInbound
from opsledger.core.domain.priority import Impact, Priority, Urgency
from opsledger.core.domain.records import Relation
from opsledger.core.domain.ticket import HoldReason, Tier
from opsledger.core.domain.tickets import ChangeType, Risk
from opsledger.core.inbound import INBOUND_FIELDS
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    create_model,
)

#: Command fields that never appear in a body.
NOT_IN_BODY = frozenset({"ticket", "kind", "idempotency_key"})
CHANGE_FIELDS = ("change_type", "risk", "planned_start", "planned_end")
_ENUMS: dict[str, Any] = {
    "impact": Impact,
    "urgency": Urgency,
    "risk": Risk,
    "change_type": ChangeType,
    "tier": Tier,
    "priority_override": Priority,
    "override": Priority,
    "relation": Relation,
}
_BY_COMMAND: dict[tuple[type[Command], str], Any] = {
    (HoldTicket, "reason"): HoldReason,
    (EscalateTicket, "mode"): Literal["functional", "hierarchical"],
}
_DOCS = {
    "actor": "who does it (default: the API token's name)",
    "at": "when it happened, ISO 8601 with an offset (default: now)",
    "summary": "one line",
    "impact": "with urgency, gives the priority through the matrix",
    "priority_override": "a priority other than the matrix's (say why in the description)",
    "service": "the affected service: selects the SLA policy",
    "ci": "a configuration item number, e.g. CI-000042",
    "channel": "how it reached the desk",
    "received_at": "when it reached the desk, if before it was opened",
    "group": "assignment group",
    "public": "false: an internal work note",
    "vendor": "who is awaited (awaiting_vendor): their underpinning contract runs",
    "mode": "functional: to the next tier's group; hierarchical: to a manager",
    "to": "the group (functional) or the manager (hierarchical)",
    "code": "resolution code",
    "score": "1 to 5",
    "reached": "whether the call-back reached the customer (a score needs it)",
    "complaint": "the customer complains: opens a complaint ticket for the complaint group",
}
_STRICT = ConfigDict(extra="forbid")
#: An instant travels as text and is parsed by the command (``command_from_dict``), which
#: names the field and insists on a time zone; pydantic's datetime would also take numbers.
Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
#: What the event log's JSON codec can store: a larger number is refused here, naming the field.
Int64 = Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
#: JSON's own types, not coerced: "yes" is not a boolean, "4" is not a number.
_SCALARS: dict[Any, Any] = {str: StrictStr, bool: StrictBool, int: Int64, datetime: Instant}


def _json_type(hint: Any) -> Any:
    """The body type of a command field's type."""
    if _optional(hint):
        (inner,) = (a for a in typing.get_args(hint) if a is not types.NoneType)
        return _json_type(inner) | None
    return _SCALARS.get(hint, hint)


def _optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (types.UnionType, typing.Union) and types.NoneType in typing.get_args(
        annotation
    )


def command_body(
    command: type[Command], name: str, *, omit: tuple[str, ...] = (), doc: str = ""
) -> type[BaseModel]:
    """A strict pydantic model of ``command``'s fields (unknown keys refused)."""
    hints = typing.get_type_hints(command)
    fields: dict[str, Any] = {}
    for spec in dataclasses.fields(command):
        if spec.name in NOT_IN_BODY or spec.name in omit:
            continue
        hint = hints[spec.name]
        annotation = _BY_COMMAND.get((command, spec.name), _ENUMS.get(spec.name))
        if annotation is None:
            annotation = _json_type(hint)
        elif _optional(hint):
            annotation = annotation | None
        info: dict[str, Any] = {"description": _DOCS.get(spec.name)}
        if spec.name == "actor":
            annotation, info["default"] = StrictStr | None, None
        elif spec.default_factory is not dataclasses.MISSING:
            info["default_factory"] = spec.default_factory
        elif spec.default is not dataclasses.MISSING:
            info["default"] = spec.default
        fields[spec.name] = (annotation, Field(**info))
    model: type[BaseModel] = create_model(name, __config__=_STRICT, __doc__=doc, **fields)
    return model


def body_fields(model: type[BaseModel]) -> bool:
    """Whether a body of ``model`` must be sent (some field is required)."""
    return any(f.is_required() for f in model.model_fields.values())


_INBOUND_TYPES: dict[str, Any] = {
    "text": StrictStr,
    "optional text": StrictStr | None,
    "instant": Instant | None,
    "boolean": StrictBool,
    "object": dict[str, Any],
    "text list": list[StrictStr],
}


def _inbound_model() -> type[BaseModel]:
    """The generic inbound event (docs/inbound.md): ``INBOUND_FIELDS``' types, and the
    defaults of the command it becomes."""
    defaults = {f.name: f for f in dataclasses.fields(IngestInbound)}
    fields: dict[str, Any] = {}
    for spec in INBOUND_FIELDS:
        info: dict[str, Any] = {"description": spec.doc}
        default = defaults[spec.name]
        if spec.required:
            pass
        elif default.default_factory is not dataclasses.MISSING:
            info["default_factory"] = default.default_factory
        else:
            info["default"] = default.default
        fields[spec.name] = (_INBOUND_TYPES[spec.type], Field(**info))
    model: type[BaseModel] = create_model(
        "InboundEvent",
        __config__=_STRICT,
        __doc__="What an outside system says about a thing it identifies (docs/inbound.md).",
        **fields,
    )
    return model


InboundEvent = _inbound_model()


# -- responses -------------------------------------------------------------------------------


class WriteResult(BaseModel):
    """What a write did. Embedded: the record, its new version and the events recorded
    (``duplicate``: an earlier request with the same Idempotency-Key did it). Through Kafka:
    ``queued``, with the message id the worker will record it under."""

    number: str | None = None
    version: int | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    duplicate: bool = False
    queued: bool = False
    message_id: str


class LinkBody(BaseModel):
    model_config = _STRICT

    source: StrictStr = Field(description="a ticket or CI number")
    relation: Relation
    target: StrictStr = Field(description="a ticket or CI number")
    actor: StrictStr | None = Field(None, description=_DOCS["actor"])
    at: Instant | None = Field(None, description=_DOCS["at"])


class HistoryItem(BaseModel):
    version: int
    event: str
    at: str
    actor: str
    details: dict[str, Any]


class ClockItem(BaseModel):
    clock: str
    agreement: str
    policy: str
    version: int
    metric: str
    state: str
    breached: bool
    target_seconds: float
    elapsed_seconds: float
    remaining_seconds: float
    due: str | None
    warnings_reached: list[int]
    as_of: str


class SlaStatus(BaseModel):
    number: str
    as_of: str
    clocks: list[ClockItem]


class CallbackItem(BaseModel):
    """A satisfaction call-back still owed (the call-back queue, docs/kpis.md)."""

    number: str
    kind: str
    priority: str
    service: str | None
    customer: str | None
    summary: str
    state: str = Field(description="the ticket's state: resolved or closed")
    group: str = Field(description="the group that calls back")
    requested_at: str
    due: str | None = Field(description="the end of the call-back's OLA target")
    remaining_s: float | None = Field(description="calendar seconds to due; negative: overdue")
    overdue: bool


class KpisResult(BaseModel):
    month: str
    tz: str
    service: str | None
    kinds: list[str]
    as_of: str
    total: dict[str, Any]
    group_by: str | None = None
    groups: dict[str, dict[str, Any]] = Field(default_factory=dict)


class TokenInfo(BaseModel):
    id: int
    name: str
    role: str
    hint: str
    created_at: str
    created_by: str
    revoked_at: str | None


class NewToken(BaseModel):
    model_config = _STRICT

    name: StrictStr = Field(min_length=1, max_length=100)
    role: Literal["agent", "integration", "auditor", "admin"]


class IssuedTokenInfo(TokenInfo):
    token: str = Field(description="the secret: shown this once, stored only as its SHA-256")


class Health(BaseModel):
    status: Literal["ok"]
    head: int = Field(description="position of the last recorded event")
