"""JIRA webhook deliveries (Cloud and Server/Data Center) to typed values, or an ``InputError``.

Pure functions, no I/O: a decoded JSON value in, a :class:`JiraWebhook` out, or an error naming
the JSON path of the first problem (``issue.key``, ``changelog.items[2].to``). JIRA adds keys
between releases, so unknown keys are never refused; the issue's raw ``fields`` are kept for
custom fields. What the sync relies on is extracted strictly: the acting account (echo
prevention), the instant and changelog (ordering) and a delivery identity (duplicates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from opsledger.core.clock import parse_instant
from opsledger.core.domain.errors import InputError

WEBHOOK_EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
)
COMMENT_EVENTS = frozenset({"comment_created", "comment_updated", "comment_deleted"})
#: Issue keys, ids, account ids and the like; JIRA's own limit on keys is 255.
IDENTITY_LIMIT = 255
#: 9999-12-31T23:59:59.999Z, the last instant a datetime can hold.
_MAX_EPOCH_MS = 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTANT_TEXT_LIMIT = 64
#: Atlassian document nodes after which a line ends when a comment body is flattened to text.
_ADF_BLOCKS = frozenset(
    {"paragraph", "heading", "listItem", "codeBlock", "blockquote", "rule", "tableRow", "panel"}
)
_LINE_END = object()


@dataclass(frozen=True, slots=True)
class JiraUser:
    """A JIRA account: ``account`` is the accountId on Cloud, the user key (else the user name)
    on Server, the value the adapter compares with its own bot account."""

    account: str
    display_name: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changelog item: ``field`` as JIRA names it ("status", "Severity"), ``field_id`` when
    sent ("status", "customfield_10050"); ids and texts of the old and new values."""

    field: str
    field_id: str | None
    from_id: str | None
    from_text: str | None
    to_id: str | None
    to_text: str | None


@dataclass(frozen=True, slots=True)
class JiraComment:
    """A comment as delivered. ``visibility`` is ``"role:Developers"``-style when restricted;
    ``public`` is Service Management's ``jsdPublic`` (None elsewhere)."""

    id: str
    body: str
    author: JiraUser | None
    created: datetime | None
    updated: datetime | None
    update_author: JiraUser | None = None
    visibility: str | None = None
    public: bool | None = None


@dataclass(frozen=True, slots=True)
class JiraWebhook:
    """One delivery. ``user`` is who caused it (on comment events without one: the comment's
    last editor). ``fields`` are the issue's fields as sent, read-only. ``delivery_id`` is the
    same for every retry of one delivery, so it can be the idempotency key."""

    event: str
    timestamp: datetime
    issue_key: str
    issue_id: str | None
    user: JiraUser | None
    status: str | None
    priority: str | None
    summary: str | None
    resolution: str | None
    labels: tuple[str, ...]
    issue_type: str | None
    project: str | None
    fields: Mapping[str, Any] = field(hash=False)
    changes: tuple[FieldChange, ...]
    changelog_id: str | None
    comment: JiraComment | None
    delivery_id: str
    #: ``issue_event_type_name`` ("issue_generic", "issue_commented", ...), when sent
    event_type: str | None = None


def parse_webhook(payload: object) -> JiraWebhook:
    """A decoded webhook body (Cloud or Server shape) to a :class:`JiraWebhook`.

    Required: ``webhookEvent`` (one of :data:`WEBHOOK_EVENTS`), ``timestamp`` (epoch
    milliseconds, a number or numeric text), ``issue.key`` and, on comment events, ``comment``.
    JIRA Server's ``comment_*`` events carry no issue and are refused (``issue``): Server sends
    the same comment complete in ``jira:issue_updated`` (``issue_commented`` and the like).
    """
    body = _object(payload, "body")
    event = body.get("webhookEvent")
    if not isinstance(event, str) or event not in WEBHOOK_EVENTS:
        raise InputError("webhookEvent", f"must be one of {', '.join(WEBHOOK_EVENTS)}")
    timestamp = _epoch_ms(body.get("timestamp"), "timestamp")
    event_type = _optional_text(body.get("issue_event_type_name"), "issue_event_type_name")
    if body.get("issue") is None:
        hint = " (JIRA Server sends comment events without it)" if event in COMMENT_EVENTS else ""
        raise InputError("issue", f"is required: the issue the event is about{hint}")
    issue = _object(body["issue"], "issue")
    issue_key = _identity(issue.get("key"), "issue.key")
    issue_id = None if issue.get("id") is None else _identity(issue["id"], "issue.id")
    fields = {} if issue.get("fields") is None else _object(issue["fields"], "issue.fields")
    changes, changelog_id = _changelog(body.get("changelog"))
    comment = None if body.get("comment") is None else _comment(body["comment"], "comment")
    if comment is None and event in COMMENT_EVENTS:
        raise InputError("comment", f"is required for {event}")
    user = parse_user(body.get("user"), "user")
    if user is None and comment is not None and event in ("comment_created", "comment_updated"):
        user = comment.update_author or comment.author
    return JiraWebhook(
        event=event,
        timestamp=timestamp,
        issue_key=issue_key,
        issue_id=issue_id,
        user=user,
        status=_name_of(fields, "status", "name"),
        priority=_name_of(fields, "priority", "name"),
        summary=_optional_text(fields.get("summary"), "issue.fields.summary"),
        resolution=_name_of(fields, "resolution", "name"),
        labels=_labels(fields.get("labels"), "issue.fields.labels"),
        issue_type=_name_of(fields, "issuetype", "name"),
        project=_name_of(fields, "project", "key"),
        fields=MappingProxyType(dict(fields)),
        changes=changes,
        changelog_id=changelog_id,
        comment=comment,
        delivery_id=_delivery_id(
            event, event_type, issue_id or issue_key, timestamp, changelog_id, comment
        ),
        event_type=event_type,
    )


