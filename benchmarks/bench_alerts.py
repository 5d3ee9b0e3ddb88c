"""Alertmanager alerts per second through ``opsledger serve``, against the engine alone.

Groups of 50 alerts POSTed over one keep-alive HTTP connection to a real ``opsledger serve``
process (embedded mode, SQLite, monitoring receivers enabled by its environment with a bearer
token) on loopback; the baseline, in the same run, sends the same alerts as ``IngestInbound``
commands straight to an ``Engine`` on a fresh SQLite file, ``execute_batch`` of one group at a
time, as the receiver does. The sides alternate by rounds. See README.md here. Last line: one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from opsledger.adapters.monitoring.mapping import commands_for
from opsledger.adapters.monitoring.settings import MonitoringSettings
from opsledger.core.batch import Rejected
from opsledger.core.commands import IngestInbound

from opsledger import Engine, Settings

TOKEN = "bench-alertmanager-token"
SERVICES = ("payments", "checkout", "search", "identity", "billing", "ledger", "mail", "edge")
#: (alertname, severity, summary template): what a platform team's rules look like
RULES = (
    ("DiskAlmostFull", "critical", "Disk /var almost full on {host}"),
    ("HighLatencyP99", "warning", "p99 latency above 800 ms on {host}"),
    ("InstanceDown", "critical", "{host} has been unreachable for 2 minutes"),
    ("HighErrorRate", "error", "5xx above 2 % on {host}"),
    ("CertificateExpiring", "info", "TLS certificate on {host} expires in 14 days"),
)


# -- the load --------------------------------------------------------------------------------


def alert_groups(tag: str, groups: int, size: int, now: datetime) -> list[dict[str, Any]]:
    """Alertmanager v4 webhooks of ``size`` firing alerts each, every alert distinct
    (fingerprint, labels), started 30 to 60 s before ``now`` (Alertmanager's group_wait):
    recent enough that no SLA clock of theirs falls due while the benchmark runs, so the
    server's SLA scheduler has nothing to fire that the baseline does not."""
    out: list[dict[str, Any]] = []
    for g in range(groups):
        name, severity, summary = RULES[g % len(RULES)]
        alerts = []
        for a in range(size):
            n = g * size + a
            host = f"{tag}-node-{n:05d}"
            service = SERVICES[n % len(SERVICES)]
            labels = {
                "alertname": name,
                "instance": f"{host}:9100",
                "job": "node",
                "service": service,
                "severity": severity,
            }
            fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()
            starts = now - timedelta(seconds=30 + n % 30, microseconds=n % 997)
            alerts.append(
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {
                        "summary": summary.format(host=host),
                        "description": f"{name} on {host} ({service})",
                        "runbook_url": f"https://runbooks.example.org/{name.lower()}",
                    },
                    "startsAt": starts.isoformat().replace("+00:00", "Z"),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": f"http://prometheus.example.org:9090/graph?g0.expr={name}",
                    "fingerprint": fingerprint[:16],
                }
            )
        out.append(
            {
                "version": "4",
                "groupKey": f'{{}}:{{alertname="{name}", batch="{tag}-{g}"}}',
                "truncatedAlerts": 0,
                "status": "firing",
                "receiver": "opsledger",
                "groupLabels": {"alertname": name},
                "commonLabels": {"alertname": name, "job": "node", "severity": severity},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.example.org:9093",
                "alerts": alerts,
            }
        )
    return out


# -- the server ------------------------------------------------------------------------------


