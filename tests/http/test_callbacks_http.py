"""The satisfaction call-back over HTTP: recording the outcome, and the call-back queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from opsledger import FixedClock
from tests.core.test_contact import CALLBACK_OLA
from tests.http.desk import Desk

T, Q = "/api/v1/tickets", "/api/v1/queue/callbacks"
H = timedelta(hours=1)


@pytest.fixture
def resolved(desk: Desk, clock: FixedClock) -> str:
    """An incident resolved at Mon 2024-03-04 10:00 under the call-back OLA."""
    desk.engine.define_policy(CALLBACK_OLA, actor="slm")
    number = desk.open_incident(customer="li.wei")
    clock.advance(H)
    response = desk.post(f"{T}/{number}/resolve", {"code": "fixed"})
    assert response.status_code == 200, response.text
    return number


def test_the_queue_lists_the_call_back_and_recording_it_removes_it(
    desk: Desk, clock: FixedClock, resolved: str
) -> None:
    clock.advance(2 * H)
    [entry] = desk.get(Q).json()
    # resolved at 10:00, due 24 h later round the clock; at 12:00, 22 h remain
    assert (entry["number"], entry["group"], entry["due"]) == (
        resolved, "service-desk", "2024-03-05T10:00:00+00:00",
    )  # fmt: skip
    assert (entry["remaining_s"], entry["overdue"]) == (22 * 3600, False)
    assert desk.get(Q, params={"group": "network"}).json() == []
    late = desk.get(Q, params={"as_of": "2024-03-05T11:00:00Z"}).json()
    assert (late[0]["remaining_s"], late[0]["overdue"]) == (-3600, True)
    assert desk.get(Q, role="auditor").status_code == 200  # views:read

    body = {"reached": True, "score": 5, "comment": "all good"}
    response = desk.post(f"{T}/{resolved}/callback", body)
    assert response.status_code == 200, response.text
    events = [e["event"] for e in response.json()["events"]]
    assert events == ["CallbackRecorded", "SatisfactionRecorded", "ClockMet"]
    assert desk.get(Q).json() == []
    ticket = desk.engine.get(resolved)
    assert ticket["satisfaction"] == {"score": 5, "comment": "all good"}
    assert ticket["callback"]["outcome"]["by"] == "agent-1"  # the token's name


def test_a_complaint_opens_a_linked_ticket_for_the_desk_lead(desk: Desk, resolved: str) -> None:
    response = desk.post(f"{T}/{resolved}/callback",
                         {"reached": True, "complaint": True, "comment": "rude"})  # fmt: skip
    assert response.status_code == 200, response.text
    opened = {e["record"] for e in response.json()["events"]} - {resolved}
    [complaint] = [desk.engine.get(n) for n in opened]
    assert (complaint["group"], complaint["assignee"]) == ("service-desk", "service-desk-lead")
    assert ("relates_to", resolved) in [(x["relation"], x["target"]) for x in complaint["links"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reached": True, "score": 7}, "score"),
        ({"reached": False, "score": 3}, "score"),
        ({"reached": "yes"}, "reached"),
        ({"score": 4}, "reached"),
        ({"reached": True, "score": "4"}, "score"),
        ({"reached": True, "complaint": 1}, "complaint"),
        ({"reached": True, "mood": "fine"}, "mood"),
    ],
)
def test_bad_outcomes_are_400s_naming_the_field(
    desk: Desk, resolved: str, body: dict[str, Any], field: str
) -> None:
    response = desk.post(f"{T}/{resolved}/callback", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_input", field)
    assert desk.engine.get(resolved)["callback"]["outcome"] is None


def test_a_call_back_nobody_asked_for_is_409_and_roles_are_checked(desk: Desk) -> None:
    number = desk.open_incident()
    response = desk.post(f"{T}/{number}/callback", {"reached": True})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert desk.post(f"{T}/{number}/callback", {"reached": True},
                     role="auditor").status_code == 403  # fmt: skip
    assert desk.get(Q, role="integration").status_code == 403
    assert desk.post(f"{T}/INC-000099/callback", {"reached": True}).status_code == 404
    assert desk.get(Q, params={"as_of": "2024-03-05 11:00"}).json()["error"]["field"] == "as_of"


def test_both_routes_are_described(desk: Desk) -> None:
    paths = desk.client.get("/openapi.json").json()["paths"]
    body = paths[f"{T}/{{number}}/callback"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True and schema["$ref"].endswith("/RecordCallback")
    components = desk.client.get("/openapi.json").json()["components"]["schemas"]
    assert components["RecordCallback"]["required"] == ["reached"]
    assert set(components["RecordCallback"]["properties"]) >= {
        "reached", "score", "comment", "complaint",
    }  # fmt: skip
    listing = paths[Q]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"group", "as_of", "limit"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["items"][
        "$ref"
    ].endswith("/CallbackItem")
