"""The dashboard: work queues, KPI charts and ticket pages, server-rendered HTML on FastAPI.

``dashboard_router`` is what the HTTP app includes (at any prefix: every link is built from
the route names). Each page reads the read models through ``Projections`` (caught up first)
and the tickets through the ``Engine``; "now" is always the engine's clock, so a test with a
``FixedClock`` sees the same countdowns every time. See docs/dashboard.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from opsledger.adapters.http.dashboard_html import error_body, page
from opsledger.adapters.http.dashboard_kpis import TREND_MONTHS, build_view, render_kpis
from opsledger.adapters.http.dashboard_queue import queue_rows, render_queue
from opsledger.adapters.http.dashboard_ticket import clock_pictures, render_ticket, timeline
from opsledger.core.domain.errors import InputError, NotFoundError
from opsledger.core.domain.records import RecordKind, parse_number
from opsledger.core.domain.ticket import Ticket
from opsledger.projections import kpis as K

if TYPE_CHECKING:
    from opsledger.core.engine import Engine
    from opsledger.projections.service import Projections

log = logging.getLogger(__name__)

#: The route names, for ``url_path_for`` (and for an app that links to the dashboard).
HOME, QUEUES, KPIS, TICKET = (
    "dashboard_home",
    "dashboard_queues",
    "dashboard_kpis",
    "dashboard_ticket",
)
#: Query strings longer than this are not a group, assignee or service anyone has.
MAX_PARAM = 200


def _path(request: Request, name: str, **params: str) -> str:
    """A link to another page, under whatever prefix and root path the router is served."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root + str(request.app.url_path_for(name, **params))


def _param(value: str | None, name: str) -> str | None:
    """An optional query parameter: empty means absent; an absurd length is an input error."""
    if value is None or not value.strip():
        return None
    if len(value) > MAX_PARAM:
        raise InputError(name, f"longer than {MAX_PARAM} characters")
    return value.strip()


def _months(value: str | None) -> int:
    if value is None or not value.strip():
        return TREND_MONTHS
    try:
        return int(value)
    except ValueError:
        raise InputError("months", f"{value!r} is not a whole number") from None


def dashboard_router(
    *, engine: Engine, projections: Projections, dependencies: Sequence[Any] = ()
) -> APIRouter:
    """The dashboard's pages; ``dependencies`` (e.g. authentication) guard every one of them."""
    router = APIRouter(dependencies=list(dependencies), include_in_schema=False)
    catching_up = threading.Lock()

    def fresh() -> None:
        """Bring the read models up to the log's end, so a page shows the latest event."""
        with catching_up:
            try:
                projections.catch_up()
            except IntegrityError:  # another process applied the same events first: fresh too
                log.debug("dashboard catch-up raced another worker", exc_info=True)

    def respond(
        request: Request, title: str, current: str, build: Callable[[datetime], str]
    ) -> HTMLResponse:
        """The page ``build`` writes as of the engine's now; 404 and 400 pages for its errors."""
        now = engine.clock.now()
        nav = {"Queues": _path(request, QUEUES), "KPIs": _path(request, KPIS)}
        status = 200
        try:
            body = build(now)
        except NotFoundError as exc:
            status, title, body = 404, "Not found", error_body(404, "Not found", str(exc))
        except InputError as exc:
            status, title = 400, "Bad request"
            body = error_body(400, "Bad request", str(exc))
        html = page(title, body, now=now, nav=nav, current=current, script="data-open=" in body)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def queues(
        request: Request, group: str | None = None, assignee: str | None = None
    ) -> HTMLResponse:
        def build(now: datetime) -> str:
            chosen_group, chosen_assignee = _param(group, "group"), _param(assignee, "assignee")
            fresh()
            everything = projections.work_queue()
            entries = projections.work_queue(group=chosen_group, assignee=chosen_assignee)
            return render_queue(
                queue_rows(engine, entries, now),
                now=now,
                groups=sorted({e["group"] for e in everything if e["group"]}),
                assignees=sorted({e["assignee"] for e in everything if e["assignee"]}),
                group=chosen_group,
                assignee=chosen_assignee,
                reset=_path(request, QUEUES),
                link=lambda number: _path(request, TICKET, number=number),
            )

        return respond(request, "Work queues", "Queues", build)

    router.add_api_route("/", queues, name=HOME, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(
        "/queues", queues, name=QUEUES, methods=["GET"], response_class=HTMLResponse
    )

    @router.get("/kpis", name=KPIS, response_class=HTMLResponse)
    def kpis(
        request: Request,
        month: str | None = None,
        service: str | None = None,
        tz: str | None = None,
        months: str | None = None,
    ) -> HTMLResponse:
        def build(now: datetime) -> str:
            zone = _param(tz, "tz") or "UTC"
            label = _param(month, "month") or K.window_of(now, "month", zone).label
            chosen = _param(service, "service")
            trend = _months(months)
            fresh()
            view = build_view(
                projections.facts(), label, tz=zone, service=chosen, months=trend, as_of=now
            )
            return render_kpis(view, action=_path(request, KPIS))

        return respond(request, "KPIs", "KPIs", build)

    @router.get("/tickets/{number}", name=TICKET, response_class=HTMLResponse)
    def ticket(request: Request, number: str) -> HTMLResponse:
        def build(now: datetime) -> str:
            try:
                record = engine.record(number)
            except InputError:
                raise NotFoundError("ticket", number[:MAX_PARAM]) from None
            if not isinstance(record, Ticket):
                raise NotFoundError("ticket", record.number)  # a CI: no ticket page
            source, entries = timeline(engine, record.number)

            def link(target: str) -> str | None:
                try:
                    kind, _ = parse_number(target)
                except InputError:
                    return None
                if kind is RecordKind.CONFIGURATION_ITEM:
                    return None
                return _path(request, TICKET, number=target)

            return render_ticket(
                record.as_dict(),
                clock_pictures(engine, record, now),
                entries,
                source=source,
                link=link,
            )

        return respond(request, f"Ticket {number[:MAX_PARAM]}", "", build)

    return router
