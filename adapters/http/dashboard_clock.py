"""An SLA clock drawn against business hours: where its time counted, paused, and ran out.

The geometry is computed from the clock as the ticket holds it, its own recorded events (for
pauses, warnings and the breach) and its recorded calendar, as of the engine's "now"; the SVG
is then a plain function of that picture. Every mark carries ``data-start``/``data-end`` (or
``data-at``) in UTC ISO, so what is drawn can be checked against the calendar arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opsledger.adapters.http.dashboard_html import attr, business, esc, iso_z, parse_instant
from opsledger.core.domain.calendar import BusinessCalendar, Span
from opsledger.core.domain.clocks import calendar_of
from opsledger.core.sla_status import ClockStatus

#: At or above this share of its target a live clock is "at risk" (the policies' 75 % warning).
AT_RISK = 0.75
#: Open spans are looked up for at most this many days (a clock open for years stays cheap).
MAX_DAYS = 400
#: The countdown script is given the open spans of this much time ahead (or up to the due).
COUNTDOWN_AHEAD = timedelta(days=3)

WIDTH, HEIGHT = 760, 112
LEFT, RIGHT = 8, 8
LABEL_Y, LABEL_STEP, LABEL_ROWS = 10, 9, 4  # rows of marker labels above the calendar row
ROW_Y, ROW_H = 44, 30  # the calendar row: open hours, counted time, pauses
TICK_Y = 86  # dates or hours under the calendar row
BAR_Y, BAR_H = 94, 12  # the business-time row (its own scale): used against target
COLOURS = {
    "ok": "#0072B2",
    "at-risk": "#E69F00",
    "breached": "#D55E00",
    "met": "#009E73",
    "cancelled": "#8a8f99",
}
_STOPS = {"ClockMet": "met", "ClockStopped": "stopped", "ClockCancelled": "cancelled"}


def open_spans(calendar: BusinessCalendar, start: datetime, end: datetime) -> list[Span]:
    """The calendar's working time within ``[start, end)``, adjacent spans merged."""
    if end <= start:
        return []
    if calendar.always_open:
        return [(start, end)]
    zone = ZoneInfo(calendar.timezone)
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = min(end.astimezone(zone).date(), day + timedelta(days=MAX_DAYS)) + timedelta(days=1)
    spans: list[Span] = []
    while day <= last:
        for a, b in calendar.working_intervals(day):
            a, b = max(a, start), min(b, end)
            if b <= a:
                continue
            if spans and spans[-1][1] == a:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
        day += timedelta(days=1)
    return spans


def countdown_spans(calendar: BusinessCalendar, now: datetime, due: datetime | None) -> list[Span]:
    """The open time a ticking countdown may consume: from now past the due instant."""
    horizon = max(due or now, now) + COUNTDOWN_AHEAD
    return open_spans(calendar, now, horizon)


def signed_remaining(status: ClockStatus) -> float:
    """Business seconds left (negative: overdue by that much); ClockStatus clamps at zero."""
    return (status.target - status.elapsed).total_seconds()


def health(status: ClockStatus) -> str:
    """ok, at-risk, breached, met or cancelled: the word the page and the bar use."""
    if status.state == "cancelled":
        return "cancelled"
    if status.breached:
        return "breached"
    if status.state == "met":
        return "met"
    if status.target and status.elapsed >= status.target * AT_RISK:
        return "at-risk"
    return "ok"


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch in which the clock did not count: paused, or stopped until a reopen."""

    start: datetime
    end: datetime
    why: str


@dataclass(slots=True)
class ClockPicture:
    """Everything the bar shows about one clock, in UTC instants and business seconds."""

    key: str
    status: ClockStatus
    calendar: BusinessCalendar
    now: datetime
    start: datetime
    end: datetime
    gaps: list[Gap] = field(default_factory=list)
    thresholds: list[tuple[int, datetime | None]] = field(default_factory=list)
    due: datetime | None = None
    due_projected: bool = False
    breach_at: datetime | None = None
    axis: tuple[datetime, datetime] = (datetime.min, datetime.min)
    open: list[Span] = field(default_factory=list)
    counted: list[Span] = field(default_factory=list)

    @property
    def health(self) -> str:
        return health(self.status)

    @property
    def live(self) -> bool:
        return self.status.state in ("running", "paused")


def _gaps(events: Sequence[Mapping[str, Any]], end: datetime) -> list[Gap]:
    """Paused (or stopped, then resumed by a reopen) stretches, from the clock's events."""
    gaps: list[Gap] = []
    since: tuple[datetime, str] | None = None
    for e in events:
        at, name = e["at"], e["event"]
        if name == "ClockPaused" and since is None:
            since = (at, f"paused: {e['details'].get('reason', '')}")
        elif name in _STOPS and since is None:
            since = (at, f"{_STOPS[name]}, later resumed")
        elif name == "ClockResumed" and since is not None:
            gaps.append(Gap(since[0], at, since[1]))
            since = None
    if since is not None and since[1].startswith("paused"):
        gaps.append(Gap(since[0], end, since[1]))
    return gaps


