"""An inbound report names its configuration item by name (an alert's ``instance``/``job``)."""

from __future__ import annotations

from typing import Any

import pytest
from opsledger.core.commands import ChangeCIStatus
from opsledger.core.inbound import inbound_command

from opsledger import Engine, InputError


@pytest.fixture
def desk(engine: Engine) -> Engine:
    """The shared engine fixture (tests/conftest.py), under this module's name for it."""
    return engine


def fire(engine: Engine, key: str, **fields: Any) -> dict[str, Any]:
    number = engine.ingest("alertmanager", key, "open", summary="db down", **fields).number
    return engine.get(number)


def test_a_name_finds_the_ci_registered_under_it_whatever_its_case(desk: Engine) -> None:
    db1 = desk.register_ci("server", "DB-1").number
    desk.register_ci("server", "web-1")
    ticket = fire(desk, "fp-1", ci_names=("node", "db-1"))  # 'node' names nothing: next one
    assert ticket["ci"] == db1
    assert "not registered" not in ticket["description"]
    assert any(link["target"] == db1 for link in ticket["links"])


def test_the_first_name_that_finds_one_ci_wins(desk: Engine) -> None:
    db1 = desk.register_ci("server", "db-1").number
    desk.register_ci("service", "postgres")
    assert fire(desk, "fp-1", ci_names=("db-1", "postgres"))["ci"] == db1


def test_a_name_two_cis_share_is_ambiguous_and_the_ticket_says_so(desk: Engine) -> None:
    a = desk.register_ci("server", "db-1").number
    b = desk.register_ci("database", "db-1").number
    ticket = fire(desk, "fp-1", ci_names=("db-1",))
    assert ticket["ci"] is None
    assert f"'db-1' names {a}, {b}" in ticket["description"]


def test_a_retired_ci_is_not_found_and_its_live_namesake_is(desk: Engine) -> None:
    old = desk.register_ci("server", "db-1").number
    desk.execute(ChangeCIStatus(ci=old, status="retired"))
    new = desk.register_ci("server", "db-1").number
    assert fire(desk, "fp-1", ci_names=("db-1",))["ci"] == new


def test_no_registered_name_opens_the_incident_without_a_ci_saying_why(desk: Engine) -> None:
    ticket = fire(desk, "fp-1", description="95% used", ci_names=("db-9:9100", "db-9"))
    assert ticket["ci"] is None and ticket["state"] == "new"
    assert "no configuration item registered as 'db-9:9100', 'db-9'" in ticket["description"]


def test_a_ci_number_wins_over_names(desk: Engine) -> None:
    db1 = desk.register_ci("server", "db-1").number
    web1 = desk.register_ci("server", "web-1").number
    assert fire(desk, "fp-1", ci=web1, ci_names=("db-1",))["ci"] == web1
    assert db1 != web1


def test_names_in_the_json_event_must_be_a_list_of_text() -> None:
    base = {"source": "am", "external_id": "x", "state": "open", "summary": "s"}
    assert inbound_command(base | {"ci_names": ["db-1"]}).ci_names == ("db-1",)
    with pytest.raises(InputError) as caught:
        inbound_command(base | {"ci_names": "db-1"})
    assert caught.value.field == "ci_names"
    with pytest.raises(InputError) as caught:
        inbound_command(base | {"ci_names": ["db-1", " "]})
    assert caught.value.field == "ci_names[1]"
