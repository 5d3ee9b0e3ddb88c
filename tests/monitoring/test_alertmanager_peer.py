"""The real Alertmanager fixture, proved against a capture server: what 0.25 actually sends.

The key sets below are what Debian's Alertmanager 0.25 put on the wire in this test; the
adapter's parsers are checked against them and against the saved captures in ``payloads/``
(``captured_alertmanager_webhook.json``, ``captured_alertmanager_pagerduty.json``). Newer
versions add keys (0.32 adds ``notification_reason``), so for them only a superset is asserted.
Set ``OPSLEDGER_RECAPTURE_PAYLOADS=1`` to rewrite the saved captures from a live run.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.alertmanager import (
    DEFAULT_ROUTING_KEY,
    PAGERDUTY_ROUTE,
    AlertmanagerProcess,
    require_alertmanager,
    run_alertmanager,
)

PAYLOADS = Path(__file__).parent / "payloads"
WEBHOOK_CAPTURE = PAYLOADS / "captured_alertmanager_webhook.json"
PAGERDUTY_CAPTURE = PAYLOADS / "captured_alertmanager_pagerduty.json"
AM_TOKEN, PD_TOKEN = "am-peer-t0ken", "pd-peer-t0ken"
NOTIFY_TIMEOUT_S = 15.0

LABELS = {
    "alertname": "DiskAlmostFull",
    "service": "payments",
    "instance": "db-1:9100",
    "job": "node",
    "severity": "critical",
}
ANNOTATIONS = {
    "summary": "Disk /var almost full on db-1",
    "runbook_url": "https://runbooks.example.org/disk-full",
}
GENERATOR_URL = "http://prometheus.example.org:9090/graph?g0.expr=node_filesystem_avail_bytes"

# -- what Alertmanager 0.25 sends (observed here) ---------------------------------------------

WEBHOOK_KEYS = {
    "receiver",
    "status",
    "alerts",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "version",
    "groupKey",
    "truncatedAlerts",
}
WEBHOOK_ALERT_KEYS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}
# no "links" or "images": 0.25 leaves empty ones out
PAGERDUTY_KEYS = {"routing_key", "dedup_key", "event_action", "payload", "client", "client_url"}
PAGERDUTY_PAYLOAD_KEYS = {"summary", "source", "severity", "custom_details"}
PAGERDUTY_DETAILS_KEYS = {"firing", "num_firing", "num_resolved", "resolved"}


def assert_keys(found: dict[str, Any], expected: set[str], version: str, what: str) -> None:
    """Exactly ``expected`` from 0.25; at least ``expected`` from anything newer."""
    keys = set(found)
    if version.startswith("0.25."):
        assert keys == expected, f"{what}: keys {sorted(keys)} from Alertmanager {version}"
    else:
        assert keys >= expected, f"{what}: missing {sorted(expected - keys)} from {version}"


# -- a capture server -------------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival


class CaptureServer:
    """A stdlib HTTP server in a thread that answers 200 to every POST and keeps what came."""

    def __init__(self) -> None:
        self.received: list[Captured] = []
        self._arrived = threading.Condition()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                item = Captured(self.path, dict(self.headers.items()), json.loads(raw), arrived)
                with capture._arrived:
                    capture.received.append(item)
                    capture._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest's output to the assertions

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(
        self, predicate: Callable[[Captured], bool], timeout_s: float = NOTIFY_TIMEOUT_S
    ) -> Captured:
        """The first request that satisfies ``predicate``, waiting up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for item in self.received:
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.path, _status_of(r.body)) for r in self.received]
                    raise AssertionError(f"nothing matched within {timeout_s:.0f} s; got {seen}")
                self._arrived.wait(left)

    def paths(self) -> list[str]:
        with self._arrived:
            return [r.path for r in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _status_of(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("status") or body.get("event_action") or "?")
    return "?"


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    try:
        yield server
    finally:
        server.close()


# -- helpers ----------------------------------------------------------------------------------


def _alert(labels: dict[str, str], starts: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": ANNOTATIONS,
        "startsAt": starts,
        "generatorURL": GENERATOR_URL,
        **extra,
    }


def _go_time(at: datetime) -> str:
    """How Alertmanager (Go, RFC 3339 with trailing zeros cut) writes a UTC instant."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def _shape(value: Any) -> Any:
    """The nested key structure of a JSON value (lists by their first element)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _keep_or_check(path: Path, live: dict[str, Any]) -> None:
    """Save the live capture when asked (or first time); else it must match the saved shape."""
    if os.environ.get("OPSLEDGER_RECAPTURE_PAYLOADS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(live, indent=2, sort_keys=True) + "\n")
        return
    saved = json.loads(path.read_text())
    assert _shape(saved) == _shape(live), f"{path.name} no longer matches what Alertmanager sends"


def _started(tmp_path: Path, capture: CaptureServer, **kwargs: Any) -> AlertmanagerProcess:
    return run_alertmanager(
        tmp_path,
        webhook_url=capture.url + "/hooks/monitoring/alertmanager",
        bearer_token=AM_TOKEN,
        **kwargs,
    )


# -- tests ------------------------------------------------------------------------------------


def test_webhook_receives_firing_about_a_second_after_the_post_then_resolved(
    tmp_path: Path, capture: CaptureServer
) -> None:
    # a fresh alert: one that started more than group_wait ago is notified at once (below)
    starts = datetime.now(UTC)
    with _started(tmp_path, capture) as am:
        version = am.version()
        posted = time.monotonic()
        am.post_alerts([_alert(LABELS, starts)])
        firing = capture.wait_for(lambda r: _status_of(r.body) == "firing")
        # group_wait is 1 s; with clustering left on the first notification waits ~10 s
        assert 0.8 <= firing.at - posted < 5.0, f"firing arrived {firing.at - posted:.2f} s later"

        ends = datetime.now(UTC) - timedelta(milliseconds=100)  # in the past: resolved
        posted = time.monotonic()
        am.post_alerts([_alert(LABELS, starts, endsAt=ends)])
        resolved = capture.wait_for(lambda r: _status_of(r.body) == "resolved")
        # within the next group interval (1 s), plus Alertmanager's tick
        assert resolved.at - posted < 5.0, f"resolved arrived {resolved.at - posted:.2f} s later"

    assert firing.path == resolved.path == "/hooks/monitoring/alertmanager"
    for request in (firing, resolved):
        assert request.headers["Authorization"] == f"Bearer {AM_TOKEN}"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("Alertmanager/")

    body = firing.body
    assert_keys(body, WEBHOOK_KEYS, version, "webhook")
    assert body["version"] == "4"
    assert body["receiver"] == "webhook"
    assert body["groupLabels"] == {"alertname": "DiskAlmostFull"}
    assert body["commonLabels"] == LABELS
    assert body["truncatedAlerts"] == 0
    assert body["externalURL"] == am.url
    (alert,) = body["alerts"]
    assert_keys(alert, WEBHOOK_ALERT_KEYS, version, "webhook alert")
    assert alert["status"] == "firing"
    assert alert["labels"] == LABELS
    assert alert["annotations"] == ANNOTATIONS
    assert alert["generatorURL"] == GENERATOR_URL
    assert alert["startsAt"] == _go_time(starts)
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"  # firing: no end yet

    (gone,) = resolved.body["alerts"]
    assert resolved.body["version"] == "4"
    assert gone["status"] == "resolved"
    assert gone["fingerprint"] == alert["fingerprint"]  # the same alert, by its identity
    assert gone["startsAt"] == alert["startsAt"]
    assert gone["endsAt"] == _go_time(ends)
    assert resolved.body["groupKey"] == body["groupKey"]

    _keep_or_check(WEBHOOK_CAPTURE, body)


def test_pagerduty_receiver_sends_events_v2_trigger_then_resolve(
    tmp_path: Path, capture: CaptureServer
) -> None:
    name, value = PAGERDUTY_ROUTE
    labels = LABELS | {name: value}
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    with _started(
        tmp_path,
        capture,
        pagerduty_url=capture.url + "/v2/enqueue",
        pagerduty_bearer_token=PD_TOKEN,
    ) as am:
        version = am.version()
        am.post_alerts([_alert(labels, starts)])
        trigger = capture.wait_for(lambda r: _status_of(r.body) == "trigger")
        ends = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        am.post_alerts([_alert(labels, starts, endsAt=ends)])
        resolve = capture.wait_for(lambda r: _status_of(r.body) == "resolve")

    # the routing label kept it away from the webhook receiver
    assert set(capture.paths()) == {"/v2/enqueue"}
    for request in (trigger, resolve):
        assert request.headers["Authorization"] == f"Bearer {PD_TOKEN}"
        assert request.headers["Content-Type"] == "application/json"

    body = trigger.body
    assert_keys(body, PAGERDUTY_KEYS, version, "pagerduty")
    assert body["routing_key"] == DEFAULT_ROUTING_KEY
    assert body["event_action"] == "trigger"
    # Alertmanager's dedup key is the SHA-256 of the group key, so resolve finds the trigger
    group_key = '{}/{via="pagerduty"}:{alertname="DiskAlmostFull"}'
    assert body["dedup_key"] == hashlib.sha256(group_key.encode()).hexdigest()
    assert resolve.body["dedup_key"] == body["dedup_key"]
    assert resolve.body["event_action"] == "resolve"

    payload = body["payload"]
    assert_keys(payload, PAGERDUTY_PAYLOAD_KEYS, version, "pagerduty payload")
    assert payload["severity"] == "error"  # Alertmanager's default, whatever the label says
    assert payload["source"] == "Alertmanager"  # the client name, by default
    assert payload["summary"].startswith("[FIRING:1] DiskAlmostFull")
    details = payload["custom_details"]
    assert_keys(details, PAGERDUTY_DETAILS_KEYS, version, "pagerduty custom_details")
    assert details["num_firing"] == "1"  # strings, not numbers
    assert details["num_resolved"] == "0"
    assert "alertname = DiskAlmostFull" in details["firing"]

    _keep_or_check(PAGERDUTY_CAPTURE, body)


def test_missing_binary_skips_outside_ci_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPSLEDGER_ALERTMANAGER_BIN", str(tmp_path / "no-alertmanager"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install prometheus-alertmanager"):
        require_alertmanager()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_alertmanager()


def test_alert_that_started_before_group_wait_is_notified_at_once(
    tmp_path: Path, capture: CaptureServer
) -> None:
    """Alertmanager flushes a new group at once when its alert began over group_wait ago."""
    starts = datetime.now(UTC) - timedelta(minutes=2)
    with _started(tmp_path, capture, group_wait="5s") as am:
        posted = time.monotonic()
        am.post_alerts([_alert(LABELS, starts)])
        firing = capture.wait_for(lambda r: _status_of(r.body) == "firing")
    assert firing.at - posted < 2.5, f"firing arrived {firing.at - posted:.2f} s later"
