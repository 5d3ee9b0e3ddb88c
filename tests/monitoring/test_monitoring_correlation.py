"""``correlate_by``: one incident per alert, per Alertmanager group, or per label values,
through the HTTP app and the real Engine (embedded)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.http.app import mount_adapters
from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.adapters.monitoring.settings import MonitoringSettings
from opsledger.core.domain.errors import InputError

from opsledger import FixedClock, Settings
from tests.http.desk import Desk, make_desk
from tests.monitoring.test_monitoring_receivers import MONITORING, firing, group, post_am

GROUP_KEY = '{}:{alertname="DiskAlmostFull"}'


def desk_with(tmp_path: Path, clock: FixedClock, correlate_by: str) -> Iterator[Desk]:
    settings = replace(MONITORING, correlate_by=correlate_by)
    for desk in make_desk(Settings(db_path=str(tmp_path / "events.db")), clock):
        assert mount_adapters(desk.app, [MonitoringAdapter(settings)]) == ["monitoring"]
        yield desk


@pytest.fixture
def by_group(tmp_path: Path, clock: FixedClock) -> Iterator[Desk]:
    yield from desk_with(tmp_path, clock, "group")


@pytest.fixture
def by_labels(tmp_path: Path, clock: FixedClock) -> Iterator[Desk]:
    yield from desk_with(tmp_path, clock, "labels:alertname,service")


def grouped(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return group(*alerts) | {"groupKey": GROUP_KEY, "status": status}


def resolved(alert: dict[str, Any], ends: str) -> dict[str, Any]:
    return alert | {"status": "resolved", "endsAt": ends}


def numbers(answer: dict[str, Any]) -> set[str]:
    return {r["number"] for r in answer["results"]}


def test_group_is_one_incident_and_a_resent_group_is_a_no_op(by_group: Desk) -> None:
    a, b = firing("aaaa", "2024-03-04T08:58:00Z"), firing("bbbb", "2024-03-04T08:59:00Z")
    first = post_am(by_group, grouped(a, b)).json()
    assert len(numbers(first)) == 1, first
    assert {r["external_id"] for r in first["results"]} == {GROUP_KEY}
    (number,) = numbers(first)
    assert by_group.engine.record(number).occurrences == 2  # type: ignore[attr-defined]
    head = by_group.engine.app.recorder.max_notification_id()
    again = post_am(by_group, grouped(a, b)).json()
    assert (again["recorded"], again["duplicates"]) == (0, 2)
    assert by_group.engine.app.recorder.max_notification_id() == head


def test_group_resolves_only_when_the_group_does(by_group: Desk) -> None:
    a, b = firing("aaaa", "2024-03-04T08:58:00Z"), firing("bbbb", "2024-03-04T08:59:00Z")
    (number,) = numbers(post_am(by_group, grouped(a, b)).json())
    # a resolved alert of a group still firing: a work note, the incident stays open
    half = post_am(by_group, grouped(resolved(a, "2024-03-04T09:10:00Z"), b)).json()
    assert [r["state"] for r in half["results"]] == ["update", "open"]
    assert by_group.engine.get(number)["state"] != "resolved"
    notes = [e for e in by_group.engine.history(number) if e.event == "WorkNoteAdded"]
    assert notes and "alert aaaa" in str(notes[-1].details)
    # the whole group resolved: the incident resolves, once
    done = grouped(
        resolved(a, "2024-03-04T09:10:00Z"), resolved(b, "2024-03-04T09:20:00Z"), status="resolved"
    )
    answer = post_am(by_group, done).json()
    assert [r["state"] for r in answer["results"]] == ["resolve", "resolve"]
    assert by_group.engine.get(number)["state"] == "resolved"
    assert [e.event for e in by_group.engine.history(number)].count("Resolved") == 1


def test_group_without_group_key_is_refused_naming_it(by_group: Desk) -> None:
    response = post_am(by_group, group(firing("aaaa", "2024-03-04T08:58:00Z")))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "groupKey"


def test_labels_key_joins_alerts_of_the_same_values(by_labels: Desk) -> None:
    a = firing("aaaa", "2024-03-04T08:58:00Z", service="payments")
    b = firing("bbbb", "2024-03-04T08:59:00Z", service="payments", instance="db-2")
    c = firing("cccc", "2024-03-04T08:59:00Z", service="search")
    answer = post_am(by_labels, group(a, b, c)).json()
    ids = [r["external_id"] for r in answer["results"]]
    assert ids[0] == ids[1] == 'labels:{"alertname":"DiskAlmostFull","service":"payments"}'
    assert ids[2] != ids[0]
    first, _, third = (r["number"] for r in answer["results"])
    assert answer["results"][1]["number"] == first != third
    # a still firing with b resolved in the same delivery: a note; both resolved: resolves
    partial = post_am(by_labels, group(resolved(b, "2024-03-04T09:10:00Z"), a, c)).json()
    assert partial["results"][0]["state"] == "update"
    assert by_labels.engine.get(first)["state"] != "resolved"
    both = group(resolved(a, "2024-03-04T09:20:00Z"), resolved(b, "2024-03-04T09:10:00Z"))
    post_am(by_labels, both)
    assert by_labels.engine.get(first)["state"] == "resolved"
    assert by_labels.engine.get(third)["state"] != "resolved"


@pytest.mark.parametrize("bad", ["", "groupkey", "labels:", "labels:a,,b", "labels:a,a", "group "])
def test_bad_correlate_by_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InputError) as error:
        MonitoringSettings(correlate_by=bad)
    assert error.value.field == "correlate_by"
    with pytest.raises(InputError) as from_env:
        MonitoringSettings.from_env({"OPSLEDGER_MONITORING_CORRELATE_BY": "by-host"})
    assert from_env.value.field == "correlate_by"
    with pytest.raises(InputError) as from_file:
        MonitoringSettings.from_mapping({"correlate_by": 3})
    assert from_file.value.field == "correlate_by"


def test_correlate_by_from_env() -> None:
    env = {"OPSLEDGER_MONITORING_CORRELATE_BY": " labels:alertname, service "}
    settings = MonitoringSettings.from_env(env)
    assert settings.correlation_labels == ("alertname", "service")
    assert MonitoringSettings().correlate_by == "fingerprint"
