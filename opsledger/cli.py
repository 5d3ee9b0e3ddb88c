"""The ``opsledger`` command line: flags become commands, Engine runs them, people read tables.

Settings are built once here from flags and ``OPSLEDGER_*`` variables and passed down. Every
OpsledgerError becomes one ``opsledger: error: ...`` line on stderr and an exit status
(2 bad input, 3 not found, 4 not allowed in this state, 5 conflict); nothing else prints a
traceback unless ``--debug`` asks for it. ``audit verify`` exits 6 when verification fails.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from opsledger import (
    ConflictError,
    DomainError,
    Engine,
    InputError,
    NotFoundError,
    OpsledgerError,
    Outcome,
    Settings,
    cli_audit,
    cli_kafka,
    cli_plugins,
    cli_report,
    cli_views,
)
from opsledger.core.clock import parse_instant
from opsledger.core.commands import COMMANDS, Command, command_from_dict
from opsledger.core.domain.records import RecordKind
from opsledger.core.domain.ticket import OPEN_STATES, TicketState
from opsledger.render import (
    print_history,
    print_json,
    print_record,
    print_recorded,
    print_tickets,
)

EXIT_CODES: dict[type[OpsledgerError], int] = {
    InputError: 2,
    NotFoundError: 3,
    DomainError: 4,
    ConflictError: 5,
}
KINDS = {
    "incident": RecordKind.INCIDENT,
    "request": RecordKind.SERVICE_REQUEST,
    "service_request": RecordKind.SERVICE_REQUEST,
    "problem": RecordKind.PROBLEM,
    "change": RecordKind.CHANGE,
}
Handler = Callable[[argparse.Namespace, Settings], int]
Opt = tuple[tuple[str, ...], dict[str, Any]]


def opt(*flags: str, **kw: Any) -> Opt:
    return flags, kw


def one_of(dest: str, **flags: tuple[object, str]) -> Opt:
    """A required choice spelled as flags: ``--flag`` stores its value in ``dest``."""
    return (), {"dest": dest, "flags": flags}


_REQ = {"required": True}
_LEVEL = {"metavar": "high|medium|low"}
#: ``ticket transition N ACTION``: the command each action builds, its help, its options.
TRANSITIONS: dict[str, tuple[str, str, list[Opt]]] = {
    "assign": ("AssignTicket", "give the ticket to a group (and a person)", [
        opt("--group", **_REQ), opt("--assignee"), opt("--tier", metavar="L1|L2|L3")]),
    "acknowledge": ("AcknowledgeTicket", "take ownership (the first one stops the response "
                    "clock)", []),
    "comment": ("AddComment", "a public comment, or an internal work note with --internal", [
        opt("--body", **_REQ),
        opt("--internal", dest="public", action="store_const", const=False)]),
    "reply": ("RecordCustomerReply", "the customer's reply (resumes a ticket awaiting them)",
              [opt("--body", **_REQ)]),
    "hold": ("HoldTicket", "put on hold", [
        opt("--reason", metavar="awaiting_customer|awaiting_vendor|awaiting_change", **_REQ),
        opt("--note")]),
    "resume": ("ResumeTicket", "resume work after a hold", [opt("--note")]),
    "escalate": ("EscalateTicket", "to the next tier's group, or to management", [
        one_of("mode", functional=("functional", "to the next tier's group (--to GROUP)"),
               hierarchical=("hierarchical", "to management (--to MANAGER)")),
        opt("--to", **_REQ), opt("--reason")]),
    "priority": ("ChangePriority", "re-rate impact and urgency (priority follows the matrix)", [
        opt("--impact", **_LEVEL, **_REQ), opt("--urgency", **_LEVEL, **_REQ),
        opt("--reason", **_REQ), opt("--override", metavar="P1|P2|P3|P4")]),
    "resolve": ("ResolveTicket", "resolve with a code", [
        opt("--code", **_REQ), opt("--notes")]),
    "close": ("CloseTicket", "close a resolved ticket", []),
    "reopen": ("ReopenTicket", "reopen a resolved ticket within the reopen window",
               [opt("--reason", **_REQ)]),
    "cancel": ("CancelTicket", "cancel an open ticket", [opt("--reason", **_REQ)]),
    "major": ("DeclareMajorIncident", "declare a major incident", [opt("--reason", **_REQ)]),
    "satisfaction": ("RecordSatisfaction", "the customer's survey score", [
        opt("--score", type=int, metavar="1-5", **_REQ), opt("--comment")]),
    "complaint": ("RecordComplaint", "a complaint against the ticket", [opt("--text", **_REQ)]),
    "callback": ("RecordCallback", "the satisfaction call-back's outcome (opsledger callback)", [
        one_of("reached", reached=(True, "the customer was reached"),
               **{"not-reached": (False, "the customer could not be reached")}),
        opt("--score", type=int, metavar="1-5", help="the customer's satisfaction"),
        opt("--comment", help="what the customer said"),
        opt("--complaint", action="store_true", default=None,
            help="the customer complains: opens a complaint ticket linked to this one")]),
    "root-cause": ("RecordRootCause", "a problem's root cause", [
        opt("--text", dest="root_cause", **_REQ)]),
    "known-error": ("RecordKnownError", "a problem becomes a known error", [
        opt("--workaround", **_REQ), opt("--root-cause")]),
    "submit": ("SubmitChangeForApproval", "submit a change to CAB", []),
    "approve": ("ApproveChange", "CAB approves a change", [opt("--note")]),
    "reject": ("RejectChange", "CAB rejects a change", [opt("--note", **_REQ)]),
    "implement": ("StartChangeImplementation", "start implementing a change", []),
    "complete": ("CompleteChangeImplementation", "finish implementing a change", [
        one_of("succeeded", succeeded=(True, "the change worked"),
               failed=(False, "the change failed")),
        opt("--notes")]),
    "review": ("ReviewChange", "post-implementation review", [opt("--notes", **_REQ)]),
}  # fmt: skip
OPEN_OPTIONS = [
    opt("--summary", **_REQ), opt("--description"), opt("--impact", **_LEVEL),
    opt("--urgency", **_LEVEL), opt("--priority", dest="priority_override", metavar="P1-P4"),
    opt("--service"), opt("--ci", metavar="CI-000001"), opt("--reporter"), opt("--customer"),
    opt("--channel"), opt("--group"), opt("--assignee"),
]  # fmt: skip
CHANGE_OPTIONS = [
    opt("--type", dest="change_type", metavar="standard|normal|emergency"),
    opt("--risk", **_LEVEL), opt("--planned-start", metavar="ISO8601"),
    opt("--planned-end", metavar="ISO8601"),
]  # fmt: skip
OUTPUT_OPTIONS = [opt("--format", choices=("table", "json"), help="output (default: table)")]
STORE_OPTIONS = [
    opt("--db", metavar="PATH", help="SQLite file (default: $OPSLEDGER_DB or ./opsledger.db)"),
    opt("--database-url", metavar="URL", help="PostgreSQL (default: $OPSLEDGER_DATABASE_URL)"),
]
WRITE_OPTIONS = [
    opt("--actor", help="who does it (default: $OPSLEDGER_ACTOR or your user name)"),
    opt("--at", metavar="ISO8601", help="when it happened (default: now)"),
    opt("--idempotency-key", metavar="KEY", help="a retry with the same key records nothing"),
]


# -- entry point ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; return the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        settings = Settings.from_env(db_path=args.db, database_url=args.database_url)
        handler: Handler = args.run
        return handler(args, settings)
    except OpsledgerError as e:
        print(f"opsledger: error: {e}", file=sys.stderr)
        return next((code for cls, code in EXIT_CODES.items() if isinstance(e, cls)), 1)
    except KeyboardInterrupt:
        print("opsledger: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `opsledger ... | head`: the reader left; that is fine
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (run with --debug for a traceback)"
        print(f"opsledger: error: unexpected {type(e).__name__}: {e}{hint}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    # Options that may come before or after the subcommand. The subcommands' copies default
    # to SUPPRESS so they cannot overwrite an earlier flag; the top level has its own copies
    # (argparse shares Action objects with parents, and set_defaults would reach into them).
    parser = argparse.ArgumentParser(
        prog="opsledger", description="Event-sourced incident and SLA engine."
    )
    for flags, kw in (*OUTPUT_OPTIONS, *STORE_OPTIONS, *WRITE_OPTIONS):
        parser.add_argument(*flags, **kw)
    parser.set_defaults(format="table")
    out, store, write = (_parent(o) for o in (OUTPUT_OPTIONS, STORE_OPTIONS, WRITE_OPTIONS))
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    nouns = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")
    common = [out, store, write]
    for noun, kind, plural, extra in (
        ("incident", "incident", "incidents", []),
        ("request", "service_request", "service requests", []),
        ("problem", "problem", "problems", []),
        ("change", "change", "changes", CHANGE_OPTIONS),
    ):
        verbs = nouns.add_parser(noun, help=plural).add_subparsers(dest="verb", required=True)
        p = verbs.add_parser("open", parents=common, help="open one; prints its number")
        _add(p, [*OPEN_OPTIONS, *extra])
        p.set_defaults(run=_open, fields={"kind": kind})
    ci = nouns.add_parser("ci", help="configuration items").add_subparsers(
        dest="verb", required=True
    )
    p = ci.add_parser("register", parents=common, help="register a CI; prints its number")
    _add(
        p,
        [
            opt("--type", dest="ci_type", **_REQ),
            opt("--name", **_REQ),
            opt("--owner"),
            opt("--attr", action="append", metavar="KEY=VALUE", help="repeatable"),
            opt("--status", metavar="planned|live|retired"),
        ],
    )
    p.set_defaults(run=_register_ci)
    _ticket_parsers(nouns.add_parser("ticket", help="show, list and change tickets"), common)
    from opsledger import cli_sla  # it imports this module's helpers

    cli_sla.add_parsers(nouns, common)
    from opsledger import cli_callback  # it imports this module's helpers

    cli_callback.add_parsers(nouns, common, _engine)
    demo = nouns.add_parser(
        "demo", parents=[out], help="run a seeded month on a fresh SQLite file (or empty database)"
    )
    demo.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="demo database, deleted and recreated (default: ./opsledger-demo.db)",
    )
    demo.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="run on this PostgreSQL database instead (default: $OPSLEDGER_DATABASE_URL); "
        "it must be empty",
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.add_argument("--month", metavar="YYYY-MM", help="default: last month")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    demo.set_defaults(run=_demo)
    cli_views.add_parsers(nouns, common, _engine)
    cli_report.add_parsers(nouns, common, _engine)
    cli_plugins.add_parsers(nouns, common, _engine)
    cli_kafka.add_parsers(nouns, common, _engine)
    from opsledger import cli_serve  # it imports this module's helpers

    cli_serve.add_parsers(nouns, common, _engine)
    cli_audit.add_parsers(nouns, common, _engine)
    return parser


def _ticket_parsers(ticket: argparse.ArgumentParser, common: list[argparse.ArgumentParser]) -> None:
    verbs = ticket.add_subparsers(dest="verb", required=True)
    reads = common[:2]
    show = verbs.add_parser("show", parents=reads, help="a ticket or CI, now or as it was")
    show.add_argument("number")
    when = show.add_mutually_exclusive_group()
    when.add_argument("--as-of", metavar="ISO8601", help="as it was at this instant")
    when.add_argument("--version", type=int, help="as it was at this version")
    show.set_defaults(run=_show)
    history = verbs.add_parser("history", parents=reads, help="every recorded event")
    history.add_argument("number")
    history.set_defaults(run=_history)
    timeline = verbs.add_parser(
        "timeline", parents=reads, help="every event in words: who, when, why"
    )
    timeline.add_argument("number")
    timeline.set_defaults(
        run=lambda args, settings: cli_audit.run_timeline(args, settings, _engine)
    )
    listing = verbs.add_parser("list", parents=reads, help="tickets, newest first")
    listing.add_argument("--kind", metavar="incident|request|problem|change")
    listing.add_argument("--state", metavar="STATE[,STATE]", help="e.g. open, on_hold, resolved")
    listing.add_argument("--limit", type=int, metavar="N")
    listing.set_defaults(run=_list)
    link = verbs.add_parser("link", parents=common, help="link two records")
    for name in ("source", "relation", "target"):
        link.add_argument(name)
    link.set_defaults(run=_write, command="LinkRecords")
    transition = verbs.add_parser("transition", help="record a lifecycle step")
    transition.add_argument("number", metavar="N")
    actions = transition.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, (command, helptext, options) in TRANSITIONS.items():
        p = actions.add_parser(action, parents=common, help=helptext, description=helptext)
        _add(p, options)
        p.set_defaults(run=_write, command=command)


def _parent(options: Iterable[Opt]) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    for flags, kw in options:
        parent.add_argument(*flags, default=argparse.SUPPRESS, **kw)
    return parent


def _add(parser: argparse.ArgumentParser, options: Iterable[Opt]) -> None:
    for flags, kw in options:
        if not flags:  # one_of: mutually exclusive flags filling one field
            group = parser.add_mutually_exclusive_group(required=True)
            for flag, (const, helptext) in kw["flags"].items():
                group.add_argument(
                    f"--{flag}", dest=kw["dest"], action="store_const", const=const, help=helptext
                )
        else:
            parser.add_argument(*flags, **kw)


# -- writes ------------------------------------------------------------------------------------


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return os.environ.get("OPSLEDGER_ACTOR") or getpass.getuser()
    except OSError:
        return "cli"


def _command(args: argparse.Namespace, name: str, **fields: Any) -> Command:
    """Command ``name`` from the flags that are its fields, plus ``fields``."""
    known = {f.name for f in dataclasses.fields(COMMANDS[name])}
    data = {k: v for k, v in vars(args).items() if k in known and v is not None}
    data.update(fields, actor=_actor(args))
    return command_from_dict(name, data)


def _execute(settings: Settings, args: argparse.Namespace, name: str, **fields: Any) -> Outcome:
    """Build command ``name`` from the flags and run it."""
    command = _command(args, name, **fields)
    with _engine(settings) as engine:
        return engine.execute(command)


def _open(args: argparse.Namespace, settings: Settings) -> int:
    return _report(args, _execute(settings, args, "OpenTicket", **args.fields), new=True)


def _register_ci(args: argparse.Namespace, settings: Settings) -> int:
    attributes = dict(_attribute(text) for text in args.attr or ())
    outcome = _execute(settings, args, "RegisterCI", attributes=attributes)
    return _report(args, outcome, new=True)


def _attribute(text: str) -> tuple[str, Any]:
    """``key=value``; whole numbers and true/false become numbers and booleans."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError("attr", f"{text!r} is not key=value")
    parsed: Any = {"true": True, "false": False}.get(value.lower(), value)
    if value.lstrip("-").isdigit():
        parsed = int(value)
    return key.strip(), parsed


def _write(args: argparse.Namespace, settings: Settings) -> int:
    fields = {"ticket": args.number} if hasattr(args, "number") else {}
    if args.command == "LinkRecords":
        fields["relation"] = args.relation.lower().replace("-", "_")
    return _report(args, _execute(settings, args, args.command, **fields), new=False)


def _report(args: argparse.Namespace, outcome: Outcome, *, new: bool) -> int:
    """A new record prints its number; a transition prints each event it recorded."""
    if args.format == "json":
        print_json({**outcome.to_dict(), "duplicate": outcome.duplicate})
    elif new:
        print(outcome.number)
    else:
        print_recorded(outcome)
    _note_duplicate(args, outcome)
    return 0


def _note_duplicate(args: argparse.Namespace, outcome: Outcome) -> None:
    if outcome.duplicate:
        print(
            f"opsledger: note: idempotency key {args.idempotency_key!r} was used before; "
            "nothing new was recorded",
            file=sys.stderr,
        )


# -- reads -------------------------------------------------------------------------------------


def _engine(settings: Settings, *, must_exist: bool = False) -> Engine:
    if settings.backend == "sqlite":
        path = Path(settings.db_path)
        if must_exist and not path.exists():
            raise NotFoundError("database", settings.location)
        if not path.parent.is_dir():
            raise InputError("db", f"directory {path.parent} does not exist")
    return Engine(settings)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings, must_exist=True) as engine:
        if args.as_of is not None:
            data = engine.get_as_of(args.number, at=parse_instant(args.as_of, "as_of"))
        elif args.version is not None:
            data = engine.get_as_of(args.number, version=args.version)
        else:
            data = engine.get(args.number)
    if args.format == "json":
        print_json(data)
    else:
        print_record(data)
    return 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings, must_exist=True) as engine:
        entries = engine.history(args.number)
    if args.format == "json":
        print_json([e.to_dict() for e in entries])
        return 0
    print_history(entries)
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    kinds = list(dict.fromkeys(KINDS.values()))
    if args.kind:
        kind = KINDS.get(args.kind.strip().lower().replace("-", "_"))
        if kind is None:
            raise InputError(
                "kind", f"{args.kind!r} is not one of incident, request, problem, change"
            )
        kinds = [kind]
    states = _states(args.state)
    if args.limit is not None and args.limit < 1:
        raise InputError("limit", "must be 1 or more")
    found: list[dict[str, Any]] = []
    with _engine(settings, must_exist=True) as engine:
        for kind in kinds:
            for number in reversed(list(engine.numbers(kind))):
                data = engine.get(number)
                if states is None or data["state"] in states:
                    found.append(data)
                if args.limit is not None and len(found) >= args.limit and len(kinds) == 1:
                    break
    found.sort(key=lambda d: d["opened_at"], reverse=True)
    found = found[: args.limit] if args.limit is not None else found
    if args.format == "json":
        print_json(found)
        return 0
    print_tickets(found)
    return 0


