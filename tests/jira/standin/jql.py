"""JQL as the adapter uses it: parsing, what each field matches, ORDER BY, and the search."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.jira.standin.accounts import Account
from tests.jira.standin.fields import Fields
from tests.jira.standin.records import Issue, JiraApiError, Project, Ref
from tests.jira.standin.workflow import Status

Pred = Callable[[Issue], bool]


class JqlSearch(Fields):
    """Issues matching a JQL query, in JIRA's order; unknown fields and values are JIRA's 400s."""

    # -- JQL -------------------------------------------------------------------------------

    def _query(self, jql: str, strict: bool) -> list[Issue]:
        pred, order = _JqlParser(self, jql, strict).parse()
        hits = [i for i in self._issues.values() if pred(i)]
        hits.sort(key=lambda i: int(i.id), reverse=True)  # no ORDER BY: newest first
        for name, desc in reversed(order):
            hits.sort(key=self._sort_key(name), reverse=desc)
        return hits

    def _sort_key(self, name: str) -> Callable[[Issue], Any]:
        n = name.lower()
        if n in ("key", "issuekey", "id"):
            return lambda i: (i.project.key, int(i.key.rsplit("-", 1)[1]))
        if n in ("created", "updated"):
            return lambda i: getattr(i, n)
        if n == "priority":
            return lambda i: -self.priorities.index(i.values["priority"])
        if n == "status":
            return lambda i: self.statuses.index(i.values["status"])
        fid = self._jql_field(name)[1]
        return lambda i: (i.values.get(fid) is None, str(self._text(i.values.get(fid)) or ""))

    def _jql_field(self, name: str) -> tuple[str, str]:
        """(kind, field id) for a JQL field name, or JIRA's 400 for an unknown one."""
        n = name.lower()
        aliases = {
            "issuekey": "key",
            "id": "key",
            "type": "issuetype",
            "createddate": "created",
            "updateddate": "updated",
            "resolved": "resolutiondate",
            "due": "duedate",
        }
        n = aliases.get(n, n)
        kinds = {
            "key": "key",
            "labels": "labels",
            "summary": "text",
            "description": "text",
            "text": "text",
            "comment": "text",
            "created": "date",
            "updated": "date",
            "resolutiondate": "date",
            "statuscategorychangedate": "date",
        }
        if n in kinds:
            return kinds[n], n
        if n in (
            "project",
            "status",
            "priority",
            "issuetype",
            "resolution",
            "assignee",
            "reporter",
            "creator",
        ):
            return "ref", n
        for fid, cname in self.custom_fields.items():
            if n in (cname.lower(), f"cf[{fid.rsplit('_', 1)[1]}]", fid):
                return "text", fid
        raise JiraApiError(
            400, [f"Field '{name}' does not exist or you do not have permission to view it."]
        )

    def _idents(self, issue: Issue, fid: str) -> set[str]:
        v = issue.project if fid == "project" else issue.values.get(fid)
        if v is None:
            return set()
        if isinstance(v, Project):
            return {v.id, v.key.lower(), v.name.lower()}
        if isinstance(v, Account):
            return {v.account_id.lower(), v.name.lower(), v.key.lower(), v.email.lower()}
        return {v.id, v.name.lower()}

    def _known(self, fid: str) -> set[str]:
        if fid == "project":
            return {x for p in self.projects for x in (p.id, p.key.lower(), p.name.lower())}
        if fid in ("assignee", "reporter", "creator"):
            return {
                x.lower() for a in self.accounts for x in (a.account_id, a.name, a.key, a.email)
            }
        by_field: dict[str, Sequence[Status | Ref]] = {
            "status": self.statuses,
            "priority": self.priorities,
            "resolution": self.resolutions,
            "issuetype": [t for p in self.projects for t in p.issue_types],
        }
        refs = by_field[fid]
        return {x for r in refs for x in (r.id, r.name.lower())} | (
            {"unresolved"} if fid == "resolution" else set()
        )

    def _text_of(self, issue: Issue, fid: str) -> str | None:
        if fid == "comment":
            return "\n".join(c.body for c in issue.comments) or None
        if fid == "text":
            parts = [
                issue.values["summary"],
                issue.values["description"],
                *(c.body for c in issue.comments),
            ]
            parts += [issue.values[f] for f in self.custom_fields]
            return "\n".join(p for p in parts if p) or None
        v = issue.values.get(fid)
        return v if isinstance(v, str) else None

    def _date_of(self, issue: Issue, fid: str) -> datetime | None:
        v = getattr(issue, fid) if fid in ("created", "updated") else issue.values.get(fid)
        return v if isinstance(v, datetime) else None