def _minus(spans: Iterable[Span], gaps: Sequence[Gap]) -> list[Span]:
    """``spans`` with every gap cut out."""
    out: list[Span] = []
    for a, b in spans:
        pieces = [(a, b)]
        for g in gaps:
            pieces = [
                piece
                for x, y in pieces
                for piece in ((x, min(y, g.start)), (max(x, g.end), y))
                if piece[1] > piece[0]
            ]
        out.extend(pieces)
    return out


def picture(
    key: str,
    clock: Mapping[str, Any],
    status: ClockStatus,
    events: Sequence[Mapping[str, Any]],
    now: datetime,
) -> ClockPicture:
    """The picture of clock ``key`` as of ``now``; ``events`` are this clock's own, in order.

    Each event is ``{"event", "at", "details"}`` as ``Engine.history`` gives them.
    """
    calendar = calendar_of(dict(clock))
    stopped = parse_instant(clock.get("stopped_at"))
    end = now if status.state in ("running", "paused") or stopped is None else stopped
    p = ClockPicture(key, status, calendar, now, clock["started_at"], end)
    p.gaps = _gaps(events, end)
    fired = {e["details"].get("threshold"): e for e in events if e["event"] == "WarningReached"}
    for percent in clock["warnings"]:
        at: datetime | None = None
        if percent in fired:
            at = parse_instant(fired[percent]["details"].get("due")) or fired[percent]["at"]
        elif status.state == "running":
            goal = clock["target_us"] * percent // 100 - clock["used_us"]
            if goal > 0:
                at = calendar.add(clock["segment_start"], timedelta(microseconds=goal))
        p.thresholds.append((percent, at))
    breach = next((e for e in events if e["event"] == "BreachRecorded"), None)
    if status.state == "running":
        p.due = status.due
    elif status.state == "paused":
        p.due, p.due_projected = calendar.add(now, status.target - status.elapsed), True
    else:
        scheduled = [
            e for e in events if e["event"] in ("ClockStarted", "ClockResumed", "TargetChanged")
        ]
        last = breach or (scheduled[-1] if scheduled else None)
        p.due = parse_instant(last["details"].get("due")) if last else None
    if breach is not None:
        p.breach_at = breach["at"]
    elif status.state == "running" and status.breached and p.due is not None:
        p.breach_at = calendar.next_opening(p.due)  # not recorded yet: no tick since
    marks = [p.end, *(t for t in (p.due, p.breach_at) if t is not None)]
    if p.live:
        marks.append(now)
    last_mark = max(marks)
    span = max(last_mark - p.start, timedelta(hours=1))
    p.axis = (p.start - span * 0.03, p.start + span * 1.03)
    p.open = open_spans(calendar, *p.axis)
    p.counted = _minus(open_spans(calendar, p.start, p.end), p.gaps)
    return p


# -- drawing ---------------------------------------------------------------------------------


class _Scale:
    def __init__(self, axis: tuple[datetime, datetime]) -> None:
        self.lo, self.span = axis[0], (axis[1] - axis[0]).total_seconds()

    def x(self, at: datetime) -> float:
        share = (at - self.lo).total_seconds() / self.span
        return LEFT + (WIDTH - LEFT - RIGHT) * min(1.0, max(0.0, share))


