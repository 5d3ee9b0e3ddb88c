"""Tamper evidence: edits, deletions, insertions and reorderings behind the engine's back show up.

Each test records a small, real log through the Engine, then changes the database directly
with SQL (as an attacker or a careless DBA would), and asks a fresh Engine to verify the chain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opsledger.core.chain import GENESIS, link_hash, verify_chain

from opsledger import Engine, FixedClock, Settings

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    nid: int
    originator_id: str
    version: int
    topic: str

    @property
    def event(self) -> str:
        return self.topic.rsplit(".", 1)[-1]


def rows(raw: Any) -> list[Row]:
    """Every event row in log order, as the database holds it."""
    found = raw.execute(
        f"SELECT {raw.nid}, originator_id, originator_version, topic FROM {raw.events} "
        f"ORDER BY {raw.nid}"
    )
    return [Row(int(n), str(uuid.UUID(str(o))), int(v), str(t)) for n, o, v, t in found]


def find(log: list[Row], event: str, nth: int = 0) -> Row:
    return [row for row in log if row.event == event][nth]


@pytest.fixture
def log(engine: Engine, raw_store: Any) -> list[Row]:
    """A ticket's everyday story: opened, assigned, three comments, resolved."""
    number = engine.open_incident("Invoice PDFs are blank", actor="desk").number
    engine.assign(number, "billing", "bob", actor="lead")
    for body in ("looking into it", "renderer upgraded last night", "rolled back renderer"):
        engine.comment(number, body, actor="bob")
    engine.resolve(number, "fixed", "rolled back the renderer", actor="bob")
    return rows(raw_store)


def verify(settings: Settings) -> Any:
    """The chain as a freshly started engine (an auditor's) sees it."""
    with Engine(settings, clock=FixedClock(T0)) as fresh:
        return fresh.verify_chain()


def faults(report: Any) -> list[tuple[int, str, str]]:
    """(position, originator, first word of the problem) for each fault."""
    return [(f.position, f.originator_id, f.problem.split()[0]) for f in report.faults]


def test_untouched_log_verifies(log: list[Row], backend: Settings, raw_store: Any) -> None:
    report = verify(backend)
    assert report.ok and report.faults == []
    # counter: Started + NumberAllocated = 2; ticket: Opened, Assigned, 3 comments, Resolved = 6
    assert report.checked == len(log) == 2 + 6
    last_link = raw_store.execute(f"SELECT hash FROM {raw_store.chain} ORDER BY notification_id")
    assert report.head == bytes(last_link[-1][0])


def test_edited_event_state_is_reported_at_that_event(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    target = find(log, "PublicCommentAdded", 1)
    (state,) = raw_store.execute(
        f"SELECT state FROM {raw_store.events} WHERE {raw_store.nid} = ?", [target.nid]
    )[0]
    forged = bytes(state).replace(b"renderer upgraded", b"nothing changed")
    assert forged != bytes(state)
    raw_store.execute(
        f"UPDATE {raw_store.events} SET state = ? WHERE {raw_store.nid} = ?", [forged, target.nid]
    )

    report = verify(backend)

    assert not report.ok
    assert faults(report) == [(target.nid, target.originator_id, "hash")]


def test_deleted_event_is_reported_where_it_was(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    target = find(log, "Assigned")
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [target.nid])

    report = verify(backend)

    assert not report.ok
    assert [(f.position, f.problem) for f in report.faults] == [
        (target.nid, "chain link without an event (deleted)")
    ]
    assert report.checked == len(log) - 1


def test_deleted_event_and_its_link_break_the_next_link(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    target = find(log, "PublicCommentAdded", 0)
    following = log[log.index(target) + 1]
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [target.nid])
    raw_store.execute(f"DELETE FROM {raw_store.chain} WHERE notification_id = ?", [target.nid])

    report = verify(backend)

    assert not report.ok
    assert faults(report) == [(following.nid, following.originator_id, "hash")]


def test_deleted_event_after_a_gap_in_ids_is_reported_at_its_own_id(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    # A gap in notification ids is normal on PostgreSQL (a rolled-back insert spends ids).
    gap, target = find(log, "PublicCommentAdded", 0), find(log, "PublicCommentAdded", 2)
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [gap.nid])
    raw_store.execute(f"DELETE FROM {raw_store.chain} WHERE notification_id = ?", [gap.nid])
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [target.nid])

    report = verify(backend)

    deleted = [f.position for f in report.faults if "deleted" in f.problem]
    assert deleted == [target.nid]


