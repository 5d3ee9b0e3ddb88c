"""Adapters mount their receivers under /hooks/{name}; serve's housekeeping fires SLA clocks."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from opsledger.adapters.http.app import mount_adapters
from opsledger.adapters.http.auth import Permission, requires
from opsledger.adapters.http.runtime import Gate, Housekeeper, SerializedProjections
from opsledger.core.domain.sla import default_policy
from opsledger.core.inbound import inbound_command

from opsledger import Engine, FixedClock
from tests.http.desk import Desk


class TinyAdapter:
    """A receiver in ten lines: one POST becomes one inbound event, submitted to the bus."""

    name = "tiny"
    max_body_bytes = 64

    def __init__(self) -> None:
        self.routes = APIRouter()
        self.routes.add_api_route("/alert", self.alert, methods=["POST"])

    def alert(self, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        command = inbound_command({"source": "tiny", "state": "open", **payload})
        [receipt] = request.app.state.bus.submit([command])
        return {"number": receipt.outcome.number}


class GuardedAdapter:
    """A receiver that takes the app's integration tokens rather than its own secret."""

    name = "guarded"

    def __init__(self) -> None:
        self.routes = APIRouter(dependencies=[Depends(requires(Permission.INBOUND_WRITE))])
        self.routes.add_api_route("/ping", lambda: {"pong": True}, methods=["GET"])


class Nameless:
    name = "no spaces/please"
    routes = APIRouter()


class Routeless:
    name = "poller"  # an IMAP poller, say: nothing to mount


def test_adapter_routes_mount_under_hooks(desk: Desk) -> None:
    mounted = mount_adapters(
        desk.app, [TinyAdapter(), GuardedAdapter(), Nameless(), Routeless(), TinyAdapter()]
    )
    assert mounted == ["tiny", "guarded"]  # bad name and second "tiny" skipped
    response = desk.client.post("/hooks/tiny/alert", json={"external_id": "a1", "summary": "x"})
    assert response.status_code == 200, response.text
    number = response.json()["number"]
    assert desk.engine.get(number)["channel"] == "tiny"
    paths = desk.client.get("/openapi.json").json()["paths"]
    assert "/hooks/tiny/alert" in paths and "/hooks/guarded/ping" in paths
    # the adapter's own body limit, in the app's error shape
    big = desk.client.post("/hooks/tiny/alert", json={"external_id": "a" * 100, "summary": "x"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    # authenticated with the app's tokens and roles
    assert desk.client.get("/hooks/guarded/ping").status_code == 401
    assert desk.get("/hooks/guarded/ping", role="agent").status_code == 403
    assert desk.get("/hooks/guarded/ping", role="integration").json() == {"pong": True}


def test_housekeeper_fires_due_clocks_and_catches_views_up(desk: Desk, clock: FixedClock) -> None:
    engine: Engine = desk.engine
    engine.define_policy(default_policy(), actor="sla-admin")
    number = desk.open_incident(impact="high", urgency="high")  # P1: respond within 15 min
    clock.advance(timedelta(minutes=20))
    stop = threading.Event()
    with SerializedProjections(engine, ["work_queue"]) as views:
        keeper = Housekeeper(engine, Gate(), views, stop, tick_interval_s=0.05)
        keeper.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and keeper.fired == 0:
            time.sleep(0.02)
        stop.set()
        keeper.join(timeout=10)
        assert not keeper.is_alive()
        events = [e.event for e in engine.history(number)]
        assert "BreachRecorded" in events, events
        assert keeper.stats()["failures"] == 0
        [entry] = views.work_queue()
        assert entry["number"] == number and entry["breached"] is True
