"""Read models equal a plain fold of the log: built as it grows, rebuilt, once, or after a kill.

The reference ("the fold") reads each ticket's own event stream from the event store, never
the notification log, the projection's record cache, its document cache or its tracking
records: for the work queue it is the queue entry of ``engine.record(number)`` (absent once
closed or cancelled), for the ticket facts the facts function folded over the ticket's events.

Run as a script, this file is the crash-test worker: it catches the read models up in small
pages in a process of its own, which the test kills with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opsledger.core.domain.records import record_id
from opsledger.core.domain.sla import default_policy
from opsledger.core.domain.ticket import OPEN_STATES, Ticket, TicketState
from opsledger.core.sla_service import TICKET_KINDS
from opsledger.projections.base import Docs, ReadModel
from opsledger.projections.models import MODELS, queue_entry, ticket_facts
from opsledger.projections.service import Projections

from opsledger import DomainError, Engine, FixedClock, InputError, Settings

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
Snapshot = dict[str, dict[str, dict[str, dict[str, Any]]]]

# -- the generated histories -------------------------------------------------------------------

ALWAYS = {"timezone": "UTC", "always_open": True}
PRIORITIES = ("P1", "P2", "P3", "P4")
POLICIES: list[dict[str, Any]] = [
    default_policy().to_dict(),
    {  # a more specific SLA for one service, opening a new cycle on reopen
        "name": "shop",
        "services": ["shop"],
        "on_reopen": "new_cycle",
        "on_priority_change": "from_change",
        "calendars": {"24x7": ALWAYS},
        "targets": {p: {"response_minutes": 20, "resolution_minutes": 120} for p in ("P1", "P2")}
        | {p: {"response_minutes": 60, "resolution_minutes": 600} for p in ("P3", "P4")},
    },
    {  # clocks that are not the customer's: the read models must ignore them
        "name": "network-ola",
        "agreement": "ola",
        "groups": ["network"],
        "calendars": {"24x7": ALWAYS},
        "targets": {p: {"response_minutes": 10, "resolution_minutes": 90} for p in PRIORITIES},
    },
    {
        "name": "acme-uc",
        "agreement": "uc",
        "vendors": ["acme"],
        "calendars": {"24x7": ALWAYS},
        "targets": {p: {"resolution_minutes": 60} for p in PRIORITIES},
    },
]

LEVELS = ("high", "medium", "low")
GROUPS = ("service-desk", "network", "database")
PEOPLE = (None, "alice", "bob")
HOLDS = ("awaiting_customer", "awaiting_vendor", "awaiting_change")
#: "open" three times: a history needs tickets before the other verbs do anything.
VERBS = (
    "open", "open", "open", "assign", "acknowledge", "hold", "resume", "escalate", "resolve",
    "reopen", "close", "cancel", "comment", "reply", "priority", "satisfaction", "tick", "tick",
)  # fmt: skip
MAX_TICKETS = 5
#: Minutes between steps: short ones cross the warning thresholds, long ones the breaches.
ADVANCE = (0, 1, 4, 8, 15, 40, 120, 600, 1500)

Step = tuple[str, int, int, int]  # verb, ticket index, parameter choice, minutes to advance
STEP = st.tuples(
    st.sampled_from(VERBS),
    st.integers(0, MAX_TICKETS - 1),
    st.integers(0, 29),
    st.sampled_from(ADVANCE),
)


def define_policies(engine: Engine) -> None:
    for i, policy in enumerate(POLICIES):
        engine.define_policy(policy, actor="admin", at=T0 - timedelta(days=1, minutes=-i))


def perform(engine: Engine, tickets: list[str], step: Step, now: datetime) -> None:
    """One engine command; a refused one (wrong state, bad input) records nothing."""
    verb, index, choice, _ = step
    kw: dict[str, Any] = {"actor": "desk", "at": now}
    if verb == "tick":
        engine.tick(now)
        return
    if verb == "open":
        if len(tickets) < MAX_TICKETS:
            kind = ("incident", "service_request")[choice % 2]
            outcome = engine.open_ticket(
                kind, f"ticket {len(tickets) + 1}", impact=LEVELS[choice % 3],
                urgency=LEVELS[choice // 3 % 3], service=(None, "shop")[choice // 9 % 2], **kw,
            )  # fmt: skip
            tickets.append(outcome.number)
        return
    if not tickets:
        return
    ticket = tickets[index % len(tickets)]
    actions: dict[str, Callable[[], object]] = {
        "assign": lambda: engine.assign(ticket, GROUPS[choice % 3], PEOPLE[choice // 3 % 3], **kw),
        "acknowledge": lambda: engine.acknowledge(ticket, **kw),
        "hold": lambda: engine.hold(
            ticket,
            HOLDS[choice % 3],
            vendor="acme" if choice % 3 == 1 and choice > 14 else None,
            **kw,
        ),
        "resume": lambda: engine.resume(ticket, **kw),
        "escalate": lambda: engine.escalate(
            ticket,
            ("functional", "hierarchical")[choice % 2],
            GROUPS[choice // 2 % 3] if choice % 2 == 0 else "duty-manager",
            **kw,
        ),
        "resolve": lambda: engine.resolve(ticket, "fixed", **kw),
        "reopen": lambda: engine.reopen(ticket, "still broken", **kw),
        "close": lambda: engine.close_ticket(ticket, **kw),
        "cancel": lambda: engine.cancel(ticket, "duplicate", **kw),
        "comment": lambda: engine.comment(ticket, "looking", public=choice % 2 == 0, **kw),
        "reply": lambda: engine.customer_reply(ticket, "here you are", **kw),
        "priority": lambda: engine.change_priority(
            ticket, LEVELS[choice % 3], LEVELS[choice // 3 % 3], "re-rated", **kw
        ),
        "satisfaction": lambda: engine.record_satisfaction(ticket, 1 + choice % 5, **kw),
    }
    with contextlib.suppress(DomainError, InputError):
        actions[verb]()


# -- the reference fold and the builds under test ------------------------------------------------


def as_stored(value: Any) -> Any:
    """What a document looks like after the store's JSON round trip."""
    return orjson.loads(orjson.dumps(value))


