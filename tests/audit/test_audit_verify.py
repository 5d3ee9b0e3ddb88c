"""``verify_store``: every tampering behind the engine's back is named by position and ticket.

Each test records the story, changes the stored rows with SQL (SQLite file and PostgreSQL
schema alike), then asks a freshly started engine to verify, as an auditor would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_story import (
    Row,
    Story,
    find,
    fresh,
    link_of,
    rows,
    set_state,
    state_of,
)
from opsledger.core.audit import AuditReport, verify_store
from opsledger.core.chain import link_hash
from opsledger.core.domain.records import record_id

from opsledger import Settings
from opsledger.cli import main


def audit(settings: Settings, **kw: Any) -> AuditReport:
    with fresh(settings) as auditor:
        return verify_store(auditor, **kw)


def faults(report: AuditReport) -> list[tuple[int | None, str, str | None]]:
    """(position, kind, record) per fault, in report order."""
    return [(f.position, f.kind, f.record) for f in report.faults]


def of(story: Story, number: str) -> str:
    return str(record_id(number))


def test_untouched_log_verifies_with_its_head(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    report = audit(backend)
    assert report.ok and report.faults == ()
    assert report.checked == len(log)
    assert (report.first_position, report.last_position) == (log[0].nid, log[-1].nid)
    assert report.head == link_of(raw_store, log[-1].nid).hex()


def test_edited_state_names_its_position_and_ticket(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    target = find(log, "Ticket.PublicCommentAdded", of(story, story.second))
    state = state_of(raw_store, target.nid)
    set_state(raw_store, target.nid, state.replace(b"renderer upgraded", b"nothing changed"))

    report = audit(backend)

    assert faults(report) == [(target.nid, "changed", "INC-000002")]
    (fault,) = report.faults
    assert (fault.version, fault.event) == (target.version, "Ticket.PublicCommentAdded")
    assert fault.originator_id == target.originator_id


def test_undecodable_first_event_is_still_named_by_its_number(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    # The Opened event holds the number; garbled, the counter's allocation still names it.
    log = rows(raw_store)
    opened = find(log, "Incident.Opened", of(story, story.first))
    set_state(raw_store, opened.nid, b"\xff\xfe not json at all")

    report = audit(backend)

    assert faults(report) == [(opened.nid, "changed", "INC-000001")]


def test_renumbered_first_event_is_named_by_the_number_its_id_proves(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    opened = find(log, "Incident.Opened", of(story, story.second))
    state = state_of(raw_store, opened.nid)
    set_state(raw_store, opened.nid, state.replace(b"INC-000002", b"INC-000001"))

    report = audit(backend)

    assert faults(report) == [(opened.nid, "changed", "INC-000002")]


def test_deleted_event_is_reported_where_it_was_with_its_ticket(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    target = find(log, "Ticket.Assigned", of(story, story.first))
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [target.nid])

    report = audit(backend)

    assert faults(report) == [(target.nid, "deleted", "INC-000001")]
    assert report.faults[0].version == target.version
    assert report.checked == len(log) - 1


def test_deleted_event_and_link_name_the_missing_version_and_where_the_chain_broke(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    target = find(log, "Ticket.Assigned", of(story, story.first))
    following = log[log.index(target) + 1]
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [target.nid])
    raw_store.execute(f"DELETE FROM {raw_store.chain} WHERE notification_id = ?", [target.nid])

    report = audit(backend)

    assert following.originator_id == of(story, story.second)  # the next row is the other's
    assert faults(report) == [
        (following.nid, "changed", "INC-000002"),
        (None, "missing", "INC-000001"),
    ]
    missing = report.faults[1]
    assert missing.version == target.version
    mine = [r for r in log if r.originator_id == target.originator_id]
    before, after = mine[mine.index(target) - 1], mine[mine.index(target) + 1]
    assert f"between positions {before.nid} and {after.nid}" in missing.problem


def test_deleted_last_event_keeping_its_link_is_found(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    last = rows(raw_store)[-1]
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [last.nid])

    report = audit(backend)

    assert [(f.position, f.kind) for f in report.faults] == [(last.nid, "deleted")]


def _forge(raw: Any, template: Row, nid: int, version: int, link: bytes | None) -> None:
    raw.execute(
        f"INSERT INTO {raw.events} (originator_id, originator_version, topic, state, {raw.nid}) "
        f"SELECT originator_id, ?, topic, state, ? FROM {raw.events} WHERE {raw.nid} = ?",
        [version, nid, template.nid],
    )
    if link is not None:
        raw.execute(f"INSERT INTO {raw.chain} VALUES (?, ?)", [nid, link])


def test_inserted_forged_row_with_a_valid_looking_link_is_named(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    template = find(log, "Ticket.PublicCommentAdded", of(story, story.first))
    mine = [r for r in log if r.originator_id == template.originator_id]
    forged = log[-1].nid + 1
    # 32 bytes that look like any other link: the template's own
    _forge(raw_store, template, forged, mine[-1].version + 1, link_of(raw_store, template.nid))

    report = audit(backend)

    assert faults(report) == [(forged, "changed", "INC-000001")]


def test_inserted_row_without_a_link_is_named(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    template = find(log, "Ticket.PublicCommentAdded", of(story, story.second))
    mine = [r for r in log if r.originator_id == template.originator_id]
    forged = log[-1].nid + 1
    _forge(raw_store, template, forged, mine[-1].version + 1, None)

    report = audit(backend)

    assert faults(report) == [(forged, "unlinked", "INC-000002")]


def test_swapped_states_of_two_tickets_are_reported_at_both_rows(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    a = find(log, "Ticket.Assigned", of(story, story.first))
    b = find(log, "Ticket.Assigned", of(story, story.second))
    state_a, state_b = state_of(raw_store, a.nid), state_of(raw_store, b.nid)
    set_state(raw_store, a.nid, state_b)
    set_state(raw_store, b.nid, state_a)

    report = audit(backend)

    assert faults(report) == [(a.nid, "changed", "INC-000001"), (b.nid, "changed", "INC-000002")]


def test_bookkeeping_aggregates_get_readable_labels(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    allocated = find(log, "TicketCounter.NumberAllocated")
    keyed = find(log, "CommandRecord.CommandAccepted")
    policy = find(log, "PolicyBook.PolicyDefined")
    for row in (allocated, keyed, policy):
        set_state(raw_store, row.nid, state_of(raw_store, row.nid).replace(b"}", b" }", 1))

    report = audit(backend)

    assert [(f.position, f.record, f.label) for f in report.faults] == [
        (policy.nid, None, "SLA policy book"),
        (allocated.nid, None, "number counter INC"),
        (keyed.nid, None, "idempotency record mail-42"),
    ]


def test_rewritten_chain_passes_alone_but_not_against_a_published_head(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    # The attacker edits an event and recomputes every later link: the chain is consistent
    # again, and only a link written down before (a manifest, a published head) exposes it.
    log = rows(raw_store)
    published = {log[-1].nid: link_of(raw_store, log[-1].nid)}
    target = find(log, "Ticket.Resolved")
    set_state(raw_store, target.nid, state_of(raw_store, target.nid).replace(b"fixed", b"works"))
    previous = link_of(raw_store, log[log.index(target) - 1].nid)
    for row in log[log.index(target) :]:
        previous = link_hash(
            previous, row.originator_id, row.version, row.topic, state_of(raw_store, row.nid)
        )
        raw_store.execute(
            f"UPDATE {raw_store.chain} SET hash = ? WHERE notification_id = ?", [previous, row.nid]
        )

    assert audit(backend).ok
    report = audit(backend, expect=published)

    assert [(f.position, f.kind) for f in report.faults] == [(log[-1].nid, "anchor")]
    assert "rewritten" in report.faults[0].problem


def test_truncated_tail_is_reported_against_a_published_head(
    story: Story, backend: Settings, raw_store: Any
) -> None:
    log = rows(raw_store)
    last = log[-1]
    published = {last.nid: link_of(raw_store, last.nid)}
    raw_store.execute(f"DELETE FROM {raw_store.events} WHERE {raw_store.nid} = ?", [last.nid])
    raw_store.execute(f"DELETE FROM {raw_store.chain} WHERE notification_id = ?", [last.nid])

    report = audit(backend, expect=published)

    assert [(f.position, f.kind) for f in report.faults] == [(last.nid, "anchor")]
    assert "truncated" in report.faults[0].problem


def test_progress_is_reported_up_to_the_last_position(story: Story, backend: Settings) -> None:
    seen: list[tuple[int, int]] = []
    report = audit(backend, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (report.last_position, report.last_position)


# -- through the command line --------------------------------------------------------------


def store_flags(settings: Settings) -> list[str]:
    if settings.database_url:
        return ["--database-url", settings.database_url]
    return ["--db", settings.db_path]


def test_cli_verify_exits_6_and_prints_position_and_ticket(
    story: Story, backend: Settings, raw_store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_flags(backend)
    assert main([*store, "audit", "verify"]) == 0
    assert "verified" in capsys.readouterr().out
    target = find(rows(raw_store), "Ticket.Resolved")
    set_state(raw_store, target.nid, state_of(raw_store, target.nid).replace(b"fixed", b"works"))

    code = main([*store, "audit", "verify"])
    out = capsys.readouterr().out

    assert code == 6
    assert "FAILED: 1 fault(s)" in out
    line = next(line for line in out.splitlines() if line.startswith(str(target.nid)))
    assert line.split()[:5] == [str(target.nid), "INC-000001", str(target.version),
                                "Ticket.Resolved", "changed"]  # fmt: skip
    assert main([*store, "audit", "verify", "--format", "json"]) == 6
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["faults"][0]["record"] == "INC-000001"
    assert data["faults"][0]["position"] == target.nid


def test_cli_verify_checks_a_published_head(
    story: Story, backend: Settings, raw_store: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = store_flags(backend)
    last = rows(raw_store)[-1]
    head = f"{last.nid}:{link_of(raw_store, last.nid).hex()}"
    assert main([*db, "audit", "verify", "--expect-head", head]) == 0
    assert head in capsys.readouterr().out  # verify prints the head to publish
    wrong = f"{last.nid}:{'00' * 32}"
    assert main([*db, "audit", "verify", "--expect-head", wrong]) == 6
    assert main([*db, "audit", "verify", "--expect-head", "12:beef"]) == 2
    assert "--expect-head" in capsys.readouterr().err


def test_cli_verify_of_a_missing_database_is_not_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "nope.db"), "audit", "verify"]) == 3
    assert "not found" in capsys.readouterr().err
