"""``opsledger plugins …``: what is loaded and from where, dead letters, and their retry."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.plugins.manager import build_manager, describe, each
from opsledger.render import cut, print_json, print_table, when

Opener = Callable[..., Engine]
log = logging.getLogger(__name__)


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register ``plugins list|dead-letters|retry``, then the plugins' own commands."""
    reads = common[:2]

    def bind(parser: argparse.ArgumentParser, run: Callable[..., int]) -> None:
        parser.set_defaults(run=lambda args, settings: run(args, settings, open_engine))

    plugins = nouns.add_parser("plugins", help="plugins: what is loaded, dead letters, retry")
    verbs = plugins.add_subparsers(dest="verb", required=True)
    bind(verbs.add_parser("list", parents=common[:1], help="loaded plugins and where from"), _list)
    bind(
        verbs.add_parser("dead-letters", parents=reads, help="failed reactions awaiting retry"),
        _dead_letters,
    )
    bind(verbs.add_parser("retry", parents=reads, help="retry every dead letter now"), _retry)
    # A plugin whose parser code raises loses its commands, never the whole CLI.
    for failure in each(build_manager(), "opsledger_cli_commands", subparsers=nouns):
        log.warning(
            "plugin CLI commands skipped", extra={"plugin": failure.plugin, "error": failure.error}
        )


def _list(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    rows = [p.to_dict() for p in describe(build_manager())]
    if args.format == "json":
        print_json(rows)
        return 0
    print_table(
        ["name", "module", "from", "hooks"],
        [
            [
                r["name"],
                r["module"],
                f"{r['distribution']} {r['version']}"
                if r["distribution"]
                else "registered in code",
                ", ".join(_hook(h, r["adapters"]) for h in r["hooks"]),
            ]
            for r in rows
        ],
    )
    return 0


def _hook(name: str, adapters: list[str]) -> str:
    """A hook's short name; the adapters hook names what it contributes."""
    short = name.removeprefix("opsledger_")
    return f"{short} ({', '.join(adapters)})" if short == "adapters" and adapters else short


def _dead_letters(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True) as engine:
        letters = [d.to_dict() for d in engine.dead_letters()]
    if args.format == "json":
        print_json(letters)
        return 0
    print_table(
        ["plugin", "position", "event", "attempts", "last failed", "error"],
        [
            [
                d["plugin"],
                str(d["position"]),
                d["topic"].rpartition(".")[2],
                str(d["attempts"]),
                when(d["last_failed"]),
                cut(d["error"], 60),
            ]
            for d in letters
        ],
    )
    return 0


def _retry(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True) as engine:
        report = engine.retry_dead_letters()
    data = {
        "retried": report.retried,
        "succeeded": report.succeeded,
        "still_failing": report.still_failing,
    }
    if args.format == "json":
        print_json(data)
    else:
        print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in data.items()))
    return 0 if report.still_failing == 0 else 1
