"""Commands through ``opsledger.Engine`` against raw eventsourcing saving the same events.

Open, assign, acknowledge, resolve: four commands, four ticket events, one transaction per
command on both sides; the baseline gets, calls and saves as eventsourcing's docs do. See
README.md here for what is counted. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper
from opsledger.core.codec import OrjsonTranscoder, TypedMapper

from opsledger import Engine, FixedClock, Settings

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EVENTS_PER_TICKET = 4  # Opened, Assigned, Acknowledged, Resolved
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 5  # tickets per turn when the sides take turns: small, so load bursts hit all


# -- the baseline: raw eventsourcing with the same four events and payloads ---------------------


class BenchIncident(Aggregate):
    """The engine's incident reduced to the four events this benchmark records."""

    @event("Opened")
    def __init__(
        self,
        number: str,
        summary: str,
        description: str,
        impact: str,
        urgency: str,
        priority: str,
        service: str | None,
        ci: str | None,
        reporter: str,
        customer: str | None,
        channel: str,
        actor: str,
        received_at: datetime | None,
        timestamp: datetime,
    ) -> None:
        self.number = number
        self.summary = summary
        self.state = "new"
        self.group: str | None = None
        self.assignee: str | None = None

    @event("Assigned")
    def assign(
        self, group: str, assignee: str | None, tier: str, actor: str, timestamp: datetime
    ) -> None:
        self.group, self.assignee, self.state = group, assignee, "assigned"

    @event("Acknowledged")
    def acknowledge(self, actor: str, timestamp: datetime) -> None:
        self.state = "in_progress"

    @event("Resolved")
    def resolve(self, code: str, notes: str, actor: str, timestamp: datetime) -> None:
        self.state = "resolved"


#: What the engine's Opened event stores for the incidents below (priority from the matrix).
OPENED: dict[str, Any] = {
    "summary": "Checkout down",
    "description": "",
    "impact": "high",
    "urgency": "high",
    "priority": "P1",
    "service": "shop",
    "ci": None,
    "reporter": "alice",
    "customer": None,
    "channel": "api",
    "actor": "alice",
    "received_at": None,
}


def new_incident(number: str) -> BenchIncident:
    return BenchIncident(number=number, timestamp=T0, **OPENED)


class RawDesk(Application[UUID]):
    """eventsourcing as its documentation shows a command: get, call, save; library defaults."""

    def open(self, number: str) -> UUID:
        incident = new_incident(number)
        self.save(incident)
        return incident.id

    def assign(self, incident_id: UUID) -> None:
        incident: BenchIncident = self.repository.get(incident_id)
        incident.assign(group="service-desk", assignee="bob", tier="L1", actor="bob", timestamp=T0)
        self.save(incident)

    def acknowledge(self, incident_id: UUID) -> None:
        incident: BenchIncident = self.repository.get(incident_id)
        incident.acknowledge(actor="bob", timestamp=T0)
        self.save(incident)

    def resolve(self, incident_id: UUID) -> None:
        incident: BenchIncident = self.repository.get(incident_id)
        incident.resolve(code="fixed", notes="restarted", actor="bob", timestamp=T0)
        self.save(incident)


# -- the workloads: each opens its store and yields a step (run N tickets, return seconds) -----

Step = Callable[[int], float]


@contextmanager
def engine_steps(settings: Settings) -> Iterator[Step]:
    """open -> assign -> acknowledge -> resolve through the public Engine verbs."""
    with Engine(settings, clock=FixedClock(T0)) as engine:
        last = ""

        def step(count: int) -> float:
            nonlocal last
            start = time.perf_counter()
            for _ in range(count):
                last = engine.open_incident(
                    "Checkout down",
                    impact="high",
                    urgency="high",
                    service="shop",
                    reporter="alice",
                    actor="alice",
                ).number
                engine.assign(last, "service-desk", "bob", actor="bob")
                engine.acknowledge(last, actor="bob")
                engine.resolve(last, "fixed", "restarted", actor="bob")
            return time.perf_counter() - start

        yield step
        if last and engine.get(last)["state"] != "resolved":
            raise RuntimeError("engine workload did not resolve its last ticket")


