"""Read-model rebuild throughput against reading the raw notification log, in the same run.

The store is the demo's month (``opsledger.demo.run_demo``) at a reduced scale. Three sides
take turns within each round: the raw read (eventsourcing's ``select_notifications`` in pages
of 1000 plus the application mapper's ``to_domain_event``: reading and decoding, nothing
else), and ``Projections.rebuild`` of each read model (the same read and decode, plus the
fold into records, the documents, the page commits with their tracking records, and the
promotion of the rebuilt copy). See README.md here. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from eventsourcing.domain import Aggregate
from opsledger.projections.base import Docs, ReadModel
from opsledger.projections.models import MODELS
from opsledger.projections.service import Projections

from opsledger import Engine, Settings
from opsledger.demo import run_demo

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MONTH = date(2026, 11, 1)
SEED = 7
PAGE = 1000  # the raw read's page, and the rebuild's
TARGET = 0.3  # rebuild / raw read, on SQLite


def raw_read(engine: Engine) -> int:
    """Every event of the log read and decoded, page by page; returns how many."""
    recorder, mapper = engine.app.recorder, engine.app.mapper
    position = count = 0
    while True:
        page = recorder.select_notifications(start=position, limit=PAGE, inclusive_of_start=False)
        if not page:
            return count
        for notification in page:
            mapper.to_domain_event(notification)
        count += len(page)
        position = page[-1].id


class Floor(ReadModel):
    """A read model with no documents: what the machinery costs before any model's work."""

    name = "bench_floor"

    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        return None


def floor_rebuild(views: Projections) -> int:
    """Read, decode and fold every event, commit empty pages with their tracking records."""
    views.view.drop(Floor.name, views.engine.app.name)
    return Floor(views.view, views.engine.app).catch_up(page=PAGE)


