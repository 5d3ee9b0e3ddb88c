"""The JIRA adapter as an ordinary plugin: webhooks in, sync out, ``opsledger jira reconcile``.

Registered through the ``opsledger`` entry-point group like any third-party plugin
(``jira = "opsledger.adapters.jira.plugin"``). It contributes nothing unless
``OPSLEDGER_JIRA_ENABLED`` (or ``enabled`` in the ``OPSLEDGER_JIRA_CONFIG`` file) says so.
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import TYPE_CHECKING, Any

from opsledger.adapters.jira.receiver import JiraReceiver
from opsledger.adapters.jira.settings import JiraSettings
from opsledger.adapters.jira.sync import JiraSync
from opsledger.core.domain.errors import InputError
from opsledger.plugins import hookimpl

if TYPE_CHECKING:
    from opsledger.adapters.kafka.bus import CommandBus
    from opsledger.core.settings import Settings
    from opsledger.plugins.context import HostContext

log = logging.getLogger(__name__)


class JiraAdapter:
    """Webhook routes, and the sync thread performing what the event hook queued."""

    name = "jira"

    def __init__(self, settings: JiraSettings, sync: JiraSync) -> None:
        self.settings = settings
        self.sync = sync
        self.receiver = JiraReceiver(settings)
        self.routes = self.receiver.routes
        self._context: HostContext | None = None

    def bind(self, context: HostContext) -> None:
        self._context = context

    def start(self, bus: CommandBus) -> None:
        self.receiver.bus = bus
        if self._context is None:
            raise InputError("jira", "the JIRA sync needs the host's context (bind) to run")
        self.sync.start(bus, self._context)

    def stop(self) -> None:
        self.sync.stop()
        self.receiver.bus = None


_lock = threading.Lock()
_state: dict[str, Any] = {}


def configured() -> JiraSettings:
    """``JiraSettings.from_env()`` and its sync, built once per process."""
    found = _state.get("settings")  # read without the lock: asked for every recorded event
    if isinstance(found, JiraSettings):
        return found
    with _lock:
        if "settings" not in _state:
            settings = JiraSettings.from_env()
            _state["sync"] = JiraSync(settings)  # first: whoever sees the settings finds it
            _state["settings"] = settings
        kept: JiraSettings = _state["settings"]
        return kept


def _sync() -> JiraSync:
    configured()
    found: JiraSync = _state["sync"]
    return found


def opsledger_reacts() -> bool:
    """Whether this plugin reacts to events at all (the host skips it when not)."""
    try:
        return configured().enabled
    except InputError:
        return False


@hookimpl
def opsledger_adapters() -> list[JiraAdapter]:
    settings = configured()
    return [JiraAdapter(settings, _sync())] if settings.enabled else []


@hookimpl
def opsledger_event_recorded(event: Any, record: Any, context: Any) -> None:
    if configured().enabled:
        _sync().react(event, record, context)


@hookimpl
def opsledger_cli_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    jira = subparsers.add_parser("jira", help="JIRA sync: reconcile linked pairs")
    verbs = jira.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("reconcile", help="compare every linked ticket and issue; repair drift")
    run.add_argument("--dry-run", action="store_true", help="say what differs, change nothing")
    run.set_defaults(run=_reconcile)


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from opsledger.adapters.jira.reconcile import reconcile

    from opsledger.facade import Engine

    jira = configured()
    if not jira.enabled:
        print("the JIRA adapter is not enabled (OPSLEDGER_JIRA_ENABLED, OPSLEDGER_JIRA_CONFIG)")
        return 2
    with Engine(settings) as engine:
        repairs = reconcile(engine, jira, _sync(), dry_run=args.dry_run)
    for repair in repairs:
        print(repair.line())
    verb = "would repair" if args.dry_run else "repaired"
    print(f"{len(repairs)} difference(s); {verb} as shown")
    return 0
