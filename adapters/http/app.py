"""The HTTP app: one ASGI application for the API, the dashboard and adapters' receivers.

``create_app(engine)`` answers a FastAPI app: the versioned JSON API under ``/api/v1``
(docs/http.md), ``/healthz``, ``/login`` for browsers, the dashboard at ``/`` when that module
is present, and ``/hooks/{adapter}`` for the routes adapters bring (:func:`mount_adapters`).
Writes go through a command bus, like every adapter's; see ``runtime.py`` for how one engine
serves a thread pool.
"""

from __future__ import annotations

import importlib
import logging
import re
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from opsledger.adapters.http.auth import Auth, Permission
from opsledger.adapters.http.context import Api
from opsledger.adapters.http.errors import (
    ERROR_RESPONSES,
    MAX_BODY_BYTES,
    ApiError,
    BodyLimit,
    ErrorBody,
    install_error_handlers,
)
from opsledger.adapters.http.login import login_redirect, login_router
from opsledger.adapters.http.models import Health
from opsledger.adapters.http.routes_tickets import tickets_router
from opsledger.adapters.http.routes_views import views_router
from opsledger.adapters.http.runtime import Gate, LockedBus, SerializedProjections
from opsledger.adapters.http.tokens import TokenStore
from opsledger.adapters.kafka.bus import CommandBus, LocalBus
from opsledger.plugins.adapters import Adapter
from opsledger.projections.service import Projections
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

log = logging.getLogger(__name__)
API_VERSION = "1"
DESCRIPTION = """Open tickets and act on them, read them as they were at any instant, work
queues, KPIs, the monthly report and the audit tools of an opsledger event store.

Authenticate with an API token (`opsledger api-token create --name N --role R`) as
`Authorization: Bearer <token>`. Errors answer `{"error": {"code", "message", "field"}}`.
See docs/http.md for the roles and every error code."""
#: Adapter names become a path segment: ``/hooks/{name}``.
_HOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def create_app(
    engine: Engine,
    *,
    bus: CommandBus | None = None,
    tokens: TokenStore | None = None,
    projections: Projections | None = None,
    gate: Gate | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The app over ``engine``.

    ``bus``: where writes go (default: the engine itself, through an embedded
    :class:`~opsledger.adapters.kafka.bus.LocalBus`; a ``KafkaBus`` queues them for the worker).
    ``tokens``: the API tokens (default: the table beside the engine's events).
    ``projections``: the read models (default: the engine's, caught up on demand).
    ``gate``: the engine's write lock, when something else (``opsledger serve``'s background
    thread) also writes through this engine. What the app creates it closes when it goes.
    """
    owned: list[Any] = []
    if tokens is None:
        tokens = TokenStore.for_settings(engine.settings)
        owned.append(tokens)
    if projections is None:
        projections = SerializedProjections(engine)
        owned.append(projections)
    gate = gate if gate is not None else Gate()
    chosen = bus if bus is not None else LocalBus(engine, source="http")
    api = Api(
        engine=engine,
        bus=LockedBus(chosen, gate),
        projections=projections,
        gate=gate,
        auth=Auth(tokens),
    )

    app = FastAPI(
        title="opsledger",
        version=API_VERSION,
        description=DESCRIPTION,
        redirect_slashes=False,
    )
    # Closed with the app, not at lifespan shutdown: test clients and schemathesis start and
    # stop the same app many times.
    weakref.finalize(app, _close, owned)
    app.state.opsledger = api
    app.state.bus = api.bus
    app.state.body_limits = {}
    app.state.hooks = set()  # the adapters mounted
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, overrides=app.state.body_limits)
    install_error_handlers(app, login=login_redirect)

    @app.get(
        "/healthz", tags=["health"], summary="the store answers (no token needed)",
        responses={503: {"model": ErrorBody, "description": "the event store does not answer"}},
    )  # fmt: skip
    def healthz() -> Health:
        try:
            head = engine.app.recorder.max_notification_id() or 0
        except Exception as error:
            log.warning("health check failed", extra={"error": type(error).__name__})
            raise ApiError(503, "unavailable", "the event store does not answer") from None
        return Health(status="ok", head=head)

    app.include_router(login_router(tokens))
    app.include_router(tickets_router(api), responses=ERROR_RESPONSES)
    app.include_router(views_router(api), responses=ERROR_RESPONSES)
    _include_dashboard(app, api)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _close(resources: list[Any]) -> None:
    for resource in reversed(resources):
        resource.close()


def mount_adapters(app: FastAPI, adapters: Iterable[Adapter]) -> list[str]:
    """Include each adapter's ``routes`` under ``/hooks/{adapter.name}``; the names mounted.

    ``routes`` is an ``APIRouter``, or a sequence of routers and Starlette routes. The
    receivers authenticate their sources themselves (per-source secrets), or declare
    ``Depends(requires(Permission.INBOUND_WRITE))`` to take integration tokens; they submit to
    ``request.app.state.bus`` (the app's bus, behind the engine's write lock) or to the bus
    their ``start(bus)`` was given. An adapter may set ``max_body_bytes`` for its receivers.
    A name that cannot be a path segment, or one already mounted, is warned about and skipped.
    """
    mounted: list[str] = []
    taken: set[str] = app.state.hooks
    for adapter in adapters:
        routes = getattr(adapter, "routes", None)
        if routes is None:
            continue
        name = adapter.name
        prefix = f"/hooks/{name}"
        if not _HOOK_NAME.fullmatch(name) or name in taken:
            log.warning("adapter routes not mounted", extra={"adapter": name})
            continue
        router = routes if isinstance(routes, APIRouter) else _router_of(routes)
        app.include_router(router, prefix=prefix, tags=[f"hooks: {name}"])
        limit = getattr(adapter, "max_body_bytes", None)
        if isinstance(limit, int) and limit > 0:
            app.state.body_limits[prefix + "/"] = limit
        taken.add(name)
        mounted.append(name)
    app.openapi_schema = None  # described again, with the new routes
    return mounted


def _router_of(routes: Sequence[Any]) -> APIRouter:
    router = APIRouter()
    for item in routes:
        if isinstance(item, APIRouter):
            router.include_router(item)
        elif isinstance(item, BaseRoute):
            router.routes.append(item)
        else:
            raise TypeError(f"not a route or router: {type(item).__name__}")
    return router


def _include_dashboard(app: FastAPI, api: Api) -> None:
    """The dashboard's pages at ``/``, when its module is part of this build."""
    try:
        module = importlib.import_module("opsledger.adapters.http.dashboard")
    except ModuleNotFoundError as error:
        if error.name != "opsledger.adapters.http.dashboard":
            raise
        return
    router = module.dashboard_router(
        engine=api.engine,
        projections=api.projections,
        dependencies=[Depends(api.auth.require(Permission.VIEWS_READ))],
    )
    app.include_router(router)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's description, without the 422 it documents but this app never answers (its
    validation errors are 400 in the common error shape)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema
