"""The ``opsledger`` command line: flags become commands, Engine runs them, people read tables.

Settings are built once here from flags and ``OPSLEDGER_*`` variables and passed down. Every
OpsledgerError becomes one ``opsledger: error: ...`` line on stderr and an exit status
(2 bad input, 3 not found, 4 not allowed in this state, 5 conflict); nothing else prints a
traceback unless ``--debug`` asks for it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

from eventsourcing.application import AggregateNotFoundError

from opsledger import (
    ConflictError,
    DomainError,
    Engine,
    InputError,
    NotFoundError,
    OpsledgerError,
    Outcome,
    Settings,
    cli_views,
)
from opsledger.core.clock import parse_instant
from opsledger.core.commands import COMMANDS, Command, command_from_dict
from opsledger.core.domain.records import RecordKind, normalise_number
from opsledger.core.domain.sla import SlaPolicy
from opsledger.core.domain.ticket import OPEN_STATES, Ticket, TicketState
from opsledger.core.policies import POLICY_BOOK_ID, PolicyBook
from opsledger.render import (
    SELECTORS,
    print_clock_statuses,
    print_history,
    print_json,
    print_policies,
    print_policy,
    print_record,
    print_recorded,
    print_tickets,
    print_whatif,
    when,
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
    _sla_parsers(nouns, common)
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


def _sla_parsers(nouns: Any, common: list[argparse.ArgumentParser]) -> None:
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


# -- policies, clocks, the scheduler ----------------------------------------------------------


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
