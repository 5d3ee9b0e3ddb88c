"""One typed settings object, built at the entry point from flags and OPSLEDGER_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from opsledger.core.domain.errors import InputError
from opsledger.core.domain.priority import PriorityMatrix

DEFAULT_DB = "opsledger.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the engine needs to know about where it runs; passed down, never re-read."""

    db_path: str = DEFAULT_DB
    database_url: str | None = None
    reopen_window: timedelta = timedelta(days=7)
    #: where a complaint (a call-back's or a survey's) is routed: its group and assignee
    complaint_group: str = "service-desk"
    complaint_assignee: str | None = "service-desk-lead"
    matrix: PriorityMatrix = field(default_factory=PriorityMatrix)
    conflict_retries: int = 50
    #: How far ahead of the engine's clock a command may say it happened. A ticket refuses
    #: commands dated before its last change, so one far-future date would block it.
    future_skew: timedelta = timedelta(days=1)
    aggregate_cache_size: int = 10_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``OPSLEDGER_*`` variables; keyword overrides (from CLI flags) win when not None."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("OPSLEDGER_DB"):
            values["db_path"] = env["OPSLEDGER_DB"]
        if env.get("OPSLEDGER_DATABASE_URL"):
            values["database_url"] = env["OPSLEDGER_DATABASE_URL"]
        if env.get("OPSLEDGER_REOPEN_WINDOW_DAYS"):
            values["reopen_window"] = timedelta(
                days=_number(env["OPSLEDGER_REOPEN_WINDOW_DAYS"], "OPSLEDGER_REOPEN_WINDOW_DAYS")
            )
        if env.get("OPSLEDGER_COMPLAINT_GROUP"):
            values["complaint_group"] = env["OPSLEDGER_COMPLAINT_GROUP"]
        if "OPSLEDGER_COMPLAINT_ASSIGNEE" in env:
            values["complaint_assignee"] = env["OPSLEDGER_COMPLAINT_ASSIGNEE"] or None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if settings.database_url is not None:
            postgres_env(settings.database_url)  # fail early, naming the variable
        return settings

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def backend(self) -> str:
        return "postgres" if self.database_url else "sqlite"

    @property
    def location(self) -> str:
        """Where the events live, for people (password hidden)."""
        if self.database_url:
            parts = urlsplit(self.database_url)
            host = parts.hostname or "localhost"
            port = f":{parts.port}" if parts.port else ""
            return f"postgresql://{parts.username or ''}@{host}{port}{parts.path}"
        return str(Path(self.db_path).resolve())


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(name, f"{text!r} is not a number") from None


def postgres_env(url: str) -> dict[str, str]:
    """eventsourcing's POSTGRES_* variables from a ``postgresql://user:pw@host:port/db`` URL.

    ``?schema=NAME`` selects a schema (tests use one per run).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise InputError(
            "OPSLEDGER_DATABASE_URL", "expected postgresql://user[:password]@host[:port]/database"
        )
    env = {
        "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
    }
    for item in parts.query.split("&"):
        key, _, value = item.partition("=")
        if key == "schema" and value:
            env["POSTGRES_SCHEMA"] = value
    return env


# -- helpers for the adapters' own settings (monitoring, email, JIRA) -------------------------

_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"0", "false", "no", "off", ""})


def parse_flag(name: str, value: object) -> bool:
    """A yes/no setting from JSON (a boolean) or the environment (``1``, ``yes``, ``off``...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InputError(name, f"{value!r} is not a yes or no")


def adapter_config(env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """An adapter's settings as JSON-native data: the file ``<prefix>CONFIG`` names, with
    ``<prefix>ENABLED`` over it; nothing configured is an empty object (a disabled adapter)."""
    data: dict[str, Any] = {}
    path = env.get(prefix + "CONFIG", "").strip()
    if path:
        data = read_json_config(Path(path), prefix + "CONFIG")
    if prefix + "ENABLED" in env:
        data["enabled"] = parse_flag(prefix + "ENABLED", env[prefix + "ENABLED"])
    return data


def read_json_config(path: Path, variable: str) -> dict[str, Any]:
    """The JSON object in an adapter's settings file; errors name the variable that named it."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(variable, f"cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise InputError(variable, f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError(variable, f"{path} must hold a JSON object")
    return data
