"""Classifiers shape tickets opened by inbound events; adapters feed the bus they are given."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.kafka.bus import CommandBus, LocalBus
from opsledger.core.inbound import inbound_command
from opsledger.plugins import hookimpl
from opsledger.plugins.adapters import start_adapters, stop_adapters
from opsledger.plugins.host import CLASSIFY_KEYS

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.plugins.test_cli_plugins import run
from tests.plugins.test_plugin_hooks import manager


class Fixed:
    """Answers every item with the same mapping; remembers the items it was shown."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.items: list[dict[str, Any]] = []

    @hookimpl
    def opsledger_classify(self, item: Mapping[str, Any]) -> object:
        self.items.append(dict(item))
        return self.answer


class Broken:
    @hookimpl
    def opsledger_classify(self, item: Mapping[str, Any]) -> None:
        raise RuntimeError(f"CMDB unreachable for {item['external_id']}")


ALERT: dict[str, Any] = {
    "summary": "card payments fail",
    "description": "5xx from the card gateway",
    "impact": "low",
    "urgency": "high",
    "service": "web",
    "occurred_at": T0 - timedelta(minutes=2),
    "details": {"labels": {"alertname": "GatewayErrors", "team": "payments"}},
}


def ingest(engine: Engine, external_id: str, **fields: Any) -> str:
    return engine.ingest("alertmanager", external_id, "open", **{**ALERT, **fields}).number


def test_classifier_answer_wins_over_the_adapter_and_routing_follows_it(
    backend: Settings, clock: FixedClock, example: ModuleType
) -> None:
    with Engine(backend, clock=clock, plugins=manager(example)) as engine:
        number = ingest(engine, "fp-1")
        ticket = engine.get(number)
        # The adapter said web / low x high (P3); the example says payments / impact high:
        # high x high is P1, so the example's router adds the incident manager.
        assert (ticket["service"], ticket["impact"], ticket["urgency"]) == (
            "payments",
            "high",
            "high",
        )
        assert ticket["priority"] == "P1"
        assert (ticket["group"], ticket["assignee"]) == ("payments-oncall", "incident-manager")
        other = ingest(engine, "fp-2", details={"labels": {"team": "web"}})
        assert engine.get(other)["service"] == "web"  # not the example's: the adapter stands
        assert engine.get(other)["priority"] == "P3"
        assert engine.plugin_warnings() == []


def test_classifier_sees_the_inbound_item_once_per_new_ticket_and_cannot_spoil_it(
    backend: Settings, clock: FixedClock
) -> None:
    spy = Fixed({"kind": "problem"})
    with Engine(backend, clock=clock, plugins=manager(spy)) as engine:
        number = ingest(engine, "fp-1", reporter="prometheus", customer="acme")
        assert number.startswith("PRB-")  # the classifier chose the kind
        [item] = spy.items
        assert item == {
            "source": "alertmanager",
            "external_id": "fp-1",
            "kind": "incident",
            "summary": "card payments fail",
            "description": "5xx from the card gateway",
            "impact": "low",
            "urgency": "high",
            "service": "web",
            "ci": None,
            "ci_names": [],
            "reporter": "prometheus",
            "customer": "acme",
            "details": {"labels": {"alertname": "GatewayErrors", "team": "payments"}},
            "occurred_at": "2024-03-04T08:58:00+00:00",  # T0 - 2 min, as ISO text
        }
        item["details"]["labels"]["team"] = "spoiled"  # a copy: the recorded details stand
        # A repeat is counted on the open ticket: no new ticket, so no second classification.
        assert ingest(engine, "fp-1", occurred_at=T0 - timedelta(minutes=1)) == number
        assert len(spy.items) == 1
    assert ALERT["details"]["labels"]["team"] == "payments"


def test_failing_classifier_is_skipped_with_a_warning_and_the_next_one_answers(
    backend: Settings, clock: FixedClock, example: ModuleType
) -> None:
    # Registered last, the broken classifier is asked first; the example answers instead.
    with Engine(backend, clock=clock, plugins=manager(example, cmdb=Broken())) as engine:
        number = ingest(engine, "fp-1")
        assert engine.get(number)["service"] == "payments"
        [warning] = engine.plugin_warnings()
    assert (warning.plugin, warning.hook) == ("cmdb", "opsledger_classify")
    assert warning.subject == "alertmanager:fp-1"
    assert "CMDB unreachable for fp-1" in warning.error
    assert "Traceback" in warning.traceback


