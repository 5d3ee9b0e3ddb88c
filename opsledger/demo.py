"""``opsledger demo``: a seeded, realistic month of service-desk operations, run through Engine.

Every ticket is a small generator that yields ``(instant, command)`` steps; one global
time-ordered queue (heapq) issues each command at its own instant, so every record's history
reads forwards and cross-ticket links never land before a ticket's last event. SLA policies are
defined first, so tickets get clocks, and the engine's scheduler is ticked every few simulated
minutes as the month goes by, as the worker would in production. The same seed gives the same
month, event for event; the wall clock is read only to time the run.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from opsledger import Engine, InputError, Outcome
from opsledger.core import commands as c
from opsledger.core.domain.records import RecordKind
from opsledger.demo_data import (
    HOURLY,
    INFRASTRUCTURE,
    POLICIES,
    SERVICE_LEVEL_MANAGER,
    SERVICES,
    WEEKDAY,
)
from opsledger.demo_desk import DEMO_TZ, Process, local_midnight, next_business
from opsledger.demo_practices import Stories
from opsledger.projections.report import generate

DEMO_DB = "opsledger-demo.db"
#: Volume at scale 1.0 (a 30-day month); smaller scales keep every kind of story.
INCIDENTS, REQUESTS, MAJORS, PROBLEMS, STANDARD_CHANGES, NORMAL_CHANGES = 520, 190, 3, 7, 5, 5
TICKET_KINDS = (
    RecordKind.INCIDENT,
    RecordKind.SERVICE_REQUEST,
    RecordKind.PROBLEM,
    RecordKind.CHANGE,
)

#: The scheduler runs this often in simulated time (a warning is noticed at most this late).
TICK_EVERY = timedelta(minutes=10)
#: The clocks the summary reports attainment for: the customer SLA's, per priority.
REPORTED_METRICS = ("response", "resolution")
OUTCOMES = ("met", "breached", "open")

#: Called now and then with (fraction of the month simulated, commands issued so far).
Progress = Callable[[float, int], None]


@dataclass(slots=True)
class DemoSummary:
    """What the demo left in the store, read back through ``Engine.get`` after the run."""

    month: str
    seed: int
    location: str
    timezone: str = DEMO_TZ.key
    commands: int = 0
    elapsed_s: float = 0.0
    per_state: dict[str, dict[str, int]] = field(default_factory=dict)
    per_priority: dict[str, dict[str, int]] = field(default_factory=dict)
    configuration_items: int = 0
    events: int = 0
    log_entries: int = 0
    chain_ok: bool = False
    notable: dict[str, str] = field(default_factory=dict)
    as_of_example: tuple[str, str] | None = None
    policies: list[str] = field(default_factory=list)
    ticks: int = 0
    ticked_events: int = 0
    #: metric -> priority -> {"met", "breached", "open"}: customer SLA clocks at month end.
    sla: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    #: OLA clocks the same way, per metric.
    ola: dict[str, dict[str, int]] = field(default_factory=dict)
    #: where the month's service quality report (HTML) was written, if it was
    report: str | None = None

    @property
    def per_kind(self) -> dict[str, int]:
        return {kind: sum(states.values()) for kind, states in self.per_state.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "seed": self.seed,
            "timezone": self.timezone,
            "database": self.location,
            "commands": self.commands,
            "elapsed_s": round(self.elapsed_s, 3),
            "per_kind": self.per_kind,
            "per_state": self.per_state,
            "per_priority": self.per_priority,
            "configuration_items": self.configuration_items,
            "events": self.events,
            "log_entries": self.log_entries,
            "chain_ok": self.chain_ok,
            "notable": self.notable,
            "policies": self.policies,
            "ticks": self.ticks,
            "ticked_events": self.ticked_events,
            "sla": self.sla,
            "ola": self.ola,
            "report": self.report,
        }


def parse_month(text: str) -> date:
    """``YYYY-MM`` to the first day of that month."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InputError("month", f"{text!r} is not a month like 2025-05") from None


