"""Every change to an issue, from REST or from the JIRA side, goes through these operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.jira.standin.accounts import Account
from tests.jira.standin.fields import Fields
from tests.jira.standin.records import Comment, Issue, JiraApiError, Json, jira_time
from tests.jira.standin.render import Rendering
from tests.jira.standin.webhooks import Webhooks


class State(Rendering, Webhooks, Fields):
    """Create, edit, transition, comment and delete, with the changelog and webhooks JIRA writes."""

    # -- operations: every change, from REST or from the JIRA side, goes through these -----

    def _op_create(self, body: Json, actor: Account) -> Issue:
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
        issue = Issue(
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

    def _op_edit(self, issue: Issue, body: Json, actor: Account) -> None:
        fields, update = self._body_parts(body)
        values, errors, comments = self._apply(
            issue.values, issue.project, fields, update, self.editable
        )
        if errors:
            raise JiraApiError(400, errors=errors)
        self._commit(issue, values, actor, None, comments)

    def _op_transition(self, issue: Issue, body: Json, actor: Account) -> None:
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

    def _op_comment_add(self, issue: Issue, body: Json, actor: Account) -> Comment:
        self._check_comment(body)
        return self._commit(issue, issue.values, actor, None, [body])[0]

    def _op_comment_edit(self, issue: Issue, c: Comment, body: Json, actor: Account) -> Comment:
        self._check_comment(body)
        now = self._now()
        c.body, c.update_author, c.updated, issue.updated = body["body"], actor, now, now
        if "visibility" in body:
            c.visibility = body["visibility"]
        self._emit_comment("comment_updated", "issue_comment_edited", issue, c, actor)
        return c

    def _op_delete(self, issue: Issue, actor: Account) -> None:
        payload: Json = {"user": self._user_json(actor), "issue": self._issue_json(issue)}
        if not self.cloud:
            payload["issue_event_type_name"] = "issue_deleted"
        del self._issues[issue.id]
        self._links = {k: v for k, v in self._links.items() if issue.id not in v[1:]}
        self._emit("jira:issue_deleted", payload)

    def _commit(
        self,
        issue: Issue,
        values: dict[str, Any],
        actor: Account,
        event: str | None,
        comments: Sequence[Json],
    ) -> list[Comment]:
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
            c = Comment(
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
        self, name: str, event: str, issue: Issue, c: Comment, actor: Account
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

    def _comment_event(self, issue: Issue, c: Comment) -> Json:
        """comment_* payloads: Server's carry the comment only, Cloud's a reduced issue too."""
        out = {"comment": self._comment_json(issue, c)}
        return out | {"issue": self._brief(issue)} if self.cloud else out