def fold(engine: Engine) -> Snapshot:
    """Every read model's documents, from each ticket's own event stream."""
    queue: dict[str, dict[str, Any]] = {}
    facts: dict[str, dict[str, Any]] = {}
    for kind in TICKET_KINDS:
        for number in engine.numbers(kind):
            ticket = engine.record(number)
            assert isinstance(ticket, Ticket)
            if ticket.state in OPEN_STATES or ticket.state == TicketState.RESOLVED:
                queue[number] = as_stored(queue_entry(ticket))
            record: Any = None
            previous: dict[str, Any] | None = None
            event: Any
            for event in engine.app.events.get(record_id(number)):
                record = event.mutate(record)
                previous = as_stored(ticket_facts(record, previous))
            assert previous is not None
            facts[number] = previous
    return {"work_queue": {"tickets": queue}, "ticket_facts": {"tickets": facts}}


def snapshot(views: Projections) -> Snapshot:
    return {name: model.snapshot() for name, model in views.models.items()}


def assert_at_head(views: Projections) -> None:
    for status in views.status():
        assert status.lag == 0, status


def check_queue_semantics(engine: Engine, built: Snapshot) -> None:
    """What the work queue must say whatever its document function: a second opinion."""
    queue = built["work_queue"]["tickets"]
    for kind in TICKET_KINDS:
        for number in engine.numbers(kind):
            state = engine.get(number)["state"]
            if state in ("closed", "cancelled"):
                assert number not in queue, f"{number} is {state} but still queued"
            else:
                assert queue[number]["state"] == state
    assert set(built["ticket_facts"]["tickets"]) == {
        n for kind in TICKET_KINDS for n in engine.numbers(kind)
    }


# -- one store per hypothesis example ------------------------------------------------------------


