"""``opsledger report``: the monthly service quality report from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from opsledger.core.domain.errors import InputError
from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.projections import kpis as K
from opsledger.projections.report import FORMATS, ReportTargets, generate, month_before
from opsledger.projections.report_i18n import LANGS

Opener = Callable[..., Engine]


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register ``report`` on the CLI's top-level subparsers.

    Only the store options are inherited: the report's ``--format`` names document formats,
    not the table/json of the other commands (a top-level ``--format json`` still works).
    """
    store = common[1]
    p = nouns.add_parser(
        "report",
        parents=[store],
        help="the monthly service quality report (HTML, Markdown or JSON)",
        description="SLA attainment against targets, trends, MTTR/MTBF, satisfaction and "
        "findings for one month, computed from the ticket facts (docs/report.md).",
    )
    p.add_argument("--month", metavar="YYYY-MM", help="default: last month in --tz")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=argparse.SUPPRESS,
        help="html (default, charts embedded), md or json",
    )
    p.add_argument("--lang", choices=LANGS, default="en", help="edition (default: en)")
    p.add_argument("--out", metavar="PATH", help="write the report here (default: stdout)")
    p.add_argument("--tz", metavar="ZONE", default="UTC", help="IANA time zone (default: UTC)")
    p.add_argument(
        "--kinds",
        default="incident",
        metavar="KIND,...",
        help="ticket kinds of the desk KPIs (default: incident; e.g. incident,service_request)",
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an attainment target, in percent (response=95, resolution=90, fcr=70, "
        "solved_24h=80, reopen=5 as a maximum) or satisfaction=4.0; repeatable",
    )
    p.add_argument("--months", type=int, default=6, metavar="N", help="trend months (default 6)")
    p.set_defaults(run=lambda args, settings: _report(args, settings, open_engine))


def _format(args: argparse.Namespace) -> str:
    """The report's own --format, else a top-level ``--format json``, else HTML."""
    chosen = getattr(args, "format", None)
    return chosen if chosen in FORMATS else "html"


def _report(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    fmt = _format(args)
    targets = ReportTargets.parse(args.target)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    if not kinds:
        raise InputError("kinds", "name at least one ticket kind")
    if args.months < 1:
        raise InputError("months", "must be at least 1")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise InputError("out", f"directory {out.parent} does not exist")
    with open_engine(settings, must_exist=True) as engine:
        month = args.month or _last_month(engine.clock.now(), args.tz)
        document = generate(
            engine,
            month,
            fmt=fmt,
            lang=args.lang,
            tz=args.tz,
            kinds=kinds,
            targets=targets,
            trend_months=args.months,
        )
    if out is None:
        sys.stdout.write(document)
    else:
        out.write_text(document, encoding="utf-8")
        print(out)
    return 0


def _last_month(now: datetime, tz: str) -> str:
    """The month before the one holding ``now`` in ``tz``."""
    return month_before(K.window_of(now, "month", tz).label, 1)
