"""Terminal output for the CLI: tables, a ticket at a glance, demo progress and summary.

Only the command line prints; everything here takes plain data and writes text.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from opsledger import HistoryEntry, Outcome

if TYPE_CHECKING:
    from opsledger.core.sla_status import ClockStatus
    from opsledger.demo import DemoSummary

#: The fields of a policy that decide which tickets it governs.
SELECTORS = ("services", "customers", "groups", "vendors", "kinds")


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


# -- SLA -----------------------------------------------------------------------------------------


def span(delta: timedelta) -> str:
    """Business time as H:MM:SS; hours go past 24 because business time is not calendar days."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def minutes_text(value: float | None) -> str:
    """A target in minutes as people say it: 15m, 4h, 1h30m."""
    if value is None:
        return "-"
    hours, mins = divmod(round(value), 60)
    return (f"{hours}h" if hours else "") + (f"{mins}m" if mins or not hours else "")


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def calendar_text(cal: dict[str, Any]) -> str:
    """``Asia/Shanghai, mon-fri 09:00-12:00,13:00-18:00, CN holidays``: one line per calendar."""
    parts = [cal.get("timezone", "UTC")]
    if cal.get("always_open"):
        return f"{parts[0]}, round the clock"
    runs: list[tuple[list[str], str]] = []
    for day, intervals in (cal.get("hours") or {}).items():
        hours = ",".join(f"{a}-{b}" for a, b in intervals)
        if runs and runs[-1][1] == hours:
            runs[-1][0].append(day)
        else:
            runs.append(([day], hours))
    parts += [f"{d[0]}-{d[-1]} {h}" if len(d) > 1 else f"{d[0]} {h}" for d, h in runs]
    if cal.get("country"):
        where = cal["country"] + (f"-{cal['subdiv']}" if cal.get("subdiv") else "")
        parts.append(f"{where} public holidays")
    for key, label in (("closures", "closures"), ("makeup_days", "make-up days")):
        if cal.get(key):
            parts.append(f"{len(cal[key])} extra {label}")
    return ", ".join(parts)


def selection_text(definition: dict[str, Any]) -> str:
    found = [f"{k} {','.join(definition[k])}" for k in SELECTORS if definition.get(k)]
    return "; ".join(found) or "everything"


def print_clock_statuses(number: str, at: datetime, statuses: Sequence[ClockStatus]) -> None:
    print(f"{number}  SLA clocks as of {when(at)} UTC (business time)")
    if not statuses:
        print("  no clocks: no policy selected this ticket")
        return
    rows = [
        [
            s.clock,
            f"{s.policy} v{s.version}",
            s.state + (", breached" if s.breached and s.state != "breached" else ""),
            span(s.target),
            span(s.elapsed),
            span(s.remaining),
            when(s.due),
            ",".join(f"{w}%" for w in s.warnings_reached) or "-",
        ]
        for s in statuses
    ]
    print_table(["CLOCK", "POLICY", "STATE", "TARGET", "USED", "LEFT", "DUE (UTC)", "WARNED"], rows)


