"""The adapter contract (what ``opsledger_adapters`` returns), and starting adapters safely.

An adapter is an inbound source (an IMAP poller, a webhook receiver, a JIRA sync) that turns
what it sees into commands and submits them to the bus it is given: the commands topic in
``opsledger worker``, or the embedded engine through a ``LocalBus``. It never touches the
engine or an aggregate. One adapter that fails to start is logged, warned and skipped: it
never stops the others, nor the process hosting them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opsledger.adapters.kafka.bus import CommandBus
    from opsledger.plugins.host import PluginHost

log = logging.getLogger(__name__)


class Adapter(Protocol):
    """One adapter object, as a plugin's ``opsledger_adapters`` returns it.

    Required:

    - ``name: str``: unique and stable, shown by ``opsledger plugins list`` and in warnings.

    Optional (looked up with ``getattr``; an adapter may have none of them):

    - ``start(bus) -> None``: begin producing commands through ``bus`` (an
      ``opsledger.adapters.kafka.bus.CommandBus``: ``KafkaBus`` in ``opsledger worker``,
      ``LocalBus`` when embedded). Return promptly: long-running work (a poll loop) belongs
      on a thread of the adapter's own. ``bus.submit`` returns once the commands are durable;
      it may be called from any thread.
    - ``bind(context) -> None``: called before ``start`` with the host's
      :class:`~opsledger.plugins.context.HostContext` (read-only ticket views, side tables),
      for adapters that keep state beside the events (a mail outbox).
    - ``stop() -> None``: stop producing and join those threads; called once, on shutdown,
      only for adapters whose ``start`` succeeded.
    - ``routes``: a FastAPI ``APIRouter`` the HTTP app mounts under ``/hooks/{name}``
      (``opsledger.adapters.http.app.mount_adapters``; webhook receivers).

    Constructing an adapter must be cheap and free of side effects (no connections): the
    hook is also called just to list the adapters' names.
    """

    name: str


def adapter_list(answer: object) -> tuple[list[Adapter], list[str]]:
    """The adapters in one plugin's hook answer, and what was wrong with the rest."""
    if not isinstance(answer, Sequence) or isinstance(answer, str | bytes):
        return [], [f"returned {type(answer).__name__}, not a list of adapters"]
    adapters: list[Adapter] = []
    problems: list[str] = []
    for i, adapter in enumerate(answer):
        name = getattr(adapter, "name", None)
        if isinstance(name, str) and name.strip():
            adapters.append(adapter)
        else:
            problems.append(f"adapter {i} ({type(adapter).__name__}) has no name (a text)")
    return adapters, problems


def start_adapters(
    adapters: Iterable[Adapter], bus: CommandBus, *, host: PluginHost | None = None
) -> list[Adapter]:
    """Start each adapter on ``bus``; the ones running (or with nothing to start) come back.

    An adapter whose ``start`` raises is logged and skipped, and, given the engine's ``host``,
    kept as a plugin warning naming the plugin that contributed it.
    """
    started: list[Adapter] = []
    for adapter in adapters:
        start = getattr(adapter, "start", None)
        bind = getattr(adapter, "bind", None)
        try:
            if bind is not None and host is not None:
                bind(host.context)
            if start is not None:
                start(bus)
        except Exception as error:
            _failed(adapter, "start", error, host)
            continue
        log.info("adapter started", extra={"adapter": adapter.name})
        started.append(adapter)
    return started


def stop_adapters(started: Sequence[Adapter], *, host: PluginHost | None = None) -> None:
    """Stop adapters in the reverse order of starting; one that raises does not stop the rest."""
    for adapter in reversed(started):
        stop = getattr(adapter, "stop", None)
        try:
            if stop is not None:
                stop()
        except Exception as error:
            _failed(adapter, "stop", error, host)


def _failed(adapter: Any, action: str, error: Exception, host: PluginHost | None) -> None:
    log.warning(
        "adapter failed; skipped",
        exc_info=error,
        extra={"adapter": adapter.name, "action": action, "error": f"{type(error).__name__}"},
    )
    if host is not None:
        host.adapter_failed(adapter, action, error)
