"""JiraStandin itself: start and stop, faults and counters, and changes made by a human."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from tests.jira.standin.accounts import Account
from tests.jira.standin.http import Http, StandinServer
from tests.jira.standin.records import Fault, JiraApiError, Json, canonical_path


class JiraStandin(Http):
    """JIRA Cloud (or Server/DC) REST API v2 on ``http://127.0.0.1:port``; see the package doc.

    The options are ``StandinBase.__init__``'s: deployment, accounts, projects, workflow,
    custom fields, clock, webhook delivery mode, host and port.
    """

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> JiraStandin:
        self._server = StandinServer((self.host, self.port), self)
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
            self._faults.append(Fault(n, status, retry_after, drop_connection, m, p, after_apply))

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
