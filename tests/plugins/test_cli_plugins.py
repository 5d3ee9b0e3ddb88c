"""``opsledger plugins list|dead-letters|retry``, on a parser built as the CLI builds its own."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from opsledger.plugins import hookimpl
from opsledger.plugins.manager import build_manager

from opsledger import Engine, FixedClock, Settings
from opsledger.cli_plugins import add_parsers


def run(capsys: pytest.CaptureFixture[str], settings: Settings, *argv: str) -> tuple[int, Any]:
    parser = argparse.ArgumentParser(prog="opsledger")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--format", choices=("table", "json"), default="table")
    nouns = parser.add_subparsers(dest="noun", required=True)
    add_parsers(nouns, [out, argparse.ArgumentParser(add_help=False)], open_engine)
    args = parser.parse_args(list(argv))
    code = args.run(args, settings)
    text = capsys.readouterr().out
    return code, json.loads(text) if "--format" in argv else text


def open_engine(settings: Settings, *, must_exist: bool = False) -> Engine:
    return Engine(settings)


class Pager:
    broken = True

    @hookimpl
    def opsledger_event_recorded(self, event: Any) -> None:
        if self.broken and type(event).__name__ == "Opened":
            raise RuntimeError("pager down")


def test_plugins_list_shows_the_builtin_and_where_it_came_from(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = Settings(db_path=str(tmp_path / "x.db"))
    code, rows = run(capsys, settings, "plugins", "list", "--format", "json")
    assert code == 0
    [builtin] = [r for r in rows if r["name"] == "builtin"]
    assert (builtin["module"], builtin["distribution"]) == (
        "opsledger.plugins.builtin",
        "opsledger",
    )
    code, table = run(capsys, settings, "plugins", "list")
    [line] = [t for t in table.splitlines() if t.startswith("builtin ")]
    assert line.split()[:4] == ["builtin", "opsledger.plugins.builtin", "opsledger", "0.1.0"]


def test_dead_letters_are_listed_and_retry_reports_what_is_left(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(db_path=str(tmp_path / "x.db"))
    pm = build_manager()
    pm.register(Pager(), name="pager")
    with Engine(settings, clock=clock, plugins=pm) as engine:
        engine.open_incident("db down", actor="ana")
    code, letters = run(capsys, settings, "plugins", "dead-letters", "--format", "json")
    assert [(d["plugin"], d["topic"].rpartition(".")[2], d["attempts"]) for d in letters] == [
        ("pager", "Opened", 1)
    ]
    # The CLI's engine has no "pager" plugin loaded: the retry cannot deliver, exit 1.
    code, report = run(capsys, settings, "plugins", "retry", "--format", "json")
    assert (code, report) == (1, {"retried": 1, "succeeded": 0, "still_failing": 1})


def test_a_plugin_adds_its_own_cli_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Hello:
        @hookimpl
        def opsledger_cli_commands(self, subparsers: Any) -> None:
            hello = subparsers.add_parser("hello")
            hello.add_argument("name")
            hello.set_defaults(run=lambda args, settings: print(f"hello {args.name}") or 0)

    def with_hello() -> Any:
        pm = build_manager()
        pm.register(Hello())
        return pm

    monkeypatch.setattr("opsledger.cli_plugins.build_manager", with_hello)
    code, text = run(capsys, Settings(db_path=str(tmp_path / "x.db")), "hello", "desk")
    assert (code, text) == (0, "hello desk\n")