def test_failing_classifier_alone_leaves_the_adapter_values(
    backend: Settings, clock: FixedClock
) -> None:
    with Engine(backend, clock=clock, plugins=manager(cmdb=Broken())) as engine:
        ticket = engine.get(ingest(engine, "fp-1"))
        assert (ticket["service"], ticket["impact"], ticket["priority"]) == ("web", "low", "P3")
        assert [w.plugin for w in engine.plugin_warnings()] == ["cmdb"]


def test_invalid_keys_of_an_answer_are_dropped_with_a_warning_and_the_rest_is_used(
    backend: Settings, clock: FixedClock
) -> None:
    answer = {
        "service": " payments ",  # valid: trimmed
        "urgency": "LOW",  # valid: levels parse case-insensitively
        "impact": "severe",  # not a level
        "kind": "change",  # not a kind an inbound event may open
        "ci": "CI-000099",  # not registered
        "team": "payments",  # not a key a classifier may set
        "customer": 7,  # neither a key nor text
        "reporter": None,  # None is "no opinion", but still not a key
    }
    with Engine(backend, clock=clock, plugins=manager(sloppy=Fixed(answer))) as engine:
        number = ingest(engine, "fp-1")
        ticket = engine.get(number)
        assert number.startswith("INC-")
        assert (ticket["service"], ticket["impact"], ticket["urgency"], ticket["ci"]) == (
            "payments",
            "low",  # the adapter's
            "low",
            None,
        )
        [warning] = engine.plugin_warnings()
    assert (warning.plugin, warning.hook, warning.subject) == (
        "sloppy",
        "opsledger_classify",
        "alertmanager:fp-1",
    )
    for problem in (
        "impact: 'severe' is not one of high, medium, low",
        "kind: 'change' is not one of incident, service_request, problem",
        "ci: 'CI-000099' is not a registered configuration item",
        "unknown key 'team'",
        "unknown key 'customer'",
        "unknown key 'reporter'",
    ):
        assert problem in warning.error


def test_classified_ci_is_linked_when_registered_and_none_means_no_opinion(
    backend: Settings, clock: FixedClock
) -> None:
    answer = {"ci": "ci-1", "service": None, "urgency": 3}
    with Engine(backend, clock=clock, plugins=manager(cmdb=Fixed(answer))) as engine:
        ci = engine.register_ci("server", "db-1", actor="cmdb-sync").number
        assert ci == "CI-000001"
        ticket = engine.get(ingest(engine, "fp-1"))
        assert (ticket["ci"], ticket["service"], ticket["urgency"]) == (ci, "web", "high")
        [warning] = engine.plugin_warnings()
        assert "urgency: int is not text" in warning.error


def test_an_answer_that_is_not_a_mapping_is_ignored_with_a_warning(
    backend: Settings, clock: FixedClock
) -> None:
    with Engine(backend, clock=clock, plugins=manager(odd=Fixed(["payments"]))) as engine:
        assert engine.get(ingest(engine, "fp-1"))["service"] == "web"
        [warning] = engine.plugin_warnings()
        assert "expected a mapping, got list" in warning.error


@given(
    answer=st.dictionaries(
        st.sampled_from([*CLASSIFY_KEYS, "team", ""]),
        st.none() | st.integers() | st.text(max_size=12) | st.sampled_from(["high", "problem"]),
        max_size=6,
    )
)
def test_no_classifier_answer_fails_the_command(answer: dict[str, Any]) -> None:
    with TemporaryDirectory() as tmp:
        settings = Settings(db_path=str(Path(tmp) / "fuzz.db"))
        with Engine(settings, clock=FixedClock(T0), plugins=manager(Fixed(answer))) as engine:
            ticket = engine.get(ingest(engine, "fp-1"))
            dropped = bool(engine.plugin_warnings())
    assert ticket["impact"] in ("high", "medium", "low")
    assert ticket["kind"] in ("incident", "service_request", "problem")
    valid = all(k in CLASSIFY_KEYS for k in answer) and all(
        v is None or isinstance(v, str) for v in answer.values()
    )
    assert dropped or valid  # whatever was not usable was reported


