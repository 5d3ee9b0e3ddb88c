"""Tickets over HTTP: what the API records and reads is what the Engine records and reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opsledger.adapters.http.routes_tickets import ACTIONS
from opsledger.core.domain.records import RecordKind
from opsledger.core.domain.sla import default_policy

from opsledger import FixedClock
from tests.http.desk import Desk

T = "/api/v1/tickets"


def test_open_act_read_round_trip_equals_the_engines(any_desk: Desk) -> None:
    desk, engine = any_desk, any_desk.engine
    number = desk.open_incident(impact="high", urgency="medium", service="payments")
    steps = [
        ("assign", {"group": "dba", "assignee": "bob", "tier": "L1"}),
        ("acknowledge", None),
        ("comment", {"body": "looking at the pool", "public": False}),
        ("hold", {"reason": "awaiting_customer", "note": "asked for logs"}),
        ("reply", {"body": "logs attached"}),
        ("escalate", {"mode": "functional", "to": "dba-l2", "reason": "pool exhausted"}),
        ("priority", {"impact": "high", "urgency": "high", "reason": "more users"}),
        ("resolve", {"code": "fixed", "notes": "pool resized"}),
        ("close", None),
    ]
    for action, body in steps:
        response = desk.post(f"{T}/{number}/{action}", body)
        assert response.status_code == 200, (action, response.text)
        result = response.json()
        assert result["number"] == number and not result["duplicate"]
        # what the answer says was recorded is the store's latest events
        history = engine.history(number)
        assert result["version"] == history[-1].version
        assert [e["event"] for e in result["events"]] == [
            h.event for h in history[len(history) - len(result["events"]) :]
        ]

    shown = desk.get(f"{T}/{number}")
    assert shown.status_code == 200
    assert shown.json() == engine.get(number)
    assert shown.json()["state"] == "closed"
    assert shown.json()["priority"] == "P1"  # high x high through the matrix

    history = desk.get(f"{T}/{number}/history").json()
    assert history == [e.to_dict() for e in engine.history(number)]
    assert [h["actor"] for h in history][:2] == ["agent-1", "agent-1"]  # the token's name


def test_every_action_has_a_route_and_names_its_missing_field(desk: Desk) -> None:
    number = desk.open_incident()
    paths = desk.client.get("/openapi.json").json()["paths"]
    for action in ACTIONS:
        assert f"{T}/{{number}}/{action}" in paths
    # a required field left out is a 400 naming it, from the route's own model
    cases = {"assign": "group", "resolve": "code", "reopen": "reason", "satisfaction": "score"}
    for action, field in cases.items():
        response = desk.post(f"{T}/{number}/{action}", {})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == {
            "code": "invalid_input",
            "field": field,
            "message": "is required",
        }


def test_change_fields_are_only_for_changes(desk: Desk) -> None:
    response = desk.post("/api/v1/incidents", {"summary": "x", "risk": "high"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "risk"
    response = desk.post(
        "/api/v1/changes",
        {"summary": "Resize pool", "risk": "high", "change_type": "standard",
         "planned_start": "2024-03-05T22:00:00Z", "planned_end": "2024-03-05T23:00:00+00:00"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    change = desk.engine.get(response.json()["number"])
    assert change["kind"] == "change" and change["risk"] == "high"
    assert response.headers["location"] == f"{T}/{change['number']}"


def test_requests_and_problems_open_their_kind(desk: Desk) -> None:
    for path, kind in (("requests", "service_request"), ("problems", "problem")):
        response = desk.post(f"/api/v1/{path}", {"summary": f"a {kind}"})
        assert response.status_code == 201
        assert desk.engine.get(response.json()["number"])["kind"] == kind


def test_idempotency_key_header_records_once(desk: Desk) -> None:
    key = {"Idempotency-Key": "form-7f3a"}
    first = desk.post("/api/v1/incidents", {"summary": "VPN down"}, headers=key)
    again = desk.post("/api/v1/incidents", {"summary": "VPN down"}, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    assert desk.engine.last_number(RecordKind.INCIDENT) == 1
    # the same key for another command is a conflict, not a silent duplicate
    number = first.json()["number"]
    other = desk.post(f"{T}/{number}/acknowledge", None, headers=key)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"


def test_actor_is_the_token_name_unless_given(desk: Desk) -> None:
    number = desk.open_incident()
    desk.post(f"{T}/{number}/comment", {"body": "hi", "actor": "carol"})
    actors = [e.actor for e in desk.engine.history(number)]
    assert actors == ["agent-1", "carol"]


def test_reads_as_of_an_instant_and_a_version(desk: Desk, clock: FixedClock) -> None:
    number = desk.open_incident()  # at T0
    t0 = clock.now()
    clock.advance(timedelta(hours=1))
    desk.post(f"{T}/{number}/assign", {"group": "network"})
    half = (t0 + timedelta(minutes=30)).isoformat()
    then = desk.get(f"{T}/{number}", params={"as_of": half}).json()
    assert then["state"] == "new" and then["group"] is None
    assert then == desk.engine.get_as_of(number, at=t0 + timedelta(minutes=30))
    assert desk.get(f"{T}/{number}", params={"version": 2}).json()["group"] == "network"
    before = desk.get(f"{T}/{number}", params={"as_of": "2024-03-04T08:00:00Z"})
    assert before.status_code == 404
    naive = desk.get(f"{T}/{number}", params={"as_of": "2024-03-04T09:30:00"})
    assert naive.status_code == 400 and naive.json()["error"]["field"] == "as_of"
    both = desk.get(f"{T}/{number}", params={"as_of": half, "version": 1})
    assert both.status_code == 400


def test_sla_status_as_of_is_the_engines(desk: Desk, clock: FixedClock) -> None:
    desk.engine.define_policy(default_policy(), actor="sla-admin")
    number = desk.open_incident(impact="high", urgency="high")  # P1, 24x7, response 15 min
    at = clock.now() + timedelta(minutes=10)
    status = desk.get(f"{T}/{number}/sla", params={"as_of": at.isoformat()})
    assert status.status_code == 200
    body = status.json()
    assert body["number"] == number and body["as_of"] == at.isoformat()
    assert body["clocks"] == [c.to_dict() for c in desk.engine.sla_status(number, at)]
    response = next(c for c in body["clocks"] if c["metric"] == "response")
    # 10 of the 15 minutes used, 5 left, due at T0 + 15 min
    assert (response["elapsed_seconds"], response["remaining_seconds"]) == (600.0, 300.0)
    assert response["due"] == "2024-03-04T09:15:00+00:00"


def test_link_records_both_ends(desk: Desk) -> None:
    incident = desk.open_incident()
    problem = desk.post("/api/v1/problems", {"summary": "pool too small"}).json()["number"]
    response = desk.post(
        "/api/v1/links", {"source": incident, "relation": "has_problem", "target": problem}
    )
    assert response.status_code == 200, response.text
    assert any(link["target"] == problem for link in desk.engine.get(incident)["links"])
    assert any(link["target"] == incident for link in desk.engine.get(problem)["links"])


@pytest.mark.parametrize("body", [{"summary": "x", "impact": "HIGH"}, {"summary": 7}])
def test_open_refuses_values_outside_the_schema(desk: Desk, body: dict[str, object]) -> None:
    response = desk.post("/api/v1/incidents", body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] in ("impact", "summary")
    assert desk.engine.last_number(RecordKind.INCIDENT) == 0
