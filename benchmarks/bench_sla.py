"""SLA engine figures: business-time deadlines per second, tick cost at 1k and 100k clocks, RSS.

Deadlines: ``BusinessCalendar.add`` on office calendars with public holidays (Shanghai with
China's make-up workdays, London), against the 24x7 calendar as the floor. Ticks: the public
``Engine.tick`` on two SQLite stores that differ only in how many tickets with running clocks
sit in the deadline index, with the same number of clock events due per tick. See README.md
here for the layout of the stores. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsledger.core.domain.calendar import BusinessCalendar
from opsledger.core.scheduler import DeadlineIndex

from opsledger import Engine, FixedClock, Settings

SEED = 20260105
DEADLINE_TARGET = 20_000  # computations per second
TICK_RATIO_TARGET = 2.0  # tick cost with the large index / with the small one

# -- business-time deadlines ------------------------------------------------------------------

#: Starts are drawn from the years for which the holidays library knows China's make-up days.
SPAN_START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_END = datetime(2027, 1, 1, tzinfo=UTC)
#: SLA targets range from a 1-minute response to a 10-business-day resolution (log-uniform,
#: so short targets are as common as in real policies).
SHORTEST, LONGEST = 60, 10 * 8 * 3600

OFFICE_WEEK = ("mon", "tue", "wed", "thu", "fri")


def shanghai_hours() -> dict[str, Any]:
    """09:00-18:00 with a lunch hour; CN holidays, make-up weekends and two company closures."""
    return {
        "timezone": "Asia/Shanghai",
        "country": "CN",
        "hours": {d: [["09:00", "12:00"], ["13:00", "18:00"]] for d in OFFICE_WEEK},
        "closures": ["2025-06-13", "2026-06-12"],
    }


def london_hours() -> dict[str, Any]:
    """09:00-17:30 in England, bank holidays closed; crosses BST changes twice a year."""
    return {
        "timezone": "Europe/London",
        "country": "GB",
        "subdiv": "ENG",
        "hours": {d: [["09:00", "17:30"]] for d in OFFICE_WEEK},
    }


def calendars() -> dict[str, BusinessCalendar]:
    return {
        "Asia/Shanghai CN": BusinessCalendar.from_dict({"name": "shanghai", **shanghai_hours()}),
        "Europe/London GB-ENG": BusinessCalendar.from_dict({"name": "london", **london_hours()}),
        "24x7 (floor)": BusinessCalendar.twenty_four_seven("UTC"),
    }


def deadline_sample(count: int, rng: random.Random) -> list[tuple[datetime, timedelta]]:
    """Random start instants (to the second) over three years, random business durations."""
    seconds = int((SPAN_END - SPAN_START).total_seconds())
    lo, hi = SHORTEST, LONGEST
    return [
        (
            SPAN_START + timedelta(seconds=rng.randrange(seconds)),
            timedelta(seconds=round(lo * (hi / lo) ** rng.random())),
        )
        for _ in range(count)
    ]


def time_calls(fn: Callable[[datetime, Any], Any], pairs: Sequence[tuple[datetime, Any]]) -> float:
    """Calls per second of ``fn`` over ``pairs``."""
    start = time.perf_counter()
    for a, b in pairs:
        fn(a, b)
    return len(pairs) / (time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class DeadlineFigures:
    add_per_s: dict[str, float]  # calendar -> median calls per second
    elapsed_per_s: dict[str, float]
    cold_add_per_s: dict[str, float]  # first pass, day plans not cached yet


def deadline_figures(count: int, rounds: int, seed: int) -> DeadlineFigures:
    """add() and elapsed() rates per calendar; calendars take turns within every round.

    The first pass over the sample fills each calendar's day-plan cache (reported as cold);
    the timed rounds then show the steady state of a running engine. Every add() result is
    checked against elapsed(), which must give back the duration.
    """
    rng = random.Random(seed)
    sample = deadline_sample(count, rng)
    cals = calendars()
    cold: dict[str, float] = {}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for name, cal in cals.items():
        cold[name] = time_calls(cal.add, sample)
        spans[name] = [(s, cal.add(s, d)) for s, d in sample]
        for (s, d), (_, due) in zip(sample[:2000], spans[name][:2000], strict=True):
            if cal.elapsed(s, due) != d:
                raise RuntimeError(f"{name}: elapsed({s}, add({s}, {d})) != {d}")
    adds: dict[str, list[float]] = {name: [] for name in cals}
    elapsed: dict[str, list[float]] = {name: [] for name in cals}
    names = list(cals)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            adds[name].append(time_calls(cals[name].add, sample))
            elapsed[name].append(time_calls(cals[name].elapsed, spans[name]))
    return DeadlineFigures(
        {k: statistics.median(v) for k, v in adds.items()},
        {k: statistics.median(v) for k, v in elapsed.items()},
        cold,
    )


# -- the stores for tick ----------------------------------------------------------------------

#: Monday 2026-01-05 01:00 UTC: 09:00 in Shanghai (an ordinary workday after the New Year
#: holiday and the make-up Sunday), 01:00 in London (before opening).
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
RESPONSE_P2 = 60  # minutes, round the clock: a due batch reaches 50 % 30 minutes after opening
FIRST_WARNING = timedelta(minutes=RESPONSE_P2 // 2)
BACKGROUND_SPREAD = timedelta(hours=8)


def desk_policies() -> list[dict[str, Any]]:
    """Two realistic SLAs, chosen by service: P1/P2 round the clock, P3/P4 in office hours."""

    def policy(name: str, service: str, office: dict[str, Any], tz: str) -> dict[str, Any]:
        return {
            "name": name,
            "services": [service],
            "calendars": {"24x7": {"timezone": tz, "always_open": True}, "office": office},
            "targets": {
                "P1": {"calendar": "24x7", "response_minutes": 15, "resolution_minutes": 240},
                "P2": {
                    "calendar": "24x7",
                    "response_minutes": RESPONSE_P2,
                    "resolution_minutes": 480,
                },
                "P3": {"calendar": "office", "response_minutes": 240, "resolution_minutes": 1440},
                "P4": {"calendar": "office", "response_minutes": 480, "resolution_minutes": 2400},
            },
        }

    return [
        policy("cn-desk", "shop-cn", shanghai_hours(), "Asia/Shanghai"),
        policy("uk-desk", "shop-uk", london_hours(), "Europe/London"),
    ]


#: Background tickets, in turn: (service, impact, urgency) -> P2 24x7, P3 Shanghai, P3/P4 London.
BACKGROUND = (
    ("shop-cn", "high", "medium"),
    ("shop-cn", "medium", "medium"),
    ("shop-uk", "medium", "medium"),
    ("shop-uk", "low", "low"),
)


def batch_opened(r: int) -> datetime:
    return T0 + timedelta(seconds=r)


def tick_instant(r: int) -> datetime:
    """When due batch ``r`` reaches its first warning, and nothing else is due."""
    return batch_opened(r) + FIRST_WARNING


def build_store(engine: Engine, total: int, batches: int, due: int) -> float:
    """Open ``total`` incidents with running clocks through the engine; returns seconds.

    Due batch r: ``due`` P2 incidents (24x7) opened at T0 + r s, whose response clocks reach
    50 % at T0 + r s + 30 min, the instant of tick r; their next threshold (75 %) comes 15
    minutes later, after the last tick. The rest (background) are opened after the batches,
    spread over 8 hours, and first fall due after every tick. Opening in time order keeps every
    record's history ordered; it also leaves the due tickets the least recently used.
    """
    start = time.perf_counter()
    engine.deadlines()  # built now, while empty: every command below keeps it current
    for i, policy in enumerate(desk_policies()):
        engine.define_policy(policy, actor="admin", at=T0 - timedelta(days=1, seconds=-i))
    for r in range(batches):
        for _ in range(due):
            engine.open_incident(
                "Checkout slow",
                impact="high",
                urgency="medium",
                service="shop-cn",
                reporter="bench",
                actor="bench",
                at=batch_opened(r),
            )
    background = total - batches * due
    first = batch_opened(batches)
    for i in range(background):
        service, impact, urgency = BACKGROUND[i % len(BACKGROUND)]
        engine.open_incident(
            "Printer jam",
            impact=impact,
            urgency=urgency,
            service=service,
            reporter="bench",
            actor="bench",
            at=first + BACKGROUND_SPREAD * i / background,
        )
    return time.perf_counter() - start


def rss_mb() -> float:
    """Resident set size now (VmRSS), or the peak where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


