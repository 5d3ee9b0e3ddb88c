"""An alert storm through the HTTP receiver: one Alertmanager group of 30 alerts, threshold 10.

The adapter's settings carry the thresholds; the core decides (docs/inbound.md): the 11th
alert crosses the threshold, opens the storm's parent incident and is linked to it with the
19 after it: one storm, 20 links, and the first 10 incidents stay as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.http.app import mount_adapters
from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.adapters.monitoring.settings import MonitoringSettings, SourceAuth
from opsledger.core.domain.records import RecordKind

from opsledger import FixedClock, InputError, Settings
from tests.http.desk import Desk, make_desk
from tests.monitoring.test_monitoring_receivers import AM, firing, group, post_am

STORMY = MonitoringSettings(
    enabled=True,
    sources={"alertmanager": SourceAuth(token=AM["Authorization"].removeprefix("Bearer "))},
    storm_threshold=10,
    storm_window_s=300,
)


@pytest.fixture
def stormy(tmp_path: Path, clock: FixedClock) -> Iterator[Desk]:
    for desk in make_desk(Settings(db_path=str(tmp_path / "events.db")), clock):
        assert mount_adapters(desk.app, [MonitoringAdapter(STORMY)]) == ["monitoring"]
        yield desk


def test_a_group_of_30_alerts_over_a_threshold_of_10_is_one_storm_with_20_links(
    stormy: Desk,
) -> None:
    alerts = [firing(f"fp{i:02d}", "2024-03-04T08:58:00Z") for i in range(30)]
    body = post_am(stormy, group(*alerts)).json()
    assert (body["received"], body["recorded"], body["refused"]) == (30, 30, 0)
    engine = stormy.engine
    # 30 alert incidents + the parent, opened by the 11th alert (INC-000011) after its own
    assert engine.last_number(RecordKind.INCIDENT) == 31
    parents = [
        n
        for n in (f"INC-{i:06d}" for i in range(1, 32))
        if engine.get(n)["summary"] == "Alert storm from alertmanager"
    ]
    assert parents == ["INC-000012"]
    children: list[Any] = [
        lk["target"] for lk in engine.get("INC-000012")["links"] if lk["relation"] == "parent_of"
    ]
    assert len(children) == 20
    numbers = [r["number"] for r in body["results"]]
    assert children == numbers[10:]  # the 11th alert and every one after it
    for number in numbers[:10]:
        assert not [lk for lk in engine.get(number)["links"] if lk["relation"] == "child_of"]
    # a resend of the group is a duplicate: no second storm, no new link
    again = post_am(stormy, group(*alerts)).json()
    assert again["duplicates"] == 30
    assert engine.last_number(RecordKind.INCIDENT) == 31


def test_thresholds_come_from_the_environment_and_bad_ones_name_the_variable() -> None:
    env = {
        "OPSLEDGER_MONITORING_STORM_THRESHOLD": "25",
        "OPSLEDGER_MONITORING_FLAP_CHANGES": "4",
        "OPSLEDGER_MONITORING_FLAP_WINDOW_S": "1800",
    }
    read = MonitoringSettings.from_env(env)
    assert (read.storm_threshold, read.storm_window_s) == (25, 300)
    assert (read.flap_changes, read.flap_window_s) == (4, 1800)
    with pytest.raises(InputError) as caught:
        MonitoringSettings.from_env({"OPSLEDGER_MONITORING_STORM_WINDOW_S": "5m"})
    assert caught.value.field == "OPSLEDGER_MONITORING_STORM_WINDOW_S"
    with pytest.raises(InputError) as caught:
        MonitoringSettings.from_mapping({"flap_changes": 1})
    assert caught.value.field == "flap_changes"
