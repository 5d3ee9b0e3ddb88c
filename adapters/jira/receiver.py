"""The JIRA webhook receiver, mounted by the HTTP app at ``/hooks/jira/{site}``.

Authenticated by the site's shared secret in the URL (``?secret=``, what JIRA Server's and
Cloud's admin webhooks can carry) and/or an HMAC-SHA256 of the body (``X-Hub-Signature``,
JIRA Cloud's signed webhooks), both in constant time. A delivery answered 2xx is durable:
its command is on the bus (Kafka acknowledged, or recorded embedded); a bad one is set
aside with the reason and answered 400 naming the field.

No ``from __future__ import annotations``: FastAPI reads the endpoint's annotations at run time.
"""

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from opsledger.adapters.http.bodies import clip, decode_json, read_body
from opsledger.adapters.http.errors import ERROR_RESPONSES, ApiError, require_json
from opsledger.adapters.jira.inbound import command_for
from opsledger.adapters.jira.settings import JiraSettings, Site
from opsledger.adapters.jira.webhooks import COMMENT_EVENTS, parse_webhook
from opsledger.adapters.kafka.bus import BusUnavailable, CommandBus
from opsledger.adapters.monitoring.auth import check_secret, check_signature
from opsledger.adapters.monitoring.settings import SourceAuth
from opsledger.core.domain.errors import InputError
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "x-hub-signature"


class JiraReceiver:
    """Routes for every configured site; the bus comes from the app or from ``start``."""

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings
        self.bus: CommandBus | None = None
        self.routes = APIRouter()
        self.routes.add_api_route(
            "/{site}",
            self.receive,
            methods=["POST"],
            name="jira_webhook",
            summary="JIRA webhooks of one configured site (docs/jira.md)",
            responses=ERROR_RESPONSES,
        )

    async def receive(self, site: str, request: Request) -> Response:
        found = self.settings.sites.get(site)
        if found is None:
            raise ApiError(404, "not_found", f"no JIRA site {clip(site)!r} is configured")
        bus = getattr(request.app.state, "bus", None) or self.bus
        if bus is None:
            raise BusUnavailable("the JIRA adapter has no command bus yet")
        if found.webhook_secret:
            check_secret(found.webhook_secret, request.query_params.get("secret"), "secret")
        body, oversized = await read_body(request)
        check_signature(
            SourceAuth(hmac_secret=found.hmac_secret),
            request.headers,
            body,
            header=SIGNATURE_HEADER,
        )
        if oversized:
            await self._set_aside(bus, found, body, "request body over the limit", "body")
            raise ApiError(413, "too_large", "request body over the limit", field="body")
        try:
            require_json(request)
            payload = decode_json(body)
            if _stripped_comment(payload):
                return JSONResponse({"received": 1, "applied": 0, "ignored": "no issue"})
            command = command_for(parse_webhook(payload), found, self.settings)
        except ApiError as error:
            await self._set_aside(bus, found, body, error.message, error.field)
            raise
        except InputError as error:
            field, message = clip(error.field), clip(error.message)
            await self._set_aside(bus, found, body, message, field)
            raise ApiError(400, "invalid_input", message, field=field) from None
        if command is None:
            return JSONResponse({"received": 1, "applied": 0})
        [receipt] = await run_in_threadpool(bus.submit, [command], key=command.reference)
        answer: dict[str, Any] = {"received": 1, "applied": 1 if receipt.error is None else 0}
        if receipt.outcome is not None:
            answer |= {"number": receipt.outcome.number, "duplicate": receipt.outcome.duplicate}
        if receipt.error is not None:
            answer["error"] = clip(receipt.error)
        return JSONResponse(answer, status_code=200 if receipt.outcome or receipt.error else 202)

    async def _set_aside(
        self, bus: CommandBus, site: Site, body: bytes, reason: str, field: str | None
    ) -> None:
        log.warning("JIRA webhook refused", extra={"site": site.name, "field": field})
        await run_in_threadpool(
            bus.set_aside, source=f"jira:{site.name}", body=body, reason=reason, field=field
        )


def _stripped_comment(payload: object) -> bool:
    """JIRA Server's ``comment_*`` events carry no issue; the same comment comes complete in
    ``jira:issue_updated``, so these are acknowledged and dropped rather than refused."""
    if not isinstance(payload, dict):
        return False
    event = payload.get("webhookEvent")
    return isinstance(event, str) and event in COMMENT_EVENTS and payload.get("issue") is None
