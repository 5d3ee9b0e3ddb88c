"""REST resources on issues: the issue, transitions, comments, remote links, links, search."""

from __future__ import annotations

import re
from typing import Any

from tests.jira.standin.accounts import Account
from tests.jira.standin.jql import JqlSearch
from tests.jira.standin.records import Issue, JiraApiError, Json, Query, q1
from tests.jira.standin.state import State


class IssueRoutes(State, JqlSearch):
    """Handlers that read and change issues; changes go through the operations in ``state``."""

    def _created(self, issue: Issue) -> tuple[int, Json]:
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
        issue, only = self._find(m[1]), q1(q, "transitionId")
        avail = [t for t in self._available(issue) if not only or t.id == only]
        with_fields = "transitions.fields" in q1(q, "expand")
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
        start, size = int(q1(q, "startAt") or 0), int(q1(q, "maxResults") or 5000)
        ordered = sorted(
            issue.comments, key=lambda c: c.created, reverse=q1(q, "orderBy") == "-created"
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

    def _remote_link(self, issue: Issue, rid: str) -> Json:
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


def _wanted(raw: Any) -> set[str] | None:
    """Field ids asked for; None means all (``*all``, ``*navigable`` or nothing asked)."""
    names = raw if isinstance(raw, list) else str(raw or "").split(",")
    names = [n.strip() for part in names for n in str(part).split(",") if n.strip()]
    if not names or {"*all", "*navigable"} & set(names):
        return None
    return {n for n in names if not n.startswith("-")}
