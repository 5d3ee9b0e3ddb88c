"""``opsledger projections …`` and ``opsledger queue``: the read models from the command line."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import Any

from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.projections.service import Projections
from opsledger.render import cut, print_json, print_table, when

Opener = Callable[..., Engine]


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register the read-model commands on the CLI's top-level subparsers."""
    reads = common[:2]

    def bind(parser: argparse.ArgumentParser, run: Callable[..., int]) -> None:
        parser.set_defaults(run=lambda args, settings: run(args, settings, open_engine))

    projections = nouns.add_parser("projections", help="read models: status, catch up, rebuild")
    verbs = projections.add_subparsers(dest="verb", required=True)
    bind(verbs.add_parser("status", parents=reads, help="position and lag of each read model"),
         _status)  # fmt: skip
    p = verbs.add_parser("catch-up", parents=reads, help="apply every event not yet applied")
    p.add_argument("--follow", action="store_true", help="then keep following new events")
    bind(p, _catch_up)
    p = verbs.add_parser("rebuild", parents=reads, help="rebuild a read model from position 0")
    p.add_argument("name", help="work_queue, ticket_facts or all")
    bind(p, _rebuild)

    queue = nouns.add_parser("queue", parents=reads, help="the work queue: open tickets by due")
    queue.add_argument("--group")
    queue.add_argument("--assignee")
    queue.add_argument("--unassigned", action="store_true", help="no group yet")
    queue.add_argument("--on-hold", metavar="REASON", help="on hold for this reason")
    queue.add_argument("--limit", type=int, metavar="N")
    bind(queue, _queue)


def _progress(label: str) -> Callable[[int, int], None]:
    def show(position: int, head: int) -> None:
        if not sys.stderr.isatty():
            return
        width = 30
        done = int(width * position / head) if head else width
        bar = "#" * done + "-" * (width - done)
        print(f"\r{label:<14} [{bar}] {position:,}/{head:,}", end="", file=sys.stderr)

    return show


def _status(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True) as engine, Projections(engine) as views:
        rows = [s.to_dict() for s in views.status()]
    if args.format == "json":
        print_json(rows)
    else:
        print_table(
            ["projection", "position", "head", "lag"],
            [[r["name"], f"{r['position']:,}", f"{r['head']:,}", f"{r['lag']:,}"] for r in rows],
        )
    return 0


def _catch_up(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True) as engine, Projections(engine) as views:
        applied = views.catch_up(progress=_progress("catch-up"))
        if sys.stderr.isatty():
            print(file=sys.stderr)
        _print_applied(args, applied)
        if args.follow:
            print("following new events; Ctrl-C to stop", file=sys.stderr)
            views.follow(threading.Event())
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with open_engine(settings, must_exist=True) as engine:
        with Projections(engine) as views:
            if args.name == "all":
                applied = views.rebuild_all(progress=_progress("all"))
            else:
                name = views.model(args.name).name
                applied = {name: views.rebuild(name, progress=_progress(name))}
        if sys.stderr.isatty():
            print(file=sys.stderr)
    _print_applied(args, applied)
    return 0


def _print_applied(args: argparse.Namespace, applied: dict[str, int]) -> None:
    if args.format == "json":
        print_json({"applied": applied})
    else:
        for name, count in applied.items():
            print(f"{name}: {count:,} events applied")


def _queue(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    with (
        open_engine(settings, must_exist=True) as engine,
        Projections(engine, ["work_queue"]) as views,
    ):
        views.catch_up()
        entries = views.work_queue(
            group=args.group,
            assignee=args.assignee,
            unassigned=args.unassigned,
            on_hold=args.on_hold,
        )
    if args.limit is not None:
        entries = entries[: args.limit]
    if args.format == "json":
        print_json(entries)
        return 0
    rows = [
        [
            e["number"],
            e["priority"],
            e["state"] + (f" ({e['hold_reason']})" if e["hold_reason"] else ""),
            e["group"] or "-",
            e["assignee"] or "-",
            when(e["due"]) if e["due"] else "-",
            "BREACHED" if e["breached"] else "at risk" if e["at_risk"] else "",
            cut(e["summary"], 40),
        ]
        for e in entries
    ]
    print_table(["number", "prio", "state", "group", "assignee", "due", "sla", "summary"], rows)
    return 0
