"""The values every layer passes around: JSON, JIRA's error body, issues, comments, requests."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.jira.standin.accounts import Account

Json = Any
Query = dict[str, list[str]]
Route = Callable[[re.Match[str], Query, Json, Account], tuple[int, Json]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class JiraApiError(Exception):
    """What JIRA answers with an error status: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(
        self, status: int, messages: Sequence[str] = (), errors: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.body: Json = {"errorMessages": list(messages), "errors": dict(errors or {})}
        super().__init__(status, self.body)


class FieldError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str  # priority, resolution, issuetype
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    key: str
    name: str
    issue_types: tuple[Ref, ...]


@dataclass(slots=True)
class Comment:
    id: str
    body: str
    author: Account
    update_author: Account
    created: datetime
    updated: datetime
    internal: bool = False
    visibility: Json = None


@dataclass(slots=True)
class Issue:
    id: str
    key: str
    project: Project
    values: dict[str, Any]
    created: datetime
    updated: datetime
    comments: list[Comment] = field(default_factory=list)
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
class Fault:
    remaining: int | None
    status: int
    retry_after: int | None
    drop: bool
    method: str | None
    path: str | None
    after_apply: bool


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


def q1(q: Query, name: str) -> str:
    return q.get(name, [""])[0]