@contextmanager
def serving(db: Path, log: Path) -> Iterator[str]:
    """``opsledger serve`` on a free loopback port with the Alertmanager receiver enabled;
    yields its base URL once it listens, and stops it with SIGTERM afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    env |= {
        "OPSLEDGER_MONITORING_ENABLED": "1",
        "OPSLEDGER_MONITORING_ALERTMANAGER_TOKEN": TOKEN,
    }
    argv = [
        sys.executable, "-m", "opsledger", "serve", "--db", str(db),
        "--host", "127.0.0.1", "--port", "0", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield _wait_for_url(proc, log, timeout_s=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_url(proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "serving http://" in line:
                return line.split("serving ", 1)[1].split()[0]
        if proc.poll() is not None:
            raise RuntimeError(f"opsledger serve exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    raise TimeoutError(f"opsledger serve did not listen within {timeout_s} s")


# -- the two sides ---------------------------------------------------------------------------


def post_groups(client: httpx.Client, groups: list[dict[str, Any]]) -> tuple[float, list[float]]:
    """POST each group in turn; (seconds for all, milliseconds per POST). Every alert must
    come back recorded: in the embedded mode the 200 is sent after the commit."""
    bodies = [json.dumps(g).encode() for g in groups]  # encoding is the sender's, not timed
    latencies: list[float] = []
    start = time.perf_counter()
    for body, group in zip(bodies, groups, strict=True):
        sent = time.perf_counter()
        response = client.post("/hooks/monitoring/alertmanager", content=body)
        latencies.append((time.perf_counter() - sent) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
        answer = response.json()
        if answer["recorded"] != len(group["alerts"]) or answer["refused"]:
            raise RuntimeError(f"not every alert was recorded: {answer}")
    return time.perf_counter() - start, latencies


def execute_groups(engine: Engine, batches: list[list[IngestInbound]]) -> float:
    """``execute_batch`` of each group's commands, as the receiver's bus does; seconds."""
    start = time.perf_counter()
    for commands in batches:
        results = engine.execute_batch(commands, from_outside=True)
        if any(isinstance(r, Rejected) or r.duplicate for r in results):
            raise RuntimeError(f"a command was not recorded: {results}")
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=6000, help="per side and round")
    parser.add_argument("--group", type=int, default=50, help="alerts per POST / batch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=5, help="groups per side before timing")
    args = parser.parse_args()
    if args.alerts < args.group or args.group < 1 or args.rounds < 1:
        parser.error("--alerts must be at least --group, and both and --rounds at least 1")
    per_round = args.alerts // args.group
    settings = MonitoringSettings(enabled=True)

    def load(tag: str, groups: int) -> tuple[list[dict[str, Any]], list[list[IngestInbound]]]:
        """Fresh alerts for one round, and the baseline's commands built from them as the
        receiver builds them (parse + map; receipt instant from the engine's clock when
        it runs); building them is left out of the baseline's timing."""
        payloads = alert_groups(tag, groups, args.group, datetime.now(UTC))
        return payloads, [commands_for("alertmanager", g, settings) for g in payloads]

    http_rates: list[float] = []
    direct_rates: list[float] = []
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        engine = Engine(Settings(db_path=str(base / "direct.db")))
        with (
            serving(base / "serve.db", base / "serve.log") as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}",
                                       "Content-Type": "application/json"}, timeout=120,
            ) as client,
        ):  # fmt: skip
            print(f"opsledger serve at {url}; {args.rounds} rounds of {per_round} groups "
                  f"of {args.group} alerts per side", flush=True)  # fmt: skip
            warm, warm_commands = load("warm", args.warmup)
            post_groups(client, warm)
            execute_groups(engine, warm_commands)
            for r in range(args.rounds):
                groups, batches = load(f"r{r}", per_round)
                alerts = len(groups) * args.group
                sides = ["http", "direct"] if r % 2 == 0 else ["direct", "http"]
                for side in sides:
                    if side == "http":
                        seconds, lat = post_groups(client, groups)
                        http_rates.append(alerts / seconds)
                        latencies += lat
                    else:
                        seconds = execute_groups(engine, batches)
                        direct_rates.append(alerts / seconds)
                print(
                    f"round {r} ({' then '.join(sides)}): HTTP {http_rates[-1]:,.0f} alerts/s, "
                    f"engine {direct_rates[-1]:,.0f} commands/s, "
                    f"ratio {http_rates[-1] / direct_rates[-1]:.2f}",
                    flush=True,
                )
        engine.close()
    figures = {
        "alerts_per_s": round(statistics.median(http_rates)),
        "commands_per_s_direct": round(statistics.median(direct_rates)),
        "ratio": round(
            statistics.median(h / d for h, d in zip(http_rates, direct_rates, strict=True)), 3
        ),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "posts": len(latencies),
        "group": args.group,
        "alerts": args.alerts,
        "rounds": args.rounds,
    }
    print(
        f"POST of {args.group} alerts to incidents recorded (the 200 follows the commit): "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms over {len(latencies)} POSTs; "
        f"ratio {figures['ratio']} (goal >= 0.5)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
