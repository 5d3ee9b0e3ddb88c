"""Sending the outbox against a real relay: backoff on 4xx, giving up on 5xx, exactly one send
when the recording fails, the sender thread, and the outbox on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.kafka.bus import BusUnavailable, LocalBus, Receipt
from opsledger.core.commands import Command

from opsledger import Settings
from tests.conftest import T0
from tests.email.test_notify import Desk, make_desk, relay, ticket_for

__all__ = ["make_desk", "relay"]  # fixtures used here


def test_451_twice_then_250_is_sent_on_the_third_drain_on_the_backoff_schedule(
    make_desk: Callable[..., Desk], backend: Settings
) -> None:
    desk = make_desk(backend)
    desk.relay.answer(451, times=2)
    number = ticket_for(desk)
    assert desk.drain() == 1
    [row] = desk.outbox()
    # base 30 s doubling: retry 30 s after the first failure, 60 s after the second
    assert (row.status, row.attempts, row.next_attempt) == (
        "pending",
        1,
        T0 + timedelta(seconds=30),
    )
    assert row.last_error.startswith("451")
    assert desk.drain() == 0  # not due yet: a pass never waits
    desk.clock.advance(timedelta(seconds=30))
    assert desk.drain() == 1
    [row] = desk.outbox()
    assert (row.attempts, row.next_attempt) == (2, T0 + timedelta(seconds=90))
    desk.clock.advance(timedelta(seconds=59))
    assert desk.drain() == 0
    desk.clock.advance(timedelta(seconds=1))
    assert desk.drain() == 1
    [row] = desk.outbox()
    assert (row.status, row.attempts, row.recorded) == ("done", 3, True)
    assert len(desk.relay.refused) == 2 and len(desk.relay.received) == 1
    # the Message-ID fixed at enqueue went out on every attempt
    ids = {m.message()["Message-ID"] for m in [*desk.relay.refused, *desk.relay.received]}
    assert ids == {row.payload["message_id"]}
    [recorded] = desk.events(number, "NotificationRecorded")
    assert (recorded["outcome"], recorded["attempts"]) == ("sent", 3)


def test_a_550_is_recorded_once_as_failed_with_the_reason(desk: Desk) -> None:
    desk.relay.answer(550, text="5.1.1 mailbox unavailable")
    number = ticket_for(desk)
    assert desk.drain() == 1
    desk.clock.advance(timedelta(hours=2))
    assert desk.drain() == 0
    [row] = desk.outbox()
    assert (row.status, row.attempts, row.recorded) == ("failed", 1, True)
    assert desk.engine.get(number)["notifications"] == {"sent": 0, "failed": 1, "bounced": 0}
    [recorded] = desk.events(number, "NotificationRecorded")
    assert recorded["outcome"] == "failed"
    assert recorded["reason"] == "550 5.1.1 mailbox unavailable"
    assert recorded["recipients"] == ["pat@customer.example"]
    # a failed notification is not part of the thread
    assert desk.engine.get(number)["mail_ids"] == []


def test_transient_failures_give_up_after_the_configured_attempts(
    make_desk: Callable[..., Desk], tmp_path: Path
) -> None:
    desk = make_desk(Settings(db_path=str(tmp_path / "events.db")), attempts=2, base_delay_s=1)
    desk.relay.answer(421, times=2, at="MAIL")
    number = ticket_for(desk)
    desk.drain()
    desk.clock.advance(timedelta(seconds=1))
    desk.drain()
    [row] = desk.outbox()
    assert (row.status, row.attempts) == ("failed", 2)
    [recorded] = desk.events(number, "NotificationRecorded")
    assert recorded["reason"].startswith("gave up after 2 attempts: 421")


class FlakyBus:
    """The embedded bus, unavailable for the next ``failures`` submits (a broker outage)."""

    def __init__(self, inner: LocalBus, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.submits = 0

    def submit(self, commands: Sequence[Command], **kw: Any) -> list[Receipt]:
        self.submits += 1
        if self.failures:
            self.failures -= 1
            raise BusUnavailable("Kafka did not acknowledge: simulated outage")
        return self.inner.submit(commands, **kw)

    def set_aside(self, **kw: Any) -> None:
        self.inner.set_aside(**kw)

    def close(self) -> None:
        self.inner.close()


def test_a_crash_between_sending_and_recording_sends_once_and_records_once(
    make_desk: Callable[..., Desk], backend: Settings
) -> None:
    desk = make_desk(backend)
    number = ticket_for(desk)
    bus = FlakyBus(desk.bus, failures=2)
    assert desk.notifier.drain_once(bus, desk.context) == 1
    [row] = desk.outbox()
    assert (row.status, row.recorded) == ("done", False)
    # with the bus still down, a pass that only fails to record did no work: the sender
    # thread waits its poll interval instead of spinning
    assert desk.notifier.drain_once(bus, desk.context) == 0
    assert desk.engine.get(number)["notifications"]["sent"] == 0
    desk.clock.advance(timedelta(minutes=5))
    assert desk.notifier.drain_once(bus, desk.context) == 1  # records only
    assert desk.notifier.drain_once(bus, desk.context) == 0
    assert len(desk.relay.received) == 1
    assert len(desk.events(number, "NotificationRecorded")) == 1
    assert desk.engine.get(number)["mail_ids"] == [row.payload["message_id"]]


def test_a_relay_that_is_down_never_fails_a_command(desk: Desk) -> None:
    desk.relay.stop()
    number = ticket_for(desk)  # the command succeeds; the mail waits
    assert desk.drain() == 1
    [row] = desk.outbox()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    desk.relay.start()
    desk.clock.advance(timedelta(seconds=30))
    assert desk.drain() == 1 and len(desk.relay.received) == 1
    assert desk.engine.get(number)["notifications"]["sent"] == 1


def test_the_sender_thread_sends_and_records_what_reactions_queue(desk: Desk) -> None:
    desk.notifier.start(desk.bus, desk.context)
    try:
        number = ticket_for(desk)
        desk.relay.wait_for(1)
        deadline = time.monotonic() + 5
        while desk.engine.get(number)["notifications"]["sent"] < 1:
            assert time.monotonic() < deadline, "the outcome was never recorded"
            time.sleep(0.01)
    finally:
        desk.notifier.stop()
    assert [r.status for r in desk.outbox()] == ["done"]


@pytest.fixture
def desk(make_desk: Callable[..., Desk], tmp_path: Path) -> Desk:
    return make_desk(Settings(db_path=str(tmp_path / "events.db")))
