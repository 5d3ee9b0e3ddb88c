"""``/api/v1`` tickets: open them, act on them, link them, read them now or as of an instant.

Every write becomes a command (core/commands.py) submitted through the bus, the path every
adapter takes; the generic inbound event is here too, for integrations.

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at run
time, and some name dependencies built inside the router factory.
"""

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from opsledger.adapters.http.auth import Permission, Principal
from opsledger.adapters.http.context import Api, idempotency_key
from opsledger.adapters.http.errors import ApiError, require_json, single_values
from opsledger.adapters.http.models import (
    CHANGE_FIELDS,
    ClockItem,
    HistoryItem,
    InboundEvent,
    LinkBody,
    SlaStatus,
    WriteResult,
    body_fields,
    command_body,
)
from opsledger.core import commands as c
from opsledger.core.clock import parse_instant
from opsledger.core.commands import Command, command_from_dict
from opsledger.core.domain.records import normalise_number
from opsledger.core.inbound import inbound_command
from pydantic import BaseModel

#: ``POST /api/v1/{path}``: the kind each opens.
OPENS: dict[str, tuple[str, str]] = {
    "incidents": ("incident", "OpenIncident"),
    "requests": ("service_request", "OpenRequest"),
    "problems": ("problem", "OpenProblem"),
    "changes": ("change", "OpenChange"),
}
#: ``POST /api/v1/tickets/{number}/{action}``: the command each builds, and what it does.
ACTIONS: dict[str, tuple[type[Command], str]] = {
    "assign": (c.AssignTicket, "give the ticket to a group (and a person)"),
    "acknowledge": (c.AcknowledgeTicket, "take ownership (the first stops the response clock)"),
    "comment": (c.AddComment, "a public comment, or an internal work note (public: false)"),
    "reply": (c.RecordCustomerReply, "the customer's reply (resumes a ticket awaiting them)"),
    "hold": (c.HoldTicket, "put on hold, awaiting the customer, a vendor or a change"),
    "resume": (c.ResumeTicket, "resume work after a hold"),
    "escalate": (c.EscalateTicket, "to the next tier's group, or to management"),
    "priority": (c.ChangePriority, "re-rate impact and urgency (priority follows the matrix)"),
    "resolve": (c.ResolveTicket, "resolve with a code"),
    "close": (c.CloseTicket, "close a resolved ticket"),
    "reopen": (c.ReopenTicket, "reopen a resolved ticket within the reopen window"),
    "cancel": (c.CancelTicket, "cancel an open ticket"),
    "major": (c.DeclareMajorIncident, "declare a major incident"),
    "major-clear": (c.ClearMajorIncident, "a major incident is major no longer"),
    "satisfaction": (c.RecordSatisfaction, "the customer's survey score"),
    "complaint": (c.RecordComplaint, "a complaint against the ticket"),
    "callback": (
        c.RecordCallback,
        "the satisfaction call-back's outcome: reached, a 1-5 score (reached only), a comment, "
        "a complaint (it, or a score of 1-2, opens a complaint ticket linked to this one)",
    ),
    "external-reference": (c.RecordExternalReference, "the ticket's id in another system"),
    "root-cause": (c.RecordRootCause, "a problem's root cause"),
    "known-error": (c.RecordKnownError, "a problem becomes a known error"),
    "submit": (c.SubmitChangeForApproval, "submit a change to CAB"),
    "approve": (c.ApproveChange, "CAB approves a change"),
    "reject": (c.RejectChange, "CAB rejects a change"),
    "implement": (c.StartChangeImplementation, "start implementing a change"),
    "complete": (c.CompleteChangeImplementation, "finish implementing a change"),
    "review": (c.ReviewChange, "post-implementation review"),
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="a retry with the same key records nothing and answers the first outcome",
    ),
]
#: What ``parse_number`` accepts, for the description (the domain checks it, naming the field).
NUMBER_PATTERN = (
    r"^\s*([Ii][Nn][Cc]|[Rr][Ee][Qq]|[Pp][Rr][Bb]|[Cc][Hh][Gg]|[Cc][Ii])-0*[0-9]{1,18}\s*$"
)
TicketNumber = Annotated[
    str,
    Path(
        max_length=64,
        description="a ticket number: INC-000042, or inc-42",
        json_schema_extra={"pattern": NUMBER_PATTERN},
    ),
]
AsOf = Annotated[
    str | None,
    Query(
        max_length=64,
        description="ISO 8601 instant with an offset",
        json_schema_extra={"format": "date-time"},
    ),
]
#: A write answers 201 (opened), 200 (a step, or a duplicate) or 202 (queued for the worker).
WRITES: dict[int | str, dict[str, Any]] = {
    200: {"model": WriteResult, "description": "recorded, or a duplicate of an earlier request"},
    201: {"model": WriteResult, "description": "opened"},
    202: {"model": WriteResult, "description": "queued on the commands topic for the worker"},
}


