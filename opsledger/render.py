"""Terminal output for the CLI: tables, a ticket at a glance, demo progress and summary.

Only the command line prints; everything here takes plain data and writes text.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from opsledger import HistoryEntry, Outcome

if TYPE_CHECKING:
    from opsledger.demo import DemoSummary


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact(details: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in details.items() if v not in (None, "", [], {})]
    return cut(", ".join(parts), 90)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_recorded(outcome: Outcome) -> None:
    """What a transition recorded: one line per event (a link records one on each side)."""
    for event in outcome.events:
        print(f"{event['record']}  v{event['version']}  {event['event']}")
    if not outcome.events:
        print(f"{outcome.number}  v{outcome.version}  (nothing new to record)")


def print_history(entries: list[HistoryEntry]) -> None:
    rows = [[str(e.version), when(e.at), e.event, e.actor, compact(e.details)] for e in entries]
    print_table(["VER", "TIME (UTC)", "EVENT", "ACTOR", "DETAILS"], rows)


def print_tickets(tickets: list[dict[str, Any]]) -> None:
    rows = [
        [d["number"], d["state"], d["priority"], d["group"] or "-", d["assignee"] or "-",
         when(d["opened_at"]), cut(d["summary"], 50)]
        for d in tickets
    ]  # fmt: skip
    print_table(["NUMBER", "STATE", "PRI", "GROUP", "ASSIGNEE", "OPENED (UTC)", "SUMMARY"], rows)


def print_record(d: dict[str, Any]) -> None:
    """The fields a person looks for first; ``--format json`` has all of them."""

    def by(at: str | None, who: str | None) -> str | None:
        return f"{when(at)} UTC by {who}" if at else None

    rows: list[tuple[str, Any]] = [("kind", d["kind"] + (" (major)" if d.get("major") else ""))]
    if d["kind"] == "configuration_item":
        rows += [
            ("type", d["ci_type"]),
            ("status", d["status"]),
            ("owner", d["owner"]),
            ("attributes", ", ".join(f"{k}={v}" for k, v in d["attributes"].items())),
        ]
    else:
        sat = d["satisfaction"]
        rows += [
            ("state", d["state"] + (f" ({d['hold_reason']})" if d["hold_reason"] else "")),
            ("priority", f"{d['priority']} (impact {d['impact']}, urgency {d['urgency']})"),
            ("service", d["service"]),
            ("ci", d["ci"]),
            ("group", f"{d['group']} ({d['tier']})" if d["group"] else None),
            ("assignee", d["assignee"]),
            ("reporter", f"{d['reporter']} via {d['channel']}"),
            ("customer", d["customer"]),
            ("opened", by(d["opened_at"], d["opened_by"])),
            ("acknowledged", by(d["acknowledged_at"], d["acknowledged_by"])),
            (
                "resolved",
                f"{when(d['resolved_at'])} UTC: {d['resolution_code']}"
                + (f" - {d['resolution_notes']}" if d["resolution_notes"] else "")
                if d["resolved_at"]
                else None,
            ),
            ("closed", when(d["closed_at"]) + " UTC" if d["closed_at"] else None),
            (
                "escalations",
                f"{d['functional_escalations']} functional, management level "
                f"{d['escalation_level']}"
                if d["functional_escalations"] or d["escalation_level"]
                else None,
            ),
            ("reopened", d["reopen_count"] or None),
            ("satisfaction", f"{sat['score']}/5 {sat['comment']}".strip() if sat else None),
            ("complaints", d["complaints"] or None),
            (
                "activity",
                f"{d['public_comments']} comments, {d['work_notes']} work notes, "
                f"{d['customer_replies']} customer replies",
            ),
        ]
        if d["kind"] == "change":
            window = f"{when(d['planned_start'])} - {when(d['planned_end'])} UTC"
            rows += [
                ("change", f"{d['change_type']}, risk {d['risk']}, phase {d['phase']}"),
                ("window", window if d["planned_start"] else None),
                (
                    "approvals",
                    "; ".join(f"{a['decision']} by {a['by']}" for a in d["approvals"]) or None,
                ),
            ]
        if d["kind"] == "problem":
            rows += [
                ("root cause", d["root_cause"]),
                ("workaround", d["workaround"] if d["known_error"] else None),
            ]
    rows += [
        ("links", ", ".join(f"{link['relation']} {link['target']}" for link in d["links"])),
        ("version", f"{d['version']} (last change {when(d['modified_on'])} UTC)"),
    ]
    title = d.get("summary") or d.get("name") or ""
    print(f"{d['number']}  {title}")
    shown = [(label, str(value)) for label, value in rows if value not in (None, "")]
    width = max(len(label) for label, _ in shown)
    for label, value in shown:
        print(f"  {label.ljust(width)}  {value}")


class ProgressLine:
    """One updating ``[####....] 42%`` line on a terminal; a few plain lines otherwise."""

    def __init__(self, stream: TextIO, *, quiet: bool = False, width: int = 30) -> None:
        self.stream, self.quiet, self.width = stream, quiet, width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._next_quarter = 0.25
        self._drawn = False

    def __call__(self, fraction: float, commands: int) -> None:
        if self.quiet:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        if self.tty:
            filled = round(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {fraction:4.0%} {commands} commands")
            self.stream.flush()
            self._drawn = True
        elif fraction >= self._next_quarter:
            self.stream.write(f"opsledger demo: {fraction:.0%} of the month, {commands} commands\n")
            self.stream.flush()
            while self._next_quarter <= fraction:
                self._next_quarter += 0.25

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _grid(title: str, rows: dict[str, dict[str, int]], columns: list[str]) -> list[str]:
    head = [title, "total", *columns]
    body = [
        [kind, str(sum(r.values())), *(str(r.get(col, 0)) for col in columns)]
        for kind, r in rows.items()
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [head, *body]
    ]


def format_summary(summary: DemoSummary, *, db_arg: str, replaced: bool) -> str:
    """The few lines a newcomer reads after the demo: what happened, where, what to try."""
    states = ["new", "assigned", "in_progress", "on_hold", "resolved", "closed", "cancelled"]
    lines = [
        f"opsledger demo: {summary.month} (desk time {summary.timezone}), seed {summary.seed}",
        f"database: {summary.location}"
        + (" (the previous demo database there was deleted and recreated)" if replaced else ""),
        "",
        *_grid("records", summary.per_state, states),
        "",
        *_grid("priority", summary.per_priority, ["P1", "P2", "P3", "P4"]),
        "",
        f"configuration items: {summary.configuration_items}",
        f"{summary.commands} commands recorded {summary.events} events in "
        f"{summary.elapsed_s:.1f} s",
        f"hash chain over {summary.log_entries} log entries: "
        + ("verified" if summary.chain_ok else "BROKEN"),
    ]
    if summary.notable:
        lines += ["", "worth a look:"]
        lines += [f"  {what:<36} {number}" for what, number in summary.notable.items()]
    db = f"opsledger --db {shlex.quote(db_arg)}"
    lines += ["", "try next:"]
    if summary.as_of_example is not None:
        number, at = summary.as_of_example
        lines += [
            f"  {db} ticket show {number}",
            f"  {db} ticket history {number}",
            f"  {db} ticket show {number} --as-of {at}",
        ]
    lines.append(f"  {db} ticket list --kind incident --state open --limit 10")
    return "\n".join(lines)
