"""Fixtures for the dashboard: a demo database, the router served by uvicorn, headless Chromium.

The browser is Debian's ``chromium`` driven through ``chromium-driver`` by Selenium. Without
them the browser tests skip with the reason outside CI and fail inside it (``CI=true``).
Screenshots go to ``$OPSLEDGER_ARTIFACTS`` (default: a pytest temporary directory); the path
is printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from opsledger.adapters.http.dashboard import dashboard_router
from opsledger.projections.service import Projections

from opsledger import Engine, FixedClock, Settings
from opsledger.cli import main

CHROMIUM = os.environ.get("OPSLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("OPSLEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")
DEMO_MONTH = "2025-05"
#: "Now" for the demo dashboard: Monday 2 June 2025, 14:00 in Amsterdam (the demo desk's
#: office hours), the first working day after the demo month: the clocks the month left
#: running have moved on, so the queue has breached, at-risk and on-track rows, and office
#: hours countdowns tick.
DEMO_NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

_artifacts: list[Path] = []


def in_ci() -> bool:
    """As tests/conftest.py decides it (a conftest is not importable from another)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for path in _artifacts:
        terminalreporter.write_line(f"dashboard screenshots: {path}")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are saved: ``$OPSLEDGER_ARTIFACTS`` or a pytest temporary dir."""
    chosen = os.environ.get("OPSLEDGER_ARTIFACTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("dashboard-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    _artifacts.append(path)
    print(f"dashboard screenshots: {path}")
    return path


# -- serving ---------------------------------------------------------------------------------


def app_for(engine: Engine, projections: Projections, dependencies: Sequence[Any] = ()) -> FastAPI:
    app = FastAPI()
    app.include_router(
        dashboard_router(engine=engine, projections=projections, dependencies=dependencies)
    )
    return app


@contextlib.contextmanager
def serve(app: FastAPI, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port} within {timeout} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


# -- the demo --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``opsledger demo`` for May 2025, once per session; its JSON summary plus ``db``."""
    db = tmp_path_factory.mktemp("dashboard-demo") / "demo.db"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--db", str(db), "--month", DEMO_MONTH, "--quiet", "--format", "json"])
    assert code == 0, out.getvalue()
    return {**json.loads(out.getvalue()), "db": db}


@pytest.fixture(scope="session")
def demo_engine(demo: dict[str, Any]) -> Iterator[Engine]:
    engine = Engine(Settings(db_path=str(demo["db"])), clock=FixedClock(DEMO_NOW))
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def demo_projections(demo_engine: Engine) -> Iterator[Projections]:
    with Projections(demo_engine) as projections:
        projections.catch_up()
        yield projections


@pytest.fixture(scope="session")
def demo_now() -> datetime:
    return DEMO_NOW


@pytest.fixture(scope="session")
def dashboard() -> Callable[[Engine, Projections], contextlib.AbstractContextManager[str]]:
    """Serve the dashboard of an engine: ``with dashboard(engine, projections) as url``."""
    return lambda engine, projections: serve(app_for(engine, projections))


@pytest.fixture(scope="session")
def demo_url(demo_engine: Engine, demo_projections: Projections) -> Iterator[str]:
    with serve(app_for(demo_engine, demo_projections)) as url:
        yield url


# -- the browser -----------------------------------------------------------------------------


def _missing_browser() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)) and not shutil.which(path):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver; skips (fails in CI) when it is not installed."""
    missing = _missing_browser()
    if missing is not None:
        if in_ci():
            pytest.fail(f"{missing}; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--lang=en-GB",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(
    browser: Any, artifacts: Path, request: pytest.FixtureRequest
) -> Callable[[str], Path]:
    """Save the whole page (not just the window) as ``<test>-<name>.png``."""

    def take(name: str) -> Path:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, max(1000, min(int(height) + 40, 12000)))
        path = artifacts / f"{request.node.name}-{name}.png"
        assert browser.save_screenshot(str(path)), f"screenshot {path} not written"
        browser.set_window_size(1400, 1000)
        return path

    return take
