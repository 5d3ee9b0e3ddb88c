"""The ticket page: header fields, every SLA clock drawn against business hours, the timeline.

The timeline is the audit tools' ``opsledger.core.audit.timeline`` when that module exists
(who, when and why, worded for people), else the engine's raw history; either way each entry
arrives as a ``to_dict()`` mapping and is shown as when / who / what / details.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.adapters.http.dashboard_clock import (
    ClockPicture,
    clock_svg,
    countdown_spans,
    picture,
    signed_remaining,
)
from opsledger.adapters.http.dashboard_html import (
    NONE,
    attr,
    business,
    countdown,
    esc,
    table,
    when,
)
from opsledger.core.domain.ticket import Ticket
from opsledger.core.sla_status import clock_statuses

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

AUDIT_MODULE = "opsledger.core.audit"
#: Keys a timeline entry may use for when, who, what, and the sentence saying it for people
#: (the audit timeline's and the history's first, then likely others).
WHEN, WHO, WHAT = ("at", "when", "timestamp"), ("actor", "who", "by"), ("event", "what", "type")
SAYS = ("text", "why", "sentence")
#: Longer detail values are cut (a clock's recorded calendar, a long description).
DETAIL_LIMIT = 240
_HEADER = (
    ("Kind", "kind"),
    ("State", "state"),
    ("Priority", "priority"),
    ("Impact", "impact"),
    ("Urgency", "urgency"),
    ("Service", "service"),
    ("CI", "ci"),
    ("Group", "group"),
    ("Assignee", "assignee"),
    ("Tier", "tier"),
    ("On hold for", "hold_reason"),
    ("Customer", "customer"),
    ("Reporter", "reporter"),
    ("Channel", "channel"),
    ("Reopened", "reopen_count"),
    ("Reassigned", "reassignment_count"),
    ("Resolution", "resolution_code"),
    ("Resolution notes", "resolution_notes"),
)
_INSTANTS = (
    ("Opened", "opened_at"),
    ("Acknowledged", "acknowledged_at"),
    ("Resolved", "resolved_at"),
    ("Closed", "closed_at"),
)


def timeline(engine: Engine, number: str) -> tuple[str, list[dict[str, Any]]]:
    """(source, entries): the audit module's timeline if installed, else the history."""
    try:
        audit = importlib.import_module(AUDIT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != AUDIT_MODULE:
            raise  # the module exists but something it imports does not: a real error
        audit = None
    build = getattr(audit, "timeline", None)
    if callable(build):
        return "audit", [entry.to_dict() for entry in build(engine, number)]
    return "history", [entry.to_dict() for entry in engine.history(number)]


def _first(entry: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((entry[k] for k in keys if entry.get(k) not in (None, "")), None)


def _detail(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def _details(entry: Mapping[str, Any]) -> str:
    """Everything but when, who and what, as ``key: value`` items (nested details flattened)."""
    skip = {*WHEN, *WHO, *WHAT, *SAYS, "version"}
    items = {k: v for k, v in entry.items() if k not in skip and k != "details"}
    nested = entry.get("details")
    if isinstance(nested, Mapping):
        items.update(nested)
    elif nested not in (None, ""):
        items["details"] = nested
    shown = [
        f"<span class=detail><b>{esc(k)}</b>: {esc(_detail(v))}</span>"
        for k, v in items.items()
        if v not in (None, "", [], {})
    ]
    return "; ".join(shown)


def _timeline_row(entry: Mapping[str, Any]) -> str:
    what, says = _first(entry, WHAT), _first(entry, SAYS)
    sentence = f"<div class=says>{esc(says)}</div>" if says is not None else ""
    return (
        f"<tr class=event data-event={attr(what)}><td class=num>{esc(entry.get('version'))}</td>"
        f"<td>{when(_first(entry, WHEN))}</td><td class=who>{esc(_first(entry, WHO))}</td>"
        f"<td class=what>{esc(what)}</td><td>{sentence}<div class=details>{_details(entry)}"
        "</div></td></tr>"
    )


def clock_pictures(engine: Engine, ticket: Ticket, now: datetime) -> list[ClockPicture]:
    """Every clock of ``ticket`` as of ``now``, SLA before OLA and UC, in start order."""
    events: dict[str, list[dict[str, Any]]] = {}
    for entry in engine.history(ticket.number):
        key = entry.details.get("clock")
        if key:
            events.setdefault(key, []).append(
                {"event": entry.event, "at": entry.at, "details": entry.details}
            )
    statuses = {s.clock: s for s in clock_statuses(ticket, now)}
    order = {"sla": 0, "ola": 1, "uc": 2}
    keys = sorted(
        ticket.clocks,
        key=lambda k: (order.get(ticket.clocks[k]["agreement"], 9), ticket.clocks[k]["started_at"]),
    )
    return [picture(k, ticket.clocks[k], statuses[k], events.get(k, []), now) for k in keys]


def _clock_facts(p: ClockPicture) -> str:
    s = p.status
    left = signed_remaining(s)
    ticking = countdown_spans(p.calendar, p.now, p.due) if s.state == "running" else None
    remaining = countdown(left, p.now, ticking) if p.live else esc(NONE)
    reached = ", ".join(f"{w} %" for w in s.warnings_reached) or "none"
    due_label = "Due if resumed now" if p.due_projected else "Due (target runs out)"
    cal = p.calendar
    facts = [
        ("Policy", esc(f"{s.policy} v{s.version} ({s.agreement.upper()})")),
        (
            "State",
            f"<span class={attr('marker ' + p.health)}>{esc(p.health.upper())}</span> "
            f"{esc(s.state)}",
        ),
        (
            "Business time used",
            esc(f"{business(s.elapsed.total_seconds())} of {business(s.target.total_seconds())}"),
        ),
        ("Remaining", remaining),
        ("Warnings reached", esc(reached)),
        ("Started", when(p.start)),
        (due_label, when(p.due)),
        ("Breached at", when(p.breach_at)),
        ("Stopped", when(p.end) if not p.live else esc(NONE)),
        ("Calendar", esc(f"{cal.name} ({'24x7' if cal.always_open else cal.timezone})")),
    ]
    return "<dl class=fields>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


_LEGEND = (
    "<div class=legend><span><span class=swatch style='background:#cfe8dc'></span>business "
    "hours</span><span><span class=swatch style='background:#e9ebf0'></span>closed</span>"
    "<span><span class=swatch style='background:#0072B2'></span>time counted</span><span>"
    "<span class=swatch style='background:repeating-linear-gradient(45deg,#5b6475 0 2px,"
    "#f3f4f7 2px 5px)'></span>paused</span><span>dashed: warning thresholds; due; breach; "
    "now</span><span>axis in UTC</span><span>lower bar: business time used against the "
    "target (ticks at the warnings and 100 %)</span></div>"
)


def render_ticket(
    record: Mapping[str, Any],
    pictures: Sequence[ClockPicture],
    entries: Sequence[Mapping[str, Any]],
    *,
    source: str,
    link: Callable[[str], str | None],
) -> str:
    """The page body of one ticket."""
    number = record["number"]
    fields = [(label, esc(record.get(key))) for label, key in _HEADER if key in record]
    fields += [(label, when(record.get(key))) for label, key in _INSTANTS]
    links = []
    for item in record.get("links", []):
        target = str(item.get("target"))
        href = link(target)
        shown = f"<a href={attr(href)}>{esc(target)}</a>" if href else esc(target)
        links.append(f"{esc(item.get('relation'))} {shown}")
    if links:
        fields.append(("Links", ", ".join(links)))
    header = (
        "<dl class='fields ticket'>"
        + "".join(
            f"<dt>{esc(label)}</dt><dd data-field={attr(label.lower())}>{value}</dd>"
            for label, value in fields
        )
        + "</dl>"
    )
    clocks = "".join(
        f"<figure class=clock data-clock={attr(p.key)} data-health={attr(p.health)}>"
        f"<figcaption>{esc(p.status.metric)} · {esc(p.key)}</figcaption>"
        f"{clock_svg(p, i)}{_clock_facts(p)}</figure>"
        for i, p in enumerate(pictures)
    )
    rows = (_timeline_row(entry) for entry in entries)
    source_note = "audit timeline" if source == "audit" else "event history"
    description = record.get("description")
    return (
        f"<h1><span id=number>{esc(number)}</span> · <span id=summary>"
        f"{esc(record.get('summary'))}</span></h1>"
        + (f"<p class=description>{esc(description)}</p>" if description else "")
        + header
        + "<h2>SLA clocks</h2>"
        + (_LEGEND + clocks if pictures else "<p class=muted>No SLA clocks.</p>")
        + f"<h2>Timeline <span class=muted>({len(entries)} events, {source_note})</span></h2>"
        + table(["#", "When (UTC)", "Who", "What", "Why and details"], rows, cls="timeline")
    )