def print_policies(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no policies defined: tickets get no clocks (`opsledger policy define FILE`)")
        return
    table = [
        [
            r["name"],
            r["agreement"],
            f"v{r['version']}",
            "retired" if r["retired"] else "in force",
            cut(selection_text(r["selects"]), 60),
            when(r["defined_at"]),
            r["defined_by"] or "-",
        ]
        for r in rows
    ]
    print_table(["NAME", "AGREEMENT", "VERSION", "STATUS", "SELECTS", "DEFINED (UTC)", "BY"], table)


def print_policy(data: dict[str, Any]) -> None:
    d = data["definition"]
    status = "retired" if data["retired"] else "in force"
    latest = "" if data["version"] == data["versions"] else f", latest is v{data['versions']}"
    print(f"{data['name']} v{data['version']}  {d['agreement']}, {status}{latest}")
    rows = [
        ("description", d.get("description") or "-"),
        ("defined", f"{when(data['defined_at'])} UTC by {data['defined_by']}"),
        ("selects", selection_text(d)),
        ("pauses on", ", ".join(d.get("pause_on") or []) or "nothing"),
        ("on reopen", d.get("on_reopen", "resume")),
        ("on priority change", d.get("on_priority_change", "retroactive")),
        ("warnings", ", ".join(f"{w}%" for w in d.get("warnings") or []) or "none"),
        *((f"calendar {name}", calendar_text(cal)) for name, cal in d["calendars"].items()),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    print()
    targets = [
        [
            prio,
            t.get("calendar", "-"),
            minutes_text(t.get("response_minutes")),
            minutes_text(t.get("resolution_minutes")),
            minutes_text(t.get("update_minutes")),
        ]
        for prio, t in sorted(d["targets"].items())
    ]
    print_table(["PRIORITY", "CALENDAR", "RESPONSE", "RESOLUTION", "UPDATE"], targets)


def print_whatif(data: dict[str, Any]) -> None:
    print(
        f"what-if: policy {data['policy']} over {data['tickets']} tickets opened "
        f"{when(data['from'])} - {when(data['to'])} UTC"
    )
    if not data["rows"]:
        print("  no decided clocks in that period")
        return
    rows = [
        [
            r["priority"],
            r["metric"],
            f"{r['actual_met']} met, {r['actual_breached']} breached",
            percent(r["actual_attainment"]),
            f"{r['whatif_met']} met, {r['whatif_breached']} breached",
            percent(r["whatif_attainment"]),
            "-" if r["difference"] is None else f"{100 * r['difference']:+.1f} pts",
        ]
        for r in data["rows"]
    ]
    print_table(
        ["PRI", "METRIC", "RECORDED", "ATTAINMENT", "WHAT-IF", "ATTAINMENT", "CHANGE"], rows
    )


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


def _align(rows: list[list[str]]) -> list[str]:
    """First column left-aligned, the (numeric) rest right-aligned."""
    widths = [max(len(line[i]) for line in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in rows
    ]


def _grid(title: str, rows: dict[str, dict[str, int]], columns: list[str]) -> list[str]:
    head = [title, "total", *columns]
    body = [
        [kind, str(sum(r.values())), *(str(r.get(col, 0)) for col in columns)]
        for kind, r in rows.items()
    ]
    return _align([head, *body])


def _sla_lines(summary: DemoSummary) -> list[str]:
    """Attainment per metric and priority, then the OLA clocks in one line each."""
    from opsledger.demo import OUTCOMES, TICK_EVERY, attainment

    every = int(TICK_EVERY.total_seconds() // 60)
    lines = [
        f"SLA policies: {', '.join(summary.policies)}; the scheduler ticked every {every} "
        f"simulated minutes ({summary.ticks} ticks) and recorded {summary.ticked_events} "
        "clock events",
        "",
    ]
    body = [
        [f"{metric} {prio}", *(str(row.get(o, 0)) for o in OUTCOMES), percent(attainment(row))]
        for metric, per_priority in summary.sla.items()
        for prio, row in per_priority.items()
    ]
    if not body:
        return [*lines, "no SLA clocks were decided this month"]
    lines += _align([["SLA attainment", *OUTCOMES, "attained"], *body])
    for metric, row in summary.ola.items():
        counts = ", ".join(f"{row.get(o, 0)} {o}" for o in OUTCOMES)
        lines.append(f"OLA {metric}: {counts} ({percent(attainment(row))} attained)")
    return lines


def format_summary(summary: DemoSummary, *, db_arg: str | None, replaced: bool) -> str:
    """The few lines a newcomer reads after the demo: what happened, where, what to try.

    ``db_arg`` is the SQLite file as given, or None on PostgreSQL (whose URL may hold a password,
    so the commands to try rely on the same OPSLEDGER_DATABASE_URL or --database-url).
    """
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
        *_sla_lines(summary),
        "",
        f"configuration items: {summary.configuration_items}",
        f"{summary.commands} commands recorded {summary.events} events in "
        f"{summary.elapsed_s:.1f} s",
        f"hash chain over {summary.log_entries} log entries: "
        + ("verified" if summary.chain_ok else "BROKEN"),
    ]
    if summary.report:
        lines += ["", f"service quality report: {summary.report}"]
    if summary.notable:
        lines += ["", "worth a look:"]
        lines += [f"  {what:<36} {number}" for what, number in summary.notable.items()]
    db = "opsledger" if db_arg is None else f"opsledger --db {shlex.quote(db_arg)}"
    lines += ["", "try next:" if db_arg else "try next (with the same database URL):"]
    if summary.as_of_example is not None:
        number, at = summary.as_of_example
        lines += [
            f"  {db} ticket show {number}",
            f"  {db} ticket history {number}",
            f"  {db} ticket show {number} --as-of {at}",
        ]
    lines.append(f"  {db} ticket list --kind incident --state open --limit 10")
    lines.append(f"  {db} policy list")
    breached = summary.notable.get("resolution SLA breached")
    if breached is not None:
        lines.append(f"  {db} sla explain {breached}")
        lines.append(f"  {db} sla status {breached}")
    lines.append(f"  {db} queue --limit 10")
    lines.append(f"  {db} projections status")
    if summary.month:
        lines.append(f"  {db} report --month {summary.month} --format md --lang zh")
    return "\n".join(lines)
