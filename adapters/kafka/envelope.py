"""The bus's wire format: one versioned JSON envelope for commands, inbound events and facts.

Decoding is strict and total: whatever bytes arrive, ``decode`` either returns an Envelope or
raises EnvelopeError naming the bad field, so a worker can dead-letter instead of crashing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from opsledger.core.clock import ensure_utc, parse_instant
from opsledger.core.commands import (
    COMMANDS,
    ChangeCIOwner,
    ChangeCIStatus,
    Command,
    DefineSlaPolicy,
    LinkRecords,
    OpenTicket,
    RetireSlaPolicy,
    TicketCommand,
    UpdateCIAttributes,
    command_from_dict,
)
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import normalise_number
from opsledger.core.handlers import POLICY_BOOK

SCHEMA_VERSION = 1
#: Schema versions this build can read; a newer producer must keep writing one of these.
UNDERSTOOD_SCHEMAS = (1,)
#: ``command``: an order for the engine; ``inbound``: an outside event (an alert, a mail) that
#: the engine turns into a command; ``event``: a fact the engine recorded (publisher output).
KINDS = ("command", "inbound", "event")

DEAD_LETTER_PREFIX = "opsledger."
#: Header names on a dead letter, without DEAD_LETTER_PREFIX.
DEAD_LETTER_HEADERS = (
    "reason",
    "field",
    "source",
    "partition",
    "offset",
    "failed_at",
    "message_id",
)
#: A reason quotes the bad value at most; a header is no place for a whole message body.
MAX_REASON_CHARS = 1000


class EnvelopeError(InputError):
    """A message on the bus is not a valid envelope; ``field`` names the wire field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.reason = reason


