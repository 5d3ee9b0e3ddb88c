"""One typed object for every Kafka setting, built at the entry point from flags and env."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from opsledger.core.domain.errors import InputError

log = logging.getLogger(__name__)

PREFIX = "OPSLEDGER_KAFKA_"

#: Security settings accepted by all three kafka-python clients (producer, consumer, admin),
#: passed through unchanged. Objects such as ``ssl_context`` cannot come from the environment.
SECURITY_KEYS = frozenset(
    {
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_crlfile",
        "ssl_check_hostname",
    }
)
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_BOOL_KEYS = frozenset({"ssl_check_hostname"})
_SECRET_MARKERS = ("password", "token", "key")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

#: Plain settings read from the environment: variable suffix -> field name.
_ENV_FIELDS = {
    "BOOTSTRAP": "bootstrap_servers",
    "COMMANDS_TOPIC": "commands_topic",
    "EVENTS_TOPIC": "events_topic",
    "DEAD_LETTER_TOPIC": "dead_letter_topic",
    "GROUP_ID": "group_id",
    "CLIENT_ID": "client_id",
    "PARTITIONS": "partitions",
    "BATCH_SIZE": "batch_size",
    "POLL_TIMEOUT_MS": "poll_timeout_ms",
    "SESSION_TIMEOUT_MS": "session_timeout_ms",
    "HEARTBEAT_INTERVAL_MS": "heartbeat_interval_ms",
    "MAX_POLL_INTERVAL_MS": "max_poll_interval_ms",
}
#: Security settings read from the environment (the suffix is the upper-cased kafka-python name).
_ENV_SECURITY = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
)
_INT_FIELDS = (
    "partitions",
    "batch_size",
    "poll_timeout_ms",
    "session_timeout_ms",
    "heartbeat_interval_ms",
    "max_poll_interval_ms",
)
_TEXT_FIELDS = (
    "bootstrap_servers",
    "commands_topic",
    "events_topic",
    "dead_letter_topic",
    "group_id",
    "client_id",
)


def is_secret(key: str) -> bool:
    """Whether a setting's value must never be shown (passwords, tokens, key material)."""
    lowered = key.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