@contextmanager
def raw_steps(env: dict[str, str], *, reload: bool) -> Iterator[Step]:
    """The same commands on raw eventsourcing: get, call, save each; or save() alone."""
    app = RawDesk(env=env)
    opened = 0

    def step(count: int) -> float:
        nonlocal opened
        start = time.perf_counter()
        for _ in range(count):
            opened += 1
            if reload:
                iid = app.open(f"INC-{opened:06d}")
                app.assign(iid)
                app.acknowledge(iid)
                app.resolve(iid)
                continue
            incident = new_incident(f"INC-{opened:06d}")  # kept in memory: no reloads
            app.save(incident)
            incident.assign(
                group="service-desk", assignee="bob", tier="L1", actor="bob", timestamp=T0
            )
            app.save(incident)
            incident.acknowledge(actor="bob", timestamp=T0)
            app.save(incident)
            incident.resolve(code="fixed", notes="restarted", actor="bob", timestamp=T0)
            app.save(incident)
        return time.perf_counter() - start

    try:
        yield step
    finally:
        app.close()


# -- stores: a fresh one for every run --------------------------------------------------------


@contextmanager
def sqlite_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="opsledger-bench-") as folder:
        yield str(Path(folder) / "events.db")


def sqlite_env(path: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}


def pg_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'opsledger[postgres]')"
    try:
        with psycopg.connect(PG_DSN, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return f"no server at 127.0.0.1:5432 ({str(e).strip().splitlines()[0]})"
    return None


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema (eventsourcing does not create one), dropped afterwards."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def pg_env(schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "test",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
    }


@contextmanager
def on_sqlite(side: str) -> Iterator[Step]:
    with sqlite_file() as path:
        if side == "engine":
            with engine_steps(Settings(db_path=path)) as step:
                yield step
        else:
            with raw_steps(sqlite_env(path), reload=side == "eventsourcing") as step:
                yield step


@contextmanager
def on_postgres(side: str) -> Iterator[Step]:
    with pg_schema() as schema:
        if side == "engine":
            with engine_steps(Settings(database_url=f"{PG_URL}?schema={schema}")) as step:
                yield step
        else:
            with raw_steps(pg_env(schema), reload=True) as step:
                yield step


