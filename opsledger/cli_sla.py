"""``opsledger policy …``, ``opsledger sla …`` and ``opsledger tick``: the SLA engine's CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, cast

from eventsourcing.application import AggregateNotFoundError

from opsledger import ConflictError, Engine, InputError, NotFoundError, Settings
from opsledger.cli import _command, _engine, _note_duplicate
from opsledger.core.clock import parse_instant
from opsledger.core.domain.records import normalise_number
from opsledger.core.domain.sla import SlaPolicy
from opsledger.core.domain.ticket import Ticket
from opsledger.core.policies import POLICY_BOOK_ID, PolicyBook
from opsledger.render import (
    SELECTORS,
    print_clock_statuses,
    print_json,
    print_policies,
    print_policy,
    print_whatif,
    when,
)


def add_parsers(nouns: Any, common: list[argparse.ArgumentParser]) -> None:
    """``policy``, ``sla`` and ``tick``: the policy book, reading clocks, firing them."""
    reads = common[:2]
    policy = nouns.add_parser("policy", help="SLA, OLA and underpinning-contract policies")
    verbs = policy.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("define", parents=common, help="record a policy from a JSON file")
    p.add_argument("file", metavar="FILE", help="a policy definition (see examples/policies/)")
    p.set_defaults(run=_policy_define)
    p = verbs.add_parser("list", parents=reads, help="every policy, its version, retired or not")
    p.set_defaults(run=_policy_list)
    p = verbs.add_parser("show", parents=reads, help="one policy version (default: the latest)")
    p.add_argument("name")
    p.add_argument("--version", type=int, metavar="N")
    p.set_defaults(run=_policy_show)
    p = verbs.add_parser("retire", parents=common, help="stop a policy selecting new tickets")
    p.add_argument("name")
    p.set_defaults(run=_policy_retire)
    sla = nouns.add_parser("sla", help="SLA clocks: status, timeline, what-if")
    verbs = sla.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("status", parents=reads, help="each clock of a ticket, now or as of")
    p.add_argument("number")
    p.add_argument("--as-of", metavar="ISO8601", help="as the events recorded up to then say")
    p.set_defaults(run=_sla_status)
    p = verbs.add_parser("explain", parents=reads, help="the recorded timeline of the clocks")
    p.add_argument("number")
    p.set_defaults(run=_sla_explain)
    p = verbs.add_parser(
        "whatif", parents=reads, help="attainment of a period recomputed under another policy"
    )
    p.add_argument("--policy", metavar="FILE", required=True)
    p.add_argument("--from", dest="start", metavar="ISO8601", required=True)
    p.add_argument("--to", dest="end", metavar="ISO8601", required=True)
    p.set_defaults(run=_sla_whatif)
    p = nouns.add_parser("tick", parents=reads, help="record the clock events that are due")
    p.add_argument(
        "--at", default=argparse.SUPPRESS, metavar="ISO8601", help="due by (default: now)"
    )
    p.set_defaults(run=_tick)


def _load_policy(path_text: str, field: str) -> dict[str, Any]:
    """A policy file as ``SlaPolicy.from_dict`` reads it; errors name the file and the field."""
    path = Path(path_text)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(field, f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(field, f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise InputError(field, f"{path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise InputError(field, f"{path} is not JSON: {e.msg} (line {e.lineno})") from None
    try:
        SlaPolicy.from_dict(data)
    except InputError as e:
        raise InputError(e.field, f"{e.message} (in {path})") from None
    return cast(dict[str, Any], data)


def _policy_book(engine: Engine) -> PolicyBook | None:
    """The recorded policy book, or None before the first definition."""
    try:
        return cast(PolicyBook, engine.app.repository.get(POLICY_BOOK_ID))
    except AggregateNotFoundError:
        return None


def _provenance(engine: Engine) -> dict[tuple[str, int], tuple[str, str]]:
    """When and by whom each policy version was defined, from the book's events."""
    return {
        (e.name, e.version): (e.timestamp.isoformat(), e.actor)  # type: ignore[attr-defined]
        for e in engine.app.events.get(POLICY_BOOK_ID)
        if type(e).__name__ == "PolicyDefined"
    }


def _policy_define(args: argparse.Namespace, settings: Settings) -> int:
    definition = _load_policy(args.file, "file")
    name = SlaPolicy.from_dict(definition).name
    command = _command(args, "DefineSlaPolicy", definition=definition)
    with _engine(settings) as engine:
        outcome = engine.execute(command)
        book = _policy_book(engine)
    version = len(book.definitions.get(name, [])) if book is not None else 0
    if version == 0:  # only when an idempotency key first defined another policy
        raise ConflictError(
            f"idempotency key {args.idempotency_key!r} was used before for another policy; "
            f"{name} was not recorded"
        )
    recorded = any(e["event"] == "PolicyDefined" for e in outcome.events)
    if args.format == "json":
        print_json(
            {"name": name, "version": version, "recorded": recorded, "duplicate": outcome.duplicate}
        )
    else:
        same = "" if recorded or outcome.duplicate else " (identical to the current version)"
        print(f"{name} v{version}{same}")
    _note_duplicate(args, outcome)
    return 0


