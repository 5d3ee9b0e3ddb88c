"""``export_events`` and ``verify_export``: a period's events verify offline, and edits show.

The export is written from a real store (SQLite and PostgreSQL), then checked with no
database at all; tampering is done to the files, or to the store before exporting.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_story import T0, Story, find, fresh, link_of, rows, set_state, state_of
from hypothesis import given
from hypothesis import strategies as st
from opsledger.core.audit import (
    ExportManifest,
    default_manifest_path,
    export_events,
    verify_export,
    verify_store,
)
from opsledger.core.chain import GENESIS

from opsledger import Engine, FixedClock, InputError, OpsledgerError, Settings

DAY = timedelta(days=1)
TRICKY = 'Überweisung "fehlgeschlagen", Zeile 1\nZeile 2 — 中文 🚀; a,b'


def export(
    engine: Engine, folder: Path, start: datetime, end: datetime, fmt: str = "jsonl"
) -> tuple[Path, ExportManifest]:
    """Export to ``folder/export.FMT`` with its manifest beside it, as the CLI does."""
    path = folder / f"export.{fmt}"
    with path.open("wb") as out:
        manifest = export_events(engine, start, end, out, fmt=fmt)
    default_manifest_path(path).write_text(manifest.to_json(), encoding="utf-8")
    return path, manifest


def kinds(report: Any) -> list[tuple[int | None, str, str | None]]:
    return [(f.position, f.kind, f.record) for f in report.faults]


def reseal(path: Path) -> None:
    """What a careful forger does after editing the events file: fix the manifest's hash."""
    manifest = default_manifest_path(path)
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["events_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(data), encoding="utf-8")


# -- what is exported ---------------------------------------------------------------------------


def test_export_is_the_contiguous_range_of_the_period_anchored_on_the_link_before(
    engine: Engine, raw_store: Any, tmp_path: Path
) -> None:
    a = engine.open_incident("A", actor="desk", at=T0).number  # counter Started, allocated, Opened
    b = engine.open_incident("B", actor="desk", at=T0 + DAY).number  # allocated, Opened
    engine.comment(a, "late note about day 1", actor="bob", at=T0 + timedelta(hours=3))
    engine.comment(b, "day 2 note", actor="carol", at=T0 + DAY + timedelta(hours=1))
    engine.open_incident("C", actor="desk", at=T0 + 2 * DAY)
    log = rows(raw_store)
    assert len(log) == 9
    # day 2 stamps rows 4 (B's number), 5 (B opened) and 7 (B's note); row 6 is A's backdated
    # note, inside the range so the chain is unbroken, and counted as outside the period.
    path, manifest = export(engine, tmp_path, T0 + DAY - timedelta(hours=9), T0 + 2 * DAY)

    assert (manifest.first_position, manifest.last_position) == (log[3].nid, log[6].nid)
    assert (manifest.rows, manifest.events, manifest.outside_period) == (4, 4, 1)
    assert manifest.counts == {
        "TicketCounter.NumberAllocated": 1,
        "Incident.Opened": 1,
        "Ticket.PublicCommentAdded": 2,
    }
    assert (manifest.anchor_position, manifest.anchor_hash) == (
        log[2].nid,
        link_of(raw_store, log[2].nid).hex(),
    )
    assert manifest.first_hash == link_of(raw_store, log[3].nid).hex()
    assert manifest.last_hash == link_of(raw_store, log[6].nid).hex()
    assert manifest.chain_head_position == log[-1].nid
    assert manifest.chain_head_hash == link_of(raw_store, log[-1].nid).hex()
    assert manifest.store_faults == 0
    assert manifest.events_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["position"], r["record"], r["event"]) for r in lines] == [
        (log[3].nid, "number counter INC", "TicketCounter.NumberAllocated"),
        (log[4].nid, b, "Incident.Opened"),
        (log[5].nid, a, "Ticket.PublicCommentAdded"),
        (log[6].nid, b, "Ticket.PublicCommentAdded"),
    ]

    report = verify_export(path)
    assert report.ok, report.faults
    assert (report.checked, report.first_position, report.last_position) == (
        4,
        log[3].nid,
        log[6].nid,
    )
    assert report.head == manifest.last_hash
    with fresh(engine.settings) as auditor:  # the store still has every link it vouches for
        assert verify_store(auditor, expect=manifest.links()).ok


