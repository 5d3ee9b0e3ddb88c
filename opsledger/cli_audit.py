"""``opsledger audit …`` and ``opsledger ticket timeline``: the auditor's command line.

``audit verify`` exits 0 when the log (or an export) proves out and 6 when it does not, so a
script can tell tampering from a usage error (2) or a missing database (3). Progress bars go
to stderr, only on a terminal or with ``--progress``; stdout carries the report alone.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from opsledger.core.audit import (
    EXPORT_FORMATS,
    AuditReport,
    Progress,
    ReplayedTicket,
    TimelineEntry,
    default_manifest_path,
    export_events,
    load_manifest,
    replay,
    timeline,
    utc_text,
    verify_export,
    verify_store,
)
from opsledger.core.clock import parse_instant
from opsledger.core.domain.errors import InputError
from opsledger.core.settings import Settings
from opsledger.facade import Engine
from opsledger.render import cut, print_clock_statuses, print_json, print_record, print_table, span

Opener = Callable[..., Engine]
#: ``audit verify`` found the log or the export untrustworthy.
EXIT_TAMPERED = 6
#: Field names of core/audit's InputErrors, as the options that carry them are spelled here.
_OPTIONS = {
    "from": "--from",
    "to": "--to",
    "format": "--format",
    "as_of": "--as-of",
    "ticket": "--ticket",
    "export": "--export",
    "manifest": "--manifest",
}


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser], open_engine: Opener) -> None:
    """Register ``audit verify|replay|export``."""
    reads, store = common[:2], common[1]

    def bind(parser: argparse.ArgumentParser, run: Callable[..., int]) -> None:
        parser.set_defaults(run=lambda args, settings: run(args, settings, open_engine))

    progress = argparse.ArgumentParser(add_help=False)
    progress.add_argument(
        "--progress", action="store_true", help="show a progress bar on stderr even off a terminal"
    )
    audit = nouns.add_parser("audit", help="prove, replay and export the event log (auditors)")
    verbs = audit.add_subparsers(dest="verb", required=True)
    verify = verbs.add_parser(
        "verify",
        parents=[*reads, progress],
        help="prove the hash chain of the store, or of an export offline (exit 6 if broken)",
    )
    verify.add_argument("--export", metavar="FILE", help="check this export file, not the store")
    verify.add_argument(
        "--manifest",
        metavar="FILE",
        help="with --export: its manifest (default FILE.manifest.json); without: an earlier "
        "export's manifest whose links the store must still have",
    )
    verify.add_argument(
        "--expect-head",
        action="append",
        metavar="POSITION:HASH",
        help="a link published earlier (`audit verify` prints the head); repeatable",
    )
    bind(verify, _verify)
    rp = verbs.add_parser(
        "replay",
        parents=[*reads, progress],
        help="every ticket (or one) and its SLA clocks as they were at an instant",
    )
    rp.add_argument("--as-of", required=True, metavar="ISO8601", help="with a zone, e.g. …Z")
    rp.add_argument("--ticket", metavar="N", help="only this ticket")
    bind(rp, _replay)
    export = verbs.add_parser(
        "export",
        parents=[store, progress],
        help="the events of a period with a manifest that `audit verify --export` checks",
    )
    export.add_argument("--from", dest="start", required=True, metavar="ISO8601")
    export.add_argument("--to", dest="end", required=True, metavar="ISO8601")
    export.add_argument(
        "--format", default=argparse.SUPPRESS, metavar="jsonl|csv", help="default: jsonl"
    )
    export.add_argument("--out", metavar="FILE", help="events file (default: stdout)")
    export.add_argument(
        "--manifest", metavar="FILE", help="manifest file (default: FILE.manifest.json)"
    )
    bind(export, _export)


@contextlib.contextmanager
def _options() -> Iterator[None]:
    """Name the option, not the engine's field, in a bad-input message."""
    try:
        yield
    except InputError as e:
        if e.field in _OPTIONS:
            raise InputError(_OPTIONS[e.field], e.message) from None
        raise


@contextlib.contextmanager
def _progress(args: argparse.Namespace, what: str, unit: str) -> Iterator[Progress | None]:
    """A tqdm bar on stderr, on a terminal or when asked; never on stdout."""
    if not (getattr(args, "progress", False) or sys.stderr.isatty()):
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=0, desc=what, unit=f" {unit}", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


# -- verify ------------------------------------------------------------------------------------


def _expected_links(args: argparse.Namespace) -> dict[int, bytes]:
    links: dict[int, bytes] = {}
    if args.manifest:
        with _options():
            links.update(load_manifest(Path(args.manifest)).links())
    for text in args.expect_head or ():
        position, sep, digest = text.partition(":")
        try:
            value = bytes.fromhex(digest)
            if not sep or len(value) != 32:
                raise ValueError
            links[int(position)] = value
        except ValueError:
            raise InputError(
                "--expect-head", f"{text!r} is not POSITION:HASH (64 hex digits)"
            ) from None
    return links