def custom_field(webhook: JiraWebhook, field_id: str) -> Any:
    """The value of a field (``customfield_10050``) as a plain value: text and numbers as sent,
    a select option as its ``value``, a list item by item; None when absent."""
    return _plain(webhook.fields.get(field_id))


def change_of(webhook: JiraWebhook, field_name: str) -> FieldChange | None:
    """The last changelog item for a field, matched by ``fieldId`` or, case-insensitively, by
    name: JIRA writes "status" in one changelog and "Status" in another."""
    wanted = field_name.casefold()
    for change in reversed(webhook.changes):
        if change.field_id == field_name or change.field.casefold() == wanted:
            return change
    return None


def parse_user(value: object, path: str = "user") -> JiraUser | None:
    """A JIRA user object (webhook ``user``, comment authors, ``/rest/api/2/myself``): the same
    rule for every one, so the adapter can compare its bot account with the acting one."""
    if value is None:
        return None
    user = _object(value, path)
    for key in ("accountId", "key", "name"):
        if user.get(key) is not None:
            account = _identity(user[key], f"{path}.{key}")
            break
    else:
        raise InputError(f"{path}.accountId", "is required: accountId (Cloud) or key/name (Server)")
    display = _optional_text(user.get("displayName"), f"{path}.displayName")
    return JiraUser(account=account, display_name=display or account)


def _epoch_ms(value: object, path: str) -> datetime:
    """JIRA's epoch milliseconds (an integer, or its decimal text) to an aware UTC instant."""
    if isinstance(value, str) and (digits := value.strip()).isascii() and digits.isdigit():
        value = int(digits) if len(digits) <= 16 else -1
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(
            path,
            "is required: epoch milliseconds"
            if value is None
            else "must be epoch milliseconds (an integer or its digits)",
        )
    if not 0 <= value <= _MAX_EPOCH_MS:
        raise InputError(path, "is outside the range of epoch milliseconds")
    return _EPOCH + timedelta(milliseconds=value)


def _delivery_id(
    event: str,
    event_type: str | None,
    issue: str,
    timestamp: datetime,
    changelog_id: str | None,
    comment: JiraComment | None,
) -> str:
    # A changelog id names one change on the site; a comment version is its id, last edit and
    # text (two edits in one millisecond differ in text; a retry repeats all three), with the
    # event type (Server reports "commented" and "comment deleted" for the same version);
    # anything else is told apart by its instant, which retries keep.
    if changelog_id is not None:
        part = f"changelog={changelog_id}"
    elif comment is not None:
        text = hashlib.sha256(comment.body.encode("utf-8")).hexdigest()[:12]
        part = f"comment={comment.id}@{_ms(comment.updated or timestamp)}#{text}"
        if event_type:
            part += f"/{event_type}"
    else:
        part = f"at={_ms(timestamp)}"
    return f"{event}:{issue}:{part}"


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


def _changelog(value: object) -> tuple[tuple[FieldChange, ...], str | None]:
    if value is None:
        return (), None
    changelog = _object(value, "changelog")
    changelog_id = None
    if changelog.get("id") is not None:
        changelog_id = _identity(changelog["id"], "changelog.id")
    items = changelog.get("items")
    if items is None:
        return (), changelog_id
    if not isinstance(items, list):
        raise InputError("changelog.items", "must be a list")
    changes = tuple(_change(item, f"changelog.items[{i}]") for i, item in enumerate(items))
    return changes, changelog_id


