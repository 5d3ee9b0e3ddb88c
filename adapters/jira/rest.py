"""JIRA's REST API through the ``jira`` client, reduced to what sync needs, errors sorted.

The client is built lazily (it calls ``serverInfo`` when constructed) and with its own
retries off by default: the outbox retries instead, honouring Retry-After, so a JIRA outage
never holds the sync thread in a sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from jira import JIRA, JIRAError
from opsledger.adapters.jira.settings import Rule, Site

log = logging.getLogger(__name__)
#: HTTP statuses worth another try later: throttled, or the server (or a proxy) failing.
TRANSIENT = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class SyncError(Exception):
    """A REST call that did not happen; ``transient`` ones are tried again later."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


def sorted_error(error: BaseException) -> SyncError:
    """What a failed call means for the outbox: try again later (when), or give up."""
    if isinstance(error, SyncError):
        return error
    if isinstance(error, JIRAError):
        status = error.status_code
        retry_after = _retry_after(error)
        text = f"JIRA answered {status}: {(error.text or '')[:300]}"
        if status is None or status in TRANSIENT:
            return SyncError(text, transient=True, retry_after=retry_after)
        return SyncError(text, transient=False)
    if isinstance(error, requests.RequestException | OSError):
        return SyncError(f"JIRA unreachable: {type(error).__name__}: {error}", transient=True)
    return SyncError(f"{type(error).__name__}: {error}", transient=False)


def _retry_after(error: JIRAError) -> float | None:
    headers = getattr(error.response, "headers", None) or error.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class IssueView:
    """What reconcile compares of an issue."""

    key: str
    status: str
    priority: str | None
    updated: str | None
    comments: tuple[tuple[str, str], ...]  # (id, body)


class JiraRest:
    """One site's client; every method raises :class:`SyncError` on failure."""

    def __init__(self, site: Site, *, timeout_s: float = 20.0) -> None:
        self.site = site
        self.timeout_s = timeout_s
        self._client: JIRA | None = None

    @property
    def client(self) -> JIRA:
        if self._client is None:
            auth: dict[str, Any] = (
                {"basic_auth": (self.site.email or "", self.site.token)}
                if self.site.deployment == "cloud"
                else {"token_auth": self.site.token}
            )
            try:
                self._client = JIRA(
                    server=self.site.url,
                    max_retries=self.site.max_retries,
                    timeout=self.timeout_s,
                    **auth,
                )
            except Exception as error:
                raise sorted_error(error) from error
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            sorted_ = sorted_error(error)
            log.warning("JIRA %s failed: %s", what, sorted_, extra={"site": self.site.name})
            raise sorted_ from error

    def find_by_ticket(self, rule: Rule, ticket: str) -> str | None:
        """The issue already made for ``ticket`` (a create whose answer was lost)."""
        if rule.ticket_field == "label":
            jql = f'project = "{rule.project}" AND labels = "{rule.label(ticket)}"'
        else:
            number = rule.ticket_field.removeprefix("customfield_")
            jql = f'project = "{rule.project}" AND cf[{number}] ~ "{ticket}"'
        found = self._call("search", lambda: self.client.search_issues(jql, maxResults=2))
        return str(found[0].key) if found else None

    def create(self, rule: Rule, ticket: Mapping[str, Any]) -> str:
        number = str(ticket["number"])
        fields: dict[str, Any] = {
            "project": {"key": rule.project},
            "issuetype": {"name": rule.issue_type},
            "summary": f"[{number}] {ticket.get('summary', '')}"[:250],
            "description": str(ticket.get("description") or ""),
            "labels": ["opsledger", rule.label(number)],
        }
        priority = rule.priority_out.get(str(ticket.get("priority")))
        if priority:
            fields["priority"] = {"name": priority}
        if rule.ticket_field != "label":
            fields[rule.ticket_field] = number
        issue = self._call("create", self.client.create_issue, fields=fields)
        return str(issue.key)

    def status(self, key: str) -> str:
        issue = self._call("read", self.client.issue, key, fields="status")
        return str(issue.fields.status.name)

    def transition_to(self, key: str, status: str) -> bool:
        """Move ``key`` to ``status`` by the transition that leads there (found by its target,
        not a hard-coded id); False when it is there already."""
        if self.status(key).casefold() == status.casefold():
            return False
        available = self._call("transitions", self.client.transitions, key)
        chosen = next(
            (
                t
                for t in available
                if str(t.get("to", {}).get("name", "")).casefold() == status.casefold()
            ),
            None,
        )
        if chosen is None:
            names = ", ".join(str(t.get("to", {}).get("name")) for t in available) or "none"
            raise SyncError(
                f"no transition of {key} leads to {status!r} (to: {names})", transient=False
            )
        self._call("transition", self.client.transition_issue, key, str(chosen["id"]))
        return True

    def comment(self, key: str, body: str) -> str:
        made = self._call("comment", self.client.add_comment, key, body)
        return str(made.id)

    def set_priority(self, key: str, name: str) -> None:
        issue = self._call("read", self.client.issue, key, fields="priority")
        self._call("edit", issue.update, fields={"priority": {"name": name}})

    def link(self, key: str, other: str) -> None:
        self._call("link", self.client.create_issue_link, "Relates", key, other)

    def remote_link(self, key: str, url: str, title: str) -> None:
        self._call("remote link", self.client.add_simple_link, key, {"url": url, "title": title})

    def issues(self, keys: Sequence[str]) -> list[IssueView]:
        """The issues of ``keys`` with their comments (reconcile), 50 per search."""
        views: list[IssueView] = []
        for start in range(0, len(keys), 50):
            chunk = ", ".join(keys[start : start + 50])
            found = self._call(
                "search",
                lambda chunk=chunk: self.client.search_issues(
                    f"key in ({chunk})", maxResults=50, fields="status,priority,updated,comment"
                ),
            )
            for issue in found:
                f = issue.fields
                comments = getattr(getattr(f, "comment", None), "comments", []) or []
                views.append(
                    IssueView(
                        key=str(issue.key),
                        status=str(f.status.name),
                        priority=str(f.priority.name) if getattr(f, "priority", None) else None,
                        updated=str(getattr(f, "updated", "") or "") or None,
                        comments=tuple((str(c.id), str(c.body)) for c in comments),
                    )
                )
        return views
