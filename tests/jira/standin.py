"""A JIRA REST API v2 stand-in on loopback, so the real ``jira`` client is tested unchanged.

The JIRA adapter needs JIRA's documented request and response shapes, its error bodies, its
webhooks and its bad days (429, 503, dropped connections) without a JIRA site. State lives in
memory behind a real ``ThreadingHTTPServer``; nothing in the adapter or the client is mocked.
Changes made "from the JIRA side" (a human in the browser) go through the same code as REST
calls and emit the same webhooks.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import queue
import re
import socket
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from opsledger.core.clock import Clock, SystemClock

Json = Any
Pred = Callable[["_Issue"], bool]
Query = dict[str, list[str]]
T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_FOUND = "Issue does not exist or you do not have permission to see it."


@dataclass(frozen=True, slots=True)
class Account:
    """A JIRA user. Cloud knows it by ``account_id``; Server/DC by ``name`` (login) and ``key``.

    Basic auth is (email or name, ``api_token``); Bearer auth is ``pat``.
    """

    account_id: str
    name: str
    key: str
    display_name: str
    email: str
    api_token: str | None = None
    pat: str | None = None


BOT = Account(
    "557058:6f1c0d3e-0b0b-4c1e-9e59-0b5b0a7e0b07",
    "opsledger-bot",
    "JIRAUSER10000",
    "opsledger bot",
    "opsledger-bot@example.com",
    api_token="bot-api-token",
    pat="bot-pat",
)
ALICE = Account(
    "5b10ac8d82e05b22cc7d4ef5",
    "alice",
    "JIRAUSER10001",
    "Alice Developer",
    "alice@example.com",
    api_token="alice-api-token",
    pat="alice-pat",
)


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: Literal["new", "indeterminate", "done"]


@dataclass(frozen=True, slots=True)
class Transition:
    """A workflow transition; ``sources`` None means offered from every other status."""

    id: str
    name: str
    to: str
    sources: frozenset[str] | None = None
    event: str = "issue_generic"  # issue_event_type_name of the webhook it causes


STATUSES = (
    Status("10000", "To Do", "new"),
    Status("3", "In Progress", "indeterminate"),
    Status("10002", "Waiting for customer", "indeterminate"),
    Status("10001", "Done", "done"),
)
TRANSITIONS = (
    Transition("11", "Stop Progress", "To Do", frozenset({"In Progress", "Waiting for customer"})),
    Transition("21", "Start Progress", "In Progress"),
    Transition("31", "Wait for customer", "Waiting for customer"),
    Transition("41", "Done", "Done"),
    Transition("51", "Reopen", "To Do", frozenset({"Done"})),
)
PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))
RESOLUTIONS = (
    ("10000", "Done"),
    ("1", "Fixed"),
    ("10001", "Won't Do"),
    ("3", "Duplicate"),
    ("5", "Cannot Reproduce"),
)
ISSUE_TYPE_IDS = {"Epic": "10000", "Task": "10001", "Bug": "10002", "Story": "10003"}
LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
    ("10004", "Problem/Incident", "is caused by", "causes"),
)
_CATEGORY = {"new": (2, "To Do", "blue-gray"), "indeterminate": (4, "In Progress", "yellow")}
_CATEGORY["done"] = (3, "Done", "green")
_SYSTEM_EDITABLE = (
    "summary",
    "description",
    "issuetype",
    "priority",
    "labels",
    "assignee",
    "duedate",
)
_SYSTEM_FIELDS = (
    ("issuekey", "Key", "string", ["id", "issue", "issuekey", "key"]),
    ("summary", "Summary", "string", ["summary"]),
    ("description", "Description", "string", ["description"]),
    ("issuetype", "Issue Type", "issuetype", ["issuetype", "type"]),
    ("project", "Project", "project", ["project"]),
    ("priority", "Priority", "priority", ["priority"]),
    ("status", "Status", "status", ["status"]),
    ("resolution", "Resolution", "resolution", ["resolution"]),
    ("labels", "Labels", "array", ["labels"]),
    ("assignee", "Assignee", "user", ["assignee"]),
    ("reporter", "Reporter", "user", ["reporter"]),
    ("creator", "Creator", "user", ["creator"]),
    ("created", "Created", "datetime", ["created", "createdDate"]),
    ("updated", "Updated", "datetime", ["updated", "updatedDate"]),
    ("resolutiondate", "Resolved", "datetime", ["resolutiondate", "resolved"]),
    ("duedate", "Due date", "date", ["due", "duedate"]),
    ("comment", "Comment", "comments-page", ["comment"]),
    ("issuelinks", "Linked Issues", "array", ["issueLink"]),
)


class JiraApiError(Exception):
    """What JIRA answers with an error status: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self, status: int, messages: Sequence[str] = (), errors: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.body: Json = {"errorMessages": list(messages), "errors": dict(errors or {})}
        super().__init__(status, self.body)


class _FieldError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Ref:
    kind: str  # priority, resolution, issuetype
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class _Project:
    id: str
    key: str
    name: str
    issue_types: tuple[_Ref, ...]


@dataclass(slots=True)
class _Comment:
    id: str
    body: str
    author: Account
    update_author: Account
    created: datetime
    updated: datetime
    internal: bool = False
    visibility: Json = None


@dataclass(slots=True)
class _Issue:
    id: str
    key: str
    project: _Project
    values: dict[str, Any]
    created: datetime
    updated: datetime
    comments: list[_Comment] = field(default_factory=list)
    histories: list[Json] = field(default_factory=list)
    remote_links: list[Json] = field(default_factory=list)


@dataclass
class Subscription:
    id: int
    url: str
    secret: str | None
    events: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One webhook JIRA fired (whether or not anyone subscribed): replay it in any order."""

    name: str
    payload: Json


@dataclass(frozen=True, slots=True)
class Delivery:
    subscription: int
    url: str
    event: str
    body: bytes
    headers: dict[str, str]
    status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Json
    status: int | None  # None: the connection was dropped
    account: str | None


@dataclass(slots=True)
class _Fault:
    remaining: int | None
    status: int
    retry_after: int | None
    drop: bool
    method: str | None
    path: str | None
    after_apply: bool


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature`` header JIRA sends for ``body`` under a webhook ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def jira_time(at: datetime) -> str:
    """JIRA's timestamp format, e.g. ``2024-03-04T09:00:00.000+0000``."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def epoch_ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


def canonical_path(path: str) -> str:
    """``/rest/api/latest/x`` and ``x`` both become ``/rest/api/2/x``, for counting and faults."""
    if not path.startswith("/"):
        path = "/rest/api/2/" + path
    return re.sub(r"^/rest/api/latest/", "/rest/api/2/", path)