def _change(value: object, path: str) -> FieldChange:
    item = _object(value, path)
    name = _optional_text(item.get("field"), f"{path}.field")
    if not name:
        raise InputError(f"{path}.field", "is required: the changed field's name")
    field_id = item.get("fieldId")
    return FieldChange(
        field=name,
        field_id=None if field_id is None else _identity(field_id, f"{path}.fieldId"),
        from_id=_scalar_text(item.get("from"), f"{path}.from"),
        from_text=_optional_text(item.get("fromString"), f"{path}.fromString"),
        to_id=_scalar_text(item.get("to"), f"{path}.to"),
        to_text=_optional_text(item.get("toString"), f"{path}.toString"),
    )


def _comment(value: object, path: str) -> JiraComment:
    comment = _object(value, path)
    body = comment.get("body")
    if isinstance(body, dict):
        text = _document_text(body, f"{path}.body")
    else:
        text = _optional_text(body, f"{path}.body") or ""
    public = comment.get("jsdPublic")
    if public is not None and not isinstance(public, bool):
        raise InputError(f"{path}.jsdPublic", "must be true or false")
    return JiraComment(
        id=_identity(comment.get("id"), f"{path}.id"),
        body=text,
        author=parse_user(comment.get("author"), f"{path}.author"),
        created=_optional_instant(comment.get("created"), f"{path}.created"),
        updated=_optional_instant(comment.get("updated"), f"{path}.updated"),
        update_author=parse_user(comment.get("updateAuthor"), f"{path}.updateAuthor"),
        visibility=_visibility(comment.get("visibility"), f"{path}.visibility"),
        public=public,
    )


def _visibility(value: object, path: str) -> str | None:
    if value is None:
        return None
    visibility = _object(value, path)
    kind = _optional_text(visibility.get("type"), f"{path}.type") or "restricted"
    name = visibility.get("value", visibility.get("identifier"))
    return f"{kind}:{_optional_text(name, f'{path}.value') or ''}"


def _document_text(document: Mapping[str, Any], path: str) -> str:
    """An Atlassian document (REST v3 shape) flattened to text, one line per block."""
    if document.get("type") != "doc":
        raise InputError(path, "must be text or an Atlassian document (type doc)")
    out: list[str] = []
    stack: list[object] = [document]
    while stack:  # iterative: a deep document must not exhaust the interpreter's stack
        node = stack.pop()
        if node is _LINE_END:
            out.append("\n")
            continue
        if not isinstance(node, dict) or not isinstance(node.get("type", ""), str):
            raise InputError(path, "has a node that is not an object with a text type")
        kind, attrs, content = node.get("type"), node.get("attrs"), node.get("content", [])
        if kind == "text":
            out.append(_optional_text(node.get("text"), path) or "")
        elif kind == "hardBreak":
            out.append("\n")
        elif kind in ("mention", "emoji") and isinstance(attrs, dict):
            out.append(_optional_text(attrs.get("text"), path) or "")
        if not isinstance(content, list):
            raise InputError(path, "has content that is not a list")
        if kind in _ADF_BLOCKS:
            stack.append(_LINE_END)
        stack.extend(reversed(content))
    return "".join(out).strip("\n")


def _name_of(fields: Mapping[str, Any], key: str, attribute: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    path = f"issue.fields.{key}"
    return _optional_text(_object(value, path).get(attribute), f"{path}.{attribute}")


def _labels(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError(path, "must be a list of labels")
    labels = []
    for i, label in enumerate(value):
        if not isinstance(label, str):  # JIRA's labels are words, never numbers
            raise InputError(f"{path}[{i}]", "must be a string")
        labels.append(_identity(label, f"{path}[{i}]"))
    return tuple(labels)


def _plain(value: object) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _optional_instant(value: object, path: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return _epoch_ms(value, path)
    if not isinstance(value, str) or len(value) > _INSTANT_TEXT_LIMIT:
        raise InputError(path, "must be an instant like 2024-03-04T09:58:00.000+0000")
    _check_unicode(value, path)
    return parse_instant(value, path)


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(path, "must be a JSON object")
    return value


def _identity(value: object, path: str) -> str:
    value = _number_text(value)  # ids are text in JIRA's JSON; some proxies make them numbers
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, "must be a non-empty string")
    if value != value.strip() or not value.isprintable():
        raise InputError(path, "must not have surrounding spaces or control characters")
    if len(value) > IDENTITY_LIMIT:
        raise InputError(path, f"longer than {IDENTITY_LIMIT} characters")
    _check_unicode(value, path)
    return value


def _scalar_text(value: object, path: str) -> str | None:
    return _optional_text(_number_text(value), path)


def _number_text(value: object) -> object:
    # str() of a 5,000-digit int raises ValueError; no JIRA id comes close to 19 digits
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return str(value)
    return value


def _optional_text(value: object, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(path, "must be a string")
    _check_unicode(value, path)
    return value


def _check_unicode(text: str, path: str) -> None:
    # JSON may carry lone surrogates ("\ud800"); they cannot be stored or sent on as UTF-8
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path, "is not valid Unicode (a lone surrogate)") from None
