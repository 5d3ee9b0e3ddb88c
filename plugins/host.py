"""The engine's side of the plugins: ask the hooks, and keep a failing plugin's damage contained.

The engine owns one :class:`PluginHost`; the domain never sees pluggy.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pluggy
from eventsourcing.persistence import Recording
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.priority import PriorityMatrix, parse_impact, parse_urgency
from opsledger.core.inbound import INBOUND_KINDS
from opsledger.plugins.adapters import Adapter, adapter_list
from opsledger.plugins.context import HostContext
from opsledger.plugins.deadletters import DeadLetter, DeadLetterStore, PluginWarning
from opsledger.plugins.manager import (
    PluginFailure,
    build_manager,
    collect,
    each,
    first_answer,
    first_result,
)

if TYPE_CHECKING:
    from opsledger.core.engine import Engine

log = logging.getLogger(__name__)
EVENT_HOOK = "opsledger_event_recorded"
CLASSIFY_HOOK = "opsledger_classify"
ADAPTERS_HOOK = "opsledger_adapters"
#: What a classifier may set on a ticket opened from an inbound item.
CLASSIFY_KEYS = ("kind", "service", "ci", "impact", "urgency")


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """Where an event sits in the log: what a reaction needs to be idempotent."""

    position: int
    topic: str
    originator_id: UUID
    version: int


@dataclass(frozen=True, slots=True)
class RetryReport:
    """What one ``retry_dead_letters`` pass did."""

    retried: int
    succeeded: int
    still_failing: int


class PluginHost:
    """Calls the hooks for one engine; stores dead letters and warnings beside its events."""

    def __init__(self, engine: Engine, pm: pluggy.PluginManager | None) -> None:
        self.engine = engine
        self.pm = pm if pm is not None else build_manager()
        #: Which plugin contributed each adapter (by object id), to blame a failing start.
        self._owners: dict[int, str] = {}
        self.store = DeadLetterStore.for_settings(engine.settings)
        #: what reactions and adapters may read and keep (plugins/context.py)
        self.context = HostContext(engine)

    def close(self) -> None:
        self.context.close()
        self.store.close()

    def matrix(self, configured: PriorityMatrix) -> PriorityMatrix:
        """An explicitly configured matrix wins; otherwise the first plugin's answer."""
        if configured != PriorityMatrix():
            return configured
        matrix, failures = first_result(self.pm, "opsledger_priority_matrix")
        self._warn(failures, subject="engine start")
        return matrix if isinstance(matrix, PriorityMatrix) else configured

    def route(self, ticket: Mapping[str, Any]) -> tuple[str, str | None] | None:
        """The first router's ``(group, assignee)``; a router that raises is skipped."""
        answer, _, failures = first_answer(
            self.pm, "opsledger_route", check=_route_problem, ticket=ticket
        )
        self._warn(failures, subject=str(ticket.get("number", "")))
        if answer is None:
            return None
        group, assignee = answer
        return group.strip(), (assignee.strip() if assignee else None)

    def classify(
        self, item: Mapping[str, Any], *, ci_exists: Callable[[str], bool] | None = None
    ) -> dict[str, str] | None:
        """The first classifier's answer, cleaned: what it may set, as valid text.

        A classifier that raises is skipped (the next one answers). Keys of the answer that
        are unknown or whose value is invalid (not text, a level or kind that does not parse,
        a ``ci`` that ``ci_exists`` denies) are dropped with a warning naming the plugin; a
        ``None`` value means "no opinion" and is dropped silently.
        """
        subject = f"{item.get('source')}:{item.get('external_id')}"
        answer, plugin, failures = first_answer(self.pm, CLASSIFY_HOOK, item=item)
        self._warn(failures, subject=subject)
        if answer is None or plugin is None:
            return None
        kept, problems = _classification(answer, ci_exists)
        if problems:
            self._warn_answer(plugin, CLASSIFY_HOOK, subject, problems)
        return kept

    def adapters(self) -> list[Adapter]:
        """Every plugin's adapters, in hook order; a plugin whose hook raises is skipped."""
        answers, failures = collect(self.pm, ADAPTERS_HOOK)
        self._warn(failures, subject="adapters", message="plugin adapters skipped")
        found: list[Adapter] = []
        for plugin, answer in answers:
            adapters, problems = adapter_list(answer)
            if problems:
                self._warn_answer(plugin, ADAPTERS_HOOK, "adapters", problems)
            for adapter in adapters:
                self._owners[id(adapter)] = plugin
            found.extend(adapters)
        return found

    def adapter_failed(self, adapter: Adapter, action: str, error: Exception) -> None:
        """Keep a warning for an adapter whose ``start`` or ``stop`` raised."""
        failure = PluginFailure(
            self._owners.get(id(adapter), adapter.name),
            ADAPTERS_HOOK,
            f"{type(error).__name__}: {error}",
            "".join(traceback.format_exception(error)),
        )
        self._record_warnings([failure], subject=f"adapter {adapter.name}: {action}")

    def sla_policies(self) -> list[dict[str, Any]]:
        """Every plugin's policy definitions, in hook order (a failing plugin raises here:
        defining policies is an explicit administrative step, not a side effect)."""
        lists = self.pm.hook.opsledger_sla_policies()
        return [dict(policy) for policies in lists for policy in policies]

    def on_recorded(self, recordings: Sequence[Recording[UUID]]) -> None:
        """The engine's listener: every plugin reacts to every event; failures wait for retry."""
        if not self._reacting():
            return  # nobody reacts: skip building a record per event (measured on the worker)
        for recording in recordings:
            self._react(recording.domain_event, _recorded(recording))

    def _reacting(self) -> bool:
        """Whether any plugin reacts to events now: a plugin module may say it does not
        (``opsledger_reacts() -> bool``, e.g. an adapter that is not enabled). Asked once
        per recorded batch, not per event: a few attribute reads."""
        impls = self.pm.hook.opsledger_event_recorded.get_hookimpls()
        return any(_reacts(impl.plugin) for impl in impls)

    def retry_dead_letters(self) -> RetryReport:
        """Call each failed plugin again with its event, read back from the log."""
        letters = self.store.pending()
        succeeded = 0
        for letter in letters:
            if self.pm.get_plugin(letter.plugin) is None:
                # Not loaded in this process: keep the letter for one that loads the plugin.
                log.warning("dead letter kept: plugin not loaded", extra={"plugin": letter.plugin})
                continue
            event = self._event_at(letter)
            if event is None:
                continue
            record, domain_event = event
            failures = each(
                self.pm,
                letter.hook,
                only=letter.plugin,
                event=domain_event,
                record=record,
                context=self.context,
            )
            if failures:
                self._dead_letter(failures, record)
            else:
                self.store.remove(letter.id)
                succeeded += 1
        return RetryReport(len(letters), succeeded, len(letters) - succeeded)

    def dead_letters(self) -> list[DeadLetter]:
        return self.store.pending()

    def warnings(self) -> list[PluginWarning]:
        return self.store.warnings()

    # -- internals ---------------------------------------------------------------------------

    def _react(self, event: Any, record: RecordedEvent) -> None:
        failures = each(self.pm, EVENT_HOOK, event=event, record=record, context=self.context)
        self._dead_letter(failures, record)

    def _event_at(self, letter: DeadLetter) -> tuple[RecordedEvent, Any] | None:
        app = self.engine.app
        found = app.recorder.select_notifications(start=letter.position, limit=1)
        if not found or found[0].id != letter.position:
            log.error("dead letter names an event not in the log", extra={"letter": letter.id})
            return None
        notification = found[0]
        record = RecordedEvent(
            notification.id,
            notification.topic,
            notification.originator_id,  # type: ignore[arg-type]
            notification.originator_version,
        )
        return record, app.mapper.to_domain_event(notification)

    def _dead_letter(self, failures: list[PluginFailure], record: RecordedEvent) -> None:
        now = self.engine.clock.now()
        for f in failures:
            log.warning(
                "plugin reaction failed; kept as a dead letter",
                extra={"plugin": f.plugin, "position": record.position, "error": f.error},
            )
            self.store.add(
                plugin=f.plugin,
                hook=f.hook,
                position=record.position,
                topic=record.topic,
                error=f.error,
                tb=f.traceback,
                at=now,
            )

    def _warn(
        self,
        failures: list[PluginFailure],
        *,
        subject: str,
        message: str = "plugin failed; the next plugin answered",
    ) -> None:
        for f in failures:
            log.warning(message, extra={"plugin": f.plugin, "hook": f.hook, "error": f.error})
        self._record_warnings(failures, subject=subject)

    def _warn_answer(self, plugin: str, hook: str, subject: str, problems: list[str]) -> None:
        """A plugin answered, but part of the answer was unusable and was dropped."""
        error = "invalid answer, dropped: " + "; ".join(problems)
        log.warning("plugin answer partly dropped", extra={"plugin": plugin, "hook": hook})
        self._record_warnings([PluginFailure(plugin, hook, error, "")], subject=subject)

    def _record_warnings(self, failures: list[PluginFailure], *, subject: str) -> None:
        now = self.engine.clock.now()
        for f in failures:
            self.store.warn(
                plugin=f.plugin, hook=f.hook, subject=subject, error=f.error, tb=f.traceback, at=now
            )