def _with_body(
    endpoint: Callable[..., Any], model: type[BaseModel], required: bool
) -> Callable[..., Any]:
    """Give ``endpoint``'s ``body`` parameter its model (built at run time, so not spelled in
    the source), required or optional."""
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(
            annotation=model if required else model | None,
            default=inspect.Parameter.empty if required else None,
        )
        if p.name == "body"
        else p
        for p in signature.parameters.values()
    ]
    endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return endpoint


def _data(body: BaseModel | None, principal: Principal) -> dict[str, Any]:
    """The command's fields from a body: only those sent, as JSON; the actor defaults to the
    token's name."""
    data = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}
    data["actor"] = data.get("actor") or principal.name
    return data


def tickets_router(api: Api) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["tickets"], dependencies=[Depends(single_values)])
    writer = Depends(api.auth.require(Permission.TICKETS_WRITE))
    reader = Depends(api.auth.require(Permission.TICKETS_READ))
    json_body = [Depends(require_json)]

    for path, (kind, name) in OPENS.items():
        omit = () if kind == "change" else CHANGE_FIELDS
        model = command_body(c.OpenTicket, name, omit=omit, doc=f"Open a {kind}.")
        _open_route(router, api, path, kind, model, writer, json_body)

    for action, (command, summary) in ACTIONS.items():
        _action_route(router, api, action, command, summary, writer, json_body)

    @router.post(
        "/links", summary="link two records (the inverse link is recorded on the target)",
        dependencies=json_body, status_code=200, responses=WRITES,
    )  # fmt: skip
    def link(
        body: LinkBody,
        response: Response,
        principal: Annotated[Principal, writer],
        key: IdempotencyKey = None,
    ) -> WriteResult:
        data = _data(body, principal) | {"idempotency_key": idempotency_key(key)}
        return api.write(command_from_dict("LinkRecords", data), response)

    @router.get("/tickets/{number}", summary="a ticket or CI, now or as it was")
    def show(
        number: TicketNumber,
        principal: Annotated[Principal, reader],
        as_of: AsOf = None,
        version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    ) -> dict[str, Any]:
        if as_of is not None and version is not None:
            raise ApiError(400, "invalid_input", "give as_of or version, not both", field="as_of")
        if as_of is not None:
            return api.engine.get_as_of(number, at=parse_instant(as_of, "as_of"))
        if version is not None:
            return api.engine.get_as_of(number, version=version)
        return api.engine.get(number)

    @router.get("/tickets/{number}/history", summary="every recorded event, oldest first")
    def history(number: TicketNumber, principal: Annotated[Principal, reader]) -> list[HistoryItem]:
        return [HistoryItem(**e.to_dict()) for e in api.engine.history(number)]

    @router.get("/tickets/{number}/sla", summary="each SLA clock as of an instant (default now)")
    def sla(
        number: TicketNumber, principal: Annotated[Principal, reader], as_of: AsOf = None
    ) -> SlaStatus:
        at = parse_instant(as_of, "as_of") if as_of is not None else api.engine.clock.now()
        clocks = [ClockItem(**status.to_dict()) for status in api.engine.sla_status(number, at)]
        return SlaStatus(number=normalise_number(number), as_of=at.isoformat(), clocks=clocks)

    @router.get(
        "/tickets/{number}/timeline",
        summary="every event of the ticket with who, when and why (the audit tools)",
        responses={501: {"description": "the audit tools are not in this build"}},
    )
    def timeline(
        number: TicketNumber, principal: Annotated[Principal, reader]
    ) -> list[dict[str, Any]]:
        entries = audit_module().timeline(api.engine, number)
        return [_plain(e) for e in entries]

    @router.post(
        "/inbound",
        tags=["integrations"],
        summary="the generic inbound event (docs/inbound.md): open, acknowledge, resolve, update",
        dependencies=json_body,
        responses=WRITES,
    )
    def inbound(
        body: InboundEvent,  # type: ignore[valid-type]
        response: Response,
        principal: Annotated[Principal, Depends(api.auth.require(Permission.INBOUND_WRITE))],
        key: IdempotencyKey = None,
    ) -> WriteResult:
        payload = body.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]
        command = inbound_command(payload, idempotency_key=idempotency_key(key))
        return api.write(command, response)

    return router