def _policy_list(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings, must_exist=True) as engine:
        book = _policy_book(engine)
        made = _provenance(engine) if book is not None else {}
    rows = []
    for name, versions in (book.definitions if book is not None else {}).items():
        at, by = made.get((name, len(versions)), (None, None))
        rows.append(
            {
                "name": name,
                "agreement": versions[-1]["agreement"],
                "version": len(versions),
                "retired": name in book.retired,  # type: ignore[union-attr]
                "description": versions[-1].get("description", ""),
                "selects": {k: versions[-1].get(k) for k in SELECTORS},
                "defined_at": at,
                "defined_by": by,
            }
        )
    if args.format == "json":
        print_json(rows)
    else:
        print_policies(rows)
    return 0


def _policy_show(args: argparse.Namespace, settings: Settings) -> int:
    if args.version is not None and args.version < 1:
        raise InputError("version", "must be 1 or more")
    with _engine(settings, must_exist=True) as engine:
        book = _policy_book(engine)
        if book is None or args.name not in book.definitions:
            raise NotFoundError("policy", args.name)
        versions = book.definitions[args.name]
        version = args.version or len(versions)
        if version > len(versions):
            raise NotFoundError("policy", f"{args.name} v{version} (latest is v{len(versions)})")
        at, by = _provenance(engine).get((args.name, version), (None, None))
    data = {
        "name": args.name,
        "version": version,
        "versions": len(versions),
        "retired": args.name in book.retired,
        "defined_at": at,
        "defined_by": by,
        "definition": versions[version - 1],
    }
    if args.format == "json":
        print_json(data)
    else:
        print_policy(data)
    return 0


def _policy_retire(args: argparse.Namespace, settings: Settings) -> int:
    command = _command(args, "RetireSlaPolicy")
    with _engine(settings, must_exist=True) as engine:
        outcome = engine.execute(command)
        book = _policy_book(engine)
    version = len(book.definitions.get(args.name, [])) if book is not None else 0
    if args.format == "json":
        print_json({"name": args.name, "version": version, "retired": True})
    else:
        print(f"{args.name} v{version} retired: it selects no new tickets; running clocks go on")
    _note_duplicate(args, outcome)
    return 0


def _sla_status(args: argparse.Namespace, settings: Settings) -> int:
    number = normalise_number(args.number)
    with _engine(settings, must_exist=True) as engine:
        at = parse_instant(args.as_of, "as_of") if args.as_of else engine.clock.now()
        statuses = engine.sla_status(number, as_of=at)
    if args.format == "json":
        print_json([s.to_dict() for s in statuses])
    else:
        print_clock_statuses(number, at, statuses)
    return 0


def _sla_explain(args: argparse.Namespace, settings: Settings) -> int:
    number = normalise_number(args.number)
    with _engine(settings, must_exist=True) as engine:
        lines = engine.sla_explain(number)
        record = engine.record(number)
        now = engine.clock.now()
    due = record.next_due() if isinstance(record, Ticket) else None
    if args.format == "json":
        print_json({"ticket": number, "timeline": lines})
    else:
        print("\n".join(lines) if lines else f"{number}: no clock events (no policy selected it)")
    if due is not None and due < now:
        print(
            f"opsledger: note: clock events due since {when(due)} UTC are not recorded yet; "
            "`opsledger tick` records them",
            file=sys.stderr,
        )
    return 0


def _sla_whatif(args: argparse.Namespace, settings: Settings) -> int:
    definition = _load_policy(args.policy, "policy")
    start, end = parse_instant(args.start, "from"), parse_instant(args.end, "to")
    with _engine(settings, must_exist=True) as engine:
        report = engine.whatif(definition, start, end)
    data = {
        "policy": definition.get("name"),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tickets": report.tickets,
        "rows": report.rows(),
    }
    if args.format == "json":
        print_json(data)
    else:
        print_whatif(data)
    return 0


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings, must_exist=True) as engine:
        at = parse_instant(args.at, "at") if args.at else engine.clock.now()
        fired = engine.tick(at)
    if args.format == "json":
        print_json({"at": at.isoformat(), "fired": fired})
    else:
        print(f"{fired} clock events recorded (due by {when(at)} UTC)")
    return 0
