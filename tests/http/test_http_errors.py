"""Every failure answers ``{"error": {"code", "message", "field"}}`` and a 4xx that says why."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opsledger.adapters.kafka.bus import BusUnavailable, Receipt
from opsledger.core.commands import Command

from opsledger import FixedClock, Settings
from tests.http.desk import Desk, make_desk

T = "/api/v1/tickets"


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return dict(body["error"])


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"group": 7}, "group", "Input should be a valid string"),
        ({"group": "dba", "tier": "L9"}, "tier", "Input should be 'L1', 'L2' or 'L3'"),
        ({"group": "dba", "colour": "red"}, "colour", "is not a field of this request"),
        ({"group": "dba", "at": "yesterday"}, "at", "'yesterday' is not an ISO 8601 instant"),
        (
            {"group": "dba", "at": "2024-03-04T09:00:00"},
            "at",
            "2024-03-04T09:00:00 has no time zone",
        ),
        ({"group": "dba", "actor": ["x"]}, "actor", "Input should be a valid string"),
        ([], "body", "expected a JSON object"),
        ("dba", "body", "expected a JSON object"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    desk: Desk, body: Any, field: str, message: str
) -> None:
    number = desk.open_incident()
    response = desk.post(f"{T}/{number}/assign", body)
    assert response.status_code == 400, response.text
    assert error(response) == {"code": "invalid_input", "field": field, "message": message}
    assert len(desk.engine.history(number)) == 1  # nothing recorded


def test_invalid_json_is_400(desk: Desk) -> None:
    number = desk.open_incident()
    response = desk.client.post(
        f"{T}/{number}/assign",
        content=b'{"group": ',
        headers=desk.as_("agent") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error(response)["field"] == "body"
    assert error(response)["message"].startswith("is not valid JSON")


def test_domain_refusals_are_404_and_409(desk: Desk) -> None:
    missing = desk.post(f"{T}/INC-000404/acknowledge")
    assert missing.status_code == 404
    assert error(missing) == {
        "code": "not_found", "field": None, "message": "ticket INC-000404 not found",
    }  # fmt: skip
    number = desk.open_incident()
    wrong = desk.post(f"{T}/{number}/close")
    assert wrong.status_code == 409
    assert error(wrong)["code"] == "invalid_state"
    assert error(wrong)["message"].startswith(f"{number}: cannot close while new")
    garbled = desk.post(f"{T}/not-a-number/acknowledge")
    assert garbled.status_code == 400 and error(garbled)["field"] == "ticket"


def test_wrong_content_type_is_415(desk: Desk) -> None:
    response = desk.client.post(
        "/api/v1/incidents",
        content=b"summary=x",
        headers=desk.as_("agent") | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert error(response) == {
        "code": "unsupported_media_type",
        "field": "content-type",
        "message": "expected application/json, got application/x-www-form-urlencoded",
    }
    vendor = desk.client.post(
        "/api/v1/incidents",
        content=b'{"summary": "x"}',
        headers=desk.as_("agent") | {"Content-Type": "application/vnd.opsledger+json"},
    )
    assert vendor.status_code == 201


def test_body_over_the_limit_is_413_declared_or_streamed(desk: Desk) -> None:
    big = b'{"summary": "' + b"x" * 1_100_000 + b'"}'
    declared = desk.client.post(
        "/api/v1/incidents", content=big,
        headers=desk.as_("agent") | {"Content-Type": "application/json"},
    )  # fmt: skip
    assert declared.status_code == 413
    assert error(declared) == {
        "code": "too_large", "field": "body", "message": "request body over 1,048,576 bytes",
    }  # fmt: skip

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield big[:600_000]
        yield big[600_000:]

    streamed = desk.client.post(
        "/api/v1/incidents", content=chunks(),
        headers=desk.as_("agent") | {"Content-Type": "application/json"},
    )  # fmt: skip
    assert streamed.status_code == 413
    assert error(streamed)["code"] == "too_large"
    # even unauthenticated: the size is refused before anything else is read
    assert desk.client.post("/api/v1/incidents", content=big).status_code == 413


def test_blank_idempotency_key_is_400(desk: Desk) -> None:
    response = desk.post("/api/v1/incidents", {"summary": "x"}, headers={"Idempotency-Key": " "})
    assert response.status_code == 400
    assert error(response)["field"] == "Idempotency-Key"


def test_unknown_route_and_method_keep_the_shape(desk: Desk) -> None:
    assert desk.get("/api/v1/nothing").status_code == 404
    assert error(desk.get("/api/v1/nothing"))["code"] == "not_found"
    wrong = desk.client.put("/api/v1/incidents", headers=desk.as_("agent"))
    assert wrong.status_code == 405 and error(wrong)["code"] == "method_not_allowed"


class DownBus:
    """A bus whose broker never acknowledges (what KafkaBus raises when Kafka is down)."""

    def submit(self, commands: Sequence[Command], **kw: Any) -> list[Receipt]:
        raise BusUnavailable("Kafka did not acknowledge: KafkaTimeoutError")

    def set_aside(self, **kw: Any) -> None:
        raise BusUnavailable("Kafka did not acknowledge")

    def close(self) -> None:
        pass


class QueueBus:
    """A bus that only queues, as KafkaBus does: the worker records later."""

    def __init__(self) -> None:
        self.sent: list[Command] = []

    def submit(self, commands: Sequence[Command], **kw: Any) -> list[Receipt]:
        self.sent.extend(commands)
        return [Receipt(f"m-{len(self.sent)}", "k", True) for _ in commands]

    def set_aside(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_broker_outage_is_503_with_retry_after(tmp_path: Path, clock: FixedClock) -> None:
    settings = Settings(db_path=str(tmp_path / "events.db"))
    for desk in make_desk(settings, clock, bus=DownBus()):
        response = desk.post("/api/v1/incidents", {"summary": "x"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert error(response)["code"] == "unavailable"


def test_a_queueing_bus_answers_202_with_the_message_id(tmp_path: Path, clock: FixedClock) -> None:
    bus = QueueBus()
    settings = Settings(db_path=str(tmp_path / "events.db"))
    for desk in make_desk(settings, clock, bus=bus):
        response = desk.post(
            "/api/v1/incidents", {"summary": "x"}, headers={"Idempotency-Key": "k1"}
        )
        assert response.status_code == 202
        assert response.json()["queued"] is True and response.json()["message_id"] == "m-1"
        [sent] = bus.sent
        assert (type(sent).__name__, sent.idempotency_key, sent.actor) == (
            "OpenTicket", "k1", "agent-1",
        )  # fmt: skip


def test_numbers_beyond_64_bits_are_400_naming_the_field(desk: Desk) -> None:
    number = desk.open_incident()
    response = desk.post(f"{T}/{number}/satisfaction", {"score": 2**70})
    assert response.status_code == 400
    assert error(response)["field"] == "score"


def test_a_command_dated_far_ahead_is_refused_and_cannot_block_the_ticket(desk: Desk) -> None:
    from opsledger.core.domain.sla import default_policy

    desk.engine.define_policy(default_policy(), actor="admin")  # clocks: the old 500 needed one
    for at in ("9999-12-31T23:00:00Z", "2999-01-01T00:00:00Z"):
        far = desk.post("/api/v1/incidents", {"summary": "x", "impact": "high", "at": at})
        assert far.status_code == 400 and error(far)["field"] == "at"
    number = desk.open_incident()
    blocked = desk.post(f"{T}/{number}/comment", {"body": "hi", "at": "2999-01-01T00:00:00Z"})
    assert blocked.status_code == 400 and error(blocked)["field"] == "at"
    assert desk.post(f"{T}/{number}/acknowledge").status_code == 200  # not blocked
