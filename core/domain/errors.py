"""One exception family, so that every edge (CLI, HTTP, Kafka) can map failures without guessing."""

from __future__ import annotations


class OpsledgerError(Exception):
    """Base of every error opsledger raises on purpose."""


class DomainError(OpsledgerError):
    """A command is not allowed in the ticket's current state; nothing was recorded."""

    def __init__(self, ticket: str, state: str, command: str, reason: str = "") -> None:
        self.ticket = ticket
        self.state = state
        self.command = command
        self.reason = reason
        text = f"{ticket}: cannot {command} while {state}"
        if reason:
            text += f" ({reason})"
        super().__init__(text)


class InputError(OpsledgerError):
    """A value supplied from outside is missing or malformed; names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFoundError(OpsledgerError):
    """A referenced ticket, configuration item or record does not exist."""

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key} not found")


class ConflictError(OpsledgerError):
    """Concurrent writers kept colliding, or an idempotency key was reused for another command."""
