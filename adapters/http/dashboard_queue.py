"""The work-queue page: open tickets per group, each with its next SLA countdown and health.

The queue itself is the ``work_queue`` read model; what it cannot know (how much business time
is left *now*) comes from each ticket's clocks as of the engine's clock, so a page never shows
a clock as fine that has run out since its last event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsledger.adapters.http.dashboard_clock import countdown_spans, health, signed_remaining
from opsledger.adapters.http.dashboard_html import attr, countdown, esc, table, when
from opsledger.core.domain.clocks import calendar_of
from opsledger.core.domain.ticket import Ticket
from opsledger.core.sla_status import ClockStatus, clock_statuses

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

NO_GROUP = "(no group)"
_MARKERS = {"breached": "BREACHED", "at-risk": "AT RISK", "ok": "on track", "none": "no SLA clock"}


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One open ticket as the page shows it."""

    entry: dict[str, Any]
    #: breached, at-risk, ok, or none (no customer SLA clock)
    health: str
    #: the metrics whose SLA clock breached (or is at risk), for the text marker
    metrics: tuple[str, ...]
    #: the live clock whose due comes first (a paused one when none is running)
    next_clock: ClockStatus | None
    remaining_s: float | None
    #: open business time ahead, for the ticking countdown (None: paused, does not tick)
    spans: list[tuple[datetime, datetime]] | None


def queue_row(entry: dict[str, Any], ticket: Ticket, now: datetime) -> QueueRow:
    """The health and countdown of one queue entry from its ticket's SLA clocks as of ``now``.

    Breached when any customer SLA clock breached (a late response stays a breach while the
    resolution clock runs); at risk when a live one has used ``AT_RISK`` of its target.
    """
    statuses = [s for s in clock_statuses(ticket, now) if s.agreement == "sla"]
    counted = [s for s in statuses if s.state != "cancelled"]
    live = [s for s in counted if s.state in ("running", "paused")]
    breached = tuple(dict.fromkeys(s.metric for s in counted if s.breached))
    risky = tuple(dict.fromkeys(s.metric for s in live if health(s) == "at-risk"))
    state = "breached" if breached else "at-risk" if risky else "ok" if live else "none"
    dues = [(s.due, s) for s in live if s.state == "running" and s.due is not None]
    paused = sorted((s for s in live if s.state == "paused"), key=signed_remaining)
    chosen: ClockStatus | None = None
    if dues:
        chosen = min(dues, key=lambda pair: pair[0])[1]
    elif paused:
        chosen = paused[0]
    spans = None
    if chosen is not None and chosen.state == "running":
        spans = countdown_spans(calendar_of(ticket.clocks[chosen.clock]), now, chosen.due)
    return QueueRow(
        entry=entry,
        health=state,
        metrics=breached or risky,
        next_clock=chosen,
        remaining_s=signed_remaining(chosen) if chosen is not None else None,
        spans=spans,
    )


def queue_rows(engine: Engine, entries: Sequence[dict[str, Any]], now: datetime) -> list[QueueRow]:
    rows = []
    for entry in entries:
        ticket = engine.record(entry["number"])
        if isinstance(ticket, Ticket):
            rows.append(queue_row(entry, ticket, now))
    return rows


def _options(name: str, label: str, values: Sequence[str], chosen: str | None) -> str:
    known = list(values) + ([chosen] if chosen and chosen not in values else [])
    options = "".join(
        f"<option value={attr(v)}{' selected' if v == chosen else ''}>{esc(v)}</option>"
        for v in known
    )
    return (
        f"<label>{esc(label)}<select name={attr(name)} id={attr('filter-' + name)}>"
        f"<option value=''>all</option>{options}</select></label>"
    )


def _sla_cell(row: QueueRow, now: datetime) -> str:
    marker = _MARKERS[row.health]
    if row.metrics:
        marker += f" ({', '.join(row.metrics)})"
    cell = f"<span class={attr('marker ' + row.health)}>{esc(marker)}</span>"
    clock = row.next_clock
    if clock is not None and row.remaining_s is not None:
        paused = " (paused)" if clock.state == "paused" else ""
        cell += (
            f"<br>{esc(clock.metric)}{esc(paused)}: {countdown(row.remaining_s, now, row.spans)}"
        )
    return cell


def _row(row: QueueRow, now: datetime, link: Callable[[str], str]) -> str:
    e = row.entry
    state = e["state"] + (f" ({e['hold_reason']})" if e.get("hold_reason") else "")
    due = row.next_clock.due if row.next_clock is not None else None
    return (
        f"<tr class={attr('ticket ' + row.health)} data-number={attr(e['number'])} "
        f"data-sla={attr(row.health)}>"
        f"<td><a href={attr(link(e['number']))}>{esc(e['number'])}</a></td>"
        f"<td>{esc(e['priority'])}</td><td>{esc(state)}</td>"
        f"<td class=assignee>{esc(e.get('assignee'))}</td>"
        f"<td class=summary>{esc(e['summary'])}</td>"
        f"<td class=sla>{_sla_cell(row, now)}</td><td>{when(due)}</td></tr>"
    )


def render_queue(
    rows: Sequence[QueueRow],
    *,
    now: datetime,
    groups: Sequence[str],
    assignees: Sequence[str],
    group: str | None,
    assignee: str | None,
    reset: str,
    link: Callable[[str], str],
) -> str:
    """The page body: filters, a count line, then one table per assignment group."""
    counts = {h: sum(1 for r in rows if r.health == h) for h in ("breached", "at-risk")}
    by_group: dict[str, list[QueueRow]] = {}
    for row in rows:
        by_group.setdefault(row.entry.get("group") or NO_GROUP, []).append(row)
    order = sorted(by_group, key=lambda g: (g == NO_GROUP, g))
    head = ["Ticket", "Priority", "State", "Assignee", "Summary", "SLA (business time)", "Due"]
    sections = "".join(
        f"<section class=group data-group={attr(name)}><h2>{esc(name)} "
        f"<span class=muted>({len(by_group[name])})</span></h2>"
        f"{table(head, (_row(r, now, link) for r in by_group[name]), cls='queue')}</section>"
        for name in order
    )
    return (
        "<h1>Work queues</h1>"
        f"<form class=filters method=get>{_options('group', 'Group', groups, group)}"
        f"{_options('assignee', 'Assignee', assignees, assignee)}"
        f"<button type=submit>Filter</button><a href={attr(reset)}>clear filters</a></form>"
        f"<p class=summary><span id=open-count>{len(rows)}</span> open tickets · "
        f"<span class='marker breached'>{counts['breached']} BREACHED</span> · "
        f"<span class='marker at-risk'>{counts['at-risk']} AT RISK</span></p>"
        + (sections or "<p class=muted id=empty>No open tickets match.</p>")
    )