def interleave(
    sides: Mapping[str, Callable[[], AbstractContextManager[Step]]],
    size: int,
    rounds: int,
    chunk: int,
) -> dict[str, list[float]]:
    """Units per second for every side and round.

    Each round opens every side on its own fresh store and runs them side by side in small
    chunks, alternating who goes first, so bursts of load from other processes hit all sides
    alike. Round 0 is a small warm-up (imports, caches, first connections), not reported.
    """
    names = list(sides)
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds + 1):
        units = size if r else max(1, size // 10)
        spent = dict.fromkeys(names, 0.0)
        with ExitStack() as stack:
            steps = {name: stack.enter_context(sides[name]()) for name in names}
            for i, done in enumerate(range(0, units, chunk)):
                for name in names if i % 2 == 0 else names[::-1]:
                    spent[name] += steps[name](min(chunk, units - done))
        if r:
            for name in names:
                results[name].append(units / spent[name])
    return results


# -- the transcoder ---------------------------------------------------------------------------


def sample_events() -> list[Any]:
    """What one ticket's commands record: counter allocation plus the four ticket events."""
    from opsledger.core.domain.records import RecordKind, record_id
    from opsledger.core.numbering import counter_id

    with sqlite_file() as path, Engine(Settings(db_path=path), clock=FixedClock(T0)) as engine:
        number = engine.open_incident(
            "Checkout down: payment provider times out for card payments",
            impact="high",
            urgency="high",
            service="shop",
            reporter="alice",
            actor="alice",
        ).number
        engine.assign(number, "service-desk", "bob", actor="bob")
        engine.acknowledge(number, actor="bob")
        engine.resolve(number, "fixed", "restarted the payment gateway pods", actor="bob")
        events = list(engine.app.events.get(counter_id(RecordKind.INCIDENT), gt=1))
        events += list(engine.app.events.get(record_id(number)))
    return events


@contextmanager
def mapper_steps(mapper: Mapper[Any], events: list[Any]) -> Iterator[Step]:
    """Store (encode) and restore (decode) every sample event, ``count`` times over."""

    def step(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            for e in events:
                mapper.to_domain_event(mapper.to_stored_event(e))
        return time.perf_counter() - start

    yield step


def transcoder_figures(rounds: int) -> tuple[float, float]:
    """Events per second through each mapper: (opsledger, eventsourcing)."""
    ours: Mapper[Any] = TypedMapper(transcoder=OrjsonTranscoder())
    default = Application[UUID](env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    theirs = default.mapper  # JSONTranscoder with UUID, Decimal and datetime transcodings
    events = sample_events()
    for e in events:  # both must give back the event they were given
        for mapper in (ours, theirs):
            if vars(mapper.to_domain_event(mapper.to_stored_event(e))) != vars(e):
                raise RuntimeError(f"{type(mapper).__name__} changed {type(e).__name__}")
    sides = {
        "opsledger": partial(mapper_steps, ours, events),
        "eventsourcing": partial(mapper_steps, theirs, events),
    }
    loops = interleave(sides, 2000, rounds, chunk=100)
    per_loop = len(events)
    return (
        statistics.median(loops["opsledger"]) * per_loop,
        statistics.median(loops["eventsourcing"]) * per_loop,
    )


# -- report -----------------------------------------------------------------------------------


def per_event(per_ticket: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: [v * EVENTS_PER_TICKET for v in runs] for k, runs in per_ticket.items()}


def compare(
    runs: dict[str, list[float]], side: str, base: str, label: str, *, show_side: bool = True
) -> float:
    """Print the sides and the ratio; rounds are paired, so the median of per-round ratios."""
    ratios = [s / b for s, b in zip(runs[side], runs[base], strict=True)]
    shown = ((side, "opsledger Engine"),) if show_side else ()
    for name, title in (*shown, (base, label)):
        each = " ".join(f"{r:,.0f}" for r in runs[name])
        print(f"  {title:<40} {statistics.median(runs[name]):>9,.0f} events/s  (rounds: {each})")
    each = " ".join(f"{r:.2f}" for r in ratios)
    print(f"  {'ratio engine / ' + label:<40} {statistics.median(ratios):>9.2f}  (rounds: {each})")
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=500, help="tickets per round (4 events)")
    parser.add_argument("--pg-tickets", type=int, default=None, help="default: half of --tickets")
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds (median)")
    parser.add_argument("--skip-pg", action="store_true", help="do not try PostgreSQL")
    args = parser.parse_args(argv)
    tickets, rounds = max(1, args.tickets), max(1, args.rounds)
    out: dict[str, Any] = {"tickets": tickets, "rounds": rounds}

    print(
        f"SQLite, {tickets} incidents opened, assigned, acknowledged and resolved per round; "
        f"{EVENTS_PER_TICKET} ticket events per incident counted on every side (the engine "
        "also records a number allocation per incident and a chain link per event, uncounted)"
    )
    sides = {name: partial(on_sqlite, name) for name in ("engine", "eventsourcing", "save_only")}
    sq = per_event(interleave(sides, tickets, rounds, CHUNK))
    ratio = compare(sq, "engine", "eventsourcing", "eventsourcing (get+save)")
    print("  target: ratio >= 0.80 " + ("(met)" if ratio >= 0.8 else "(NOT met)"))
    save_only_ratio = compare(
        sq, "engine", "save_only", "eventsourcing save() only", show_side=False
    )
    out |= {
        "engine_events_per_s": round(statistics.median(sq["engine"])),
        "eventsourcing_events_per_s": round(statistics.median(sq["eventsourcing"])),
        "ratio": round(ratio, 3),
        "eventsourcing_save_only_events_per_s": round(statistics.median(sq["save_only"])),
        "save_only_ratio": round(save_only_ratio, 3),
    }

    reason = "--skip-pg" if args.skip_pg else pg_unreachable()
    if reason is None:
        pg_tickets = max(1, args.pg_tickets or tickets // 2)
        print(f"PostgreSQL at 127.0.0.1:5432/test, a fresh schema per side, {pg_tickets} incidents")
        sides = {name: partial(on_postgres, name) for name in ("engine", "eventsourcing")}
        pg = per_event(interleave(sides, pg_tickets, rounds, CHUNK))
        pg_ratio = compare(pg, "engine", "eventsourcing", "eventsourcing (get+save)")
        out |= {
            "pg_engine_events_per_s": round(statistics.median(pg["engine"])),
            "pg_eventsourcing_events_per_s": round(statistics.median(pg["eventsourcing"])),
            "pg_ratio": round(pg_ratio, 3),
        }
    else:
        print(f"PostgreSQL: skipped, {reason}")
        out["pg_skipped"] = reason

    ours, theirs = transcoder_figures(rounds)
    print(
        "Transcoder, store + restore of one incident's 5 events (mapper round trip): "
        f"opsledger orjson {ours:,.0f} events/s, eventsourcing JSONTranscoder "
        f"{theirs:,.0f} events/s, ratio {ours / theirs:.2f}"
    )
    out |= {
        "transcoder_events_per_s": round(ours),
        "eventsourcing_transcoder_events_per_s": round(theirs),
        "transcoder_ratio": round(ours / theirs, 3),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
