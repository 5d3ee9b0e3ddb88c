"""The state one stand-in holds and the lookups into it, shared by every layer built on top."""

from __future__ import annotations

import itertools
import queue
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from opsledger.core.clock import Clock, SystemClock

from tests.jira.standin.accounts import ALICE, BOT, Account
from tests.jira.standin.records import (
    Comment,
    Delivery,
    Fault,
    FieldError,
    Issue,
    JiraApiError,
    Json,
    Project,
    RecordedRequest,
    Ref,
    Route,
    Subscription,
    WebhookEvent,
)
from tests.jira.standin.workflow import (
    ISSUE_TYPE_IDS,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    SYSTEM_EDITABLE,
    TRANSITIONS,
    Status,
    Transition,
)

if TYPE_CHECKING:
    from tests.jira.standin.http import StandinServer

NOT_FOUND = "Issue does not exist or you do not have permission to see it."


class StandinBase:
    """Configuration and in-memory state; the lookups answer with JIRA's 404s and 400s."""

    def __init__(
        self,
        *,
        deployment: Literal["Cloud", "Server"] = "Cloud",
        account: Account = BOT,
        users: Sequence[Account] = (ALICE,),
        projects: Mapping[str, Sequence[str]] | None = None,
        statuses: Sequence[Status] = STATUSES,
        transitions: Sequence[Transition] = TRANSITIONS,
        custom_fields: Mapping[str, str] | None = None,
        done_resolution: str = "Done",
        clock: Clock | None = None,
        webhook_delivery: Literal["queue", "sync"] = "queue",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.deployment = deployment
        self.cloud = deployment == "Cloud"
        self.account = account
        self.accounts = [account, *users]
        self.statuses = list(statuses)
        self.transitions = list(transitions)
        self.custom_fields = dict(custom_fields or {"customfield_10100": "opsledger ticket"})
        self.clock: Clock = clock or SystemClock()
        self.webhook_delivery = webhook_delivery
        self.host, self.port = host, port
        self.priorities = [Ref("priority", i, n) for i, n in PRIORITIES]
        self.resolutions = [Ref("resolution", i, n) for i, n in RESOLUTIONS]
        self.done_resolution = self._lookup(self.resolutions, {"name": done_resolution}, "")
        self.link_types = list(LINK_TYPES)
        type_ids = dict(ISSUE_TYPE_IDS)
        self.projects: list[Project] = []
        for n, (pkey, tnames) in enumerate(
            (projects or {"PROJ": ("Task", "Bug", "Story")}).items()
        ):
            refs = [
                Ref("issuetype", type_ids.setdefault(t, str(10100 + len(type_ids))), t)
                for t in tnames
            ]
            self.projects.append(Project(str(10000 + n), pkey, f"{pkey} project", tuple(refs)))
        self.editable = set(SYSTEM_EDITABLE) | set(self.custom_fields)
        self._issues: dict[str, Issue] = {}
        self._links: dict[str, tuple[tuple[str, str, str, str], str, str]] = {}
        self._counters: dict[str, Iterator[int]] = {}
        self._next_number: dict[str, int] = {}
        self._lock = threading.RLock()
        self._actor: Account | None = None
        self._faults: list[Fault] = []
        self._outbox: list[tuple[Subscription, WebhookEvent]] = []
        self._subs: list[Subscription] = []
        self._pending = 0
        self._cv = threading.Condition()
        self._queue: queue.Queue[tuple[Subscription, WebhookEvent] | None] = queue.Queue()
        self._server: StandinServer | None = None
        self._threads: list[threading.Thread] = []
        #: requests received per (method, canonical path), whatever their outcome
        self.requests: Counter[tuple[str, str]] = Counter()
        self.log: list[RecordedRequest] = []
        self.emitted: list[WebhookEvent] = []
        self.deliveries: list[Delivery] = []
        self._routes = self._route_table()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/rest/api/2"

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Route]]:
        """The REST routes, built once per stand-in; the HTTP layer supplies them."""
        raise NotImplementedError

    # -- lookups ---------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now()

    def _next(self, counter: str) -> int:
        return next(self._counters.setdefault(counter, itertools.count(10000)))

    def _find(self, ident: str) -> Issue:
        with self._lock:
            for issue in self._issues.values():
                if ident in (issue.id, issue.key) or ident.upper() == issue.key:
                    return issue
        raise JiraApiError(404, [NOT_FOUND])

    def _find_project(self, ident: str) -> Project:
        for p in self.projects:
            if ident in (p.id, p.key) or ident.upper() == p.key:
                return p
        raise JiraApiError(404, [f"No project could be found with key '{ident}'."])

    def _find_project_ref(self, raw: Json) -> Project:
        ident = raw.get("key") or raw.get("id") if isinstance(raw, dict) else None
        try:
            return self._find_project(str(ident))
        except JiraApiError:
            raise JiraApiError(
                400, errors={"project": "Specify a valid project ID or key"}
            ) from None

    def _find_account(self, ident: str | None) -> Account | None:
        return next(
            (a for a in self.accounts if ident in (a.account_id, a.name, a.key, a.email)), None
        )

    def _status(self, name: str) -> Status:
        return next(s for s in self.statuses if s.name == name)

    def _status_name(self, issue: Issue) -> str:
        return str(issue.values["status"].name)

    def _available(self, issue: Issue) -> list[Transition]:
        here = self._status_name(issue)
        return [
            t for t in self.transitions if t.to != here and (t.sources is None or here in t.sources)
        ]

    def _comment(self, issue: Issue, cid: str) -> Comment:
        found = next((c for c in issue.comments if c.id == cid), None)
        if found is None:
            raise JiraApiError(404, [f"Can not find a comment for the id: {cid}."])
        return found

    @staticmethod
    def _lookup(refs: Sequence[Ref], raw: Json, msg: str) -> Ref:
        if isinstance(raw, dict):
            for r in refs:
                if str(raw.get("id")) == r.id or raw.get("name") == r.name:
                    return r
        raise FieldError(msg) if msg else ValueError(f"unknown: {raw}")
