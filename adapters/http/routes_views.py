"""``/api/v1`` reads over the read models (queue, KPIs, report), the audit tools, and tokens.

The read models are caught up before each answer, so a client reads its own writes; between
requests ``opsledger serve`` keeps them caught up in the background, so that is usually a
single query. No ``from __future__ import annotations``: FastAPI reads these at run time.
"""

import tempfile
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import StreamingResponse
from opsledger.adapters.http.auth import Permission, Principal
from opsledger.adapters.http.context import Api
from opsledger.adapters.http.errors import json_text, require_json, single_values
from opsledger.adapters.http.models import (
    CallbackItem,
    IssuedTokenInfo,
    KpisResult,
    NewToken,
    TokenInfo,
)
from opsledger.adapters.http.routes_tickets import audit_module
from opsledger.core.clock import parse_instant
from opsledger.core.domain.errors import InputError
from opsledger.projections import kpis as K
from opsledger.projections.report import ReportTargets, generate, month_before

_CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}
_EXPORT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
#: Exports are written to memory up to this size, then to a temporary file.
_SPOOL_BYTES = 8 * 1_048_576
Text = Annotated[str | None, Query(max_length=200)]
_INSTANT: dict[str, Any] = {
    "description": "ISO 8601 instant with an offset",
    "json_schema_extra": {"format": "date-time"},
}
Month = Annotated[
    str | None,
    Query(
        max_length=7, description="YYYY-MM", json_schema_extra={"pattern": r"^[0-9]{4}-[0-9]{2}$"}
    ),
]
Zone = Annotated[str, Query(max_length=64, description="IANA time zone of the month")]
Kinds = Annotated[
    str, Query(max_length=200, description="ticket kinds of the desk KPIs, comma-separated")
]


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds:
        raise InputError("kinds", "name at least one ticket kind")
    known = ("incident", "service_request", "problem", "change")
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise InputError("kinds", f"{unknown[0]!r} is not one of {', '.join(known)}")
    return kinds


def _month(label: str, tz: str) -> K.Window:
    """The month's window; one at the edge of the calendar (9999-12 has no next month to end
    at) is a 400 naming the field, not a failure deep in the date arithmetic."""
    try:
        return K.month(label, tz)
    except (ValueError, OverflowError):
        raise InputError("month", f"{label!r} is outside the months this can compute") from None