def test_empty_period_exports_no_rows_and_still_verifies(
    story: Story, engine: Engine, tmp_path: Path
) -> None:
    path, manifest = export(engine, tmp_path, T0 - 30 * DAY, T0 - 29 * DAY)
    assert (manifest.rows, manifest.first_position, manifest.anchor_hash) == (
        0,
        None,
        GENESIS.hex(),
    )
    assert path.read_bytes() == b""
    assert verify_export(path).ok


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_state_bytes_round_trip_exactly_with_awkward_text(
    engine: Engine, raw_store: Any, tmp_path: Path, fmt: str
) -> None:
    number = engine.open_incident(TRICKY, actor="desk", at=T0).number
    engine.comment(number, 'quotes "x", commas, a, b\r\nand a CRLF', actor="bob", at=T0 + DAY)
    path, _ = export(engine, tmp_path, T0, T0 + 2 * DAY, fmt)

    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as f:
            exported = list(csv.DictReader(f))
    else:
        exported = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    stored = {r.nid: state_of(raw_store, r.nid) for r in rows(raw_store)}
    assert {int(r["position"]): r["state"].encode("utf-8") for r in exported} == stored
    assert any("Überweisung" in r["state"] and "🚀" in r["state"] for r in exported)
    assert verify_export(path).ok


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_of_a_tampered_store_reports_the_same_fault_offline(
    story: Story, engine: Engine, raw_store: Any, tmp_path: Path, fmt: str
) -> None:
    # Not even UTF-8 any more: the row carries it in base64, still byte-exact.
    target = find(rows(raw_store), "Ticket.Resolved")
    set_state(raw_store, target.nid, b"\xff\x00" + state_of(raw_store, target.nid))
    with fresh(engine.settings) as auditor:
        in_store = kinds(verify_store(auditor))
        path, manifest = export(auditor, tmp_path, T0 - DAY, T0 + DAY, fmt)

    assert in_store == [(target.nid, "changed", "INC-000001")]
    assert manifest.store_faults == 1
    assert kinds(verify_export(path)) == in_store


# -- tampering with the export ------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.fixture
def exported(story: Story, engine: Engine, tmp_path: Path) -> Path:
    return export(engine, tmp_path, T0 - DAY, T0 + DAY)[0]


def test_edited_row_is_named_by_position_and_record_and_breaks_the_file_hash(
    exported: Path,
) -> None:
    text = exported.read_text(encoding="utf-8")
    line = next(row for row in _lines(exported) if "looking into it" in row)
    exported.write_text(text.replace("looking into it", "ignored it"), encoding="utf-8")
    position = json.loads(line)["position"]

    report = verify_export(exported)
    assert kinds(report) == [(position, "changed", "INC-000001"), (None, "file", None)]
    reseal(exported)
    assert kinds(verify_export(exported)) == [(position, "changed", "INC-000001")]


def test_removed_row_is_reported_where_the_chain_breaks_and_in_the_counts(
    exported: Path,
) -> None:
    lines = _lines(exported)
    index = next(i for i, row in enumerate(lines) if "Ticket.Assigned" in row)
    removed, following = json.loads(lines[index]), json.loads(lines[index + 1])
    exported.write_text("".join(lines[:index] + lines[index + 1 :]), encoding="utf-8")
    reseal(exported)

    report = verify_export(exported)

    assert (following["position"], "changed", following["record"]) in kinds(report)
    assert (None, "missing", removed["record"]) in kinds(report)
    problems = " ".join(f.problem for f in report.faults if f.kind == "manifest")
    assert "rows" in problems and "Ticket.Assigned" in problems


def test_swapped_rows_are_reported_as_reordered(exported: Path) -> None:
    lines = _lines(exported)
    lines[3], lines[4] = lines[4], lines[3]
    exported.write_text("".join(lines), encoding="utf-8")
    reseal(exported)
    moved = json.loads(lines[4])["position"]  # now after a higher position

    report = verify_export(exported)

    assert not report.ok
    assert (moved, "out_of_order") in [(f.position, f.kind) for f in report.faults]
    assert {f.kind for f in report.faults} >= {"changed", "out_of_order"}


def test_inserted_row_with_a_valid_looking_link_is_reported(exported: Path) -> None:
    lines = _lines(exported)
    template = json.loads(next(row for row in lines if "Ticket.PublicCommentAdded" in row))
    last = json.loads(lines[-1])
    forged = dict(template, position=last["position"] + 1, version=99, link=last["link"])
    forged["state"] = forged["state"].replace("looking into it", "all fine, closing")
    exported.write_text("".join([*lines, json.dumps(forged, ensure_ascii=False) + "\n"]), "utf-8")
    reseal(exported)

    report = verify_export(exported)

    assert (forged["position"], "changed", template["record"]) in kinds(report)
    assert {f.kind for f in report.faults} == {"changed", "missing", "manifest"}


def test_record_column_claiming_another_ticket_is_caught(
    story: Story, engine: Engine, tmp_path: Path
) -> None:
    path, _ = export(engine, tmp_path, T0 - DAY, T0 + DAY, "csv")
    text = path.read_text(encoding="utf-8")
    line = next(row for row in text.splitlines() if ",Ticket.Resolved,INC-000001," in row)
    path.write_text(text.replace(line, line.replace("INC-000001", "INC-000002")), "utf-8")
    reseal(path)

    report = verify_export(path)

    assert [(f.kind, f.record, f.event) for f in report.faults] == [
        ("column", "INC-000001", "Ticket.Resolved")
    ]
    assert "record column says INC-000002" in report.faults[0].problem


