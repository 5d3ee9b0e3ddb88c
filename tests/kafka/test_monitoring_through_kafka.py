"""A real Alertmanager through the commands topic: receivers queue on Kafka, the worker records.

The HTTP app answers Alertmanager only once Kafka has acknowledged the commands (KafkaBus);
an ``opsledger`` worker (a Worker in a thread, its own engine on the same store) records
them. Incidents open, a resent group records nothing new, and an ended alert resolves its
incident, exactly as in the embedded mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from opsledger.adapters.http.app import create_app, mount_adapters
from opsledger.adapters.kafka.bus import KafkaBus
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, Settings
from tests.dashboard.conftest import serve
from tests.kafka.conftest import recording
from tests.monitoring.test_alertmanager_end_to_end import alert, notifying, wait_until
from tests.monitoring.test_monitoring_receivers import MONITORING


def test_alerts_reach_incidents_through_the_kafka_worker(
    kafka_config: Callable[..., KafkaConfig], tmp_path: Path
) -> None:
    config = kafka_config(partitions=3)
    store = Settings(db_path=str(tmp_path / "events.db"))
    front, back = Engine(store), Engine(store)  # the HTTP app's and the worker's
    bus = KafkaBus(config)
    app = create_app(front, bus=bus)
    mount_adapters(app, [MonitoringAdapter(MONITORING)])
    opened = lambda: back.last_number(RecordKind.INCIDENT)  # noqa: E731
    try:
        with recording(back, config) as worker, serve(app) as base:
            manager = notifying(tmp_path, base)
            try:
                started = datetime.now(UTC).replace(microsecond=0)
                manager.post_alerts([alert("db-1", started)])
                wait_until(lambda: opened() == 1, "the first incident", timeout_s=40)
                manager.post_alerts([alert("db-2", started)])  # the group is resent
                wait_until(lambda: opened() == 2, "the second incident", timeout_s=40)
                time.sleep(2.5)
                assert opened() == 2
                history = [e.event for e in back.history("INC-000001")]
                assert history.count("OccurrenceRecorded") == 0
                ended = {**alert("db-1", started), "endsAt": datetime.now(UTC).isoformat()}
                manager.post_alerts([ended])
                wait_until(
                    lambda: back.get("INC-000001")["state"] == "resolved", "the resolution", 40
                )
                assert back.get("INC-000001")["opened_at"] == started.isoformat()
            finally:
                manager.stop()
    finally:
        bus.close()
        front.close()
        back.close()
    assert worker.stats.dead_letters == 0
