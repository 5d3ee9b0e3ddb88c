"""The orjson codec: whatever text and instants go in come back unchanged after a reload."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opsledger.core import commands as c
from opsledger.core.codec import OrjsonTranscoder, TypedMapper
from opsledger.core.domain.records import RecordKind
from opsledger.core.domain.tickets import Change, Incident

from opsledger import Engine, FixedClock, InputError, Settings

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
MAPPER = TypedMapper(transcoder=OrjsonTranscoder())

# Any text a person might type, with emoji, CJK, RTL scripts, control characters and NUL.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("😀🚒👩🏽‍💻中文漢字日本語한국어עבריתالعربية\x00\t\n\u200b\ufeff"),
    ),
    max_size=60,
)
SUMMARY = ANY_TEXT.filter(lambda s: s.strip())
# Aware instants in any zone, with microseconds; the engine keeps them in UTC.
INSTANT = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.timezones(),
)
UTC_INSTANT = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
ATTRIBUTE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    ANY_TEXT,
)


def fresh_store() -> tuple[Settings, Path]:
    """A throwaway SQLite file per example (fixtures are not reset between examples)."""
    folder = Path(tempfile.mkdtemp(prefix="opsledger-codec-"))
    return Settings(db_path=str(folder / "events.db")), folder


def reloaded(settings: Settings, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """Each record as an engine that only reads the stored events sees it."""
    with Engine(settings, clock=FixedClock(T0)) as fresh:
        return {number: fresh.get(number) for number in numbers}


def same_instant(got: datetime, sent: datetime) -> bool:
    """Aware, in UTC, and the same instant to the microsecond."""
    aware_utc = got.tzinfo is not None and got.utcoffset() == timedelta(0)
    return aware_utc and got == sent.astimezone(UTC)


@given(
    summary=SUMMARY,
    description=ANY_TEXT,
    body=SUMMARY,
    customer=ANY_TEXT,
    received_at=INSTANT,
)
def test_ticket_text_and_instants_survive_a_reload(
    summary: str, description: str, body: str, customer: str, received_at: datetime
) -> None:
    settings, folder = fresh_store()
    try:
        with Engine(settings, clock=FixedClock(T0)) as engine:
            number = engine.open_incident(
                summary, description=description, customer=customer, received_at=received_at
            ).number
            engine.comment(number, body, public=False)
            engine.resolve(number, "fixed", notes=description)
            before = engine.get(number)
            history = engine.history(number)

        after = reloaded(settings, [number])[number]
        assert after == before
        assert (after["summary"], after["description"], after["customer"]) == (
            summary.strip(),
            description,
            customer,
        )
        assert after["resolution_notes"] == description
        with Engine(settings, clock=FixedClock(T0)) as fresh:
            record = fresh.record(number)
            assert same_instant(record.received_at, received_at)  # type: ignore[attr-defined]
            assert [h.to_dict() for h in fresh.history(number)] == [h.to_dict() for h in history]
            assert fresh.history(number)[1].details["body"] == body.strip()
    finally:
        _remove(folder)


@given(
    attributes=st.dictionaries(SUMMARY, ATTRIBUTE, max_size=6),
    changes=st.dictionaries(SUMMARY, ATTRIBUTE, max_size=6),
)
def test_ci_attributes_survive_a_reload(
    attributes: dict[str, Any], changes: dict[str, Any]
) -> None:
    settings, folder = fresh_store()
    try:
        with Engine(settings, clock=FixedClock(T0)) as engine:
            number = engine.register_ci("server", "db-01", attributes=attributes).number
            engine.execute(c.UpdateCIAttributes(ci=number, changes=changes))
            before = engine.get(number)
        expected = {**attributes, **changes}
        for key, value in changes.items():
            if value is None:
                expected.pop(key, None)  # None removes an attribute
        assert before["attributes"] == expected
        assert reloaded(settings, [number])[number] == before
    finally:
        _remove(folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2**64])
def test_ci_attribute_values_json_cannot_hold_are_refused(engine: Engine, value: Any) -> None:
    # NaN and infinity would be stored as null, and big integers do not encode at all.
    with pytest.raises(InputError) as refusal:
        engine.register_ci("server", "db-01", attributes={"load": value})
    assert refusal.value.field == "attributes.load"
    assert engine.last_number(RecordKind.CONFIGURATION_ITEM) == 0


def test_ci_attribute_change_of_json_type_is_recorded(engine: Engine) -> None:
    number = engine.register_ci("app", "shop", attributes={"replicas": 1}).number
    engine.execute(c.UpdateCIAttributes(ci=number, changes={"replicas": True}))  # 1 == True
    assert engine.get(number)["attributes"] == {"replicas": True}
    assert [h.event for h in engine.history(number)] == ["Registered", "AttributesUpdated"]


@pytest.mark.parametrize("text", ["\ud800", "ok \udcff then"])
def test_text_that_is_not_valid_unicode_is_refused_naming_the_field(
    engine: Engine, text: str
) -> None:
    with pytest.raises(InputError) as refusal:
        engine.open_incident("Broken mail", description=text)
    assert refusal.value.field == "description"
    assert engine.last_number(RecordKind.INCIDENT) == 0


@given(
    summary=SUMMARY,
    opened=UTC_INSTANT,
    start=UTC_INSTANT,
    length=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=30)),
)
def test_mapper_round_trips_domain_events_exactly(
    summary: str, opened: datetime, start: datetime, length: timedelta
) -> None:
    incident = Incident(
        number="INC-000001", summary=summary, description=summary, impact="high",
        urgency="low", priority="P3", service=None, ci=None, reporter=summary,
        customer=None, channel="email", actor=summary, timestamp=opened, received_at=opened,
    )  # fmt: skip
    change = Change(
        number="CHG-000001", summary=summary, description="", impact="low", urgency="low",
        priority="P4", service="shop", ci=None, reporter="r", customer=None, channel="api",
        actor="a", timestamp=opened, received_at=None, change_type="normal", risk="low",
        planned_start=start, planned_end=start + length,
    )  # fmt: skip
    for event in [*incident.collect_events(), *change.collect_events()]:
        back = MAPPER.to_domain_event(MAPPER.to_stored_event(event))
        assert type(back) is type(event)
        assert vars(back) == vars(event)
        for name, value in vars(event).items():
            if isinstance(value, datetime):
                assert same_instant(getattr(back, name), value)


def test_ticket_counter_snapshot_reloads(backend: Settings, clock: FixedClock) -> None:
    # The counter is snapshotted every 250 versions: Started is version 1, so the 249th
    # allocation makes version 250. 260 tickets are read back through that snapshot.
    with Engine(backend, clock=clock) as engine:
        for i in range(260):
            engine.open_request(f"request {i}")
    with Engine(backend, clock=clock) as fresh:
        assert fresh.last_number(RecordKind.SERVICE_REQUEST) == 260
        assert fresh.open_request("one more").number == "REQ-000261"


def _remove(folder: Path) -> None:
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
    ],
)
def test_instants_beyond_the_utc_range_are_refused_naming_the_field(
    engine: Engine, at: datetime
) -> None:
    with pytest.raises(InputError, match=r"at.*outside the representable range"):
        engine.open_incident("edge of time", at=at)
