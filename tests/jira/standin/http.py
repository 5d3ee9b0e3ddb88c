"""The HTTP side: authentication, injected faults, routing, and the threaded loopback server."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.jira.standin.accounts import Account
from tests.jira.standin.records import (
    Fault,
    JiraApiError,
    Json,
    RecordedRequest,
    Route,
    canonical_path,
)
from tests.jira.standin.rest_issues import IssueRoutes
from tests.jira.standin.rest_meta import MetaRoutes


class Http(MetaRoutes, IssueRoutes):
    """One request in, one answer out: faults first, then authentication, then the route."""

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
    def _fault_matches(f: Fault, method: str, path: str) -> bool:
        return (f.method is None or f.method == method) and (
            f.path is None or path.startswith(f.path)
        )

    @staticmethod
    def _fault_answer(f: Fault) -> tuple[int, dict[str, str], bytes]:
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


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: Http) -> None:
        super().__init__(address, _Handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: StandinServer

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
