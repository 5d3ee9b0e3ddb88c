"""The shared outbox on SQLite and PostgreSQL: idempotent adds, per-ticket order, due times,
claims that hold across connections, and a row's life to ``recorded``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta, timezone

import pytest
from opsledger.plugins.outbox import Outbox

from opsledger import Settings
from tests.conftest import T0

LEASE = timedelta(minutes=5)


@pytest.fixture
def pair(backend: Settings) -> Iterator[tuple[Outbox, Outbox]]:
    """Two connections to one outbox, as two worker processes sharing a store would have."""
    first = Outbox.for_settings(backend)
    second = Outbox.for_settings(backend)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


@pytest.fixture
def outbox(pair: tuple[Outbox, Outbox]) -> Outbox:
    return pair[0]


def test_adding_the_same_dedup_twice_keeps_the_first_row(outbox: Outbox) -> None:
    assert outbox.add("jira", "create:INC-1", "INC-1", {"op": "create", "note": "é 中"}, T0)
    assert not outbox.add("jira", "create:INC-1", "INC-1", {"op": "other"}, T0)
    # the key is unique per channel only: another plugin's row with that key is its own
    assert outbox.add("mail", "create:INC-1", "INC-1", {"op": "mail"}, T0)
    [row] = outbox.rows("jira")
    assert (row.channel, row.dedup, row.ticket, row.payload) == (
        "jira",
        "create:INC-1",
        "INC-1",
        {"op": "create", "note": "é 中"},
    )
    assert (row.status, row.attempts, row.next_attempt, row.recorded) == ("pending", 0, T0, False)
    assert outbox.find("jira", "create:INC-1") == row
    assert outbox.find("jira", "create:INC-2") is None
    assert [r.payload["op"] for r in outbox.rows("mail", "INC-1")] == ["mail"]


def test_per_ticket_only_the_oldest_pending_row_of_each_ticket_is_due(outbox: Outbox) -> None:
    for dedup, ticket in [("a1", "INC-1"), ("b1", "INC-2"), ("a2", "INC-1"), ("a3", "INC-1")]:
        outbox.add("jira", dedup, ticket, {}, T0)
    assert [r.dedup for r in outbox.due("jira", T0)] == ["a1", "b1"]
    # a retried head holds its ticket's later rows back, however due they are
    head = outbox.due("jira", T0)[0]
    outbox.retry_later(head, "503", T0 + timedelta(seconds=30))
    assert [r.dedup for r in outbox.due("jira", T0 + timedelta(seconds=29))] == ["b1"]
    assert [r.dedup for r in outbox.due("jira", T0 + timedelta(seconds=30))] == ["a1", "b1"]
    outbox.done(outbox.due("jira", T0 + timedelta(seconds=30))[0], {"key": "OPS-1"})
    # heads oldest first: b1 was added before a2
    assert [r.dedup for r in outbox.due("jira", T0 + timedelta(seconds=30))] == ["b1", "a2"]
    assert [r.dedup for r in outbox.due("jira", T0 + timedelta(seconds=30), limit=1)] == ["b1"]


def test_without_per_ticket_every_due_row_counts_by_next_attempt(outbox: Outbox) -> None:
    for dedup in ("m1", "m2", "m3"):
        outbox.add("mail", dedup, "INC-1", {}, T0)
    outbox.retry_later(outbox.rows("mail")[0], "451", T0 + timedelta(seconds=30))
    later = T0 + timedelta(seconds=30)
    assert [r.dedup for r in outbox.due("mail", T0, per_ticket=False)] == ["m2", "m3"]
    # m1 is due at 09:00:30, the others since 09:00:00: the earliest attempt goes first
    assert [r.dedup for r in outbox.due("mail", later, per_ticket=False)] == ["m2", "m3", "m1"]
    assert outbox.due("jira", later, per_ticket=False) == []


def test_a_row_is_due_from_its_next_attempt_with_the_error_and_count_kept(outbox: Outbox) -> None:
    queued_at = T0.astimezone(timezone(timedelta(hours=8)))  # the same instant, in Beijing
    outbox.add("jira", "d", "INC-1", {}, queued_at)
    assert outbox.due("jira", T0 - timedelta(microseconds=1)) == []
    [row] = outbox.due("jira", T0)
    retry_at = T0 + timedelta(seconds=60, microseconds=7)
    outbox.retry_later(row, "429 Too Many Requests", retry_at)
    outbox.retry_later(outbox.rows("jira")[0], "429 again", retry_at)
    [row] = outbox.rows("jira")
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "429 again")
    assert row.next_attempt == retry_at  # to the microsecond, as an aware UTC instant
    assert outbox.due("jira", retry_at - timedelta(microseconds=1)) == []
    assert [r.id for r in outbox.due("jira", retry_at)] == [row.id]


def test_a_claimed_row_is_left_alone_by_another_connection_until_its_lease_ends(
    pair: tuple[Outbox, Outbox],
) -> None:
    mine, theirs = pair
    mine.add("mail", "d", "INC-1", {}, T0)
    [row] = mine.due("mail", T0)
    [seen] = theirs.due("mail", T0)
    assert mine.claim(row, LEASE, T0)
    assert not theirs.claim(seen, LEASE, T0)
    assert not mine.claim(row, LEASE, T0)  # not twice by the same worker either
    assert theirs.due("mail", T0 + LEASE, per_ticket=False) == []
    assert theirs.due("mail", T0 + LEASE) == []
    # the worker died mid-attempt: once the lease has passed, another takes the row over
    after = T0 + LEASE + timedelta(microseconds=1)
    assert [r.id for r in theirs.due("mail", after)] == [row.id]
    assert theirs.claim(seen, LEASE, after)


def test_a_row_read_before_another_worker_retried_or_finished_it_cannot_be_claimed(
    pair: tuple[Outbox, Outbox],
) -> None:
    mine, theirs = pair
    mine.add("mail", "retried", "INC-1", {}, T0)
    mine.add("mail", "finished", "INC-2", {}, T0)
    retried, finished = theirs.due("mail", T0)  # read, then the other worker gets there first
    for row in mine.due("mail", T0):
        assert mine.claim(row, LEASE, T0)
    mine.retry_later(retried, "451", T0)  # due again at once, but no longer as read
    mine.done(finished)
    assert not theirs.claim(retried, LEASE, T0)
    assert not theirs.claim(finished, LEASE, T0)
    [fresh] = theirs.due("mail", T0)
    assert (fresh.dedup, fresh.attempts) == ("retried", 1)
    assert theirs.claim(fresh, LEASE, T0)


def test_workers_racing_on_two_connections_claim_each_row_exactly_once(
    pair: tuple[Outbox, Outbox],
) -> None:
    for n in range(30):
        pair[0].add("mail", f"d{n}", f"INC-{n % 3}", {}, T0)
    start = threading.Barrier(2)
    won: list[list[int]] = [[], []]

    def work(index: int) -> None:
        rows = pair[index].due("mail", T0, per_ticket=False)
        start.wait(timeout=10)
        won[index] = [row.id for row in rows if pair[index].claim(row, LEASE, T0)]

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(won[0] + won[1]) == sorted(r.id for r in pair[0].rows("mail"))


def test_done_and_failed_rows_wait_to_be_recorded_then_are_kept(outbox: Outbox) -> None:
    for dedup in ("ok", "bad", "open"):
        outbox.add("jira", dedup, dedup, {"op": dedup}, T0)
    ok, bad, still_open = outbox.rows("jira")
    assert outbox.claim(ok, LEASE, T0)
    done = outbox.done(ok, {"key": "OPS-7"})
    failed = outbox.failed(bad, "400 field 'priority' cannot be set")
    assert (done.status, done.attempts, done.result, done.last_error) == (
        "done",
        1,
        {"key": "OPS-7"},
        "",
    )
    assert (failed.status, failed.attempts, failed.result) == ("failed", 1, {})
    assert failed.last_error == "400 field 'priority' cannot be set"
    assert [r.dedup for r in outbox.due("jira", T0 + LEASE * 2)] == ["open"]
    assert not outbox.claim(done, LEASE, T0 + LEASE * 2)  # finished rows are never taken
    assert outbox.unrecorded("jira") == [done, failed]
    assert outbox.unrecorded("jira", limit=1) == [done]
    assert outbox.unrecorded("mail") == []
    outbox.mark_recorded(done)
    assert outbox.unrecorded("jira") == [failed]
    outbox.mark_recorded(failed)
    assert outbox.unrecorded("jira") == []
    assert [(r.dedup, r.status, r.recorded) for r in outbox.rows("jira")] == [
        ("ok", "done", True),
        ("bad", "failed", True),
        ("open", "pending", False),
    ]
    assert outbox.rows("jira", "open") == [still_open]


def test_a_failed_row_requeued_is_due_again_with_a_fresh_count(outbox: Outbox) -> None:
    outbox.add("jira", "d", "INC-1", {}, T0)
    outbox.add("jira", "later", "INC-1", {}, T0)
    first = outbox.rows("jira")[0]
    assert not outbox.requeue(first, T0)  # only a row that gave up goes back
    outbox.retry_later(first, "503", T0)
    outbox.mark_recorded(outbox.failed(outbox.rows("jira")[0], "401 Unauthorized"))
    assert [r.dedup for r in outbox.due("jira", T0)] == ["later"]
    at = T0 + timedelta(hours=1)
    assert outbox.requeue(outbox.rows("jira")[0], at)
    [row, _] = outbox.rows("jira")
    assert (row.status, row.attempts, row.next_attempt, row.recorded) == ("pending", 0, at, False)
    assert row.last_error == "401 Unauthorized"  # why it failed, until the next attempt
    # it is the ticket's oldest pending row again: the later row waits behind it
    assert outbox.due("jira", T0) == []
    assert [r.dedup for r in outbox.due("jira", at)] == ["d"]
