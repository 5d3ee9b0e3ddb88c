"""The email adapter submitting to the commands topic of a real Kafka broker, a worker
recording: mail in through SMTP, the reply threaded, nothing set aside."""

from __future__ import annotations

from pathlib import Path

from opsledger.adapters.email.plugin import EmailAdapter
from opsledger.adapters.kafka.bus import KafkaBus
from opsledger.adapters.kafka.config import KafkaConfig

from opsledger import Engine, Settings
from tests.email.test_email_end_to_end import (
    SMTP_IN,
    deliver,
    mail,
    requests,
    running,
    settings,
    view,
    wait_until,
)
from tests.kafka.conftest import MakeKafkaConfig, recording


def test_mail_reaches_a_ticket_through_the_commands_topic_and_a_worker(
    kafka_config: MakeKafkaConfig, tmp_path: Path
) -> None:
    config: KafkaConfig = kafka_config(partitions=3)
    store = Settings(db_path=str(tmp_path / "events.db"))
    front, back = Engine(store), Engine(store)  # the adapter's process and the worker's
    bus = KafkaBus(config)
    try:
        with (
            recording(back, config) as worker,
            running(EmailAdapter(settings(smtp_in=SMTP_IN)), bus, front) as adapter,
        ):
            deliver(adapter, mail(message_id="<kafka.1@contoso.com>"))  # 250: on the topic
            wait_until(lambda: requests(back) == 1, "the worker's record", timeout_s=40)
            deliver(adapter, mail(message_id="<kafka.2@contoso.com>", subject="Re: [REQ-000001] x"))
            wait_until(
                lambda: view(back, "REQ-000001").get("customer_replies") == 1,
                "the reply",
                timeout_s=40,
            )
    finally:
        bus.close()
        front.close()
        back.close()
    assert worker.stats.dead_letters == 0
