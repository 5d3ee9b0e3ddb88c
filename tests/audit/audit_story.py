"""Helpers for the audit tests: a small recorded story and raw access to its rows.

The story is recorded through the Engine on a fixed timeline; tests then read or change the
stored rows directly with SQL (``raw_store`` from tests/conftest.py), as an attacker would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opsledger import Engine, FixedClock, Settings

#: The ``clock`` fixture's instant (tests/conftest.py): a Monday morning.
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """One stored event row, as the database holds it."""

    nid: int
    originator_id: str
    version: int
    topic: str

    @property
    def event(self) -> str:
        return self.topic.partition(":")[2]


def rows(raw: Any) -> list[Row]:
    found = raw.execute(
        f"SELECT {raw.nid}, originator_id, originator_version, topic FROM {raw.events} "
        f"ORDER BY {raw.nid}"
    )
    return [Row(int(n), str(uuid.UUID(str(o))), int(v), str(t)) for n, o, v, t in found]


def find(log: list[Row], event: str, originator: str | None = None, nth: int = 0) -> Row:
    """The nth row of an event (``Ticket.Assigned``), optionally of one aggregate id."""
    hits = [r for r in log if r.event == event and originator in (None, r.originator_id)]
    return hits[nth]


def state_of(raw: Any, nid: int) -> bytes:
    return bytes(raw.execute(f"SELECT state FROM {raw.events} WHERE {raw.nid} = ?", [nid])[0][0])


def set_state(raw: Any, nid: int, state: bytes) -> None:
    raw.execute(f"UPDATE {raw.events} SET state = ? WHERE {raw.nid} = ?", [state, nid])


def link_of(raw: Any, nid: int) -> bytes:
    return bytes(
        raw.execute(f"SELECT hash FROM {raw.chain} WHERE notification_id = ?", [nid])[0][0]
    )


@dataclass(frozen=True)
class Story:
    """Two incidents' everyday lives, with an idempotency record and the policy book."""

    first: str
    second: str
    key: str


def record_story(engine: Engine) -> Story:
    """Policy defined, INC-000001 and INC-000002 opened and worked, a keyed comment."""
    at = T0
    engine.define_policy(_policy(), actor="slm", at=at - timedelta(days=1))
    one = engine.open_incident("Invoice PDFs are blank", actor="desk", at=at).number
    two = engine.open_incident("VPN drops every 10 minutes", actor="desk", at=at).number
    engine.assign(one, "billing", "bob", actor="lead", at=at + timedelta(minutes=5))
    engine.assign(two, "network", "carol", actor="lead", at=at + timedelta(minutes=6))
    engine.comment(one, "looking into it", actor="bob", at=at + timedelta(minutes=10))
    engine.comment(
        two, "renderer upgraded last night", actor="carol", at=at + timedelta(minutes=11)
    )
    engine.comment(
        two, "rolled back", actor="carol", at=at + timedelta(minutes=12), idempotency_key="mail-42"
    )
    engine.resolve(
        one, "fixed", "rolled back the renderer", actor="bob", at=at + timedelta(hours=1)
    )
    return Story(one, two, "mail-42")


def _policy() -> Any:
    from opsledger.core.domain.sla import default_policy

    return default_policy()


def fresh(settings: Settings) -> Engine:
    """An auditor's engine, started after the tampering."""
    return Engine(settings, clock=FixedClock(T0 + timedelta(days=30)))
