"""Plugin fixtures: the worked example package, importable as an installed plugin would be."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).parent / "example_plugin"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``opsledger_example`` with its pager log emptied (it is module state, like a real one)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import opsledger_example

    opsledger_example.PAGED.clear()
    return opsledger_example


@pytest.fixture
def installed_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The example as pip would leave it: a dist-info with its ``opsledger`` entry point.

    Written to a temporary ``sys.path`` entry rather than pip-installed, so the shared
    environment (and every other test's plugin manager) never sees it.
    """
    info = tmp_path / "opsledger_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: opsledger-example\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[opsledger]\nexample = opsledger_example\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return info
