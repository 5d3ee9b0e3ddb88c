"""``opsledger serve`` and ``opsledger api-token``: the HTTP API as a process, and its tokens."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

from opsledger.adapters.http.tokens import Role, TokenStore
from opsledger.cli import _actor
from opsledger.cli_kafka import _until_signalled
from opsledger.core.domain.errors import InputError
from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.render import print_json, print_table

Opener = Callable[..., Engine]
log = logging.getLogger(__name__)


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register ``serve`` and ``api-token create|list|revoke``."""
    store, reads = common[1:2], common[:2]

    def bind(parser: argparse.ArgumentParser, run: Callable[..., int]) -> None:
        parser.set_defaults(run=lambda args, settings: run(args, settings, open_engine))

    serve = nouns.add_parser(
        "serve",
        parents=store,
        help="the HTTP API and dashboard, with the SLA scheduler (embedded mode)",
        description="Serve the HTTP API (docs/http.md) over this store until SIGTERM or "
        "Ctrl-C. Commands are recorded in this process; a background thread fires due SLA "
        "clocks, retries failed plugin reactions and keeps the read models caught up.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=8080, help="0: any free port (default: %(default)s)"
    )
    serve.add_argument(
        "--tick-interval", type=float, default=1.0, metavar="SECONDS",
        help="how often due SLA clocks are fired (0: never; default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--retry-interval", type=float, default=60.0, metavar="SECONDS",
        help="how often failed plugin reactions are retried (0: never; default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--max-body-bytes", type=int, default=1_048_576, metavar="N",
        help="largest request body accepted (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--kafka", action="store_true",
        help="send writes to the commands topic (OPSLEDGER_KAFKA_*) for `opsledger worker` to "
        "record, instead of recording them here; the worker then fires the SLA clocks",
    )  # fmt: skip
    serve.add_argument(
        "--log-level", default="info", choices=("critical", "error", "warning", "info", "debug")
    )
    bind(serve, _serve)

    token = nouns.add_parser("api-token", help="API tokens of the HTTP API")
    verbs = token.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("create", parents=reads, help="a new token; prints its secret once")
    p.add_argument("--name", required=True, help="who or what uses it (unique among active)")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    bind(p, _token_create)
    p = verbs.add_parser("list", parents=reads, help="every token (never the secrets)")
    p.add_argument("--active", action="store_true", help="leave out revoked tokens")
    bind(p, _token_list)
    p = verbs.add_parser("revoke", parents=reads, help="refuse a token from now on")
    p.add_argument("token", metavar="ID|NAME", help="its id, or the name of an active token")
    bind(p, _token_revoke)


# -- tokens ------------------------------------------------------------------------------------


def _token_create(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings) as engine:
        tokens = TokenStore.for_settings(settings)
        try:
            issued = tokens.create(
                args.name, args.role, at=engine.clock.now(), created_by=_actor(args)
            )
        finally:
            tokens.close()
    if args.format == "json":
        print_json({**issued.token.to_dict(), "token": issued.secret})
    else:
        print(issued.secret)
        print(
            f"opsledger: note: token {issued.token.id} ({issued.token.name}, "
            f"{issued.token.role.value}); the secret is shown this once",
            file=sys.stderr,
        )
    return 0


def _token_list(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True):
        tokens = TokenStore.for_settings(settings)
        try:
            found = [t.to_dict() for t in tokens.tokens(include_revoked=not args.active)]
        finally:
            tokens.close()
    if args.format == "json":
        print_json(found)
        return 0
    print_table(
        ["id", "name", "role", "token", "created", "by", "revoked"],
        [[str(t["id"]), t["name"], t["role"], t["hint"], t["created_at"][:19], t["created_by"],
          (t["revoked_at"] or "")[:19]] for t in found],
    )  # fmt: skip
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True) as engine:
        tokens = TokenStore.for_settings(settings)
        try:
            token = tokens.revoke(args.token, at=engine.clock.now())
        finally:
            tokens.close()
    if args.format == "json":
        print_json(token.to_dict())
    else:
        print(f"revoked {token.id} ({token.name})")
    return 0


# -- serve -------------------------------------------------------------------------------------


def _listen(host: str, port: int) -> socket.socket:
    """Bind before anything starts, so a taken port is one clear error (and port 0 works)."""
    if not 0 <= port <= 65535:
        raise InputError("port", f"{port} is not between 0 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError("host", f"{host!r}: {e.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise InputError("port", f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    import uvicorn

    from opsledger.adapters.http.app import create_app, mount_adapters
    from opsledger.adapters.http.runtime import (
        Gate,
        Housekeeper,
        SerializedProjections,
    )
    from opsledger.adapters.kafka.bus import CommandBus, KafkaBus, LocalBus
    from opsledger.plugins.adapters import Adapter, start_adapters, stop_adapters

    for name in ("tick_interval", "retry_interval"):
        if getattr(args, name) < 0:
            raise InputError(name, "must be 0 or more")
    if args.max_body_bytes < 1:
        raise InputError("max_body_bytes", "must be 1 or more")
    sock = _listen(args.host, args.port)
    started: list[Adapter] = []
    with _until_signalled() as stop, open_engine(settings) as engine:
        tokens = TokenStore.for_settings(settings)
        projections = SerializedProjections(engine)
        gate = Gate()
        bus: CommandBus = LocalBus(engine, source="http")
        if args.kafka:
            bus = KafkaBus(_kafka_config(), clock=engine.clock)
        keeper = Housekeeper(
            engine, gate, projections, stop,
            # through Kafka the worker holding partition 0 fires the clocks and retries
            tick_interval_s=0.0 if args.kafka else args.tick_interval,
            retry_interval_s=0.0 if args.kafka else args.retry_interval,
        )  # fmt: skip
        try:
            app = create_app(
                engine, bus=bus, tokens=tokens, projections=projections, gate=gate,
                max_body_bytes=args.max_body_bytes,
            )  # fmt: skip
            started = start_adapters(engine.plugins.adapters(), app.state.bus, host=engine.plugins)
            mount_adapters(app, started)
            keeper.start()
            host, port = sock.getsockname()[:2]
            print(
                f"opsledger: serving http://{_url_host(host)}:{port} "
                f"({'Kafka' if args.kafka else 'embedded'}, {settings.location}); "
                "SIGTERM or Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            server = uvicorn.Server(
                uvicorn.Config(app, log_level=args.log_level, access_log=False, lifespan="on")
            )
            if not stop.is_set():
                server.run(sockets=[sock])
        finally:
            stop.set()
            if keeper.is_alive():
                keeper.join()
            stop_adapters(started, host=engine.plugins)
            bus.close()
            projections.close()
            tokens.close()
            sock.close()
    print_json({"serve": keeper.stats()})
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _kafka_config() -> Any:
    from opsledger.adapters.kafka.config import KafkaConfig

    config = KafkaConfig.from_env()
    log.info("serve sends writes to Kafka", extra={"kafka": config.describe()})
    return config