def _states(text: str | None) -> set[str] | None:
    if not text:
        return None
    known = {s.value for s in TicketState}
    states: set[str] = set()
    for item in text.split(","):
        name = item.strip().lower().replace("-", "_")
        if name == "open":
            states |= {s.value for s in OPEN_STATES}
        elif name in known:
            states.add(name)
        else:
            raise InputError("state", f"{item!r} is not open or one of {', '.join(sorted(known))}")
    return states


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    """A fresh SQLite file by default; on PostgreSQL (when a URL is given and ``--db`` is not)
    only an empty database, since there is no file to delete and recreate."""
    from opsledger.demo import (
        DEMO_DB,
        parse_month,
        prepare_demo_file,
        previous_month,
        require_empty,
        run_demo,
    )
    from opsledger.render import ProgressLine, format_summary

    month = parse_month(args.month) if args.month else previous_month(date.today())
    if not args.scale > 0:
        raise InputError("scale", "must be more than 0")
    db_arg: str | None = args.db
    on_postgres = bool(settings.database_url) and db_arg is None
    if on_postgres:
        engine, replaced = Engine(settings), False
    else:
        db_arg = db_arg or DEMO_DB
        replaced = prepare_demo_file(Path(db_arg))
        engine = Engine(settings.with_(db_path=db_arg, database_url=None))
    progress = ProgressLine(sys.stderr, quiet=args.quiet)
    with engine:
        if on_postgres:
            require_empty(engine)
        summary = run_demo(engine, month, seed=args.seed, scale=args.scale, progress=progress)
    progress.finish()
    if args.format == "json":
        print_json({**summary.to_dict(), "replaced": replaced})
    else:
        print(format_summary(summary, db_arg=db_arg, replaced=replaced))
    return 0 if summary.chain_ok else 1
