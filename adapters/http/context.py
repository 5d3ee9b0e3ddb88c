"""What every route of the app shares: the engine, the bus, the read models, the gate, auth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Response
from opsledger.adapters.http.auth import Auth
from opsledger.adapters.http.errors import ApiError
from opsledger.adapters.http.models import WriteResult
from opsledger.adapters.http.runtime import Gate, LockedBus
from opsledger.core.commands import Command
from opsledger.core.domain.errors import OpsledgerError
from opsledger.projections.service import Projections

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

#: Longest Idempotency-Key header accepted.
KEY_LIMIT = 200


@dataclass(slots=True)
class Api:
    engine: Engine
    bus: LockedBus
    projections: Projections
    gate: Gate
    auth: Auth

    def write(self, command: Command, response: Response, *, opens: bool = False) -> WriteResult:
        """Submit one command through the bus, as every adapter does, and say what it did.

        201 for a record opened, 200 for a step or a duplicate (``Idempotent-Replayed``), 202
        when the bus only queued it (Kafka: the worker records it). A refused command raises
        its own error, which the handlers turn into 400/404/409.
        """
        receipt = self.bus.submit([command])[0]
        if receipt.error is not None:
            error = receipt.exception
            if isinstance(error, OpsledgerError):
                raise error
            if error is not None:
                raise error  # a bug in a handler: 500, logged with its traceback
            raise ApiError(409, "refused", receipt.error)
        if receipt.outcome is None:
            response.status_code = 202
            return WriteResult(queued=True, message_id=receipt.message_id, duplicate=False)
        outcome = receipt.outcome
        response.status_code = 201 if opens and not outcome.duplicate else 200
        if outcome.duplicate:
            response.headers["Idempotent-Replayed"] = "true"
        if opens:
            response.headers["Location"] = f"/api/v1/tickets/{outcome.number}"
        return WriteResult(
            number=outcome.number,
            version=outcome.version,
            events=outcome.events,
            duplicate=outcome.duplicate,
            message_id=receipt.message_id,
        )


def idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: absent, or a non-blank text."""
    if value is None:
        return None
    if not value.strip():
        raise ApiError(400, "invalid_input", "must not be blank", field="Idempotency-Key")
    if len(value) > KEY_LIMIT:
        raise ApiError(
            400, "invalid_input", f"longer than {KEY_LIMIT} characters", field="Idempotency-Key"
        )
    return value