@contextmanager
def store(folder: str, name: str) -> Iterator[tuple[Engine, Settings]]:
    settings = Settings(db_path=str(Path(folder) / f"{name}.db"))
    with Engine(settings, clock=FixedClock(T0)) as engine:
        yield engine, settings


def tick_rounds(engines: dict[str, Engine], rounds: int, due: int) -> dict[str, list[float]]:
    """Milliseconds per ``Engine.tick`` for each engine; round 0 is a warm-up, not reported.

    The engines take turns in every round (alternating who goes first) on the same instant,
    each firing exactly the first warning of its ``due`` tickets of that round.
    """
    results: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for r in range(rounds + 1):
        for name in names if r % 2 == 0 else names[::-1]:
            engine = engines[name]
            start = time.perf_counter()
            fired = engine.tick(tick_instant(r))
            spent = time.perf_counter() - start
            if fired != due:
                raise RuntimeError(f"{name}: tick {r} recorded {fired} events, expected {due}")
            if r:
                results[name].append(spent * 1000)
    return results


def index_ms(size: int, due: int, rounds: int, seed: int) -> float:
    """Median milliseconds for the index alone to hand out ``due`` tickets and re-file them.

    The part of a tick that depends on how many clocks are open: ``pop_due`` and one
    ``update`` per fired ticket, on a ``DeadlineIndex`` holding ``size`` tickets.
    """
    rng = random.Random(seed)
    numbers = [f"INC-{i:06d}" for i in range(size)]
    order = list(range(size))
    rng.shuffle(order)
    index = DeadlineIndex()
    for i in order:  # ticket i is due at T0 + i s, filed in random order
        index.update(numbers[i], T0 + timedelta(seconds=i))
    spent = []
    for r in range(max(1, min(rounds, size // due))):  # each round takes the next ``due``
        now = T0 + timedelta(seconds=(r + 1) * due - 1)
        start = time.perf_counter()
        fired = index.pop_due(now)
        for number in fired:
            index.update(number, now + timedelta(seconds=size + rng.randrange(size)))
        spent.append((time.perf_counter() - start) * 1000)
        if len(fired) != min(due, size):
            raise RuntimeError(f"index of {size}: {len(fired)} due, expected {due}")
    return statistics.median(spent)


# -- report -----------------------------------------------------------------------------------


def deadline_report(samples: int, rounds: int, seed: int) -> dict[str, Any]:
    print(
        f"Business-time deadlines: {samples:,} random (start, duration) pairs, starts "
        f"{SPAN_START:%Y-%m-%d}..{SPAN_END - timedelta(days=1):%Y-%m-%d}, durations 1 min to "
        f"10 business days (log-uniform); median of {rounds} rounds, calendars taking turns"
    )
    figures = deadline_figures(samples, rounds, seed)
    for name, rate in figures.add_per_s.items():
        print(
            f"  add()     {name:<22} {rate:>10,.0f}/s   (first pass, empty day-plan cache: "
            f"{figures.cold_add_per_s[name]:,.0f}/s)"
        )
    for name, rate in figures.elapsed_per_s.items():
        print(f"  elapsed() {name:<22} {rate:>10,.0f}/s")
    offices = [k for k in figures.add_per_s if "24x7" not in k]
    deadlines = min(figures.add_per_s[k] for k in offices)
    met = deadlines >= DEADLINE_TARGET
    print(
        f"  target: add() >= {DEADLINE_TARGET:,}/s on every office calendar "
        + ("(met)" if met else "(NOT met)")
    )
    return {
        "deadlines_per_s": round(deadlines),
        "deadlines_target_met": met,
        "deadlines_per_s_by_calendar": {k: round(v) for k, v in figures.add_per_s.items()},
        "deadlines_cold_per_s_by_calendar": {
            k: round(v) for k, v in figures.cold_add_per_s.items()
        },
        "elapsed_per_s": round(min(figures.elapsed_per_s[k] for k in offices)),
        "elapsed_per_s_by_calendar": {k: round(v) for k, v in figures.elapsed_per_s.items()},
    }


def tick_report(
    folder: str, small: int, large: int, due: int, rounds: int, *, reopen: bool
) -> dict[str, Any]:
    print(
        f"Tick: SQLite stores with {small:,} and {large:,} open incidents in the deadline index "
        f"(each with a running response and resolution clock), {due} clock events due per tick"
    )
    batches = rounds + 1  # one due batch per round, plus the warm-up
    out: dict[str, Any] = {}
    with store(folder, "small") as (small_engine, _), store(folder, "large") as (engine, settings):
        spent = build_store(small_engine, small, batches, due)
        print(f"  built {small:,} incidents through Engine in {spent:.1f} s")
        rss_small = rss_mb()
        spent = build_store(engine, large, batches, due)
        print(
            f"  built {large:,} incidents through Engine in {spent:.1f} s ({large / spent:,.0f}/s)"
        )
        rss_large = rss_mb()
        sizes = (len(small_engine.deadlines()), len(engine.deadlines()))
        if sizes != (small, large):
            raise RuntimeError(f"deadline index sizes {sizes}, expected {(small, large)}")
        print(
            f"  RSS {rss_large:,.0f} MB with {large:,} incidents indexed (and up to "
            f"{settings.aggregate_cache_size:,} aggregates cached); "
            f"{rss_small:,.0f} MB before building it"
        )
        ms = tick_rounds({"small": small_engine, "large": engine}, rounds, due)
    out |= {"rss_mb_100k": round(rss_large, 1), "rss_mb_before_100k": round(rss_small, 1)}
    out["build_s_100k"] = round(spent, 1)
    ratios = [b / s for s, b in zip(ms["small"], ms["large"], strict=True)]
    ratio = statistics.median(ratios)
    for name, count in (("small", small), ("large", large)):
        each = " ".join(f"{v:.1f}" for v in ms[name])
        median = statistics.median(ms[name])
        print(
            f"  tick with {count:>7,} indexed: {median:>7.1f} ms "
            f"({median / due:.2f} ms per event; rounds: {each})"
        )
    tick_met = ratio <= TICK_RATIO_TARGET
    each = " ".join(f"{r:.2f}" for r in ratios)
    print(f"  ratio {large:,} / {small:,}: {ratio:.2f}  (rounds: {each})")
    print(f"  target: ratio <= {TICK_RATIO_TARGET:.1f} " + ("(met)" if tick_met else "(NOT met)"))
    index_small, index_large = (index_ms(n, due, 4 * rounds, SEED) for n in (small, large))
    print(
        f"  of which the deadline index alone (pop_due + re-file {due}): "
        f"{index_small:.2f} ms at {small:,}, {index_large:.2f} ms at {large:,}"
    )
    out |= {
        "index_ms_1k": round(index_small, 3),
        "index_ms_100k": round(index_large, 3),
        "tick_ms_1k": round(statistics.median(ms["small"]), 2),
        "tick_ms_100k": round(statistics.median(ms["large"]), 2),
        "tick_ratio": round(ratio, 3),
        "tick_target_met": tick_met,
    }
    if reopen:
        start = time.perf_counter()
        with Engine(settings, clock=FixedClock(T0)) as fresh:
            rebuilt = len(fresh.deadlines())
        spent = time.perf_counter() - start
        print(
            f"  a fresh Engine on the {large:,} store rebuilds its deadline index from the "
            f"events in {spent:.1f} s ({rebuilt:,} entries)"
        )
        out["index_rebuild_s_100k"] = round(spent, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clocks", type=int, default=100_000, help="tickets in the large index")
    parser.add_argument("--small", type=int, default=1_000, help="tickets in the small index")
    parser.add_argument("--due", type=int, default=100, help="clock events due per tick")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--samples", type=int, default=20_000, help="deadlines per round")
    parser.add_argument(
        "--reopen", action="store_true", help="also time a fresh Engine rebuilding the index"
    )
    parser.add_argument("--dir", default=None, help="where the stores go (default: temp dir)")
    parser.add_argument("--seed", type=int, default=SEED, help="for the deadline sample")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 100:  # batches are 1 s apart; 75 % comes 15 minutes after 50 %
        parser.error("--rounds must be between 1 and 100")
    rounds, due = args.rounds, max(1, args.due)
    small = max(args.small, (rounds + 1) * due)
    large = max(args.clocks, small)

    out = deadline_report(max(1, args.samples), rounds, args.seed)
    with tempfile.TemporaryDirectory(prefix="opsledger-bench-", dir=args.dir) as folder:
        out |= tick_report(folder, small, large, due, rounds, reopen=args.reopen)
    out |= {"clocks_small": small, "clocks_large": large, "due_per_tick": due, "rounds": rounds}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
