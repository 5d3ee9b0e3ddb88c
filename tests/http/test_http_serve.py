"""``opsledger serve`` as a real process: it answers, serializes concurrent writers, stops clean."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from opsledger.core.domain.records import RecordKind

from opsledger import Engine, Settings
from opsledger.cli import main
from tests.http.desk import Served, serve_process


@pytest.fixture
def served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Served]:
    db = tmp_path / "served.db"
    assert (
        main(["--db", str(db), "api-token", "create", "--name", "tester", "--role", "agent"]) == 0
    )
    token = capsys.readouterr().out.strip()
    with serve_process(db, token, "--tick-interval", "0.2") as served:
        yield served


def test_serve_answers_and_stops_cleanly_on_sigterm(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert client.get("/api/v1/queue").status_code == 401
        auth = {"Authorization": f"Bearer {served.token}"}
        opened = client.post("/api/v1/incidents", json={"summary": "served"}, headers=auth)
        assert opened.status_code == 201, opened.text
        queue_ = client.get("/api/v1/queue", headers=auth).json()
        assert [e["number"] for e in queue_] == [opened.json()["number"]]
    served.process.send_signal(signal.SIGTERM)
    out, err = served.process.communicate(timeout=20)
    assert served.process.returncode == 0, err
    stats = json.loads(out)["serve"]
    assert stats["ticks"] >= 1 and stats["failures"] == 0


def test_concurrent_writers_are_serialized(served: Served) -> None:
    """8 clients open 10 incidents each at once: 80 recorded, numbered without gaps."""
    auth = {"Authorization": f"Bearer {served.token}"}

    def open_ten(worker: int) -> list[str]:
        numbers = []
        with httpx.Client(base_url=served.url, timeout=30, headers=auth) as client:
            for i in range(10):
                response = client.post("/api/v1/incidents", json={"summary": f"w{worker}-{i}"})
                assert response.status_code == 201, response.text
                numbers.append(response.json()["number"])
                assert client.get("/api/v1/queue").status_code == 200  # reads alongside
        return numbers

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        numbers = [n for batch in pool.map(open_ten, range(8)) for n in batch]
    elapsed = time.perf_counter() - started
    assert sorted(numbers) == [f"INC-{i:06d}" for i in range(1, 81)]
    served.process.send_signal(signal.SIGINT)  # Ctrl-C stops it the same way
    served.process.communicate(timeout=20)
    assert served.process.returncode == 0
    with Engine(Settings(db_path=str(served.db))) as engine:
        assert engine.last_number(RecordKind.INCIDENT) == 80
        assert engine.verify_chain().ok
    print(f"80 opens + 80 queue reads from 8 clients: {elapsed:.2f}s")


def test_serve_refuses_a_taken_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--db", str(tmp_path / "x.db"), "serve", "--port", str(port)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
