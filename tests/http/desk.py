"""The HTTP app over a fresh store, with a token of each role: what the HTTP tests drive."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Starlette's TestClient wants httpx2 some day; httpx is what this project installs.
warnings.filterwarnings("ignore", message=".*install `httpx2`.*")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from opsledger.adapters.http.app import create_app  # noqa: E402
from opsledger.adapters.http.tokens import Role, TokenStore  # noqa: E402

from opsledger import Engine, FixedClock, Settings  # noqa: E402

ROLES = [r.value for r in Role]


@dataclass
class Desk:
    """An engine, its app, a client, and one token per role (``desk.as_("agent")``)."""

    engine: Engine
    clock: FixedClock
    app: FastAPI
    client: TestClient
    tokens: TokenStore
    secrets: dict[str, str] = field(default_factory=dict)

    def as_(self, role: str) -> dict[str, str]:
        """Headers authenticating as the token of ``role``."""
        return {"Authorization": f"Bearer {self.secrets[role]}"}

    def post(self, path: str, body: Any = None, role: str = "agent", **kw: Any) -> Any:
        headers = self.as_(role) | kw.pop("headers", {})
        return self.client.post(path, json=body, headers=headers, **kw)

    def get(self, path: str, role: str = "agent", **kw: Any) -> Any:
        headers = self.as_(role) | kw.pop("headers", {})
        return self.client.get(path, headers=headers, **kw)

    def open_incident(self, summary: str = "Checkout returns 502", **fields: Any) -> str:
        response = self.post("/api/v1/incidents", {"summary": summary, **fields})
        assert response.status_code == 201, response.text
        return str(response.json()["number"])


def make_desk(settings: Settings, clock: FixedClock, **app_options: Any) -> Iterator[Desk]:
    engine = Engine(settings, clock=clock)
    tokens = TokenStore.for_settings(settings)
    app = create_app(engine, tokens=tokens, **app_options)
    desk = Desk(engine, clock, app, TestClient(app), tokens)
    for role in ROLES:
        desk.secrets[role] = tokens.create(f"{role}-1", role, at=clock.now()).secret
    with desk.client:
        yield desk
    tokens.close()
    engine.close()


# -- `opsledger serve` as a process ----------------------------------------------------------

READY = re.compile(r"serving (http://\S+?) \(")


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    token: str
    db: Path


@contextmanager
def serve_process(
    db: Path, token: str, *flags: str, env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """``opsledger serve --db DB --port 0 FLAGS`` until it prints where it listens; killed
    afterwards if the test did not stop it."""
    environ = {**os.environ, "OPSLEDGER_ACTOR": "tester", **(env or {})}
    environ.pop("OPSLEDGER_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "opsledger", "serve", "--db", str(db), "--port", "0",
         "--log-level", "warning", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=db.parent, env=environ,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True).start()
    url, seen = None, []
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline and process.poll() is None:
        try:
            seen.append(lines.get(timeout=0.2))
        except queue.Empty:
            continue
        match = READY.search(seen[-1])
        url = match.group(1) if match else None
    try:
        if url is None:
            raise AssertionError(f"serve did not start: {''.join(seen)}")
        yield Served(process, url, token, db)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)