def test_manifest_that_disagrees_with_the_file_is_reported(exported: Path) -> None:
    manifest = default_manifest_path(exported)
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["last_hash"] = "00" * 32
    data["counts"]["Ticket.Resolved"] = 2
    manifest.write_text(json.dumps(data), encoding="utf-8")

    report = verify_export(exported)

    # the export ends at the store's head, so the manifest now contradicts itself there too
    assert [f.kind for f in report.faults] == ["manifest"] * 4
    text = " / ".join(f.problem for f in report.faults)
    assert "last hash" in text and "Ticket.Resolved" in text and "does not end" in text
    assert "chain head" in text


def test_malformed_row_is_reported_by_line(exported: Path) -> None:
    lines = _lines(exported)
    lines[1] = lines[1][:40] + "\n"
    exported.write_text("".join(lines), encoding="utf-8")

    report = verify_export(exported)

    assert any(f.kind == "malformed" and f.problem.startswith("line 2:") for f in report.faults)


# -- bad input ----------------------------------------------------------------------------------


def test_missing_files_and_broken_manifests_name_the_input(exported: Path) -> None:
    with pytest.raises(InputError) as e:
        verify_export(exported.with_name("nope.jsonl"))
    assert e.value.field == "export"
    with pytest.raises(InputError) as e:
        verify_export(exported, exported.with_name("nope.json"))
    assert e.value.field == "manifest"
    default_manifest_path(exported).write_text('{"format": "jsonl"}', encoding="utf-8")
    with pytest.raises(InputError) as e:
        verify_export(exported)
    assert e.value.field == "manifest"


@pytest.mark.parametrize(
    ("start", "end", "fmt", "field"),
    [
        (T0 + DAY, T0, "jsonl", "to"),
        (T0, T0, "jsonl", "to"),
        (T0.replace(tzinfo=None), T0 + DAY, "jsonl", "from"),
        (T0, T0 + DAY, "xml", "format"),
    ],
)
def test_bad_export_requests_name_the_option(
    engine: Engine, start: datetime, end: datetime, fmt: str, field: str
) -> None:
    with pytest.raises(InputError) as e:
        export_events(engine, start, end, io.BytesIO(), fmt=fmt)
    assert e.value.field == field


# -- properties ---------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
STEP = st.one_of(
    st.tuples(st.just("open"), TEXT),
    st.tuples(st.just("comment"), TEXT),
    st.tuples(st.just("assign"), st.sampled_from(["bob", "carol"])),
)


def _history(folder: Path, steps: list[tuple[str, str]]) -> Engine:
    engine = Engine(Settings(db_path=str(folder / "events.db")), clock=FixedClock(T0))
    numbers: list[str] = []
    for minute, (action, value) in enumerate(steps):
        at = T0 + timedelta(minutes=10 * minute)
        try:
            if action == "open" or not numbers:
                numbers.append(
                    engine.open_incident(value.strip() or "x", actor="desk", at=at).number
                )
            elif action == "comment":
                engine.comment(numbers[minute % len(numbers)], value, actor="bob", at=at)
            else:
                engine.assign(numbers[-1], "desk", value, actor="lead", at=at)
        except OpsledgerError:  # refused (blank text, assigned twice): nothing recorded
            pass
    return engine


@given(
    steps=st.lists(STEP, min_size=1, max_size=8),
    window=st.tuples(st.integers(-10, 90), st.integers(1, 90)),
    fmt=st.sampled_from(["jsonl", "csv"]),
    data=st.data(),
)
def test_any_small_history_round_trips_and_any_changed_byte_is_detected(
    steps: list[tuple[str, str]], window: tuple[int, int], fmt: str, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = T0 + timedelta(minutes=window[0])
        with _history(folder, steps) as engine:
            path, manifest = export(
                engine, folder, start, start + timedelta(minutes=window[1]), fmt
            )
        report = verify_export(path)
        assert report.ok, report.faults
        assert report.checked == manifest.events
        original = path.read_bytes()
        if not original:
            return
        offset = data.draw(st.integers(0, len(original) - 1), label="offset")
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[offset]), label="byte")
        path.write_bytes(original[:offset] + bytes([byte]) + original[offset + 1 :])
        assert not verify_export(path).ok


@given(steps=st.lists(STEP, min_size=1, max_size=6), data=st.data())
def test_a_changed_state_byte_is_found_even_when_the_manifest_is_resealed(
    steps: list[tuple[str, str]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with _history(folder, steps) as engine:
            path, _ = export(engine, folder, T0 - DAY, T0 + DAY)
        lines = path.read_bytes().splitlines(keepends=True)
        row = data.draw(st.integers(0, len(lines) - 1), label="row")
        line = lines[row]
        begin = line.index(b'"state":"') + len(b'"state":"')
        end = line.index(b'","link"')
        offset = data.draw(st.integers(begin, end - 1), label="offset")
        byte = data.draw(st.integers(32, 126).filter(lambda b: b != line[offset]), label="byte")
        lines[row] = line[:offset] + bytes([byte]) + line[offset + 1 :]
        path.write_bytes(b"".join(lines))
        reseal(path)
        report = verify_export(path)
        assert not report.ok
        position = json.loads(line)["position"]
        assert any(f.position == position or f.kind == "malformed" for f in report.faults)
