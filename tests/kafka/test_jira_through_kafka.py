"""JIRA webhooks through the commands topic of a real Kafka broker: the receiver answers once
the change is on the topic, keyed by the issue key; a worker records it on the linked ticket."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from opsledger.adapters.http.app import create_app, mount_adapters
from opsledger.adapters.jira.plugin import JiraAdapter
from opsledger.adapters.jira.sync import JiraSync
from opsledger.adapters.kafka.bus import KafkaBus
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.devbroker import free_port
from opsledger.core.commands import RecordExternalReference

from opsledger import Engine, FixedClock, Settings
from tests.conftest import T0
from tests.dashboard.conftest import serve
from tests.email.test_email_end_to_end import wait_until
from tests.jira.standin import ALICE, JiraStandin
from tests.jira.test_jira_sync import SECRET, jira_settings
from tests.kafka.conftest import MakeKafkaConfig, recording


def test_a_transition_in_jira_reaches_the_ticket_through_the_topic_and_a_worker(
    kafka_config: MakeKafkaConfig, tmp_path: Path
) -> None:
    config: KafkaConfig = kafka_config(partitions=3)
    clock = FixedClock(T0)
    store = Settings(db_path=str(tmp_path / "events.db"))
    front, back = Engine(store, clock=clock), Engine(store, clock=clock)
    with JiraStandin(port=free_port(), clock=clock) as jira:
        key = jira.create_issue("PROJ", "Checkout times out", as_user=ALICE)
        number = front.open_problem("Checkout times out").number
        front.execute(RecordExternalReference(ticket=number, system="jira", reference=key))
        settings = jira_settings(jira.url)
        bus = KafkaBus(config, clock=clock)
        app = create_app(front, bus=bus)
        mount_adapters(app, [JiraAdapter(settings, JiraSync(settings))])
        try:
            with recording(back, config) as worker, serve(app) as base:
                jira.subscribe(f"{base}/hooks/jira/main?secret={SECRET}")
                clock.advance(timedelta(minutes=10))  # JIRA's change is newer than the link
                jira.transition(key, "Done", as_user=ALICE)
                jira.wait_for_webhooks()
                wait_until(
                    lambda: back.get(number)["state"] == "resolved", "the worker", timeout_s=40
                )
        finally:
            bus.close()
            front.close()
            back.close()
    assert worker.stats.dead_letters == 0