def _open_route(
    router: APIRouter,
    api: Api,
    path: str,
    kind: str,
    model: type[BaseModel],
    writer: Any,
    dependencies: list[Any],
) -> None:
    def open_ticket(
        *,
        body: Any,
        response: Response,
        principal: Annotated[Principal, writer],
        key: IdempotencyKey = None,
    ) -> WriteResult:
        data = _data(body, principal) | {"kind": kind, "idempotency_key": idempotency_key(key)}
        return api.write(command_from_dict("OpenTicket", data), response, opens=True)

    open_ticket.__name__ = f"open_{kind}"
    router.add_api_route(
        f"/{path}",
        _with_body(open_ticket, model, required=True),
        methods=["POST"],
        status_code=201,
        responses=WRITES,
        summary=f"open a {kind.replace('_', ' ')}; answers its number",
        dependencies=dependencies,
        response_model=WriteResult,
    )


def _action_route(
    router: APIRouter,
    api: Api,
    action: str,
    command: type[Command],
    summary: str,
    writer: Any,
    dependencies: list[Any],
) -> None:
    model = command_body(command, command.__name__, doc=summary[0].upper() + summary[1:] + ".")
    name = command.__name__

    def act(
        *,
        number: TicketNumber,
        body: Any,
        response: Response,
        principal: Annotated[Principal, writer],
        key: IdempotencyKey = None,
    ) -> WriteResult:
        data = _data(body, principal) | {"ticket": number, "idempotency_key": idempotency_key(key)}
        return api.write(command_from_dict(name, data), response)

    act.__name__ = action.replace("-", "_")
    router.add_api_route(
        f"/tickets/{{number}}/{action}",
        _with_body(act, model, required=body_fields(model)),
        methods=["POST"],
        responses=WRITES,
        summary=summary,
        dependencies=dependencies,
        response_model=WriteResult,
    )


def audit_module() -> ModuleType:
    """``opsledger.core.audit``, or 501 while this build has no audit tools."""
    try:
        return importlib.import_module("opsledger.core.audit")
    except ModuleNotFoundError as error:
        if error.name not in ("opsledger.core.audit", "opsledger.core"):
            raise
        raise ApiError(
            501, "not_implemented",
            "the audit tools (opsledger.core.audit) are not part of this build yet",
        ) from None  # fmt: skip


def _plain(value: Any) -> dict[str, Any]:
    """An audit result as JSON: its ``to_dict()``, else its dataclass fields."""
    if hasattr(value, "to_dict"):
        return dict(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return dict(value)