_TOKEN = re.compile(
    r"""\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(!=|!~|>=|<=|=|~|>|<)|([(),])|([^\s"'(),=!~<>]+))"""
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_RELATIVE = re.compile(r"([-+]?)(\d+)([wdhm])")
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")


class _JqlParser:
    """The JQL the adapter needs: AND/OR/NOT, parentheses, = != ~ !~ < <= > >= IN, NOT IN,
    IS [NOT] EMPTY, ORDER BY. Text ``~`` matches when every word of the value (``word*`` as a
    prefix) occurs in the field, as JIRA's index does; ``=`` on a text field is JIRA's 400."""

    def __init__(self, jira: JqlSearch, jql: str, strict: bool) -> None:
        self.jira, self.strict, self.pos = jira, strict, 0
        self.tokens: list[tuple[str, str]] = []
        i = 0
        while jql[i:].strip():
            m = _TOKEN.match(jql, i)
            if m is None:
                raise self.error(
                    f"The character '{jql[i:].lstrip()[0]}' is a reserved JQL character."
                )
            s, op, punct, word = m.groups()
            if s is not None:
                self.tokens.append(("str", re.sub(r"\\(.)", r"\1", s[1:-1])))
            else:
                self.tokens.append(
                    ("op", op) if op else ("punct", punct) if punct else ("word", word)
                )
            i = m.end()

    @staticmethod
    def error(msg: str) -> JiraApiError:
        return JiraApiError(400, [f"Error in the JQL Query: {msg}"])

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.error("Expecting more input at the end of the query.")
        self.pos += 1
        return tok

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() in words:
            self.pos += 1
            return tok[1].upper()
        return None

    def parse(self) -> tuple[Pred, list[tuple[str, bool]]]:
        pred: Pred = lambda i: True  # noqa: E731
        first = self.peek()
        if first is not None and first[1].upper() != "ORDER":
            pred = self.or_()
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            if not self.keyword("BY"):
                raise self.error("Expecting 'BY' after 'ORDER'.")
            while True:
                name = self.take()[1]
                self.jira._sort_key(name)  # unknown fields are an error, as in JIRA
                order.append((name, self.keyword("ASC", "DESC") == "DESC"))
                if self.peek() != ("punct", ","):
                    break
                self.pos += 1
        if (extra := self.peek()) is not None:
            raise self.error(f"Expecting operator or end of query but got '{extra[1]}'.")
        return pred, order

    def or_(self) -> Pred:
        left = self.and_()
        while self.keyword("OR"):
            a, b = left, self.and_()
            left = _either(a, b)
        return left

    def and_(self) -> Pred:
        left = self.unary()
        while self.keyword("AND"):
            a, b = left, self.unary()
            left = _both(a, b)
        return left

    def unary(self) -> Pred:
        if self.keyword("NOT"):
            inner = self.unary()
            return lambda i: not inner(i)
        if self.peek() == ("punct", "("):
            self.pos += 1
            inner = self.or_()
            if self.take() != ("punct", ")"):
                raise self.error("Expecting ')'.")
            return inner
        return self.clause()

    def value(self) -> str:
        kind, text = self.take()
        if kind not in ("word", "str"):
            raise self.error(f"Expecting a value but got '{text}'.")
        return text

    def clause(self) -> Pred:
        name = self.value()
        kind, fid = self.jira._jql_field(name)
        tok = self.take()
        if tok[0] == "op":
            op, values = tok[1], [self.value()]
        elif tok[1].upper() == "IS":
            op = "is not" if self.keyword("NOT") else "is"
            if not self.keyword("EMPTY", "NULL"):
                raise self.error("Expecting EMPTY or NULL after IS.")
            values = []
        elif tok[1].upper() in ("IN", "NOT"):
            op = "in" if tok[1].upper() == "IN" else "not in"
            if op == "not in" and not self.keyword("IN"):
                raise self.error("Expecting 'IN' after 'NOT'.")
            if self.take() != ("punct", "("):
                raise self.error("Expecting '(' after IN.")
            values = [self.value()]
            while self.take() == ("punct", ","):
                values.append(self.value())
            if self.tokens[self.pos - 1] != ("punct", ")"):
                raise self.error("Expecting ')' to close the list.")
        else:
            raise self.error(f"Expecting operator but got '{tok[1]}'.")
        return self.predicate(name, kind, fid, op, values)

    def unsupported(self, op: str, name: str) -> JiraApiError:
        return self.error(f"The operator '{op}' is not supported by the '{name}' field.")

    def predicate(self, name: str, kind: str, fid: str, op: str, values: list[str]) -> Pred:
        j = self.jira
        if op in ("is", "is not"):
            want_empty = op == "is"
            if kind == "key":
                raise self.unsupported(op.upper(), name)
            empties: dict[str, Pred] = {
                "text": lambda i: j._text_of(i, fid) is None,
                "date": lambda i: j._date_of(i, fid) is None,
                "labels": lambda i: not i.values["labels"],
                "ref": lambda i: not j._idents(i, fid),
            }
            empty = empties[kind]
            return lambda i: empty(i) == want_empty
        if kind == "text":
            if op not in ("~", "!~"):
                raise self.unsupported(op, name)
            words = [w for w in re.findall(r"\w+\*?", values[0].lower())]
            hit: Pred = lambda i: _words_match(words, j._text_of(i, fid))  # noqa: E731
            return hit if op == "~" else lambda i: j._text_of(i, fid) is not None and not hit(i)
        if kind == "date":
            if op not in ("=", "!=", "<", "<=", ">", ">="):
                raise self.unsupported(op, name)
            at = self.date(values[0], name)
            cmp = _COMPARE[op]
            return lambda i: (d := j._date_of(i, fid)) is not None and cmp(d, at)
        if kind == "key":
            return self.key_predicate(name, op, values)
        if op not in ("=", "!=", "in", "not in"):
            raise self.unsupported(op, name)
        if kind == "labels":
            wanted = set(values)
            has: Pred = lambda i: bool(wanted & set(i.values["labels"]))  # noqa: E731
            return has if op in ("=", "in") else lambda i: bool(i.values["labels"]) and not has(i)
        lowered = {v.lower() for v in values}
        known = j._known(fid)
        unknown = [v for v in values if v.lower() not in known]
        if unknown and self.strict:
            raise JiraApiError(
                400, [f"The value '{unknown[0]}' does not exist for the field '{name}'."]
            )
        unresolved = fid == "resolution" and "unresolved" in lowered

        def match(i: Issue) -> bool:
            return bool(j._idents(i, fid) & lowered) or (unresolved and not j._idents(i, fid))

        if op in ("=", "in"):
            return match
        return lambda i: (bool(j._idents(i, fid)) or unresolved) and not match(i)

    def key_predicate(self, name: str, op: str, values: list[str]) -> Pred:
        keys = [v.upper() for v in values]
        for k in keys:
            if not (_KEY.fullmatch(k) or k.isdigit()):
                raise self.error(f"The issue key '{k}' for field '{name}' is invalid.")
            if self.strict and not any(k in (i.key, i.id) for i in self.jira._issues.values()):
                raise JiraApiError(
                    400, [f"An issue with key '{k}' does not exist for field '{name}'."]
                )
        if op in ("=", "in", "!=", "not in"):
            hit: Pred = lambda i: i.key in keys or i.id in keys  # noqa: E731
            return hit if op in ("=", "in") else lambda i: not hit(i)
        if op not in _COMPARE:
            raise self.unsupported(op, name)
        project, number = keys[0].rsplit("-", 1)
        cmp = _COMPARE[op]
        return lambda i: i.project.key == project and cmp(int(i.key.rsplit("-", 1)[1]), int(number))

    def date(self, text: str, name: str) -> datetime:
        if m := _RELATIVE.fullmatch(text.strip()):
            unit = {
                "w": timedelta(weeks=1),
                "d": timedelta(days=1),
                "h": timedelta(hours=1),
                "m": timedelta(minutes=1),
            }
            return self.jira._now() + (-1 if m[1] == "-" else 1) * int(m[2]) * unit[m[3]]
        for fmt in _DATE_FORMATS:
            with contextlib.suppress(ValueError):
                return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        raise JiraApiError(
            400,
            [
                f"Date value '{text}' for field '{name}' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                "or a period format e.g. '-5d', '4w 2d'."
            ],
        )


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _either(a: Pred, b: Pred) -> Pred:
    return lambda i: a(i) or b(i)


def _both(a: Pred, b: Pred) -> Pred:
    return lambda i: a(i) and b(i)


def _words_match(words: list[str], text: str | None) -> bool:
    if not words or text is None:
        return False
    have = re.findall(r"\w+", text.lower())
    return all(
        any(h.startswith(w[:-1]) for h in have) if w.endswith("*") else w in have for w in words
    )