@contextlib.contextmanager
def example_store(backend: Settings) -> Iterator[Settings]:
    """A store of its own for one example, of the kind ``backend`` is (fixtures are per test).

    SQLite: a new file beside the test's one. PostgreSQL: a new schema, dropped afterwards.
    """
    if not backend.database_url:
        folder = Path(backend.db_path).parent
        path = folder / f"example-{uuid.uuid4().hex[:8]}.db"
        try:
            yield backend.with_(db_path=str(path))
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(backend.database_url)
    query = dict(parse_qsl(parts.query))
    schema = f"{query['schema']}_{uuid.uuid4().hex[:6]}"
    admin = urlunsplit(parts._replace(query=""))
    url = urlunsplit(parts._replace(query=urlencode({**query, "schema": schema})))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield backend.with_(database_url=url)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


#: A quarter of the profile's budget: each example builds a store and three sets of models.
EXAMPLES = max(5, hypothesis_settings().max_examples // 4)
PROPERTY = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Harness steps mixed into a history: rebuild a model mid-way, restart the projections (cold
#: caches), squeeze their caches to one entry (records reloaded, documents read back), or let
#: one model catch up alone (the next pass starts with the models at different positions).
HARNESS = st.sampled_from(["rebuild", "restart", "squeeze", "lag", *[None] * 6])


@PROPERTY
@given(
    steps=st.lists(st.tuples(STEP, HARNESS), min_size=1, max_size=40),
    page=st.integers(1, 6),
)
def test_incremental_rebuilt_and_single_catch_up_all_equal_the_fold_of_the_log(
    backend: Settings, steps: list[tuple[Step, str | None]], page: int
) -> None:
    with example_store(backend) as settings, Engine(settings, clock=FixedClock(T0)) as engine:
        define_policies(engine)
        views = with_tally(Projections(engine))
        tickets: list[str] = []
        now = T0
        try:
            for step, harness in steps:
                now += timedelta(minutes=step[3])
                perform(engine, tickets, step, now)
                if harness == "rebuild":
                    views.rebuild(sorted(views.models)[step[2] % len(views.models)], page=page)
                elif harness == "restart":  # cold caches, position read back from the store
                    views.close()
                    views = with_tally(Projections(engine))
                elif harness == "squeeze":
                    for model in views.models.values():
                        model.records.capacity = 1
                elif harness == "lag":
                    views.models[sorted(views.models)[step[2] % 3]].catch_up(page=page)
                    continue
                views.catch_up(page=page)
            views.catch_up(page=page)
            incremental = snapshot(views)
            assert_at_head(views)

            # one catch-up over the whole log, with caches of one entry: records are reloaded
            # from the event store and documents read back between pages
            once = {
                name: type(model)(views.view, engine.app, target=f"{name}~once")
                for name, model in views.models.items()
            }
            for model in once.values():
                model.records.capacity = 1
                model.catch_up(page=page)
            single = {name: model.snapshot() for name, model in once.items()}

            with with_tally(Projections(engine)) as fresh:
                fresh.rebuild_all(page=page + 1)
                rebuilt = snapshot(fresh)
                assert_at_head(fresh)
        finally:
            views.close()

        for build in (incremental, single, rebuilt):
            assert_each_event_applied_once(engine, build.pop(EventTally.name))
        expected = fold(engine)
        assert incremental == expected
        assert single == expected
        assert rebuilt == expected
        check_queue_semantics(engine, incremental)


# -- exactly once: refused re-commits, and SIGKILL at random points ------------------------------


class EventTally(ReadModel):
    """Test-only read model that numbers every application of an event, in order.

    If each event is applied exactly once, the applications are numbered 1..N in log order
    and the count is N; an event applied twice would push the count past N.
    """

    name = "event_tally"
    collections = ("applied", "count")

    def apply(self, event: Any, record: Aggregate, docs: Docs) -> None:
        count = docs.get("count", "applications") or {"n": 0}
        n = count["n"] + 1
        docs.put("count", "applications", {"n": n})
        docs.put("applied", f"{event.originator_id}/{event.originator_version:06d}", {"seq": n})


def build_desk(engine: Engine, seed: int, commands: int) -> None:
    """A reproducible busy store: the generated verbs, drawn by a seeded generator."""
    define_policies(engine)
    rng = random.Random(seed)
    tickets: list[str] = []
    now = T0
    for _ in range(commands):
        step = (rng.choice(VERBS), rng.randrange(40), rng.randrange(30), rng.choice(ADVANCE[:6]))
        now += timedelta(minutes=step[3])
        if step[0] == "open" and len(tickets) >= MAX_TICKETS:
            tickets.pop(0)  # keep a few tickets busy, and keep opening new ones
        perform(engine, tickets, step, now)


def assert_each_event_applied_once(
    engine: Engine, tally: dict[str, dict[str, dict[str, Any]]], why: str = ""
) -> None:
    """The tally numbered the log's events 1..N in log order: each was applied exactly once."""
    log = read_log(engine)
    assert tally["count"]["applications"]["n"] == len(log), f"applications {why}"
    order = [tally["applied"][log[i]]["seq"] for i in sorted(log)]
    assert order == list(range(1, len(log) + 1)), why


def read_log(engine: Engine) -> dict[int, str]:
    """Every event in the log by notification id, named as the tally names them."""
    log: dict[int, str] = {}
    position = 0
    while True:
        page = engine.app.recorder.select_notifications(
            start=position, limit=500, inclusive_of_start=False
        )
        if not page:
            return log
        for n in page:
            log[n.id] = f"{n.originator_id}/{n.originator_version:06d}"
        position = page[-1].id


def with_tally(views: Projections) -> Projections:
    """The tally goes first, where most kills land."""
    views.models = {EventTally.name: EventTally(views.view, views.engine.app), **views.models}
    return views


def reset(views: Projections) -> None:
    for name in views.models:
        views.view.drop(name, views.engine.app.name)
    for name in list(views.models):
        views.models[name] = type(views.models[name])(views.view, views.engine.app)


def target_of(settings: Settings) -> str:
    return settings.database_url or settings.db_path


def start_worker(settings: Settings, page: int, kill_at_page: int) -> subprocess.Popen[str]:
    """This file as a script: catch up in pages; SIGKILL itself after ``kill_at_page`` pages."""
    worker = subprocess.Popen(
        [sys.executable, __file__, target_of(settings), str(page), str(kill_at_page)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


def killed(worker: subprocess.Popen[str]) -> bool:
    """Wait for the worker to end; True if SIGKILL ended it."""
    try:
        return worker.wait(timeout=60) == -signal.SIGKILL
    finally:
        for pipe in (worker.stdin, worker.stdout):
            if pipe is not None:
                pipe.close()


PAGE = 7
#: Kills of each kind per backend; the deep hypothesis profile asks for more.
KILLS = max(2, EXAMPLES // 5)


def test_killed_projection_process_resumes_to_the_same_result_applying_no_event_twice(
    backend: Settings,
) -> None:
    seed = int(os.environ.get("OPSLEDGER_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    why = f"(replay with OPSLEDGER_CRASH_SEED={seed})"
    with Engine(backend, clock=FixedClock(T0)) as engine, with_tally(Projections(engine)) as views:
        build_desk(engine, seed, commands=150 if backend.database_url else 200)
        log = read_log(engine)
        ids = sorted(log)
        started = time.perf_counter()
        views.catch_up(page=PAGE)
        full_run = time.perf_counter() - started
        pages = -(-len(log) // PAGE)  # one pass over the log for all the models
        reference = snapshot(views)
        assert {k: v for k, v in reference.items() if k in MODELS} == fold(engine)

        trials = [("inside", rng.randrange(1, pages), 0.0) for _ in range(KILLS)]
        # the worker is quicker than this first, cold run: aim the kills at its first part
        trials += [("outside", 0, rng.uniform(0.0, 0.6 * full_run)) for _ in range(KILLS)]
        for how, kill_at_page, delay in trials:
            reset(views)
            worker = start_worker(backend, PAGE, kill_at_page)
            if how == "outside":
                time.sleep(delay)  # the kill lands wherever the worker is by then
                worker.send_signal(signal.SIGKILL)
            assert killed(worker), f"{how} {why}"
            crashed = {s.name: s.position for s in views.status()}
            if how == "inside":  # killed once every model had committed that many pages
                page_end = ids[kill_at_page * PAGE - 1]
                assert set(crashed.values()) == {page_end}, f"{crashed} {why}"

            with with_tally(Projections(engine)) as restarted:
                restarted.catch_up(page=PAGE)
                assert_at_head(restarted)
                after = snapshot(restarted)
            assert_each_event_applied_once(engine, after.pop(EventTally.name), f"{crashed} {why}")
            assert after == {k: v for k, v in reference.items() if k != EventTally.name}, why

        for name in MODELS:
            views.rebuild(name)
        rebuilt = snapshot(views)
        assert {k: v for k, v in rebuilt.items() if k in MODELS} == fold(engine)


def test_concurrent_catch_ups_of_one_model_never_apply_an_event_twice(engine: Engine) -> None:
    """Two processes catching up one read model (a follower and a CLI command, say).

    The first is between pages when the second applies events 6-8; then two more events are
    recorded. The first's next page, 6-10, ends beyond the second's position 8: moving the
    tracking record forward is not enough, its commit must also find the position it started
    from (5), or events 6-8 are applied twice, the second time onto documents that already
    include them.
    """
    tickets: list[str] = []
    for i, verb in enumerate(["open", "assign", "acknowledge", "comment", "comment", "comment"]):
        perform(engine, tickets, (verb, 0, 4, 0), T0 + timedelta(minutes=i))
    # the counter's two events (started, number allocated), the ticket's six: no policy, no clocks
    assert engine.app.recorder.max_notification_id() == 8
    with with_tally(Projections(engine)) as first, with_tally(Projections(engine)) as second:
        slow, quick = first.models[EventTally.name], second.models[EventTally.name]
        slow.records.capacity = 1  # documents read back from the store, as on a large log
        interleaved = False

        def between_pages(position: int, _: int) -> None:
            nonlocal interleaved
            if not interleaved:
                interleaved = True
                quick.catch_up(page=100)
                for i in range(2):
                    engine.comment(
                        tickets[0], f"more {i}", actor="desk", at=T0 + timedelta(hours=1)
                    )

        slow.catch_up(page=5, progress=between_pages)
        slow.catch_up(page=5)
        assert interleaved and slow.position() == engine.app.recorder.max_notification_id()
        assert_each_event_applied_once(engine, slow.snapshot())


def test_models_at_different_positions_catch_up_in_one_pass_applying_each_event_once(
    engine: Engine,
) -> None:
    """As after a kill between two models' commits of the same page: one model is ahead."""
    define_policies(engine)
    tickets: list[str] = []
    for i, verb in enumerate(["open", "assign", "acknowledge", "hold", "resume", "resolve"]):
        perform(engine, tickets, (verb, 0, 4, 5), T0 + timedelta(minutes=5 * i))
    with with_tally(Projections(engine)) as views:
        ahead = views.models[EventTally.name]
        ahead.catch_up(page=100)
        ahead_at = ahead.position()
        for i, verb in enumerate(["reopen", "comment", "resolve", "close"]):
            perform(engine, tickets, (verb, 0, 4, 5), T0 + timedelta(hours=1, minutes=i))
        # pages ending at p and 2p with p < ahead_at < 2p: one straddles the tally's position
        applied = views.catch_up(page=ahead_at // 2 + 1)
        head = engine.app.recorder.max_notification_id() or 0
        assert applied[EventTally.name] == head - ahead_at
        assert applied["work_queue"] == applied["ticket_facts"] == head
        built = snapshot(views)
        assert_each_event_applied_once(engine, built.pop(EventTally.name))
        assert built == fold(engine)


def test_recommitting_an_applied_page_is_refused_and_changes_nothing(engine: Engine) -> None:
    define_policies(engine)
    tickets: list[str] = []
    for i, verb in enumerate(["open", "assign", "acknowledge", "open", "resolve", "close"]):
        perform(engine, tickets, (verb, 0, 4, 0), T0 + timedelta(minutes=i))
    with with_tally(Projections(engine)) as views:
        views.catch_up(page=3)
        before, positions = snapshot(views), {s.name: s.position for s in views.status()}
        app = engine.app.name
        head = engine.app.recorder.max_notification_id() or 0
        garbage = {("tickets", tickets[0]): {"state": "forged"}, ("tickets", tickets[1]): None}

        for model in views.models.values():
            for replayed in (head, head - 1, 1):  # the last page again, and older ones
                with pytest.raises(IntegrityError):
                    views.view.commit(model.target, Tracking(app, replayed), garbage)
            # a page beyond the head, from a worker that believes it started elsewhere
            for started in (0, 1, head - 1):
                with pytest.raises(IntegrityError):
                    views.view.commit(model.target, Tracking(app, head + 5), garbage, after=started)
            # eventsourcing's live path, handed an event this model has already applied
            (notification,) = engine.app.recorder.select_notifications(start=head, limit=1)
            event = engine.app.mapper.to_domain_event(notification)
            with pytest.raises(IntegrityError):
                model.process_event(event, Tracking(app, head))
        assert snapshot(views) == before
        assert {s.name: s.position for s in views.status()} == positions

        # And a restarted catch-up has nothing left to apply.
        with with_tally(Projections(engine)) as again:
            assert again.catch_up(page=3) == dict.fromkeys(again.models, 0)
            assert snapshot(again) == before


# -- following live ----------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def queued(views: Projections) -> set[str]:
    return set(views.model("work_queue").documents("tickets"))


def test_follow_picks_up_events_another_engine_records(backend: Settings) -> None:
    stop = threading.Event()
    with Engine(backend, clock=FixedClock(T0)) as reader, Projections(reader) as views:
        follower = threading.Thread(target=views.follow, args=(stop,), kwargs={"poll": 0.05})
        follower.start()
        try:
            with Engine(backend, clock=FixedClock(T0)) as writer:
                first = writer.open_incident("disk full", actor="desk", at=T0).number
                wait_for(lambda: first in queued(views), what=f"{first} queued")
                second = writer.open_incident("vpn down", actor="desk", at=T0).number
                writer.cancel(first, "duplicate", actor="desk", at=T0 + timedelta(minutes=1))
                wait_for(lambda: queued(views) == {second}, what=f"{first} gone, {second} queued")
        finally:
            stop.set()
            follower.join(timeout=10)
        assert not follower.is_alive()
        assert_at_head(views)
        assert snapshot(views) == fold(reader)


def test_subscription_applies_each_new_event_with_its_tracking_record(backend: Settings) -> None:
    with Engine(backend, clock=FixedClock(T0)) as reader, Projections(reader) as views:
        model = views.model("ticket_facts")
        subscription = model.follow()

        def apply_live() -> None:
            for event, tracking in subscription:
                model.process_event(event, tracking)

        follower = threading.Thread(target=apply_live, daemon=True)
        follower.start()
        try:
            with Engine(backend, clock=FixedClock(T0)) as writer:
                number = writer.open_incident("printer", actor="desk", at=T0).number
                writer.assign(number, "service-desk", "alice", actor="desk", at=T0)
                head = writer.app.recorder.max_notification_id()
                wait_for(lambda: model.position() == head, what="the subscription at the head")
        finally:
            subscription.stop()
            follower.join(timeout=10)
        facts = model.documents("tickets")
        assert facts[number]["group"] == "service-desk"
        assert facts == fold(reader)["ticket_facts"]["tickets"]


# -- the crash-test worker -------------------------------------------------------------------


def _worker(argv: Sequence[str]) -> None:
    target, page, kill_at_page = argv[0], int(argv[1]), int(argv[2])
    settings = Settings(database_url=target) if "://" in target else Settings(db_path=target)
    with Engine(settings) as engine, with_tally(Projections(engine)) as views:
        pages = 0

        def progress(position: int, head: int) -> None:
            nonlocal pages
            pages += 1
            if pages == kill_at_page:
                os.kill(os.getpid(), signal.SIGKILL)

        print("ready", flush=True)
        views.catch_up(progress, page=page)
        print("done", flush=True)
        sys.stdin.read()  # stay until killed: a kill that comes late still finds us


if __name__ == "__main__":
    _worker(sys.argv[1:])
