"""The monitoring adapter's webhook receivers, mounted by the HTTP app under /hooks/monitoring.

``POST /alertmanager``, ``/grafana``, ``/v2/enqueue`` (PagerDuty Events v2) and ``/inbound``
(the generic event). Each checks its source's secrets, reads the body within the size limit,
parses and maps it, and submits the whole delivery as one batch; it answers 2xx only once
``bus.submit`` has returned (durable), 503 when the bus is unavailable. Every body refused
after authentication is set aside with the reason; unauthenticated bodies are not kept, so
that strangers cannot fill the store.

No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from opsledger.adapters.http.bodies import clip, decode_json, read_body
from opsledger.adapters.http.errors import ERROR_RESPONSES, ApiError, require_json
from opsledger.adapters.kafka.bus import BusUnavailable, CommandBus, Receipt
from opsledger.adapters.monitoring.auth import check_bearer, check_signature
from opsledger.adapters.monitoring.mapping import commands_for
from opsledger.adapters.monitoring.settings import MonitoringSettings
from opsledger.core.commands import IngestInbound
from opsledger.core.domain.errors import InputError
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)
#: path under /hooks/monitoring -> the receiver (and source) it is
ROUTES = {
    "/alertmanager": "alertmanager",
    "/grafana": "grafana",
    "/v2/enqueue": "pagerduty",
    "/inbound": "inbound",
}


class MonitoringAdapter:
    """The ``monitoring`` adapter: receivers only (``routes``), nothing to poll."""

    name = "monitoring"

    def __init__(self, settings: MonitoringSettings) -> None:
        self.settings = settings
        self.max_body_bytes = settings.max_body_bytes
        self._bus: CommandBus | None = None
        self.routes = APIRouter()
        for path, kind in ROUTES.items():
            self.routes.add_api_route(
                path,
                self._endpoint(kind),
                methods=["POST"],
                name=f"monitoring_{kind}",
                summary=f"{kind} deliveries (docs/monitoring.md)",
                responses=ERROR_RESPONSES,
            )

    def start(self, bus: CommandBus) -> None:
        """Remember the bus for receivers mounted in an app without one of its own."""
        self._bus = bus

    def stop(self) -> None:
        self._bus = None

    def _endpoint(self, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def receive(request: Request) -> Response:
            return await self.receive(kind, request)

        receive.__name__ = f"receive_{kind}"
        return receive

    async def receive(self, kind: str, request: Request) -> Response:
        """One delivery of receiver ``kind``, from credentials to the durable answer."""
        auth = self.settings.auth(kind)
        bus = self._bus_of(request)
        check_bearer(auth, request.headers, kind)
        body = await self._body(kind, request, keep=not auth.hmac_secret, bus=bus)
        check_signature(auth, request.headers, body)
        try:
            require_json(request)
            commands = commands_for(kind, decode_json(body), self.settings)
        except ApiError as error:
            await self._set_aside(bus, kind, body, error.message, error.field, error.status)
            raise
        except InputError as error:
            field, message = clip(error.field), clip(error.message)
            await self._set_aside(bus, kind, body, message, field, 400)
            raise ApiError(400, "invalid_input", message, field=field) from None
        receipts = await run_in_threadpool(_submit, bus, commands) if commands else []
        log.info(
            "monitoring delivery accepted",
            extra={"source": kind, "commands": len(commands), "refused": _refused(receipts)},
        )
        if kind == "pagerduty":
            return _pagerduty_answer(commands[0], receipts[0])
        return _group_answer(commands, receipts)

    def _bus_of(self, request: Request) -> CommandBus:
        bus = getattr(request.app.state, "bus", None) or self._bus
        if bus is None:
            raise BusUnavailable("the monitoring adapter has no command bus yet")
        return bus

    async def _body(self, kind: str, request: Request, *, keep: bool, bus: CommandBus) -> bytes:
        """The body, within the app's limit for these routes. Over it: 413, and the first
        bytes kept with the refusal when the sender was already authenticated (a bearer
        token; an HMAC cannot be checked without the whole body)."""
        body, oversized = await read_body(request)
        if oversized:
            message = f"request body over {self.max_body_bytes:,} bytes"
            if keep:
                await self._set_aside(
                    bus, kind, body, message + " (kept: what arrived before it)", "body", 413
                )
            raise ApiError(413, "too_large", message, field="body")
        return body

    async def _set_aside(
        self, bus: CommandBus, kind: str, body: bytes, reason: str, field: str | None, status: int
    ) -> None:
        log.warning(
            "monitoring delivery refused",
            extra={"source": kind, "status": status, "field": field, "reason": reason},
        )
        await run_in_threadpool(
            bus.set_aside, source=f"monitoring:{kind}", body=body, reason=reason, field=field
        )


def _submit(bus: CommandBus, commands: Sequence[IngestInbound]) -> list[Receipt]:
    """One delivery, one batch (one transaction embedded). Kafka keys each command by its
    correlation (``source:external_id``, ``partition_key``) unless they all share one."""
    keys = {f"{c.source}:{c.external_id}" for c in commands}
    key = next(iter(keys)) if len(keys) == 1 else None
    return bus.submit(commands, key=key)


def _refused(receipts: Sequence[Receipt]) -> int:
    return sum(1 for r in receipts if r.error is not None)


def _group_answer(commands: Sequence[IngestInbound], receipts: Sequence[Receipt]) -> Response:
    results: list[dict[str, Any]] = []
    for command, receipt in zip(commands, receipts, strict=True):
        outcome = receipt.outcome
        item: dict[str, Any] = {"external_id": command.external_id, "state": command.state}
        if outcome is not None:
            item |= {"number": outcome.number, "duplicate": outcome.duplicate}
        if receipt.error is not None:
            item["error"] = clip(receipt.error)
        results.append(item)
    queued = any(r.outcome is None and r.error is None for r in receipts)
    body = {
        "received": len(commands),
        "recorded": sum(1 for r in receipts if r.outcome and not r.outcome.duplicate),
        "duplicates": sum(1 for r in receipts if r.outcome and r.outcome.duplicate),
        "refused": _refused(receipts),
        "queued": queued,
        "results": results,
    }
    return JSONResponse(body, status_code=202 if queued else 200)


def _pagerduty_answer(command: IngestInbound, receipt: Receipt) -> Response:
    """PagerDuty's own answer, so that a PagerDuty client needs no change. A refused event
    (acknowledging an unknown key) is set aside by the bus, as PagerDuty too accepts it."""
    body = {"status": "success", "message": "Event processed", "dedup_key": command.external_id}
    return JSONResponse(body, status_code=202)
