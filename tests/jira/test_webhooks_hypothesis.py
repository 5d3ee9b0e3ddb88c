"""Hostile JIRA webhooks: mutated fixtures parse or raise InputError, never anything else.

Budget: the shared hypothesis profile (tests/conftest.py); OPSLEDGER_HYPOTHESIS_PROFILE=deep
for a long hunt.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opsledger.adapters.jira.webhooks import JiraWebhook, parse_webhook

from opsledger import InputError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIXTURES = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((Path(__file__).parent / "fixtures").glob("*.json"))
}
ODD_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "e\u0301", "\U0001f525" * 3,
     "\u0661\u0662", "OPS-17\n", "2024-03-04T09:58:00.000+0000", "2024-13-40T25:61:00Z",
     "1709546280000", "-1", "9" * 40, "null", "{}"]
)  # fmt: skip
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(10**17, 10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | ODD_TEXT
    | st.text(min_size=3_000, max_size=6_000),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["type", "text", "content", "id"]),
                      inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _slots(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value a mutation can hit: dict keys and list indexes."""
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _slots(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _slots(item, (*at, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    body = copy.deepcopy(FIXTURES[draw(st.sampled_from(sorted(FIXTURES)))])
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(body)
        if not slots:
            break
        slot = draw(st.sampled_from(slots))
        parent = body
        for step in slot[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "drop", "stringify", "nest"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[slot[-1]]
        elif action == "stringify":
            parent[slot[-1]] = json.dumps(parent[slot[-1]])
        elif action == "nest":
            parent[slot[-1]] = [parent[slot[-1]]]
        else:
            parent[slot[-1]] = draw(JUNK)
    return body


@given(body=mutated())
def test_mutated_webhook_parses_or_raises_input_error(body: Any) -> None:
    try:
        hook = parse_webhook(body)
    except InputError as error:
        assert error.field and isinstance(error.message, str)
        return
    assert hook.timestamp.utcoffset() is not None
    assert hook.issue_key.strip() == hook.issue_key != ""
    assert hook.delivery_id.startswith(f"{hook.event}:")
    hook.delivery_id.encode("utf-8")  # goes on as a Kafka key: never a lone surrogate


@given(value=JUNK)
def test_any_json_value_parses_or_raises_input_error(value: Any) -> None:
    with contextlib.suppress(InputError):
        parse_webhook(value)


ADF_TYPES = ["doc", "paragraph", "heading", "text", "hardBreak", "mention", "emoji", "listItem"]
ADF = st.recursive(
    JUNK,
    lambda inner: st.fixed_dictionaries(
        {"type": st.sampled_from(ADF_TYPES) | JUNK},
        optional={"content": st.lists(inner, max_size=4) | inner, "text": JUNK | ODD_TEXT,
                  "attrs": st.fixed_dictionaries({}, optional={"text": JUNK}) | inner},
    ),
    max_leaves=12,
)  # fmt: skip


@given(content=st.lists(ADF, max_size=4), deep=st.integers(0, 3_000))
def test_comment_as_atlassian_document_parses_or_raises_input_error(
    content: list[Any], deep: int
) -> None:
    body = copy.deepcopy(FIXTURES["cloud_comment_created"])
    nested: Any = {"type": "text", "text": "bottom"}
    for _ in range(deep):  # deeper than the interpreter's recursion limit allows recursing
        nested = {"type": "paragraph", "content": [nested]}
    body["comment"]["body"] = {"type": "doc", "version": 1, "content": [*content, nested]}
    try:
        comment = parse_webhook(body).comment
    except InputError as error:
        assert error.field == "comment.body"
        return
    assert comment is not None and "bottom" in comment.body


def _without_raw_fields(hook: JiraWebhook) -> JiraWebhook:
    return dataclasses.replace(hook, fields={})


@given(
    name=st.sampled_from(sorted(n for n in FIXTURES if "no_issue" not in n)),
    extra=st.dictionaries(st.text(min_size=1, max_size=8).map("x-".__add__), JUNK, max_size=3),
    data=st.data(),
)
def test_unknown_keys_anywhere_change_nothing_the_sync_reads(
    name: str, extra: dict[str, Any], data: st.DataObject
) -> None:
    body = copy.deepcopy(FIXTURES[name])
    objects = [slot for slot in _slots(body) if isinstance(_at(body, slot), dict)]
    target = _at(body, data.draw(st.sampled_from([(), *objects])))
    target.update(extra)
    expected = _without_raw_fields(parse_webhook(FIXTURES[name]))
    assert _without_raw_fields(parse_webhook(body)) == expected


@given(ms=st.integers(0, 253_402_300_799_999), as_text=st.booleans())
def test_any_epoch_millisecond_is_one_utc_instant(ms: int, as_text: bool) -> None:
    body = copy.deepcopy(FIXTURES["cloud_issue_deleted"])
    body["timestamp"] = str(ms) if as_text else ms
    hook = parse_webhook(body)
    assert (hook.timestamp - EPOCH) // timedelta(milliseconds=1) == ms
    assert hook.delivery_id == f"jira:issue_deleted:10017:at={ms}"


def _at(value: Any, slot: tuple[Any, ...]) -> Any:
    for step in slot:
        value = value[step]
    return value
