"""API tokens: random secrets shown once, kept only as their SHA-256, in a table beside the events.

A token carries one role (see ``auth.py`` for what each may do). The secret is printed when the
token is created and never again; the store keeps its hash and the first characters as a hint
so that people can tell their tokens apart in ``opsledger api-token list``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from opsledger.core.clock import ensure_utc
from opsledger.core.domain.errors import ConflictError, InputError, NotFoundError
from opsledger.plugins.deadletters import SideTables

#: Every secret starts with this, so a leaked one is recognisable (secret scanners, logs).
PREFIX = "olt_"
#: Characters of the secret kept as a hint: the prefix and four random ones.
HINT_LENGTH = len(PREFIX) + 4
NAME_LIMIT = 100
#: Anything longer than any secret this store issues is refused before hashing.
SECRET_LIMIT = 200


class Role(StrEnum):
    """What a token may do; the permissions of each are in ``auth.ROLE_PERMISSIONS``."""

    AGENT = "agent"
    INTEGRATION = "integration"
    AUDITOR = "auditor"
    ADMIN = "admin"


def parse_role(value: object) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InputError("role", f"{value!r} is not one of {allowed}") from None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS opsledger_api_tokens (
    id {id},
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
)
"""
_COLUMNS = "id, name, role, token_hash, hint, created_at, created_by, revoked_at"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One token as stored: never the secret."""

    id: int
    name: str
    role: Role
    hint: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "hint": self.hint + "…",
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created, with its secret: the only time the secret is known."""

    token: ApiToken
    secret: str


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError("name", "must be a non-empty string")
    if value != value.strip():
        raise InputError("name", "must not start or end with spaces")
    if len(value) > NAME_LIMIT:
        raise InputError("name", f"longer than {NAME_LIMIT} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise InputError("name", "must not contain control characters")
    return value


class TokenStore(SideTables):
    """The ``opsledger_api_tokens`` table (see :class:`SideTables` for opening it)."""

    SCHEMA = _SCHEMA

    def create(
        self, name: str, role: Role | str, *, at: datetime, created_by: str = ""
    ) -> IssuedToken:
        """A new token; its secret is in the answer and nowhere else.

        Names are unique among active tokens (a revoked token's name may be used again).
        """
        name, role = _name(name), parse_role(role)
        at = ensure_utc(at, "at")
        if any(t.name == name for t in self.tokens(include_revoked=False)):
            raise ConflictError(f"an active token is already named {name!r}; revoke it first")
        secret = PREFIX + secrets.token_urlsafe(32)
        rows = self._run(
            "INSERT INTO opsledger_api_tokens"
            " (name, role, token_hash, hint, created_at, created_by)"
            f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            (name, role.value, token_hash(secret), secret[:HINT_LENGTH], at.isoformat(),
             created_by),
        )  # fmt: skip
        return IssuedToken(_token(rows[0]), secret)

    def tokens(self, *, include_revoked: bool = True) -> list[ApiToken]:
        """Tokens, oldest first."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self._run(f"SELECT {_COLUMNS} FROM opsledger_api_tokens{where} ORDER BY id")
        return [_token(row) for row in rows]

    def get(self, which: str | int) -> ApiToken:
        """By id (a whole number), else the active token of that name."""
        text = str(which).strip()
        if text.isdigit():
            rows = self._run(
                f"SELECT {_COLUMNS} FROM opsledger_api_tokens WHERE id = ?", (int(text),)
            )
        else:
            rows = self._run(
                f"SELECT {_COLUMNS} FROM opsledger_api_tokens"
                " WHERE name = ? AND revoked_at IS NULL",
                (text,),
            )
        if not rows:
            raise NotFoundError("api token", text)
        return _token(rows[0])

    def revoke(self, which: str | int, *, at: datetime) -> ApiToken:
        """Refuse the token from now on; revoking a revoked token changes nothing."""
        token = self.get(which)
        if token.active:
            self._run(
                "UPDATE opsledger_api_tokens SET revoked_at = ?"
                " WHERE id = ? AND revoked_at IS NULL",
                (ensure_utc(at, "at").isoformat(), token.id),
            )
            token = self.get(token.id)
        return token

    def authenticate(self, secret: str) -> ApiToken | None:
        """The active token with this secret, or None.

        The lookup is by the secret's SHA-256, so how long it takes tells nothing about the
        secret; the stored and presented hashes are then compared in constant time as well.
        """
        if not secret.startswith(PREFIX) or len(secret) > SECRET_LIMIT:
            return None
        digest = token_hash(secret)
        rows = self._run(
            f"SELECT {_COLUMNS} FROM opsledger_api_tokens"
            " WHERE token_hash = ? AND revoked_at IS NULL",
            (digest,),
        )
        if not rows or not hmac.compare_digest(str(rows[0][3]), digest):
            return None
        return _token(rows[0])


def _token(row: tuple[Any, ...]) -> ApiToken:
    return ApiToken(
        id=int(row[0]),
        name=row[1],
        role=Role(row[2]),
        hint=row[4],
        created_at=datetime.fromisoformat(row[5]),
        created_by=row[6],
        revoked_at=datetime.fromisoformat(row[7]) if row[7] else None,
    )
