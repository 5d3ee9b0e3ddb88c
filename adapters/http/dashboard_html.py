"""The dashboard's HTML: one page layout, its styles and countdown script, escaping helpers.

Pages are f-strings over escaped values (no template engine is installed, and none is needed
for three pages); every piece of data goes through :func:`esc` or :func:`attr` on its way in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape

#: Shown for a value that is not set.
NONE = "–"

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --ok: #0b6e4f;
  --risk-bg: #fff4d6; --risk: #8a5a00; --breach-bg: #fde2e1; --breach: #a1131a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", Arial, Helvetica, sans-serif; color: var(--ink);
  margin: 0; background: #f6f7fa; }
header.top { background: #1d2330; color: #fff; padding: .6rem 1.2rem; display: flex;
  gap: 1.5rem; align-items: baseline; flex-wrap: wrap; }
header.top a { color: #fff; text-decoration: none; font-weight: 600; }
header.top a[aria-current="page"] { text-decoration: underline; }
header.top .now { margin-left: auto; color: #c9d1e0; font-size: 12px; }
main { padding: 1rem 1.2rem 2rem; max-width: 1280px; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .5rem; }
table { border-collapse: collapse; background: #fff; width: 100%; margin-bottom: .8rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
  vertical-align: top; }
th { background: #eef1f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.at-risk td { background: var(--risk-bg); }
tr.breached td { background: var(--breach-bg); }
tr.at-risk td:first-child { border-left: 4px solid var(--risk); }
tr.breached td:first-child { border-left: 4px solid var(--breach); }
.marker { font-weight: 700; font-size: 12px; letter-spacing: .02em; white-space: nowrap; }
.marker.breached { color: var(--breach); }
.marker.at-risk { color: var(--risk); }
.marker.ok { color: var(--ok); }
.countdown { font-variant-numeric: tabular-nums; white-space: nowrap; }
.countdown.overdue { color: var(--breach); font-weight: 600; }
.muted { color: var(--muted); }
form.filters { display: flex; gap: .8rem; align-items: end; flex-wrap: wrap;
  margin-bottom: .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; gap: .2rem; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
  background: #fff; padding: .8rem; margin: 0 0 1rem; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; }
figure { background: #fff; margin: 0 0 1rem; padding: .6rem .8rem; }
figure svg { max-width: 100%; height: auto; }
svg.clock-bar { width: 100%; max-width: 1100px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr));
  gap: 0 1rem; }
table.queue { table-layout: fixed; }
table.queue th:nth-child(1) { width: 9%; } table.queue th:nth-child(2) { width: 6%; }
table.queue th:nth-child(3) { width: 13%; } table.queue th:nth-child(4) { width: 8%; }
table.queue th:nth-child(6) { width: 19%; } table.queue th:nth-child(7) { width: 13%; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
.legend { display: flex; gap: 1rem; flex-wrap: wrap; font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 14px; height: 10px; margin-right: .3rem;
  vertical-align: middle; }
.swatch.dashed { height: 0; border-top: 2px dashed; }
.details { font-size: 12px; color: var(--muted); word-break: break-word; }
.says { margin-bottom: .15rem; }
.marker.met { color: var(--ok); }
.error { background: #fff; border-left: 4px solid var(--breach); padding: 1rem; }
"""

#: Ticks every countdown once a second: the server's remaining business time minus the open
#: (business) time that has passed since the page was rendered, from the spans it embedded.
COUNTDOWN_JS = """
(function () {
  var loaded = Date.now();
  var clocks = Array.prototype.map.call(document.querySelectorAll(".countdown[data-open]"),
    function (el) {
      return { el: el, now: +el.dataset.now, left: +el.dataset.remaining,
               open: JSON.parse(el.dataset.open) };
    });
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function show(seconds) {
    var s = Math.floor(Math.abs(seconds)), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    var text = h + "h " + two(m) + "m " + two(s % 60) + "s";
    return seconds < 0 ? "overdue by " + text : text + " left";
  }
  function tick() {
    var passed = (Date.now() - loaded) / 1000;
    clocks.forEach(function (c) {
      var until = c.now + passed, used = 0;
      c.open.forEach(function (span) {
        var a = Math.max(span[0], c.now), b = Math.min(span[1], until);
        if (b > a) { used += b - a; }
      });
      var left = c.left - used;
      c.el.textContent = show(left);
      c.el.classList.toggle("overdue", left < 0);
    });
  }
  if (clocks.length) { setInterval(tick, 1000); }
})();
"""


