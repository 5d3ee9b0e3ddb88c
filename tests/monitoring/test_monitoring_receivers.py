"""The receivers under /hooks/monitoring, through the HTTP app and the real Engine (embedded)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsledger.adapters.http.app import mount_adapters
from opsledger.adapters.kafka.bus import BusUnavailable, Receipt
from opsledger.adapters.monitoring.auth import sign
from opsledger.adapters.monitoring.receivers import MonitoringAdapter
from opsledger.adapters.monitoring.settings import MonitoringSettings, SourceAuth
from opsledger.core.commands import Command
from opsledger.core.domain.records import RecordKind
from opsledger.core.domain.sla import default_policy

from opsledger import FixedClock, Settings
from tests.http.desk import Desk, make_desk

PAYLOADS = Path(__file__).parent / "payloads"
AM_TOKEN, GRAFANA_SECRET, PD_TOKEN, INBOUND_TOKEN = "am-t0ken", "gr-s3cret", "pd-t0ken", "in-t0ken"
MONITORING = MonitoringSettings(
    enabled=True,
    sources={
        "alertmanager": SourceAuth(token=AM_TOKEN),
        "grafana": SourceAuth(hmac_secret=GRAFANA_SECRET),
        "pagerduty": SourceAuth(token=PD_TOKEN),
        "inbound": SourceAuth(token=INBOUND_TOKEN),
    },
    max_body_bytes=4 * 1_048_576,
)
AM = {"Authorization": f"Bearer {AM_TOKEN}"}
PD = {"Authorization": f"Bearer {PD_TOKEN}"}


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def mon(tmp_path: Path, clock: FixedClock) -> Iterator[Desk]:
    for desk in make_desk(Settings(db_path=str(tmp_path / "events.db")), clock):
        assert mount_adapters(desk.app, [MonitoringAdapter(MONITORING)]) == ["monitoring"]
        yield desk


def firing(fp: str, starts: str, **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "DiskAlmostFull", "instance": "db-1", **labels},
        "annotations": {"summary": f"disk {fp}"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fp,
    }


def group(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "opsledger", "alerts": list(alerts)}


def post_am(desk: Desk, body: Any, headers: dict[str, str] | None = None) -> Any:
    return desk.client.post(
        "/hooks/monitoring/alertmanager", json=body, headers=AM if headers is None else headers
    )


def test_fixture_group_opens_what_it_can_and_sets_aside_the_rest(mon: Desk) -> None:
    response = post_am(mon, payload("alertmanager"))
    assert response.status_code == 200, response.text
    body = response.json()
    # alert 0 opens INC-000001; alert 1 names CI-000042, which this store does not hold: it
    # still opens INC-000002, without the CI, saying so; alert 2 resolves an alert never
    # seen: refused by the engine and kept by the bus
    assert (body["received"], body["recorded"], body["refused"]) == (3, 2, 1)
    second = mon.engine.get("INC-000002")
    assert second["ci"] is None and "CI-000042, which is not registered" in second["description"]
    assert body["results"][0]["number"] == "INC-000001"
    ticket = mon.engine.get("INC-000001")
    assert (ticket["priority"], ticket["service"], ticket["channel"]) == (
        "P1",
        "payments",
        "alertmanager",
    )
    assert ticket["opened_at"] == "2024-03-04T08:58:00.739266+00:00"  # startsAt, not receipt
    assert len(mon.engine.rejected_messages()) == 1


def test_resent_group_changes_nothing(mon: Desk) -> None:
    alerts = group(firing("aaaa", "2024-03-04T08:58:00Z"), firing("bbbb", "2024-03-04T08:59:00Z"))
    first = post_am(mon, alerts).json()
    head = mon.engine.app.recorder.max_notification_id()
    again = post_am(mon, alerts).json()
    assert (first["recorded"], again["recorded"], again["duplicates"]) == (2, 0, 2)
    assert mon.engine.app.recorder.max_notification_id() == head  # not one event more


def test_firing_repeat_resolved_and_firing_again_reopens(mon: Desk, clock: FixedClock) -> None:
    number = post_am(mon, group(firing("cafe", "2024-03-04T08:58:00Z"))).json()["results"][0][
        "number"
    ]
    # the same alert started again (a new startsAt) while open: one more occurrence
    clock.advance(timedelta(minutes=5))
    post_am(mon, group(firing("cafe", "2024-03-04T09:03:00Z")))
    assert mon.engine.record(number).occurrences == 2  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=10))
    resolved = firing("cafe", "2024-03-04T09:03:00Z") | {
        "status": "resolved",
        "endsAt": "2024-03-04T09:14:00Z",
    }
    assert post_am(mon, group(resolved)).json()["recorded"] == 1
    assert mon.engine.get(number)["state"] == "resolved"
    assert post_am(mon, group(resolved)).json()["duplicates"] == 1  # resent resolve
    # fires again an hour later: within the 7-day reopen window, so the same ticket reopens
    clock.advance(timedelta(hours=1))
    again = post_am(mon, group(firing("cafe", "2024-03-04T10:14:00Z"))).json()
    assert again["results"][0]["number"] == number
    assert mon.engine.get(number)["state"] not in ("resolved", "closed")
    assert [e.event for e in mon.engine.history(number)].count("Reopened") == 1


def test_pagerduty_trigger_acknowledge_resolve(mon: Desk, clock: FixedClock) -> None:
    mon.engine.define_policy(default_policy(), actor="sla-admin")
    trigger = payload("pagerduty")
    response = mon.client.post("/hooks/monitoring/v2/enqueue", json=trigger, headers=PD)
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "srv01/mysql",
    }
    number = "INC-000001"
    ticket = mon.engine.get(number)
    assert ticket["channel"] == "pagerduty"
    assert ticket["opened_at"] == "2024-03-04T08:42:58.315000+00:00"
    clock.advance(timedelta(minutes=3))
    ack = {
        "routing_key": trigger["routing_key"],
        "event_action": "acknowledge",
        "dedup_key": "srv01/mysql",
    }
    assert mon.client.post("/hooks/monitoring/v2/enqueue", json=ack, headers=PD).status_code == 202
    acknowledged = mon.engine.get(number)
    assert acknowledged["acknowledged_at"] == "2024-03-04T09:03:00+00:00"  # T0 + 3 min
    # the response clock stopped at the acknowledge: an hour later it has still used
    # 09:03:00 - 08:42:58.315 = 20 min 1.685 s = 1201.685 s (and breached its 15 min target)
    later = mon.get(f"/api/v1/tickets/{number}/sla?as_of=2024-03-04T10:00:00Z").json()
    [response_clock] = [c for c in later["clocks"] if c["metric"] == "response"]
    assert response_clock["elapsed_seconds"] == 1201.685 and response_clock["due"] is None
    resolve = ack | {"event_action": "resolve"}
    assert (
        mon.client.post("/hooks/monitoring/v2/enqueue", json=resolve, headers=PD).status_code == 202
    )
    assert mon.engine.get(number)["state"] == "resolved"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {AM_TOKEN}"}, PD],
)
def test_missing_or_wrong_bearer_is_401_and_not_kept(mon: Desk, headers: dict[str, str]) -> None:
    response = post_am(mon, group(firing("dead", "2024-03-04T08:58:00Z")), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert AM_TOKEN not in response.text
    assert mon.engine.rejected_messages() == [] and mon.engine.last_number(RecordKind.INCIDENT) == 0


def test_hmac_signature_of_the_body(mon: Desk) -> None:
    body = json.dumps(payload("grafana")).encode()
    url = "/hooks/monitoring/grafana"
    good = {"Content-Type": "application/json", "X-Opsledger-Signature": sign(GRAFANA_SECRET, body)}
    for bad in (
        {},
        {"X-Opsledger-Signature": "sha256=" + "0" * 64},
        {"X-Opsledger-Signature": "md5=x"},
    ):
        response = mon.client.post(
            url,
            content=body,
            headers={**good, **bad} if bad else {"Content-Type": "application/json"},
        )
        assert response.status_code == 401, bad
    tampered = body.replace(b"us-1", b"us-2")
    assert mon.client.post(url, content=tampered, headers=good).status_code == 401
    assert mon.client.post(url, content=body, headers=good).json()["recorded"] == 2


def test_unconfigured_source_is_refused(tmp_path: Path, clock: FixedClock) -> None:
    for desk in make_desk(Settings(db_path=str(tmp_path / "e.db")), clock):
        mount_adapters(desk.app, [MonitoringAdapter(MonitoringSettings(enabled=True))])
        response = desk.client.post("/hooks/monitoring/alertmanager", json=group())
        assert response.status_code == 401


def test_refused_bodies_are_set_aside_with_reason_and_field(mon: Desk) -> None:
    url = "/hooks/monitoring/alertmanager"
    as_text = mon.client.post(url, content=b"alerts", headers=AM | {"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    broken = mon.client.post(
        url, content=b'{"alerts": [', headers=AM | {"Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["error"]["field"]) == (400, "body")
    shape = group(firing("aaaa", "2024-03-04T08:58:00Z"), firing("bbbb", "soon"))
    wrong = post_am(mon, shape)
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (400, "alerts[1].startsAt")
    kept = mon.engine.rejected_messages()
    assert [(m.source, m.field) for m in kept] == [
        ("monitoring:alertmanager", "content-type"),
        ("monitoring:alertmanager", "body"),
        ("monitoring:alertmanager", "alerts[1].startsAt"),
    ]
    assert kept[0].body == b"alerts" and json.loads(kept[2].body) == shape
    assert (
        mon.engine.last_number(RecordKind.INCIDENT) == 0
    )  # a wrong shape refuses the whole delivery


def test_bodies_over_the_limit_are_413(mon: Desk) -> None:
    big = b'{"alerts": ["' + b"x" * MONITORING.max_body_bytes + b'"]}'
    url = "/hooks/monitoring/alertmanager"
    declared = mon.client.post(url, content=big, headers=AM | {"Content-Type": "application/json"})
    assert declared.status_code == 413  # refused from its Content-Length, before any byte is read
    assert mon.engine.rejected_messages() == []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    streamed = mon.client.post(
        url, content=chunks(), headers=AM | {"Content-Type": "application/json"}
    )
    assert (streamed.status_code, streamed.json()["error"]["code"]) == (413, "too_large")
    # kept with the reason; the body only as far as it arrived before the overflowing
    # chunk (the test client sends it all at once, so nothing), at most the first 4 KiB
    [kept] = mon.engine.rejected_messages()
    assert (kept.source, kept.field) == ("monitoring:alertmanager", "body")
    assert kept.reason.startswith("request body over 4,194,304 bytes") and len(kept.body) <= 4096


def test_a_thousand_alerts_in_one_post(mon: Desk) -> None:
    alerts = [firing(f"fp{i:04d}", "2024-03-04T08:58:00Z", shard=str(i)) for i in range(1_000)]
    body = group(*alerts)
    response = post_am(mon, body)
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert (answer["recorded"], answer["refused"]) == (1_000, 0)
    assert answer["results"][-1]["number"] == "INC-001000"
    assert post_am(mon, body).json()["duplicates"] == 1_000


class DownBus:
    """The bus when the broker does not acknowledge (the Kafka bus raises exactly this)."""

    def submit(self, commands: Sequence[Command], **kw: Any) -> list[Receipt]:
        raise BusUnavailable("Kafka did not acknowledge")

    def set_aside(self, **kw: Any) -> None:
        raise BusUnavailable("Kafka did not acknowledge")

    def close(self) -> None:
        pass


def test_unavailable_bus_answers_503_with_retry_after(tmp_path: Path, clock: FixedClock) -> None:
    for desk in make_desk(Settings(db_path=str(tmp_path / "e.db")), clock, bus=DownBus()):
        mount_adapters(desk.app, [MonitoringAdapter(MONITORING)])
        response = post_am(desk, group(firing("aaaa", "2024-03-04T08:58:00Z")))
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert desk.engine.last_number(RecordKind.INCIDENT) == 0


# -- hypothesis: mutated real payloads never answer 5xx ---------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.text(min_size=5_000, max_size=20_000),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(["alertmanager", "grafana", "pagerduty"]))
    body = copy.deepcopy(payload(name))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            parent[path[-1]] = draw(JSON_VALUES)
        elif isinstance(parent, dict):
            del parent[path[-1]]
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "utf-32-le", "latin-1", "raw"]))
    if encoding == "raw":
        return name, draw(st.binary(max_size=200))
    return name, text.encode(encoding, "replace")


PATHS = {"alertmanager": "alertmanager", "grafana": "grafana", "pagerduty": "v2/enqueue"}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated(), surrogate=st.booleans())
def test_mutated_payloads_never_answer_5xx(
    mon: Desk, case: tuple[str, bytes], surrogate: bool
) -> None:
    name, body = case
    if surrogate:
        body = body.replace(b'"firing"', b'"\\ud800"', 1).replace(b'"critical"', b'"\\udfff"', 1)
    headers = {"Content-Type": "application/json"}
    if name == "grafana":
        headers["X-Opsledger-Signature"] = sign(GRAFANA_SECRET, body)
    else:
        headers |= AM if name == "alertmanager" else PD
    response = mon.client.post(f"/hooks/monitoring/{PATHS[name]}", content=body, headers=headers)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in ("invalid_input", "unsupported_media_type")


def test_plugin_contributes_the_adapter_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsledger.adapters.monitoring import plugin
    from opsledger.plugins.manager import build_manager

    monkeypatch.delenv("OPSLEDGER_MONITORING_ENABLED", raising=False)
    monkeypatch.delenv("OPSLEDGER_MONITORING_CONFIG", raising=False)
    assert plugin.opsledger_adapters() == []
    monkeypatch.setenv("OPSLEDGER_MONITORING_ENABLED", "1")
    monkeypatch.setenv("OPSLEDGER_MONITORING_ALERTMANAGER_TOKEN", AM_TOKEN)
    pm = build_manager()  # finds the plugin through its entry point
    assert pm.get_plugin("monitoring") is not None
    [adapters] = [a for a in pm.hook.opsledger_adapters() if a]
    assert [a.name for a in adapters] == ["monitoring"]
    assert adapters[0].settings.auth("alertmanager").token == AM_TOKEN


def test_an_instance_label_finds_the_ci_registered_under_its_host(mon: Desk) -> None:
    db1 = mon.engine.register_ci("server", "db-1").number
    response = post_am(mon, group(firing("cccc", "2024-03-04T08:58:00Z", instance="db-1:9100")))
    assert response.status_code == 200, response.text
    ticket = mon.engine.get(response.json()["results"][0]["number"])
    # 'db-1:9100' names no CI; its host 'db-1' does
    assert ticket["ci"] == db1


def test_a_service_label_names_the_ci_when_no_host_does(mon: Desk) -> None:
    checkout = mon.engine.register_ci("application", "checkout").number
    alert = firing("dddd", "2024-03-04T08:58:00Z", instance="10.0.0.7:9100", service="checkout")
    response = post_am(mon, group(alert))
    ticket = mon.engine.get(response.json()["results"][0]["number"])
    assert (ticket["ci"], ticket["service"]) == (checkout, "checkout")