def _classification(
    answer: object, ci_exists: Callable[[str], bool] | None
) -> tuple[dict[str, str], list[str]]:
    """The usable part of a classifier's answer, and what was wrong with the rest."""
    if not isinstance(answer, Mapping):
        return {}, [f"expected a mapping, got {type(answer).__name__}"]
    kept: dict[str, str] = {}
    problems: list[str] = []
    for key, value in answer.items():
        if key not in CLASSIFY_KEYS:
            problems.append(f"unknown key {key!r} (allowed: {', '.join(CLASSIFY_KEYS)})")
        elif value is None:
            continue
        elif not isinstance(value, str):
            problems.append(f"{key}: {type(value).__name__} is not text")
        else:
            try:
                kept[key] = _cleaned(key, value, ci_exists)
            except InputError as e:
                problems.append(str(e))
    return kept, problems


def _cleaned(key: str, value: str, ci_exists: Callable[[str], bool] | None) -> str:
    """One classified value, normalised as the inbound path would; InputError if invalid."""
    if key == "impact":
        return parse_impact(value).value
    if key == "urgency":
        return parse_urgency(value).value
    if key == "kind" and value not in INBOUND_KINDS:
        raise InputError(key, f"{value!r} is not one of {', '.join(INBOUND_KINDS)}")
    value = value.strip()
    if key == "ci" and value and ci_exists is not None and not ci_exists(value):
        raise InputError(key, f"{value!r} is not a registered configuration item")
    return value


def _recorded(recording: Recording[UUID]) -> RecordedEvent:
    n = recording.notification
    return RecordedEvent(n.id, n.topic, recording.domain_event.originator_id, n.originator_version)


def _route_problem(answer: Any) -> str | None:
    """What is wrong with a router's answer: it must be ``(group, assignee or None)``."""
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        return f"expected (group, assignee), got {answer!r:.80}"
    group, assignee = answer
    if not isinstance(group, str) or not group.strip():
        return f"group must be non-empty text, got {group!r:.80}"
    if assignee is not None and not isinstance(assignee, str):
        return f"assignee must be text or None, got {assignee!r:.80}"
    return None


def _reacts(plugin: object) -> bool:
    says = getattr(plugin, "opsledger_reacts", None)
    if not callable(says):
        return True
    try:
        return bool(says())
    except Exception:  # a plugin that cannot say is asked every event, as before
        return True