def _verify(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    if args.export:
        if args.expect_head:
            raise InputError("--expect-head", "checks the store; not with --export")
        with _options():
            report = verify_export(
                Path(args.export), Path(args.manifest) if args.manifest else None
            )
    else:
        expect = _expected_links(args)
        with (
            open_engine(settings, must_exist=True) as engine,
            _progress(args, "verify", "positions") as progress,
        ):
            report = verify_store(engine, progress=progress, expect=expect)
    if args.format == "json":
        print_json(report.to_dict())
    else:
        print_report(report, export=bool(args.export))
    return 0 if report.ok else EXIT_TAMPERED


def print_report(report: AuditReport, *, export: bool) -> None:
    what = "export" if export else "store"
    span_text = (
        f"positions {report.first_position}-{report.last_position}"
        if report.first_position is not None
        else "no events"
    )
    print(f"{what} {report.source}: {report.checked} events checked, {span_text}")
    print(f"chain head: {report.last_position or 0}:{report.head}")
    if report.ok:
        print("verified: every link recomputes from the stored events")
        return
    print(f"FAILED: {len(report.faults)} fault(s)")
    rows = [
        [
            "-" if f.position is None else str(f.position),
            f.label or "-",
            "-" if f.version is None else str(f.version),
            f.event or "-",
            f.kind,
            cut(f.problem, 110),
        ]
        for f in report.faults
    ]
    print_table(["POSITION", "RECORD", "VER", "EVENT", "KIND", "PROBLEM"], rows)


# -- export ------------------------------------------------------------------------------------


def _export(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    fmt = getattr(args, "format", "table")
    fmt = "jsonl" if fmt == "table" else fmt  # the top-level --format (table) is not ours
    if fmt not in EXPORT_FORMATS:
        raise InputError("--format", f"{fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    start = parse_instant(args.start, "--from")
    end = parse_instant(args.end, "--to")
    if end <= start:
        raise InputError("--to", f"{args.end} is not after --from {args.start}")
    out = Path(args.out) if args.out else None
    manifest_path = Path(args.manifest) if args.manifest else None
    if manifest_path is None:
        if out is None:
            raise InputError(
                "--manifest", "events go to stdout, so name a manifest FILE (or --out)"
            )
        manifest_path = default_manifest_path(out)
    for option, path in (("--out", out), ("--manifest", manifest_path)):
        if path is not None and not path.parent.is_dir():
            raise InputError(option, f"directory {path.parent} does not exist")
    with (
        open_engine(settings, must_exist=True) as engine,
        _progress(args, "export", "positions") as progress,
    ):
        if out is None:
            sys.stdout.flush()
            with _options():
                manifest = export_events(
                    engine, start, end, sys.stdout.buffer, fmt=fmt, progress=progress
                )
            sys.stdout.buffer.flush()
        else:
            partial = out.with_name(out.name + ".part")  # never a half export under its name
            try:
                with partial.open("wb") as f, _options():
                    manifest = export_events(engine, start, end, f, fmt=fmt, progress=progress)
                partial.replace(out)
            finally:
                partial.unlink(missing_ok=True)
    manifest_path.write_text(manifest.to_json(), encoding="utf-8")
    where = sys.stdout if out is not None else sys.stderr
    span_text = (
        f"positions {manifest.first_position}-{manifest.last_position}"
        if manifest.first_position is not None
        else "nothing in that period"
    )
    print(
        f"exported {manifest.events} events ({span_text}, {manifest.outside_period} stamped "
        f"outside the period) to {out or 'stdout'}",
        file=where,
    )
    print(f"manifest: {manifest_path} (events sha256 {manifest.events_sha256})", file=where)
    print(
        f"chain: anchor {manifest.anchor_position}:{manifest.anchor_hash[:16]}…, "
        f"store head {manifest.chain_head_position}:{manifest.chain_head_hash}",
        file=where,
    )
    if manifest.store_faults:
        print(
            f"opsledger: warning: the store's chain has {manifest.store_faults} fault(s); "
            "run `opsledger audit verify`",
            file=sys.stderr,
        )
    return 0


# -- replay ------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    at = parse_instant(args.as_of, "--as-of")
    with (
        open_engine(settings, must_exist=True) as engine,
        _progress(args, "replay", "tickets") as progress,
        _options(),
    ):
        tickets = replay(engine, at, ticket=args.ticket, progress=progress)
    if args.format == "json":
        print_json([t.to_dict() for t in tickets])
    elif args.ticket:
        print_record(dict(tickets[0].record))
        print()
        print_clock_statuses(tickets[0].number, at, tickets[0].clocks)
    else:
        print_replay(tickets, utc_text(at))
    return 0


def print_replay(tickets: list[ReplayedTicket], at: str) -> None:
    """One row per clock; a ticket's own columns on its first row only."""
    print(f"{len(tickets)} tickets as of {at} (business time used and left per SLA clock)")
    rows: list[list[str]] = []
    for t in tickets:
        head = [t.number, t.state, t.priority, t.group or "-", t.assignee or "-"]
        blank = [""] * len(head)
        clocks = [
            [
                c.clock,
                c.state + (", breached" if c.breached and c.state != "breached" else ""),
                span(c.elapsed),
                span(c.remaining),
                utc_text(c.due) if c.due else "-",
            ]
            for c in t.clocks
        ] or [["-", "-", "-", "-", "-"]]
        rows += [(head if i == 0 else blank) + clock for i, clock in enumerate(clocks)]
    headers = ["NUMBER", "STATE", "PRI", "GROUP", "ASSIGNEE", "CLOCK", "CLOCK STATE", "USED"]
    print_table([*headers, "LEFT", "DUE (UTC)"], rows)


# -- ticket timeline ---------------------------------------------------------------------------


def run_timeline(args: argparse.Namespace, settings: Settings, open_engine: Opener) -> int:
    """``opsledger ticket timeline N``: registered by the ticket parsers in cli.py."""
    with open_engine(settings, must_exist=True) as engine:
        entries = timeline(engine, args.number)
    if args.format == "json":
        print_json([e.to_dict() for e in entries])
    else:
        print_timeline(entries)
    return 0


def print_timeline(entries: list[TimelineEntry]) -> None:
    width = max(len(e.actor) for e in entries)
    for e in entries:
        print(f"{utc_text(e.at)}  v{e.version:<3} {e.actor.ljust(width)}  {e.text}")