def test_inserted_forged_event_is_reported(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    template = find(log, "PublicCommentAdded", 0)
    forged_nid, forged_version = log[-1].nid + 1, max(r.version for r in log) + 1
    raw_store.execute(
        f"INSERT INTO {raw_store.events} "
        f"(originator_id, originator_version, topic, state, {raw_store.nid}) "
        f"SELECT originator_id, ?, topic, state, ? FROM {raw_store.events} "
        f"WHERE {raw_store.nid} = ?",
        [forged_version, forged_nid, template.nid],
    )

    report = verify(backend)

    assert not report.ok
    assert [(f.position, f.originator_id, f.problem) for f in report.faults] == [
        (forged_nid, template.originator_id, "event without a chain link")
    ]


def test_reordered_events_are_reported_at_both_places(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    first, second = find(log, "Assigned"), find(log, "Resolved")
    table, nid = raw_store.events, raw_store.nid
    both = raw_store.execute(
        f"SELECT {nid}, topic, state FROM {table} WHERE {nid} IN (?, ?) ORDER BY {nid}",
        [first.nid, second.nid],
    )
    (_, topic_a, state_a), (_, topic_b, state_b) = both
    swap = f"UPDATE {table} SET topic = ?, state = ? WHERE {nid} = ?"
    raw_store.execute(swap, [topic_b, bytes(state_b), first.nid])
    raw_store.execute(swap, [topic_a, bytes(state_a), second.nid])

    report = verify(backend)

    assert not report.ok
    assert faults(report) == [
        (first.nid, first.originator_id, "hash"),
        (second.nid, second.originator_id, "hash"),
    ]


def test_truncated_tail_moves_the_head_an_auditor_anchored(
    log: list[Row], backend: Settings, raw_store: Any
) -> None:
    # Dropping the newest event *and* its link leaves a shorter chain that still verifies on
    # its own: only a head published elsewhere (the audit tools' job) exposes it.
    anchored = verify(backend).head
    last = log[-1]
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [last.nid])
    raw_store.execute(f"DELETE FROM {raw_store.chain} WHERE notification_id = ?", [last.nid])

    report = verify(backend)

    assert report.head != anchored
    assert report.checked == len(log) - 1


@dataclass(frozen=True)
class Stored:
    """An event as the chain reads it (fits ``ChainedEvent``), without a store behind it."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


def test_a_slice_of_the_log_verifies_from_the_link_before_it() -> None:
    # An export holds positions 3..4 only: the walk starts from position 2's link, not GENESIS.
    oid = str(uuid.uuid4())
    events = [Stored(n, oid, n, "m:Ticket.Commented", f"body {n}".encode()) for n in (1, 2, 3, 4)]
    links, previous = [], GENESIS
    for e in events:
        previous = link_hash(previous, e.originator_id, e.originator_version, e.topic, e.state)
        links.append(previous)
    tail = [(e.id, e, link) for e, link in zip(events[2:], links[2:], strict=True)]

    anchored = verify_chain(tail, anchor=links[1])
    from_genesis = verify_chain(tail)

    assert anchored.ok and anchored.checked == 2 and anchored.head == links[3]
    # without the anchor the first row of the slice cannot match; the walk then re-anchors
    assert [(f.position, f.problem.split()[0]) for f in from_genesis.faults] == [(3, "hash")]
    assert verify_chain([], anchor=links[1]).head == links[1]