def new_message_id() -> str:
    return str(uuid4())


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One message on the bus. ``correlation_id`` left empty becomes the message id."""

    kind: str
    name: str
    payload: dict[str, Any]
    message_id: str = field(default_factory=new_message_id)
    correlation_id: str = ""
    causation_id: str | None = None
    produced_at: datetime
    occurred_at: datetime | None = None
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_schema(self.schema)
        if self.kind not in KINDS:
            raise EnvelopeError("type", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        _check_id("name", self.name)
        _check_id("id", self.message_id)
        if self.correlation_id == "":
            object.__setattr__(self, "correlation_id", self.message_id)
        _check_id("correlation_id", self.correlation_id)
        if self.causation_id is not None:
            _check_id("causation_id", self.causation_id)
        if not isinstance(self.payload, dict):
            raise EnvelopeError("payload", f"expected an object, got {_json_type(self.payload)}")
        for key in self.payload:
            if not isinstance(key, str):
                raise EnvelopeError("payload", f"key {key!r} is not text")
        object.__setattr__(self, "produced_at", _utc(self.produced_at, "produced_at"))
        if self.occurred_at is not None:
            object.__setattr__(self, "occurred_at", _utc(self.occurred_at, "occurred_at"))


# -- bytes <-> Envelope ----------------------------------------------------------------------


def encode(env: Envelope) -> bytes:
    """Compact UTF-8 JSON; ``decode(encode(env)) == env`` for every JSON-native payload."""
    doc = {
        "schema": env.schema,
        "type": env.kind,
        "id": env.message_id,
        "correlation_id": env.correlation_id,
        "causation_id": env.causation_id,
        "produced_at": instant_text(env.produced_at),
        "occurred_at": None if env.occurred_at is None else instant_text(env.occurred_at),
        "name": env.name,
        "payload": env.payload,
    }
    # Datetimes and dataclasses inside the payload would come back as text or objects, not
    # as themselves: refuse them rather than break the round trip silently.
    option = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    try:
        return orjson.dumps(doc, option=option)
    except orjson.JSONEncodeError as e:
        raise EnvelopeError("payload", f"is not JSON-native: {e}") from None


def decode(data: bytes) -> Envelope:
    """Parse and check one message value; raises only EnvelopeError, whatever the bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        # a Kafka tombstone (value None) lands here too
        raise EnvelopeError("envelope", f"expected bytes, got {type(data).__name__}")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        try:
            bytes(data).decode("utf-8")
        except UnicodeDecodeError as bad:
            raise EnvelopeError("envelope", f"is not UTF-8 (bad byte at {bad.start})") from None
        raise EnvelopeError("envelope", f"is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise EnvelopeError("envelope", f"expected a JSON object, got {_json_type(doc)}")
    # The version first: a newer schema may have moved every other field.
    schema = _get(doc, "schema")
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise EnvelopeError("schema", f"expected an integer, got {_json_type(schema)}")
    _check_schema(schema)
    kind = _text(doc, "type")
    message_id = _text(doc, "id")
    correlation_id = _text(doc, "correlation_id")
    causation_id = None if _get(doc, "causation_id") is None else _text(doc, "causation_id")
    produced_at = _instant(doc, "produced_at")
    occurred_at = None if _get(doc, "occurred_at") is None else _instant(doc, "occurred_at")
    name = _text(doc, "name")
    payload = _get(doc, "payload")
    if not isinstance(payload, dict):
        raise EnvelopeError("payload", f"expected an object, got {_json_type(payload)}")
    if kind not in KINDS:
        raise EnvelopeError("type", f"{kind!r} is not one of {', '.join(KINDS)}")
    return _checked_already(
        kind=kind,
        name=name,
        payload=payload,
        message_id=message_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        produced_at=produced_at,
        occurred_at=occurred_at,
        schema=schema,
    )


def _checked_already(**fields: Any) -> Envelope:
    """An Envelope of values ``decode`` has checked (JSON keys are always text, parsed
    instants are UTC): the constructor's checks, a quarter of decoding, are not run twice."""
    env = object.__new__(Envelope)
    for name, value in fields.items():
        object.__setattr__(env, name, value)
    return env


def instant_text(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: the one spelling of an instant on the wire."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _get(doc: dict[str, Any], key: str) -> Any:
    if key not in doc:
        raise EnvelopeError(key, "is missing")
    return doc[key]


def _text(doc: dict[str, Any], key: str) -> str:
    value = _get(doc, key)
    if not isinstance(value, str):
        raise EnvelopeError(key, f"expected text, got {_json_type(value)}")
    _check_id(key, value)
    return value


def _instant(doc: dict[str, Any], key: str) -> datetime:
    text = _text(doc, key)
    try:
        return parse_instant(text, key)
    except InputError as e:
        raise EnvelopeError(key, e.message) from None


def _utc(value: datetime, key: str) -> datetime:
    try:
        return ensure_utc(value, key)
    except InputError as e:
        raise EnvelopeError(key, e.message) from None


def _check_id(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise EnvelopeError(key, f"expected text, got {_json_type(value)}")
    if not value.strip():
        raise EnvelopeError(key, "is empty")


def _check_schema(schema: int) -> None:
    if schema in UNDERSTOOD_SCHEMAS and not isinstance(schema, bool):
        return
    understood = ", ".join(map(str, UNDERSTOOD_SCHEMAS))
    if isinstance(schema, int) and schema > max(UNDERSTOOD_SCHEMAS):
        raise EnvelopeError(
            "schema", f"version {schema} is newer than this build understands ({understood})"
        )
    raise EnvelopeError("schema", f"unknown version {schema!r} (understood: {understood})")


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "text", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


# -- commands --------------------------------------------------------------------------------


def command_envelope(
    command: Command,
    *,
    produced_at: datetime,
    message_id: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope:
    """Wrap a command for the commands topic.

    None values are left out of the payload so that the receiving build's defaults apply;
    the correlation id defaults to the partition key, so one ticket's messages share it.
    """
    message_id = message_id or new_message_id()
    payload = {key: value for key, value in command.to_dict().items() if value is not None}
    return Envelope(
        kind="command",
        name=type(command).__name__,
        payload=payload,
        message_id=message_id,
        correlation_id=correlation_id or partition_key(command, fallback=message_id).decode(),
        causation_id=causation_id,
        produced_at=produced_at,
        occurred_at=command.at,
    )


def command_of(env: Envelope) -> Command:
    """The command an envelope orders, made replay-safe.

    Without ``at`` the command happens at ``occurred_at`` (else ``produced_at``), and without
    ``idempotency_key`` it is keyed by the message id: a redelivered message then records
    nothing new, at the same instant, however late it is processed.
    """
    if env.kind == "inbound":
        return _inbound_command(env)
    if env.kind != "command":
        raise EnvelopeError("type", f"{env.kind!r} envelopes carry facts, not commands")
    if env.name not in COMMANDS:
        raise EnvelopeError("name", f"unknown command {env.name!r}")
    data = dict(env.payload)
    if data.get("at") is None:
        data["at"] = env.occurred_at or env.produced_at
    if data.get("idempotency_key") is None:
        data["idempotency_key"] = env.message_id
    try:
        return command_from_dict(env.name, data)
    except InputError as e:
        raise EnvelopeError(_payload_field(e.field), e.message) from None


def _payload_field(name: str) -> str:
    # command_from_dict says "command" when it cannot tell which field broke the constructor
    return "payload" if name == "command" else f"payload.{name}"


def _inbound_command(env: Envelope) -> Command:
    """HOOK (inbound events): ``opsledger.core.inbound.inbound_command`` turns them into commands.

    ``at`` is when the adapter put the event on the bus (its receipt); the source's own instant
    travels in the payload. The idempotency key is inbound's natural one (source, id, state,
    source instant), which also absorbs a source's resends, else the message id, so that a
    redelivery is a no-op either way. Without ``opsledger.core.inbound`` inbound envelopes are
    refused (and so dead-lettered) with a reason that says where the translation lives.
    """
    try:
        inbound = importlib.import_module("opsledger.core.inbound")
    except ModuleNotFoundError as e:
        if e.name != "opsledger.core.inbound":
            raise
        raise EnvelopeError(
            "type", "inbound events are turned into commands by opsledger.core.inbound"
        ) from None
    try:
        command = inbound.inbound_command(
            dict(env.payload), at=env.produced_at, idempotency_key=None
        )
        if not isinstance(command, Command):
            raise TypeError(f"inbound_command returned {type(command).__name__}, not a Command")
        if command.idempotency_key is None:
            command = replace(command, idempotency_key=env.message_id)
    except EnvelopeError:
        raise
    except InputError as e:
        raise EnvelopeError(_payload_field(e.field), e.message) from None
    return command


def partition_key(command: Command, *, fallback: str | None = None) -> bytes:
    """The Kafka key: every command about one record shares it, so they stay in order.

    Existing records key by their canonical number (``inc-42`` and ``INC-000042`` agree); SLA
    policy changes by the one policy book; an OpenTicket from another system, and an inbound
    event, by ``system:external id``; anything else by its idempotency key, else ``fallback``,
    else a new uuid.
    """
    key = _record_key(command) or command.idempotency_key or fallback or new_message_id()
    return key.encode("utf-8")


def _record_key(command: Command) -> str | None:
    match command:
        case TicketCommand(ticket=number) | LinkRecords(source=number):
            return _number(number)
        case UpdateCIAttributes(ci=number) | ChangeCIOwner(ci=number) | ChangeCIStatus(ci=number):
            return _number(number)
        case DefineSlaPolicy() | RetireSlaPolicy():
            return POLICY_BOOK
        case OpenTicket(external_system=str(system), external_id=str(ext)) if system and ext:
            return f"{system}:{ext}"
    # An inbound event (IngestInbound) is about its source's own thing: open, acknowledge and
    # resolve of one alert must stay in order, and agree with an OpenTicket from that system.
    source, external = getattr(command, "source", None), getattr(command, "external_id", None)
    if isinstance(source, str) and isinstance(external, str) and source and external:
        return f"{source}:{external}"
    return None


def _number(text: str) -> str:
    if not isinstance(text, str):
        return str(text)
    try:
        return normalise_number(text)
    except (InputError, ValueError):
        # not a number: the engine will refuse it; keep its spelling stable anyway
        return text.strip().upper()


# -- dead letters ----------------------------------------------------------------------------


def dead_letter_headers(
    *,
    reason: str,
    field: str | None,
    source_topic: str,
    partition: int,
    offset: int,
    failed_at: datetime,
    message_id: str | None,
) -> list[tuple[str, bytes]]:
    """Kafka headers saying why a message was set aside; the value stays the original bytes.

    Headers whose value is None (no field, no readable message id) are left out.
    """
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    values = {
        "reason": reason,
        "field": field,
        "source": source_topic,
        "partition": str(partition),
        "offset": str(offset),
        "failed_at": instant_text(ensure_utc(failed_at, "failed_at")),
        "message_id": message_id,
    }
    return [
        (DEAD_LETTER_PREFIX + name, value.encode("utf-8", "backslashreplace"))
        for name, value in values.items()
        if value is not None
    ]


def read_dead_letter_headers(
    headers: Iterable[tuple[str, bytes | None]] | None,
) -> dict[str, str]:
    """The ``opsledger.*`` headers of a dead letter, prefix removed; other headers are ignored."""
    out: dict[str, str] = {}
    for name, value in headers or ():
        if name.startswith(DEAD_LETTER_PREFIX):
            out[name[len(DEAD_LETTER_PREFIX) :]] = (value or b"").decode("utf-8", "replace")
    return out
