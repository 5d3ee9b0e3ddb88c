"""The email adapter's one typed settings object, from ``OPSLEDGER_EMAIL_*`` and a JSON file.

Built at the entry point (the plugin) and passed down: the transports, the ingest step and
the notifier never read the environment. Each section reuses the transport's own settings
class (``SmtpEndpointSettings``, ``ImapSettings``, ``SmtpSettings``), so a key is checked in
one place; a bad value raises ``InputError`` naming the key as the file spells it
(``imap.port``). Passwords stay out of ``repr`` and logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from opsledger.adapters.email.imap import ImapSettings
from opsledger.adapters.email.smtp_in import SmtpEndpointSettings
from opsledger.adapters.email.smtp_out import SmtpSettings
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.priority import parse_impact, parse_urgency
from opsledger.core.inbound import INBOUND_KINDS
from opsledger.core.settings import adapter_config, parse_flag

if TYPE_CHECKING:
    from opsledger.adapters.email.notify import NotifySettings

PREFIX = "OPSLEDGER_EMAIL_"
#: Beside the SQLite file ``events.db``: ``events.db.mail/``.
SECTIONS = (
    "enabled", "addresses", "smtp_in", "imap", "smtp_out", "notify", "allow", "deny",
    "rate_limit", "blob_dir", "defaults",
)  # fmt: skip
_SMTP_IN_KEYS = ("host", "port", "max_message_size", "server_hostname", "accept_workers")
_IMAP_KEYS = (
    "host", "port", "username", "password", "mailbox", "mode", "processed_mailbox", "use_ssl",
    "starttls", "ca_file", "idle_timeout_s", "poll_interval_s", "timeout_s",
    "reconnect_min_s", "reconnect_max_s",
)  # fmt: skip
_SMTP_OUT_KEYS = (
    "host", "port", "username", "password", "starttls", "ssl", "from_address", "ca_file",
    "timeout_s", "local_hostname",
)  # fmt: skip
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """At most ``per_sender`` mails from one sender within ``window_s`` seconds make commands;
    the rest are set aside. Counted in memory, per process (docs/email.md)."""

    per_sender: int = 20
    window_s: float = 3600.0

    def __post_init__(self) -> None:
        if isinstance(self.per_sender, bool) or not isinstance(self.per_sender, int):
            raise InputError("rate_limit.per_sender", "must be a whole number")
        if self.per_sender < 1:
            raise InputError("rate_limit.per_sender", "must be at least 1")
        if isinstance(self.window_s, bool) or not isinstance(self.window_s, int | float):
            raise InputError("rate_limit.window_s", "must be a number of seconds")
        if not self.window_s > 0:
            raise InputError("rate_limit.window_s", "must be more than 0 seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class MailDefaults:
    """What a new mail opens when no classify plugin says otherwise."""

    kind: str = "service_request"
    service: str | None = None
    impact: str = "medium"
    urgency: str = "medium"

    def __post_init__(self) -> None:
        if self.kind not in INBOUND_KINDS:
            raise InputError("defaults.kind", f"{self.kind!r} is not one of {INBOUND_KINDS}")
        if self.service is not None and (not isinstance(self.service, str) or not self.service):
            raise InputError("defaults.service", "must be a non-empty string or null")
        _section("defaults", lambda: (parse_impact(self.impact), parse_urgency(self.urgency)))


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class EmailSettings:
    """Everything the email adapter is told; docs/email.md explains each key."""

    enabled: bool = False
    #: the desk's own addresses (``desk@example.org``) and, for the SMTP endpoint only,
    #: whole domains (``@example.org``): the recipients it accepts mail for
    addresses: tuple[str, ...] = ()
    smtp_in: SmtpEndpointSettings | None = None
    imap: ImapSettings | None = None
    smtp_out: SmtpSettings | None = None
    #: the ``notify`` section as written: ``NotifySettings.from_mapping`` reads it
    notify: Mapping[str, Any] | None = None
    #: sender addresses or ``@domain``: when ``allow`` is not empty, only those open tickets
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    rate_limit: RateLimit = field(default_factory=RateLimit)
    #: where raw messages and attachments are kept; None: beside the SQLite file
    blob_dir: str | None = None
    defaults: MailDefaults = field(default_factory=MailDefaults)

    def __post_init__(self) -> None:
        for name in ("addresses", "allow", "deny"):
            for entry in getattr(self, name):
                _check_address(name, entry)
        if self.smtp_in is not None and self.smtp_in.accepted != self.addresses:
            raise InputError("addresses", "the SMTP endpoint accepts exactly the addresses")

    @property
    def own_addresses(self) -> frozenset[str]:
        """Whole addresses mail from which is our own (never a ticket, never answered): the
        listed ones and the senders of notifications. Domains are not: colleagues write
        from them."""
        own = {a.casefold() for a in self.addresses if not a.startswith("@")}
        if self.smtp_out is not None:
            own.add(self.smtp_out.from_address.casefold())
        sender = (self.notify or {}).get("from_address")
        if isinstance(sender, str) and sender.strip():
            own.add(sender.strip().casefold())
        return frozenset(own)

    def notify_settings(self) -> NotifySettings | None:
        """The ``notify`` section read by the notifier's own settings class; None without one."""
        if self.notify is None:
            return None
        from opsledger.adapters.email.notify import NotifySettings

        section = self.notify
        return _section("notify", lambda: NotifySettings.from_mapping(section))

    def __repr__(self) -> str:  # the sections' own reprs mask their passwords
        notify = sorted(self.notify) if self.notify is not None else None
        return (
            f"EmailSettings(enabled={self.enabled}, addresses={self.addresses!r}, "
            f"smtp_in={self.smtp_in!r}, imap={self.imap!r}, smtp_out={self.smtp_out!r}, "
            f"notify=<keys {notify}>, allow={self.allow!r}, deny={self.deny!r}, "
            f"rate_limit={self.rate_limit!r}, blob_dir={self.blob_dir!r}, "
            f"defaults={self.defaults!r})"
        )

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> EmailSettings:
        """From the JSON config; ``env`` may supply the passwords
        (``OPSLEDGER_EMAIL_IMAP_PASSWORD``, ``OPSLEDGER_EMAIL_SMTP_PASSWORD``)."""
        env = env or {}
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise InputError(unknown[0], "not an email setting")
        addresses = _addresses("addresses", data.get("addresses", []))
        smtp_in = None
        if data.get("smtp_in") is not None:
            if not addresses:
                raise InputError("addresses", "the SMTP endpoint needs an address to accept")
            spec = _object("smtp_in", data["smtp_in"], SmtpEndpointSettings, _SMTP_IN_KEYS)
            smtp_in = _section("smtp_in", lambda: SmtpEndpointSettings(accepted=addresses, **spec))
        imap = None
        if data.get("imap") is not None:
            spec = _object("imap", data["imap"], ImapSettings, _IMAP_KEYS)
            if env.get(PREFIX + "IMAP_PASSWORD"):
                spec["password"] = env[PREFIX + "IMAP_PASSWORD"]
            _required("imap", spec, ("host", "username", "password"))
            imap = _section("imap", lambda: ImapSettings(**spec))
        smtp_out = None
        if data.get("smtp_out") is not None:
            spec = _object("smtp_out", data["smtp_out"], SmtpSettings, _SMTP_OUT_KEYS)
            if env.get(PREFIX + "SMTP_PASSWORD"):
                spec["password"] = env[PREFIX + "SMTP_PASSWORD"]
            _required("smtp_out", spec, ("host", "from_address"))
            smtp_out = _section("smtp_out", lambda: SmtpSettings(**spec))
        notify = data.get("notify")
        if notify is not None and not isinstance(notify, dict):
            raise InputError("notify", "must be an object")
        rate = _object("rate_limit", data.get("rate_limit", {}), RateLimit)
        defaults = _object("defaults", data.get("defaults", {}), MailDefaults)
        blob_dir = data.get("blob_dir")
        if blob_dir is not None and (not isinstance(blob_dir, str) or not blob_dir.strip()):
            raise InputError("blob_dir", "must be a folder path")
        return cls(
            enabled=parse_flag("enabled", data.get("enabled", False)),
            addresses=addresses,
            smtp_in=smtp_in,
            imap=imap,
            smtp_out=smtp_out,
            notify=dict(notify) if notify is not None else None,
            allow=_addresses("allow", data.get("allow", [])),
            deny=_addresses("deny", data.get("deny", [])),
            rate_limit=RateLimit(**rate),
            blob_dir=blob_dir,
            defaults=_section("defaults", lambda: MailDefaults(**defaults)),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EmailSettings:
        """``OPSLEDGER_EMAIL_CONFIG`` (a JSON file) with ``OPSLEDGER_EMAIL_ENABLED`` over it;
        nothing configured is a disabled adapter."""
        env = os.environ if env is None else env
        return cls.from_mapping(adapter_config(env, PREFIX), env)


def address_matches(address: str, entries: tuple[str, ...]) -> bool:
    """Whether ``address`` is one of ``entries`` (whole addresses, or ``@domain``)."""
    address = address.casefold()
    domain = "@" + address.rpartition("@")[2]
    return any(entry.casefold() in (address, domain) for entry in entries)


def _check_address(name: str, entry: object) -> None:
    if not isinstance(entry, str):
        raise InputError(name, "must be a list of addresses or @domains")
    local, at, domain = entry.rpartition("@")
    if not at or not domain or "@" in local or entry != entry.strip() or " " in entry:
        raise InputError(name, f"{entry!r} is neither local@domain nor @domain")


def _addresses(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InputError(name, "must be a list of addresses or @domains")
    for entry in value:
        _check_address(name, entry)
    return tuple(value)


def _object(
    name: str, value: object, cls: Any, keys: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """A section's keys (those of ``keys``, else all of ``cls``'s fields), each of the JSON
    type its field's default has (``port`` a number, ``use_ssl`` true or false)."""
    if not isinstance(value, dict):
        raise InputError(name, "must be an object")
    known = {f.name: f for f in fields(cls)}
    allowed = keys if keys is not None else tuple(known)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise InputError(f"{name}.{unknown[0]}", f"not a {name} setting")
    for key, item in value.items():
        default = known[key].default
        if item is None or default is MISSING:
            continue
        if isinstance(default, bool) and not isinstance(item, bool):
            raise InputError(f"{name}.{key}", "must be true or false")
        if isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise InputError(f"{name}.{key}", "must be a number")
            if isinstance(default, int) and not isinstance(item, int):
                raise InputError(f"{name}.{key}", "must be a whole number")
        if isinstance(default, str) and not isinstance(item, str):
            raise InputError(f"{name}.{key}", "must be a string")
    return dict(value)


def _required(name: str, spec: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        if not isinstance(spec.get(key), str):
            raise InputError(f"{name}.{key}", "must be a string")


def _section(name: str, build: Callable[[], T]) -> T:
    """Build a section, naming a refused key as the config file spells it (``imap.port``)."""
    try:
        return build()
    except InputError as error:
        field_name = error.field if error.field.startswith(name + ".") else f"{name}.{error.field}"
        raise InputError(field_name, error.message) from None
    except TypeError as error:  # a value of the wrong JSON type reached a comparison
        raise InputError(name, f"a value has the wrong type ({error})") from None
