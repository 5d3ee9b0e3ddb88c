"""Build the plugin manager: the hook specifications, built-ins and entry-point plugins."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy
from opsledger.plugins import builtin, hookspecs
from opsledger.plugins.adapters import adapter_list

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = hookspecs.PROJECT
BUILTIN_NAME = "builtin"


def build_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A manager with every hook specified, entry-point plugins loaded, built-ins present.

    Built-ins are normally loaded through their own entry point (so the integrator's path
    is the one exercised); they are registered directly only when the distribution's
    metadata is missing (a source checkout that was never installed).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    if not pm.is_registered(builtin):
        pm.register(builtin, name=BUILTIN_NAME)
    return pm


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """One plugin as ``opsledger plugins list`` shows it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    #: Names of the adapters its ``opsledger_adapters`` contributes (constructing them is cheap).
    adapters: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
            "adapters": list(self.adapters),
        }


def describe(pm: pluggy.PluginManager) -> list[LoadedPlugin]:
    """What is loaded and from where: name, module, distribution (``None``: registered in code)."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    contributed, _ = collect(pm, "opsledger_adapters")
    adapters: dict[str, list[str]] = {}
    for plugin_name, answer in contributed:
        found, _ = adapter_list(answer)  # a bad answer is warned about when adapters start
        adapters.setdefault(plugin_name, []).extend(a.name for a in found)
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = dists.get(id(plugin))
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        rows.append(
            LoadedPlugin(
                name=name,
                module=module,
                distribution=dist.project_name if dist is not None else None,
                version=dist.version if dist is not None else None,
                hooks=hooks,
                adapters=tuple(adapters.get(name, ())),
            )
        )
    return sorted(rows, key=lambda p: p.name)


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """One implementation that raised: which plugin, which hook, the traceback."""

    plugin: str
    hook: str
    error: str
    traceback: str


def _implementations(pm: pluggy.PluginManager, hook: str) -> list[pluggy.HookImpl]:
    # pluggy calls implementations last-registered first, tryfirst before, trylast after:
    # get_hookimpls lists them in the reverse of that order. Wrappers are not called here.
    impls = getattr(pm.hook, hook).get_hookimpls()
    return [i for i in reversed(impls) if not (i.hookwrapper or i.wrapper)]


def _failure(impl: pluggy.HookImpl, hook: str, exc: BaseException) -> PluginFailure:
    text = "".join(traceback.format_exception(exc))
    return PluginFailure(impl.plugin_name, hook, f"{type(exc).__name__}: {exc}", text)


def first_result(
    pm: pluggy.PluginManager, hook: str, **kwargs: Any
) -> tuple[Any, list[PluginFailure]]:
    """A first-result hook call that skips implementations that raise, reporting them.

    pluggy's own call stops at the first exception; opsledger wants the next plugin (finally
    the built-in default) to answer instead, and to know which plugin failed.
    """
    result, _, failures = first_answer(pm, hook, **kwargs)
    return result, failures


def first_answer(
    pm: pluggy.PluginManager,
    hook: str,
    *,
    check: Callable[[Any], str | None] | None = None,
    **kwargs: Any,
) -> tuple[Any, str | None, list[PluginFailure]]:
    """:func:`first_result`, also naming the plugin that answered (to blame a bad answer).

    ``check`` says what is wrong with an answer (None: nothing); a wrong answer counts as a
    failure of its plugin and the next one is asked, as if it had raised.
    """
    failures: list[PluginFailure] = []
    for impl in _implementations(pm, hook):
        try:
            result = impl.function(*(kwargs[a] for a in impl.argnames))
        except Exception as exc:
            failures.append(_failure(impl, hook, exc))
            continue
        if result is None:
            continue
        problem = check(result) if check is not None else None
        if problem is not None:
            failures.append(PluginFailure(impl.plugin_name, hook, f"bad answer: {problem}", ""))
            continue
        return result, impl.plugin_name, failures
    return None, None, failures


def collect(
    pm: pluggy.PluginManager,
    hook: str,
    *,
    only: str | None = None,
    **kwargs: Any,
) -> tuple[list[tuple[str, Any]], list[PluginFailure]]:
    """A collect-all hook call in which one plugin's exception does not stop the others.

    Returns each answering plugin's ``(name, result)``, in hook order, and the failures.
    ``only`` restricts the call to one plugin by name (a dead-letter retry).
    """
    results: list[tuple[str, Any]] = []
    failures: list[PluginFailure] = []
    for impl in _implementations(pm, hook):
        if only is not None and impl.plugin_name != only:
            continue
        try:
            result = impl.function(*(kwargs[a] for a in impl.argnames))
        except Exception as exc:
            failures.append(_failure(impl, hook, exc))
            continue
        results.append((impl.plugin_name, result))
    return results, failures


def each(
    pm: pluggy.PluginManager,
    hook: str,
    *,
    only: str | None = None,
    **kwargs: Any,
) -> list[PluginFailure]:
    """:func:`collect` for hooks whose results do not matter: only the failures."""
    return collect(pm, hook, only=only, **kwargs)[1]