def timed(side: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    events = side()
    return events, time.perf_counter() - started


def measure(engine: Engine, rounds: int) -> dict[str, list[float]]:
    """Events per second of each side per round; the order of the sides rotates by round."""
    with Projections(engine) as views:
        sides: dict[str, Callable[[], int]] = {"raw": lambda: raw_read(engine)}
        for name in MODELS:
            sides[name] = lambda name=name: views.rebuild(name, page=PAGE)  # type: ignore[misc]
        sides["floor"] = lambda: floor_rebuild(views)
        # every model in one pass: each event read, decoded and folded once (log events/s)
        sides["one_pass"] = lambda: min(views.rebuild_all(page=PAGE).values())
        for side in sides.values():
            side()  # warm up: imports, caches, the file in the OS page cache
        names = list(sides)
        rates: dict[str, list[float]] = {name: [] for name in [*names, "rebuild"]}
        ratios: list[float] = []
        for r in range(rounds):
            took: dict[str, tuple[int, float]] = {}
            for name in names[r % len(names) :] + names[: r % len(names)]:
                took[name] = timed(sides[name])
            logged = took["raw"][0]
            for name, (events, seconds) in took.items():
                if events != logged:  # every side must have gone through the whole log
                    raise SystemExit(f"{name} went through {events} events of {logged}")
                rates[name].append(events / seconds)
            applied = sum(took[name][0] for name in MODELS)
            rebuild = applied / sum(took[name][1] for name in MODELS)
            rates["rebuild"].append(rebuild)
            ratios.append(rebuild / rates["raw"][-1])
        rates["ratio"] = ratios
        for name in [*MODELS, "floor", "one_pass"]:
            rates[f"ratio_{name}"] = [a / b for a, b in zip(rates[name], rates["raw"], strict=True)]
        # time for the models one after the other / time for all of them in one pass
        rates["one_pass_speedup"] = [
            sum(1 / rates[name][r] for name in MODELS) * rates["one_pass"][r] for r in range(rounds)
        ]
    return rates


def report(label: str, events: int, rates: dict[str, list[float]]) -> dict[str, float]:
    med = {name: statistics.median(values) for name, values in rates.items()}
    print(f"{label}: {events:,} events in the log")
    print(f"  raw read (select + decode)      {med['raw']:>10,.0f} events/s  {micros(med['raw'])}")
    for name in [*MODELS, "floor"]:
        what = "machinery floor (no documents)" if name == "floor" else f"rebuild {name}"
        print(
            f"  {what:<32}{med[name]:>10,.0f} events/s  {micros(med[name])}  "
            f"{med[f'ratio_{name}']:.2f}x raw read"
        )
    print(
        f"  rebuild, every model on its own {med['rebuild']:>10,.0f} events/s  "
        f"{micros(med['rebuild'])}  {med['ratio']:.2f}x raw read (median of per-round ratios)"
    )
    print(
        f"  rebuild_all, one pass (log)     {med['one_pass']:>10,.0f} events/s  "
        f"{micros(med['one_pass'])}  {med['ratio_one_pass']:.2f}x raw read; "
        f"{med['one_pass_speedup']:.2f}x faster than one model after the other"
    )
    return med


def micros(rate: float) -> str:
    return f"{1e6 / rate:5.1f} us/event"


def build(settings: Settings, scale: float) -> tuple[Engine, int, float]:
    """The demo month at ``scale`` on a fresh store; returns the engine, events, seconds."""
    engine = Engine(settings)
    started = time.perf_counter()
    run_demo(engine, MONTH, seed=SEED, scale=scale)
    events = engine.app.recorder.max_notification_id() or 0
    return engine, events, time.perf_counter() - started


def pg_unreachable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'opsledger[postgres]')"
    try:
        with psycopg.connect(PG_URL, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(e).__name__})"
    return None


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema, dropped afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"bench_projections_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.5, help="demo month scale on SQLite")
    parser.add_argument("--pg-scale", type=float, default=0.15, help="demo scale on PostgreSQL")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians)")
    parser.add_argument("--skip-pg", action="store_true", help="do not try PostgreSQL")
    args = parser.parse_args(argv)
    rounds = max(1, args.rounds)
    out: dict[str, Any] = {"rounds": rounds, "scale": args.scale}

    with tempfile.TemporaryDirectory(prefix="opsledger-bench-") as folder:
        settings = Settings(db_path=str(Path(folder) / "events.db"))
        engine, events, seconds = build(settings, args.scale)
        print(f"SQLite: demo month at scale {args.scale} built in {seconds:.1f} s")
        try:
            med = report("SQLite", events, measure(engine, rounds))
        finally:
            engine.close()
    met = med["ratio"] >= TARGET
    print(f"  target: ratio >= {TARGET} " + ("(met)" if met else "(NOT met)"))
    out |= {
        "events": events,
        "rebuild_events_per_s": round(med["rebuild"]),
        "raw_read_per_s": round(med["raw"]),
        "ratio": round(med["ratio"], 3),
        "target_met": met,
    }
    for name in [*MODELS, "floor", "one_pass"]:
        out[f"{name}_events_per_s"] = round(med[name])
        out[f"{name}_ratio"] = round(med[f"ratio_{name}"], 3)
    out["one_pass_speedup"] = round(med["one_pass_speedup"], 3)

    reason = "--skip-pg" if args.skip_pg else pg_unreachable()
    if reason is None:
        with pg_schema() as schema:
            settings = Settings(database_url=f"{PG_URL}?schema={schema}")
            engine, events, seconds = build(settings, args.pg_scale)
            print(f"PostgreSQL: demo month at scale {args.pg_scale} built in {seconds:.1f} s")
            try:
                med = report("PostgreSQL", events, measure(engine, rounds))
            finally:
                engine.close()
        out |= {
            "pg_events": events,
            "pg_scale": args.pg_scale,
            "pg_rebuild_events_per_s": round(med["rebuild"]),
            "pg_raw_read_per_s": round(med["raw"]),
            "pg_ratio": round(med["ratio"], 3),
        }
        for name in [*MODELS, "floor", "one_pass"]:
            out[f"pg_{name}_ratio"] = round(med[f"ratio_{name}"], 3)
        out["pg_one_pass_speedup"] = round(med["one_pass_speedup"], 3)
    else:
        print(f"PostgreSQL: skipped, {reason}")
        out["pg_skipped"] = reason
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
