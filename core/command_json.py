"""Commands from JSON-native data (the bus, CLI and HTTP path): each field checked by its type.

Kept apart from the command definitions: this is where outsiders' typos arrive, and every
error must name the field that was wrong.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, fields
from datetime import datetime
from typing import Any

from opsledger.core.clock import ensure_utc, parse_instant
from opsledger.core.commands import COMMANDS, Command
from opsledger.core.domain.errors import InputError


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
    if origin is tuple and args == (str, Ellipsis):
        return _texts
    if origin is tuple and args == (dict[str, Any], Ellipsis):
        return _objects
    raise TypeError(f"{where}: command_from_dict cannot check {annotation!r}")


def _texts(name: str, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _wrong(name, "a list of strings", value)
    return tuple(value)


def _objects(name: str, value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(isinstance(v, dict) for v in value):
        raise _wrong(name, "a list of objects", value)
    return tuple(_object(f"{name}[{i}]", item) for i, item in enumerate(value))


def _object(name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise _wrong(name, "an object", value)
    for key in value:
        if not isinstance(key, str):
            raise InputError(name, f"expected an object, got the key {key!r}")
    return value