# -- adapters --------------------------------------------------------------------------------


class Recorder:
    """An adapter that submits one inbound event when started and remembers what happened."""

    def __init__(self, name: str, external_id: str) -> None:
        self.name = name
        self.external_id = external_id
        self.receipts: list[Any] = []
        self.stopped = False

    def start(self, bus: CommandBus) -> None:
        event = {"source": self.name, "external_id": self.external_id, "state": "open"}
        self.receipts = bus.submit([inbound_command({**event, "summary": "seen"})])

    def stop(self) -> None:
        self.stopped = True


class Sources:
    def __init__(self, *adapters: object) -> None:
        self.adapters = list(adapters)

    @hookimpl
    def opsledger_adapters(self) -> list[object]:
        return self.adapters


class WontStart:
    name = "wont-start"

    def start(self, bus: CommandBus) -> None:
        raise ConnectionRefusedError("imap.example:993 refused")


class BrokenSources:
    @hookimpl
    def opsledger_adapters(self) -> list[object]:
        raise RuntimeError("config file missing")


def test_adapters_are_collected_started_on_a_local_bus_and_stopped(
    backend: Settings, clock: FixedClock, example: ModuleType
) -> None:
    mail = Recorder("mail", "thread-1")
    with Engine(backend, clock=clock, plugins=manager(example, mail=Sources(mail))) as engine:
        adapters = engine.plugins.adapters()
        assert [a.name for a in adapters] == ["mail", "example-probe"]  # last registered first
        started = start_adapters(adapters, LocalBus(engine), host=engine.plugins)
        assert started == adapters
        [mail_receipt] = mail.receipts
        [probe_receipt] = adapters[1].receipts  # type: ignore[attr-defined]
        assert mail_receipt.outcome is not None and probe_receipt.outcome is not None
        probe = engine.get(probe_receipt.outcome.number)
        assert engine.get(mail_receipt.outcome.number)["summary"] == "seen"
        # The probe's event went through the classifier like any other inbound event.
        assert (probe["summary"], probe["service"], probe["impact"]) == (
            "example source connected",
            "payments",
            "high",
        )
        stop_adapters(started, host=engine.plugins)
        assert mail.stopped
        assert engine.plugin_warnings() == []


def test_an_adapter_that_fails_to_start_does_not_stop_the_others(
    backend: Settings, clock: FixedClock
) -> None:
    first, last = Recorder("first", "a"), Recorder("last", "b")
    nameless = Recorder("", "c")
    pm = manager(early=Sources(first), imap=Sources(WontStart(), nameless), broken=BrokenSources())
    pm.register(Sources(last), name="late")
    with Engine(backend, clock=clock, plugins=pm) as engine:
        adapters = engine.plugins.adapters()
        assert [a.name for a in adapters] == ["last", "wont-start", "first"]
        started = start_adapters(adapters, LocalBus(engine), host=engine.plugins)
        assert [a.name for a in started] == ["last", "first"]
        assert len(first.receipts) == len(last.receipts) == 1
        assert nameless.receipts == []  # refused before it could start
        warnings = {(w.plugin, w.subject): w for w in engine.plugin_warnings()}
    assert set(warnings) == {
        ("broken", "adapters"),
        ("imap", "adapters"),
        ("imap", "adapter wont-start: start"),
    }
    assert "config file missing" in warnings["broken", "adapters"].error
    assert "adapter 1 (Recorder) has no name" in warnings["imap", "adapters"].error
    failed = warnings["imap", "adapter wont-start: start"]
    assert failed.hook == "opsledger_adapters"
    assert "ConnectionRefusedError: imap.example:993 refused" in failed.error
    assert "Traceback" in failed.traceback


def test_plugins_list_names_the_adapters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, installed_example: Path
) -> None:
    settings = Settings(db_path=str(tmp_path / "x.db"))
    _, rows = run(capsys, settings, "plugins", "list", "--format", "json")
    [example] = [r for r in rows if r["name"] == "example"]
    assert example["adapters"] == ["example-probe"]
    _, table = run(capsys, settings, "plugins", "list")
    assert "adapters (example-probe), classify, event_recorded, route" in table
