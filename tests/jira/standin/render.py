"""JIRA's JSON shapes for statuses, users, projects, comments and issues (Cloud or Server)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.jira.standin.accounts import Account
from tests.jira.standin.base import StandinBase
from tests.jira.standin.records import Comment, Issue, Json, Project, Ref, jira_time
from tests.jira.standin.workflow import CATEGORY, Status, Transition


class Rendering(StandinBase):
    """What GET answers and webhook payloads carry, built from the in-memory values."""

    # -- rendering -------------------------------------------------------------------------

    def _render(self, v: Any) -> Json:
        if isinstance(v, Status):
            cid, cname, colour = CATEGORY[v.category]
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
        if isinstance(v, Ref):
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

    def _project_json(self, p: Project, types: bool = False) -> Json:
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

    def _comment_json(self, issue: Issue, c: Comment) -> Json:
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

    def _brief(self, issue: Issue) -> Json:
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

    def _issue_json(self, issue: Issue, wanted: set[str] | None = None, expand: str = "") -> Json:
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
