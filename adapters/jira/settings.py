"""The JIRA adapter's settings: sites (how to reach and authenticate) and rules (what syncs).

Built once at the entry point from ``OPSLEDGER_JIRA_ENABLED`` and the JSON file named by
``OPSLEDGER_JIRA_CONFIG`` (docs/jira.md); secrets may come from
``OPSLEDGER_JIRA_<SITE>_TOKEN`` instead of the file and never appear in ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsledger.core.domain.errors import InputError
from opsledger.core.settings import adapter_config, parse_flag

PREFIX = "OPSLEDGER_JIRA_"
DEPLOYMENTS = ("cloud", "server")
COMMENTS_OUT = ("public", "all", "none")
COMMENTS_IN = ("work_note", "public", "none")
ON_FIXED = ("resolve", "known_error")
#: opsledger state -> JIRA status, the default workflow mapping
DEFAULT_STATUS_OUT: Mapping[str, str] = {
    "new": "To Do",
    "assigned": "To Do",
    "in_progress": "In Progress",
    "on_hold": "Waiting for customer",
    "resolved": "Done",
    "closed": "Done",
    "cancelled": "Done",
}
DEFAULT_PRIORITY_OUT: Mapping[str, str] = {
    "P1": "Highest",
    "P2": "High",
    "P3": "Medium",
    "P4": "Low",
}


@dataclass(frozen=True, slots=True, repr=False)
class Site:
    """One JIRA: Cloud (e-mail + API token) or Server/Data Center (personal access token)."""

    name: str
    url: str
    deployment: str = "cloud"
    email: str | None = None
    token: str = ""
    #: the account opsledger acts as (Cloud accountId, Server user name): its changes coming
    #: back by webhook are echoes
    account: str = ""
    #: webhook authentication: a secret in the URL (``?secret=``), an HMAC-SHA256 key of the
    #: body (``X-Hub-Signature: sha256=...``), or both
    webhook_secret: str | None = None
    hmac_secret: str | None = None
    #: retries inside the ``jira`` client (it sleeps on 429/503); 0 leaves every retry to the
    #: outbox, which honours Retry-After without holding the sync thread
    max_retries: int = 0

    def __repr__(self) -> str:
        return f"Site(name={self.name!r}, url={self.url!r}, deployment={self.deployment!r})"


@dataclass(frozen=True, slots=True)
class Rule:
    """Which tickets sync to which project, and how states, priorities and comments map."""

    name: str
    site: str
    project: str
    issue_type: str = "Task"
    kinds: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    #: where the ticket number goes on the issue: ``label`` or a custom field id
    ticket_field: str = "label"
    comments_out: str = "public"
    comments_in: str = "work_note"
    status_out: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STATUS_OUT))
    status_in: Mapping[str, str] = field(default_factory=dict)
    priority_out: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_OUT))
    #: JIRA resolutions that mean fixed; on a problem, per ``on_fixed``
    fixed_resolutions: tuple[str, ...] = ("Fixed", "Done")
    on_fixed: str = "resolve"

    def selects(self, ticket: Mapping[str, Any]) -> bool:
        """Whether a ticket (as ``Engine.get`` shows it) belongs to this rule."""
        return (
            (not self.kinds or ticket.get("kind") in self.kinds)
            and (not self.groups or ticket.get("group") in self.groups)
            and (not self.services or ticket.get("service") in self.services)
        )

    def state_of(self, status: str) -> str | None:
        """The opsledger state a JIRA status maps back to (``status_in``, else the first
        ``status_out`` entry naming it; a status used for several states maps to the most
        advanced of resolved/in_progress/on_hold)."""
        if status in self.status_in:
            return self.status_in[status]
        states = [s for s, name in self.status_out.items() if name.casefold() == status.casefold()]
        for preferred in ("resolved", "in_progress", "on_hold", "cancelled", "closed"):
            if preferred in states:
                return preferred
        return None

    def priority_of(self, name: str) -> str | None:
        for priority, jira_name in self.priority_out.items():
            if jira_name.casefold() == name.casefold():
                return priority
        return None

    def label(self, ticket: str) -> str:
        """The label that marks an issue as this ticket's (JIRA labels hold no spaces)."""
        return f"opsledger-{ticket}"


