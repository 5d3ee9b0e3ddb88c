"""The integrator's whole contract: every opsledger hook, what it is given and what it returns.

Implement a hook with ``@opsledger.plugins.hookimpl`` on a module-level function or a method
of an object you register; pluggy matches implementations to these specifications by name and
lets an implementation accept any subset of the arguments. Plugins are found through the
entry-point group ``opsledger`` (see ``docs/plugins.md``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy
from opsledger.core.domain.priority import PriorityMatrix

PROJECT = "opsledger"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def opsledger_classify(item: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Classify an inbound item (an alert, an e-mail, a JIRA issue) that opens a new ticket.

    Called by the engine inside an ``IngestInbound`` command (the generic inbound event,
    docs/inbound.md), only when that command opens a new ticket: not for a repeat, a reopen,
    an acknowledge, a resolve or an update. Adapters do not call it; they only translate.

    :param item: the inbound command as JSON-native data, a copy: ``source``,
        ``external_id``, ``kind``, ``summary``, ``description``, ``impact``, ``urgency``,
        ``service``, ``ci``, ``ci_names`` (names the engine will look a CI up by when no
        ``ci`` is given), ``reporter``, ``customer``, ``details`` (the source's labels,
        annotations and links, as it sent them) and ``occurred_at`` (ISO 8601 text or
        ``None``).
    :return: a mapping with any of ``kind`` (incident, service_request or problem),
        ``service``, ``ci`` (a registered configuration item's number), ``impact`` and
        ``urgency`` (high, medium, low): text values that win over the adapter's, a ``None``
        value meaning no opinion. Or ``None`` to let the next plugin decide.

    First result wins. A classifier that raises is skipped with a warning and the next one
    answers (with none, the adapter's values stand). Keys of the winning answer that are
    unknown or invalid are dropped with a warning naming the plugin; the command goes on.
    """
    raise NotImplementedError  # pragma: no cover (specification only)


@hookspec(firstresult=True)
def opsledger_route(ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """Choose the assignment group (and optionally the assignee) of a ticket being opened.

    Called by the engine while it opens a ticket that names no group, inside the command,
    before anything is saved.

    :param ticket: the new ticket as ``engine.get`` shows it (``number``, ``kind``,
        ``service``, ``ci``, ``priority``, ...).
    :return: ``(group, assignee_or_None)``, or ``None`` to let the next plugin decide.

    First result wins. The built-in router (by service map) answers last. A router that
    raises is skipped with a warning (logged and kept in the plugin warning store); the
    command never fails because of it.
    """
    raise NotImplementedError  # pragma: no cover (specification only)


@hookspec(firstresult=True)
def opsledger_priority_matrix() -> PriorityMatrix | None:
    """The impact x urgency -> priority matrix the engine rates tickets with.

    Called once when the engine starts. A matrix given explicitly in ``Settings`` wins
    over every plugin.

    :return: a complete :class:`~opsledger.core.domain.priority.PriorityMatrix`, or ``None``.

    First result wins; the built-in plugin returns the default matrix last.
    """
    raise NotImplementedError  # pragma: no cover (specification only)


@hookspec
def opsledger_sla_policies() -> Sequence[Mapping[str, Any]]:
    """SLA policies (``SlaPolicy.to_dict`` form, calendars included) a plugin ships.

    Called by ``Engine.define_plugin_policies(actor=...)``, an explicit administrative step;
    a policy identical to the version in force records nothing, so it is safe to repeat.

    :return: a list of policy definitions (may be empty).

    Collect-all: every plugin's list is used.
    """
    raise NotImplementedError  # pragma: no cover (specification only)


@hookspec
def opsledger_event_recorded(event: Any, record: Any, context: Any) -> None:
    """React to one recorded domain event: notifications, outbound side effects.

    Called by the engine after a command's events are committed, once per event and per
    plugin, in the order the events were recorded.

    :param event: the domain event (``type(event).__name__`` is its name, e.g. ``Opened``;
        ``event.originator_id``, ``event.originator_version``, ``event.timestamp``).
    :param record: a :class:`~opsledger.plugins.host.RecordedEvent` (log position, topic).
    :param context: a :class:`~opsledger.plugins.context.HostContext`: the ticket as it
        stands (``ticket``, ``ticket_as_of``, ``number_of(event.originator_id)``), the
        engine's ``clock`` and ``settings``, and ``tables(YourSideTables)`` for state the
        plugin keeps beside the events (an outbox). Take it only if you need it.
    :return: nothing.

    Collect-all. An exception never fails or undoes the command: it is stored as a dead
    letter (plugin name, event, traceback) and retried by ``Engine.retry_dead_letters()``,
    which calls only the plugin that failed. Reactions must therefore be idempotent.
    """


@hookspec
def opsledger_adapters() -> Sequence[Any]:
    """Inbound adapters (pollers, receivers) a plugin contributes.

    Called by ``opsledger worker`` when it starts (and by ``opsledger plugins list``, for the
    names): so constructing an adapter must be cheap and must not connect anywhere.

    :return: a list of adapter objects (the contract is
        :class:`opsledger.plugins.adapters.Adapter`): a ``name`` (text); optionally
        ``start(bus)``, which begins submitting commands through the given
        ``opsledger.adapters.kafka.bus.CommandBus`` and returns promptly (a poll loop runs on
        the adapter's own thread), ``stop()``, called once on shutdown, and ``routes`` (an
        ``APIRouter`` the HTTP app mounts under ``/hooks/{name}``).

    Collect-all: every plugin's adapters are used. A plugin whose hook raises, and an adapter
    whose ``start`` raises, are skipped with a warning; the others and the worker run on.
    """
    raise NotImplementedError  # pragma: no cover (specification only)


@hookspec
def opsledger_cli_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add commands to the ``opsledger`` command line.

    Called once while the CLI builds its parser.

    :param subparsers: the top-level subparsers; call ``subparsers.add_parser(...)`` and
        ``set_defaults(run=fn)`` where ``fn(args, settings) -> int`` is the exit status.
    :return: nothing.

    Collect-all.
    """