def esc(value: object) -> str:
    """Text content: anything shown goes through here (``None`` shows as a dash)."""
    return NONE if value is None else escape(str(value), quote=False)


def attr(value: object) -> str:
    """An attribute value, quotes included."""
    return '"' + escape("" if value is None else str(value), quote=True) + '"'


def parse_instant(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def iso_z(at: datetime) -> str:
    """UTC ISO 8601 with a ``Z`` (the machine-readable form, as in ``<time datetime>``)."""
    text = at.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def when(value: datetime | str | None) -> str:
    """An instant as ``<time>``: readable UTC text, the exact ISO instant in ``datetime``."""
    at = parse_instant(value)
    if at is None:
        return NONE
    utc = at.astimezone(UTC)
    return f"<time datetime={attr(iso_z(utc))}>{utc:%Y-%m-%d %H:%M:%S} UTC</time>"


def business(seconds: float) -> str:
    """Business time as hours, minutes and seconds (hours do not roll over into days)."""
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}h {rest // 60:02d}m {rest % 60:02d}s"


def countdown_text(seconds: float) -> str:
    """What the countdown script also writes, so the page reads the same before it runs."""
    return f"overdue by {business(seconds)}" if seconds < 0 else f"{business(seconds)} left"


def countdown(
    seconds: float, now: datetime, spans: Sequence[tuple[datetime, datetime]] | None
) -> str:
    """A countdown element; with ``spans`` (open business time ahead) the script ticks it."""
    classes = "countdown overdue" if seconds < 0 else "countdown"
    ticking = ""
    if spans is not None:
        pairs = [[a.timestamp(), b.timestamp()] for a, b in spans]
        ticking = (
            f" data-now={attr(now.timestamp())} data-remaining={attr(round(seconds, 3))}"
            f" data-open={attr(json.dumps(pairs, separators=(',', ':')))}"
        )
    return f"<span class={attr(classes)}{ticking}>{esc(countdown_text(seconds))}</span>"


def table(head: Sequence[str], rows: Iterable[str], *, cls: str = "", numeric: int = 0) -> str:
    """A table from already-rendered ``<tr>`` rows; the last ``numeric`` columns align right."""
    cells = "".join(
        f"<th{' class=num' if i >= len(head) - numeric else ''} scope=col>{esc(h)}</th>"
        for i, h in enumerate(head)
    )
    return (
        f"<table class={attr(cls)}><thead><tr>{cells}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def page(
    title: str,
    body: str,
    *,
    now: datetime,
    nav: dict[str, str],
    current: str = "",
    script: bool = False,
) -> str:
    """The whole document: header with navigation and the server's "now", then ``body``."""
    links = " ".join(
        f"<a href={attr(url)}{' aria-current=page' if name == current else ''}>{esc(name)}</a>"
        for name, url in nav.items()
    )
    js = f"<script>{COUNTDOWN_JS.strip()}</script>" if script else ""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · opsledger</title><style>{CSS}</style></head><body>"
        f"<header class=top><strong>opsledger</strong>{links}"
        f"<span class=now>as of {when(now)}</span></header>"
        f"<main>{body}</main>{js}</body></html>"
    )


def error_body(status: int, title: str, message: str) -> str:
    return f"<h1>{esc(title)}</h1><p class=error data-status={attr(status)}>{esc(message)}</p>"
