"""REST field values in, stored values out, with JIRA's per-field 400s and changelog items."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.jira.standin.accounts import Account
from tests.jira.standin.base import StandinBase
from tests.jira.standin.records import FieldError, JiraApiError, Json, Project, Ref
from tests.jira.standin.workflow import Status


class Fields(StandinBase):
    """Validation and conversion of ``fields`` and ``update`` as JIRA applies them."""

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
        project: Project,
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
            except FieldError as e:
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
                        raise FieldError(f"Operation '{verb}' is not supported for field '{fid}'.")
                except (FieldError, JiraApiError) as e:
                    errors[fid] = (
                        str(e) if isinstance(e, FieldError) else "Comment body can not be empty!"
                    )
        return values, errors, comments

    def _parse(self, fid: str, raw: Json, project: Project) -> Any:
        if fid == "summary":
            if not isinstance(raw, str) or not raw.strip():
                raise FieldError("You must specify a summary of the issue.")
            if len(raw) > 255 or "\n" in raw:
                raise FieldError("Summary must be less than 255 characters and on one line.")
            return raw
        if fid == "description" or fid in self.custom_fields:
            if raw is not None and not isinstance(raw, str):
                raise FieldError("Operation value must be a string")
            return raw or None
        if fid == "labels":
            if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
                raise FieldError("Labels must be a list of strings.")
            if bad := [x for x in raw if re.search(r"\s", x)]:
                raise FieldError(f"The label '{bad[0]}' contains spaces which is invalid.")
            return sorted(set(raw))
        if fid == "duedate":
            if raw is not None and not (
                isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw)
            ):
                raise FieldError(f"Error parsing date string: {raw}")
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
                raise FieldError(f"User '{ident}' does not exist.")
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
        if isinstance(v, Status | Ref):
            return v.id
        if isinstance(v, Account):
            return v.account_id if self.cloud else v.name
        return v if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else None

    @staticmethod
    def _text(v: Any) -> str | None:
        if isinstance(v, Status | Ref):
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