def previous_month(today: date) -> date:
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def arrivals(rng: random.Random, start: datetime, end: datetime, expected: float) -> list[datetime]:
    """A thinned Poisson process: hourly and weekly shape, ``expected`` arrivals in total."""
    hours = int((end - start).total_seconds() // 3600)
    weights = []
    for i in range(hours):
        local = (start + timedelta(hours=i)).astimezone(DEMO_TZ)
        weights.append(HOURLY[local.hour] * WEEKDAY[local.weekday()])
    peak, total = max(weights), sum(weights)
    rate = peak * expected / total  # per hour, at the peak
    out: list[datetime] = []
    t = rng.expovariate(rate)
    while t < hours:
        if rng.random() * peak < weights[int(t)]:
            out.append(start + timedelta(hours=t))
        t += rng.expovariate(rate)
    return out


# -- the simulation ------------------------------------------------------------------------------


class World:
    """The shared state of one simulated month and the queue that orders every command."""

    def __init__(
        self, engine: Engine, start: datetime, end: datetime, seed: int, progress: Progress | None
    ) -> None:
        self.engine, self.start, self.end, self.progress = engine, start, end, progress
        self.rng = random.Random(seed)
        self.now = start
        self.commands = 0
        self.ci: dict[str, str] = {}
        self.incidents: dict[str, list[str]] = {s.name: [] for s in SERVICES}
        self.children: dict[str, list[str]] = {}
        self.notable: dict[str, str] = {}
        self.matrix = engine.settings.matrix
        self._queue: list[tuple[datetime, int, Process, c.Command]] = []
        self._seq = 0
        self.next_tick = start
        self.ticks = 0
        self.ticked_events = 0

    def fork(self) -> random.Random:
        """A private generator for one process, so stories do not perturb each other."""
        return random.Random(self.rng.getrandbits(64))

    def spawn(self, process: Process) -> None:
        try:
            when, command = next(process)
        except StopIteration:
            return
        self._push(when, process, command)

    def _push(self, when: datetime, process: Process, command: c.Command) -> None:
        if when < self.now:
            raise RuntimeError(f"demo bug: {command!r} scheduled before {self.now.isoformat()}")
        if when >= self.end:  # the month is over; the story stays unfinished, as in life
            process.close()
            return
        heapq.heappush(self._queue, (when, self._seq, process, command))
        self._seq += 1

    def execute(self, when: datetime, command: c.Command) -> Outcome:
        """Run one command at ``when``, in whole seconds (flooring keeps the order intact)."""
        self.commands += 1
        return self.engine.execute(replace(command, at=when.replace(microsecond=0)))

    def tick_until(self, at: datetime) -> None:
        """Run the SLA scheduler at every tick instant up to ``at``, as a worker would."""
        while self.next_tick <= at:
            self.ticked_events += self.engine.tick(self.next_tick)
            self.ticks += 1
            self.next_tick += TICK_EVERY

    def run(self) -> None:
        span = (self.end - self.start).total_seconds()
        while self._queue:
            when, _, process, command = heapq.heappop(self._queue)
            self.tick_until(when)
            self.now = when
            outcome = self.execute(when, command)
            if self.progress is not None and self.commands % 50 == 0:
                self.progress((when - self.start).total_seconds() / span, self.commands)
            try:
                when, command = process.send(outcome)
            except StopIteration:
                continue
            self._push(when, process, command)


def _define_policies(w: World) -> list[str]:
    """The service-level manager records the policies before anything else happens."""
    at = w.start - timedelta(days=8)
    for i, policy in enumerate(POLICIES):
        command = c.DefineSlaPolicy(definition=policy, actor=SERVICE_LEVEL_MANAGER)
        w.execute(at + timedelta(seconds=i), command)
    return [str(p["name"]) for p in POLICIES]


def _register_cis(w: World) -> None:
    """The CMDB first: every CI, then its runs_on / depends_on links, the week before."""
    at = w.start - timedelta(days=7)
    specs = list(INFRASTRUCTURE) + [ci for s in SERVICES for ci in s.cis]
    for i, spec in enumerate(specs):
        outcome = w.execute(
            at + timedelta(seconds=i),
            c.RegisterCI(
                ci_type=spec.ci_type,
                name=spec.name,
                owner=spec.owner,
                attributes=dict(spec.attributes),
                actor="cmdb-import",
            ),
        )
        w.ci[spec.name] = outcome.number
    at += timedelta(hours=1)
    for spec in specs:
        for relation, targets in (("runs_on", spec.runs_on), ("depends_on", spec.depends_on)):
            for target in targets:
                at += timedelta(seconds=1)
                w.execute(
                    at,
                    c.LinkRecords(
                        source=w.ci[spec.name],
                        relation=relation,
                        target=w.ci[target],
                        actor="cmdb-import",
                    ),
                )


def _random_instant(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


def _seed_stories(w: World, scale: float, stories: Stories) -> None:
    """Put every story's first step in the queue: arrivals, majors, problems, changes."""
    rng = w.rng
    weights = [s.weight for s in SERVICES]
    for t in arrivals(rng, w.start, w.end, INCIDENTS * scale):
        w.spawn(stories.incident(w.fork(), t, rng.choices(SERVICES, weights)[0]))
    asking = [s for s in SERVICES if s.requests]
    for t in arrivals(rng, w.start, w.end, REQUESTS * scale):
        w.spawn(stories.request(w.fork(), t, rng.choice(asking)))
    critical = [s for s in SERVICES if s.critical]
    days = (w.end - w.start).days
    for i in range(max(1, round(MAJORS * scale))):
        day = w.start + timedelta(days=(i + 0.5) * days / max(1, round(MAJORS * scale)))
        w.spawn(stories.major(w.fork(), next_business(day, rng), rng.choice(critical)))
    late, early = w.end - timedelta(days=3), w.start + timedelta(days=5)
    for _ in range(max(1, round(PROBLEMS * scale))):
        t = next_business(_random_instant(rng, early, late), rng)
        w.spawn(stories.problem(w.fork(), t, rng.choices(SERVICES, weights)[0]))
    for kind, count in (("standard", STANDARD_CHANGES), ("normal", NORMAL_CHANGES)):
        for i in range(max(1, round(count * scale))):
            t = next_business(_random_instant(rng, w.start, late), rng)
            must_fail = kind == "normal" and i == 0  # at least one failed change per month
            w.spawn(stories.change(w.fork(), t, rng.choice(SERVICES), kind, must_fail=must_fail))


def run_demo(
    engine: Engine,
    month: date,
    *,
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
    report: Path | None = None,
) -> DemoSummary:
    """Simulate ``month`` on ``engine`` (which should be empty), read it all back, and write
    the month's quality report to ``report`` (default: next to an SQLite demo database)."""
    started = time.perf_counter()
    start = local_midnight(month.replace(day=1))
    end = local_midnight((month.replace(day=28) + timedelta(days=4)).replace(day=1))
    w = World(engine, start, end, seed, progress)
    policies = _define_policies(w)
    _register_cis(w)
    _seed_stories(w, scale, Stories(w))
    w.run()
    w.tick_until(end)  # start and end are local midnights, so ``end`` is a tick instant too
    if progress is not None:
        progress(1.0, w.commands)
    summary = summarise(engine, month=f"{month:%Y-%m}", seed=seed, until=end)
    summary.commands = w.commands
    summary.notable = {**w.notable, **summary.notable}
    summary.policies = policies
    summary.ticks, summary.ticked_events = w.ticks, w.ticked_events
    path = report or demo_report_path(engine, summary.month)
    if path is not None:
        write_report(engine, summary.month, path, as_of=end)
        summary.report = str(path)
    summary.elapsed_s = time.perf_counter() - started
    return summary


def summarise(engine: Engine, *, month: str, seed: int, until: datetime) -> DemoSummary:
    """Counts per kind, state and priority, SLA attainment as of ``until``, read back record
    by record through the Engine; the chain verified."""
    summary = DemoSummary(month=month, seed=seed, location=engine.settings.location)
    richest: tuple[int, str] = (0, "")
    for kind in TICKET_KINDS:
        states: Counter[str] = Counter()
        priorities: Counter[str] = Counter()
        for number in engine.numbers(kind):
            data = engine.get(number)
            states[data["state"]] += 1
            priorities[data["priority"]] += 1
            summary.events += data["version"]
            if kind is RecordKind.INCIDENT:
                richest = max(richest, (data["version"], number))
            _count_clocks(engine, summary, number, data["priority"], until)
        summary.per_state[kind.value] = dict(sorted(states.items()))
        summary.per_priority[kind.value] = dict(sorted(priorities.items()))
    summary.sla = {
        m: dict(sorted(summary.sla[m].items())) for m in REPORTED_METRICS if m in summary.sla
    }
    summary.ola = {m: summary.ola[m] for m in REPORTED_METRICS if m in summary.ola}
    for number in engine.numbers(RecordKind.CONFIGURATION_ITEM):
        summary.configuration_items += 1
        summary.events += engine.get(number)["version"]
    if richest[1]:
        history = engine.history(richest[1])
        summary.as_of_example = (richest[1], history[len(history) // 2].at.isoformat())
    report = engine.verify_chain()
    summary.chain_ok, summary.log_entries = report.ok, report.checked
    return summary


def _count_clocks(
    engine: Engine, summary: DemoSummary, number: str, priority: str, until: datetime
) -> None:
    """Add a ticket's clocks as they stood at ``until`` to the attainment counts.

    Cancelled clocks (cancelled or closed tickets) count for nothing; a clock that is still
    running or paused and has not breached is open.
    """
    for clock in engine.sla_status(number, as_of=until):
        if clock.state == "cancelled" or clock.metric not in REPORTED_METRICS:
            continue
        outcome = "breached" if clock.breached else "met" if clock.state == "met" else "open"
        if clock.agreement == "sla":
            row = summary.sla.setdefault(clock.metric, {}).setdefault(priority, {})
        elif clock.agreement == "ola":
            row = summary.ola.setdefault(clock.metric, {})
        else:
            continue
        row[outcome] = row.get(outcome, 0) + 1
        if outcome == "breached" and clock.agreement == "sla":
            summary.notable.setdefault(f"{clock.metric} SLA breached", number)


def demo_report_path(engine: Engine, month: str) -> Path | None:
    """``opsledger-demo-report-2025-05.html`` beside the SQLite file; None on PostgreSQL,
    which has no file to sit beside."""
    if engine.settings.backend != "sqlite":
        return None
    db = Path(engine.settings.db_path)
    return db.with_name(f"{db.stem}-report-{month}.html")


def write_report(engine: Engine, month: str, path: Path, *, as_of: datetime) -> None:
    """The month's service quality report in the desk's time zone, as the month ended."""
    html = generate(engine, month, fmt="html", tz=DEMO_TZ.key, as_of=as_of)
    path.write_text(html, encoding="utf-8")


def attainment(row: dict[str, int]) -> float | None:
    """Met out of decided (met or breached); None while nothing is decided."""
    decided = row.get("met", 0) + row.get("breached", 0)
    return None if decided == 0 else row.get("met", 0) / decided


# -- presentation -------------------------------------------------------------------------------

SQLITE_HEADER = b"SQLite format 3\x00"


def require_empty(engine: Engine) -> None:
    """A database the demo cannot recreate must hold nothing yet: it never mixes with real data."""
    held = sum(engine.last_number(kind) for kind in RecordKind)
    if held or engine.policies().current():
        what = f"{held} records" if held else "SLA policies"
        raise InputError(
            "database_url",
            f"{engine.settings.location} already holds {what}; the demo needs an empty "
            "database (for example a new ?schema=NAME)",
        )


def prepare_demo_file(path: Path) -> bool:
    """Delete the previous demo database (and its journal files); True if there was one.

    Refuses anything that is not an SQLite file, so a mistyped ``--db`` cannot eat a document.
    """
    if path.is_dir():
        raise InputError("db", f"{path} is a directory")
    if not path.parent.is_dir():
        raise InputError("db", f"directory {path.parent} does not exist")
    if not path.exists():
        return False
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise InputError("db", f"{path} exists and is not an SQLite database; not deleting it")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return True