class JiraStandin:
    """JIRA Cloud (or Server/DC) REST API v2 on ``http://127.0.0.1:port``; see the module doc."""

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
        self.priorities = [_Ref("priority", i, n) for i, n in PRIORITIES]
        self.resolutions = [_Ref("resolution", i, n) for i, n in RESOLUTIONS]
        self.done_resolution = self._lookup(self.resolutions, {"name": done_resolution}, "")
        self.link_types = list(LINK_TYPES)
        type_ids = dict(ISSUE_TYPE_IDS)
        self.projects: list[_Project] = []
        for n, (pkey, tnames) in enumerate(
            (projects or {"PROJ": ("Task", "Bug", "Story")}).items()
        ):
            refs = [
                _Ref("issuetype", type_ids.setdefault(t, str(10100 + len(type_ids))), t)
                for t in tnames
            ]
            self.projects.append(_Project(str(10000 + n), pkey, f"{pkey} project", tuple(refs)))
        self.editable = set(_SYSTEM_EDITABLE) | set(self.custom_fields)
        self._issues: dict[str, _Issue] = {}
        self._links: dict[str, tuple[tuple[str, str, str, str], str, str]] = {}
        self._counters: dict[str, Iterator[int]] = {}
        self._next_number: dict[str, int] = {}
        self._lock = threading.RLock()
        self._actor: Account | None = None
        self._faults: list[_Fault] = []
        self._outbox: list[tuple[Subscription, WebhookEvent]] = []
        self._subs: list[Subscription] = []
        self._pending = 0
        self._cv = threading.Condition()
        self._queue: queue.Queue[tuple[Subscription, WebhookEvent] | None] = queue.Queue()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        #: requests received per (method, canonical path), whatever their outcome
        self.requests: Counter[tuple[str, str]] = Counter()
        self.log: list[RecordedRequest] = []
        self.emitted: list[WebhookEvent] = []
        self.deliveries: list[Delivery] = []
        self._routes = self._route_table()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/rest/api/2"

    def start(self) -> JiraStandin:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._threads = [serve, threading.Thread(target=self._deliver_loop, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> JiraStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and counters ---------------------------------------------------------------

    def fail_next(
        self,
        n: int | None = 1,
        *,
        status: int = 503,
        retry_after: int | None = None,
        drop_connection: bool = False,
        method: str | None = None,
        path: str | None = None,
        after_apply: bool = False,
    ) -> None:
        """Answer the next ``n`` matching requests (None: all, until ``clear_faults``) badly.

        ``path`` is a prefix (``"issue"`` means ``/rest/api/2/issue...``). With ``after_apply``
        the request takes effect first and only its answer is lost.
        """
        p = canonical_path(path) if path else None
        m = method.upper() if method else None
        with self._lock:
            self._faults.append(_Fault(n, status, retry_after, drop_connection, m, p, after_apply))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests received (faulted ones included) for this method and exact path."""
        p = canonical_path(path) if path else None
        return sum(
            n
            for (m, q), n in self.requests.items()
            if (method is None or m == method.upper()) and (p is None or q == p)
        )

    # -- webhooks --------------------------------------------------------------------------

    def subscribe(
        self, url: str, *, secret: str | None = None, events: Sequence[str] | None = None
    ) -> Subscription:
        """POST every webhook (or only ``events``) to ``url``, signed when ``secret`` is set."""
        with self._lock:
            sub = Subscription(
                len(self._subs) + 1, url, secret, frozenset(events) if events else None
            )
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.remove(sub)

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Block until every queued webhook has been POSTed (or failed)."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"{self._pending} webhook(s) still queued after {timeout}s")

    def _emit(self, name: str, payload: Json) -> None:
        event = WebhookEvent(
            name, {"timestamp": epoch_ms(self._now()), "webhookEvent": name} | payload
        )
        self.emitted.append(event)
        self._outbox.extend((s, event) for s in self._subs if s.events is None or name in s.events)

    def _dispatch(self, outbox: list[tuple[Subscription, WebhookEvent]]) -> None:
        if self.webhook_delivery == "sync":
            for item in outbox:
                self._deliver(*item)
            return
        with self._cv:
            self._pending += len(outbox)
        for item in outbox:
            self._queue.put(item)

    def _deliver_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._deliver(*item)
            finally:
                with self._cv:
                    self._pending -= 1
                    self._cv.notify_all()

    def _deliver(self, sub: Subscription, event: WebhookEvent) -> None:
        payload = event.payload | ({"matchedWebhookIds": [sub.id]} if self.cloud else {})
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": str(self._next("webhook")),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if sub.secret:
            headers["X-Hub-Signature"] = sign(body, sub.secret)
        status: int | None = None
        error: str | None = None
        try:
            request = urllib.request.Request(sub.url, body, headers, method="POST")
            with urllib.request.urlopen(request, timeout=5) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
        self.deliveries.append(Delivery(sub.id, sub.url, event.name, body, headers, status, error))

    # -- changes from the JIRA side (a human in the browser) -------------------------------

    @contextlib.contextmanager
    def act_as(self, account: Account) -> Iterator[Account]:
        """Direct changes inside the block are made by ``account`` (default: the first user)."""
        before, self._actor = self._actor, account
        try:
            yield account
        finally:
            self._actor = before

    def _who(self, as_user: Account | None) -> Account:
        return (
            as_user or self._actor or (self.accounts[1] if len(self.accounts) > 1 else self.account)
        )

    def _locked(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the state lock, then send its webhooks (a receiver may call back)."""
        outbox: list[tuple[Subscription, WebhookEvent]] = []
        try:
            with self._lock:
                try:
                    return fn()
                finally:
                    outbox, self._outbox = self._outbox, []
        finally:
            self._dispatch(outbox)

    def create_issue(
        self,
        project: str,
        summary: str,
        issuetype: str = "Task",
        *,
        fields: Mapping[str, Any] | None = None,
        as_user: Account | None = None,
    ) -> str:
        """Create an issue as a human would; returns its key."""
        body = {"project": {"key": project}, "summary": summary, "issuetype": {"name": issuetype}}
        body |= self._friendly(fields or {})
        actor = self._who(as_user)
        return self._locked(lambda: self._op_create({"fields": body}, actor).key)

    def edit(self, key: str, fields: Mapping[str, Any], *, as_user: Account | None = None) -> None:
        """Edit fields (REST shape; names allowed for priority/issuetype/resolution/users)."""
        actor, body = self._who(as_user), {"fields": self._friendly(fields)}
        self._locked(lambda: self._op_edit(self._find(key), body, actor))

    def transition(
        self,
        key: str,
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        comment: str | None = None,
        as_user: Account | None = None,
    ) -> None:
        """Move an issue by transition id, transition name or target status name."""
        actor = self._who(as_user)

        def run() -> None:
            issue = self._find(key)
            avail = self._available(issue)
            t = next((t for t in avail if to in (t.id, t.name) or t.to.lower() == to.lower()), None)
            if t is None:
                raise JiraApiError(
                    400, [f"No transition to '{to}' from {self._status_name(issue)}"]
                )
            body: Json = {"transition": {"id": t.id}, "fields": self._friendly(fields or {})}
            if comment:
                body["update"] = {"comment": [{"add": {"body": comment}}]}
            self._op_transition(issue, body, actor)

        self._locked(run)

    def add_comment(
        self, key: str, body: str, *, internal: bool = False, as_user: Account | None = None
    ) -> str:
        """Comment as a human; returns the comment id."""
        actor = self._who(as_user)
        req: Json = {"body": body}
        if internal:
            req["properties"] = [{"key": "sd.public.comment", "value": {"internal": True}}]
        return self._locked(lambda: self._op_comment_add(self._find(key), req, actor).id)

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, as_user: Account | None = None
    ) -> None:
        actor = self._who(as_user)

        def run() -> None:
            issue = self._find(key)
            self._op_comment_edit(issue, self._comment(issue, comment_id), {"body": body}, actor)

        self._locked(run)

    def delete_issue(self, key: str, *, as_user: Account | None = None) -> None:
        actor = self._who(as_user)
        self._locked(lambda: self._op_delete(self._find(key), actor))

    # -- reading state for assertions ------------------------------------------------------

    def issue(self, key: str) -> Json:
        """The issue as ``GET /issue/{key}?expand=changelog`` answers it."""
        return self._locked(lambda: self._issue_json(self._find(key), expand="changelog"))

    def keys(self) -> list[str]:
        with self._lock:
            return [i.key for i in self._issues.values()]

    def comments(self, key: str) -> list[Json]:
        with self._lock:
            issue = self._find(key)
            return [self._comment_json(issue, c) for c in issue.comments]

    def remote_links(self, key: str) -> list[Json]:
        with self._lock:
            return list(self._find(key).remote_links)

    # -- HTTP entry ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, authorization: str | None, raw: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        """One request in, one answer out (None: drop the connection without answering)."""
        split = urlsplit(target)
        path = canonical_path(split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        with self._lock:
            self.requests[(method, path)] += 1
            fault = next((f for f in self._faults if self._fault_matches(f, method, path)), None)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        body: Json = None
        actor = self._authenticate(authorization)
        answer: tuple[int, Json]
        if fault is not None and not fault.after_apply:
            answer = (0, None)
        elif actor is None:
            msg = "You are not authenticated. Authentication required to perform this operation."
            answer = (401, JiraApiError(401, [msg]).body)
        else:
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as e:
                answer = (400, JiraApiError(400, [f"Unexpected character: {e}"]).body)
            else:
                answer = self._locked(lambda: self._route(method, path, query, body, actor))
        status = None if fault and fault.drop else (fault.status if fault else answer[0])
        who = None if actor is None else actor.name
        self.log.append(RecordedRequest(method, path, query, body, status, who))
        if fault is not None:
            return None if fault.drop else self._fault_answer(fault)
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        if answer[0] == 401:
            headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
        payload = b"" if answer[1] is None else json.dumps(answer[1]).encode()
        return answer[0], headers, payload

    @staticmethod
    def _fault_matches(f: _Fault, method: str, path: str) -> bool:
        return (f.method is None or f.method == method) and (
            f.path is None or path.startswith(f.path)
        )

    @staticmethod
    def _fault_answer(f: _Fault) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        if f.retry_after is not None:
            headers["Retry-After"] = str(f.retry_after)
        msg = "Rate limit exceeded." if f.status == 429 else f"Injected failure {f.status}"
        return f.status, headers, json.dumps(JiraApiError(f.status, [msg]).body).encode()

    def _authenticate(self, header: str | None) -> Account | None:
        scheme, _, cred = (header or "").partition(" ")
        if scheme.lower() == "bearer":
            return next(
                (a for a in self.accounts if a.pat and hmac.compare_digest(a.pat, cred)), None
            )
        if scheme.lower() != "basic":
            return None
        try:
            user, _, secret = base64.b64decode(cred).decode().partition(":")
        except ValueError:
            return None
        return next(
            (
                a
                for a in self.accounts
                if user in (a.email, a.name)
                and a.api_token
                and hmac.compare_digest(a.api_token, secret)
            ),
            None,
        )

    def _route(
        self, method: str, path: str, q: dict[str, list[str]], body: Json, actor: Account
    ) -> tuple[int, Json]:
        allowed = False
        for m, pattern, fn in self._routes:
            if (match := pattern.fullmatch(path)) is None:
                continue
            allowed = True
            if m == method:
                try:
                    return fn(match, q, body, actor)
                except JiraApiError as e:
                    return e.status, e.body
        if allowed:
            return 405, None
        return 404, JiraApiError(404, [f"null for uri: {self.url}{path}"]).body

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Route]]:
        a = "/rest/api/2/"
        k = r"([^/]+)"
        table: list[tuple[str, str, Route]] = [
            ("GET", a + "serverInfo", self._server_info),
            ("GET", a + "myself", lambda m, q, b, actor: (200, self._myself(actor))),
            ("GET", "/rest/auth/1/session", self._session),
            ("GET", "/rest/applinks/latest/listApplicationlinks", lambda *_: (200, [])),
            ("GET", a + "field", lambda *_: (200, self._fields())),
            ("GET", a + "priority", lambda *_: (200, [self._render(p) for p in self.priorities])),
            (
                "GET",
                a + "resolution",
                lambda *_: (200, [self._render(r) for r in self.resolutions]),
            ),
            ("GET", a + "status", lambda *_: (200, [self._render(s) for s in self.statuses])),
            ("GET", a + "issuetype", self._issue_types),
            ("GET", a + "issueLinkType", self._link_types),
            ("GET", a + "project", self._projects),
            ("GET", a + "project/" + k, self._project),
            ("GET", a + "user", self._user),
            ("GET", a + "user/search", self._user_search),
            ("POST", a + "issue", lambda m, q, b, actor: self._created(self._op_create(b, actor))),
            ("GET", a + "issue/" + k, self._get_issue),
            ("PUT", a + "issue/" + k, self._put_issue),
            ("DELETE", a + "issue/" + k, self._delete_issue),
            ("PUT", a + f"issue/{k}/assignee", self._assign),
            ("GET", a + f"issue/{k}/changelog", self._changelog),
            ("GET", a + f"issue/{k}/transitions", self._get_transitions),
            ("POST", a + f"issue/{k}/transitions", self._post_transition),
            ("GET", a + f"issue/{k}/comment", self._get_comments),
            ("POST", a + f"issue/{k}/comment", self._post_comment),
            ("GET", a + f"issue/{k}/comment/{k}", self._get_comment),
            ("PUT", a + f"issue/{k}/comment/{k}", self._put_comment),
            ("DELETE", a + f"issue/{k}/comment/{k}", self._delete_comment),
            ("GET", a + f"issue/{k}/remotelink", self._get_remote_links),
            ("POST", a + f"issue/{k}/remotelink", self._post_remote_link),
            ("GET", a + f"issue/{k}/remotelink/{k}", self._get_remote_link),
            ("PUT", a + f"issue/{k}/remotelink/{k}", self._put_remote_link),
            ("DELETE", a + f"issue/{k}/remotelink/{k}", self._delete_remote_link),
            ("POST", a + "issueLink", self._post_link),
            ("GET", a + "issueLink/" + k, self._get_link),
            ("DELETE", a + "issueLink/" + k, self._delete_link),
            ("GET", a + "search", self._search),
            ("POST", a + "search", self._search),
            ("GET", a + "search/jql", self._search_jql),
            ("POST", a + "search/jql", self._search_jql),
        ]
        return [(m, re.compile(p), fn) for m, p, fn in table]

    # -- REST handlers: metadata -----------------------------------------------------------

    def _server_info(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        v = [1001, 0, 0] if self.cloud else [9, 12, 2]
        return 200, {
            "baseUrl": self.url,
            "version": ".".join(map(str, v)) + ("-SNAPSHOT" if self.cloud else ""),
            "versionNumbers": v,
            "deploymentType": self.deployment,
            "buildNumber": 100280 if self.cloud else 912002,
            "buildDate": "2024-01-01T00:00:00.000+0000",
            "serverTime": jira_time(self._now()),
            "scmInfo": "0" * 40,
            "serverTitle": "Jira",
        }

    def _myself(self, actor: Account) -> Json:
        return self._user_json(actor) | {"emailAddress": actor.email, "locale": "en_US"}

    def _session(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        info = {"loginCount": 1, "previousLoginTime": jira_time(self._now())}
        return 200, {
            "self": f"{self.api}/user?username={actor.name}",
            "name": actor.name,
            "loginInfo": info,
        }

    def _fields(self) -> list[Json]:
        out = []
        for fid, name, kind, clauses in _SYSTEM_FIELDS:
            schema: Json = {"type": kind, "system": fid}
            if fid == "labels":
                schema["items"] = "string"
            out.append(
                {
                    "id": fid,
                    "key": fid,
                    "name": name,
                    "custom": False,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": clauses,
                    "schema": schema,
                }
            )
        for fid, name in self.custom_fields.items():
            n = int(fid.rsplit("_", 1)[1])
            schema = {
                "type": "string",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                "customId": n,
            }
            out.append(
                {
                    "id": fid,
                    "key": fid,
                    "name": name,
                    "untranslatedName": name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{n}]", name],
                    "schema": schema,
                }
            )
        return out

    def _issue_types(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        seen = {t.id: t for p in self.projects for t in p.issue_types}
        return 200, [self._render(t) for t in seen.values()]

    def _link_types(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        return 200, {"issueLinkTypes": [self._link_type_json(t) for t in self.link_types]}

    def _projects(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        types = "issueTypes" in _q1(q, "expand")
        return 200, [self._project_json(p, types) for p in self.projects]

    def _project(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        return 200, self._project_json(self._find_project(m[1]), types=True)

    def _user(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        ident = _q1(q, "accountId") or _q1(q, "username") or _q1(q, "key")
        found = self._find_account(ident)
        if found is None:
            raise JiraApiError(404, [f"The user with the name '{ident}' does not exist."])
        return 200, self._user_json(found)

    def _user_search(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        term = (_q1(q, "query") or _q1(q, "username")).lower()
        hits = [
            a
            for a in self.accounts
            if term in f"{a.display_name} {a.email} {a.name} {a.account_id}".lower()
        ]
        return 200, [self._user_json(a) for a in hits]

    def _created(self, issue: _Issue) -> tuple[int, Json]:
        return 201, {"id": issue.id, "key": issue.key, "self": f"{self.api}/issue/{issue.id}"}

    def _get_issue(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        issue = self._find(m[1])
        return 200, self._issue_json(issue, _wanted(q.get("fields")), ",".join(q.get("expand", [])))

    def _put_issue(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        self._op_edit(self._find(m[1]), b, actor)
        return 204, None

    def _delete_issue(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        self._op_delete(self._find(m[1]), actor)
        return 204, None

    def _assign(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        issue = self._find(m[1])
        who = b if isinstance(b, dict) and any(b.values()) else None
        self._op_edit(issue, {"fields": {"assignee": who}}, actor)
        return 204, None

    def _changelog(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        h = self._find(m[1]).histories
        page = {"maxResults": 100, "startAt": 0, "total": len(h), "isLast": True, "values": h}
        return 200, page

    def _get_transitions(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        issue, only = self._find(m[1]), _q1(q, "transitionId")
        avail = [t for t in self._available(issue) if not only or t.id == only]
        with_fields = "transitions.fields" in _q1(q, "expand")
        return 200, {
            "expand": "transitions",
            "transitions": [self._transition_json(t, with_fields) for t in avail],
        }

    def _post_transition(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        self._op_transition(self._find(m[1]), b, actor)
        return 204, None

    def _get_comments(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        issue = self._find(m[1])
        start, size = int(_q1(q, "startAt") or 0), int(_q1(q, "maxResults") or 5000)
        ordered = sorted(
            issue.comments, key=lambda c: c.created, reverse=_q1(q, "orderBy") == "-created"
        )
        page = [self._comment_json(issue, c) for c in ordered[start : start + size]]
        return 200, {"startAt": start, "maxResults": size, "total": len(ordered), "comments": page}

    def _post_comment(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        issue = self._find(m[1])
        return 201, self._comment_json(issue, self._op_comment_add(issue, b, actor))

    def _get_comment(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        issue = self._find(m[1])
        return 200, self._comment_json(issue, self._comment(issue, m[2]))

    def _put_comment(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        issue = self._find(m[1])
        return 200, self._comment_json(
            issue, self._op_comment_edit(issue, self._comment(issue, m[2]), b, actor)
        )

    def _delete_comment(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        issue = self._find(m[1])
        c = self._comment(issue, m[2])
        issue.comments.remove(c)
        issue.updated = self._now()
        self._emit_comment("comment_deleted", "issue_comment_deleted", issue, c, actor)
        return 204, None

    # -- REST handlers: links and search ---------------------------------------------------

    def _get_remote_links(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        return 200, self._find(m[1]).remote_links

    def _remote_link(self, issue: _Issue, rid: str) -> Json:
        found = next((r for r in issue.remote_links if str(r["id"]) == rid), None)
        if found is None:
            raise JiraApiError(
                404, [f"No remote link with id '{rid}' exists on issue '{issue.key}'"]
            )
        return found

    def _remote_body(self, b: Json) -> Json:
        obj = b.get("object") if isinstance(b, dict) else None
        if not isinstance(obj, dict):
            raise JiraApiError(400, errors={"object": "'object' is required."})
        errors = {
            k: f"'{k}' is required." for k in ("url", "title") if not isinstance(obj.get(k), str)
        }
        if errors:
            raise JiraApiError(400, errors=errors)
        return {k: b[k] for k in ("globalId", "application", "relationship", "object") if k in b}

    def _post_remote_link(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        issue, data = self._find(m[1]), self._remote_body(b)
        gid = data.get("globalId")
        existing = next((r for r in issue.remote_links if gid and r.get("globalId") == gid), None)
        if existing is not None:
            existing.update(data)
            return 200, {"id": existing["id"], "self": existing["self"]}
        rid = self._next("remotelink")
        link = {"id": rid, "self": f"{self.api}/issue/{issue.id}/remotelink/{rid}"} | data
        issue.remote_links.append(link)
        return 201, {"id": rid, "self": link["self"]}

    def _get_remote_link(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        return 200, self._remote_link(self._find(m[1]), m[2])

    def _put_remote_link(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        link = self._remote_link(self._find(m[1]), m[2])
        data = self._remote_body(b)
        for k in ("globalId", "application", "relationship"):
            link.pop(k, None)
        link.update(data)
        return 204, None

    def _delete_remote_link(
        self, m: re.Match[str], q: Query, b: Json, actor: Account
    ) -> tuple[int, Json]:
        issue = self._find(m[1])
        issue.remote_links.remove(self._remote_link(issue, m[2]))
        return 204, None

    def _post_link(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        if not isinstance(b, dict):
            raise JiraApiError(400, ["Issue link type, inward and outward issues are required."])
        t: dict[str, Any] = b["type"] if isinstance(b.get("type"), dict) else {}
        lt = next(
            (x for x in self.link_types if t.get("name") == x[1] or t.get("id") == x[0]), None
        )
        if lt is None:
            raise JiraApiError(404, [f"No issue link type with name '{t.get('name')}' found."])
        ends = []
        for side in ("inwardIssue", "outwardIssue"):
            ref = b.get(side)
            if not isinstance(ref, dict):
                raise JiraApiError(400, errors={side: f"'{side}' is required."})
            ends.append(self._find(str(ref.get("key") or ref.get("id"))))
        lid = str(self._next("link"))
        self._links[lid] = (lt, ends[0].id, ends[1].id)
        link = {
            "id": int(lid),
            "sourceIssueId": int(ends[0].id),
            "destinationIssueId": int(ends[1].id),
            "issueLinkType": self._link_type_json(lt),
            "systemLink": False,
        }
        self._emit("issuelink_created", {"issueLink": link})
        return 201, None

    def _link(self, lid: str) -> tuple[tuple[str, str, str, str], str, str]:
        if lid not in self._links:
            raise JiraApiError(404, [f"No issue link with id '{lid}' exists."])
        return self._links[lid]

    def _get_link(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        lt, inward, outward = self._link(m[1])
        return 200, {
            "id": m[1],
            "self": f"{self.api}/issueLink/{m[1]}",
            "type": self._link_type_json(lt),
            "inwardIssue": self._brief(self._issues[inward]),
            "outwardIssue": self._brief(self._issues[outward]),
        }

    def _delete_link(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        lt, inward, outward = self._link(m[1])
        del self._links[m[1]]
        link = {
            "id": int(m[1]),
            "sourceIssueId": int(inward),
            "destinationIssueId": int(outward),
            "issueLinkType": self._link_type_json(lt),
            "systemLink": False,
        }
        self._emit("issuelink_deleted", {"issueLink": link})
        return 204, None

    def _search_params(self, q: Query, b: Json) -> dict[str, Any]:
        if isinstance(b, dict):
            return b
        return {k: (",".join(v) if k == "fields" else v[0]) for k, v in q.items()}

    def _search(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        p = self._search_params(q, b)
        strict = str(p.get("validateQuery", "strict")).lower() not in ("false", "none", "warn")
        hits = self._query(str(p.get("jql") or ""), strict)
        start, size = int(p.get("startAt") or 0), min(int(p.get("maxResults") or 50), 100)
        wanted, expand = _wanted(p.get("fields")), str(p.get("expand") or "")
        page = [self._issue_json(i, wanted, expand) for i in hits[start : start + size]]
        return 200, {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(hits),
            "issues": page,
        }

    def _search_jql(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        p = self._search_params(q, b)
        hits = self._query(str(p.get("jql") or ""), strict=True)
        start, size = int(p.get("nextPageToken") or 0), min(int(p.get("maxResults") or 50), 100)
        wanted = (
            _wanted(p.get("fields")) if p.get("fields") else {"id"}
        )  # Cloud's default: ids only
        page = [
            self._issue_json(i, wanted, str(p.get("expand") or ""))
            for i in hits[start : start + size]
        ]
        out: Json = {"issues": page, "isLast": start + size >= len(hits)}
        if not out["isLast"]:
            out["nextPageToken"] = str(start + size)
        return 200, out

    # -- operations: every change, from REST or from the JIRA side, goes through these -----

    def _op_create(self, body: Json, actor: Account) -> _Issue:
        fields, update = self._body_parts(body)
        fields = dict(fields)
        if "project" not in fields:
            raise JiraApiError(400, errors={"project": "Specify a valid project ID or key"})
        project = self._find_project_ref(fields.pop("project"))
        blank: dict[str, Any] = {
            f: None for f in ("summary", "description", "issuetype", "assignee", "duedate")
        }
        blank |= {f: None for f in self.custom_fields}
        blank |= {"priority": self.priorities[len(self.priorities) // 2], "labels": []}
        blank |= {
            "reporter": actor,
            "creator": actor,
            "status": self.statuses[0],
            "resolution": None,
        }
        allowed = self.editable | {"reporter"}
        values, errors, comments = self._apply(blank, project, fields, update, allowed)
        if values["summary"] is None:
            errors.setdefault("summary", "You must specify a summary of the issue.")
        if values["issuetype"] is None:
            errors.setdefault("issuetype", "Specify an issue type")
        if errors:
            raise JiraApiError(400, errors=errors)
        now = self._now()
        number = self._next_number[project.key] = self._next_number.get(project.key, 0) + 1
        values |= {"resolutiondate": None, "statuscategorychangedate": now}
        issue = _Issue(
            str(self._next("issue")), f"{project.key}-{number}", project, values, now, now
        )
        self._issues[issue.id] = issue
        payload: Json = {
            "issue_event_type_name": "issue_created",
            "user": self._user_json(actor),
            "issue": self._issue_json(issue),
        }
        if self.cloud:  # Cloud describes the creation as a changelog too (field "Status")
            born = [
                self._item("status", None, values["status"]),
                self._item("priority", None, values["priority"]),
            ]
            born[0]["field"] = "Status"
            payload["changelog"] = {"id": str(self._next("history")), "items": born}
        self._emit("jira:issue_created", payload)
        if comments:
            self._commit(issue, issue.values, actor, None, comments)
        return issue

    def _op_edit(self, issue: _Issue, body: Json, actor: Account) -> None:
        fields, update = self._body_parts(body)
        values, errors, comments = self._apply(
            issue.values, issue.project, fields, update, self.editable
        )
        if errors:
            raise JiraApiError(400, errors=errors)
        self._commit(issue, values, actor, None, comments)

    def _op_transition(self, issue: _Issue, body: Json, actor: Account) -> None:
        t_ref = body.get("transition") if isinstance(body, dict) else None
        if not isinstance(t_ref, dict) or t_ref.get("id") is None:
            raise JiraApiError(400, ["Missing 'transition' identifier"])
        tid = str(t_ref["id"])
        t = next((t for t in self._available(issue) if t.id == tid), None)
        if t is None:
            raise JiraApiError(400, [f"Transition id '{tid}' is not valid for this issue."])
        target = self._status(t.to)
        fields, update = self._body_parts(body, need_fields=False)
        allowed = self.editable | ({"resolution"} if target.category == "done" else set())
        values, errors, comments = self._apply(issue.values, issue.project, fields, update, allowed)
        if errors:
            raise JiraApiError(400, errors=errors)
        values["status"] = target
        if target.category != "done":
            values["resolution"] = None
        elif values["resolution"] is None and "resolution" not in fields:
            values["resolution"] = self.done_resolution
        self._commit(issue, values, actor, t.event, comments)

    def _op_comment_add(self, issue: _Issue, body: Json, actor: Account) -> _Comment:
        self._check_comment(body)
        return self._commit(issue, issue.values, actor, None, [body])[0]

    def _op_comment_edit(self, issue: _Issue, c: _Comment, body: Json, actor: Account) -> _Comment:
        self._check_comment(body)
        now = self._now()
        c.body, c.update_author, c.updated, issue.updated = body["body"], actor, now, now
        if "visibility" in body:
            c.visibility = body["visibility"]
        self._emit_comment("comment_updated", "issue_comment_edited", issue, c, actor)
        return c

    def _op_delete(self, issue: _Issue, actor: Account) -> None:
        payload: Json = {"user": self._user_json(actor), "issue": self._issue_json(issue)}
        if not self.cloud:
            payload["issue_event_type_name"] = "issue_deleted"
        del self._issues[issue.id]
        self._links = {k: v for k, v in self._links.items() if issue.id not in v[1:]}
        self._emit("jira:issue_deleted", payload)

    def _commit(
        self,
        issue: _Issue,
        values: dict[str, Any],
        actor: Account,
        event: str | None,
        comments: Sequence[Json],
    ) -> list[_Comment]:
        """Store new values and comments, write the changelog and fire the webhooks JIRA fires."""
        now = self._now()
        order = [
            "summary",
            "description",
            "issuetype",
            "priority",
            "labels",
            "assignee",
            "duedate",
            *self.custom_fields,
            "status",
            "resolution",
        ]
        items = [it for f in order if (it := self._item(f, issue.values.get(f), values.get(f)))]
        if values.get("resolution") is None:
            values["resolutiondate"] = None
        elif issue.values.get("resolution") is None:
            values["resolutiondate"] = now
        if values["status"].category != issue.values["status"].category:
            values["statuscategorychangedate"] = now
        issue.values = values
        made = []
        for body in comments:
            internal = any(
                p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal")
                for p in body.get("properties") or []
                if isinstance(p, dict)
            )
            c = _Comment(
                str(self._next("comment")),
                body["body"],
                actor,
                actor,
                now,
                now,
                bool(internal),
                body.get("visibility"),
            )
            issue.comments.append(c)
            made.append(c)
        if not items and not made:
            return made
        issue.updated = now
        if event is None:
            only_assignee = items and all(i["field"] == "assignee" for i in items)
            event = (
                "issue_assigned"
                if only_assignee
                else "issue_updated"
                if items
                else "issue_commented"
            )
        payload: Json = {
            "issue_event_type_name": event,
            "user": self._user_json(actor),
            "issue": self._issue_json(issue),
        }
        if items:
            history = {
                "id": str(self._next("history")),
                "author": self._user_json(actor),
                "created": jira_time(now),
                "items": items,
            }
            issue.histories.append(history)
            payload["changelog"] = {"id": history["id"], "items": items}
        if made:
            payload["comment"] = self._comment_json(issue, made[-1])
        self._emit("jira:issue_updated", payload)
        for c in made:
            self._emit("comment_created", self._comment_event(issue, c))
        return made

    def _emit_comment(
        self, name: str, event: str, issue: _Issue, c: _Comment, actor: Account
    ) -> None:
        comment = self._comment_json(issue, c)
        self._emit(
            "jira:issue_updated",
            {
                "issue_event_type_name": event,
                "user": self._user_json(actor),
                "issue": self._issue_json(issue),
                "comment": comment,
            },
        )
        self._emit(name, self._comment_event(issue, c))

    def _comment_event(self, issue: _Issue, c: _Comment) -> Json:
        """comment_* payloads: Server's carry the comment only, Cloud's a reduced issue too."""
        out = {"comment": self._comment_json(issue, c)}
        return out | {"issue": self._brief(issue)} if self.cloud else out

    # -- field values ----------------------------------------------------------------------

    def _body_parts(
        self, body: Json, need_fields: bool = True
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        if not isinstance(body, dict):
            raise JiraApiError(
                400, ["Can not deserialize instance of issue out of the request body"]
            )
        fields, update = body.get("fields") or {}, body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise JiraApiError(400, ["'fields' and 'update' must be JSON objects"])
        if need_fields and not fields and not update:
            raise JiraApiError(400, ["No fields or update operations were given"])
        return fields, update

    def _apply(
        self,
        current: Mapping[str, Any],
        project: _Project,
        fields: Mapping[str, Any],
        update: Mapping[str, Any],
        allowed: set[str],
    ) -> tuple[dict[str, Any], dict[str, str], list[Json]]:
        values, errors, comments = dict(current), {}, []
        cannot = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
        for fid, raw in fields.items():
            if fid not in allowed:
                errors[fid] = cannot.format(fid)
                continue
            try:
                values[fid] = self._parse(fid, raw, project)
            except _FieldError as e:
                errors[fid] = str(e)
        for fid, ops in update.items():
            if fid != "comment" and fid not in allowed:
                errors[fid] = cannot.format(fid)
                continue
            if not isinstance(ops, list) or not all(
                isinstance(o, dict) and len(o) == 1 for o in ops
            ):
                errors[fid] = f"Field '{fid}': update operations must be a list of one-key objects."
                continue
            for ((verb, arg),) in (tuple(o.items()) for o in ops):
                try:
                    if fid == "comment" and verb == "add":
                        self._check_comment(arg)
                        comments.append(arg)
                    elif verb == "set" and fid != "comment":
                        values[fid] = self._parse(fid, arg, project)
                    elif fid == "labels" and verb in ("add", "remove"):
                        label = self._parse("labels", [arg], project)[0]
                        have = set(values["labels"])
                        values["labels"] = sorted(
                            have | {label} if verb == "add" else have - {label}
                        )
                    else:
                        raise _FieldError(f"Operation '{verb}' is not supported for field '{fid}'.")
                except (_FieldError, JiraApiError) as e:
                    errors[fid] = (
                        str(e) if isinstance(e, _FieldError) else "Comment body can not be empty!"
                    )
        return values, errors, comments

    def _parse(self, fid: str, raw: Json, project: _Project) -> Any:
        if fid == "summary":
            if not isinstance(raw, str) or not raw.strip():
                raise _FieldError("You must specify a summary of the issue.")
            if len(raw) > 255 or "\n" in raw:
                raise _FieldError("Summary must be less than 255 characters and on one line.")
            return raw
        if fid == "description" or fid in self.custom_fields:
            if raw is not None and not isinstance(raw, str):
                raise _FieldError("Operation value must be a string")
            return raw or None
        if fid == "labels":
            if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
                raise _FieldError("Labels must be a list of strings.")
            if bad := [x for x in raw if re.search(r"\s", x)]:
                raise _FieldError(f"The label '{bad[0]}' contains spaces which is invalid.")
            return sorted(set(raw))
        if fid == "duedate":
            if raw is not None and not (
                isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw)
            ):
                raise _FieldError(f"Error parsing date string: {raw}")
            return raw
        if fid in ("assignee", "reporter"):
            if raw is None:
                return None
            ident = next(
                (
                    raw.get(k)
                    for k in ("accountId", "name", "key", "id")
                    if isinstance(raw, dict) and raw.get(k)
                ),
                None,
            )
            found = self._find_account(ident) if isinstance(ident, str) else None
            if found is None:
                raise _FieldError(f"User '{ident}' does not exist.")
            return found
        if fid == "resolution" and raw is None:
            return None
        refs = {
            "priority": self.priorities,
            "resolution": self.resolutions,
            "issuetype": list(project.issue_types),
        }
        msgs = {
            "priority": "The priority selected is invalid.",
            "issuetype": "Specify a valid issue type",
            "resolution": "Could not find valid 'id' or 'name' in resolution object.",
        }
        return self._lookup(refs[fid], raw, msgs[fid])

    @staticmethod
    def _lookup(refs: Sequence[_Ref], raw: Json, msg: str) -> _Ref:
        if isinstance(raw, dict):
            for r in refs:
                if str(raw.get("id")) == r.id or raw.get("name") == r.name:
                    return r
        raise _FieldError(msg) if msg else ValueError(f"unknown: {raw}")

    def _item(self, fid: str, old: Any, new: Any) -> Json:
        if old == new:
            return None
        custom = fid in self.custom_fields
        item: Json = {
            "field": self.custom_fields[fid] if custom else fid,
            "fieldtype": "custom" if custom else "jira",
        }
        if self.cloud:
            item["fieldId"] = fid
        item |= {
            "from": self._ident(old),
            "fromString": self._text(old),
            "to": self._ident(new),
            "toString": self._text(new),
        }
        if self.cloud and fid == "assignee":
            item |= {"tmpFromAccountId": item["from"], "tmpToAccountId": item["to"]}
        return item

    def _ident(self, v: Any) -> str | None:
        if isinstance(v, Status | _Ref):
            return v.id
        if isinstance(v, Account):
            return v.account_id if self.cloud else v.name
        return v if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else None

    @staticmethod
    def _text(v: Any) -> str | None:
        if isinstance(v, Status | _Ref):
            return v.name
        if isinstance(v, Account):
            return v.display_name
        if isinstance(v, list):
            return " ".join(v)
        return v if isinstance(v, str) else None

    def _friendly(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Direct calls may name priorities, types, resolutions and users; REST may not."""
        out = dict(fields)
        for fid in ("priority", "issuetype", "resolution"):
            if isinstance(out.get(fid), str):
                out[fid] = {"name": out[fid]}
        for fid in ("assignee", "reporter"):
            if isinstance(out.get(fid), Account):
                out[fid] = {"accountId": out[fid].account_id}
        return out

    def _check_comment(self, body: Json) -> None:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("body"), str)
            or not body["body"].strip()
        ):
            raise JiraApiError(400, errors={"comment": "Comment body can not be empty!"})

    # -- lookups ---------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now()

    def _next(self, counter: str) -> int:
        return next(self._counters.setdefault(counter, itertools.count(10000)))

    def _find(self, ident: str) -> _Issue:
        with self._lock:
            for issue in self._issues.values():
                if ident in (issue.id, issue.key) or ident.upper() == issue.key:
                    return issue
        raise JiraApiError(404, [NOT_FOUND])

    def _find_project(self, ident: str) -> _Project:
        for p in self.projects:
            if ident in (p.id, p.key) or ident.upper() == p.key:
                return p
        raise JiraApiError(404, [f"No project could be found with key '{ident}'."])

    def _find_project_ref(self, raw: Json) -> _Project:
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

    def _status_name(self, issue: _Issue) -> str:
        return str(issue.values["status"].name)

    def _available(self, issue: _Issue) -> list[Transition]:
        here = self._status_name(issue)
        return [
            t for t in self.transitions if t.to != here and (t.sources is None or here in t.sources)
        ]

    def _comment(self, issue: _Issue, cid: str) -> _Comment:
        found = next((c for c in issue.comments if c.id == cid), None)
        if found is None:
            raise JiraApiError(404, [f"Can not find a comment for the id: {cid}."])
        return found

    # -- rendering -------------------------------------------------------------------------

    def _render(self, v: Any) -> Json:
        if isinstance(v, Status):
            cid, cname, colour = _CATEGORY[v.category]
            cat = {
                "self": f"{self.api}/statuscategory/{cid}",
                "id": cid,
                "key": v.category,
                "colorName": colour,
                "name": cname,
            }
            return {
                "self": f"{self.api}/status/{v.id}",
                "description": "",
                "iconUrl": f"{self.url}/images/icons/status.png",
                "name": v.name,
                "id": v.id,
                "statusCategory": cat,
            }
        if isinstance(v, _Ref):
            out: Json = {"self": f"{self.api}/{v.kind}/{v.id}", "id": v.id, "name": v.name}
            if v.kind == "issuetype":
                out |= {
                    "description": "",
                    "subtask": False,
                    "hierarchyLevel": 0,
                    "iconUrl": f"{self.url}/images/icons/issuetypes/{v.name.lower()}.svg",
                }
            elif v.kind == "priority":
                out["iconUrl"] = f"{self.url}/images/icons/priorities/{v.name.lower()}.svg"
            else:
                out["description"] = ""
            return out
        if isinstance(v, Account):
            return self._user_json(v)
        if isinstance(v, datetime):
            return jira_time(v)
        return v

    def _user_json(self, a: Account) -> Json:
        avatars = {
            s: f"{self.url}/secure/useravatar?size={s}&owner={a.key}"
            for s in ("48x48", "24x24", "16x16", "32x32")
        }
        if self.cloud:
            return {
                "self": f"{self.api}/user?accountId={a.account_id}",
                "accountId": a.account_id,
                "avatarUrls": avatars,
                "displayName": a.display_name,
                "active": True,
                "timeZone": "UTC",
                "accountType": "atlassian",
            }
        return {
            "self": f"{self.api}/user?username={a.name}",
            "name": a.name,
            "key": a.key,
            "emailAddress": a.email,
            "avatarUrls": avatars,
            "displayName": a.display_name,
            "active": True,
            "timeZone": "UTC",
        }

    def _project_json(self, p: _Project, types: bool = False) -> Json:
        out = {
            "self": f"{self.api}/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "avatarUrls": {"48x48": f"{self.url}/secure/projectavatar?pid={p.id}"},
        }
        if types:
            out["issueTypes"] = [self._render(t) for t in p.issue_types]
        return out

    def _link_type_json(self, t: tuple[str, str, str, str]) -> Json:
        return {
            "id": t[0],
            "name": t[1],
            "inward": t[2],
            "outward": t[3],
            "self": f"{self.api}/issueLinkType/{t[0]}",
        }

    def _transition_json(self, t: Transition, with_fields: bool) -> Json:
        target = self._status(t.to)
        out = {
            "id": t.id,
            "name": t.name,
            "to": self._render(target),
            "hasScreen": False,
            "isGlobal": t.sources is None,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        if with_fields:
            res = {
                "required": False,
                "name": "Resolution",
                "key": "resolution",
                "operations": ["set"],
                "schema": {"type": "resolution", "system": "resolution"},
                "allowedValues": [self._render(r) for r in self.resolutions],
            }
            out["fields"] = {"resolution": res} if target.category == "done" else {}
        return out

    def _comment_json(self, issue: _Issue, c: _Comment) -> Json:
        out = {
            "self": f"{self.api}/issue/{issue.id}/comment/{c.id}",
            "id": c.id,
            "author": self._user_json(c.author),
            "body": c.body,
            "updateAuthor": self._user_json(c.update_author),
            "created": jira_time(c.created),
            "updated": jira_time(c.updated),
        }
        if self.cloud:
            out["jsdPublic"] = not c.internal
        if c.visibility is not None:
            out["visibility"] = c.visibility
        return out

    def _brief(self, issue: _Issue) -> Json:
        keep = ("summary", "issuetype", "priority", "status", "assignee")
        fields = {f: self._render(issue.values[f]) for f in keep} | {
            "project": self._project_json(issue.project)
        }
        return {
            "id": issue.id,
            "self": f"{self.api}/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }

    def _issue_json(self, issue: _Issue, wanted: set[str] | None = None, expand: str = "") -> Json:
        fields = {f: self._render(v) for f, v in issue.values.items()}
        fields |= {
            "project": self._project_json(issue.project),
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
            "lastViewed": None,
        }
        cs = [self._comment_json(issue, c) for c in issue.comments]
        fields["comment"] = {"comments": cs, "maxResults": len(cs), "total": len(cs), "startAt": 0}
        links = []
        for lid, (lt, inward, outward) in self._links.items():
            if issue.id in (inward, outward):
                side, other = (
                    ("outwardIssue", outward) if issue.id == inward else ("inwardIssue", inward)
                )
                links.append(
                    {
                        "id": lid,
                        "self": f"{self.api}/issueLink/{lid}",
                        "type": self._link_type_json(lt),
                        side: self._brief(self._issues[other]),
                    }
                )
        fields["issuelinks"] = links
        if wanted is not None:
            fields = {k: v for k, v in fields.items() if k in wanted}
        out = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": issue.id,
            "self": f"{self.api}/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }
        if "changelog" in expand:
            h = issue.histories
            out["changelog"] = {"startAt": 0, "maxResults": len(h), "total": len(h), "histories": h}
        return out

    # -- JQL -------------------------------------------------------------------------------

    def _query(self, jql: str, strict: bool) -> list[_Issue]:
        pred, order = _JqlParser(self, jql, strict).parse()
        hits = [i for i in self._issues.values() if pred(i)]
        hits.sort(key=lambda i: int(i.id), reverse=True)  # no ORDER BY: newest first
        for name, desc in reversed(order):
            hits.sort(key=self._sort_key(name), reverse=desc)
        return hits

    def _sort_key(self, name: str) -> Callable[[_Issue], Any]:
        n = name.lower()
        if n in ("key", "issuekey", "id"):
            return lambda i: (i.project.key, int(i.key.rsplit("-", 1)[1]))
        if n in ("created", "updated"):
            return lambda i: getattr(i, n)
        if n == "priority":
            return lambda i: -self.priorities.index(i.values["priority"])
        if n == "status":
            return lambda i: self.statuses.index(i.values["status"])
        fid = self._jql_field(name)[1]
        return lambda i: (i.values.get(fid) is None, str(self._text(i.values.get(fid)) or ""))

    def _jql_field(self, name: str) -> tuple[str, str]:
        """(kind, field id) for a JQL field name, or JIRA's 400 for an unknown one."""
        n = name.lower()
        aliases = {
            "issuekey": "key",
            "id": "key",
            "type": "issuetype",
            "createddate": "created",
            "updateddate": "updated",
            "resolved": "resolutiondate",
            "due": "duedate",
        }
        n = aliases.get(n, n)
        kinds = {
            "key": "key",
            "labels": "labels",
            "summary": "text",
            "description": "text",
            "text": "text",
            "comment": "text",
            "created": "date",
            "updated": "date",
            "resolutiondate": "date",
            "statuscategorychangedate": "date",
        }
        if n in kinds:
            return kinds[n], n
        if n in (
            "project",
            "status",
            "priority",
            "issuetype",
            "resolution",
            "assignee",
            "reporter",
            "creator",
        ):
            return "ref", n
        for fid, cname in self.custom_fields.items():
            if n in (cname.lower(), f"cf[{fid.rsplit('_', 1)[1]}]", fid):
                return "text", fid
        raise JiraApiError(
            400, [f"Field '{name}' does not exist or you do not have permission to view it."]
        )

    def _idents(self, issue: _Issue, fid: str) -> set[str]:
        v = issue.project if fid == "project" else issue.values.get(fid)
        if v is None:
            return set()
        if isinstance(v, _Project):
            return {v.id, v.key.lower(), v.name.lower()}
        if isinstance(v, Account):
            return {v.account_id.lower(), v.name.lower(), v.key.lower(), v.email.lower()}
        return {v.id, v.name.lower()}

    def _known(self, fid: str) -> set[str]:
        if fid == "project":
            return {x for p in self.projects for x in (p.id, p.key.lower(), p.name.lower())}
        if fid in ("assignee", "reporter", "creator"):
            return {
                x.lower() for a in self.accounts for x in (a.account_id, a.name, a.key, a.email)
            }
        by_field: dict[str, Sequence[Status | _Ref]] = {
            "status": self.statuses,
            "priority": self.priorities,
            "resolution": self.resolutions,
            "issuetype": [t for p in self.projects for t in p.issue_types],
        }
        refs = by_field[fid]
        return {x for r in refs for x in (r.id, r.name.lower())} | (
            {"unresolved"} if fid == "resolution" else set()
        )

    def _text_of(self, issue: _Issue, fid: str) -> str | None:
        if fid == "comment":
            return "\n".join(c.body for c in issue.comments) or None
        if fid == "text":
            parts = [
                issue.values["summary"],
                issue.values["description"],
                *(c.body for c in issue.comments),
            ]
            parts += [issue.values[f] for f in self.custom_fields]
            return "\n".join(p for p in parts if p) or None
        v = issue.values.get(fid)
        return v if isinstance(v, str) else None

    def _date_of(self, issue: _Issue, fid: str) -> datetime | None:
        v = getattr(issue, fid) if fid in ("created", "updated") else issue.values.get(fid)
        return v if isinstance(v, datetime) else None


Route = Callable[[re.Match[str], Query, Json, Account], tuple[int, Json]]


def _q1(q: Query, name: str) -> str:
    return q.get(name, [""])[0]


def _csv(q: Query, name: str) -> set[str]:
    return {x for v in q.get(name, []) for x in v.split(",") if x}


def _wanted(raw: Any) -> set[str] | None:
    """Field ids asked for; None means all (``*all``, ``*navigable`` or nothing asked)."""
    names = raw if isinstance(raw, list) else str(raw or "").split(",")
    names = [n.strip() for part in names for n in str(part).split(",") if n.strip()]
    if not names or {"*all", "*navigable"} & set(names):
        return None
    return {n for n in names if not n.startswith("-")}


_TOKEN = re.compile(
    r"""\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(!=|!~|>=|<=|=|~|>|<)|([(),])|([^\s"'(),=!~<>]+))"""
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_RELATIVE = re.compile(r"([-+]?)(\d+)([wdhm])")
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")


class _JqlParser:
    """The JQL the adapter needs: AND/OR/NOT, parentheses, = != ~ !~ < <= > >= IN, NOT IN,
    IS [NOT] EMPTY, ORDER BY. Text ``~`` matches when every word of the value (``word*`` as a
    prefix) occurs in the field, as JIRA's index does; ``=`` on a text field is JIRA's 400."""

    def __init__(self, jira: JiraStandin, jql: str, strict: bool) -> None:
        self.jira, self.strict, self.pos = jira, strict, 0
        self.tokens: list[tuple[str, str]] = []
        i = 0
        while jql[i:].strip():
            m = _TOKEN.match(jql, i)
            if m is None:
                raise self.error(
                    f"The character '{jql[i:].lstrip()[0]}' is a reserved JQL character."
                )
            s, op, punct, word = m.groups()
            if s is not None:
                self.tokens.append(("str", re.sub(r"\\(.)", r"\1", s[1:-1])))
            else:
                self.tokens.append(
                    ("op", op) if op else ("punct", punct) if punct else ("word", word)
                )
            i = m.end()

    @staticmethod
    def error(msg: str) -> JiraApiError:
        return JiraApiError(400, [f"Error in the JQL Query: {msg}"])

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.error("Expecting more input at the end of the query.")
        self.pos += 1
        return tok

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() in words:
            self.pos += 1
            return tok[1].upper()
        return None

    def parse(self) -> tuple[Pred, list[tuple[str, bool]]]:
        pred: Pred = lambda i: True  # noqa: E731
        first = self.peek()
        if first is not None and first[1].upper() != "ORDER":
            pred = self.or_()
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            if not self.keyword("BY"):
                raise self.error("Expecting 'BY' after 'ORDER'.")
            while True:
                name = self.take()[1]
                self.jira._sort_key(name)  # unknown fields are an error, as in JIRA
                order.append((name, self.keyword("ASC", "DESC") == "DESC"))
                if self.peek() != ("punct", ","):
                    break
                self.pos += 1
        if (extra := self.peek()) is not None:
            raise self.error(f"Expecting operator or end of query but got '{extra[1]}'.")
        return pred, order

    def or_(self) -> Pred:
        left = self.and_()
        while self.keyword("OR"):
            a, b = left, self.and_()
            left = _either(a, b)
        return left

    def and_(self) -> Pred:
        left = self.unary()
        while self.keyword("AND"):
            a, b = left, self.unary()
            left = _both(a, b)
        return left

    def unary(self) -> Pred:
        if self.keyword("NOT"):
            inner = self.unary()
            return lambda i: not inner(i)
        if self.peek() == ("punct", "("):
            self.pos += 1
            inner = self.or_()
            if self.take() != ("punct", ")"):
                raise self.error("Expecting ')'.")
            return inner
        return self.clause()

    def value(self) -> str:
        kind, text = self.take()
        if kind not in ("word", "str"):
            raise self.error(f"Expecting a value but got '{text}'.")
        return text

    def clause(self) -> Pred:
        name = self.value()
        kind, fid = self.jira._jql_field(name)
        tok = self.take()
        if tok[0] == "op":
            op, values = tok[1], [self.value()]
        elif tok[1].upper() == "IS":
            op = "is not" if self.keyword("NOT") else "is"
            if not self.keyword("EMPTY", "NULL"):
                raise self.error("Expecting EMPTY or NULL after IS.")
            values = []
        elif tok[1].upper() in ("IN", "NOT"):
            op = "in" if tok[1].upper() == "IN" else "not in"
            if op == "not in" and not self.keyword("IN"):
                raise self.error("Expecting 'IN' after 'NOT'.")
            if self.take() != ("punct", "("):
                raise self.error("Expecting '(' after IN.")
            values = [self.value()]
            while self.take() == ("punct", ","):
                values.append(self.value())
            if self.tokens[self.pos - 1] != ("punct", ")"):
                raise self.error("Expecting ')' to close the list.")
        else:
            raise self.error(f"Expecting operator but got '{tok[1]}'.")
        return self.predicate(name, kind, fid, op, values)

    def unsupported(self, op: str, name: str) -> JiraApiError:
        return self.error(f"The operator '{op}' is not supported by the '{name}' field.")

    def predicate(self, name: str, kind: str, fid: str, op: str, values: list[str]) -> Pred:
        j = self.jira
        if op in ("is", "is not"):
            want_empty = op == "is"
            if kind == "key":
                raise self.unsupported(op.upper(), name)
            empties: dict[str, Pred] = {
                "text": lambda i: j._text_of(i, fid) is None,
                "date": lambda i: j._date_of(i, fid) is None,
                "labels": lambda i: not i.values["labels"],
                "ref": lambda i: not j._idents(i, fid),
            }
            empty = empties[kind]
            return lambda i: empty(i) == want_empty
        if kind == "text":
            if op not in ("~", "!~"):
                raise self.unsupported(op, name)
            words = [w for w in re.findall(r"\w+\*?", values[0].lower())]
            hit: Pred = lambda i: _words_match(words, j._text_of(i, fid))  # noqa: E731
            return hit if op == "~" else lambda i: j._text_of(i, fid) is not None and not hit(i)
        if kind == "date":
            if op not in ("=", "!=", "<", "<=", ">", ">="):
                raise self.unsupported(op, name)
            at = self.date(values[0], name)
            cmp = _COMPARE[op]
            return lambda i: (d := j._date_of(i, fid)) is not None and cmp(d, at)
        if kind == "key":
            return self.key_predicate(name, op, values)
        if op not in ("=", "!=", "in", "not in"):
            raise self.unsupported(op, name)
        if kind == "labels":
            wanted = set(values)
            has: Pred = lambda i: bool(wanted & set(i.values["labels"]))  # noqa: E731
            return has if op in ("=", "in") else lambda i: bool(i.values["labels"]) and not has(i)
        lowered = {v.lower() for v in values}
        known = j._known(fid)
        unknown = [v for v in values if v.lower() not in known]
        if unknown and self.strict:
            raise JiraApiError(
                400, [f"The value '{unknown[0]}' does not exist for the field '{name}'."]
            )
        unresolved = fid == "resolution" and "unresolved" in lowered

        def match(i: _Issue) -> bool:
            return bool(j._idents(i, fid) & lowered) or (unresolved and not j._idents(i, fid))

        if op in ("=", "in"):
            return match
        return lambda i: (bool(j._idents(i, fid)) or unresolved) and not match(i)

    def key_predicate(self, name: str, op: str, values: list[str]) -> Pred:
        keys = [v.upper() for v in values]
        for k in keys:
            if not (_KEY.fullmatch(k) or k.isdigit()):
                raise self.error(f"The issue key '{k}' for field '{name}' is invalid.")
            if self.strict and not any(k in (i.key, i.id) for i in self.jira._issues.values()):
                raise JiraApiError(
                    400, [f"An issue with key '{k}' does not exist for field '{name}'."]
                )
        if op in ("=", "in", "!=", "not in"):
            hit: Pred = lambda i: i.key in keys or i.id in keys  # noqa: E731
            return hit if op in ("=", "in") else lambda i: not hit(i)
        if op not in _COMPARE:
            raise self.unsupported(op, name)
        project, number = keys[0].rsplit("-", 1)
        cmp = _COMPARE[op]
        return lambda i: i.project.key == project and cmp(int(i.key.rsplit("-", 1)[1]), int(number))

    def date(self, text: str, name: str) -> datetime:
        if m := _RELATIVE.fullmatch(text.strip()):
            unit = {
                "w": timedelta(weeks=1),
                "d": timedelta(days=1),
                "h": timedelta(hours=1),
                "m": timedelta(minutes=1),
            }
            return self.jira._now() + (-1 if m[1] == "-" else 1) * int(m[2]) * unit[m[3]]
        for fmt in _DATE_FORMATS:
            with contextlib.suppress(ValueError):
                return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        raise JiraApiError(
            400,
            [
                f"Date value '{text}' for field '{name}' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                "or a period format e.g. '-5d', '4w 2d'."
            ],
        )


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _either(a: Pred, b: Pred) -> Pred:
    return lambda i: a(i) or b(i)


def _both(a: Pred, b: Pred) -> Pred:
    return lambda i: a(i) and b(i)


def _words_match(words: list[str], text: str | None) -> bool:
    if not words or text is None:
        return False
    have = re.findall(r"\w+", text.lower())
    return all(
        any(h.startswith(w[:-1]) for h in have) if w.endswith("*") else w in have for w in words
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: JiraStandin) -> None:
        super().__init__(address, _Handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        out = self.server.standin.handle(
            self.command, self.path, self.headers.get("Authorization"), raw
        )
        if out is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, payload = out
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


@dataclass(frozen=True, slots=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Json:
        return json.loads(self.body)


class WebhookSink:
    """A loopback endpoint that keeps every POST it gets: a webhook receiver for tests."""

    def __init__(self, status: int = 200, host: str = "127.0.0.1", port: int = 0) -> None:
        self.status, self.host, self.port = status, host, port
        self.received: list[ReceivedWebhook] = []
        self._cv = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/webhook"

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._cv:
                    sink.received.append(
                        ReceivedWebhook(self.path, dict(self.headers.items()), raw)
                    )
                    sink._cv.notify_all()
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """At least ``count`` webhooks received (all of them returned), or TimeoutError."""
        with self._cv:
            if not self._cv.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} webhooks after {timeout}s")
            return list(self.received)

    def events(self) -> list[str]:
        with self._cv:
            return [r.payload["webhookEvent"] for r in self.received]
