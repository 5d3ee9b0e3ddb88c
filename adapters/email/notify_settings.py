"""What the notifier is told: who the desk is, who to tell, in which language, how to retry.

One frozen object built from the ``notify`` section of the email adapter's JSON config and
passed down; a bad value raises ``InputError`` naming its place (``notify.groups.dba.address``)
so that an operator can find it in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from types import MappingProxyType
from typing import Any

from opsledger.adapters.email.templates import LANGUAGES
from opsledger.core.domain.errors import InputError
from opsledger.core.retry import backoff_delays

PREFIX = "notify."


def bare_address(value: object) -> str | None:
    """``value`` when it is one bare e-mail address (``a@b.example``), else None."""
    if not isinstance(value, str) or "@" not in value:
        return None
    name, address = parseaddr(value)
    if name or address != value.strip() or " " in address:
        return None
    local, _, domain = address.rpartition("@")
    return address if local and domain and "." in domain else None


def language_code(value: object) -> str | None:
    """``en`` or ``zh`` for a language tag (``zh-CN``, ``EN``), None for any other."""
    if not isinstance(value, str):
        return None
    base = value.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


@dataclass(frozen=True, kw_only=True)
class GroupContact:
    """Where an assignment group is told about SLA warnings and breaches."""

    #: the group's shared mailbox (warnings and breaches)
    address: str | None = None
    #: the escalation contact for breaches: an address, or a name in ``people``
    manager: str | None = None
    #: the language of the group's mail; None: the notifier's default
    language: str | None = None


@dataclass(frozen=True, kw_only=True)
class NotifySettings:
    """Everything the notifier needs; see docs/notifications.md for each key."""

    enabled: bool = True
    #: the desk's address: From, and where replies come back
    from_address: str
    from_name: str = "Service Desk"
    #: the right-hand side of the notifications' Message-IDs
    message_id_domain: str
    #: the language when the contact's is unknown
    language: str = "en"
    groups: Mapping[str, GroupContact] = field(default_factory=dict)
    #: assignee name -> address
    people: Mapping[str, str] = field(default_factory=dict)
    #: contact address -> language; wins over the language detected from their mail
    contacts: Mapping[str, str] = field(default_factory=dict)
    #: send the satisfaction survey when a ticket is resolved
    survey: bool = True
    attempts: int = 5
    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0
    poll_interval_s: float = 2.0

    def __post_init__(self) -> None:
        if bare_address(self.from_address) is None:
            raise InputError(PREFIX + "from_address", f"{self.from_address!r} is not an address")
        domain = self.message_id_domain
        if not isinstance(domain, str) or not domain or any(c in domain for c in "<>@ \t"):
            raise InputError(PREFIX + "message_id_domain", f"{domain!r} is not a domain name")
        if language_code(self.language) != self.language:
            raise InputError(PREFIX + "language", f"{self.language!r} is not one of en, zh")
        for name, contact in self.groups.items():
            where = f"{PREFIX}groups.{name}"
            if contact.address is not None and bare_address(contact.address) is None:
                raise InputError(where + ".address", f"{contact.address!r} is not an address")
            manager = contact.manager
            if manager is not None and bare_address(manager) is None and manager not in self.people:
                raise InputError(where + ".manager", f"{manager!r} is no address nor in people")
            if contact.language is not None and language_code(contact.language) is None:
                raise InputError(where + ".language", f"{contact.language!r} is not en or zh")
        for name, address in self.people.items():
            if bare_address(address) is None:
                raise InputError(f"{PREFIX}people.{name}", f"{address!r} is not an address")
        for address, language in self.contacts.items():
            if language_code(language) is None:
                raise InputError(f"{PREFIX}contacts.{address}", f"{language!r} is not en or zh")
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise InputError(PREFIX + "attempts", "must be a whole number")
        try:
            backoff_delays(self.attempts, self.base_delay_s, self.max_delay_s)
        except InputError as e:
            name = {"base_delay": "base_delay_s", "max_delay": "max_delay_s"}.get(e.field, e.field)
            raise InputError(PREFIX + name, e.message) from None
        if not self.poll_interval_s > 0:
            raise InputError(PREFIX + "poll_interval_s", "must be positive")

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed try number ``attempt`` (1-based); None: give up."""
        delays = backoff_delays(self.attempts, self.base_delay_s, self.max_delay_s)
        return delays[attempt - 1] if attempt <= len(delays) else None

    def contact_language(self, address: str, detected: str | None) -> str:
        """The configured language of ``address``, else the detected one, else the default."""
        configured = {a.lower(): lang for a, lang in self.contacts.items()}.get(address.lower())
        return language_code(configured) or language_code(detected) or self.language

    def person(self, name: str | None) -> str | None:
        """The address of an assignee (a name in ``people``, or itself an address)."""
        if not name:
            return None
        return self.people.get(name) or bare_address(name)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> NotifySettings:
        """From the JSON ``notify`` object; ``message_id_domain`` defaults to the domain of
        ``from_address``."""
        if not isinstance(data, Mapping):
            raise InputError(PREFIX.rstrip("."), "must be an object")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(PREFIX + unknown[0], "not a notification setting")
        values: dict[str, Any] = dict(data)
        for name in ("from_address", "from_name", "message_id_domain", "language"):
            if name in values and not isinstance(values[name], str):
                raise InputError(PREFIX + name, "must be a string")
        if "from_address" not in values:
            raise InputError(PREFIX + "from_address", "name the desk's address")
        values.setdefault("message_id_domain", values["from_address"].rpartition("@")[2])
        for name in ("enabled", "survey"):
            if name in values and not isinstance(values[name], bool):
                raise InputError(PREFIX + name, "must be true or false")
        for name in ("base_delay_s", "max_delay_s", "poll_interval_s"):
            value = values.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(PREFIX + name, "must be a number of seconds")
        values["groups"] = MappingProxyType(
            {k: _group(k, v) for k, v in _object("groups", values.get("groups", {})).items()}
        )
        for name in ("people", "contacts"):
            found = _object(name, values.get(name, {}))
            for key, value in found.items():
                if not isinstance(value, str):
                    raise InputError(f"{PREFIX}{name}.{key}", "must be a string")
            values[name] = MappingProxyType(dict(found))
        return cls(**values)


def _object(name: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(PREFIX + name, "must be an object")
    return value


def _group(name: str, value: object) -> GroupContact:
    where = f"{PREFIX}groups.{name}"
    if not isinstance(value, Mapping):
        raise InputError(where, "must be an object with address, manager, language")
    unknown = sorted(set(value) - {"address", "manager", "language"})
    if unknown:
        raise InputError(f"{where}.{unknown[0]}", "not a group setting")
    for key in ("address", "manager", "language"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise InputError(f"{where}.{key}", "must be a string or null")
    return GroupContact(
        address=value.get("address"), manager=value.get("manager"), language=value.get("language")
    )
