"""A real Prometheus Alertmanager on loopback, for the monitoring adapter's end-to-end tests.

Debian's ``prometheus-alertmanager`` (0.25) runs as a plain process: its own storage path,
clustering off (``--cluster.listen-address=`` empty, or it binds 0.0.0.0:9094 and holds the
first notification about 10 s while the cluster settles), a free loopback port, and quick
grouping so that a posted alert is notified about ``group_wait`` later. Without the binary
the caller skips with the reason outside CI and fails inside it (``CI=true``).

Routing: every alert goes to the webhook receiver, except alerts labelled
``via="pagerduty"`` (:data:`PAGERDUTY_ROUTE`), which go to the PagerDuty Events v2 receiver
when ``pagerduty_url`` is given. That keeps one alert from opening an incident twice.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from opsledger.adapters.kafka.devbroker import free_port, stop_process, tail

from tests.peers import find_binary, require_binary

DEFAULT_BINARY = "/usr/bin/prometheus-alertmanager"
READY_TIMEOUT_S = 15.0
#: The label (name, value) that sends an alert to the PagerDuty receiver instead of the webhook.
PAGERDUTY_ROUTE = ("via", "pagerduty")
#: A made-up Events v2 integration key (32 hex digits, like a real one).
DEFAULT_ROUTING_KEY = "0123456789abcdef0123456789abcdef"


class AlertmanagerUnavailable(RuntimeError):
    """Alertmanager could not be started or did not become ready; the message says why."""


def alertmanager_binary() -> str | None:
    """``$OPSLEDGER_ALERTMANAGER_BIN``, Debian's path, or the first one on PATH; None if none."""
    return find_binary("OPSLEDGER_ALERTMANAGER_BIN", DEFAULT_BINARY, "prometheus-alertmanager")


def require_alertmanager() -> str:
    """The binary's path; skip outside CI, fail inside it, when it is not installed."""
    return require_binary(
        "OPSLEDGER_ALERTMANAGER_BIN",
        DEFAULT_BINARY,
        "prometheus-alertmanager",
        "prometheus-alertmanager",
    )


def _http_config(bearer_token: str | None) -> dict[str, Any]:
    if bearer_token is None:
        return {}
    return {"http_config": {"authorization": {"type": "Bearer", "credentials": bearer_token}}}


def alertmanager_config(
    *,
    webhook_url: str,
    pagerduty_url: str | None = None,
    bearer_token: str | None = None,
    pagerduty_bearer_token: str | None = None,
    routing_key: str = DEFAULT_ROUTING_KEY,
    group_by: Sequence[str] = ("alertname",),
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> dict[str, Any]:
    """The configuration file's content (JSON is YAML, so no YAML library is needed)."""
    webhook = {"url": webhook_url, "send_resolved": True, "max_alerts": 0}
    receivers: list[dict[str, Any]] = [
        {"name": "webhook", "webhook_configs": [webhook | _http_config(bearer_token)]}
    ]
    route: dict[str, Any] = {
        "receiver": "webhook",
        "group_by": list(group_by),
        "group_wait": group_wait,
        "group_interval": group_interval,
        "repeat_interval": repeat_interval,
    }
    if pagerduty_url is not None:
        token = bearer_token if pagerduty_bearer_token is None else pagerduty_bearer_token
        pagerduty = {"url": pagerduty_url, "routing_key": routing_key, "send_resolved": True}
        receivers.append(
            {"name": "pagerduty", "pagerduty_configs": [pagerduty | _http_config(token)]}
        )
        name, value = PAGERDUTY_ROUTE
        route["routes"] = [{"receiver": "pagerduty", "matchers": [f'{name}="{value}"']}]
    return {"route": route, "receivers": receivers}


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Alertmanager needs an offset")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class AlertmanagerProcess:
    """A running Alertmanager; use as a context manager, or call :meth:`stop`."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, workdir: Path) -> None:
        self.proc = proc
        #: Base URL, e.g. ``http://127.0.0.1:40123`` (no trailing slash).
        self.url = url
        self.workdir = workdir
        self.log = workdir / "alertmanager.log"

    def _request(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise AssertionError(f"{method} {path} answered {e.code}: {detail}") from e
        return json.loads(raw) if raw.strip() else None

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``: labels, annotations, startsAt, endsAt, generatorURL.

        Datetimes (timezone-aware) are sent as RFC 3339. An alert whose ``endsAt`` is in the
        past is resolved; ``send_resolved`` then notifies within the next group interval.
        """
        body = json.dumps(list(alerts), default=_json_default).encode()
        self._request("POST", "/api/v2/alerts", body)

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: what Alertmanager holds now (fingerprints, status)."""
        found: list[dict[str, Any]] = self._request("GET", "/api/v2/alerts")
        return found

    def version(self) -> str:
        """The running version, e.g. ``0.25.0``, from ``GET /api/v2/status``."""
        status = self._request("GET", "/api/v2/status")
        return str(status["versionInfo"]["version"])

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=0.5) as response:
                return bool(response.status == 200)
        except OSError:  # refused while starting; URLError and HTTPError are OSErrors
            return False

    def wait_until_ready(self, timeout_s: float = READY_TIMEOUT_S) -> str | None:
        """Poll ``/-/ready``; None when ready, else why not (exited, or timed out)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"alertmanager exited with code {self.proc.returncode}"
            if self.ready():
                return None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.05)  # the pause between polls doubles as an exit check
        return f"/-/ready did not answer 200 within {timeout_s:.0f} s"

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> AlertmanagerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_alertmanager(
    tmp_path: Path,
    *,
    webhook_url: str,
    pagerduty_url: str | None = None,
    bearer_token: str | None = None,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    pagerduty_bearer_token: str | None = None,
    routing_key: str = DEFAULT_ROUTING_KEY,
    group_by: Sequence[str] = ("alertname",),
) -> AlertmanagerProcess:
    """Start Alertmanager sending to ``webhook_url`` (and ``pagerduty_url``); ready on return.

    ``bearer_token`` goes to both receivers unless ``pagerduty_bearer_token`` is given (the
    opsledger receivers authenticate each source with its own token). Skips (fails in CI)
    when the binary is missing; raises :class:`AlertmanagerUnavailable` when it will not
    start. A port taken between choosing and binding is retried.
    """
    binary = require_alertmanager()
    config = alertmanager_config(
        webhook_url=webhook_url,
        pagerduty_url=pagerduty_url,
        bearer_token=bearer_token,
        pagerduty_bearer_token=pagerduty_bearer_token,
        routing_key=routing_key,
        group_by=group_by,
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
    )
    why, log = "not started", tmp_path / "alertmanager.log"
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        workdir = tmp_path / f"alertmanager-{port}"
        workdir.mkdir(parents=True)
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(json.dumps(config, indent=2))
        log = workdir / "alertmanager.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--web.external-url={url}",
                    "--cluster.listen-address=",
                    "--log.level=debug",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        am = AlertmanagerProcess(proc, url, workdir)
        answer = am.wait_until_ready()
        if answer is None:
            return am
        why = answer
        am.stop()
        if "address already in use" not in log.read_text(errors="replace"):
            break
    raise AlertmanagerUnavailable(f"alertmanager did not start ({why}); log {log}:\n{tail(log)}")