def _rect(
    cls: str,
    s: _Scale,
    a: datetime,
    b: datetime,
    y: float,
    h: float,
    fill: str,
    title: str,
    extra: str = "",
) -> str:
    x0, x1 = s.x(a), s.x(b)
    return (
        f"<rect class={attr(cls)} data-start={attr(iso_z(a))} data-end={attr(iso_z(b))} "
        f'x="{x0:.1f}" y="{y}" width="{max(0.6, x1 - x0):.1f}" height="{h}" fill="{fill}"'
        f"{extra}><title>{esc(title)}</title></rect>"
    )


@dataclass(frozen=True, slots=True)
class _Mark:
    cls: str
    at: datetime
    colour: str
    label: str
    title: str
    dashed: bool = False


def _marks(s: _Scale, marks: Sequence[_Mark]) -> str:
    """Vertical marks with their labels, each label on the first row where it fits."""
    rows: list[list[tuple[float, float]]] = [[] for _ in range(LABEL_ROWS)]
    parts = []
    for m in sorted(marks, key=lambda m: m.at):
        x = s.x(m.at)
        anchor = "end" if x > WIDTH * 0.85 else "start"
        tx = x - 3 if anchor == "end" else x + 3
        wide = 6.5 * len(m.label)
        span = (tx - wide, tx) if anchor == "end" else (tx, tx + wide)
        row = next(
            (i for i, used in enumerate(rows) if all(b < span[0] or a > span[1] for a, b in used)),
            LABEL_ROWS - 1,
        )
        rows[row].append(span)
        y = LABEL_Y + LABEL_STEP * row
        dash = ' stroke-dasharray="4 3"' if m.dashed else ""
        parts.append(
            f"<g class={attr(m.cls)} data-at={attr(iso_z(m.at))}><title>{esc(m.title)}</title>"
            f'<line x1="{x:.1f}" y1="{y + 2}" x2="{x:.1f}" y2="{ROW_Y + ROW_H}" '
            f'stroke="{m.colour}" stroke-width="2"{dash}/><text x="{tx:.1f}" y="{y}" '
            f'text-anchor="{anchor}" font-size="10" fill="{m.colour}">{esc(m.label)}</text></g>'
        )
    return "".join(parts)


def _ticks(s: _Scale, axis: tuple[datetime, datetime]) -> str:
    """Day lines (UTC midnights) with dates, or hour lines for a clock under a day."""
    lo, hi = axis
    hours = (hi - lo).total_seconds() / 3600
    step = next((h for h in (1, 2, 3, 6, 12) if hours / h <= 12), None)
    if step is None:
        days = max(1, int(hours / 24 / 12) + 1)
        first = lo.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        ticks = [first + timedelta(days=i * days) for i in range(int(hours / 24 / days) + 2)]
        fmt = "%m-%d"
    else:
        first = lo.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        first += timedelta(hours=(-first.hour) % step)
        ticks = [first + timedelta(hours=i * step) for i in range(int(hours / step) + 2)]
        fmt = "%H:%M"
    parts = []
    for t in ticks:
        if lo < t < hi:
            x = s.x(t)
            parts.append(
                f'<line x1="{x:.1f}" y1="{ROW_Y}" x2="{x:.1f}" y2="{ROW_Y + ROW_H}" '
                f'stroke="#ffffff" stroke-width="1"/><text x="{x:.1f}" y="{TICK_Y}" '
                f'text-anchor="middle" font-size="10" fill="#5b6475">{esc(f"{t:{fmt}}")}</text>'
            )
    return "".join(parts)


