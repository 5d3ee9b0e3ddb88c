"""The generic inbound event through the public Engine: one ticket per outside identity.

What the monitoring, mail and JIRA adapters will rely on: a first report opens a ticket that
carries the source's id, repeats are counted on it, acknowledge and resolve act on it, firing
again reopens it within the window and opens a linked successor after it, and a resent
delivery with the same idempotency key changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from opsledger.core.commands import IngestInbound, command_from_dict
from opsledger.core.domain.clocks import is_clock_event
from opsledger.core.domain.records import RecordKind
from opsledger.core.domain.ticket import Ticket
from opsledger.core.inbound import (
    INBOUND_FIELDS,
    THRESHOLD_FIELDS,
    inbound_command,
    inbound_key,
)

from opsledger import (
    Engine,
    FixedClock,
    InputError,
    NotFoundError,
    OpsledgerError,
    Outcome,
    Settings,
)
from tests.conftest import T0

M, H, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
WINDOW = timedelta(days=7)  # Settings' default reopen window
OPEN = {"new", "assigned", "in_progress", "on_hold"}
POLICY = {
    "name": "round-the-clock",
    "calendars": {"24x7": {"timezone": "UTC", "always_open": True}},
    "targets": {
        p: {"calendar": "24x7", "response_minutes": 15, "resolution_minutes": 240}
        for p in ("P1", "P2", "P3", "P4")
    },
}


@pytest.fixture
def desk(backend: Settings, clock: FixedClock) -> Iterator[Engine]:
    """An engine whose SLA (15 min response, 4 h resolution, 24x7) predates every alert."""
    engine = Engine(backend, clock=clock)
    try:
        engine.define_policy(POLICY, actor="sla-admin", at=T0 - DAY)
        yield engine
    finally:
        engine.close()


def names(outcome: Outcome) -> list[str]:
    return [e["event"] for e in outcome.events]


def ticket_events(outcome: Outcome) -> list[str]:
    """What the report recorded on its ticket, without SLA clock events that fell due anyway."""
    return [
        e["event"]
        for e in outcome.events
        if e["record"] == outcome.number and not is_clock_event(e["event"])
    ]


def fire(engine: Engine, external_id: str = "fp-1", **fields: Any) -> Outcome:
    fields.setdefault("summary", "Disk almost full on db-1")
    return engine.ingest("alertmanager", external_id, "open", **fields)


def clocks(engine: Engine, number: str, as_of: datetime) -> dict[str, Any]:
    return {s.metric: s for s in engine.sla_status(number, as_of=as_of)}


# -- opening and repeats -----------------------------------------------------------------------


def test_first_alert_opens_an_incident_carrying_the_source_reference(desk: Engine) -> None:
    started = T0 - 2 * M  # the alert's startsAt; it reaches us at T0
    outcome = fire(
        desk, impact="high", urgency="high", service="payments", occurred_at=started,
        description="95% used", details={"labels": {"severity": "critical"}},
    )  # fmt: skip
    assert outcome.number == "INC-000001"
    assert "CorrelationLinked" in names(outcome)
    ticket = desk.get("INC-000001")
    assert ticket["external_refs"] == [{"system": "alertmanager", "reference": "fp-1"}]
    assert (ticket["channel"], ticket["reporter"], ticket["opened_by"]) == ("alertmanager",) * 3
    assert (ticket["priority"], ticket["service"], ticket["state"]) == ("P1", "payments", "new")
    # The source's instant opens the ticket; the receipt instant is recorded beside it.
    assert ticket["opened_at"] == started.isoformat()
    assert ticket["received_at"] == T0.isoformat()
    # So the SLA clocks run from the alert's start: response due 08:58 + 15 min = 09:13.
    assert clocks(desk, "INC-000001", T0)["response"].due == started + 15 * M
    assert desk.record("INC-000001").occurrences == 1  # type: ignore[attr-defined]


def test_repeats_are_counted_on_the_open_incident_and_open_nothing_new(
    desk: Engine, clock: FixedClock
) -> None:
    number = fire(desk).number
    before = desk.get(number)
    for count, later in ((2, 5 * M), (3, 10 * M)):
        clock.set(T0 + later)
        repeat = fire(desk, details={"seen": count})
        assert (repeat.number, ticket_events(repeat)) == (number, ["OccurrenceRecorded"])
        occurrence = desk.history(number)[-1].details
        assert (occurrence["count"], occurrence["last_seen"]) == (count, (T0 + later).isoformat())
        assert occurrence["details"] == {"seen": count}
    assert desk.record(number).occurrences == 3  # type: ignore[attr-defined]
    assert desk.last_number(RecordKind.INCIDENT) == 1
    after = desk.get(number)
    unchanged = {k for k in before if k not in ("version", "modified_on")}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


def test_a_source_clock_ahead_of_ours_opens_the_ticket_at_receipt(desk: Engine) -> None:
    number = fire(desk, occurred_at=T0 + 3 * M).number
    assert desk.get(number)["opened_at"] == T0.isoformat()


def test_repeats_of_different_keys_and_sources_stay_apart(desk: Engine) -> None:
    assert fire(desk, "fp-1").number == "INC-000001"
    assert fire(desk, "fp-2").number == "INC-000002"
    # Same id from another system is another thing: the pair is the key.
    other = desk.ingest("grafana", "fp-1", "open", summary="Disk almost full")
    assert other.number == "INC-000003"
    # An id containing the separator does not collide with a shorter source plus longer id.
    assert desk.ingest("a:b", "c", "open", summary="x").number == "INC-000004"
    assert desk.ingest("a", "b:c", "open", summary="x").number == "INC-000005"


def test_inbound_can_open_a_service_request_routed_like_any_ticket(desk: Engine) -> None:
    outcome = desk.ingest(
        "jira", "OPS-42", "open", kind="service_request", summary="New laptop", customer="acme"
    )
    ticket = desk.get(outcome.number)
    assert (outcome.number, ticket["customer"], ticket["channel"]) == ("REQ-000001", "acme", "jira")


# -- acknowledge, resolve, update ------------------------------------------------------------


def test_acknowledge_stops_the_response_clock_once(desk: Engine, clock: FixedClock) -> None:
    number = fire(desk, occurred_at=T0 - 2 * M).number
    clock.set(T0 + 5 * M)
    ack = desk.ingest("alertmanager", "fp-1", "acknowledge")
    assert ticket_events(ack) == ["Acknowledged"]
    assert "ClockMet" in names(ack)
    ticket = desk.get(number)
    assert (ticket["state"], ticket["acknowledged_by"]) == ("in_progress", "alertmanager")
    # Response: 08:58 -> 09:05 = 7 min used of 15, stopped; resolution keeps running.
    status = clocks(desk, number, T0 + H)
    assert (status["response"].state, status["response"].elapsed) == ("met", 7 * M)
    assert status["resolution"].state == "running"
    clock.set(T0 + 6 * M)
    again = desk.ingest("alertmanager", "fp-1", "acknowledge")
    assert (again.number, again.events) == (number, [])


def test_resolve_resolves_with_the_code_and_a_second_resolve_records_nothing(
    desk: Engine, clock: FixedClock
) -> None:
    number = fire(desk).number
    clock.set(T0 + 20 * M)
    done = desk.ingest("alertmanager", "fp-1", "resolve", description="usage back to 60%")
    assert ticket_events(done)[0] == "Resolved"
    ticket = desk.get(number)
    assert (ticket["state"], ticket["resolution_code"]) == ("resolved", "auto-resolved by source")
    assert ticket["resolution_notes"] == "usage back to 60%"
    assert clocks(desk, number, T0 + H)["resolution"].state == "met"
    clock.set(T0 + 21 * M)
    again = desk.ingest("alertmanager", "fp-1", "resolve", resolve_code="cleared")
    assert (again.number, again.events) == (number, [])


def test_resolve_takes_the_code_the_source_gives(desk: Engine) -> None:
    number = fire(desk).number
    desk.ingest("alertmanager", "fp-1", "resolve", resolve_code="Fixed Upstream")
    assert desk.get(number)["resolution_code"] == "fixed upstream"


def test_update_adds_a_work_note(desk: Engine) -> None:
    number = fire(desk).number
    note = desk.ingest("jira", "fp-1", "open", summary="same id, other system")
    assert note.number != number
    outcome = desk.ingest("alertmanager", "fp-1", "update", description="runbook: disk-full")
    assert (outcome.number, ticket_events(outcome)) == (number, ["WorkNoteAdded"])
    assert (desk.get(number)["work_notes"], desk.get(number)["public_comments"]) == (1, 0)


@pytest.mark.parametrize("state", ["acknowledge", "resolve", "update"])
def test_a_report_about_an_unknown_alert_is_not_found(desk: Engine, state: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        desk.ingest("alertmanager", "never-seen", state, description="a note")
    assert (caught.value.what, caught.value.key) == ("correlation", "alertmanager:never-seen")
    assert desk.last_number(RecordKind.INCIDENT) == 0


# -- firing again ------------------------------------------------------------------------------


def test_firing_again_within_the_window_reopens_the_resolved_incident(
    desk: Engine, clock: FixedClock
) -> None:
    number = fire(desk).number
    clock.set(T0 + H)
    desk.ingest("alertmanager", "fp-1", "resolve")
    clock.set(T0 + H + 6 * DAY)  # resolved at 10:00, the window runs 7 days from then
    again = fire(desk)
    assert (again.number, ticket_events(again)[0]) == (number, "Reopened")
    reopened = [h for h in desk.history(number) if h.event == "Reopened"]
    assert reopened[0].details["reason"] == "alertmanager reports it again"
    assert desk.get(number)["state"] in OPEN
    assert desk.last_number(RecordKind.INCIDENT) == 1


def test_firing_again_after_the_window_opens_a_new_incident_linked_to_the_old(
    desk: Engine, clock: FixedClock
) -> None:
    first = fire(desk).number
    clock.set(T0 + H)
    desk.ingest("alertmanager", "fp-1", "resolve")
    clock.set(T0 + H + WINDOW + M)
    second = fire(desk, occurred_at=T0 + H + WINDOW)
    assert second.number == "INC-000002"
    assert {"relation": "follow_up_of", "target": first} in desk.get(second.number)["links"]
    assert {"relation": "followed_up_by", "target": second.number} in desk.get(first)["links"]
    assert desk.get(first)["state"] == "resolved"
    # From now on the alert means the new incident.
    assert desk.ingest("alertmanager", "fp-1", "acknowledge").number == second.number
    assert desk.get(second.number)["acknowledged_by"] == "alertmanager"


@pytest.mark.parametrize(
    ("after", "reopens"), [(WINDOW, True), (WINDOW + timedelta(microseconds=1), False)]
)
def test_the_reopen_window_includes_its_last_instant(
    desk: Engine, clock: FixedClock, after: timedelta, reopens: bool
) -> None:
    number = fire(desk).number
    desk.ingest("alertmanager", "fp-1", "resolve")  # resolved at T0
    clock.set(T0 + after)  # T0 + 7 days is the window's last instant, the same rule as reopen
    again = fire(desk)
    assert (again.number == number) is reopens


def test_reopen_false_opens_a_linked_successor_even_within_the_window(
    desk: Engine, clock: FixedClock
) -> None:
    first = fire(desk).number
    desk.ingest("alertmanager", "fp-1", "resolve")
    clock.set(T0 + M)
    second = fire(desk, reopen=False).number
    assert second != first and desk.get(first)["state"] == "resolved"
    assert {"relation": "follow_up_of", "target": first} in desk.get(second)["links"]


@pytest.mark.parametrize("ending", ["close", "cancel"])
def test_firing_after_the_incident_was_closed_or_cancelled_opens_a_new_one(
    desk: Engine, ending: str
) -> None:
    first = fire(desk).number
    if ending == "close":
        desk.ingest("alertmanager", "fp-1", "resolve")
        desk.close_ticket(first, actor="agent")
    else:
        desk.cancel(first, reason="false alarm", actor="agent")
    second = fire(desk).number
    assert second == "INC-000002"
    assert {"relation": "followed_up_by", "target": second} in desk.get(first)["links"]


def test_concurrent_first_deliveries_open_one_incident(backend: Settings) -> None:
    # Each thread has its own engine on the same store: the correlation's id is derived from
    # the key, so racing first deliveries collide on its version 1 and the loser, retried,
    # counts an occurrence on the winner's incident.
    engines = [Engine(backend, clock=FixedClock(T0)) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def deliver(engine: Engine, i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for j in range(3):
                fire(engine, summary=f"delivery {i}.{j}")
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=deliver, args=(e, i)) for i, e in enumerate(engines)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert engines[0].last_number(RecordKind.INCIDENT) == 1
        assert engines[0].record("INC-000001").occurrences == 12  # type: ignore[attr-defined]
    finally:
        for e in engines:
            e.close()


# -- idempotency -------------------------------------------------------------------------------


def test_the_same_delivery_twice_is_a_duplicate_that_changes_nothing(
    desk: Engine, clock: FixedClock
) -> None:
    payload = {
        "source": "alertmanager", "external_id": "fp-1", "state": "open",
        "summary": "Disk almost full", "occurred_at": "2024-03-04T08:58:00Z",
    }  # fmt: skip
    first = desk.execute(inbound_command(payload))
    clock.set(T0 + 5 * M)  # Alertmanager resends the whole group a group interval later
    again = desk.execute(inbound_command(payload))
    assert again.duplicate and (again.number, again.version) == (first.number, first.version)
    assert desk.record(first.number).occurrences == 1  # type: ignore[attr-defined]
    # An explicit key wins over the derived one.
    mine = desk.execute(inbound_command(payload, idempotency_key="webhook-77"))
    assert not mine.duplicate and ticket_events(mine) == ["OccurrenceRecorded"]
    assert desk.execute(inbound_command(payload, idempotency_key="webhook-77")).duplicate


def test_the_default_key_is_the_source_identity_state_and_instant() -> None:
    at = datetime(2024, 3, 4, 8, 58, tzinfo=UTC)
    same_instant = at.astimezone(timezone(timedelta(hours=8)))
    key = inbound_key("alertmanager", "fp-1", "open", at)
    assert key == inbound_key("alertmanager", "fp-1", "open", same_instant)
    assert key is not None and key.startswith("inbound:")
    others = {
        inbound_key("grafana", "fp-1", "open", at),
        inbound_key("alertmanager", "fp-2", "open", at),
        inbound_key("alertmanager", "fp-1", "resolve", at),
        inbound_key("alertmanager", "fp-1", "open", at + M),
        inbound_key("a:b", "c", "open", at),
        inbound_key("a", "b:c", "open", at),
    }
    assert key not in others and len(others) == 6
    assert inbound_key("alertmanager", "fp-1", "open", None) is None


def test_the_command_round_trips_through_the_bus_form(desk: Engine) -> None:
    cmd = inbound_command(
        {"source": "alertmanager", "external_id": "fp-1", "state": "open", "summary": "x",
         "occurred_at": "2024-03-04T08:58:00+00:00", "details": {"labels": {"a": "1"}}},
        at=T0,
    )  # fmt: skip
    assert cmd.actor == "alertmanager" and cmd.at == T0
    again = command_from_dict("IngestInbound", cmd.to_dict())
    assert again == cmd
    assert desk.execute(again).number == "INC-000001"


# -- bad input ---------------------------------------------------------------------------------

GOOD: dict[str, Any] = {"source": "alertmanager", "external_id": "fp-1", "state": "open"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"state": "firing"}, "state"),
        ({"kind": "change"}, "kind"),
        ({"impact": "huge"}, "impact"),
        ({"urgency": ""}, "urgency"),
        ({"source": ""}, "source"),
        ({"source": " alertmanager"}, "source"),
        ({"external_id": "   "}, "external_id"),
        ({"external_id": "x" * 1001}, "external_id"),
        ({"summary": "  "}, "summary"),
        ({"state": "update", "description": ""}, "description"),
        ({"resolve_code": " "}, "resolve_code"),
        ({"occurred_at": datetime(2024, 3, 4, 8, 58)}, "occurred_at"),  # no time zone
        ({"details": ["not", "an", "object"]}, "details"),
        ({"details": {"when": T0}}, "details.when"),
        ({"details": {"n": float("nan")}}, "details.n"),
        ({"details": {"big": 2**70}}, "details.big"),
        ({"reopen": "yes"}, "reopen"),
    ],
)
def test_bad_commands_name_their_field(desk: Engine, fields: dict[str, Any], field: str) -> None:
    values = {**GOOD, "summary": "Disk almost full", **fields}
    source, external_id, state = (
        values.pop("source"),
        values.pop("external_id"),
        values.pop("state"),
    )
    with pytest.raises(InputError) as caught:
        desk.ingest(source, external_id, state, **values)
    assert caught.value.field == field
    assert desk.last_number(RecordKind.INCIDENT) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**GOOD, "summary": "x", "severity": "critical"}, "severity"),
        ({"source": "alertmanager", "state": "open", "summary": "x"}, "external_id"),
        ({**GOOD, "summary": 5}, "summary"),
        ({**GOOD, "summary": "x", "service": 7}, "service"),
        ({**GOOD, "summary": "x", "occurred_at": "yesterday"}, "occurred_at"),
        ({**GOOD, "summary": "x", "occurred_at": "2024-03-04T08:58:00"}, "occurred_at"),
        ({**GOOD, "summary": "x", "occurred_at": 1709542680}, "occurred_at"),
        ({**GOOD, "summary": "x", "reopen": 1}, "reopen"),
        ({**GOOD, "summary": "x", "details": "labels"}, "details"),
        ({**GOOD, "state": "fired", "summary": "x"}, "state"),
    ],
)
def test_bad_json_events_name_their_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        inbound_command(payload)
    assert caught.value.field == field


def test_every_documented_field_is_a_field_of_the_command() -> None:
    documented = {f.name for f in INBOUND_FIELDS}
    command = set(IngestInbound.__dataclass_fields__) - {"actor", "at", "idempotency_key"}
    assert documented == command - set(THRESHOLD_FIELDS)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from([f.name for f in INBOUND_FIELDS]) | st.text(max_size=6)


@settings(max_examples=200)
@given(st.dictionaries(KEYS, JSON | st.sampled_from(["open", "resolve", "2024-03-04T09:00Z"])))
def test_any_json_event_is_a_command_or_an_input_error(payload: dict[str, Any]) -> None:
    try:
        cmd = inbound_command(payload)
    except InputError as e:
        assert e.field  # names what was wrong
        return
    assert isinstance(cmd, IngestInbound) and cmd.actor == cmd.source


# -- the lifecycle as a state machine ------------------------------------------------------------

KEYS_UNDER_TEST = ("fp-a", "fp-b")


class InboundMachine(RuleBasedStateMachine):
    """Reports about two alerts, with time passing, against a model of what each must do.

    The model: per key the tickets it opened, the current one's state (open, resolved,
    closed), whether it was acknowledged, when it was resolved and how often it was reported.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="opsledger-inbound-"))
        self.clock = FixedClock(T0)
        self.engine = Engine(Settings(db_path=str(self.dir / "events.db")), clock=self.clock)
        self.tickets: dict[str, list[dict[str, Any]]] = {k: [] for k in KEYS_UNDER_TEST}
        self.opened = 0

    def teardown(self) -> None:
        self.engine.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def current(self, key: str) -> dict[str, Any] | None:
        return self.tickets[key][-1] if self.tickets[key] else None

    def run(self, key: str, state: str, **fields: Any) -> Outcome | OpsledgerError:
        try:
            return self.engine.ingest("alertmanager", key, state, **fields)
        except OpsledgerError as e:  # anything else fails the test: never an unclear error
            return e

    # -- rules -------------------------------------------------------------------------------

    @rule(key=st.sampled_from(KEYS_UNDER_TEST), started=st.none() | st.integers(0, 120))
    def fire(self, key: str, started: int | None) -> None:
        occurred = None if started is None else self.clock.now() - started * M
        result = self.run(key, "open", summary=f"{key} firing", occurred_at=occurred)
        assert isinstance(result, Outcome), result
        ticket, now = self.current(key), self.clock.now()
        if ticket is not None and ticket["state"] == "open":
            event("fire: repeat")
            ticket["count"] += 1
            assert ticket_events(result) == ["OccurrenceRecorded"]
        elif (
            ticket is not None
            and ticket["state"] == "resolved"
            and now <= ticket["resolved_at"] + WINDOW
        ):
            event("fire: reopens")
            ticket["state"] = "open"
            assert ticket_events(result)[0] == "Reopened"
        else:
            event(f"fire: opens after {ticket['state'] if ticket else 'nothing'}")
            self.opened += 1
            ticket = {"number": f"INC-{self.opened:06d}", "state": "open", "acked": False,
                      "resolved_at": None, "count": 1}  # fmt: skip
            self.tickets[key].append(ticket)
            assert ticket_events(result)[0] == "Opened"
        assert result.number == ticket["number"]

    @rule(key=st.sampled_from(KEYS_UNDER_TEST))
    def acknowledge(self, key: str) -> None:
        result = self.run(key, "acknowledge")
        ticket = self.current(key)
        if ticket is None:
            assert isinstance(result, NotFoundError)
            return
        assert isinstance(result, Outcome) and result.number == ticket["number"]
        if ticket["state"] == "open" and not ticket["acked"]:
            ticket["acked"] = True
            assert ticket_events(result) == ["Acknowledged"]
        else:
            assert ticket_events(result) == []

    @rule(key=st.sampled_from(KEYS_UNDER_TEST))
    def resolve(self, key: str) -> None:
        result = self.run(key, "resolve", description="cleared")
        ticket = self.current(key)
        if ticket is None:
            assert isinstance(result, NotFoundError)
            return
        assert isinstance(result, Outcome) and result.number == ticket["number"]
        if ticket["state"] == "open":
            ticket["state"], ticket["resolved_at"] = "resolved", self.clock.now()
            assert ticket_events(result) == ["Resolved"]
        else:
            assert ticket_events(result) == []

    @rule(key=st.sampled_from(KEYS_UNDER_TEST))
    def update(self, key: str) -> None:
        result = self.run(key, "update", description="still looking")
        ticket = self.current(key)
        if ticket is None:
            assert isinstance(result, NotFoundError)
        elif ticket["state"] == "closed":
            assert isinstance(result, OpsledgerError)  # no notes on a closed ticket
        else:
            assert isinstance(result, Outcome) and ticket_events(result) == ["WorkNoteAdded"]

    @rule(key=st.sampled_from(KEYS_UNDER_TEST))
    def agent_closes(self, key: str) -> None:
        ticket = self.current(key)
        if ticket is not None and ticket["state"] == "resolved":
            self.engine.close_ticket(ticket["number"], actor="agent")
            ticket["state"] = "closed"

    @rule(minutes=st.integers(1, 12 * 60))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes * M)

    @rule()
    def a_week_passes(self) -> None:
        self.clock.advance(WINDOW + M)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def at_most_one_open_incident_per_alert(self) -> None:
        open_by_key: dict[str, int] = {}
        for number in self.engine.numbers(RecordKind.INCIDENT):
            ticket = self.engine.get(number)
            (ref,) = ticket["external_refs"]
            if ticket["state"] in OPEN:
                open_by_key[ref["reference"]] = open_by_key.get(ref["reference"], 0) + 1
        assert all(n <= 1 for n in open_by_key.values()), open_by_key

    @invariant()
    def the_engine_agrees_with_the_model(self) -> None:
        assert self.engine.last_number(RecordKind.INCIDENT) == self.opened
        for tickets in self.tickets.values():
            for model in tickets:
                record = self.engine.record(model["number"])
                assert isinstance(record, Ticket)
                assert record.occurrences == model["count"]
                assert (record.state in OPEN) == (model["state"] == "open")
                assert (record.acknowledged_at is not None) == model["acked"]


TestInboundLifecycleAgreesWithModel = InboundMachine.TestCase