def views_router(api: Api) -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(single_values)])
    viewer = Depends(api.auth.require(Permission.VIEWS_READ))

    @router.get("/queue", tags=["views"], summary="open tickets by SLA due instant")
    def queue(
        principal: Annotated[Principal, viewer],
        group: Text = None,
        assignee: Text = None,
        unassigned: bool = False,
        on_hold: Annotated[str | None, Query(max_length=64, description="hold reason")] = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    ) -> list[dict[str, Any]]:
        api.projections.catch_up()
        entries = api.projections.work_queue(
            group=group, assignee=assignee, unassigned=unassigned, on_hold=on_hold
        )
        return entries[:limit] if limit is not None else entries

    @router.get(
        "/queue/callbacks", tags=["views"],
        summary="the satisfaction call-backs still owed, by due instant",
    )  # fmt: skip
    def callbacks(
        principal: Annotated[Principal, viewer],
        group: Text = None,
        as_of: Annotated[str | None, Query(max_length=64, **_INSTANT)] = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    ) -> list[CallbackItem]:
        now = parse_instant(as_of, "as_of") if as_of is not None else api.engine.clock.now()
        api.projections.catch_up()
        entries = api.projections.callbacks(now, group=group)
        return [CallbackItem(**e) for e in (entries[:limit] if limit is not None else entries)]

    @router.get("/kpis", tags=["views"], summary="every KPI of a month (docs/kpis.md)")
    def kpis(
        principal: Annotated[Principal, viewer],
        month: Month = None,
        service: Text = None,
        tz: Zone = "UTC",
        kinds: Kinds = "incident",
        group_by: Literal["service", "ci", "group", "priority"] | None = None,
    ) -> KpisResult:
        now = api.engine.clock.now()
        window = _month(month, tz) if month is not None else K.window_of(now, "month", tz)
        chosen = _kinds(kinds)
        api.projections.catch_up()
        facts = api.projections.facts()
        if service is not None:
            facts = [f for f in facts if f.get("service") == service]
        span = (window.start, window.end)
        total = K.kpis(facts, *span, kinds=chosen, as_of=now, label=window.label)
        groups = (
            K.kpis_by(facts, *span, group_by, kinds=chosen, as_of=now, label=window.label)
            if group_by is not None
            else {}
        )
        return KpisResult(
            month=window.label,
            tz=tz,
            service=service,
            kinds=list(chosen),
            as_of=now.isoformat(),
            total=total.to_dict(),
            group_by=group_by,
            groups={key: value.to_dict() for key, value in groups.items()},
        )

    @router.get(
        "/report",
        tags=["views"],
        summary="the monthly service quality report (docs/report.md)",
        response_class=Response,
        responses={200: {"content": {
            "text/html": {}, "text/markdown": {}, "application/json": {"schema": {}}}}},
    )  # fmt: skip
    def report(
        principal: Annotated[Principal, viewer],
        month: Month = None,
        format: Literal["html", "md", "json"] = "html",
        lang: Literal["en", "zh"] = "en",
        tz: Zone = "UTC",
        kinds: Kinds = "incident",
        months: Annotated[int, Query(ge=1, le=36, description="trend months")] = 6,
        target: Annotated[
            list[str] | None,
            Query(max_length=20, description="NAME=VALUE target override, e.g. response=95"),
        ] = None,
    ) -> Response:
        if month is None:
            month = month_before(K.window_of(api.engine.clock.now(), "month", tz).label, 1)
        _month(month, tz)
        document = generate(
            api.engine,
            month,
            fmt=format,
            lang=lang,
            tz=tz,
            kinds=_kinds(kinds),
            targets=ReportTargets.parse(target or []),
            trend_months=months,
        )
        return Response(document, media_type=_CONTENT_TYPES[format])

    auditor = Depends(api.auth.require(Permission.AUDIT_READ))
    not_built: dict[int | str, dict[str, Any]] = {
        501: {"description": "the audit tools are not part of this build"}
    }

    @router.get(
        "/audit/verify", tags=["audit"], responses=not_built,
        summary="walk the whole event log and prove its hash chain",
    )  # fmt: skip
    def audit_verify(principal: Annotated[Principal, auditor]) -> dict[str, Any]:
        report = audit_module().verify_store(api.engine)
        return dict(report.to_dict())

    @router.get(
        "/audit/export",
        tags=["audit"],
        summary="the events of [from, to) as JSON lines or CSV; the manifest in a header",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"application/x-ndjson": {}, "text/csv": {}},
                "headers": {"X-Opsledger-Manifest": {
                    "description": "the export's manifest (counts, first and last hash, chain "
                    "head) as JSON", "schema": {"type": "string"}}},
            },
            **not_built,
        },
    )  # fmt: skip
    def audit_export(
        principal: Annotated[Principal, auditor],
        start: Annotated[str, Query(alias="from", max_length=64, **_INSTANT)],
        end: Annotated[str, Query(alias="to", max_length=64, **_INSTANT)],
        format: Literal["jsonl", "csv"] = "jsonl",
    ) -> StreamingResponse:
        audit = audit_module()
        begin, until = parse_instant(start, "from"), parse_instant(end, "to")
        if until <= begin:
            raise InputError("to", "must be after from")
        # closed by the streaming below, once the response is sent (or here, on failure)
        out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, mode="w+b")  # noqa: SIM115
        try:
            manifest = audit.export_events(api.engine, begin, until, out, fmt=format)
        except BaseException:
            out.close()
            raise
        out.seek(0)

        def chunks() -> Iterator[bytes]:
            with out:
                while chunk := out.read(65_536):
                    yield chunk

        headers = {"X-Opsledger-Manifest": json_text(manifest.to_dict())}
        return StreamingResponse(chunks(), media_type=_EXPORT_TYPES[format], headers=headers)

    admin = Depends(api.auth.require(Permission.TOKENS_ADMIN))
    tokens = api.auth.tokens

    @router.get("/tokens", tags=["tokens"], summary="every API token (never the secrets)")
    def list_tokens(principal: Annotated[Principal, admin]) -> list[TokenInfo]:
        return [TokenInfo(**t.to_dict()) for t in tokens.tokens()]

    @router.post(
        "/tokens", tags=["tokens"], status_code=201, dependencies=[Depends(require_json)],
        summary="a new API token; its secret is in this answer only",
    )  # fmt: skip
    def create_token(body: NewToken, principal: Annotated[Principal, admin]) -> IssuedTokenInfo:
        issued = tokens.create(
            body.name, body.role, at=api.engine.clock.now(), created_by=principal.name
        )
        return IssuedTokenInfo(**issued.token.to_dict(), token=issued.secret)

    @router.delete("/tokens/{token_id}", tags=["tokens"], summary="revoke a token")
    def revoke_token(
        token_id: Annotated[int, Path(ge=1, le=2**62)],
        principal: Annotated[Principal, admin],
    ) -> TokenInfo:
        return TokenInfo(**tokens.revoke(token_id, at=api.engine.clock.now()).to_dict())

    return router
