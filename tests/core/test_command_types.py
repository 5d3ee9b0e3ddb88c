"""Commands built from JSON refuse wrongly typed values, naming the field.

``command_from_dict`` is where outsiders' payloads (Kafka, CLI, HTTP) become commands: a
``{"public": "yes"}`` must stop there with an InputError, not be recorded or break a handler.
The cases are derived from the command classes' own annotations, so a new command or field is
covered without editing this file. Ticket numbers get the same treatment at the end.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import MISSING, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opsledger.adapters.kafka.envelope import Envelope, EnvelopeError, command_of
from opsledger.core.commands import (
    COMMANDS,
    AddComment,
    Command,
    CompleteChangeImplementation,
    DefineSlaPolicy,
    IngestInbound,
    OpenTicket,
    RecordSatisfaction,
    RegisterCI,
    TickClocks,
    command_from_dict,
)
from opsledger.core.domain.errors import InputError
from opsledger.core.domain.records import normalise_number, parse_number

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)

#: One value of each JSON type, keyed by the words the error message uses for it.
SAMPLES: dict[str, object] = {
    "text": "x",
    "a number": 5,
    "a fraction": 4.5,  # "a number", but not a whole one
    "true/false": True,
    "null": None,
    "a list": ["x"],
    "an object": {"k": "x"},
}


def _hints(cls: type[Command]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return inner, True
    return annotation, False


def _accepted(annotation: Any) -> set[str]:
    """The samples a field of this annotation takes (the spec, written independently)."""
    inner, optional = _split_optional(annotation)
    accepted: set[str] = {"null"} if optional else set()
    if inner is Any:
        return set(SAMPLES)
    by_type: dict[Any, set[str]] = {
        str: {"text"},
        bool: {"true/false"},
        int: {"a number"},  # 4.0 too, see below
        datetime: set(),  # "x" is text but no instant: refused all the same
        dict[str, Any]: {"an object"},
        tuple[str, ...]: {"a list"},  # of text: ["x"]
        tuple[dict[str, Any], ...]: set(),  # ["x"] is a list, but not of objects
    }
    if inner not in by_type:
        raise AssertionError(f"this test does not know the annotation {annotation!r}")
    return accepted | by_type[inner]


def _valid(annotation: Any) -> object:
    inner, _ = _split_optional(annotation)
    examples: dict[Any, object] = {
        str: "x",
        bool: False,
        int: 3,
        datetime: "2024-03-04T10:00:00+01:00",
        dict[str, Any]: {"k": ["v", 1]},
        tuple[str, ...]: ["a", "b"],
        tuple[dict[str, Any], ...]: [{"k": "v"}],
    }
    return "x" if inner is Any else examples[inner]


def _required_payload(cls: type[Command]) -> dict[str, Any]:
    """Valid values for the fields without a default, so only the field under test is wrong."""
    hints = _hints(cls)
    return {
        f.name: _valid(hints[f.name])
        for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING
    }


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_field_refuses_every_wrongly_typed_json_value_by_name(name: str) -> None:
    cls = COMMANDS[name]
    base = _required_payload(cls)
    wrong = 0
    for field, annotation in _hints(cls).items():
        for words, sample in SAMPLES.items():
            if words in _accepted(annotation):
                continue
            with pytest.raises(InputError) as e:
                command_from_dict(name, {**base, field: sample})
            assert e.value.field == field, (field, sample, str(e.value))
            inner = _split_optional(annotation)[0]
            if words == "a fraction":  # a number; a whole-number field quotes it
                words = "4.5" if inner is int else "a number"
            if inner is not datetime or words != "text":  # else: not an instant, quoted
                assert e.value.message.endswith(f", got {words}"), e.value.message
            wrong += 1
    assert wrong  # every command has fields (actor, at, idempotency_key at least)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_built_from_valid_json_and_round_trips(name: str) -> None:
    cls = COMMANDS[name]
    payload = {f: _valid(a) for f, a in _hints(cls).items()}
    command = command_from_dict(name, payload)
    assert type(command) is cls
    assert command_from_dict(name, command.to_dict()) == command


def test_the_reported_examples_name_the_field_and_the_json_type() -> None:
    with pytest.raises(InputError, match=r"^public: expected true/false, got text$"):
        command_from_dict("AddComment", {"ticket": "INC-000001", "body": "b", "public": "yes"})
    with pytest.raises(InputError, match=r"^summary: expected text, got a number$"):
        command_from_dict("OpenTicket", {"kind": "incident", "summary": 5})


REPRESENTATIVE: list[Command] = [
    OpenTicket(
        kind="change",
        summary="replace the core switch",
        impact="high",
        priority_override="P1",
        service="network",
        planned_start=T0 + timedelta(days=1),
        planned_end=T0 + timedelta(days=1, hours=2),
        actor="ann",
        at=T0,
        idempotency_key="k-1",
    ),
    AddComment(ticket="INC-000001", body="looking", public=False),
    RecordSatisfaction(ticket="INC-000001", score=5, comment="quick"),
    CompleteChangeImplementation(ticket="CHG-000001", succeeded=False, notes="rolled back"),
    IngestInbound(
        source="alertmanager",
        external_id="fp-1",
        state="open",
        summary="disk full",
        occurred_at=T0 - timedelta(minutes=1),
        details={"labels": {"severity": "page"}, "links": ["https://example.org/a"], "n": 2},
        reopen=False,
    ),
    RegisterCI(ci_type="server", name="db-1", attributes={"cpus": 8, "ha": True, "os": "linux"}),
    DefineSlaPolicy(definition={"name": "gold", "targets": [{"priority": "P1", "hours": 4}]}),
    TickClocks(ticket="INC-000001", at=T0),
]


@pytest.mark.parametrize("command", REPRESENTATIVE, ids=lambda c: type(c).__name__)
def test_a_command_round_trips_through_its_json_form(command: Command) -> None:
    assert command_from_dict(type(command).__name__, command.to_dict()) == command


def test_instants_are_iso_text_or_aware_datetimes_and_come_out_in_utc() -> None:
    base = {"ticket": "INC-000001"}
    plus_one = timezone(timedelta(hours=1))
    from_text = command_from_dict("TickClocks", {**base, "at": "2024-03-04T10:00:00+01:00"})
    # the Kafka envelope hands its own instants over as datetimes
    from_datetime = command_from_dict("TickClocks", {**base, "at": T0.astimezone(plus_one)})
    assert from_text.at == from_datetime.at == T0
    assert from_text.at is not None and from_text.at.tzinfo is UTC
    with pytest.raises(InputError, match=r"^at: .*no time zone"):
        command_from_dict("TickClocks", {**base, "at": datetime(2024, 3, 4, 9, 0)})
    with pytest.raises(InputError, match=r"^at: 'noon' is not an ISO 8601 instant"):
        command_from_dict("TickClocks", {**base, "at": "noon"})


def test_a_whole_number_may_be_written_with_a_point_but_not_a_fraction() -> None:
    # JSON has one number type: 4.0 is the whole number 4
    command = command_from_dict("RecordSatisfaction", {"ticket": "INC-000001", "score": 4.0})
    assert isinstance(command, RecordSatisfaction)
    assert command.score == 4 and type(command.score) is int
    with pytest.raises(InputError, match=r"^score: expected a whole number, got 4\.5$"):
        command_from_dict("RecordSatisfaction", {"ticket": "INC-000001", "score": 4.5})
    with pytest.raises(InputError, match=r"^score: expected a whole number, got true/false$"):
        command_from_dict("RecordSatisfaction", {"ticket": "INC-000001", "score": True})


def test_null_is_refused_where_the_field_is_not_optional_even_with_a_default() -> None:
    with pytest.raises(InputError, match=r"^description: expected text, got null$"):
        command_from_dict("OpenTicket", {"kind": "incident", "summary": "s", "description": None})
    command = command_from_dict("OpenTicket", {"kind": "incident", "summary": "s", "ci": None})
    assert isinstance(command, OpenTicket) and command.ci is None


def test_lone_surrogates_are_refused_wherever_they_hide() -> None:
    with pytest.raises(InputError) as e:
        command_from_dict("OpenTicket", {"kind": "incident", "summary": "a\ud800"})
    assert e.value.field == "summary"
    # inside a list inside an object: the save would fail with a TypeError otherwise
    payload = {"source": "am", "external_id": "fp", "state": "open", "details": {"x": ["\udfff"]}}
    with pytest.raises(InputError) as e:
        command_from_dict("IngestInbound", payload)
    assert e.value.field == "details.x[0]"


def test_unknown_and_missing_fields_are_still_named() -> None:
    with pytest.raises(InputError, match=r"^colour: not a field of AddComment$"):
        command_from_dict("AddComment", {"ticket": "INC-000001", "body": "b", "colour": "red"})
    with pytest.raises(InputError, match=r"^body: is required by AddComment$"):
        command_from_dict("AddComment", {"ticket": "INC-000001"})
    with pytest.raises(InputError, match=r"^command: unknown command 'Frobnicate'$"):
        command_from_dict("Frobnicate", {})


def test_a_wrongly_typed_kafka_payload_is_refused_naming_the_payload_field() -> None:
    payload = {"ticket": "INC-000001", "body": "b", "public": "yes"}
    env = Envelope(kind="command", name="AddComment", payload=payload, produced_at=T0)
    with pytest.raises(EnvelopeError) as e:
        command_of(env)
    assert e.value.field == "payload.public"


def test_commands_built_in_python_are_not_type_checked_again() -> None:
    # the Engine facade passes typed values (mypy checks them); only the JSON path pays
    command = AddComment(ticket="INC-000001", body="b", public="yes")  # type: ignore[arg-type]
    assert command.public == "yes"  # type: ignore[comparison-overlap]


# -- any JSON: a command or an InputError, nothing else ----------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["2024-03-04T09:00:00Z", "2024-03-04T09:00", "INC-000001", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    hints = _hints(COMMANDS[name])
    keys = st.sampled_from(sorted(hints)) | st.text(max_size=6)
    data: dict[str, Any] = draw(st.dictionaries(keys, JSON, max_size=8))
    # mostly well typed, so that the odd wrong value is what gets tested, and some pass
    if draw(st.booleans()):
        data = {**_required_payload(COMMANDS[name]), **data}
    for key in list(data):
        if key in hints and draw(st.booleans()):
            data[key] = _valid(hints[key])
    return name, data


@settings(max_examples=4 * settings().max_examples)
@given(payloads())
def test_any_json_payload_is_a_command_or_an_input_error(case: tuple[str, dict[str, Any]]) -> None:
    name, data = case
    try:
        command = command_from_dict(name, data)
    except InputError as e:
        assert e.field
        return
    assert type(command) is COMMANDS[name]
    assert command_from_dict(name, command.to_dict()) == command


# -- ticket numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "INC-²",  # str.isdigit() is true for superscripts, int() refuses them
        "INC-1²",
        "INC-١٢",  # Arabic-Indic digits: int() would read them as 12
        "ınc-12",  # dotless i: "ınc".upper() == "INC"
        "INC-" + "9" * 19,  # more than any counter reaches (and int() refuses over 4,300)
        "INC-",
        "INC-12a",
        "XYZ-000001",
    ],
)
def test_a_ticket_number_takes_only_ascii_digits_and_names_the_field(text: str) -> None:
    with pytest.raises(InputError) as e:
        normalise_number(text, "source")
    assert e.value.field == "source"
    with pytest.raises(InputError) as e:
        parse_number(text)
    assert e.value.field == "ticket"


def test_leading_zeros_and_case_do_not_change_the_number() -> None:
    assert normalise_number(" inc-42 ") == normalise_number("INC-" + "0" * 5_000 + "42")
    assert normalise_number("inc-42") == "INC-000042"


@given(st.text(max_size=12) | st.from_regex(r"\A(inc|REQ|Chg|ci|prb)-[0-9²١]{0,8}\Z"))
def test_any_text_is_a_canonical_number_or_an_input_error(text: str) -> None:
    try:
        number = normalise_number(text)
    except InputError as e:
        assert e.field == "ticket"
        return
    assert re.fullmatch(r"(INC|REQ|PRB|CHG|CI)-[0-9]{6,}", number)
    assert normalise_number(number) == number
