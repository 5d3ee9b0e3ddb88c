"""``opsledger callback`` and ``opsledger callbacks``: the satisfaction call-back at the desk.

Recording an outcome is the ``RecordCallback`` command (``ticket transition N callback`` is
the same); the list is the call-back queue of the ``ticket_facts`` read model.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from opsledger.cli import TRANSITIONS, Opt, _add, _write
from opsledger.core.clock import parse_instant
from opsledger.core.domain.errors import InputError
from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.projections.service import Projections
from opsledger.render import cut, print_json, print_table, when

Opener = Callable[..., Engine]
#: The options of a call-back's outcome: those of ``ticket transition N callback``.
CALLBACK_OPTIONS: list[Opt] = TRANSITIONS["callback"][2]


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register ``callback`` (record an outcome) and ``callbacks`` (the ones still owed)."""
    p = nouns.add_parser(
        "callback",
        parents=common,
        help="record a satisfaction call-back's outcome",
        description="Reached or not, a 1-5 score, a comment, a complaint. A score of 1-2 or "
        "--complaint opens a complaint ticket for the complaint group.",
    )
    p.add_argument("number", metavar="N", help="the resolved ticket, e.g. INC-000123")
    _add(p, CALLBACK_OPTIONS)
    p.set_defaults(run=_write, command="RecordCallback")

    p = nouns.add_parser(
        "callbacks", parents=common[:2], help="the satisfaction call-backs still owed, by due"
    )
    p.add_argument("--group", help="only the call-backs of this group")
    p.add_argument("--as-of", metavar="ISO8601", help="remaining time as of (default: now)")
    p.add_argument("--limit", type=int, metavar="N")
    p.add_argument(
        "--json", dest="format", action="store_const", const="json", default=argparse.SUPPRESS,
        help="the same as --format json",
    )  # fmt: skip
    p.set_defaults(run=lambda args, settings: _callbacks(args, settings, open_engine))


def remaining_text(seconds: float | None) -> str:
    """``in 3.5 h`` before the due instant, ``overdue 1.0 h`` after it (calendar hours)."""
    if seconds is None:
        return "-"
    hours = abs(seconds) / 3600
    shown = f"{hours:.1f} h" if hours >= 1 else f"{abs(seconds) / 60:.0f} min"
    return f"in {shown}" if seconds >= 0 else f"overdue {shown}"


def _callbacks(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    if args.limit is not None and args.limit < 1:
        raise InputError("limit", "must be 1 or more")
    with (
        open_engine(settings, must_exist=True) as engine,
        Projections(engine, ["ticket_facts"]) as views,
    ):
        now = parse_instant(args.as_of, "as_of") if args.as_of else engine.clock.now()
        views.catch_up()
        entries = views.callbacks(now, group=args.group)
    if args.limit is not None:
        entries = entries[: args.limit]
    if args.format == "json":
        print_json(entries)
        return 0
    rows = [
        [
            e["number"],
            e["priority"],
            e["group"],
            when(e["requested_at"]),
            when(e["due"]),
            remaining_text(e["remaining_s"]),
            cut(e["customer"] or "-", 30),
            cut(e["summary"], 40),
        ]
        for e in entries
    ]
    print_table(
        ["number", "prio", "group", "requested", "due", "remaining", "customer", "summary"], rows
    )
    return 0
