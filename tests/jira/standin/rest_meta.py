"""REST resources that describe the site: server info, myself, fields, schemes, projects, users."""

from __future__ import annotations

import re

from tests.jira.standin.accounts import Account
from tests.jira.standin.records import JiraApiError, Json, Query, jira_time, q1
from tests.jira.standin.render import Rendering

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


class MetaRoutes(Rendering):
    """Handlers for what the ``jira`` client reads on connect and when resolving names."""

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
        types = "issueTypes" in q1(q, "expand")
        return 200, [self._project_json(p, types) for p in self.projects]

    def _project(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        return 200, self._project_json(self._find_project(m[1]), types=True)

    def _user(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        ident = q1(q, "accountId") or q1(q, "username") or q1(q, "key")
        found = self._find_account(ident)
        if found is None:
            raise JiraApiError(404, [f"The user with the name '{ident}' does not exist."])
        return 200, self._user_json(found)

    def _user_search(self, m: re.Match[str], q: Query, b: Json, actor: Account) -> tuple[int, Json]:
        term = (q1(q, "query") or q1(q, "username")).lower()
        hits = [
            a
            for a in self.accounts
            if term in f"{a.display_name} {a.email} {a.name} {a.account_id}".lower()
        ]
        return 200, [self._user_json(a) for a in hits]