def _business_bar(p: ClockPicture, colour: str) -> str:
    """Used business time against the target, with the warning thresholds and 100 %."""
    target = p.status.target.total_seconds()
    used = p.status.elapsed.total_seconds()
    scale = max(target, used, 1.0) * 1.02
    width = WIDTH - LEFT - RIGHT

    def x(seconds: float) -> float:
        return LEFT + width * seconds / scale

    parts = [
        f'<rect class="target" x="{LEFT}" y="{BAR_Y}" width="{x(target) - LEFT:.1f}" '
        f'height="{BAR_H}" fill="#e4e8ef"><title>target {esc(business(target))}</title></rect>',
        f'<rect class="used" data-seconds="{used:.0f}" x="{LEFT}" y="{BAR_Y + 2}" '
        f'width="{max(0.0, x(used) - LEFT):.1f}" height="{BAR_H - 4}" fill="{colour}">'
        f"<title>used {esc(business(used))} of {esc(business(target))}</title></rect>",
    ]
    for percent in [*(pc for pc, _ in p.thresholds), 100]:
        tx = x(target * percent / 100)
        parts.append(
            f'<line class="threshold-tick" data-percent="{percent}" x1="{tx:.1f}" '
            f'y1="{BAR_Y - 2}" x2="{tx:.1f}" y2="{BAR_Y + BAR_H + 2}" stroke="#1d2330" '
            f'stroke-width="{2 if percent == 100 else 1}"/>'
        )
    return "".join(parts)


def clock_svg(p: ClockPicture, index: int) -> str:
    """The clock as an inline SVG: calendar row above, business-time row below."""
    s = _Scale(p.axis)
    colour = COLOURS[p.health]
    hatch = f"hatch-{index}"
    parts = [
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f7"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#5b6475" stroke-width="2"/></pattern></defs>',
        f'<rect class="closed" x="{LEFT}" y="{ROW_Y}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{ROW_H}" fill="#e9ebf0"><title>closed (outside business hours)</title></rect>',
    ]
    parts += [
        _rect(
            "open-hours",
            s,
            a,
            b,
            ROW_Y,
            ROW_H,
            "#cfe8dc",
            f"business hours {iso_z(a)} – {iso_z(b)}",
        )
        for a, b in p.open
    ]
    parts.append(_ticks(s, p.axis))
    parts += [
        _rect("counted", s, a, b, ROW_Y + 9, ROW_H - 18, colour, f"counted {iso_z(a)} – {iso_z(b)}")
        for a, b in p.counted
    ]
    parts += [
        _rect(
            "paused",
            s,
            g.start,
            g.end,
            ROW_Y + 4,
            ROW_H - 8,
            f"url(#{hatch})",
            f"{g.why} {iso_z(g.start)} – {iso_z(g.end)}",
            ' stroke="#5b6475"',
        )
        for g in p.gaps
    ]
    marks = [
        _Mark(
            "threshold",
            at,
            "#8a5a00",
            f"{percent}%",
            f"{percent} % of target at {iso_z(at)}",
            dashed=True,
        )
        for percent, at in p.thresholds
        if at is not None
    ]
    if p.due is not None:
        what = "due if resumed now" if p.due_projected else "due (target runs out)"
        marks.append(_Mark("due", p.due, "#1d2330", "due", f"{what} {iso_z(p.due)}"))
    if p.breach_at is not None:
        title = f"breached at {iso_z(p.breach_at)}"
        marks.append(_Mark("breach", p.breach_at, "#a1131a", "breach", title))
    if p.live:
        marks.append(_Mark("now", p.now, "#0b3d91", "now", f"now {iso_z(p.now)}", dashed=True))
    parts.append(_marks(s, marks))
    parts.append(_business_bar(p, colour))
    label = (
        f"{p.status.metric} clock ({p.status.agreement}): {p.status.state}, used "
        f"{business(p.status.elapsed.total_seconds())} of "
        f"{business(p.status.target.total_seconds())} business time"
        + (f", due {iso_z(p.due)}" if p.due else "")
        + (f", breached at {iso_z(p.breach_at)}" if p.breach_at else "")
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="clock-bar" data-clock={attr(p.key)} '
        f"data-health={attr(p.health)} role=img aria-label={attr(label)} width={WIDTH} "
        f'height={HEIGHT} viewBox="0 0 {WIDTH} {HEIGHT}">{"".join(parts)}</svg>'
    )