@dataclass(frozen=True, slots=True, repr=False)
class KafkaConfig:
    """Where the bridge connects, which topics it uses, and how its clients behave."""

    bootstrap_servers: str = "127.0.0.1:9092"
    commands_topic: str = "opsledger.commands"
    events_topic: str = "opsledger.events"
    dead_letter_topic: str = "opsledger.dead-letters"
    group_id: str = "opsledger-worker"
    client_id: str = "opsledger"
    partitions: int = 6
    batch_size: int = 500
    poll_timeout_ms: int = 200
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000
    max_poll_interval_ms: int = 300000
    security: Mapping[str, str | int | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(name, f"{value!r} must be non-empty text")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(name, f"{value!r} must be a whole number of at least 1")
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise InputError(
                "heartbeat_interval_ms",
                f"{self.heartbeat_interval_ms} must be below session_timeout_ms "
                f"({self.session_timeout_ms}), or the group evicts a live worker",
            )
        topics = (self.commands_topic, self.events_topic, self.dead_letter_topic)
        if len(set(topics)) != len(topics):
            raise InputError("dead_letter_topic", f"the three topics must differ: {topics}")
        security = dict(self.security)
        for key, value in security.items():
            if key not in SECURITY_KEYS:
                raise InputError("security", f"{key!r} is not a kafka-python security setting")
            if key == "security_protocol":
                security[key] = _check_protocol(str(value), "security_protocol")
            elif key in _BOOL_KEYS and not isinstance(value, bool):
                # "false" would be truthy in the client: read it as the word it is
                security[key] = _parse_bool(f"security.{key}", str(value))
        # Read-only, so a config handed to several clients cannot be changed under them.
        object.__setattr__(self, "security", MappingProxyType(security))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Picklable (the read-only mapping is not), for worker processes started by spawn."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["security"] = dict(self.security)
        return _rebuild, (values,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> KafkaConfig:
        """Defaults, then ``OPSLEDGER_KAFKA_*`` variables, then keyword overrides that are not None.

        Overrides take field names, or a security key (``security_protocol=...``) that is merged
        into ``security``. Blank variables count as unset.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for suffix, name in _ENV_FIELDS.items():
            text = _env_text(env, PREFIX + suffix)
            if text is None:
                continue
            values[name] = _parse_int(PREFIX + suffix, text) if name in _INT_FIELDS else text
        security: dict[str, str | int | bool] = {}
        for key in _ENV_SECURITY:
            variable = PREFIX + key.upper()
            text = _env_text(env, variable)
            if text is None:
                continue
            if key in _BOOL_KEYS:
                security[key] = _parse_bool(variable, text)
            elif key == "security_protocol":
                security[key] = _check_protocol(text, variable)
            else:
                security[key] = text
        known = {f.name for f in fields(cls)}
        for name, value in overrides.items():
            if value is None:
                continue
            if name == "security":
                security.update(value)
            elif name in SECURITY_KEYS:
                security[name] = value
            elif name in known:
                values[name] = value
            else:
                raise TypeError(f"KafkaConfig.from_env() got an unknown setting {name!r}")
        return cls(**values, security=security)

    # -- kafka-python keyword arguments --------------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Connection and security settings that every kafka-python client accepts."""
        servers = [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        return {"bootstrap_servers": servers, "client_id": self.client_id, **self.security}

    def consumer_kwargs(self) -> dict[str, Any]:
        """A group consumer that commits by hand, after the work is recorded (at-least-once)."""
        return {
            **self.client_kwargs(),
            "group_id": self.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "max_poll_records": self.batch_size,
            # An idle partition answers a fetch only after this wait on brokers that do not
            # wake fetches on new data; 500 ms (the default) shows as end-to-end latency.
            "fetch_max_wait_ms": 50,
        }

    def producer_kwargs(self) -> dict[str, Any]:
        """A producer whose retries neither duplicate nor reorder records of one partition.

        kafka-python 3 implements the idempotent producer (KIP-98), which keeps per-partition
        order with up to five requests in flight; ``retries`` stays at the library's default
        (unbounded, limited by ``delivery_timeout_ms``), as its documentation advises for
        idempotence. Setting it explicitly to True makes a conflicting setting an error instead
        of a silent downgrade.
        """
        return {
            **self.client_kwargs(),
            "acks": "all",
            "enable_idempotence": True,
            "max_in_flight_requests_per_connection": 5,
            "linger_ms": 5,
        }

    # -- display ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Every setting, secrets masked as ``***``: safe to log or print."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["security"] = {
            key: "***" if is_secret(key) else value for key, value in sorted(self.security.items())
        }
        return out

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in self.describe().items())
        return f"KafkaConfig({body})"


def _env_text(env: Mapping[str, str], variable: str) -> str | None:
    value = env.get(variable)
    if value is None or not value.strip():
        return None
    return value.strip()


def _parse_int(variable: str, text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise InputError(variable, f"{text!r} is not a whole number") from None
    if value < 1:
        raise InputError(variable, f"{value} must be at least 1")
    return value


def _parse_bool(variable: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InputError(variable, f"{text!r} is not true/false (also accepted: 1/0, yes/no, on/off)")


def _check_protocol(text: str, field_name: str) -> str:
    value = text.strip().upper()
    if value not in SECURITY_PROTOCOLS:
        raise InputError(field_name, f"{text!r} is not one of {', '.join(SECURITY_PROTOCOLS)}")
    return value


def ensure_topics(
    config: KafkaConfig, *, partitions: int | None = None, timeout_s: float = 20
) -> None:
    """Create the commands, events and dead-letter topics if missing; return once they are usable.

    A topic that already exists is left as it is (a warning is logged when it has fewer
    partitions than asked for: repartitioning would move tickets between workers). New topics
    use the broker's default replication factor.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError, for_code

    count = config.partitions if partitions is None else partitions
    if count < 1:
        raise InputError("partitions", f"{count} must be at least 1")
    names = [config.commands_topic, config.events_topic, config.dead_letter_topic]
    timeout_ms = max(1, int(timeout_s * 1000))
    admin = KafkaAdminClient(
        **config.client_kwargs(), bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms
    )
    try:
        response = admin.create_topics(
            {name: {"num_partitions": count, "replication_factor": -1} for name in names},
            timeout_ms=timeout_ms,
            raise_errors=False,
        )
        for topic in response["topics"]:
            code = topic["error_code"]
            if code == 0:
                log.info("created topic", extra={"topic": topic["name"], "partitions": count})
            elif code != TopicAlreadyExistsError.errno:
                error = for_code(code)
                raise error(f"creating topic {topic['name']!r}: {topic.get('error_message')}")
        admin.wait_for_topics(names, timeout_ms=timeout_ms)
        for described in admin.describe_topics(names):
            have = len(described["partitions"])
            if have < count:
                log.warning(
                    "topic has fewer partitions than configured",
                    extra={"topic": described["name"], "partitions": have, "wanted": count},
                )
    finally:
        admin.close()


def _rebuild(values: dict[str, Any]) -> KafkaConfig:
    return KafkaConfig(**values)
