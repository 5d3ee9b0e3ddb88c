"""The wire format and the Kafka settings: round trips, named errors, total decoding, keys."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opsledger.adapters.kafka.config import KafkaConfig
from opsledger.adapters.kafka.envelope import (
    SCHEMA_VERSION,
    Envelope,
    EnvelopeError,
    command_envelope,
    command_of,
    dead_letter_headers,
    decode,
    encode,
    partition_key,
    read_dead_letter_headers,
)
from opsledger.core import commands as c
from opsledger.core.domain.errors import InputError

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=7, microseconds=250)
#: Decoding is cheap, so the property tests can afford a few hundred examples even in CI.
BUDGET = settings(
    max_examples=max(200, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

COMMANDS: list[c.Command] = [
    c.OpenTicket(
        kind="incident",
        summary="Payroll DB down 中文 😀",
        impact="high",
        urgency="high",
        service="payroll",
        actor="alice",
        at=T1,
        received_at=T0,
        idempotency_key="mail-1",
    ),
    c.OpenTicket(
        kind="change",
        summary="Patch the cluster",
        planned_start=datetime(2024, 3, 9, 22, tzinfo=timezone(timedelta(hours=1))),
        planned_end=datetime(2024, 3, 9, 23, 30, tzinfo=UTC),
    ),
    c.AssignTicket(ticket="INC-000042", group="dba", assignee="bob", tier="2"),
    c.AddComment(ticket="inc-42", body="looking\nat it", public=False, at=T1),
    c.HoldTicket(ticket="INC-000042", reason="awaiting_vendor", vendor="acme"),
    c.CompleteChangeImplementation(ticket="CHG-000003", succeeded=True),
    c.RecordSatisfaction(ticket="REQ-000009", score=4),
    c.LinkRecords(source="PRB-000001", relation="has_incident", target="INC-000042"),
    c.RegisterCI(ci_type="server", name="db-01", attributes={"cores": 8, "tags": ["a", "b"]}),
    c.UpdateCIAttributes(ci="CI-000001", changes={"cores": 16, "ram": None}),
    c.DefineSlaPolicy(definition={"name": "gold", "targets": {"P1": "4h"}}),
]


def _ids(command: c.Command) -> str:
    return type(command).__name__


def _valid_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": 1,
        "type": "command",
        "id": "m-1",
        "correlation_id": "INC-000042",
        "causation_id": None,
        "produced_at": "2024-03-04T09:00:00Z",
        "occurred_at": None,
        "name": "AssignTicket",
        "payload": {"ticket": "INC-000042", "group": "dba"},
    }
    doc.update(changes)
    return doc


def _bytes(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=_ids)
def test_command_envelope_round_trips_through_bytes_exactly(command: c.Command) -> None:
    env = command_envelope(command, produced_at=T0, causation_id="cause-1")
    assert decode(encode(env)) == env
    assert env.kind == "command" and env.name == type(command).__name__
    assert env.occurred_at == command.at
    assert None not in env.payload.values()  # left out, so the receiver's defaults apply


@pytest.mark.parametrize("command", COMMANDS, ids=_ids)
def test_command_of_gives_back_the_command_with_replay_safe_defaults(command: c.Command) -> None:
    env = decode(encode(command_envelope(command, produced_at=T0)))
    expected = replace(
        command,
        at=command.at or T0,  # no `at`: the instant it was produced
        idempotency_key=command.idempotency_key or env.message_id,
    )
    assert command_of(env) == expected


def test_redelivered_bytes_become_the_same_command_at_the_same_instant() -> None:
    data = encode(command_envelope(c.AcknowledgeTicket(ticket="INC-000042"), produced_at=T0))
    first, second = command_of(decode(data)), command_of(decode(data))
    assert first == second
    assert first.at == T0 and first.idempotency_key == decode(data).message_id


def test_command_without_at_happens_when_it_occurred_not_when_it_was_produced() -> None:
    env = decode(_bytes(_valid_doc(occurred_at="2024-03-04T08:00:00+01:00")))
    assert command_of(env).at == datetime(2024, 3, 4, 7, 0, tzinfo=UTC)


def test_explicit_at_and_idempotency_key_in_the_payload_win() -> None:
    payload = {"ticket": "INC-000042", "group": "dba", "at": "2024-01-01T00:00:00Z"}
    payload["idempotency_key"] = "k-9"
    command = command_of(decode(_bytes(_valid_doc(payload=payload))))
    assert command.at == datetime(2024, 1, 1, tzinfo=UTC) and command.idempotency_key == "k-9"


def test_wire_instants_are_utc_with_z_and_ids_default_sensibly() -> None:
    env = command_envelope(
        c.AssignTicket(ticket="inc-7", group="g"),
        produced_at=datetime(2024, 3, 4, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    )
    doc = orjson.loads(encode(env))
    assert doc["produced_at"] == "2024-03-04T09:00:00.000005Z"
    assert doc["schema"] == SCHEMA_VERSION and doc["type"] == "command"
    assert doc["correlation_id"] == "INC-000007"  # the partition key: one ticket, one thread
    assert len(doc["id"]) == 36 and doc["causation_id"] is None and doc["occurred_at"] is None


def test_unknown_top_level_keys_are_tolerated_for_forward_compatibility() -> None:
    env = decode(_bytes(_valid_doc(trace={"span": "x"}, priority_hint=3)))
    assert env.name == "AssignTicket"


def test_encode_refuses_a_payload_that_would_not_come_back_as_itself() -> None:
    env = Envelope(kind="event", name="Opened", payload={"at": T0}, produced_at=T0)
    with pytest.raises(EnvelopeError) as e:
        encode(env)
    assert e.value.field == "payload"


# -- errors name their field ---------------------------------------------------------------


def _without(key: str) -> bytes:
    doc = _valid_doc()
    del doc[key]
    return _bytes(doc)


BAD_ENVELOPES: list[tuple[str, Any, str]] = [
    ("not utf-8", b'{"schema":1,"name":"\xff"}', "envelope"),
    ("not json", b'{"schema":1,', "envelope"),
    ("empty", b"", "envelope"),
    ("array", b"[1,2]", "envelope"),
    ("tombstone", None, "envelope"),
    ("text", "{}", "envelope"),
    *[(f"missing {k}", _without(k), k) for k in _valid_doc()],
    ("schema text", _bytes(_valid_doc(schema="1")), "schema"),
    ("schema bool", _bytes(_valid_doc(schema=True)), "schema"),
    ("schema float", _bytes(_valid_doc(schema=1.0)), "schema"),
    ("schema 0", _bytes(_valid_doc(schema=0)), "schema"),
    ("schema 2", _bytes(_valid_doc(schema=2)), "schema"),
    ("type unknown", _bytes(_valid_doc(type="query")), "type"),
    ("type number", _bytes(_valid_doc(type=5)), "type"),
    ("id empty", _bytes(_valid_doc(id="  ")), "id"),
    ("id null", _bytes(_valid_doc(id=None)), "id"),
    ("correlation number", _bytes(_valid_doc(correlation_id=3)), "correlation_id"),
    ("causation number", _bytes(_valid_doc(causation_id=4)), "causation_id"),
    ("produced naive", _bytes(_valid_doc(produced_at="2024-03-04T09:00:00")), "produced_at"),
    ("produced date", _bytes(_valid_doc(produced_at="2024-03-04")), "produced_at"),
    ("produced words", _bytes(_valid_doc(produced_at="yesterday")), "produced_at"),
    ("produced null", _bytes(_valid_doc(produced_at=None)), "produced_at"),
    ("produced overflow", _bytes(_valid_doc(produced_at="0001-01-01T00:00+01:00")), "produced_at"),
    ("occurred month 13", _bytes(_valid_doc(occurred_at="2024-13-01T00:00Z")), "occurred_at"),
    ("occurred number", _bytes(_valid_doc(occurred_at=17)), "occurred_at"),
    ("name empty", _bytes(_valid_doc(name="")), "name"),
    ("payload array", _bytes(_valid_doc(payload=[])), "payload"),
    ("payload null", _bytes(_valid_doc(payload=None)), "payload"),
]


@pytest.mark.parametrize(
    ("data", "field"), [(d, f) for _, d, f in BAD_ENVELOPES], ids=[i for i, _, _ in BAD_ENVELOPES]
)
def test_decode_names_the_bad_field(data: Any, field: str) -> None:
    with pytest.raises(EnvelopeError) as e:
        decode(data)
    assert e.value.field == field
    assert isinstance(e.value, InputError)  # every edge already maps InputError
    assert str(e.value).startswith(f"{field}: ")


def test_a_newer_schema_says_which_versions_are_understood() -> None:
    with pytest.raises(EnvelopeError, match=r"version 2 is newer .*\(1\)"):
        decode(_bytes(_valid_doc(schema=2)))


BAD_COMMANDS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown command", {"name": "DropDatabase"}, "name"),
    ("event", {"type": "event", "name": "Opened"}, "type"),
    ("missing field", {"payload": {"ticket": "INC-000042"}}, "payload.group"),
    ("unknown field", {"payload": {"ticket": "X", "group": "g", "colour": 1}}, "payload.colour"),
    (
        "bad instant",
        {"name": "OpenTicket", "payload": {"kind": "incident", "summary": "s", "received_at": "x"}},
        "payload.received_at",
    ),
    ("bad payload at", {"payload": {"ticket": "X", "group": "g", "at": "noon"}}, "payload.at"),
]


@pytest.mark.parametrize(
    ("changes", "field"), [(d, f) for _, d, f in BAD_COMMANDS], ids=[i for i, _, _ in BAD_COMMANDS]
)
def test_command_of_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    env = decode(_bytes(_valid_doc(**changes)))
    with pytest.raises(EnvelopeError) as e:
        command_of(env)
    assert e.value.field == field


HAS_INBOUND = importlib.util.find_spec("opsledger.core.inbound") is not None
ALERT = {"source": "alertmanager", "external_id": "fp-1", "state": "open", "summary": "disk full"}


def test_inbound_envelopes_are_refused_without_core_inbound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opsledger.core.inbound", None)  # as if not installed
    env = decode(_bytes(_valid_doc(type="inbound", name="alert", payload=ALERT)))
    with pytest.raises(EnvelopeError, match=r"opsledger\.core\.inbound") as e:
        command_of(env)
    assert e.value.field == "type"


@pytest.mark.skipif(not HAS_INBOUND, reason="opsledger.core.inbound is not there yet")
def test_inbound_envelope_becomes_a_redelivery_safe_ingest_command() -> None:
    env = decode(_bytes(_valid_doc(type="inbound", name="alert", payload=ALERT)))
    command = command_of(env)
    assert type(command).__name__ == "IngestInbound"
    assert command.at == T0  # received when it was put on the bus
    # no source instant, so no natural key: the message id makes a redelivery a no-op
    assert command.idempotency_key == "m-1"
    assert partition_key(command) == b"alertmanager:fp-1"
    with_instant = {**ALERT, "occurred_at": "2024-03-04T08:59:00Z"}
    env = decode(_bytes(_valid_doc(type="inbound", name="alert", payload=with_instant)))
    natural = command_of(env).idempotency_key
    assert natural is not None and natural != "m-1"  # the source's resends are absorbed too


@pytest.mark.skipif(not HAS_INBOUND, reason="opsledger.core.inbound is not there yet")
def test_a_bad_inbound_payload_names_its_field() -> None:
    env = decode(_bytes(_valid_doc(type="inbound", name="alert", payload={**ALERT, "state": 1})))
    with pytest.raises(EnvelopeError) as e:
        command_of(env)
    assert e.value.field == "payload.state"


# -- decoding is total: any bytes, only EnvelopeError --------------------------------------

#: Strings that look almost right are where parsers slip: near-instants, near-kinds, blanks.
TRICKY_TEXT = st.sampled_from(
    [
        "2024-03-04T09:00:00Z",
        "2024-03-04T09:00:00",
        "2024-03-04",
        "2024-02-30T09:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2024-03-04T09:00:00+24:00",
        "2024-03-04T09:00:00ZZ",
        "command",
        "inbound",
        "event",
        "INC-42",
        "INC-²",
        "",
        " ",
    ]
)
JSON_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | TRICKY_TEXT
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
DELETE = object()
#: What a damaged field holds: text often (the near-misses above), any JSON value, or nothing.
DAMAGE = st.one_of(TRICKY_TEXT, st.text(max_size=12), JSON_SCALAR, JSON_VALUE, st.just(DELETE))
TOP_KEYS = st.sampled_from([*_valid_doc(), "extra"])
PAYLOAD_KEYS = st.sampled_from(sorted({f.name for cls in c.COMMANDS.values() for f in fields(cls)}))


def _decodes_or_names_a_field(data: bytes) -> Envelope | None:
    try:
        env = decode(data)
    except EnvelopeError as e:
        assert e.field
        return None
    assert decode(encode(env)) == env
    return env


def _command_or_names_a_field(env: Envelope) -> None:
    try:
        command = command_of(env)
    except EnvelopeError as e:
        assert e.field
    else:
        assert isinstance(command, c.Command)


@BUDGET
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_envelope_error(data: bytes) -> None:
    _decodes_or_names_a_field(data)


@BUDGET
@given(base=st.sampled_from(COMMANDS), key=TOP_KEYS, value=DAMAGE)
def test_any_damaged_envelope_field_only_ever_raises_envelope_error(
    base: c.Command, key: str, value: Any
) -> None:
    doc = orjson.loads(encode(command_envelope(base, produced_at=T0)))
    if value is DELETE:
        doc.pop(key, None)
    else:
        doc[key] = value
    env = _decodes_or_names_a_field(orjson.dumps(doc))
    if env is not None:
        _command_or_names_a_field(env)


@BUDGET
@given(
    base=st.sampled_from(COMMANDS),
    edits=st.lists(
        st.tuples(PAYLOAD_KEYS | st.text(max_size=8), DAMAGE),
        min_size=1,
        max_size=3,
    ),
)
def test_any_damaged_command_payload_only_ever_raises_envelope_error(
    base: c.Command, edits: list[tuple[str, Any]]
) -> None:
    doc = orjson.loads(encode(command_envelope(base, produced_at=T0)))
    for key, value in edits:
        if value is DELETE:
            doc["payload"].pop(key, None)
        else:
            doc["payload"][key] = value
    env = _decodes_or_names_a_field(orjson.dumps(doc))
    assert env is not None  # the envelope itself is intact
    _command_or_names_a_field(env)


@BUDGET
@given(
    base=st.sampled_from(COMMANDS),
    cuts=st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=3)), min_size=1, max_size=3),
)
def test_byte_level_damage_only_ever_raises_envelope_error(
    base: c.Command, cuts: list[tuple[int, bytes]]
) -> None:
    data = bytearray(encode(command_envelope(base, produced_at=T0)))
    for at, junk in cuts:
        position = at % (len(data) + 1)
        data[position : position + len(junk)] = junk
    _decodes_or_names_a_field(bytes(data))


@BUDGET
@given(
    kind=st.sampled_from(["command", "inbound", "event"]),
    name=st.text(min_size=1, max_size=20).filter(str.strip),
    payload=st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=4),
    produced_at=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
    ),
)
def test_any_envelope_round_trips(
    kind: str, name: str, payload: dict[str, Any], produced_at: datetime
) -> None:
    env = Envelope(kind=kind, name=name, payload=payload, produced_at=produced_at)
    assert decode(encode(env)) == env


# -- partition keys ------------------------------------------------------------------------

_DUMMY: dict[str, Any] = {"str": "x", "bool": True, "int": 1, "dict[str, Any]": {}}


def _some(cls: type[c.Command], **given_values: Any) -> c.Command:
    """Any command class with its required fields filled in, so new classes are covered too."""
    values = dict(given_values)
    for f in fields(cls):
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING:
            values[f.name] = _DUMMY[str(f.type)]
    return cls(**values)


TICKET_COMMANDS = sorted(
    (cls for cls in c.COMMANDS.values() if issubclass(cls, c.TicketCommand)),
    key=lambda cls: cls.__name__,
)


def test_every_command_about_one_ticket_has_the_same_key() -> None:
    spellings = ["INC-000042", "inc-42", " Inc-0042 "]
    keys = {
        partition_key(_some(cls, ticket=spellings[i % 3], idempotency_key=f"k{i}"))
        for i, cls in enumerate(TICKET_COMMANDS)
    }
    keys.add(partition_key(c.LinkRecords(source="inc-42", relation="x", target="PRB-000001")))
    assert len(TICKET_COMMANDS) > 20
    assert keys == {b"INC-000042"}
    assert partition_key(c.AssignTicket(ticket="INC-000043", group="g")) == b"INC-000043"


def test_keys_for_records_without_a_ticket_number_yet() -> None:
    ci_commands = [
        c.UpdateCIAttributes(ci="ci-1", changes={}),
        c.ChangeCIOwner(ci="CI-000001", owner="o"),
        c.ChangeCIStatus(ci="Ci-01", status="retired"),
    ]
    assert {partition_key(cmd) for cmd in ci_commands} == {b"CI-000001"}
    policies = [c.DefineSlaPolicy(definition={"name": "gold"}), c.RetireSlaPolicy(name="gold")]
    assert len({partition_key(cmd) for cmd in policies}) == 1  # one policy book, one order
    external = c.OpenTicket(
        kind="incident", summary="s", external_system="jira", external_id="OPS-1"
    )
    assert partition_key(external) == b"jira:OPS-1"
    keyed = c.OpenTicket(kind="incident", summary="s", idempotency_key="mail-77")
    assert partition_key(keyed) == b"mail-77"
    plain = c.OpenTicket(kind="incident", summary="s")
    assert partition_key(plain, fallback="m-1") == b"m-1"
    assert partition_key(plain) != partition_key(plain)  # a fresh uuid each time
    assert partition_key(c.AssignTicket(ticket="not a number", group="g")) == b"NOT A NUMBER"


# -- dead letters --------------------------------------------------------------------------


def test_dead_letter_headers_read_back_and_skip_what_is_unknown() -> None:
    headers = dead_letter_headers(
        reason="payload.group: is missing",
        field="payload.group",
        source_topic="opsledger.commands",
        partition=2,
        offset=1041,
        failed_at=datetime(2024, 3, 4, 10, tzinfo=timezone(timedelta(hours=1))),
        message_id=None,
    )
    assert all(isinstance(v, bytes) for _, v in headers)
    read = read_dead_letter_headers([*headers, ("traceparent", b"00-abc"), ("x", None)])
    assert read == {
        "reason": "payload.group: is missing",
        "field": "payload.group",
        "source": "opsledger.commands",
        "partition": "2",
        "offset": "1041",
        "failed_at": "2024-03-04T09:00:00Z",
    }
    assert read_dead_letter_headers(None) == {}


def test_a_huge_reason_is_cut_to_a_header_sized_one() -> None:
    headers = dict(
        dead_letter_headers(
            reason="x" * 50_000 + "\ud800",
            field=None,
            source_topic="t",
            partition=0,
            offset=0,
            failed_at=T0,
            message_id="m",
        )
    )
    assert len(headers["opsledger.reason"].decode()) == 1000


# -- configuration -------------------------------------------------------------------------

FULL_ENV = {
    "OPSLEDGER_KAFKA_BOOTSTRAP": "k1:9092, k2:9092",
    "OPSLEDGER_KAFKA_COMMANDS_TOPIC": "c",
    "OPSLEDGER_KAFKA_EVENTS_TOPIC": "e",
    "OPSLEDGER_KAFKA_DEAD_LETTER_TOPIC": "d",
    "OPSLEDGER_KAFKA_GROUP_ID": "g",
    "OPSLEDGER_KAFKA_CLIENT_ID": "cid",
    "OPSLEDGER_KAFKA_PARTITIONS": "12",
    "OPSLEDGER_KAFKA_BATCH_SIZE": "100",
    "OPSLEDGER_KAFKA_SESSION_TIMEOUT_MS": "45000",
    "OPSLEDGER_KAFKA_MAX_POLL_INTERVAL_MS": "600000",
    "OPSLEDGER_KAFKA_HEARTBEAT_INTERVAL_MS": "5000",
    "OPSLEDGER_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "OPSLEDGER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "OPSLEDGER_KAFKA_SASL_PLAIN_USERNAME": "ops",
    "OPSLEDGER_KAFKA_SASL_PLAIN_PASSWORD": "hunter2-secret",
    "OPSLEDGER_KAFKA_SSL_CAFILE": "/etc/ca.pem",
    "OPSLEDGER_KAFKA_SSL_CERTFILE": "/etc/cert.pem",
    "OPSLEDGER_KAFKA_SSL_KEYFILE": "/etc/key.pem",
    "OPSLEDGER_KAFKA_SSL_CHECK_HOSTNAME": "off",
    "UNRELATED": "ignored",
}


def test_from_env_reads_every_variable() -> None:
    config = KafkaConfig.from_env(FULL_ENV)
    assert (config.commands_topic, config.events_topic, config.dead_letter_topic) == ("c", "e", "d")
    assert (config.group_id, config.client_id, config.partitions, config.batch_size) == (
        "g",
        "cid",
        12,
        100,
    )
    assert config.session_timeout_ms == 45000 and config.heartbeat_interval_ms == 5000
    assert config.max_poll_interval_ms == 600000
    assert dict(config.security) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ops",
        "sasl_plain_password": "hunter2-secret",
        "ssl_cafile": "/etc/ca.pem",
        "ssl_certfile": "/etc/cert.pem",
        "ssl_keyfile": "/etc/key.pem",
        "ssl_check_hostname": False,
    }
    kwargs = config.client_kwargs()
    assert kwargs["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert kwargs["sasl_plain_password"] == "hunter2-secret"  # passed through unchanged
    consumer = config.consumer_kwargs()
    assert consumer["group_id"] == "g" and consumer["enable_auto_commit"] is False
    assert consumer["max_poll_records"] == 100 and consumer["auto_offset_reset"] == "earliest"
    assert consumer["ssl_cafile"] == "/etc/ca.pem"
    producer = config.producer_kwargs()
    assert producer["acks"] == "all" and producer["enable_idempotence"] is True
    assert producer["security_protocol"] == "SASL_SSL"


def test_defaults_without_environment_and_blank_variables_count_as_unset() -> None:
    config = KafkaConfig.from_env({"OPSLEDGER_KAFKA_PARTITIONS": " "})
    assert config == KafkaConfig()
    assert config.bootstrap_servers == "127.0.0.1:9092" and config.partitions == 6
    assert config.commands_topic == "opsledger.commands"
    assert config.dead_letter_topic == "opsledger.dead-letters"


def test_flag_overrides_win_unless_none() -> None:
    config = KafkaConfig.from_env(
        FULL_ENV, group_id="flag-group", partitions=None, security_protocol="ssl"
    )
    assert config.group_id == "flag-group" and config.partitions == 12
    assert config.security["security_protocol"] == "SSL"
    with pytest.raises(TypeError, match="colour"):
        KafkaConfig.from_env({}, colour="red")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPSLEDGER_KAFKA_PARTITIONS", "six"),
        ("OPSLEDGER_KAFKA_PARTITIONS", "0"),
        ("OPSLEDGER_KAFKA_BATCH_SIZE", "1.5"),
        ("OPSLEDGER_KAFKA_SESSION_TIMEOUT_MS", "-1"),
        ("OPSLEDGER_KAFKA_MAX_POLL_INTERVAL_MS", "1e6"),
        ("OPSLEDGER_KAFKA_HEARTBEAT_INTERVAL_MS", "fast"),
        ("OPSLEDGER_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("OPSLEDGER_KAFKA_SSL_CHECK_HOSTNAME", "maybe"),
    ],
)
def test_bad_environment_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(InputError) as e:
        KafkaConfig.from_env({variable: value})
    assert e.value.field == variable


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(InputError) as e:
        KafkaConfig(session_timeout_ms=3000, heartbeat_interval_ms=3000)
    assert e.value.field == "heartbeat_interval_ms"
    with pytest.raises(InputError) as e:
        KafkaConfig(events_topic="opsledger.commands")
    with pytest.raises(InputError) as e:
        KafkaConfig(security={"sasl_oauth_token_provider": "x"})
    assert e.value.field == "security"
    assert KafkaConfig(security={"ssl_check_hostname": "false"}).security == {
        "ssl_check_hostname": False
    }


def test_secrets_never_show_in_repr_or_describe() -> None:
    config = KafkaConfig.from_env(FULL_ENV, security={"ssl_password": "pem-pass"})
    for text in (repr(config), str(config), str(config.describe())):
        assert "hunter2-secret" not in text and "pem-pass" not in text
        assert "/etc/key.pem" not in text
        assert "'***'" in text and "'ops'" in text
    assert config.describe()["security"]["sasl_plain_password"] == "***"
    assert config.describe()["security"]["ssl_cafile"] == "/etc/ca.pem"