@dataclass(frozen=True, slots=True)
class JiraSettings:
    enabled: bool = False
    sites: Mapping[str, Site] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    #: base URL of opsledger's ticket pages, for a remote link on each issue (optional)
    ticket_url: str | None = None
    #: outbox retry schedule (seconds): a JIRA outage waits, nothing is lost
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0
    poll_interval_s: float = 2.0

    def rule_for(self, ticket: Mapping[str, Any]) -> Rule | None:
        return next((r for r in self.rules if r.selects(ticket)), None)

    def rule_named(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def rule_for_project(self, site: str, project: str) -> Rule | None:
        return next((r for r in self.rules if r.site == site and r.project == project), None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JiraSettings:
        env = os.environ if env is None else env
        return cls.from_mapping(adapter_config(env, PREFIX), env=env)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, env: Mapping[str, str] | None = None
    ) -> JiraSettings:
        """Parse the JSON settings, naming the first bad key (``rules[0].project``)."""
        env = {} if env is None else env
        if not isinstance(data, Mapping):
            raise InputError("jira", "settings must be a JSON object")
        sites = {name: _site(name, spec, env) for name, spec in _obj(data, "sites").items()}
        rules = tuple(_rule(i, spec, sites) for i, spec in enumerate(_list(data, "rules")))
        enabled = parse_flag("enabled", data.get("enabled", False))
        if enabled and not rules:
            raise InputError("rules", "an enabled JIRA adapter needs at least one rule")
        ticket_url = data.get("ticket_url")
        if ticket_url is not None and not isinstance(ticket_url, str):
            raise InputError("ticket_url", "must be a string")
        return cls(
            enabled=enabled,
            sites=sites,
            rules=rules,
            ticket_url=ticket_url,
            base_delay_s=_number(data, "base_delay_s", 30.0),
            max_delay_s=_number(data, "max_delay_s", 900.0),
            poll_interval_s=_number(data, "poll_interval_s", 2.0),
        )


def _obj(data: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise InputError(where + key, "must be an object")
    return value


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InputError(key, "must be a list")
    return value


def _text(spec: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise InputError(where + key, "must be a non-empty string")
    return value


def _number(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(key, "must be a positive number")
    return float(value)


def _names(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(where + key, "must be a list of strings")
    return tuple(value)


def _mapping(
    spec: Mapping[str, Any], key: str, where: str, default: Mapping[str, str]
) -> dict[str, str]:
    value = spec.get(key)
    if value is None:
        return dict(default)
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InputError(where + key, "must be an object of strings")
    return dict(value)


def _choice(spec: Mapping[str, Any], key: str, where: str, allowed: Sequence[str]) -> str:
    value = spec.get(key, allowed[0])
    if value not in allowed:
        raise InputError(where + key, f"{value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _site(name: str, spec: Any, env: Mapping[str, str]) -> Site:
    where = f"sites.{name}."
    if not isinstance(spec, Mapping):
        raise InputError(where[:-1], "must be an object")
    deployment = _choice(spec, "deployment", where, DEPLOYMENTS)
    token = env.get(f"{PREFIX}{name.upper()}_TOKEN") or spec.get("token") or ""
    if not isinstance(token, str) or not token:
        raise InputError(where + "token", f"missing (or set {PREFIX}{name.upper()}_TOKEN)")
    email = spec.get("email")
    if deployment == "cloud" and not (isinstance(email, str) and email):
        raise InputError(where + "email", "a Cloud site authenticates with e-mail + API token")
    secret, key = spec.get("webhook_secret"), spec.get("hmac_secret")
    for option, value in (("webhook_secret", secret), ("hmac_secret", key)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(where + option, "must be a non-empty string")
    if not secret and not key:
        raise InputError(where + "webhook_secret", "webhooks need a secret or an hmac_secret")
    retries = spec.get("max_retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise InputError(where + "max_retries", "must be a whole number from 0 to 10")
    return Site(
        name=name,
        url=_text(spec, "url", where).rstrip("/"),
        deployment=deployment,
        email=email if isinstance(email, str) else None,
        token=token,
        account=_text(spec, "account", where),
        webhook_secret=secret if isinstance(secret, str) and secret else None,
        hmac_secret=key if isinstance(key, str) and key else None,
        max_retries=retries,
    )


def _rule(i: int, spec: Any, sites: Mapping[str, Site]) -> Rule:
    where = f"rules[{i}]."
    if not isinstance(spec, Mapping):
        raise InputError(where[:-1], "must be an object")
    site = _text(spec, "site", where, default=next(iter(sites), None))
    if site not in sites:
        raise InputError(where + "site", f"{site!r} is not a configured site")
    ticket_field = _text(spec, "ticket_field", where, default="label")
    if ticket_field != "label" and not ticket_field.startswith("customfield_"):
        raise InputError(where + "ticket_field", "must be 'label' or a customfield_NNNNN id")
    return Rule(
        name=_text(spec, "name", where, default=f"rule-{i}"),
        site=site,
        project=_text(spec, "project", where),
        issue_type=_text(spec, "issue_type", where, default="Task"),
        kinds=_names(spec, "kinds", where),
        groups=_names(spec, "groups", where),
        services=_names(spec, "services", where),
        ticket_field=ticket_field,
        comments_out=_choice(spec, "comments_out", where, COMMENTS_OUT),
        comments_in=_choice(spec, "comments_in", where, COMMENTS_IN),
        status_out=_mapping(spec, "status_out", where, DEFAULT_STATUS_OUT),
        status_in=_mapping(spec, "status_in", where, {}),
        priority_out=_mapping(spec, "priority_out", where, DEFAULT_PRIORITY_OUT),
        fixed_resolutions=_names(spec, "fixed_resolutions", where) or ("Fixed", "Done"),
        on_fixed=_choice(spec, "on_fixed", where, ON_FIXED),
    )
